"""Every shell command in README.md and docs/*.md runs as written (issue 13).

The commands are read from the markdown itself, so a rewritten page is
tested as it now reads: the `$ ` lines of ```console blocks, every line of
```sh / ```bash / ```shell blocks, and lines of unmarked blocks that start
with a command (gatewayctl, python, curl, cat, bash). Each page runs in a
sandbox of its own, in page order (a later command may use the plan an
earlier one wrote): a scratch directory holding `config.toml` (the bundled
example rollout's loong config), `gatewayctl.toml` (the bundled settings,
naming `config.toml`), `other.yaml` (the same config as YAML), `examples/`, a
`.venv` link to this environment, `gatewayctl` on PATH, and HOME and
GATEWAYCTL_HOME inside the sandbox.

A command passes when it exits with a code its section documents (0 unless
EXPECTED says otherwise) and prints no traceback, no "Aborted!" and no
"command not found". A usage synopsis (`[--json]`, `FILE`, `config|plan`) is
run without its optional parts when nothing else is left to fill in, and is
otherwise no command. What cannot run here is listed in NOT_RUNNABLE with
the reason; a command matching no rule simply runs, so a new doc command is
tested the day it is written.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]
SHELL_INFOS = {"console", "sh", "bash", "shell", "shell-session"}
COMMAND_WORDS = {"gatewayctl", "python", "python3", "curl", "cat", "bash"}

# regex on the command as written -> why a test cannot run it as written
NOT_RUNNABLE: dict[str, str] = {
    r"^bash scripts/test\.sh": "runs the test suite, which this test is part of; CI runs it as `bash scripts/test.sh -q`",
    r"^uv tool install|pipx install": "installs into the user's ~/.local; tests/test_install_tool.py runs `uv tool install` "
    "of this checkout into a scratch tool directory",
    r"^export \w+=\.\.\.": "placeholders (`...`) for a channel's real credentials",
    r"gatewayctl gateway run|gatewayctl multi-channel-serve": "runs the example's lanes against the real Feishu, Telegram "
    "and WeCom APIs with their real credentials; the docs/gateway.md walkthrough on the built-in fakes "
    "(tests/test_walkthrough.py) and `gatewayctl demo` (tests/test_demo.py) run the same rollout against the fakes, "
    "tests/test_gateway_owner.py the owner itself",
    r"gatewayctl gateway apply": "changes the plan of a running owner, which needs the example's real credentials; "
    "tests/test_gateway_apply.py drives it against a real owner, tests/test_apply_rollout.py the docs/gateway.md "
    "rollout against the built-in fakes",
    r"^kill -HUP": "signals a running owner started from a config (real credentials); tests/test_apply_rollout.py "
    "sends SIGHUP to owners (foreground and --detach) running against the built-in fakes",
    r"gatewayctl fleet (status|release|rebalance)": "needs a live fleet: an etcd and owners running a plan with "
    "[fleet]; tests/test_fleet_hosts.py runs status, release and rebalance against a real etcd on 127.0.0.1 and "
    "three owners",
    r"gatewayctl preflight": "probes each channel's real API with its real credentials (network)",
    r"^TOKEN=|Authorization: Bearer": "needs a running owner on the default port 26306 (real credentials); "
    "tests/test_gateway_owner.py and tests/test_runtime_units.py drive the control API",
    r"^cd editors/vscode|^npm install$|^npx @vscode/vsce|^code --install-extension": "builds and installs the VS Code "
    "extension: needs the VS Code toolchain and the npm registry",
    r"scripts/loong_inventory\.py|scripts/extract_loong_docs_toml\.py": "needs a clone of loong's repository "
    "(--loong-git-dir); tests/test_loong_* check their committed output",
}

# (page, level-2 heading) -> the test that runs that section's commands
# itself, in order: they share state a per-command run cannot give them
# (background fakes on fixed ports, exported variables, shell job numbers)
RUN_ELSEWHERE: dict[tuple[str, str], str] = {
    ("docs/gateway.md", "Walkthrough on your machine, against the built-in fakes"): "tests/test_walkthrough.py "
    "runs every command of the section as written, in order, against the fakes it starts on the section's fixed ports",
}

# command regex -> the exit codes its doc section promises
EXPECTED: dict[str, set[int]] = {
    r"^gatewayctl gateway status(?!.*\|)": {3},  # nothing runs in the sandbox: "no owner is running"
    r"^gatewayctl check .*deploy/\*\.toml": {0, 1},  # "0 clean, 1 errors, 2 usage error"
    r"^gatewayctl check --strict": {0, 1},
    r"^gatewayctl plan diff": {0},
}

# command regex -> shell run first, in the sandbox (files the command names)
SETUP: dict[str, str] = {
    r"deploy/\*\.toml": "mkdir -p deploy && cp config.toml deploy/config.toml",
    r"> schemas/": "mkdir -p schemas",
    # loong's config with a gatewayctl setting still in [gateway], where
    # migrate finds it; the sandbox's own gatewayctl.toml would hold other
    # values (migrate refuses those), so the migration writes a fresh one.
    r"^gatewayctl migrate ~/\.loong/config\.toml": "rm -f gatewayctl.toml && mkdir -p ~/.loong "
    "&& cp config.toml ~/.loong/config.toml "
    "&& printf '\\n[gateway]\\nchannel_accounts = [\"lark=work\"]\\n\\n[gateway.handler]\\necho = true\\n' >> ~/.loong/config.toml",
    r"~/\.loong/config\.toml": "mkdir -p ~/.loong && cp config.toml ~/.loong/config.toml",  # loong's default place
    r"~/\.config/fish/completions": "mkdir -p ~/.config/fish/completions",
    r"^gatewayctl plan diff old\.json new\.json": "gatewayctl plan --out old.json >/dev/null "
    "&& gatewayctl plan --channel-account lark=work --out new.json >/dev/null",
}

# commands that serve until stopped: started in the background for the rest of their block
BACKGROUND = (r"^python -m gatewayctl\.fakes ",)
# commands that run until their input ends
STDIN_EOF = (r"^gatewayctl lsp",)

_SYNOPSIS_METAVAR = re.compile(r"\b(FILES?|PLANS?|NAME|DIR|OLD|NEW|FAMILY|ACCOUNT|LIST|CHANNEL)\b|\.\.\.|\w\|\w|\(--")


def _blocks(text: str):
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*(```+|~~~+)\s*([^`\s]*)", lines[i])
        if m:
            fence, info, start, body = m.group(1), m.group(2), i + 1, []
            i += 1
            while i < len(lines) and not re.match(r"^\s*" + fence + r"\s*$", lines[i]):
                body.append((i + 1, lines[i]))
                i += 1
            yield start, info, body
        i += 1


def doc_commands(doc: str) -> list[tuple[int, int, str]]:
    """(block line, line, command) of every shell command of one page, in order."""
    out = []
    for start, info, body in _blocks((REPO / doc).read_text(encoding="utf-8")):
        for n, line in body:
            text = line.strip()
            if info == "console":
                if text.startswith("$ "):
                    out.append((start, n, text[2:]))
            elif info in SHELL_INFOS:
                if text and not text.startswith("#"):
                    out.append((start, n, text))
            elif info == "" and text.split(" ", 1)[0] in COMMAND_WORDS:
                out.append((start, n, text))
    return out


def section_of(doc: str, line: int) -> str | None:
    """The level-2 heading (`## ...`) above ``line`` (1-based) of a page, outside fences."""
    heading, fence = None, None
    for n, text in enumerate((REPO / doc).read_text(encoding="utf-8").split("\n")[: line - 1], start=1):
        m = re.match(r"^\s*(```+|~~~+)", text)
        if m:
            fence = None if fence and m.group(1).startswith(fence) else (fence or m.group(1))
        elif fence is None and text.startswith("## "):
            heading = text[3:].strip()
    return heading


def _strip_comment(cmd: str) -> str:
    # a `#` after whitespace outside quotes starts a shell comment
    quote = None
    for i, ch in enumerate(cmd):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and i and cmd[i - 1].isspace():
            return cmd[:i].rstrip()
    return cmd


def runnable_form(cmd: str) -> str | None:
    """The command as a test runs it: optional `[...]` parts dropped; None
    for a synopsis that still needs values filled in."""
    cmd = _strip_comment(cmd)
    bare = re.sub(r"\s*\[-[^\]]*\]", "", cmd).strip()  # [--json], [--timeout 30]; not jq's .lanes[]
    if _SYNOPSIS_METAVAR.search(bare):
        return None
    return bare


def _first(table: dict, cmd: str):
    return next((v for k, v in table.items() if re.search(k, cmd)), None)


@pytest.fixture
def sandbox(tmp_path):
    box = tmp_path / "docs-sandbox"
    box.mkdir()
    shutil.copytree(REPO / "examples", box / "examples")
    shutil.copy(REPO / "examples" / "gateway-rollout.toml", box / "config.toml")
    settings = (REPO / "examples" / "gatewayctl.toml").read_text(encoding="utf-8")
    assert 'loong_config = "gateway-rollout.toml"' in settings
    (box / "gatewayctl.toml").write_text(settings.replace('loong_config = "gateway-rollout.toml"', 'loong_config = "config.toml"'))
    from ruamel.yaml import YAML

    data = tomllib.loads((REPO / "examples" / "gateway-rollout.toml").read_text(encoding="utf-8"))
    with open(box / "other.yaml", "w", encoding="utf-8") as fh:
        YAML().dump(data, fh)
    (box / ".venv").symlink_to(Path(sys.prefix))
    (box / "home").mkdir()
    return box


def _env(box: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAYCTL_", "PYTEST_", "FORCE_COLOR", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(box / "home"),
        GATEWAYCTL_HOME=str(box / "gwhome"),
        NO_COLOR="1",
    )
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    from tests.support import poll

    def up():
        if proc.poll() is not None:
            return True
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    return bool(poll(up, timeout)) and proc.poll() is None


def run_page(doc: str, box: Path) -> tuple[list[str], list[str]]:
    """Run one page's commands; returns (failures, what was run)."""
    env = _env(box)
    failures, ran = [], []
    background: list[subprocess.Popen] = []
    block = None
    ports: dict[str, str] = {}
    try:
        for start, line, written in doc_commands(doc):
            if start != block:
                for proc in background:
                    proc.send_signal(signal.SIGINT)
                    proc.wait(timeout=30)
                background, block, ports = [], start, {}
            where = f"{doc}:{line}: {written}"
            if _first(NOT_RUNNABLE, written) is not None or (doc, section_of(doc, line)) in RUN_ELSEWHERE:
                continue
            cmd = runnable_form(written)
            if cmd is None:
                continue
            for documented, free in ports.items():  # a fixed documented port, made free for this run
                cmd = cmd.replace(documented, free)
            ran.append(cmd)
            if "jq " in cmd and shutil.which("jq") is None:
                pytest.skip(f"jq is not installed; {where} pipes into it")
            setup = _first(SETUP, written)
            if setup:
                subprocess.run(["bash", "-c", setup], cwd=box, env=env, check=True, capture_output=True, timeout=120)
            if any(re.search(p, cmd) for p in BACKGROUND):
                documented = re.search(r"--port (\d+)", cmd)
                if documented:
                    ports[documented.group(1)] = str(_free_port())
                    cmd = cmd.replace(documented.group(1), ports[documented.group(1)])
                proc = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=box, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                background.append(proc)
                if documented and not _wait_listening(int(ports[documented.group(1)]), proc):
                    failures.append(f"{where}\n    did not start listening: {proc.stderr.read().decode()[-2000:]}")
                continue
            stdin = subprocess.DEVNULL if any(re.search(p, cmd) for p in STDIN_EOF) else None
            proc = subprocess.run(["bash", "-c", cmd], cwd=box, env=env, capture_output=True, text=True,
                                  timeout=300, stdin=stdin)
            expected = _first(EXPECTED, cmd) or {0}
            output = proc.stdout + proc.stderr
            bad = [s for s in ("Traceback (most recent call last)", "Aborted!", "command not found") if s in output]
            if proc.returncode not in expected or bad:
                failures.append(
                    f"{where}\n    ran: {cmd}\n    exit {proc.returncode} (documented: {sorted(expected)}) {bad}\n"
                    + "\n".join("    | " + ln for ln in output.splitlines()[-15:])
                )
    finally:
        for proc in background:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return failures, ran


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_every_command_of_the_page_runs_as_written(doc, sandbox):
    failures, _ran = run_page(doc, sandbox)
    assert not failures, "\n\n".join(failures)


