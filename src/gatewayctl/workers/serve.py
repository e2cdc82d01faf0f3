"""``gatewayctl lane serve``: run one lane of a plan with the built-in worker.

Reads the plan through gatewayctl.compile.planfile only. Environment:
GATEWAYCTL_LANE_STATUS (the status file the owner folds into
``gateway status``), GATEWAYCTL_RUNTIME_DIR (where cursors live; default:
the status file's directory; neither set: cursors are not persisted).

Returns an Outcome; the CLI turns it into an exit code. SIGTERM/SIGINT stop
the lane cleanly (outcome ok): the long poll is abandoned, a message being
handled is finished within the stop grace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass

from gatewayctl.compile import planfile
from gatewayctl.compile.plan import Lane, LaunchPlan
from gatewayctl.workers import handlers, secrets
from gatewayctl.workers.base import Clock, HandlerError, LaneContext, LaneFailure, Stopped
from gatewayctl.workers.status import StatusWriter

FAMILIES = ("telegram", "matrix", "whatsapp")
ENV_STATUS = "GATEWAYCTL_LANE_STATUS"
ENV_RUNTIME_DIR = "GATEWAYCTL_RUNTIME_DIR"


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # "ok" | "lane" (lane failure) | "usage" (no such lane / family) | "plan" (plan unusable)
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
    return None


def serve(plan_path: str, lane_key: str, *, environ=None, clock: Clock | None = None) -> Outcome:
    environ = os.environ if environ is None else environ
    try:
        plan = planfile.load(plan_path)
    except planfile.PlanError as exc:
        return Outcome("plan", exc.message, exc.kind)
    lane = plan.lane(lane_key)
    if lane is None:
        names = ", ".join(ln.name for ln in plan.lanes) or "none"
        return Outcome("usage", f"lane {lane_key!r} is not in plan {plan_path} (lanes: {names})")
    runner = _family_runner(lane.family)
    if runner is None:
        return Outcome(
            "usage",
            f"{lane.name}: no built-in worker for family {lane.family!r} (built in: {', '.join(FAMILIES)}); "
            "name the lane's own serve command as its worker",
        )
    clock = clock or Clock()
    status_path = environ.get(ENV_STATUS) or None
    state_dir = environ.get(ENV_RUNTIME_DIR) or (os.path.dirname(os.path.abspath(status_path)) if status_path else None)
    status = StatusWriter(status_path, family=lane.family, account=lane.account_id, clock=clock)
    status.flush()
    _setup_logging(lane)
    try:
        if plan.handler is None:
            raise LaneFailure(
                f"{lane.name}: the plan has no [gateway.handler] (exec, url or echo): the built-in worker has nothing to answer with"
            )
        resolved = secrets.resolve(plan, lane, environ=environ)
        return asyncio.run(_run(plan, lane, resolved, status, state_dir, clock, environ))
    except LaneFailure as exc:
        status.set_state("failed", connected=False, error=exc.message)
        return Outcome("lane", exc.message)


async def _run(plan: LaunchPlan, lane: Lane, resolved, status: StatusWriter, state_dir, clock, environ) -> Outcome:
    env_names = {str(s.ref) for s in lane.secrets if s.kind == "env"}
    handler = handlers.build(plan.handler, env=handlers.handler_env(env_names, environ), clock=clock)
    ctx = LaneContext(plan=plan, lane=lane, secrets=resolved, handler=handler, status=status,
                      state_dir=state_dir, clock=clock)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, ctx.stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests) or no signals
            pass
    try:
        await handler.start()
    except HandlerError as exc:
        raise LaneFailure(f"{lane.name}: {exc}") from None
    try:
        return await run_lane(ctx, _family_runner(lane.family)(ctx), grace_s=plan.stop_grace_s)
    finally:
        await handler.close()


async def run_lane(ctx: LaneContext, family_lane, *, grace_s: float = 10.0) -> Outcome:
    """Run a family loop until it fails or the lane is stopped."""
    task = asyncio.ensure_future(family_lane.run())
    stopper = asyncio.ensure_future(ctx.stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            # Stopping: let the turn in progress finish, but not forever.
            done, _ = await asyncio.wait({task}, timeout=max(0.5, grace_s * 0.6))
            if not done:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            ctx.status.set_state("stopped", connected=False)
            return Outcome("ok")
        exc = task.exception()
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


def _setup_logging(lane: Lane) -> None:
    root = logging.getLogger("gatewayctl")
    if root.handlers:
        return
    h = logging.StreamHandler(sys.stderr)
    h.setFormatter(logging.Formatter(f"lane {lane.name}: %(message)s"))
    root.addHandler(h)
    root.setLevel(logging.WARNING)
    root.propagate = False
