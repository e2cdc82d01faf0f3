"""``gatewayctl lane serve``: run one lane of a plan with the built-in worker.

Reads the plan through gatewayctl.compile.planfile only. Environment:
GATEWAYCTL_LANE_STATUS (the status file the owner folds into
``gateway status``), GATEWAYCTL_LANE_DIR (the lane's own directory, where
cursors live; else GATEWAYCTL_RUNTIME_DIR, else the status file's
directory; none set: cursors are not persisted), GATEWAYCTL_PLAN_SHA256
(the digest the owner ran: a plan with another digest is refused),
GATEWAYCTL_LANE_FENCE_FD (in a fleet: the lane's deadline descriptor,
workers.fence; past it the lane stops and exits 75) and
GATEWAYCTL_LANE_CURSOR (in a fleet: the cursor lives in etcd,
workers.cursor).

Under the owner, ``--plan`` names an inherited descriptor
(``/proc/self/fd/N``, a sealed copy of the plan): it is read from that
descriptor directly, so nothing on a path can be swapped under the lane.

Returns an Outcome; the CLI turns it into an exit code. SIGTERM/SIGINT stop
the lane cleanly (outcome ok): the long poll is abandoned, a message being
handled is finished within the stop grace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
from dataclasses import dataclass

from gatewayctl.compile import planfile
from gatewayctl.inputs import MAX_PLAN_BYTES
from gatewayctl.compile.plan import Lane, LaunchPlan
from gatewayctl.workers import cursor, handlers, secrets
from gatewayctl.workers.base import Clock, HandlerError, LaneContext, LaneFailure, Stopped, printable
from gatewayctl.workers.fence import Fence, Fenced, watchdog
from gatewayctl.workers.status import StatusWriter

FAMILIES = ("telegram", "matrix", "whatsapp", "wecom", "feishu", "qqbot")
ENV_STATUS = "GATEWAYCTL_LANE_STATUS"
ENV_RUNTIME_DIR = "GATEWAYCTL_RUNTIME_DIR"
ENV_LANE = "GATEWAYCTL_LANE"  # family/account, set by the owner for each lane it starts
ENV_LANE_DIR = "GATEWAYCTL_LANE_DIR"
ENV_PLAN_SHA256 = "GATEWAYCTL_PLAN_SHA256"
_FD_PATH = re.compile(r"/(?:proc/self/fd|dev/fd)/([0-9]{1,9})")
# One source for the plan size limit (the loader refuses more anyway).
PLAN_MAX_BYTES = MAX_PLAN_BYTES


def load_plan(plan_path: str, environ) -> LaunchPlan:
    """The plan, from an inherited descriptor when ``plan_path`` names one, checked
    against the digest the owner passed; raises planfile.PlanError."""
    m = _FD_PATH.fullmatch(plan_path)
    if m is None:
        plan = planfile.load(plan_path)
    else:
        fd = int(m.group(1))
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= PLAN_MAX_BYTES:
                # pread: the descriptor's shared offset is left alone.
                chunk = os.pread(fd, 1 << 20, size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise planfile.PlanError("unreadable", f"cannot read plan {plan_path}: {exc.strerror or exc}") from None
        if size > PLAN_MAX_BYTES:
            raise planfile.PlanError("unreadable", f"cannot read plan {plan_path}: larger than {PLAN_MAX_BYTES} bytes")
        plan = planfile.loads(b"".join(chunks), source=plan_path)
    want = (environ.get(ENV_PLAN_SHA256) or "").strip()
    if want:
        have = planfile.digest(plan)
        if have != want:
            raise planfile.PlanError(
                "tampered",
                f"{plan_path}: plan digest {have[:12]}... is not the {want[:12]}... the gateway owner runs "
                "(the plan was replaced after the owner started); restart the owner",
            )
    return plan


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "ok" | "lane" (lane failure) | "usage" (no such lane / family) | "plan" (plan unusable)
    #            | "fenced" (stopped by its fleet deadline: exit 75)
    message: str = ""
    plan_error: str = ""  # PlanError.kind when kind == "plan"


def _family_runner(family: str):
    if family == "telegram":
        from gatewayctl.workers.telegram import TelegramLane

        return TelegramLane
    if family == "matrix":
        from gatewayctl.workers.matrix import MatrixLane

        return MatrixLane
    if family == "whatsapp":
        from gatewayctl.workers.whatsapp import WhatsAppLane

        return WhatsAppLane
    if family == "wecom":
        from gatewayctl.workers.wecom import WeComLane

        return WeComLane
    if family == "feishu":
        from gatewayctl.workers.feishu import FeishuLane

        return FeishuLane
    if family == "qqbot":
        from gatewayctl.workers.qqbot import QQBotLane

        return QQBotLane
    return None


def pick_lane(plan: LaunchPlan, key: str, owner_lane: str = "") -> tuple[Lane | None, str]:
    """The lane ``--lane`` names. A bare family (the default worker argv says
    ``--lane {family}``) is made exact by $GATEWAYCTL_LANE, which the owner
    sets per lane; without it a family with several lanes is ambiguous
    rather than silently the first one."""
    names = ", ".join(ln.name for ln in plan.lanes) or "none"
    key = key.strip()
    if "/" in key:
        lane = next((ln for ln in plan.lanes if ln.name == key), None)
        return (lane, "") if lane else (None, f"lane {key!r} is not there (lanes: {names})")
    matches = [ln for ln in plan.lanes if ln.family == key]
    if owner_lane:
        exact = next((ln for ln in matches if ln.name == owner_lane), None)
        if exact is not None:
            return exact, ""
    if len(matches) == 1:
        return matches[0], ""
    if not matches:
        return None, f"lane {key!r} is not there (lanes: {names})"
    return None, f"lane {key!r} is ambiguous ({', '.join(ln.name for ln in matches)}); name it as family/account"


def serve(plan_path: str, lane_key: str, *, environ=None, clock: Clock | None = None) -> Outcome:
    environ = os.environ if environ is None else environ
    try:
        plan = load_plan(plan_path, environ)
    except planfile.PlanError as exc:
        return Outcome("plan", exc.message, exc.kind)
    lane, problem = pick_lane(plan, lane_key, environ.get(ENV_LANE, ""))
    if lane is None:
        return Outcome("usage", f"{problem} in plan {plan_path}")
    runner = _family_runner(lane.family)
    if runner is None:
        return Outcome(
            "usage",
            f"{lane.name}: no built-in worker for family {lane.family!r} (built in: {', '.join(FAMILIES)}); "
            "name the lane's own serve command as its worker",
        )
    status_path = environ.get(ENV_STATUS) or None
    state_dir = (
        environ.get(ENV_LANE_DIR)
        or environ.get(ENV_RUNTIME_DIR)
        or (os.path.dirname(os.path.abspath(status_path)) if status_path else None)
    )
    _setup_logging(lane)
    return asyncio.run(
        serve_async(plan, lane, environ=environ, clock=clock, status_path=status_path, state_dir=state_dir)
    )


async def serve_async(plan: LaunchPlan, lane: Lane, *, environ=None, clock: Clock | None = None,
                      status_path: str | None = None, state_dir: str | None = None,
                      stop: asyncio.Event | None = None, exit=os._exit) -> Outcome:
    """Run one lane in the current event loop until it fails or ``stop`` is set
    (SIGTERM/SIGINT set it too when this is the main thread). In a fleet
    ($GATEWAYCTL_LANE_FENCE_FD) a watchdog stops the lane at its deadline
    and calls ``exit(75)`` if it is still running at its dead deadline."""
    environ = os.environ if environ is None else environ
    clock = clock or Clock()
    status = StatusWriter(status_path, family=lane.family, account=lane.account_id, clock=clock)
    status.flush()
    stop = stop or asyncio.Event()
    fence = Fence.from_env(environ, lane=lane.name)
    guard = None
    if fence is not None:
        fence.on_trip = stop.set
        try:
            fence.check("starting")
        except Fenced as exc:
            return _fenced(status, exc.message)
        guard = asyncio.ensure_future(watchdog(fence, exit=exit))
    try:
        return await _serve_lane(plan, lane, environ, clock, status, state_dir, stop, fence)
    finally:
        if guard is not None:
            guard.cancel()
            await asyncio.gather(guard, return_exceptions=True)


def _fenced(status: StatusWriter, message: str) -> Outcome:
    status.set_state("stopped", connected=False, error=message)
    return Outcome("fenced", message)


async def _serve_lane(plan: LaunchPlan, lane: Lane, environ, clock: Clock, status: StatusWriter,
                      state_dir: str | None, stop: asyncio.Event, fence: Fence | None) -> Outcome:
    try:
        if plan.handler is None:
            raise LaneFailure(
                f"{lane.name}: the plan has no handler ([handler] exec, url or echo in gatewayctl.toml): "
                "the built-in worker has nothing to answer with"
            )
        spec = plan.handler
        if (spec.kind == "exec" and not spec.exec) or (spec.kind == "url" and not spec.url) or (
            spec.kind not in ("exec", "url", "echo")
        ):
            raise LaneFailure(f"{lane.name}: [handler] of kind {spec.kind!r} has nothing to call")
        resolved = secrets.resolve(plan, lane, environ=environ)
        cursor_store = cursor.config_from_env(environ, lane.name)
        env_names = {str(s.ref) for s in lane.secrets if s.kind == "env"}
        handler = handlers.build(
            plan.handler, env=handlers.handler_env(env_names, environ, names=spec.env), clock=clock
        )
        ctx = LaneContext(plan=plan, lane=lane, secrets=resolved, handler=handler, status=status,
                          state_dir=state_dir, clock=clock, stop=stop, fence=fence, cursor_store=cursor_store)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, ctx.stop.set)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
                pass
        try:
            await handler.start()
        except HandlerError as exc:
            raise LaneFailure(f"{lane.name}: {exc}") from None
        try:
            return await run_lane(ctx, _family_runner(lane.family)(ctx), grace_s=plan.stop_grace_s)
        finally:
            await handler.close()
    except LaneFailure as exc:
        if fence is not None and fence.tripped is not None:
            return _fenced(status, fence.tripped)
        status.set_state("failed", connected=False, error=exc.message)
        return Outcome("lane", exc.message)


async def run_lane(ctx: LaneContext, family_lane, *, grace_s: float = 10.0) -> Outcome:
    """Run a family loop until it fails or the lane is stopped. A lane whose
    fence tripped ends "fenced", whatever the loop ended with (a turn it
    dropped, a connection it lost while stopping)."""
    task = asyncio.ensure_future(family_lane.run())
    stopper = asyncio.ensure_future(ctx.stop.wait())
    fence = ctx.fence
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            # Stopping: let the turn in progress finish, but not forever.
            done, _ = await asyncio.wait({task}, timeout=max(0.5, grace_s * 0.6))
            if not done:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if fence is not None and fence.tripped is not None:
                return _fenced(ctx.status, fence.tripped)
            ctx.status.set_state("stopped", connected=False)
            return Outcome("ok")
        exc = task.exception()
        if fence is not None and fence.tripped is not None:
            return _fenced(ctx.status, fence.tripped)
        if exc is None or isinstance(exc, Stopped):
            ctx.status.set_state("stopped", connected=False)
            return Outcome("ok")
        if isinstance(exc, LaneFailure):
            message = ctx.redact(exc.message)
            ctx.status.set_state("failed", connected=False, error=message)
            return Outcome("lane", message)
        raise exc
    finally:
        stopper.cancel()


class _PrintableFormatter(logging.Formatter):
    """Every lane log line is one printable line: a chat API's text that
    reaches a log message cannot move the cursor, set a terminal title or
    forge a second line (base.printable)."""

    def format(self, record: logging.LogRecord) -> str:
        record.msg = printable(record.getMessage(), 4000)
        record.args = None
        return super().format(record)


def _setup_logging(lane: Lane) -> None:
    root = logging.getLogger("gatewayctl")
    if root.handlers:
        return
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(_PrintableFormatter(f"lane {printable(lane.name)}: %(message)s"))
    root.addHandler(h)
    root.setLevel(logging.WARNING)
    root.propagate = False