def test_every_shell_block_is_found_and_each_command_is_run_or_listed():
    """The extraction itself: pages do have commands, every command is either
    run, a synopsis, or listed with a reason, and every listed reason still
    matches a command (a stale entry would hide nothing and mean nothing)."""
    all_commands = [(doc, written) for doc in DOCS for _s, _n, written in doc_commands(doc)]
    assert any(doc == "README.md" for doc, _ in all_commands)
    assert any(doc == "docs/workers.md" and "curl" in w for doc, w in all_commands)
    for pattern in NOT_RUNNABLE:
        assert any(re.search(pattern, w) for _, w in all_commands), f"NOT_RUNNABLE entry matches no doc command: {pattern}"
    for doc, heading in RUN_ELSEWHERE:
        assert any(section_of(doc, n) == heading for _s, n, _w in doc_commands(doc)), f"no commands under {doc}: ## {heading}"
    runnable = [w for _, w in all_commands if _first(NOT_RUNNABLE, w) is None and runnable_form(w) is not None]
    assert len(runnable) >= 30, runnable


def test_synopsis_forms():
    assert runnable_form("gatewayctl gateway status [--json]") == "gatewayctl gateway status"
    assert runnable_form("gatewayctl plan show PLAN [--config-dir DIR] [--json]") is None
    assert runnable_form("gatewayctl schema config|plan|status") is None
    assert runnable_form("cat config.toml | gatewayctl check --stdin-filename config.toml -") == (
        "cat config.toml | gatewayctl check --stdin-filename config.toml -"
    )
    assert runnable_form("gatewayctl check x.toml   # 0 clean, 1 errors") == "gatewayctl check x.toml"
