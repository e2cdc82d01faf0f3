"""`gatewayctl gateway run|status|stop` and `gatewayctl multi-channel-serve`.

The click commands fill a settings object; run_owner(), run_status() and
run_stop() do the work and return exit codes from cli/exitcodes.py, which
are decided here and only here. A plan comes from a saved file (verified:
known version, intact digest, not stale unless --allow-stale) or is compiled
in-process through the same run_plan() that `gatewayctl plan` uses; the
runtime package then runs it and never sees the config.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import click

from gatewayctl.cli import exitcodes

_CONTEXT = {"help_option_names": ["-h", "--help"]}
PORT_ENV = "GATEWAYCTL_GATEWAY_PORT"
STDIN = "-"

_RUN_EPILOG = (
    "\b\nExit codes:\n"
    "  0  stopped on request (gateway stop, SIGTERM, Ctrl-C)\n"
    "  1  the settings, config or selectors have errors (no owner started)\n"
    "  2  usage error\n"
    "  4/5/6/7  saved plan tampered (or not what its config compiles to) / unknown format / stale / unreadable\n"
    " 12  saved plan made by another gatewayctl version (re-create it, or --trust-plan)\n"
    "  8  another gateway owner is active (nothing was written)\n"
    "  9  the owner stopped because a lane failed (or could not start)\n"
    " 10  the runtime directory could not be written\n"
)
_STATUS_EPILOG = (
    "\b\nExit codes:\n"
    "  0  healthy: an owner is running and every lane is running\n"
    "  3  down: no owner is running (stopped, failed, or stale)\n"
    " 11  degraded: an owner is running, but a lane is starting, in backoff, stopping or fatal\n"
)
_STOP_EPILOG = (
    "\b\nExit codes:\n"
    "  0  stop requested, already requested, or not running (with --wait: the owner stopped cleanly)\n"
    "  8  --wait: the owner was still running when --timeout ran out\n"
    "  9  --wait: the owner ended in phase failed\n"
    " 10  the stop request could not be written\n"
)


@dataclass(frozen=True, slots=True)
class RunSettings:
    config: str | None
    plan_path: str | None
    selectors: tuple[str, ...] = ()
    mode: str = "gateway_headless"
    session: str | None = None
    port: int | None = None
    allow_inline_secrets: bool = False
    allow_stale: bool = False
    trust_plan: bool = False  # skip the recompile of a saved plan (--trust-plan)
    config_dir: str | None = None
    detach: bool = False
    live_view: bool = False  # multi-channel-serve: redraw a lane table on a TTY
    reload_argv: tuple[str, ...] | None = None  # set by --detach for the background owner's SIGHUP
    preflight_timeout_s: float | None = None  # `gateway run --preflight`: probe every lane before claiming
    host_id: str | None = None  # a fleet plan: this host's id (--host-id)


def _err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


# ----------------------------------------------------------------- plans


def _compile(settings: RunSettings, purpose: str = "gateway owner not started", rerun: str | None = None):
    """(plan, exit code): compile in-process exactly as `gatewayctl plan` does.

    On config errors the diagnostics end with ``purpose`` and the command to
    run again (``rerun``; default: the command that was run), not `plan`'s."""
    if rerun is None:
        rerun = "gatewayctl multi-channel-serve" if settings.mode == "multi_channel_serve" else "gatewayctl gateway run"
    from gatewayctl.cli.plan import PlanSettings, run_plan
    from gatewayctl.cli.colour import want_color
    from gatewayctl.compile import planfile

    outcome = run_plan(
        PlanSettings(
            config=settings.config,
            selectors=settings.selectors,
            mode=settings.mode,
            session=settings.session,
            port=settings.port,
            env_port=os.environ.get(PORT_ENV),
            allow_inline_secrets=settings.allow_inline_secrets,
            out=None,
            fmt="text",
            color=want_color(None, sys.stderr),
            after_errors=f"{purpose}: fix the errors above and run `{rerun}` again",
        )
    )
    if outcome.stderr:
        _err(outcome.stderr)
    if outcome.exit_code != exitcodes.OK:
        return None, outcome.exit_code
    try:
        return planfile.loads(outcome.stdout.encode("utf-8"), source=settings.config), exitcodes.OK
    except planfile.PlanError as exc:  # the compiler emitted something its reader refuses: a bug
        raise RuntimeError(f"compiled plan does not load back: {exc.message}") from None


