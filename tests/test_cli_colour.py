"""Colour follows no-color.org and force-color.org exactly, per stream (issue 13, item 8).

`check` colours its report on stdout, `plan` and `gateway run --config`
their diagnostics on stderr: each asks about the stream it writes to. The
real-process tests put a pseudo-terminal on exactly one stream.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from gatewayctl.cli.colour import want_color

BAD = '[telegram]\nenabled = false\nbot_tokn = { env = "X" }\n'
RED = "\x1b[1;31merror[GW101]"


class _Stream:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize(
    "flag, env, tty, expected",
    [
        (None, {}, True, True),  # a terminal: colour
        (None, {}, False, False),  # a pipe or file: none
        (None, {"TERM": "dumb"}, True, False),  # a dumb terminal: none
        (None, {"TERM": "xterm-256color"}, True, True),
        (None, {"NO_COLOR": "1"}, True, False),
        (None, {"NO_COLOR": "0"}, True, False),  # any non-empty value
        (None, {"NO_COLOR": ""}, True, True),  # empty: as if unset
        (None, {"FORCE_COLOR": "1"}, False, True),
        (None, {"FORCE_COLOR": "0"}, False, False),  # "0" means off (issue 13, Node's supports-color)
        (None, {"FORCE_COLOR": "0"}, True, False),  # ... even on a terminal, as in Node
        (None, {"FORCE_COLOR": "false"}, False, False),
        (None, {"FORCE_COLOR": "false"}, True, False),
        (None, {"FORCE_COLOR": "true"}, False, True),  # any other non-empty value forces
        (None, {"FORCE_COLOR": "3"}, False, True),
        (None, {"FORCE_COLOR": "0", "TERM": "dumb"}, True, False),
        (None, {"FORCE_COLOR": ""}, False, False),  # empty: as if unset
        (None, {"FORCE_COLOR": "1", "TERM": "dumb"}, True, True),  # forced beats dumb
        (None, {"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, False),  # NO_COLOR wins
        (True, {"NO_COLOR": "1"}, False, True),  # the flag beats the environment
        (False, {"FORCE_COLOR": "1"}, True, False),
    ],
)
def test_convention_matrix(flag, env, tty, expected):
    assert want_color(flag, _Stream(tty), environ=env) is expected


def _run_with_tty_on(which: str, argv: list[str], cwd, extra_env: dict) -> tuple[str, str]:
    """Run gatewayctl with a pseudo-terminal as ``which`` (stdout or stderr), a pipe as the other."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    env.update(extra_env)
    master, slave = pty.openpty()
    kw = {"stdout": slave, "stderr": subprocess.PIPE} if which == "stdout" else {"stdout": subprocess.PIPE, "stderr": slave}
    proc = subprocess.Popen([sys.executable, "-m", "gatewayctl", *argv], cwd=cwd, env=env, **kw)
    os.close(slave)
    on_tty = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        on_tty += chunk
    os.close(master)
    piped = (proc.stderr if which == "stdout" else proc.stdout).read()
    proc.wait(timeout=60)
    return on_tty.decode(), piped.decode()


@pytest.fixture
def bad_config(tmp_path):
    (tmp_path / "bad.toml").write_text(BAD)
    return tmp_path


def test_plan_colours_its_diagnostics_when_stderr_is_a_terminal(bad_config):
    on_tty, piped = _run_with_tty_on("stderr", ["plan", "--config", "bad.toml"], bad_config, {"TERM": "xterm"})
    assert RED in on_tty, on_tty
    assert piped == ""  # no plan on stdout


def test_plan_does_not_colour_diagnostics_going_to_a_pipe_even_on_a_terminal_stdout(bad_config):
    on_tty, piped = _run_with_tty_on("stdout", ["plan", "--config", "bad.toml"], bad_config, {"TERM": "xterm"})
    assert "error[GW101]" in piped and "\x1b[" not in piped


def test_gateway_run_config_errors_follow_stderr_too(bad_config):
    env = {"TERM": "xterm", "GATEWAYCTL_HOME": str(bad_config / "home")}
    on_tty, _ = _run_with_tty_on("stderr", ["gateway", "run", "--config", "bad.toml"], bad_config, env)
    assert RED in on_tty, on_tty


def test_check_on_a_dumb_terminal_is_plain_unless_forced(bad_config):
    plain, _ = _run_with_tty_on("stdout", ["check", "bad.toml"], bad_config, {"TERM": "dumb"})
    assert "error[GW101]" in plain and "\x1b[" not in plain
    forced, _ = _run_with_tty_on("stdout", ["check", "bad.toml"], bad_config, {"TERM": "dumb", "FORCE_COLOR": "1"})
    assert RED in forced
    none, _ = _run_with_tty_on("stdout", ["check", "bad.toml"], bad_config, {"NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert "\x1b[" not in none


def test_force_color_zero_does_not_turn_colour_on(bad_config):
    """Issue 13, item 8: `FORCE_COLOR=0` coloured a piped report; "0" and "false" mean off, as in Node."""
    for value in ("0", "false"):
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
        env.update(FORCE_COLOR=value, TERM="xterm")
        piped = subprocess.run([sys.executable, "-m", "gatewayctl", "check", "bad.toml"], cwd=bad_config, env=env, capture_output=True, text=True, timeout=60)
        assert "error[GW101]" in piped.stdout and "\x1b[" not in piped.stdout, (value, piped.stdout)
        on_tty, _ = _run_with_tty_on("stdout", ["check", "bad.toml"], bad_config, {"TERM": "xterm", "FORCE_COLOR": value})
        assert "error[GW101]" in on_tty and "\x1b[" not in on_tty, (value, on_tty)
