"""The click-free path of `lane serve` (cli/fastlane.py) reads every
command line it accepts exactly as the click command does, leaves the rest
to click, answers a failing lane in the same words and exit code, and keeps
click out of a running lane."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayctl.cli import fastlane, lanerun
from gatewayctl.cli.group import cli
from tests.support import examples

REPO = Path(__file__).resolve().parents[1]


class _Reached(Exception):
    pass


def click_reading(argv: list[str], monkeypatch) -> tuple[str, str] | None:
    """(plan, lane) as the click command passes them on, or None when click
    refuses the command line (a usage error, --help)."""
    seen: list = []

    def record(plan_path, lane_key):
        seen.append((plan_path, lane_key))
        raise _Reached

    monkeypatch.setattr(lanerun, "execute", record)
    try:
        cli.main(args=list(argv), prog_name="gatewayctl", standalone_mode=False)
    except _Reached:
        return seen[0]
    except Exception:  # click's usage errors
        return None
    except SystemExit:  # --help
        return None
    return None


HANDLED = [
    ["lane", "serve", "--plan", "p.json", "--lane", "telegram"],
    ["lane", "serve", "--lane", "feishu/work", "--plan", "/rt/plan.json"],
    ["lane", "serve", "--plan=p.json", "--lane=wecom"],
    ["lane", "serve", "--plan", "", "--lane", ""],
    ["lane", "serve", "--plan", "a b.json", "--lane=x=y"],
]
LEFT_TO_CLICK = [
    ["lane", "serve"],
    ["lane", "serve", "--plan", "p.json"],
    ["lane", "serve", "--plan", "p.json", "--lane"],
    ["lane", "serve", "--plan", "p.json", "--lane", "a", "--lane", "b"],
    ["lane", "serve", "--plan", "p.json", "--lane", "a", "extra"],
    ["lane", "serve", "--plan", "p.json", "--lane", "a", "--help"],
    ["lane", "serve", "--plan", "-p.json", "--lane", "a"],
    ["lane", "serve", "--plan", str(REPO), "--lane", "a"],  # a directory: click's Path type says so
    ["lane", "serve", "--dir=/rt", "--plan", "p", "--lane", "a"],
    ["lane", "--help"],
    ["check", "a.toml"],
]


def test_fast_path_reads_what_click_reads(monkeypatch):
    for argv in HANDLED:
        assert fastlane.parse(argv) is not None, argv
        assert fastlane.parse(argv) == click_reading(argv, monkeypatch), argv
    for argv in LEFT_TO_CLICK:
        assert fastlane.parse(argv) is None, argv


_token = st.sampled_from(["--plan", "--lane", "--plan=p", "--lane=l", "p.json", "telegram", "-x", "--help", "--", "="])


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(_token, max_size=6))
def test_whatever_the_fast_path_reads_click_reads_alike(tail):
    import pytest

    argv = ["lane", "serve", *tail]
    parsed = fastlane.parse(argv)
    if parsed is not None:
        with pytest.MonkeyPatch.context() as mp:
            assert click_reading(argv, mp) == parsed, argv


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)


def test_failing_lane_answers_alike_through_both_paths(tmp_path):
    plan = tmp_path / "missing-plan.json"
    argv = ["lane", "serve", "--plan", str(plan), "--lane", "telegram"]
    fast = _run(f"from gatewayctl.cli.main import main\nmain({argv!r})\n", tmp_path)
    slow = _run(
        "import sys\nfrom gatewayctl.cli.group import cli\n"
        f"cli.main(args={argv!r}, prog_name='gatewayctl', standalone_mode=False)\n",
        tmp_path,
    )
    assert fast.returncode != 0 and "gatewayctl lane serve: " in fast.stderr
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)


def test_a_running_lane_never_imports_click(tmp_path):
    code = (
        "import sys\n"
        "import gatewayctl.workers.serve as serve\n"
        "serve.serve = lambda plan, lane: type('Outcome', (), {'kind': 'ok'})()\n"
        "from gatewayctl.cli.main import main\n"
        "try:\n"
        "    main(['lane', 'serve', '--plan', 'p.json', '--lane', 'telegram'])\n"
        "except SystemExit as exc:\n"
        "    import json\n"
        "    print(json.dumps([exc.code, 'click' in sys.modules, 'rich' in sys.modules, 'httpx' in sys.modules]))\n"
    )
    proc = _run(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [0, False, False, True]  # httpx, without its CLI's rich