def _load_saved(settings: RunSettings):
    from gatewayctl.cli.plan import prove_plan
    from gatewayctl.compile import planfile
    from gatewayctl.diagnostics import escape_controls
    from gatewayctl.inputs import MAX_PLAN_BYTES, read_stream

    source = "<stdin>" if settings.plan_path == STDIN else settings.plan_path
    try:
        if settings.plan_path == STDIN:
            # One byte over the limit at most: the loader refuses the rest.
            plan = planfile.loads(read_stream(sys.stdin.buffer, MAX_PLAN_BYTES), source=source)
        else:
            plan = planfile.load(settings.plan_path)
        # Everything is proven before the runtime slot is touched: a plan
        # that fails here leaves nothing behind.
        prove_plan(
            plan,
            source=source,
            base_dir=settings.config_dir,
            allow_stale=settings.allow_stale,
            recompile=not settings.trust_plan,
        )
    except planfile.PlanError as exc:
        hint = ""
        if exc.kind == "stale":
            hint = " (or pass --allow-stale to run it anyway)"
        elif exc.kind == "generator" or (exc.kind == "tampered" and "compiles to" in exc.message):
            hint = " (or pass --trust-plan to run it without recompiling its config)"
        _err(escape_controls(f"error: {exc.message}{hint}"))
        return None, exitcodes.PLAN_ERROR_EXIT.get(exc.kind, exitcodes.PLAN_UNREADABLE)
    if settings.mode == "multi_channel_serve" and plan.mode != "multi_channel_serve":
        _err(
            f"error: {settings.plan_path}: the plan is for mode {plan.mode}; multi-channel-serve runs plans made "
            "with `gatewayctl plan --mode multi_channel_serve --session NAME`"
        )
        return None, exitcodes.USAGE
    if settings.session is not None and plan.session != settings.session:
        # A saved plan fixes its session; a different --session must not be
        # silently dropped (status and the owner would name the plan's).
        recorded = f"session {plan.session!r}" if plan.session else "no session"
        _err(
            f"error: {settings.plan_path}: the plan was made for {recorded}, not --session {settings.session!r}; "
            "pass the plan's session, or make a plan for this one with "
            f"`gatewayctl plan --mode {plan.mode} --session {settings.session}`"
        )
        return None, exitcodes.USAGE
    return plan, exitcodes.OK


# ------------------------------------------------------------------ views


def _lane_label(entry: dict) -> str:
    return f"{entry.get('family')}(account={entry.get('account')})"


def _lane_name(entry: dict) -> str:
    return f"{entry.get('family')}/{entry.get('account')}"


def _count(worker: dict, key: str) -> int | None:
    value = worker.get(key)
    # bool is an int subclass; a worker's JSON is not ours to trust blindly.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _one_line(text) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return " ".join(text.split())


def _worker_of(entry: dict) -> dict:
    worker = entry.get("worker")
    return worker if isinstance(worker, dict) else {}


def worker_summary(entry: dict, now_ms: int | None = None) -> list[str]:
    """The worker's own stats for one lane, as short items; only what it reports.

    ``connected``/``disconnected``, ``in N`` (messages received), ``out N``
    (replies sent), ``ignored N`` (when any), ``handler errors N`` and, with
    ``now_ms``, ``last inbound Xs ago``. A worker that writes no status file
    (a foreign command) gives an empty list.
    """
    worker = _worker_of(entry)
    items: list[str] = []
    connected = worker.get("connected")
    if isinstance(connected, bool):
        items.append("connected" if connected else "disconnected")
    for key, label in (("messages_received", "in"), ("replies_sent", "out")):
        n = _count(worker, key)
        if n is not None:
            items.append(f"{label} {n}")
    ignored = _count(worker, "messages_ignored")
    if ignored:
        items.append(f"ignored {ignored}")
    errors = _count(worker, "handler_errors")
    if errors is not None:
        items.append(f"handler errors {errors}")
    inbound = _count(worker, "last_inbound_at_ms")
    if now_ms is not None and inbound is not None:
        items.append(f"last inbound {_ago(inbound, now_ms)}")
    return items


class _LineView:
    """Plain lines, one per change of the owner phase or of a lane's state."""

    def __init__(self, stream):
        self.stream = stream
        self._seen: dict[str, tuple] = {}

    def __call__(self, doc: dict) -> None:
        out = []
        phase = doc.get("phase")
        if self._seen.get("owner") != (phase,):
            self._seen["owner"] = (phase,)
            line = f"gateway owner {phase}"
            if phase in ("running", "starting") and doc.get("port") is not None:
                line += f" (pid {doc.get('pid')}, control {doc.get('bind_address')}:{doc.get('port')})"
            if phase == "failed" and doc.get("last_error"):
                line = doc["last_error"]  # already reads "<owner> failed because ..."
            elif phase == "stopped" and doc.get("shutdown_reason"):
                line += f": {doc['shutdown_reason']}"
            out.append(line)
        for lane in doc.get("lanes") or []:
            key = _lane_label(lane)
            if lane.get("started_at_ms") is None and lane.get("state") == "stopped":
                continue  # not started yet: nothing to say
            connected = _worker_of(lane).get("connected")
            # Counters change per message: they ride along on a line, they
            # do not cause one (that would be a line per message).
            sig = (lane.get("state"), lane.get("restarts"), lane.get("pid"), connected)
            if self._seen.get(key) == sig:
                continue
            self._seen[key] = sig
            line = f"  {key}: {lane.get('state')}"
            if lane.get("pid"):
                line += f" pid={lane['pid']}"
            if lane.get("restarts"):
                line += f" restarts={lane['restarts']}"
            stats = worker_summary(lane)
            if stats and lane.get("state") in ("starting", "running"):
                line += " " + ", ".join(stats)
            if lane.get("state") in ("backoff", "fatal") and lane.get("last_error"):
                line += f" ({lane['last_error']})"
            out.append(line)
        if out:
            self.stream.write("\n".join(out) + "\n")
            self.stream.flush()


