"""Live apply: switch a running owner to a new plan without stopping what
did not change.

``steps(owner, request)`` is a generator the owner's loop advances once
per iteration (it yields whenever it waits), so the owner keeps reading
lane output, reaping, restarting and heartbeating every other lane while
an apply runs. The order:

1. refuse what cannot be applied live (the control bind or port, the owner
   mode or session: `plan diff` marks those "needs a full restart");
2. classify the lanes (compile.plandiff): added, removed, replaced,
   unchanged; nothing to do is a no-op that says so;
3. preflight the added and replaced lanes in the owner's own environment
   (lanes inherit it): a secret the owner cannot resolve, or a probe the
   channel API refuses, refuses the apply before anything stops;
4. write the new plan under its digest (plans/<sha256>.json) beside the
   old one, so old and new lane definitions both stay readable;
5. replace each changed lane, one at a time: stop the old, start the new,
   wait until it is ready; if it is not ready within the timeout, stop it,
   start the old one again, and roll back every lane replaced before it;
6. start each added lane the same way (rolled back on failure likewise);
7. only then stop the removed lanes, switch the owner's plan, rewrite
   plan.json and status. Unchanged lanes keep their process throughout.

Imports the plan modules, the runtime's own modules and (for the probes)
gatewayctl.workers.preflight; never the config pipeline.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from gatewayctl.compile import planfile
from gatewayctl.compile.plan import LaunchPlan, runs_builtin_worker
from gatewayctl.runtime.states import LaneState

DEFAULT_READY_TIMEOUT_S = 60.0
PREFLIGHT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ApplyRequest:
    id: int
    plan: LaunchPlan
    origin: str  # "api" (gateway apply) or "sighup"
    ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S


class ApplyFailed(Exception):
    def __init__(self, result: str, message: str):
        super().__init__(message)
        self.result = result  # "refused" (nothing was touched) or "failed" (rolled back)
        self.message = message


def _ready(runner, now: float) -> bool:
    """Running, up for the start period at least (a worker that says it is
    ready and dies a moment later is not ready), and, when the worker writes
    a status file, saying so itself. The built-in worker always writes one
    (connected only once its channel answered: Telegram's first getUpdates,
    a WeCom subscribe ack), so until it has, it is not ready: a lane slow to
    start, or refused on its own connection after the preflight passed,
    would otherwise count as ready at the end of the start period."""
    if runner.state != LaneState.RUNNING:
        return False
    if runner.started_mono is None or now - runner.started_mono < runner.start_seconds:
        return False
    if runner.worker is None:
        return not runs_builtin_worker(runner.lane)
    return runner.worker_ready()


def _wait_stopped(owner, runner):
    """Stop one lane gracefully; SIGKILL after the plan's grace period."""
    runner.stop()
    deadline = owner.system.monotonic() + owner.plan.stop_grace_s
    while runner.has_process and owner.system.monotonic() < deadline:
        yield
    if runner.has_process:
        runner.kill()
        hard = owner.system.monotonic() + 5.0
        while runner.has_process and owner.system.monotonic() < hard:
            yield
    runner.kill()  # grandchildren of a leader that exited


def _wait_ready(owner, runner, timeout_s: float):
    """Start ``runner`` and wait for it; returns None when ready, else why not."""
    runner.start()
    deadline = owner.system.monotonic() + timeout_s
    while owner.system.monotonic() < deadline:
        # The loop reads a running lane's status once a second; readiness wants it now.
        runner.refresh_worker_status()
        if _ready(runner, owner.system.monotonic()):
            return None
        if runner.state in (LaneState.BACKOFF, LaneState.FATAL, LaneState.STOPPED):
            return runner.last_error or f"exited while starting ({runner.state})"
        yield
    # The worker's own word on why it is not connected (a lane that keeps
    # retrying never exits, so the runner itself has no error to tell).
    said = (runner.worker or {}).get("last_error") if isinstance(runner.worker, dict) else None
    why = runner.last_error or (str(said) if said else None)
    return f"not ready within {timeout_s:g} s" + (f" (last error: {why})" if why else "")


