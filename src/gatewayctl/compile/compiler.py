"""The compiler: a validated config becomes a LaunchPlan. Pure.

``compile_plan(doc, validated, options)`` reads only its arguments (no
environment, no clock, no disk), so the same inputs give the same plan on
any machine. The caller (the CLI) passes in what comes from the process:
the ``--port`` value and the raw ``GATEWAYCTL_GATEWAY_PORT`` value.

Owns lane selection (selected vs default lanes), effective settings,
secret references, worker argv templates, control port precedence and the
GW5xx findings. May import diagnostics, catalog and validate; never source
text parsing, report, runtime or cli.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time

from gatewayctl import __version__
from gatewayctl.catalog import SUPERVISED_IDS, fields, gateway_field, normalize_account_id
from gatewayctl.compile.plan import (
    DEFAULT_WORKER,
    ENV_NAME_PATTERN,
    FLEET_BACKENDS,
    MODES,
    RESTART_POLICIES,
    RUNTIME_PLACEHOLDERS,
    Control,
    Fleet,
    FrozenMap,
    Handler,
    Lane,
    LaunchPlan,
    RestartPolicy,
    RunAs,
    SecretRef,
    fleet_budget,
    freeze,
    max_stop_grace_s,
    min_lease_ttl_s,
)
from gatewayctl.diagnostics import Finding, pointer_join, pointer_split

DEFAULT_PORT = 26306
PORT_ENV = "GATEWAYCTL_GATEWAY_PORT"
CONTROL_BIND = "127.0.0.1"
_ENV_NAME = re.compile(ENV_NAME_PATTERN)

# Keys of a family or account table that shape the model rather than
# configure a lane; they never appear among a lane's settings.
_STRUCTURAL = frozenset({"enabled", "account_id", "default_account", "accounts"})

# The model's names for why an account is the default, mapped onto the plan's
# account_source vocabulary (the model may say "explicit" where the plan says
# "explicit_default").
_DEFAULT_SOURCE = {
    "explicit": "explicit_default",
    "explicit_default": "explicit_default",
    "default_account": "explicit_default",
    "mapped_default": "mapped_default",
    "mapped": "mapped_default",
    "fallback": "fallback",
    "single_account": "single_account",
    "single": "single_account",
}

_COMPILE_TIME_PLACEHOLDERS = ("family", "account", "session")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class CompileOptions:
    """What the command line adds to a config.

    ``port``: the ``--port`` value (0 asks for an ephemeral port) or None.
    ``env_port``: the raw value of ``GATEWAYCTL_GATEWAY_PORT`` or None; the
    caller reads the environment so the compiler stays pure.
    """

    mode: str = "gateway_headless"
    session: str | None = None
    port: int | None = None
    env_port: str | None = None
    allow_inline_secrets: bool = False
    generator_version: str = __version__

    def problem(self) -> str | None:
        """A usage problem with these options (the CLI turns it into exit 2)."""
        if self.mode not in MODES:
            return f"unknown mode {self.mode!r} (expected one of {', '.join(MODES)})"
        blank = self.session is None or not self.session.strip()
        if self.mode in ("gateway_attached_cli", "multi_channel_serve") and blank:
            return f"mode {self.mode} needs a non-blank --session NAME"
        if self.mode == "gateway_headless" and self.session is not None:
            return "a session names an attached owner: use --mode gateway_attached_cli or multi_channel_serve"
        if self.port is not None and not 0 <= self.port <= 65535:
            return f"--port {self.port} is not a port number (0-65535; 0 picks a free port)"
        return None


def compile_plan(doc, validated, options: CompileOptions) -> tuple[LaunchPlan | None, list[Finding]]:
    """Compile one validated document. Returns ``(None, findings)`` when any
    finding is an error; findings point into ``doc``."""
    problem = options.problem()
    if problem is not None:
        # The CLI checks options first; reaching this is a caller bug.
        raise ValueError(problem)

    model = validated.model
    settings = validated.settings
    findings: list[Finding] = []
    own: list[Finding] = []  # findings about the settings: they point into the settings' document

    control = _control(settings, options, own)
    template = _worker_template(settings, own)
    restart = _restart(settings, own)
    stop_grace = _seconds(settings.data, "stop_grace_s", 10.0, settings.base, own)
    handler = _handler(settings, own)
    run_as = _run_as(settings)
    fleet = _fleet(settings, stop_grace, own)

    lanes: list[Lane] = []
    for choice in _lane_choices(model, validated.selectors):
        lane = _lane(choice, template, options, findings)
        if lane is not None:
            lanes.append(lane)
    lanes.sort(key=lambda ln: ln.family)
    if options.mode != "multi_channel_serve":
        findings.extend(_ingress_owned(model, lanes))

    if not lanes and not any(f.code == "GW503" for f in own):
        findings.append(_no_lanes(model, validated))
    findings.extend(replace(f, origin=settings.origin) if settings.origin else f for f in own)

    if any(_is_error(f) for f in findings):
        return None, findings
    plan = LaunchPlan(
        config_path=doc.path,
        config_sha256=doc.sha256,
        mode=options.mode,
        session=options.session,
        control=control,
        lanes=tuple(lanes),
        restart=restart,
        stop_grace_s=stop_grace,
        handler=handler,
        allow_private_hosts=bool(getattr(model, "allow_private_hosts", False)),
        run_as=run_as,
        generator_name="gatewayctl",
        generator_version=options.generator_version,
        settings_path=settings.path,
        settings_sha256=settings.sha256,
        fleet=fleet,
    )
    return plan, findings


def _is_error(f: Finding) -> bool:
    from gatewayctl.diagnostics import Severity, code_info

    if f.severity is not None:
        return f.severity is Severity.ERROR
    return code_info(f.code).severity == "error"


# ------------------------------------------------------------------ lanes


@dataclass(frozen=True, slots=True)
class _Choice:
    family: object  # validate.model.FamilyModel
    account: object  # validate.model.AccountModel (its id is None when derived from credentials)
    alias: str | None
    source: str  # one of ACCOUNT_SOURCES
    typed_account: str | None  # the selector's account as typed, if any


def _lane_choices(model, selectors) -> list[_Choice]:
    """One choice per family that will run: selected families (the
    selector's account), then every other enabled supervised family (its
    default account). A selector loong skips (a disabled or missing family,
    a disabled selected account: warnings GW406/GW407) still selects its
    family, which then runs no lane at all, as in loong
    (crates/daemon/src/supervisor.rs:94): the default account never stands
    in for a selected one."""
    out: list[_Choice] = []
    selected: set[str] = set()
    for rs in selectors:
        family_id = getattr(rs.family, "id", rs.family)  # a catalog.Family
        if family_id in selected or family_id not in SUPERVISED_IDS:
            continue
        selected.add(family_id)
        if not getattr(rs, "runs", True):
            continue
        fam = model.family(family_id)
        if fam is None or not fam.enabled:
            continue
        account = rs.account
        if account is None:
            if fam.has_accounts or not fam.accounts:
                continue  # an unknown account: the selector stage reported it
            # Single-account shape with a credential-derived id: the selector
            # names that one implicit account.
            account = fam.accounts[0]
        if not account.enabled:
            continue
        out.append(_Choice(fam, account, rs.typed_channel, "selector", rs.selector.account))
    for family_id in SUPERVISED_IDS:
        if family_id in selected:
            continue
        fam = model.family(family_id)
        if fam is None or not fam.enabled:
            continue
        account = fam.default_account
        if account is None or not account.enabled:
            # No usable default (every account disabled or unusable): loong
            # would have nothing to start for this family either.
            continue
        source = "single_account" if not fam.has_accounts else _DEFAULT_SOURCE.get(fam.default_source, "fallback")
        out.append(_Choice(fam, account, None, source, None))
    return out


def _lane(choice: _Choice, template, options: CompileOptions, findings: list[Finding]) -> Lane | None:
    from gatewayctl.validate.secrets import effective_env_pointer, effective_secret

    fam = choice.family
    family_id = fam.family
    account = choice.account
    typed = choice.typed_account
    if account.id is not None:
        account_id = account.id
        label = account.key or account.id
    else:
        # Single-account shape whose id loong derives from the credentials:
        # the plan cannot know it without reading secrets, so it carries the
        # id the selector named, or "default".
        account_id = normalize_account_id(typed) if typed else "default"
        label = typed if typed else account_id
    raw = account.settings

    settings: dict = {}
    secrets: list[SecretRef] = []
    for name, spec in fields(family_id).items():
        if spec.secret:
            ref = _secret_ref(family_id, name, effective_secret(raw, name, family=family_id), account, options, findings)
            if ref is not None:
                secrets.append(ref)
            continue
        value = raw.get(name)
        if value is None:
            # A plain setting that may come from the environment (WhatsApp's
            # phone_number_id): the lane resolves it like a secret, so it
            # travels as a reference.
            info = effective_env_pointer(raw, name, family=family_id)
            if info.kind == "env":
                secrets.append(SecretRef(name, "env", str(info.ref)))
                continue
            value = spec.default
        if value is None:
            continue
        where = account.field_pointer(name) or pointer_join(*pointer_split(account.pointer), name)
        settings[name] = _jsonable(value, where, findings)

    return Lane(
        family=family_id,
        alias=choice.alias,
        account_id=account_id,
        account_label=str(label),
        account_source=choice.source,
        settings=freeze(settings) if settings else FrozenMap(),
        secrets=tuple(sorted(secrets, key=lambda s: s.field)),
        worker=_expand_worker(template, family_id, account_id, options.session),
        env=tuple(sorted({s.ref for s in secrets if s.kind == "env"})),
    )


def _ingress_owned(model, lanes: list[Lane]) -> list[Finding]:
    """GW505: a lane of a family that loong's ``gateway run`` serves through
    its HTTP ingress instead, when the ingress would serve other accounts
    than the lane.

    loong's gateway run drops the background surface of every family its
    ingress owns (crates/daemon/src/gateway/service.rs:324,
    crates/app/src/channel/gateway_ingress.rs:111): feishu with a
    webhook-mode default account, whatsapp, each with the family and its
    default account enabled; the ingress then mounts every configured
    account, disabled ones included (gateway_ingress.rs:136). A plan has no
    ingress: gatewayctl's lane serves its one account's webhook itself, so
    the plan keeps the lane (without it nothing would serve the family).
    When the family has that one account only, both serve the same
    account and nothing is said; otherwise the served accounts differ and
    the operator is told which. ``multi-channel-serve`` has no such
    ownership: it runs the lane as the plan does."""
    from gatewayctl.validate.rules.webhooks import ingress_active, mounted_accounts

    out: list[Finding] = []
    for lane in lanes:
        fam = model.family(lane.family)
        if fam is None or not ingress_active(fam):
            continue
        mounted = mounted_accounts(fam)
        if len(mounted) <= 1:
            continue
        keys = ", ".join(f"`{a.key}`" + ("" if a.enabled else " (disabled)") for a in mounted)
        out.append(
            Finding(
                "GW505",
                fam.pointer,
                f"loong's `gateway run` runs no {lane.family} lane: its HTTP ingress owns [{fam.pointer.lstrip('/')}] "
                f"and serves all {len(mounted)} configured accounts ({keys}) on the gateway port; this plan runs "
                f"one lane, account `{lane.account_label}`, served by the plan's worker",
                hint="a plan runs one lane per family, so the other accounts are not served by it (loong's "
                "ingress would serve them all, disabled ones too); to run exactly one account as loong does, keep "
                "one account in the table; see docs/loong-compat.md, Gateway ingress and the plan",
                target="key",
            )
        )
    return out


# ---------------------------------------------------------------- secrets


def _secret_ref(family_id, name, info, account, options, findings) -> SecretRef | None:
    """The plan's reference for one secret field, from the effective
    reference the validate stage computes (field, else ``*_env`` sibling,
    else the family's default variable name)."""
    if info.kind in ("env", "file"):
        return SecretRef(name, info.kind, str(info.ref))
    if info.kind == "exec":
        return SecretRef(name, "exec", tuple(str(a) for a in info.ref))
    if info.kind == "inline":
        where = account.field_pointer(name) or pointer_join(*pointer_split(account.pointer), name)
        if not options.allow_inline_secrets:
            findings.append(
                Finding(
                    "GW501",
                    where,
                    f"{family_id}.{name} is an inline secret; a launch plan carries only references to secrets",
                    hint=f'use {name} = {{ env = "NAME" }} (or file/exec), or pass --allow-inline-secrets '
                    "to let the plan point at the value in the config",
                )
            )
            return None
        return SecretRef(name, "inline", where)
    return None  # invalid or absent: the schema and secret rules report those


def _jsonable(value, pointer: str, findings: list[Finding]):
    """Plans are canonical JSON: dates become ISO text, and a non-finite
    number (TOML allows nan and inf) is refused rather than crash the
    encoder."""
    if isinstance(value, float) and not math.isfinite(value):
        findings.append(Finding("GW105", pointer, f"{value!r} is not a finite number", hint="use a plain number"))
        return 0
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, pointer_join(*pointer_split(pointer), k), findings) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, pointer_join(*pointer_split(pointer), i), findings) for i, v in enumerate(value)]
    return value