class _TableView:
    """A lane table redrawn in place (TTY only): state, pid, restarts,
    connected, in, out and the last error, fitted to the terminal's width.

    Widths are display columns (gatewayctl.textwidth), so a CJK account name
    or error takes the two columns a character really takes, and no row is
    ever wider than the terminal: a row that wrapped would break the
    cursor-up redraw. LAST ERROR gets whatever the fixed columns leave (the
    lane column gives way first); a terminal too narrow for the counters
    shows lane, state and error only. When the width changes, the screen is
    cleared and the table drawn afresh: after a resize the terminal may have
    re-wrapped the old rows, so "up N lines" would leave a stale header.
    """

    # (title, width, align) of the fixed columns between LANE and LAST ERROR
    _COLUMNS = (("STATE", 8, "<"), ("PID", 7, ">"), ("RESTARTS", 8, ">"), ("CONN", 4, "<"), ("IN", 5, ">"), ("OUT", 5, ">"))
    _NARROW = (("STATE", 8, "<"),)

    def __init__(self, stream, columns=None):
        self.stream = stream
        self._columns = columns or self._terminal_columns
        self._lines = 0
        self._width: int | None = None

    def _terminal_columns(self) -> int:
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            width = 0
        return width if width > 0 else 120  # a terminal that does not know its size

    def __call__(self, doc: dict) -> None:
        from gatewayctl.textwidth import fit, pad, width as text_width

        width = self._columns()
        usable = max(width - 1, 20)  # never the last column: some terminals wrap there
        lanes = [ln for ln in (doc.get("lanes") or []) if isinstance(ln, dict)]
        labels = [_lane_name(ln) for ln in lanes]
        columns = self._COLUMNS
        fixed = 2 + sum(1 + w for _, w, _ in columns) + 2
        if usable - fixed < 16:  # no room for a lane name beside the counters
            columns = self._NARROW
            fixed = 2 + sum(1 + w for _, w, _ in columns) + 2
        lane_w = max([4, *(text_width(label) for label in labels)])
        lane_w = max(4, min(lane_w, usable - fixed, 32))

        # The header's parts, packed into as many lines as the width needs
        # (a cut header hides the phase, the one thing it is there for).
        parts = [
            "multi-channel-serve",
            f"session {doc.get('attached_cli_session')!s}",
            f"phase {doc.get('phase')}",
            f"lanes {doc.get('running_surface_count')}/{doc.get('configured_surface_count')} running",
            "(Ctrl-C stops)",
        ]
        header = [parts[0]]
        for part in parts[1:]:
            if text_width(header[-1]) + 2 + text_width(part) <= usable:
                header[-1] += "  " + part
            else:
                header.append("  " + part)
        # Room for a readable error beside the columns? Else it gets a line
        # of its own under the lane, as wide as the terminal.
        inline = usable - fixed - lane_w >= 30
        rows = list(header)
        rows.append(
            "  " + pad("LANE", lane_w) + "".join(" " + pad(t, w, a) for t, w, a in columns) + ("  LAST ERROR" if inline else "")
        )
        for lane, label in zip(lanes, labels):
            worker = _worker_of(lane)
            connected = worker.get("connected")
            n_in, n_out = _count(worker, "messages_received"), _count(worker, "replies_sent")
            cells = {
                "STATE": str(lane.get("state")),
                "PID": str(lane.get("pid") or "-"),
                "RESTARTS": str(lane.get("restarts")),
                "CONN": ("yes" if connected else "no") if isinstance(connected, bool) else "-",
                "IN": "-" if n_in is None else str(n_in),
                "OUT": "-" if n_out is None else str(n_out),
            }
            error = _one_line(lane.get("last_error")) or _one_line(worker.get("last_error")) or ""
            line = "  " + pad(label, lane_w) + "".join(" " + pad(cells[t], w, a) for t, w, a in columns)
            if inline:
                rows.append(line + "  " + error)
            else:
                rows.append(line)
                if error:
                    rows.append("      last error  " + error)
        if doc.get("phase") in ("stopped", "failed"):
            rows.append(f"  {_one_line(doc.get('last_error')) or _one_line(doc.get('shutdown_reason')) or ''}")
        rows = [fit(r.rstrip(), usable) for r in rows]
        if self._width is not None and width != self._width:
            clear = "\x1b[H\x1b[2J"  # resized: the old rows may have re-wrapped; start from a clean screen
        elif self._lines:
            clear = f"\x1b[{self._lines}F\x1b[J"
        else:
            clear = ""
        self.stream.write(clear + "\n".join(rows) + "\n")
        self.stream.flush()
        self._lines = len(rows)
        self._width = width


