"""The click-free fast path of `check` (cli/fastcheck.py) reads every
command line it accepts exactly as the click command does, and leaves the
rest to click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayctl.cli import check as check_module
from gatewayctl.cli import fastcheck
from gatewayctl.cli.group import cli
from tests.support import examples

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "gateway-rollout.toml"


class _Reached(Exception):
    pass


def click_reading(argv: list[str], monkeypatch) -> dict | None:
    """The keywords the click command passes to execute() for ``argv``, or
    None when click refuses the command line (a usage error, --help)."""
    seen: dict = {}

    def record(files, fmt, strict, channel_accounts, selectors, stdin_filename, color, jobs):
        seen.update(
            jobs=jobs,
            files=tuple(files),
            fmt=fmt,
            strict=strict,
            channel_accounts=tuple(channel_accounts),
            selectors=tuple(selectors),
            stdin_filename=stdin_filename,
            color=color,
        )
        raise _Reached

    monkeypatch.setattr(check_module, "execute", record)
    try:
        cli.main(args=list(argv), prog_name="gatewayctl", standalone_mode=False)
    except _Reached:
        return seen
    except Exception:  # click's usage errors
        return None
    except SystemExit:  # --help
        return None
    return None


HANDLED = [
    ["check", "a.toml"],
    ["check", "a.toml", "b.yaml", "-"],
    ["check", "--format", "json", "a.toml"],
    ["check", "--format=sarif", "a.toml"],
    ["check", "a.toml", "--format", "github", "--format", "text"],
    ["check", "--strict", "a.toml"],
    ["check", "--color", "a.toml", "--no-color"],
    ["check", "--no-color", "a.toml", "--color"],
    ["check", "--channel-account", "lark=work", "--channel-account=wecom=a,b", "a.toml"],
    ["check", "--selectors", "lark=work,telegram=bot", "--selectors=", "a.toml"],
    ["check", "--stdin-filename", "c.yaml", "-"],
    ["check", "--stdin-filename=", "-"],
    ["check", "--", "--strict", "-"],
    ["check", "", "a.toml"],
    ["check", "-j", "4", "a.toml"],
    ["check", "-j2", "a.toml", "--jobs", "007"],
    ["check", "--jobs=1", "a.toml", "--jobs", "0"],
]

LEFT_TO_CLICK = [
    [],
    ["check"],
    ["check", "--help"],
    ["check", "-h", "a.toml"],
    ["check", "--format", "xml", "a.toml"],
    ["check", "--format"],
    ["check", "a.toml", "--stdin-filename"],
    ["check", "-", "-"],
    ["check", "--strict=yes", "a.toml"],
    ["check", "--formatt", "json", "a.toml"],
    ["check", "-x", "a.toml"],
    ["check", "--stdin-filename", "-", "-"],
    ["--version"],
    ["plan", "a.toml"],
    ["check", "-j=4", "a.toml"],
    ["check", "-j", "+4", "a.toml"],
    ["check", "--jobs", "-1", "a.toml"],
    ["check", "--jobs=x", "a.toml"],
    ["check", "-jx", "a.toml"],
]


@pytest.mark.parametrize("argv", HANDLED, ids=" ".join)
def test_fast_path_reads_as_click_does(argv, monkeypatch):
    fast = fastcheck.parse(argv)
    assert fast is not None, "the common check command lines must not need click"
    assert fast == click_reading(argv, monkeypatch)


@pytest.mark.parametrize("argv", LEFT_TO_CLICK, ids=lambda a: " ".join(a) or "(none)")
def test_everything_else_is_left_to_click(argv):
    assert fastcheck.parse(argv) is None


TOKENS = st.sampled_from(
    [
        "a.toml", "b.json", "-", "--", "", "x=y",
        "--format", "json", "text", "github", "sarif", "--format=json", "--format=", "--format=nope",
        "--strict", "--strict=1", "--color", "--no-color", "--color=1",
        "--channel-account", "lark=work", "--channel-account=w=a,b",
        "--selectors", "a=b,c=d", "--selectors=",
        "--stdin-filename", "c.yaml", "--stdin-filename=x.json",
        "-h", "--help", "-x", "--formatt", "-j", "--jobs", "2", "-j3", "-j=1", "--jobs=0", "--jobs=+1", "١",
    ]
)  # fmt: skip


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(TOKENS, max_size=8))
def test_any_command_line_fast_or_click_never_differ(tokens):
    argv = ["check", *tokens]
    fast = fastcheck.parse(argv)
    if fast is None:
        return  # click reads it; nothing to compare
    with pytest.MonkeyPatch.context() as mp:
        assert fast == click_reading(argv, mp)


def _run(code: str, argv: list[str], cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, env=env, input=b"[telegram]\nenabled = 1\n"
    )


FAST = "import sys; from gatewayctl.cli.main import main; main(sys.argv[1:])"
CLICK = (
    "import sys; from gatewayctl.cli.group import cli; "
    "cli.main(args=sys.argv[1:], prog_name='gatewayctl', standalone_mode=False)"
)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "good.toml"],
        ["check", "bad.toml", "good.toml"],
        ["check", "--format", "json", "bad.toml", "missing.toml"],
        ["check", "--format=sarif", "--strict", "bad.toml"],
        ["check", "--channel-account", "lark=nope", "good.toml"],
        ["check", "--stdin-filename", "piped.toml", "-", "good.toml"],
        ["check", "-", "--format", "github"],
    ],
    ids=" ".join,
)
def test_same_bytes_and_exit_code_through_either_parser(argv, tmp_path):
    (tmp_path / "good.toml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    bad = EXAMPLE.read_text(encoding="utf-8").replace("allowed_chat_ids = [123", "allowed_chat_idz = [123")
    assert bad != EXAMPLE.read_text(encoding="utf-8")
    (tmp_path / "bad.toml").write_text(bad, encoding="utf-8")
    assert fastcheck.parse(argv) is not None
    fast = _run(FAST, argv, tmp_path)
    slow = _run(CLICK, argv, tmp_path)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_a_clean_check_does_not_import_click(tmp_path):
    (tmp_path / "good.toml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    code = (
        "import sys\n"
        "from gatewayctl.cli.main import main\n"
        "try:\n"
        "    main(['check', 'good.toml'])\n"
        "except SystemExit as e:\n"
        "    print(e.code, 'click' in sys.modules, 'wcwidth' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"))
    assert out.stdout.splitlines()[-1] == "0 False False", out.stdout + out.stderr
