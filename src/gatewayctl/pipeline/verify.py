"""Prove a saved plan is exactly what its config compiles to.

A plan's digest is unkeyed: it catches accidental damage, not an edit whose
author recomputed it. Plans are reproducible (same inputs, same bytes), so
the proof is to compile the config again with the options the plan records
and compare canonical bytes. `plan verify` and `gateway run --plan` call
``recompile_check``; the CLI decides the exit codes.

What the plan records and how it maps back to options:

- ``owner.mode`` / ``owner.session``: ``--mode`` / ``--session``;
- ``control.port_source``: ``cli``/``ephemeral_cli`` -> ``--port N``,
  ``env`` -> ``GATEWAYCTL_GATEWAY_PORT=N``, ``config``/``default`` -> neither;
- lanes whose ``account_source`` is ``selector`` -> ``--channel-account
  ALIAS=ACCOUNT`` (a selector that changed no lane leaves no trace and needs
  none: it cannot change the plan);
- an ``inline`` secret reference -> ``--allow-inline-secrets``;
- the config's bytes are read once and must still have the recorded
  SHA-256 (else the plan is stale, which the caller reports first). A plan
  made from gatewayctl's settings file is recompiled from that file (read
  once, checked against its recorded SHA-256 the same way), which names
  the loong config.
"""

from __future__ import annotations

import os
import re

from gatewayctl.compile.planfile import PlanError, canonical_bytes, plan_to_json
from gatewayctl.inputs import MAX_CONFIG_BYTES, InputError, read_regular_file

# What a selector's account may be, so that it parses back (selectors.lark).
_SAFE_ACCOUNT = re.compile(r"[^=,\s\x00-\x1f\x7f-\x9f](?:[^=,\x00-\x1f\x7f-\x9f\u2028\u2029]*[^=,\s\x00-\x1f\x7f-\x9f])?\Z")


def recorded_options(plan, generator_version: str):
    """The CompileOptions and selector texts a plan was compiled with."""
    from gatewayctl.compile.compiler import CompileOptions

    port = env_port = None
    source = plan.control.port_source
    if source in ("cli", "ephemeral_cli"):
        port = plan.control.port
    elif source == "env":
        env_port = str(plan.control.port)
    options = CompileOptions(
        mode=plan.mode,
        session=plan.session,
        port=port,
        env_port=env_port,
        allow_inline_secrets=any(s.kind == "inline" for lane in plan.lanes for s in lane.secrets),
        generator_version=generator_version,
    )
    selectors = []
    for lane in plan.lanes:
        if lane.account_source != "selector" or not lane.alias:
            continue
        account = lane.account_label if _SAFE_ACCOUNT.match(lane.account_label) else lane.account_id
        selectors.append(f"{lane.alias}={account}")
    return options, tuple(selectors)


def first_difference(a, b, path: tuple = ()) -> str | None:
    """The JSON pointer of the first place two JSON values differ."""
    from gatewayctl.diagnostics import pointer_join

    if type(a) is not type(b):
        return pointer_join(*path) or "/"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return pointer_join(*path, key)
            found = first_difference(a[key], b[key], path + (key,))
            if found is not None:
                return found
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, path + (i,))
            if found is not None:
                return found
        if len(a) != len(b):
            return pointer_join(*path, min(len(a), len(b)))
        return None
    return None if a == b else (pointer_join(*path) or "/")


def recompile_check(plan, *, source: str, base_dir: str | None, generator_version: str) -> None:
    """Raise PlanError("tampered") unless compiling the plan's config with
    the recorded options gives the same canonical bytes; PlanError("stale")
    when the config cannot be read or no longer has the recorded digest."""
    import hashlib

    from gatewayctl.pipeline import lint_and_compile, selector_doc

    # The file the plan was compiled from: gatewayctl's settings (naming the
    # loong config), or a loong config alone.
    recorded, recorded_sha = plan.config_path, plan.config_sha256
    if plan.settings_path is not None:
        recorded, recorded_sha = plan.settings_path, plan.settings_sha256
    path = recorded
    if base_dir and not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    try:
        data = read_regular_file(path, MAX_CONFIG_BYTES)
    except InputError as exc:
        raise PlanError("stale", f"{source}: cannot recompile: {recorded} cannot be read ({exc.reason})") from None
    if hashlib.sha256(data).hexdigest() != recorded_sha:
        raise PlanError("stale", f"saved plan is stale: {recorded} changed since the plan was made")
    options, selectors = recorded_options(plan, generator_version)
    problem = options.problem()
    result = None
    fresh = None
    if problem is None:
        result, fresh = lint_and_compile(
            recorded, options, cli_selectors=selector_doc(selectors), data=data, base_dir=base_dir
        )
    if fresh is None:
        codes = sorted({d.code for d in result.diagnostics if d.is_error}) if result is not None else []
        why = problem or ("its config does not compile (" + ", ".join(codes) + ")" if codes else "its config does not compile")
        raise PlanError(
            "tampered",
            f"{source}: not what {recorded} compiles to: {why}; "
            "the plan was edited or made from other inputs; re-create it with `gatewayctl plan`",
        )
    want = plan_to_json(fresh)
    have = plan_to_json(plan)
    if canonical_bytes(want) != canonical_bytes(have):
        where = first_difference(have, want) or "/"
        raise PlanError(
            "tampered",
            f"{source}: not what {recorded} compiles to: /plan{where if where != '/' else ''} differs "
            "(the digest matches, so it was recomputed after an edit, or the plan was made from other inputs); "
            "re-create it with `gatewayctl plan`",
        )