# -------------------------------------------------------------------- run


def run_owner(settings: RunSettings) -> int:
    from gatewayctl import __version__
    from gatewayctl.runtime import Owner, OwnerActive, OwnerOptions, RuntimePaths, RuntimeRefused, System
    from gatewayctl.runtime import slot

    paths = RuntimePaths.from_env()
    system = System()
    # Refuse a second owner before spending time on the plan; claim() checks again.
    try:
        slot.refuse_if_active(paths, system)
    except OwnerActive as exc:
        _err(exc.message)
        return exitcodes.OWNER_ACTIVE
    plan, code = _load_saved(settings) if settings.plan_path else _compile(settings)
    if plan is None:
        return code
    if settings.preflight_timeout_s is not None:
        from gatewayctl.cli.preflight import render, run_probes

        # No owner runs here (refused above), so nothing is serving.
        results, code = run_probes(plan, timeout_s=settings.preflight_timeout_s, serving=None)
        _err(render(results).rstrip("\n"))
        if code != exitcodes.OK:
            _err("gateway owner not started: a lane failed its preflight (the slot was not claimed)")
            return code
    if settings.detach:
        return _detach(plan, paths, None if settings.plan_path else reload_command(settings), host_id=settings.host_id)

    if settings.live_view and sys.stdout.isatty():
        view = _TableView(sys.stdout)
    else:
        view = _LineView(sys.stdout if settings.live_view else sys.stderr)
    # The failure line goes to stderr once: the view already wrote it there for `gateway run`.
    failure_shown = not settings.live_view
    reload_argv = settings.reload_argv if settings.plan_path else reload_command(settings)
    owner = Owner(
        plan, paths, OwnerOptions(version=__version__, cwd=os.getcwd(), reload_argv=reload_argv, lane_template=True,
                                  host_id=settings.host_id),
        system=system, on_change=view,
    )
    try:
        owner.claim()
    except OwnerActive as exc:
        _err(exc.message)
        return exitcodes.OWNER_ACTIVE
    except RuntimeRefused as exc:
        _err(f"error: {exc.message}")
        return exitcodes.IO_ERROR
    except OSError as exc:
        _err(f"error: cannot write the runtime directory {paths.runtime_dir}: {exc.strerror or exc}")
        return exitcodes.IO_ERROR
    result = owner.run()
    if not result.ok:
        if not failure_shown or not result.last_error:
            _err(result.last_error or "gateway owner failed")
        return exitcodes.OWNER_FAILED
    return exitcodes.OK


def reload_command(settings: RunSettings) -> tuple[str, ...]:
    """The `gatewayctl plan` run that recompiles what an owner started with
    ``--config`` was started from: its SIGHUP runs this (config path made
    absolute, the same selectors, mode, session and port)."""
    argv = [sys.executable, "-m", "gatewayctl", "plan", "--config", os.path.abspath(settings.config),
            "--mode", settings.mode, "--format", "text", "--no-color"]
    for selector in settings.selectors:
        argv += ["--channel-account", selector]
    if settings.session:
        argv += ["--session", settings.session]
    if settings.port is not None:
        argv += ["--port", str(settings.port)]
    if settings.allow_inline_secrets:
        argv.append("--allow-inline-secrets")
    return tuple(argv)


def _detach(plan, paths, reload_argv=None, host_id=None) -> int:
    """Start the owner as a background process fed the same plan; wait until it runs."""
    from gatewayctl.compile import planfile
    from gatewayctl.runtime import RuntimeRefused, System, load_status
    from gatewayctl.runtime.statefiles import FILE_MODE, read_regular, secure_runtime_dir

    log_path = os.path.join(paths.runtime_dir, "owner.log")
    try:
        secure_runtime_dir(paths.runtime_dir)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except RuntimeRefused as exc:
        _err(f"error: {exc.message}")
        return exitcodes.IO_ERROR
    except OSError as exc:
        _err(f"error: cannot write the runtime directory {paths.runtime_dir}: {exc.strerror or exc}")
        return exitcodes.IO_ERROR
    # The plan was proven (or compiled) here; the child reads exactly those
    # bytes from our pipe, so it has nothing to re-prove.
    argv = [sys.executable, "-m", "gatewayctl", "gateway", "run", "--plan", STDIN, "--allow-stale", "--trust-plan"]
    if reload_argv is not None:
        # what SIGHUP recompiles: the background owner was started from a config
        argv += ["--reload-argv", json.dumps(list(reload_argv))]
    if host_id is not None:
        argv += ["--host-id", host_id]
    child = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=log_fd,
        stderr=log_fd,
        start_new_session=True,
        cwd=os.getcwd(),
    )
    os.close(log_fd)
    child.stdin.write(planfile.dumps(plan))
    child.stdin.close()
    system = System()
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            _err(f"gateway owner exited at once (exit {code}); its output is in {log_path}:")
            tail = read_regular(log_path)
            if tail is not None:
                _err(tail[-4000:].decode("utf-8", "replace"))
            return code
        doc = load_status(paths, system)
        if doc.get("pid") == child.pid and doc.get("running") and doc.get("port") is not None:
            click.echo(
                f"gateway owner started in the background (pid {child.pid}, control "
                f"{doc['bind_address']}:{doc['port']}); output in {log_path}; "
                "`gatewayctl gateway status` to watch, `gatewayctl gateway stop` to stop"
            )
            return exitcodes.OK
        time.sleep(0.05)
    _err(f"gateway owner (pid {child.pid}) did not report running within 30 s; see {log_path}")
    return exitcodes.OWNER_FAILED


