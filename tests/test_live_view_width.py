"""Display width, not code points: the live table and check's carets (issue 13, item 7).

multi-channel-serve's table did not fit 80 columns (header cut, LAST ERROR
invisible), left a stale header after a resize, and let Chinese lane names
or errors overflow the line; `check` put its carets under the wrong
columns when CJK text stood before the value.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from gatewayctl.cli.gateway import _TableView
from gatewayctl.textwidth import fit, pad, width
from tests.test_gateway_status_view import _doc, _lane

CJK_ERROR = "连接失败：服务器拒绝了令牌，请检查 app_secret 配置"


def _table(columns) -> tuple[_TableView, io.StringIO]:
    stream = io.StringIO()
    size = {"columns": columns}
    return _TableView(stream, columns=lambda: size["columns"]), stream, size


def _doc3():
    doc = _doc(
        _lane(),
        _lane(family="feishu", account="飞书告警", state="backoff", pid=None, restarts=3, last_error=CJK_ERROR),
        _lane(family="wecom", account="alerts", worker=None, last_error="WeCom sent disconnected_event: another client took over"),
    )
    doc["attached_cli_session"] = "cli-supervisor"
    return doc


def test_width_counts_columns():
    assert width("abc") == 3 and width("飞书") == 4 and width("e\u0301") == 1
    assert fit("飞书告警", 5) == "飞书…" and width(fit("飞书告警", 5)) == 5
    assert pad("飞", 4) == "飞  " and pad("7", 3, ">") == "  7"


@pytest.mark.parametrize("columns", [80, 100, 60, 40])
def test_every_row_fits_the_terminal_and_the_errors_show(columns):
    view, stream, _ = _table(columns)
    view(_doc3())
    rows = stream.getvalue().splitlines()
    assert all(width(r) <= columns - 1 for r in rows), [(width(r), r) for r in rows]
    text = stream.getvalue()
    assert rows[0].startswith("multi-channel-serve")
    for part in ("session cli-supervisor", "phase running", "lanes 2/3 running"):
        assert part in text  # wrapped when it must be, never cut
    assert "连接失败" in text and "WeCom sent" in text  # the last errors are visible


def test_at_80_columns_an_error_gets_its_own_line_in_full():
    view, stream, _ = _table(80)
    view(_doc3())
    rows = stream.getvalue().splitlines()
    i = next(n for n, r in enumerate(rows) if r.startswith("  feishu/飞书告警"))
    assert rows[i + 1] == f"      last error  {CJK_ERROR}"


def test_wide_terminal_keeps_the_last_error_column_aligned_in_display_columns():
    view, stream, _ = _table(160)
    view(_doc3())
    rows = stream.getvalue().splitlines()
    assert rows[1].rstrip().endswith("LAST ERROR")
    col = width(rows[1][: rows[1].index("LAST ERROR")])
    feishu = next(r for r in rows if r.startswith("  feishu/"))
    assert width(feishu[: feishu.index("连接失败")]) == col


def test_a_resize_redraws_on_a_clean_screen():
    view, stream, size = _table(120)
    view(_doc3())
    view(_doc3())
    assert "\x1b[5F\x1b[J" in stream.getvalue()  # header, titles, three lanes  # same width: up over the old table, then redraw
    size["columns"] = 70
    before = len(stream.getvalue())
    view(_doc3())
    assert stream.getvalue()[before:].startswith("\x1b[H\x1b[2J")


def _check(path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "gatewayctl", "check", "--no-color", str(path)], capture_output=True, text=True, timeout=60
    ).stdout
    return out.splitlines()


def test_check_carets_stand_under_the_value_after_cjk_text(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[telegram]\nenabled = true\nbot_token = { env = "T" }\nallowed_chat_ids = ["运维群", true]\n')
    lines = _check(cfg)
    src = lines.index('4 | allowed_chat_ids = ["运维群", true]')
    # the string takes 8 columns ("运维群" is 6), the boolean starts 30 columns in
    assert lines[src + 1] == "  |" + " " * 21 + "^" * 8
    second = [n for n, ln in enumerate(lines) if ln == '4 | allowed_chat_ids = ["运维群", true]'][1]
    assert lines[second + 1] == "  |" + " " * 31 + "^" * 4
