"""The plan wire format: the only module that reads or writes plan JSON.

Layout of a plan file (canonical JSON: sorted keys, UTF-8, no NaN, two-space
indent, trailing newline)::

    {"format_version": 1, "plan": {...}, "plan_sha256": "<hex>"}

``plan_sha256`` is the SHA-256 of the canonical compact encoding of the
``plan`` object. Readers refuse an unknown ``format_version`` before looking
at anything else, and refuse a digest mismatch (tampering). Standard library
only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from gatewayctl.compile.plan import (
    FORMAT_VERSION,
    Control,
    FrozenMap,
    Handler,
    Lane,
    LaunchPlan,
    RestartPolicy,
    RunAs,
    SecretRef,
    freeze,
    thaw,
)


class PlanError(Exception):
    """A plan file that cannot be used. ``kind`` picks the CLI exit code."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind  # "unreadable" | "malformed" | "version" | "tampered" | "stale"
        self.message = message


def canonical_bytes(obj, *, indent: int | None = None) -> bytes:
    text = json.dumps(
        obj,
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
        indent=indent,
        separators=(",", ":") if indent is None else (",", ": "),
    )
    return (text + ("\n" if indent is not None else "")).encode("utf-8")


def _secret_to_json(s: SecretRef) -> dict:
    ref = list(s.ref) if isinstance(s.ref, tuple) else s.ref
    return {"field": s.field, "kind": s.kind, "ref": ref}


def plan_to_json(plan: LaunchPlan) -> dict:
    """The digested ``plan`` object."""
    body = {
        "generator": {"name": plan.generator_name, "version": plan.generator_version},
        "config": {"path": plan.config_path, "sha256": plan.config_sha256},
        "owner": {"mode": plan.mode, "session": plan.session},
        "control": {"bind": plan.control.bind, "port": plan.control.port, "port_source": plan.control.port_source},
        "restart": {
            "policy": plan.restart.policy,
            "max_restarts": plan.restart.max_restarts,
            "window_s": plan.restart.window_s,
            "backoff_initial_s": plan.restart.backoff_initial_s,
            "backoff_max_s": plan.restart.backoff_max_s,
        },
        "stop_grace_s": plan.stop_grace_s,
        "allow_private_hosts": plan.allow_private_hosts,
        "handler": None
        if plan.handler is None
        else {
            "kind": plan.handler.kind,
            "exec": list(plan.handler.exec),
            "url": plan.handler.url,
            "timeout_s": plan.handler.timeout_s,
            "env": list(plan.handler.env),
        },
        "lanes": [
            {
                "family": lane.family,
                "alias": lane.alias,
                "account_id": lane.account_id,
                "account_label": lane.account_label,
                "account_source": lane.account_source,
                "settings": thaw(lane.settings),
                "secrets": [_secret_to_json(s) for s in lane.secrets],
                "worker": list(lane.worker),
                "env": list(lane.env),
            }
            for lane in plan.lanes
        ],
    }
    # Only when set: plans without [gateway.worker] user keep their bytes and digest.
    if plan.run_as is not None:
        body["run_as"] = {"user": plan.run_as.user, "group": plan.run_as.group}
    return body


def digest(plan: LaunchPlan) -> str:
    return hashlib.sha256(canonical_bytes(plan_to_json(plan))).hexdigest()


def dumps(plan: LaunchPlan) -> bytes:
    body = plan_to_json(plan)
    envelope = {
        "format_version": plan.format_version,
        "plan": body,
        "plan_sha256": hashlib.sha256(canonical_bytes(body)).hexdigest(),
    }
    return canonical_bytes(envelope, indent=2)