# ----------------------------------------------------------------- worker


def _worker_template(settings, findings: list[Finding]) -> tuple[str, ...] | None:
    worker = settings.data.get("worker")
    command = worker.get("command") if isinstance(worker, Mapping) else None
    if command is None:
        return DEFAULT_WORKER
    base = (*settings.base, "worker", "command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        findings.append(
            Finding(
                "GW503",
                pointer_join(*base),
                f"{_table(settings, 'worker')} command must be a non-empty list of strings (an argv)",
                hint='for example command = ["loong", "channels", "serve", "{family}", "--account", "{account}"]',
            )
        )
        return None
    ok = True
    for i, item in enumerate(command):
        problem = _template_problem(item, i)
        if problem is not None:
            message, offset, length = problem
            findings.append(
                Finding(
                    "GW503",
                    pointer_join(*base, i),
                    message,
                    hint="placeholders: {family}, {account}, {session} (filled in now) and "
                    "{gatewayctl}, {plan}, {runtime_dir} (filled in by the gateway owner)",
                    column_offset=offset,
                    length=length,
                )
            )
            ok = False
    if ok and command[0].strip() == "":
        findings.append(Finding("GW503", pointer_join(*base, 0), "the worker program (argv[0]) is empty"))
        ok = False
    return tuple(command) if ok else None