# ----------------------------------------------------------------- status


def _ago(ms: int | None, now_ms: int) -> str:
    if not isinstance(ms, int):
        return "never"
    secs = max(0, (now_ms - ms) // 1000)
    if secs < 120:
        return f"{secs}s ago"
    if secs < 7200:
        return f"{secs // 60}m ago"
    return f"{secs // 3600}h ago"


def _when(ms: int | None) -> str:
    if not isinstance(ms, int):
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def render_status(doc: dict, now_ms: int) -> str:
    if doc["running"]:
        head = f"gateway owner: running (pid {doc['pid']}, phase {doc['phase']})"
    elif doc["stale"] and doc.get("pid") is not None and doc["phase"] not in ("stopped", "failed"):
        head = (
            f"gateway owner: not running (stale: pid {doc['pid']} last heartbeat {_ago(doc['last_heartbeat_at'], now_ms)}; "
            f"it died or hangs, and the slot is reclaimed by the next `gateway run` if it is gone)"
        )
    elif doc["stale"] and doc.get("pid") is not None and doc["phase"] == "failed":
        # load_status turned a dead owner's "running" snapshot into "failed"
        head = (
            f"gateway owner: not running (pid {doc['pid']} died without shutting down, last heartbeat "
            f"{_ago(doc['last_heartbeat_at'], now_ms)}; the next `gateway run` reclaims its slot)"
        )
    elif doc.get("pid") is None:
        head = "gateway owner: not running (no owner has run here)"
    else:
        head = f"gateway owner: not running (last run {doc['phase']})"
    lines = [head, f"  runtime dir  {doc['runtime_dir']}"]
    if doc.get("pid") is not None:
        mode = doc["mode"] + (f", session {doc['attached_cli_session']!r}" if doc.get("attached_cli_session") else "")
        lines += [
            f"  mode         {mode}",
            f"  config       {doc['config_path']}",
            f"  plan sha256  {doc['plan_sha256']}",
            f"  started      {_when(doc['started_at_ms'])} (gatewayctl {doc['version']})",
            # Only a live owner's heartbeat has an age worth watching; a
            # stopped or dead one's would just keep growing.
            f"  heartbeat    {_ago(doc['last_heartbeat_at'], now_ms)}"
            if doc["running"] or (doc["stale"] and doc["phase"] not in ("stopped", "failed"))
            else f"  heartbeat    none (last at {_when(doc['last_heartbeat_at'])})",
        ]
        if doc.get("port") is not None:
            lines.append(
                f"  control      {doc['bind_address']}:{doc['port']} (port from {doc['port_source']}), "
                f"token in {doc['token_path']}"
            )
        if doc.get("stopped_at_ms"):
            lines.append(f"  stopped      {_when(doc['stopped_at_ms'])}")
        if doc.get("shutdown_reason"):
            lines.append(f"  reason       {doc['shutdown_reason']}")
        if doc.get("last_error") and doc.get("last_error") != doc.get("shutdown_reason"):
            lines.append(f"  last error   {doc['last_error']}")
        fleet = doc.get("fleet")
        if isinstance(fleet, dict):
            state = "registered" if fleet.get("registered") else "not registered"
            lines.append(
                f"  fleet        host {fleet.get('host_id')} ({state}, lease ttl {fleet.get('lease_ttl_s'):g} s, "
                f"live hosts: {', '.join(fleet.get('hosts') or []) or 'none seen'})"
            )
            if fleet.get("error"):
                lines.append(f"  fleet error  {fleet['error']}")
        standby = sum(1 for lane in doc.get("lanes") or [] if lane.get("state") == "standby")
        lines.append(
            f"  lanes        {doc['running_surface_count']} of {doc['configured_surface_count']} running"
            + (f", {standby} standby (held by another host, or waiting for a claim)" if standby else "")
        )
        for lane in doc.get("lanes") or []:
            bits = [f"    {_lane_name(lane)}", lane["state"]]
            where = lane.get("fleet")
            if isinstance(where, dict) and lane["state"] == "standby":
                bits.append(where.get("reason") or (f"held by {where.get('holder')}" if where.get("holder") else ""))
            if lane.get("pid"):
                bits.append(f"pid {lane['pid']}")
            bits.append(f"restarts {lane['restarts']}")
            bits += worker_summary(lane, now_ms)
            bits.append(f"log {lane['log_path']}")
            lines.append("  ".join(bits))
            lane_error = _one_line(lane.get("last_error"))
            worker_error = _one_line(_worker_of(lane).get("last_error"))
            if lane_error:
                lines.append(f"      last error    {lane_error}")
            if worker_error and (lane_error is None or worker_error not in lane_error):
                lines.append(f"      worker error  {worker_error}")
    return "\n".join(lines) + "\n"


def run_status(as_json: bool) -> int:
    import json

    from gatewayctl.runtime import RuntimePaths, System, load_status

    system = System()
    doc = load_status(RuntimePaths.from_env(), system)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_status(doc, system.now_ms()))
    sys.stdout.flush()
    return {"healthy": exitcodes.OK, "degraded": exitcodes.DEGRADED}.get(doc["health"], exitcodes.NOT_RUNNING)


