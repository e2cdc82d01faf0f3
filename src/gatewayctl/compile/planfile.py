"""The plan wire format: the only module that reads or writes plan JSON.

Layout of a plan file (canonical JSON: sorted keys, UTF-8, no NaN, two-space
indent, trailing newline)::

    {"format_version": 1, "plan": {...}, "plan_sha256": "<hex>"}

``format_version`` is 2 exactly when the plan has a ``fleet`` object
([fleet] of gatewayctl.toml); a reader that knows only 1 refuses it.

``plan_sha256`` is the SHA-256 of the canonical compact encoding of the
``plan`` object. Readers refuse an unknown ``format_version`` before looking
at anything else, and refuse a digest mismatch (tampering).

The digest is unkeyed: it catches a plan damaged or edited *without*
recomputing it, nothing more. Whoever can edit a plan can recompute the
digest, so a reader also refuses anything a real plan cannot hold (duplicate
keys, NaN, nesting deeper than ``MAX_DEPTH``, files over
``inputs.MAX_PLAN_BYTES``, anything ``schemas/plan.schema.json`` refuses)
before a value is used, and ``gatewayctl plan verify`` / ``gateway run
--plan`` prove the content by recompiling the config (pipeline.recompile).

Standard library only, except the schema check, which imports jsonschema
(a core dependency) on first use: the plan's wire format is owned here, so
its validation is too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from gatewayctl.inputs import MAX_CONFIG_BYTES, MAX_PLAN_BYTES, MAX_PLAN_DEPTH, InputError, read_regular_file, size_text

from gatewayctl.compile.plan import (
    FLEET_FORMAT_VERSION,
    FORMAT_VERSIONS,
    Control,
    Fleet,
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
        # "unreadable" | "malformed" | "version" | "tampered" | "stale" | "generator"
        self.kind = kind
        self.message = message


# Deeper than any plan gatewayctl writes (inputs.MAX_CONFIG_DEPTH bounds the
# settings it copies); a crafted 100,000-deep plan is refused before any
# recursive code sees it.
MAX_DEPTH = MAX_PLAN_DEPTH


class _Refused(ValueError):
    pass


def _no_duplicates(pairs):
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            # A reviewer reads one value, a loader would run the other.
            raise _Refused(f"the key {json.dumps(key, ensure_ascii=True)} appears twice in one object")
        seen[key] = value
    return seen


def _no_constant(name):
    raise _Refused(f"{name} is not a JSON number")


def _shape_problem(obj, limit: int) -> str | None:
    """Nesting beyond ``limit``, or a string or key holding a lone surrogate
    (JSON's ``"\\ud800"`` escape): neither is in any plan we write, and a
    surrogate cannot even be encoded to compute the digest."""
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limit:
                return f"nested more than {limit} levels deep"
            for key, value in node.items():
                if not _encodable(key):
                    return "a key holds a lone UTF-16 surrogate escape"
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            if depth > limit:
                return f"nested more than {limit} levels deep"
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str) and not _encodable(node):
            return "a string holds a lone UTF-16 surrogate escape"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_strict(data: bytes | str, *, source: str = "plan", limit: int = MAX_PLAN_BYTES):
    """JSON as a plan (or a status file) must be: at most ``limit`` bytes,
    no duplicate keys, no NaN/Infinity, at most MAX_DEPTH deep. Raises
    PlanError("malformed")."""
    if len(data) > limit:
        raise PlanError("malformed", f"{source}: not a plan file (larger than the {size_text(limit)} limit)")
    try:
        obj = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _Refused as exc:
        raise PlanError("malformed", f"{source}: not a plan file ({exc})") from None
    except RecursionError:
        raise PlanError("malformed", f"{source}: not a plan file (nested more than {MAX_DEPTH} levels deep)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PlanError("malformed", f"{source}: not a plan file (invalid JSON: {exc})") from None
    problem = _shape_problem(obj, MAX_DEPTH)
    if problem is not None:
        raise PlanError("malformed", f"{source}: not a plan file ({problem})")
    return obj


_plan_validator = None


def schema_problem(obj) -> str | None:
    """The first way ``obj`` breaks schemas/plan.schema.json, as
    ``/json/pointer: message``; None when it conforms."""
    global _plan_validator
    if _plan_validator is None:
        import jsonschema

        from gatewayctl.catalog import load_schema

        _plan_validator = jsonschema.Draft7Validator(load_schema("plan"))
    error = _best_error(_plan_validator, obj)
    if error is None:
        return None
    where = "/" + "/".join(str(t).replace("~", "~0").replace("/", "~1") for t in error.absolute_path)
    return f"{where}: {_schema_message(error)}"


def _best_error(validator, obj):
    import jsonschema.exceptions

    return jsonschema.exceptions.best_match(validator.iter_errors(obj))


def _schema_message(error) -> str:
    # Never echo the instance: it may be huge or hold control characters.
    kind = error.validator
    value = error.validator_value
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than", "exclusiveMaximum": "less than"}
        return f"must be {words[kind]} {value}"
    if kind == "type":
        return f"must be of type {value}"
    if kind in ("enum", "const"):
        return "is not one of the allowed values"
    if kind == "minItems":
        return f"must have at least {value} item{'s' if value != 1 else ''}"
    if kind == "required":
        return "misses a required field"
    if kind == "additionalProperties":
        return "has a field the plan format does not define"
    return f"breaks the plan schema ({kind})"


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
        "settings": None
        if plan.settings_path is None
        else {"path": plan.settings_path, "sha256": plan.settings_sha256},
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
    # Only in fleet plans (format_version 2): a plan without one keeps the
    # bytes and digest of format_version 1.
    if plan.fleet is not None:
        body["fleet"] = fleet_to_json(plan.fleet)
    return body


def fleet_to_json(fleet: Fleet) -> dict:
    """The plan's ``fleet`` object (credentials as references only)."""
    return {
        "backend": fleet.backend,
        "endpoints": list(fleet.endpoints),
        "prefix": fleet.prefix,
        "lease_ttl_s": fleet.lease_ttl_s,
        "settle_s": fleet.settle_s,
        "host_id": fleet.host_id,
        "username": None if fleet.username is None else _secret_to_json(fleet.username),
        "password": None if fleet.password is None else _secret_to_json(fleet.password),
    }


def _fleet_from_json(obj: dict) -> Fleet:
    def credential(value):
        return None if value is None else SecretRef(value["field"], value["kind"], value["ref"])

    return Fleet(
        backend=obj["backend"],
        endpoints=tuple(obj["endpoints"]),
        prefix=obj["prefix"],
        lease_ttl_s=obj["lease_ttl_s"],
        settle_s=obj["settle_s"],
        host_id=obj["host_id"],
        username=credential(obj["username"]),
        password=credential(obj["password"]),
    )


# What a lane runs with, beyond its own fields: the plan-wide settings every
# lane runs with (a changed handler changes every lane).
LANE_WIDE_FIELDS = ("handler", "restart", "stop_grace_s", "allow_private_hosts")
# The lane's key, not part of what it runs.
LANE_IDENTITY = ("family",)
# Why a lane runs this account (the selector's spelling, which rule chose
# it): nothing that runs reads these.
LANE_PROVENANCE = ("alias", "account_label", "account_source")


def lane_definition(body: dict, lane: dict, *, provenance: bool = True) -> dict:
    """One lane's definition in a plan's JSON ``body``: the lane's own
    fields (without its identity) plus the plan-wide fields it runs with.
    ``provenance=False`` leaves out the fields nothing that runs reads: two
    definitions equal then serve the lane identically."""
    skip = LANE_IDENTITY if provenance else LANE_IDENTITY + LANE_PROVENANCE
    definition = {k: v for k, v in lane.items() if k not in skip}
    for key in LANE_WIDE_FIELDS:
        definition[key] = body.get(key)
    return definition


def lane_definition_digests(plan: LaunchPlan) -> dict[str, str]:
    """Lane name (``family/account_id``) -> SHA-256 (hex) of the canonical
    compact JSON of what the lane runs (``lane_definition`` without
    provenance). Hosts of a fleet compare them: a host whose digest for a
    lane differs would serve it differently."""
    body = plan_to_json(plan)
    return {
        f"{lane['family']}/{lane['account_id']}": hashlib.sha256(
            canonical_bytes(lane_definition(body, lane, provenance=False))
        ).hexdigest()
        for lane in body["lanes"]
    }


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
    """A plan from its bytes: well-formed (see parse_strict), a known
    format_version, an intact digest, and conforming to the plan schema,
    checked in that order before any value is used."""
    obj = parse_strict(data, source=source)
    if not isinstance(obj, dict) or "format_version" not in obj:
        raise PlanError("malformed", f"{source}: not a plan file (no format_version)")
    version = obj["format_version"]
    # bool is an int subclass: `true` must not pass for version 1.
    if type(version) is not int or version not in FORMAT_VERSIONS:
        known = " and ".join(str(v) for v in FORMAT_VERSIONS)
        raise PlanError(
            "version",
            f"{source}: plan format_version {version!r} is not supported by this gatewayctl "
            f"(it reads format_version {known}); re-create the plan with this version",
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
    # A fleet plan is version 2 and only a fleet plan is: a version 1 plan
    # with leases in it would run without them under an older reader.
    has_fleet = body.get("fleet") is not None
    if has_fleet != (version == FLEET_FORMAT_VERSION):
        raise PlanError(
            "malformed",
            f"{source}: not a valid plan (format_version {version} "
            + ("has a fleet object; fleet plans are format_version 2" if has_fleet else "needs a fleet object")
            + "); re-create it with `gatewayctl plan`",
        )
    problem = schema_problem(obj)
    if problem is not None:
        raise PlanError("malformed", f"{source}: not a valid plan ({problem}); re-create it with `gatewayctl plan`")
    try:
        return _from_json(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError("malformed", f"{source}: plan content is malformed ({exc!r})") from None


def _from_json(body: dict) -> LaunchPlan:
    handler = body.get("handler")
    restart = body["restart"]
    run_as = body.get("run_as")
    fleet = body.get("fleet")
    # Absent in plans written before gatewayctl.toml existed (an addition
    # within format_version 1): such a plan came from a loong config alone.
    settings = body.get("settings")
    if settings is not None and not (isinstance(settings.get("path"), str) and isinstance(settings.get("sha256"), str)):
        raise ValueError("settings must be null or {path, sha256}")
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
        settings_path=None if settings is None else settings["path"],
        settings_sha256=None if settings is None else settings["sha256"],
        fleet=None if fleet is None else _fleet_from_json(fleet),
    )


def read_bytes(path: str) -> bytes:
    """A plan file's bytes: a regular file of at most MAX_PLAN_BYTES."""
    try:
        return read_regular_file(path, MAX_PLAN_BYTES)
    except InputError as exc:
        raise PlanError("unreadable", f"cannot read plan {path}: {exc.reason}") from None


def load(path: str) -> LaunchPlan:
    return loads(read_bytes(path), source=path)


def check_generator(plan: LaunchPlan, version: str, *, source: str = "plan") -> None:
    """Refuse a plan another gatewayctl version made (PlanError "generator").

    Its digest may well be intact, but only the compiler that made it can
    prove its content by recompiling; the upgrade policy
    (docs/plan-format.md) is to re-create saved plans after an upgrade."""
    if plan.generator_name != "gatewayctl" or plan.generator_version != version:
        raise PlanError(
            "generator",
            f"{source}: made by {plan.generator_name} {plan.generator_version}, this is gatewayctl {version}: "
            "re-create the plan with this version (`gatewayctl plan`) and review the difference",
        )


def write(plan: LaunchPlan, path: str) -> str:
    """Write atomically and durably; returns the plan digest.

    Only a regular file is ever replaced: the rename that makes the write
    atomic would otherwise swap out whatever sits at ``path`` (a device
    node, a FIFO, a symlink into another tree). Raises PlanError
    ("not_regular") for those, checked again just before the rename."""
    import os

    from gatewayctl import atomicfile

    _require_regular_or_absent(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = atomicfile.write_temp(directory, dumps(plan), prefix=".plan-")
    try:
        _require_regular_or_absent(path)
        os.replace(tmp, path)
    except BaseException:
        atomicfile.unlink_quietly(tmp)
        raise
    atomicfile.fsync_dir(directory)
    return digest(plan)


def _require_regular_or_absent(path: str) -> None:
    import os
    import stat

    from gatewayctl.inputs import describe_mode

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        what = "a symbolic link"
    elif stat.S_ISREG(st.st_mode):
        return
    else:
        what = describe_mode(st.st_mode)
    raise PlanError("not_regular", f"refusing to write the plan to {path}: it is {what}; --out writes only regular files")


@dataclass(frozen=True, slots=True)
class Staleness:
    stale: bool
    message: str


def check_stale(plan: LaunchPlan, *, base_dir: str | None = None) -> Staleness:
    """Compare the current bytes of the plan's inputs (the loong config and,
    when the plan was made from one, gatewayctl's settings file) with the
    digests the plan recorded.

    The executor calls this before running a saved plan; ``gatewayctl plan
    verify`` calls it too. ``base_dir`` resolves relative paths (the current
    directory by default).
    """
    inputs = [(plan.config_path, plan.config_sha256)]
    if plan.settings_path is not None:
        inputs.append((plan.settings_path, plan.settings_sha256))
    for recorded_path, recorded_sha in inputs:
        problem = input_changed(recorded_path, recorded_sha, base_dir)
        if problem is not None:
            return Staleness(True, f"saved plan is stale: {recorded_path} {problem}")
    if plan.settings_path is not None:
        return Staleness(False, "plan matches its config and settings")
    return Staleness(False, "plan matches its config")


def input_changed(recorded_path: str, recorded_sha: str | None, base_dir: str | None) -> str | None:
    """Why a plan input no longer has its recorded digest, or None."""
    import os

    path = recorded_path
    if base_dir and not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    try:
        current = hashlib.sha256(read_regular_file(path, MAX_CONFIG_BYTES)).hexdigest()
    except InputError as exc:
        return f"cannot be read ({exc.reason})"
    if current != recorded_sha:
        return "changed since the plan was made"
    return None


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