def _template_problem(item: str, index: int) -> tuple[str, int, int] | None:
    known = set(_COMPILE_TIME_PLACEHOLDERS) | {p.strip("{}") for p in RUNTIME_PLACEHOLDERS}
    for m in _PLACEHOLDER.finditer(item):
        name = m.group(1)
        if name not in known:
            shown = ", ".join("{" + k + "}" for k in sorted(known))
            return (f"unknown placeholder {m.group(0)} in worker argv[{index}] (known: {shown})", m.start(), len(m.group(0)))
        if name == "gatewayctl" and item != "{gatewayctl}":
            # It expands to several argv items, so it cannot sit inside one.
            return ("{gatewayctl} must be a whole argv item on its own", m.start(), len(m.group(0)))
    rest = _PLACEHOLDER.sub("", item)
    for ch in "{}":
        pos = rest.find(ch)
        if pos >= 0:
            at = _unmatched_brace(item, ch)
            return (f"unmatched {ch!r} in worker argv[{index}]", at, 1)
    return None


def _unmatched_brace(item: str, ch: str) -> int:
    spans = [m.span() for m in _PLACEHOLDER.finditer(item)]
    for i, c in enumerate(item):
        if c == ch and not any(a <= i < b for a, b in spans):
            return i
    return 0


def _expand_worker(template, family: str, account: str, session: str | None) -> tuple[str, ...]:
    if template is None:
        return ()
    values = {"family": family, "account": account, "session": session or ""}

    def sub(m: re.Match) -> str:
        name = m.group(1)
        return values[name] if name in values else m.group(0)

    return tuple(_PLACEHOLDER.sub(sub, item) for item in template)