# ------------------------------------------------------------------- stop


def run_stop(wait: bool, timeout: float | None) -> int:
    from gatewayctl.runtime import RuntimePaths, System, active_owner, load_status, request_stop, wait_until_gone

    paths = RuntimePaths.from_env()
    system = System()
    record = active_owner(paths, system)
    try:
        outcome = request_stop(paths, system)
    except OSError as exc:
        _err(f"error: cannot write the stop request {paths.stop_request}: {exc.strerror or exc}")
        return exitcodes.IO_ERROR
    message = {
        "requested": "gateway stop requested",
        "already_requested": "gateway stop already requested",
        "already_stopped": "gateway is not running",
    }[outcome]
    click.echo(message)
    if not wait or outcome == "already_stopped" or record is None:
        return exitcodes.OK
    if not wait_until_gone(paths, system, record, timeout):
        _err(f"gateway owner (pid {record.get('pid')}) is still running after {timeout:g} s")
        return exitcodes.OWNER_ACTIVE
    doc = load_status(paths, system)
    if doc.get("phase") == "failed":
        click.echo(f"gateway owner failed: {doc.get('last_error')}")
        return exitcodes.OWNER_FAILED
    if doc.get("pid") == record.get("pid") and doc.get("phase") == "stopped":
        click.echo(f"gateway owner stopped: {doc.get('shutdown_reason')}")
    else:
        click.echo(f"gateway owner (pid {record.get('pid')}) is gone")
    return exitcodes.OK


# ----------------------------------------------------------------- apply


def _control_call(paths, doc: dict, method: str, path: str, body: dict | None = None, timeout: float = 30.0):
    """(status, JSON answer) from the running owner's control API."""
    import urllib.error
    import urllib.request

    with open(paths.control_token, "rb") as fh:
        token = fh.read(4096).decode("ascii", "replace").strip()
    data = json.dumps(body).encode("utf-8") if body is not None else None
    req = urllib.request.Request(
        f"http://{doc['bind_address']}:{doc['port']}{path}", data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read(1024 * 1024) or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read(1024 * 1024) or b"{}")
        except ValueError:
            return exc.code, {}


def run_apply(settings: RunSettings, *, wait: bool, timeout_s: float) -> int:
    from gatewayctl.compile import planfile
    from gatewayctl.runtime import RuntimePaths, System, load_status

    paths = RuntimePaths.from_env()
    system = System()
    doc = load_status(paths, system)
    if not doc.get("running") or doc.get("port") is None:
        _err(f"error: no gateway owner is running here ({paths.runtime_dir}); start one with `gatewayctl gateway run`")
        return exitcodes.NOT_RUNNING
    plan, code = _load_saved(settings) if settings.plan_path else _compile(settings, purpose="nothing applied")
    if plan is None:
        return code
    envelope = json.loads(planfile.dumps(plan))
    try:
        status, answer = _control_call(paths, doc, "POST", "/api/gateway/apply",
                                       {"plan": envelope, "ready_timeout_s": timeout_s})
    except (OSError, ValueError) as exc:
        _err(f"error: cannot reach the owner's control API ({doc.get('bind_address')}:{doc.get('port')}): {exc}")
        return exitcodes.IO_ERROR
    if status != 202:
        message = (answer.get("error") or {}).get("message") or f"HTTP {status}"
        _err(f"gateway apply refused: {message}")
        return exitcodes.APPLY_FAILED
    apply_id = answer.get("apply_id")
    if not wait:
        click.echo(f"apply {apply_id} requested (plan {planfile.digest(plan)[:12]}); "
                   "`gatewayctl gateway status` shows how it ends")
        return exitcodes.OK
    # Preflight (10 s a lane at most, in parallel), then one ready timeout
    # per touched lane, plus as much again for a rollback.
    deadline = time.monotonic() + 30.0 + 2 * timeout_s * (len(plan.lanes) + 1)
    record = None
    while time.monotonic() < deadline:
        record = load_status(paths, system).get("last_apply") or {}
        if record.get("id") == apply_id and record.get("result") not in (None, "running"):
            break
        time.sleep(0.1)
    else:
        _err(f"gateway apply {apply_id}: no result yet; `gatewayctl gateway status` shows how it ends")
        return exitcodes.APPLY_FAILED
    click.echo(f"apply {apply_id} {record['result']}: {record.get('message')}")
    return exitcodes.OK if record["result"] in ("succeeded", "no-op") else exitcodes.APPLY_FAILED