def steps(owner, request: ApplyRequest):
    """The apply, as a generator; its return value is the result record."""
    from gatewayctl.compile.plandiff import diff_plans

    old_plan, new_plan = owner.plan, request.plan
    old_sha, new_sha = owner.plan_sha256, planfile.digest(new_plan)
    diff = diff_plans(old_plan, new_plan)
    record = owner.begin_apply_record(request, old_sha, new_sha)
    names = {
        "added": [d.new_name for d in diff.lanes if d.action == "add"],
        "removed": [d.old_name for d in diff.lanes if d.action == "remove"],
        "replaced": [d.new_name for d in diff.lanes if d.action == "change"],
        "unchanged": [d.new_name for d in diff.lanes if d.action == "unchanged"],
    }
    record["lanes"] = names
    if diff.needs_full_restart:
        fields = ", ".join(o.change.field for o in diff.owner if o.needs_restart)
        raise ApplyFailed("refused", f"the new plan changes {fields}: that needs a full restart (gateway stop, then gateway run)")
    if not diff.has_changes:
        if new_sha != old_sha:
            owner.switch_plan(new_plan, new_sha, keep_runners=True)
        return "no-op", "no changes: the running lanes already match this plan"

    by_family_new = {lane.family: lane for lane in new_plan.lanes}
    touched = [by_family_new[d.family] for d in diff.lanes if d.action in ("add", "change")]

    # 3. preflight, in the owner's environment, off the loop's thread
    if touched:
        outcome: dict = {}
        probe_plan = replace(new_plan, lanes=tuple(touched))
        serving = {r.lane.name: r.snapshot() for r in owner.lanes}

        def probe():
            try:
                outcome["results"] = owner.preflight(probe_plan, serving)
            except Exception as exc:  # noqa: BLE001 - reported as the apply's refusal
                outcome["error"] = f"preflight could not run: {type(exc).__name__}: {exc}"

        worker = threading.Thread(target=probe, name="gatewayctl-apply-preflight", daemon=True)
        worker.start()
        while worker.is_alive():
            yield
        if "error" in outcome:
            raise ApplyFailed("refused", outcome["error"])
        failed = [r for r in outcome["results"] if r.result == "failed"]
        if failed:
            raise ApplyFailed(
                "refused",
                "preflight failed in the owner's environment, nothing was stopped: "
                + "; ".join(f"{r.lane}: {r.detail}" for r in failed),
            )

    # 4. both definitions readable
    owner.write_plan_file(new_plan, new_sha)

    # 5./6. replace, then add; roll everything back on the first failure
    done: list[tuple[object, object]] = []  # (old runner or None, new runner)
    failure = None
    for d in diff.lanes:
        if d.action not in ("change", "add"):
            continue
        old = owner.runner_for(d.family) if d.action == "change" else None
        new = owner.make_runner(by_family_new[d.family], new_sha)
        owner.managed.add(new)
        if old is not None:
            owner.managed.add(old)
            yield from _wait_stopped(owner, old)
            owner.swap_runner(old, new)
        else:
            owner.add_runner(new)
        why = yield from _wait_ready(owner, new, request.ready_timeout_s)
        if why is None:
            done.append((old, new))
            continue
        # A built-in worker's error already starts with its lane's name.
        failure = why if why.startswith(f"{new.lane.name}: ") else f"{new.lane.name}: {why}"
        done.append((old, new))
        break
    if failure is not None:
        for old, new in reversed(done):
            yield from _wait_stopped(owner, new)
            if old is not None:
                owner.swap_runner(new, old)
                owner.discard_runner(new)
                yield from _wait_ready(owner, old, request.ready_timeout_s)
            else:
                owner.remove_runner(new)
            owner.managed.discard(new)
            if old is not None:
                owner.managed.discard(old)
        owner.forget_plan_file(new_sha)
        raise ApplyFailed("failed", f"{failure}; rolled back, the owner runs plan {old_sha[:12]} as before")

    # 7. removals last, then the switch
    for d in diff.lanes:
        if d.action == "remove":
            old = owner.runner_for(d.family)
            owner.managed.add(old)
            yield from _wait_stopped(owner, old)
            owner.remove_runner(old)
            owner.managed.discard(old)
    for old, new in done:
        owner.managed.discard(new)
        if old is not None:
            owner.managed.discard(old)
            owner.discard_runner(old)
    owner.switch_plan(new_plan, new_sha, keep_runners=True)
    summary = ", ".join(f"{len(v)} {k}" for k, v in names.items() if v)
    return "succeeded", f"applied plan {new_sha[:12]}: {summary}"