def loads(data: bytes | str, *, source: str = "plan") -> LaunchPlan:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlanError("malformed", f"{source}: not a plan file (invalid JSON: {exc})") from None
    if not isinstance(obj, dict) or "format_version" not in obj:
        raise PlanError("malformed", f"{source}: not a plan file (no format_version)")
    version = obj["format_version"]
    # bool is an int subclass: `true` must not pass for version 1.
    if type(version) is not int or version != FORMAT_VERSION:
        raise PlanError(
            "version",
            f"{source}: plan format_version {version!r} is not supported by this gatewayctl "
            f"(it reads format_version {FORMAT_VERSION}); re-create the plan with this version",
        )
    body = obj.get("plan")
    recorded = obj.get("plan_sha256")
    if not isinstance(body, dict) or not isinstance(recorded, str):
        raise PlanError("malformed", f"{source}: not a plan file (missing plan or plan_sha256)")
    actual = hashlib.sha256(canonical_bytes(body)).hexdigest()
    if actual != recorded:
        raise PlanError(
            "tampered",
            f"{source}: plan digest mismatch (recorded {recorded[:12]}..., content {actual[:12]}...): "
            "the plan was edited after it was made; re-create it with `gatewayctl plan`",
        )
    try:
        return _from_json(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError("malformed", f"{source}: plan content is malformed ({exc!r})") from None


def _from_json(body: dict) -> LaunchPlan:
    handler = body.get("handler")
    restart = body["restart"]
    run_as = body.get("run_as")
    return LaunchPlan(
        config_path=body["config"]["path"],
        config_sha256=body["config"]["sha256"],
        mode=body["owner"]["mode"],
        session=body["owner"]["session"],
        control=Control(**body["control"]),
        lanes=tuple(
            Lane(
                family=ln["family"],
                alias=ln["alias"],
                account_id=ln["account_id"],
                account_label=ln["account_label"],
                account_source=ln["account_source"],
                settings=freeze(ln["settings"]) if ln["settings"] else FrozenMap(),
                secrets=tuple(
                    SecretRef(s["field"], s["kind"], tuple(s["ref"]) if isinstance(s["ref"], list) else s["ref"])
                    for s in ln["secrets"]
                ),
                worker=tuple(ln["worker"]),
                env=tuple(ln["env"]),
            )
            for ln in body["lanes"]
        ),
        restart=RestartPolicy(**restart),
        stop_grace_s=body["stop_grace_s"],
        handler=None
        if handler is None
        else Handler(
            kind=handler["kind"],
            exec=tuple(handler["exec"]),
            url=handler["url"],
            timeout_s=handler["timeout_s"],
            # Absent in plans written before [gateway.handler] env existed
            # (an addition within format_version 1).
            env=tuple(handler.get("env", ())),
        ),
        allow_private_hosts=body["allow_private_hosts"],
        run_as=None if run_as is None else RunAs(user=run_as["user"], group=run_as["group"]),
        generator_name=body["generator"]["name"],
        generator_version=body["generator"]["version"],
    )


def load(path: str) -> LaunchPlan:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise PlanError("unreadable", f"cannot read plan {path}: {exc.strerror or exc}") from None
    return loads(data, source=path)


def write(plan: LaunchPlan, path: str) -> str:
    """Write atomically and durably; returns the plan digest."""
    from gatewayctl import atomicfile

    atomicfile.write_bytes(path, dumps(plan), prefix=".plan-")
    return digest(plan)


@dataclass(frozen=True, slots=True)
class Staleness:
    stale: bool
    message: str


def check_stale(plan: LaunchPlan, *, base_dir: str | None = None) -> Staleness:
    """Compare the config file's current bytes with the plan's recorded digest.

    The executor calls this before running a saved plan; ``gatewayctl plan
    verify`` calls it too. ``base_dir`` resolves a relative config path (the
    current directory by default).
    """
    import os

    path = plan.config_path
    if base_dir and not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    try:
        with open(path, "rb") as fh:
            current = hashlib.sha256(fh.read()).hexdigest()
    except OSError as exc:
        return Staleness(True, f"saved plan is stale: {plan.config_path} cannot be read ({exc.strerror or exc})")
    if current != plan.config_sha256:
        return Staleness(True, f"saved plan is stale: {plan.config_path} changed since the plan was made")
    return Staleness(False, "plan matches its config")


def load_verified(path: str, *, base_dir: str | None = None, allow_stale: bool = False) -> LaunchPlan:
    """Everything an executor must check before running a saved plan: the
    file is readable, its format_version is known, its digest matches, and
    (unless ``allow_stale``) its config has not changed since. Raises
    PlanError whose ``kind`` names the first failed check."""
    plan = load(path)
    if not allow_stale:
        state = check_stale(plan, base_dir=base_dir)
        if state.stale:
            raise PlanError("stale", state.message)
    return plan