# ------------------------------------------------------------------ click


def _selector_options(fn):
    fn = click.option(
        "--selectors",
        multiple=True,
        metavar="LIST",
        help='Comma-separated selectors, e.g. "lark=work,wecom=alerts": shorthand for repeating --channel-account; combines with it.',
    )(fn)
    fn = click.option(
        "--channel-account",
        "channel_accounts",
        multiple=True,
        metavar="CHANNEL=ACCOUNT",
        help="Select the account a family runs (repeatable); replaces the settings' channel_accounts.",
    )(fn)
    return fn


def _common_run_options(fn):
    fn = click.option(
        "--config-dir", metavar="DIR", help="Resolve a saved plan's relative config and settings paths against DIR."
    )(fn)
    fn = click.option(
        "--allow-stale", is_flag=True, help="Use a saved plan even if its config or settings changed since."
    )(fn)
    fn = click.option(
        "--trust-plan",
        is_flag=True,
        help="Use a saved plan without recompiling its config to prove its content (and whatever gatewayctl "
        "version made it); the digest, format and schema checks still apply.",
    )(fn)
    fn = click.option(
        "--allow-inline-secrets", is_flag=True, help="Accept inline secret literals (as `gatewayctl plan` does)."
    )(fn)
    fn = click.option(
        "--port",
        type=click.IntRange(0, 65535),
        help=f"Control API port (0: ephemeral). Else ${PORT_ENV}, else the settings' control_port, "
        "else loong's [gateway] port, else 26306.",
    )(fn)
    fn = _selector_options(fn)
    fn = click.option("--plan", "plan_path", metavar="FILE", help="Use a saved plan (`-`: read it from stdin).")(fn)
    fn = click.option(
        "--config",
        "config",
        metavar="FILE",
        help="Compile a loong config alone (its gatewayctl settings in [gateway], deprecated).",
    )(fn)
    fn = click.option(
        "--file",
        "settings_file",
        metavar="FILE",
        help="Compile gatewayctl's settings file (and the loong config it names). "
        "Default, without --plan/--config: ./gatewayctl.toml.",
    )(fn)
    return fn


def _settings(
    settings_file, config, plan_path, channel_accounts, selectors, port, allow_inline_secrets, allow_stale, trust_plan, config_dir, **kw
):
    from gatewayctl.cli.check import selector_texts
    from gatewayctl.cli.plan import input_file

    if plan_path and (settings_file or config):
        raise click.UsageError("give one of --plan FILE, --file FILE (gatewayctl.toml) or --config FILE, not several")
    if trust_plan and not plan_path:
        raise click.UsageError("--trust-plan goes with --plan FILE")
    if plan_path and (channel_accounts or selectors or port is not None or allow_inline_secrets):
        raise click.UsageError(
            "a saved plan already fixes its lanes and port: --channel-account/--selectors/--port/"
            "--allow-inline-secrets go with --file or --config"
        )
    if not plan_path:
        config = input_file(settings_file, config)
    return RunSettings(
        config=config,
        plan_path=plan_path,
        selectors=selector_texts(channel_accounts, selectors),
        port=port,
        allow_inline_secrets=allow_inline_secrets,
        allow_stale=allow_stale,
        trust_plan=trust_plan,
        config_dir=config_dir,
        **kw,
    )


@click.group("gateway", context_settings=_CONTEXT)
def gateway() -> None:
    """Run, inspect and stop the gateway owner (one per runtime directory).

    \b
    gatewayctl gateway run                    # ./gatewayctl.toml
    gatewayctl gateway run --file gatewayctl.toml --channel-account lark=work
    gatewayctl gateway run --plan plan.json
    gatewayctl gateway status [--json]
    gatewayctl gateway stop [--wait] [--timeout 30]

    The runtime directory is $GATEWAYCTL_HOME/gateway-runtime (default
    ~/.gatewayctl/gateway-runtime).
    """


@gateway.command("run", context_settings=_CONTEXT, epilog=_RUN_EPILOG)
@_common_run_options
@click.option("--session", metavar="NAME", help="Attached CLI session (mode gateway_attached_cli).")
@click.option("--detach", is_flag=True, help="Run the owner in the background and return once it runs.")
@click.option(
    "--preflight",
    "preflight",
    is_flag=True,
    help="Probe every lane first (as `gatewayctl preflight` does); refuse to claim the slot if one fails.",
)
@click.option(
    "--preflight-timeout",
    type=click.FloatRange(min=0.1, max=600),
    default=10.0,
    show_default=True,
    metavar="S",
    help="With --preflight: seconds each lane's probe may take.",
)
@click.option("--reload-argv", "reload_argv", hidden=True, metavar="JSON",
              help="Internal (set by --detach): the `gatewayctl plan` argv SIGHUP recompiles with.")