# ---------------------------------------------------------- owner settings


def _table(settings, name: str) -> str:
    """How the user wrote a settings table: [handler] in the settings file,
    [gateway.handler] in the deprecated place."""
    return "[" + ".".join((*settings.base, name)) + "]"


def _control(settings, options: CompileOptions, findings: list[Finding]) -> Control:
    if options.port is not None:
        source = "ephemeral_cli" if options.port == 0 else "cli"
        return Control(CONTROL_BIND, options.port, source)
    if options.env_port is not None and options.env_port.strip():
        raw = options.env_port.strip()
        if raw.isascii() and raw.isdigit() and 0 <= int(raw) <= 65535:
            return Control(CONTROL_BIND, int(raw), "env")
        findings.append(
            Finding(
                "GW504",
                "",
                f"{PORT_ENV}={options.env_port!r} is not a port number (0-65535)",
                hint=f"unset {PORT_ENV} or set it to a port number; --port overrides it",
            )
        )
    own = settings.data.get(settings.port_key)
    if _in_schema_range(own, ("port",)):
        return Control(CONTROL_BIND, own, "settings" if settings.origin else "config")
    if _in_schema_range(settings.loong_port, ("port",)):
        return Control(CONTROL_BIND, settings.loong_port, "config")
    return Control(CONTROL_BIND, DEFAULT_PORT, "default")


