"""Resolve a lane's secret references (env, file, exec, inline) at lane start.

A reference that cannot be resolved is a LaneFailure whose message names
the reference (variable name, file path, program, config pointer), never a
value. Inline secrets are pointers into the config file (plan.config_path):
that one file is read here with tomllib/json, directly, because workers may
not import gatewayctl.source. Standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib

from gatewayctl.compile.plan import Lane, LaunchPlan, SecretRef
from gatewayctl.workers.base import LaneFailure

_EXEC_TIMEOUT_S = 15.0


class Secrets:
    """Resolved values by field name, plus redaction of those values."""

    def __init__(self, values: dict[str, str]):
        self._values = dict(values)

    def get(self, field: str) -> str | None:
        return self._values.get(field)

    def require(self, field: str, lane: Lane) -> str:
        value = self._values.get(field)
        if not value:
            raise LaneFailure(f"{lane.name}: no secret reference for `{field}` in the plan (the lane needs it)")
        return value

    def redact(self, text: str) -> str:
        for value in sorted(self._values.values(), key=len, reverse=True):
            if value and len(value) >= 4:
                text = text.replace(value, "***")
        return text


def describe(ref: SecretRef) -> str:
    """A human name of the reference: safe to print."""
    if ref.kind == "env":
        return f"environment variable {ref.ref}"
    if ref.kind == "file":
        return f"file {ref.ref}"
    if ref.kind == "exec":
        argv = ref.ref if isinstance(ref.ref, tuple) else (ref.ref,)
        return f"command `{argv[0] if argv else ''}`"
    return f"inline value at {ref.ref} in the config"


def field_name(ref: SecretRef) -> str:
    # A `<field>_env` sibling is the same secret as `<field>`.
    return ref.field[:-4] if ref.field.endswith("_env") else ref.field


def resolve(plan: LaunchPlan, lane: Lane, *, environ=None, cwd: str | None = None) -> Secrets:
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    config_cache: list = []
    for ref in lane.secrets:
        values[field_name(ref)] = _resolve_one(plan, lane, ref, environ, cwd, config_cache)
    return Secrets(values)


def _resolve_one(plan, lane, ref: SecretRef, environ, cwd, config_cache) -> str:
    where = f"{lane.name}: secret `{field_name(ref)}`"
    if ref.kind == "env":
        value = environ.get(str(ref.ref), "")
        if not value.strip():
            raise LaneFailure(f"{where}: environment variable {ref.ref} is not set or empty")
        return value.strip()
    if ref.kind == "file":
        path = os.path.expanduser(str(ref.ref))
        if cwd and not os.path.isabs(path):
            path = os.path.join(cwd, path)
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise LaneFailure(f"{where}: file {ref.ref} cannot be read ({reason})") from None
        if not value:
            raise LaneFailure(f"{where}: file {ref.ref} is empty")
        return value
    if ref.kind == "exec":
        argv = list(ref.ref) if isinstance(ref.ref, tuple) else [str(ref.ref)]
        if not argv or not argv[0]:
            raise LaneFailure(f"{where}: empty exec command")
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_EXEC_TIMEOUT_S,
                cwd=cwd,
                check=False,
            )
        except FileNotFoundError:
            raise LaneFailure(f"{where}: command `{argv[0]}` not found") from None
        except subprocess.TimeoutExpired:
            raise LaneFailure(f"{where}: command `{argv[0]}` did not finish within {_EXEC_TIMEOUT_S:g}s") from None
        except OSError as exc:
            raise LaneFailure(f"{where}: command `{argv[0]}` cannot run ({exc.strerror or exc})") from None
        # Its output is the secret, its stderr may be too: report the status only.
        if done.returncode != 0:
            raise LaneFailure(f"{where}: command `{argv[0]}` exited with status {done.returncode}")
        value = done.stdout.decode("utf-8", "replace").strip()
        if not value:
            raise LaneFailure(f"{where}: command `{argv[0]}` printed nothing")
        return value
    if ref.kind == "inline":
        return _inline(plan, where, str(ref.ref), cwd, config_cache)
    raise LaneFailure(f"{where}: unknown secret kind {ref.kind!r} in the plan")


def _inline(plan: LaunchPlan, where: str, pointer: str, cwd, config_cache) -> str:
    path = plan.config_path
    if cwd and not os.path.isabs(path):
        path = os.path.join(cwd, path)
    if not config_cache:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise LaneFailure(f"{where}: config {plan.config_path} cannot be read ({exc.strerror or exc})") from None
        try:
            if path.endswith(".json"):
                data = json.loads(raw)
            elif path.endswith((".yaml", ".yml")):
                # Only JSON-compatible YAML can be read without a YAML parser,
                # which belongs to gatewayctl.source.
                try:
                    data = json.loads(raw)
                except ValueError:
                    raise LaneFailure(
                        f"{where}: inline secrets in a YAML config cannot be read by the lane worker; "
                        "use { env = ... }, { file = ... } or { exec = [...] }"
                    ) from None
            else:
                data = tomllib.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise LaneFailure(f"{where}: config {plan.config_path} cannot be parsed") from None
        config_cache.append(data)
    node = config_cache[0]
    for token in _pointer_tokens(pointer):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise LaneFailure(f"{where}: inline value at {pointer} is gone from {plan.config_path}")
    if not isinstance(node, str) or not node.strip():
        raise LaneFailure(f"{where}: inline value at {pointer} in {plan.config_path} is not a non-empty string")
    return node.strip()


def _pointer_tokens(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]