@click.option("--host-id", "host_id", metavar="ID",
              help="A fleet plan: this host's id (else $GATEWAYCTL_HOST_ID, else [fleet] host_id, else the host name).")
def run(session, detach, preflight, preflight_timeout, reload_argv, host_id, **opts):
    """Own the selected lanes in the foreground until stopped.

    Each lane runs its worker as a child process in its own process group,
    restarted per the plan's policy. Stops on `gateway stop`, SIGTERM or
    Ctrl-C: SIGTERM to every lane, SIGKILL after the plan's grace period.
    """
    if session is not None and not session.strip():
        raise click.UsageError("--session must not be blank")
    if session is not None and opts.get("plan_path"):
        raise click.UsageError("a saved plan records its mode and session; make it with `gatewayctl plan --session`")
    settings = _settings(
        **opts,
        mode="gateway_attached_cli" if session else "gateway_headless",
        session=session.strip() if session else None,
        detach=detach,
        preflight_timeout_s=preflight_timeout if preflight else None,
        reload_argv=_parse_reload_argv(reload_argv),
        host_id=_host_id(host_id),
    )
    sys.exit(run_owner(settings))


def _host_id(text):
    from gatewayctl.catalog import is_host_id

    if text is None:
        return None
    if not is_host_id(text):
        raise click.UsageError(f"--host-id {text!r}: use 1-64 letters, digits, '.', '_' or '-', starting alphanumeric")
    return text


def _parse_reload_argv(text):
    if text is None:
        return None
    try:
        argv = json.loads(text)
    except ValueError:
        argv = None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise click.UsageError("--reload-argv takes a JSON array of strings")
    return tuple(argv)


@gateway.command("status", context_settings=_CONTEXT, epilog=_STATUS_EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable status (schema: `gatewayctl schema status`).")
def status(as_json):
    """Show whether an owner runs here, its lanes, and how the last run ended."""
    sys.exit(run_status(as_json))


@gateway.command("stop", context_settings=_CONTEXT, epilog=_STOP_EPILOG)
@click.option("--wait", is_flag=True, help="Wait until the owner has stopped and say how it ended.")
@click.option("--timeout", type=click.FloatRange(min=0), metavar="S", help="With --wait: give up after S seconds.")
def stop(wait, timeout):
    """Ask the running owner to stop (graceful, then SIGKILL after the grace period)."""
    if timeout is not None and not wait:
        raise click.UsageError("--timeout goes with --wait")
    sys.exit(run_stop(wait, timeout))


_APPLY_EPILOG = (
    "\b\nExit codes:\n"
    "  0  applied (or nothing to change); without --wait: the request was accepted\n"
    "  1  config or selector errors (nothing sent)\n"
    "  2  usage error\n"
    "  3  no gateway owner is running here\n"
    "  4-7  the saved plan is tampered, of an unknown version, stale or unreadable\n"
    " 10  the control API could not be reached\n"
    " 13  refused (nothing touched: another apply runs, a full restart is needed, preflight failed)\n"
    "     or failed (a new lane was not ready: every lane was rolled back)\n"
)


@gateway.command("apply", context_settings=_CONTEXT, epilog=_APPLY_EPILOG)
@_common_run_options
@click.option("--wait", is_flag=True, help="Wait for the result and exit with it.")
@click.option(
    "--timeout", "timeout_s", type=click.FloatRange(min=0.1, max=3600), default=60.0, show_default=True, metavar="S",
    help="Seconds each new lane has to become ready before the apply rolls back.",
)
def apply(wait, timeout_s, **opts):
    """Switch the running owner to a new plan without stopping what did not change.

    Unchanged lanes keep their process and keep serving; removed lanes stop;
    added lanes start; changed lanes are replaced one at a time, and if a new
    one is not ready within --timeout the apply rolls every touched lane back.

    \b
    gatewayctl gateway apply --plan new.json --wait
    gatewayctl gateway apply --channel-account lark=work --wait      # ./gatewayctl.toml
    kill -HUP <owner pid>    # recompile what the owner was started from, then apply
    """
    settings = _settings(**opts)
    sys.exit(run_apply(settings, wait=wait, timeout_s=timeout_s))


@click.command("multi-channel-serve", context_settings=_CONTEXT, epilog=_RUN_EPILOG)
@click.option("--session", metavar="NAME", required=True, help="Session name (required, non-blank).")
@_common_run_options
def multi_channel_serve(session, **opts):
    """Foreground compatibility wrapper: own the lanes with a live view.

    Same owner slot and state files as `gateway run`, mode
    multi_channel_serve. On a terminal the lane table redraws in place;
    otherwise it prints one line per change. Ctrl-C stops.
    """
    if not session.strip():
        raise click.UsageError("--session must not be blank")
    settings = _settings(**opts, mode="multi_channel_serve", session=session.strip(), live_view=True)
    sys.exit(run_owner(settings))