def _seconds(table: Mapping, key: str, default: float, base: tuple, findings: list[Finding]) -> float:
    """A seconds setting within the bounds the config schema gives it (the
    schema stage reports the same values as GW105, so `check` and `plan`
    agree; here a value outside them can only come from a caller that
    skipped the schema)."""
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return float(default)
    # The limits of the [gateway] table's schema, which the settings file's
    # schema repeats (a test keeps them equal).
    spec = gateway_field(*(base[1:] if base[:1] == ("gateway",) else base), key)
    low, high = spec.get("minimum"), spec.get("maximum")
    above = spec.get("exclusiveMinimum")
    ok = math.isfinite(value) if isinstance(value, float) else True
    ok = ok and (low is None or value >= low) and (above is None or value > above) and (high is None or value <= high)
    if not ok:
        lowest = f"more than {above}" if above is not None else f"at least {low}"
        findings.append(
            Finding(
                "GW105",
                pointer_join(*base, key),
                f"{key} must be a number of seconds, {lowest} and at most {high}",
                hint=f"use a value from the schema's range ({lowest}, at most {high})",
            )
        )
        return float(default)
    return float(value)


def _run_as(settings) -> RunAs | None:
    """[worker] user/group ([gateway.worker] in the deprecated place): names
    only (the schema reports bad ones, GW1xx); the owner resolves them on the
    host that runs the plan."""
    worker = settings.data.get("worker")
    if not isinstance(worker, Mapping):
        return None
    user, group = worker.get("user"), worker.get("group")
    if not isinstance(user, str) or not user:
        return None
    return RunAs(user=user, group=group if isinstance(group, str) and group else None)


def _restart(settings, findings: list[Finding]) -> RestartPolicy:
    table = settings.data.get("restart")
    if not isinstance(table, Mapping):
        return RestartPolicy()
    base = (*settings.base, "restart")
    d = RestartPolicy()
    policy = table.get("policy")
    max_restarts = table.get("max_restarts")
    return RestartPolicy(
        policy=policy if policy in RESTART_POLICIES else d.policy,
        max_restarts=max_restarts if _in_schema_range(max_restarts, ("restart", "max_restarts")) else d.max_restarts,
        window_s=_seconds(table, "window_s", d.window_s, base, findings),
        backoff_initial_s=_seconds(table, "backoff_initial_s", d.backoff_initial_s, base, findings),
        backoff_max_s=_seconds(table, "backoff_max_s", d.backoff_max_s, base, findings),
    )


def _in_schema_range(value, keys: tuple) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    spec = gateway_field(*keys)
    low, high = spec.get("minimum"), spec.get("maximum")
    return (low is None or value >= low) and (high is None or value <= high)


def _handler(settings, findings: list[Finding]) -> Handler | None:
    table = settings.data.get("handler")
    if not isinstance(table, Mapping):
        return None
    timeout = _seconds(table, "timeout_s", 30.0, (*settings.base, "handler"), findings)
    env = _handler_env(table.get("env"))
    command = table.get("exec")
    if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
        return Handler("exec", exec=tuple(command), timeout_s=timeout, env=env)
    url = table.get("url")
    if isinstance(url, str) and url:
        return Handler("url", url=url, timeout_s=timeout, env=env)
    if table.get("echo") is True:
        return Handler("echo", timeout_s=timeout, env=env)
    return None


def _handler_env(names) -> tuple[str, ...]:
    """Sorted unique variable names; the schema reports bad ones (GW1xx), so
    anything else that reaches this pure stage is simply not carried."""
    if not isinstance(names, list):
        return ()
    return tuple(sorted({n for n in names if isinstance(n, str) and _ENV_NAME.match(n)}))


# ------------------------------------------------------------------ fleet


