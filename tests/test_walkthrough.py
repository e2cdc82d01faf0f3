"""docs/gateway.md's walkthrough, steps 1 and 2, on the shipped files as they
are: each command's output is what the page shows (a `...` in the page
stands for shortened digests and left-out lines), and the plan it makes is
one `gateway run` can start: a handler for the built-in lanes and no two
lanes on one listen address (issue 13 item 1). Step 3 needs the channels'
real credentials; `gatewayctl demo` (tests/test_demo.py) runs the same two
files against the built-in fakes, with only the fakes' addresses added.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from click.testing import CliRunner

from gatewayctl.cli.main import cli

REPO = Path(__file__).resolve().parents[1]


def _console_blocks(section: str) -> list[tuple[str, list[str]]]:
    """(command, shown output lines) of the ```console blocks of one section."""
    text = (REPO / "docs" / "gateway.md").read_text(encoding="utf-8")
    body = text.split(f"### {section}\n", 1)[1].split("\n### ", 1)[0]
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", body, flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif out:
                out[-1][1].append(line)
    return out


def _matches(shown: str, actual: str) -> bool:
    """A shown line with `...` (a shortened digest) matches the actual line."""
    pattern = ".*?".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, actual) is not None


def test_steps_one_and_two_print_what_the_page_shows(tmp_path, monkeypatch):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    steps = _console_blocks("1. check") + _console_blocks("2. plan")
    assert [cmd for cmd, _ in steps] == [
        "gatewayctl check examples/gateway-rollout.toml",
        "gatewayctl check examples/gatewayctl.toml",
        "gatewayctl plan --file examples/gatewayctl.toml --out plan.json",
        "gatewayctl plan show plan.json",
    ]
    for cmd, shown in steps:
        r = CliRunner().invoke(cli, cmd.split()[1:], env={"GATEWAYCTL_GATEWAY_PORT": None, "NO_COLOR": "1"})
        assert r.exit_code == 0, (cmd, r.output)
        actual = r.stdout.splitlines()
        # every shown line appears, in order (a lone `...` skips lines)
        i = 0
        for line in (s for s in shown if s.strip() != "..."):
            while i < len(actual) and not _matches(line, actual[i]):
                i += 1
            assert i < len(actual), f"{cmd}: the page shows {line!r}, the command printed:\n{r.stdout}"
            i += 1
    plan = json.loads((tmp_path / "plan.json").read_text())["plan"]
    assert plan["handler"] == {"kind": "echo", "exec": [], "url": None, "timeout_s": 10.0, "env": []}
    assert plan["settings"]["path"] == "examples/gatewayctl.toml"
