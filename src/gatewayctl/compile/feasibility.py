"""Can gatewayctl's runtime run this plan? The GW6xx run-time checks.

What used to fail only when `gateway run` started a lane is decided here,
when the plan is made, so that whatever `plan` accepts `run` can start:

- GW610: a lane served by the built-in worker, and no handler to answer
  its messages (the worker would exit "nothing to answer with").
- GW611: two built-in lanes listening on one address (a Feishu webhook lane
  and a WhatsApp lane on the default webhook_bind: the second would exit
  "address already in use").
- GW612 (warning): a worker or handler program that does not exist on this
  host (the owner could not start it here; it may exist where the plan
  runs).

Pure: the caller injects ``program_exists`` (the pipeline passes a PATH
lookup; None skips GW612). These are gatewayctl's verdicts, never loong's:
`check` of a plain loong config does not run them. Imports compile.plan,
diagnostics and the validate model's types only through its arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from gatewayctl.compile.plan import LaunchPlan, listen_bind, runs_builtin_worker
from gatewayctl.diagnostics import TARGET_KEY, Finding

_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "*"})


def runtime_findings(
    plan: LaunchPlan, validated, *, program_exists: Callable[[str], bool] | None = None
) -> list[Finding]:
    """GW6xx findings for a compiled plan. Findings about the settings carry
    the settings' origin; findings about lanes point into the loong config."""
    settings = validated.settings
    own: list[Finding] = []
    lane_findings: list[Finding] = []

    builtin = [lane.name for lane in plan.lanes if runs_builtin_worker(lane)]
    if builtin and plan.handler is None:
        table = "[" + ".".join((*settings.base, "handler")) + "]"
        own.append(
            Finding(
                "GW610",
                settings.pointer("handler"),
                f"no handler: the built-in worker of {', '.join(builtin)} would have nothing to answer messages "
                "with, and `gateway run` would stop at once",
                hint=f'add {table} with exec = ["program", "arg"], url = "http://..." or echo = true '
                f"(or run your own worker: {table[:-len('handler]')]}worker] command)",
            )
        )

    lane_findings.extend(_bind_conflicts(plan, validated.model))

    if program_exists is not None:
        worker = settings.data.get("worker")
        command = worker.get("command") if isinstance(worker, Mapping) else None
        if isinstance(command, list) and command and isinstance(command[0], str):
            own.extend(_missing_program(command[0], settings.pointer("worker", "command", 0), "worker", program_exists))
        if plan.handler is not None and plan.handler.kind == "exec" and plan.handler.exec:
            own.extend(
                _missing_program(plan.handler.exec[0], settings.pointer("handler", "exec", 0), "handler", program_exists)
            )

    if settings.origin:
        own = [replace(f, origin=settings.origin) for f in own]
    return own + lane_findings


def _missing_program(program: str, pointer: str, what: str, program_exists) -> list[Finding]:
    if "{" in program or not program.strip():
        return []  # a placeholder ({gatewayctl}) or blank (GW503 reports it)
    if program_exists(program):
        return []
    return [
        Finding(
            "GW612",
            pointer,
            f"the {what} program `{program}` does not exist on this host (not found on PATH or not executable)",
            hint="install it, or give its full path; if the plan runs on another host, check it there",
        )
    ]


def _split_bind(bind: str) -> tuple[str, str] | None:
    bind = bind.strip()
    if bind.startswith("["):
        host, sep, port = bind[1:].partition("]:")
    else:
        host, sep, port = bind.rpartition(":")
    if not sep or not port:
        return None
    return host, port


def _overlaps(a: str, b: str) -> bool:
    return a == b or a in _WILDCARD_HOSTS or b in _WILDCARD_HOSTS


def _bind_conflicts(plan: LaunchPlan, model) -> list[Finding]:
    seen: list[tuple[str, str, str, object]] = []  # (host, port, bind, lane)
    out: list[Finding] = []
    for lane in plan.lanes:
        bind = listen_bind(lane)
        if bind is None:
            continue
        parts = _split_bind(bind)
        if parts is None:
            continue  # the lane reports a malformed bind itself
        host, port = parts
        if port.strip() == "0":
            continue  # port 0: the kernel picks a free port for each lane
        first = next((s for s in seen if s[1] == port and _overlaps(s[0], host)), None)
        if first is None:
            seen.append((host, port, bind, lane))
            continue
        pointer, target = _bind_pointer(model, lane)
        given = "its webhook_bind" if target != TARGET_KEY else "the default webhook_bind"
        out.append(
            Finding(
                "GW611",
                pointer,
                f"{lane.name} would listen on {bind} ({given}), where {first[3].name} already listens "
                f"on {first[2]}: the second lane would fail with `address already in use`",
                hint=f"give one of them its own webhook_bind (a free port), e.g. webhook_bind = "
                f'"{host or "127.0.0.1"}:{_next_port(port)}"',
                target=target,
            )
        )
    return out


def _next_port(port: str) -> str:
    try:
        return str(int(port) + 1)
    except ValueError:
        return "8081"


def _bind_pointer(model, lane) -> tuple[str, str]:
    fam = model.family(lane.family) if model is not None else None
    if fam is None:
        return "", TARGET_KEY
    acc = fam.account(lane.account_id) or (fam.accounts[0] if not fam.has_accounts and fam.accounts else None)
    if acc is None:
        return fam.pointer, TARGET_KEY
    own = acc.field_pointer("webhook_bind")
    if own is not None:
        return own, "value"
    return acc.pointer, TARGET_KEY