def _fleet(settings, stop_grace_s: float, findings: list[Finding]) -> Fleet | None:
    """[fleet] of gatewayctl.toml as the plan carries it, and GW623 when its
    lease cannot cover stop_grace_s. The validate stage reports every
    malformed value (GW1xx, GW613-GW622) and then no plan is made; a value
    that reaches this pure stage unchecked is not carried (None)."""
    if settings.base != ():  # the deprecated [gateway] place holds no fleet (GW624)
        return None
    table = settings.data.get("fleet")
    if not isinstance(table, Mapping):
        return None
    backend, endpoints, prefix = table.get("backend"), table.get("endpoints"), table.get("prefix")
    ttl, settle, host_id = table.get("lease_ttl_s"), table.get("settle_s"), table.get("host_id")
    if (
        backend not in FLEET_BACKENDS
        or not isinstance(endpoints, list)
        or not endpoints
        or not all(isinstance(e, str) for e in endpoints)
        or not isinstance(prefix, str)
        or not _number(ttl)
        or (settle is not None and not _number(settle))
        or (host_id is not None and not isinstance(host_id, str))
    ):
        return None
    budget = fleet_budget(ttl, stop_grace_s, settle)
    if not budget.feasible:
        findings.append(_budget_finding(settings, budget))
    return Fleet(
        backend=backend,
        endpoints=tuple(endpoints),
        prefix=prefix,
        lease_ttl_s=float(ttl),
        settle_s=None if settle is None else float(settle),
        host_id=host_id,
        username=_fleet_credential(table, "username"),
        password=_fleet_credential(table, "password"),
    )


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fleet_credential(table: Mapping, key: str) -> SecretRef | None:
    """An env or file reference (the validate stage refuses any other)."""
    value = table.get(key)
    if not isinstance(value, Mapping) or len(value) != 1:
        return None
    ((kind, ref),) = value.items()
    if kind not in ("env", "file") or not isinstance(ref, str):
        return None
    return SecretRef(key, kind, ref)


def _num(value: float) -> str:
    """Hundredths of a second, without trailing zeros (4.2 -> "4.2", 19.0 -> "19")."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _budget_finding(settings, budget) -> Finding:
    """GW623, naming the numbers of docs/fleet.md's budget and both fixes."""
    from gatewayctl.validate.rules.fleet import bounds

    ttl, grace = budget.ttl_s, budget.stop_grace_s
    grace_fix = max_stop_grace_s(ttl)
    ttl_fix = min_lease_ttl_s(grace)
    ttl_max = bounds("lease_ttl_s")[1]
    lower = None if grace_fix is None else f"lower stop_grace_s to at most {_num(grace_fix)}"
    if ttl_fix <= ttl_max:
        raise_ = f"raise [fleet] lease_ttl_s to at least {_num(ttl_fix)}"
        hint = raise_ if lower is None else f"{lower}, or {raise_}"
    else:
        hint = f"{lower} (raising lease_ttl_s cannot help: it would need {_num(ttl_fix)}, above its {ttl_max:g} s limit)"
    return Finding(
        "GW623",
        settings.pointer("fleet", "lease_ttl_s"),
        f"[fleet] lease_ttl_s = {ttl:g} leaves no room for stop_grace_s = {grace:g}: each lane must begin its "
        f"graceful stop {budget.lane_stop_after_s:.2f} s after a renewal is sent (ttl {ttl:g} - margin "
        f"{budget.margin_s:.2f} - stop grace {grace:g}), but the next renewal may take "
        f"{budget.renew_every_s + budget.request_timeout_s:.2f} s (every {budget.renew_every_s:.2f} s, "
        f"answered within {budget.request_timeout_s:.2f} s): one slow renewal would stop every lane",
        hint=hint,
    )


def _no_lanes(model, validated) -> Finding:
    configured = [fid for fid in SUPERVISED_IDS if model.family(fid) is not None]
    origin = ""
    if validated.selectors_from == "config":
        pointer = "/gateway/channel_accounts"
    elif validated.selectors_from == "settings":
        pointer, origin = "/channel_accounts", validated.settings.origin
    else:
        pointer = ""
    if configured:
        message = (
            "nothing to run: no lane would start (configured gateway-supervised families: "
            f"{', '.join(configured)}; none is enabled, or every selected lane is disabled)"
        )
        hint = "set enabled = true on the family (and its account) you mean to run"
    else:
        message = "nothing to run: the config has no gateway-supervised family (" + ", ".join(SUPERVISED_IDS) + ")"
        hint = "add and enable a [telegram], [feishu], [matrix], [wecom], [whatsapp] or [qqbot] table"
    return Finding("GW502", pointer, message, hint=hint, origin=origin)
