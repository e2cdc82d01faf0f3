"""Validate: JSON Schema, then semantic rules, then selectors.

Owns the orchestration of the validation stage (this module), the schema
check (schema.py, the only jsonschema importer), the config model
(model.py), secret classification (secrets.py) and one rule per module in
rules/. May import diagnostics, catalog, selectors and source; never
compile, runtime, report or cli.

Every step runs even when an earlier one found errors: a user sees all of
a file's problems in one pass. Rules tolerate ill-typed data (the schema
step reports it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gatewayctl.diagnostics import MAX_DIAGNOSTICS_PER_FILE, ORIGIN_SETTINGS, TARGET_KEY, Diagnostic, Finding, pointer_join
from gatewayctl.lazyre import lazy
from gatewayctl.records import record

SELECTOR_LIST_POINTER = "/gateway/channel_accounts"

# loong's own key in its [gateway] table (crates/app/src/config/runtime.rs:200,
# `GatewayConfig { port }`); every other key there is gatewayctl's, in the
# place it is deprecated from.
LOONG_GATEWAY_KEYS = frozenset({"port"})
# gatewayctl's keys that may still sit in loong's [gateway] (the deprecated
# place); a test keeps this equal to the config schema's [gateway] keys
# minus loong's. Any other key there is a typo (GW101), not a setting.
LEGACY_SETTINGS_KEYS = ("channel_accounts", "stop_grace_s", "worker", "restart", "handler")
_EMPTY: Mapping = MappingProxyType({})


@record
class SettingsView:
    """gatewayctl's own settings as the compiler reads them, and where they
    are written: the root of a gatewayctl settings file (``origin``
    ORIGIN_SETTINGS, pointers from the root), or in the deprecated place,
    loong's ``[gateway]`` table (``origin`` "", pointers under /gateway).

    ``port_key`` is the control port's key in ``data`` (``control_port`` in
    the settings file, ``port`` in loong's table); ``loong_port`` is loong's
    ``[gateway] port``, the control port when the settings file names none.
    ``path``/``sha256``: the settings file as given and its digest (None in
    the deprecated place).
    """

    data: Mapping
    base: tuple = ("gateway",)
    origin: str = ""
    port_key: str = "port"
    loong_port: object = None
    path: str | None = None
    sha256: str | None = None

    def pointer(self, *tokens) -> str:
        return pointer_join(*self.base, *tokens)


def settings_findings(data) -> list[Finding]:
    """Every finding about gatewayctl's settings file on its own: the
    schema's (GW1xx), except where the [fleet] rules explain a problem with
    their own code (GW613-GW622), and those rules' findings."""
    from gatewayctl.validate import schema

    findings = schema.check_settings(data)
    if not (isinstance(data, dict) and "fleet" in data):
        return findings
    from gatewayctl.validate.rules import fleet

    own = fleet.check_settings(data)
    explained = {fleet.key_of(f.pointer) for f in own}
    # A schema finding is dropped only where a [fleet] rule explains that
    # key: a value the rules do not judge keeps the schema's finding, so a
    # [fleet] table can never be accepted because its finding was dropped.
    def explained_here(f) -> bool:
        key = fleet.key_of(f.pointer)
        return key in explained if key is not None else bool(own)  # the table's own: required, dependencies

    findings = [f for f in findings if not (fleet.owns_schema_finding(f) and explained_here(f))] + own
    # `lease_ttl = 10` is one mistake: GW101's did-you-mean, not also GW613
    return one_mistake_one_finding(findings)


def _misplaced_fleet(data) -> list[Finding]:
    """GW624 for a [gateway.fleet] table (the rule module is loaded only
    when there is one: a cold `check` stays light)."""
    gateway = data.get("gateway") if isinstance(data, dict) else None
    if not isinstance(gateway, dict) or "fleet" not in gateway:
        return []
    from gatewayctl.validate.rules.fleet import gateway_fleet

    return gateway_fleet(data)


def settings_sensitive_pointers(data) -> list[str]:
    """``sensitive_pointers`` for a settings file: also [fleet]'s
    credentials (the user name too) and endpoints with user:password@."""
    found = sensitive_pointers(data, None)
    if not (isinstance(data, dict) and "fleet" in data):
        return found
    from gatewayctl.validate.rules.fleet import fleet_sensitive_pointers

    return list(dict.fromkeys(found + fleet_sensitive_pointers(data)))


def legacy_settings_keys(data) -> list[str]:
    """gatewayctl's keys still found in a loong config's [gateway] table."""
    gateway = data.get("gateway") if isinstance(data, dict) else None
    if not isinstance(gateway, dict):
        return []
    return [k for k in gateway if k in LEGACY_SETTINGS_KEYS]

# Keys whose string values are treated as sensitive for redaction even
# outside the channel model (providers, tools): never echoed in any output.
_SENSITIVE_KEY = lazy(r"(?i)(secret|token|password|passwd|api_key|apikey|private_key|encrypt_key|credential)")


@record
class Validated:
    model: object  # validate.model.ConfigModel
    selectors: tuple  # validate.rules.selectors.ResolvedSelector, in input order
    selectors_from: str  # "cli" | "config" | "settings" | "none"
    data: object  # the document's data, for the on-demand sensitive scan
    settings: SettingsView = SettingsView(_EMPTY)

    @property
    def sensitive(self) -> tuple[str, ...]:
        """JSON pointers whose values must never be shown. Computed on
        demand: a clean file, which prints nothing, never pays for it."""
        return tuple(sensitive_pointers(self.data, self.model))


def config_selector_items(data) -> list[tuple[str, str]]:
    gateway = data.get("gateway") if isinstance(data, dict) else None
    items = gateway.get("channel_accounts") if isinstance(gateway, dict) else None
    if not isinstance(items, list):
        return []
    return [(pointer_join("gateway", "channel_accounts", i), v) for i, v in enumerate(items) if isinstance(v, str)]


def validate(doc, *, cli_selectors=None, settings_doc=None) -> tuple[Validated, tuple[Diagnostic, ...]]:
    """Run every check on one loaded loong config.

    ``cli_selectors`` is a ``source.selector_document`` of the command-line
    selectors; when given it replaces the settings' ``channel_accounts``
    list (no merging). Diagnostics about selectors from another document
    carry that document's path; their semantic messages name the config
    they were checked against.

    ``settings_doc``: gatewayctl's settings file (a loaded Document) that
    names this config; its schema is checked, its settings and selectors
    apply, and gatewayctl keys left in this config's ``[gateway]`` are
    ignored (GW602). Without it, those keys are read from their deprecated
    place (GW601).
    """
    from gatewayctl.selectors import parse_flag_selectors, parse_selectors
    from gatewayctl.validate import schema
    from gatewayctl.validate.model import build_model
    from gatewayctl.validate.rules import RuleContext, run_all
    from gatewayctl.validate.rules import selectors as selector_rules

    data = doc.data
    findings: list[Finding] = list(schema.check(data))
    misplaced_fleet = _misplaced_fleet(data)
    if misplaced_fleet:
        # GW624 says what [gateway.fleet] is and where it goes; an
        # unknown-key GW101 for it would be a second, vaguer finding.
        findings = [f for f in findings if not f.pointer.startswith(misplaced_fleet[0].pointer)]
    model = build_model(data)
    findings.extend(run_all(RuleContext(data, model)))
    findings.extend(_legacy_findings(data, settings_doc))
    findings.extend(misplaced_fleet)
    # Locating is the costly step: cap before it (errors kept first, so a
    # file with errors still shows some), and count what was left out.
    kept, dropped = cap_findings(one_mistake_one_finding(findings), MAX_DIAGNOSTICS_PER_FILE)
    diags = [doc.diagnostic(f) for f in kept]
    if dropped:
        diags.append(doc.diagnostic(too_many(dropped)))

    gateway = data.get("gateway") if isinstance(data, dict) else None
    loong_port = gateway.get("port") if isinstance(gateway, dict) else None
    if settings_doc is not None:
        sdata = settings_doc.data if isinstance(settings_doc.data, dict) else {}
        diags.extend(settings_doc.diagnostic(f) for f in settings_findings(settings_doc.data))
        settings = SettingsView(
            MappingProxyType(dict(sdata)), (), ORIGIN_SETTINGS, "control_port", loong_port, settings_doc.path, settings_doc.sha256
        )
    else:
        settings = SettingsView(model.gateway, ("gateway",), "", "port", loong_port)

    # One value is one selector, as loong's --channel-account reads it. A
    # list entry (in the settings file, or in the deprecated [gateway] place)
    # holding a comma keeps its old meaning (several selectors) for one
    # deprecation period, with a warning (GW409).
    if cli_selectors is not None:
        items = [(pointer_join(i), v) for i, v in enumerate(cli_selectors.data)]
        sel_doc, origin = cli_selectors, "cli"
        parsed, syntax = parse_flag_selectors(items)
        legacy: list[Finding] = []
    else:
        if settings_doc is not None:
            items = settings_selector_items(settings_doc.data)
            sel_doc, origin = settings_doc, ("settings" if items else "none")
        else:
            items = config_selector_items(data)
            sel_doc, origin = doc, ("config" if items else "none")
        single = [(p, t) for p, t in items if "," not in t]
        listed = [(p, t) for p, t in items if "," in t]
        one, syntax_one = parse_flag_selectors(single)
        many, syntax_many = parse_selectors(listed)
        order = {p: i for i, (p, _) in enumerate(items)}
        parsed = tuple(sorted(one + many, key=lambda s: (order[s.pointer], s.offset)))
        syntax = syntax_one + syntax_many
        legacy = [selector_rules.comma_entry(p, t, many) for p, t in listed]
    resolved, semantic = selector_rules.check(parsed, model, flags=origin == "cli", data=data)
    diags.extend(sel_doc.diagnostic(f) for f in syntax)
    for f in [*legacy, *semantic]:
        d = sel_doc.diagnostic(f)
        if sel_doc is not doc:
            # The same command-line selectors are checked against every file.
            d = _with_message(d, f"{d.message} (checked against {doc.path})")
        diags.append(d)

    return Validated(model, tuple(resolved), origin, data, settings), tuple(diags)


def settings_selector_items(data) -> list[tuple[str, str]]:
    items = data.get("channel_accounts") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(pointer_join("channel_accounts", i), v) for i, v in enumerate(items) if isinstance(v, str)]


def _legacy_findings(data, settings_doc) -> list[Finding]:
    """GW601/GW602: gatewayctl keys in loong's [gateway] table. loong's
    config::write (crates/app/src/config/runtime.rs:2168) re-serializes the
    file from its structs, whose GatewayConfig has only `port`
    (runtime.rs:200): one save by loong drops them, and every comment."""
    keys = legacy_settings_keys(data)
    out = []
    for key in keys:
        ptr = pointer_join("gateway", key)
        if settings_doc is None:
            out.append(
                Finding(
                    "GW601",
                    ptr,
                    f"[gateway] `{key}` is a gatewayctl setting in loong's config: loong drops it (and every comment) "
                    "the next time it saves this file, and gatewayctl then runs without it",
                    hint="move gatewayctl's settings to gatewayctl.toml: `gatewayctl migrate <this config>` "
                    "(read from here for one deprecation period only)",
                    target=TARGET_KEY,
                )
            )
        else:
            out.append(
                Finding(
                    "GW602",
                    ptr,
                    f"[gateway] `{key}` is ignored: gatewayctl's settings come from {settings_doc.path}",
                    hint=f"remove it from loong's config (`gatewayctl migrate --to {settings_doc.path} <this config>` "
                    "moves what is missing there and removes the rest)",
                    target=TARGET_KEY,
                )
            )
    return out


def one_mistake_one_finding(findings: list[Finding]) -> list[Finding]:
    """Drop "missing X" findings that an unknown-key finding already explains.

    A misspelled required key (`bot_tokn`) is one mistake. Reported as two,
    "missing `bot_token`" comes first (its span is the table header) and its
    hint sends the user to add a value that is already there under a typo;
    the unknown-key finding that guesses `bot_token` says it all. The
    ``_env`` spelling of a key counts as the key.
    """

    def base(name: str) -> str:
        return name[: -len("_env")] if name.endswith("_env") else name

    renamed = {
        (f.pointer.rsplit("/", 1)[0], base(f.fix.arg("to")))
        for f in findings
        if f.code == "GW101" and f.fix is not None and f.fix.action == "rename-key"
    }
    if not renamed:
        return findings
    return [f for f in findings if not (f.missing and all((f.pointer, base(n)) in renamed for n in f.missing))]


def cap_findings(findings: list[Finding], limit: int) -> tuple[list[Finding], int]:
    """At most ``limit`` findings, errors before warnings (each in the order
    found), and how many were left out."""
    if len(findings) <= limit:
        return findings, 0
    from gatewayctl.diagnostics import Severity, code_info

    def is_error(f: Finding) -> bool:
        return (f.severity.value if f.severity else code_info(f.code).severity) == Severity.ERROR.value

    ordered = [f for f in findings if is_error(f)] + [f for f in findings if not is_error(f)]
    return ordered[:limit], len(findings) - limit


def too_many(dropped: int) -> Finding:
    return Finding(
        "GW008",
        "",
        f"{dropped} more diagnostic{'s' if dropped != 1 else ''} not shown "
        f"(at most {MAX_DIAGNOSTICS_PER_FILE} per file, errors first)",
        hint="fix the ones shown and run again; so many usually means a wrong or generated file",
    )


def _with_message(d: Diagnostic, message: str) -> Diagnostic:
    from gatewayctl.records import replace

    return replace(d, message=message)


def sensitive_pointers(data, model) -> list[str]:
    """Pointers of every value that may be a secret: inline secret literals,
    env pointers that hold a pasted secret, URLs with credentials, and any
    secret-looking key outside the channel model.

    Masking goes by what a key *means*, not by whether its value parses:
    under a secret field (or an unknown key that reads like one, such as a
    misspelled ``bot_tokn``) every string is masked unless it is a
    well-formed reference (an env name, a file path, an exec argv); a
    malformed secret (``bot_token = ["S"]``, ``{ value = "S" }``,
    ``{ exec = "S" }``) is exactly where a real secret was pasted wrong."""
    from gatewayctl.catalog import BY_TABLE, fields
    from gatewayctl.validate.secrets import classify, env_name_problem

    out: list[str] = []

    def mask_all(value, ptr: tuple, strings_only: bool = False):
        """Every scalar under ``ptr`` (strings, and numbers unless
        ``strings_only``: a numeric app secret is still a secret)."""
        if isinstance(value, dict):
            for k, v in value.items():
                mask_all(v, ptr + (k,), strings_only)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                mask_all(v, ptr + (i,), strings_only)
        elif isinstance(value, str) or (not strings_only and value is not None and not isinstance(value, bool)):
            out.append(pointer_join(*ptr))

    def scan_secret(value, ptr: tuple):
        if isinstance(value, str):
            if classify(value).kind == "inline":
                out.append(pointer_join(*ptr))
            return
        if not isinstance(value, dict):
            mask_all(value, ptr)
            return
        for k, v in value.items():
            if k == "env" and isinstance(v, str):
                if env_name_problem(v):
                    out.append(pointer_join(*ptr, k))
            elif k == "file" and isinstance(v, str):
                continue  # a path, not a secret
            elif k == "exec" and isinstance(v, list) and all(isinstance(a, str) for a in v):
                continue  # an argv, not a secret
            else:
                mask_all(v, ptr + (k,))

    def secretish(key, specs) -> bool:
        """An unknown key that reads like a secret field: its name says so,
        or it is a near miss of a secret field's name (``bot_tokn``)."""
        if not isinstance(key, str) or key.endswith("_env"):
            return False
        if _SENSITIVE_KEY.search(key):
            return True
        return _near_secret_name(key.lower(), tuple(name for name, spec in specs.items() if spec.secret))

    def scan_table(table: dict, base: tuple, family_id: str | None):
        specs = fields(family_id) if family_id else {}
        for key, value in table.items():
            ptr = base + (key,)
            spec = specs.get(key)
            if spec is not None and spec.secret:
                scan_secret(value, ptr)
            elif spec is None and secretish(key, specs):
                if _looks_like_ref(value):
                    scan_secret(value, ptr)
                else:
                    # Outside the channel model (providers, tools) only
                    # text: `max_tokens = 4096` is not a secret.
                    mask_all(value, ptr, strings_only=family_id is None)
            elif isinstance(value, str):
                if key.endswith("_env") or (spec is None and key == "env"):
                    if env_name_problem(value):
                        out.append(pointer_join(*ptr))
                elif "://" in value and "@" in value.split("://", 1)[1].split("/", 1)[0]:
                    out.append(pointer_join(*ptr))
            elif isinstance(value, dict):
                if key == "accounts" and family_id:
                    for acc_key, acc in value.items():
                        if isinstance(acc, dict):
                            scan_table(acc, ptr + (acc_key,), family_id)
                else:
                    scan_table(value, ptr, None)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, dict):
                        scan_table(item, ptr + (i,), None)

    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(value, dict):
                continue
            fam = BY_TABLE.get(key)
            scan_table(value, (key,), fam.id if fam else None)
    return out


_MATCHERS: dict = {}


def _near_secret_name(word: str, secret_names: tuple, cutoff: float = 0.75) -> bool:
    """difflib's get_close_matches test against a few secret field names,
    with one matcher per name (its index built once): a config with 30,000
    unknown keys must not rebuild an index per key."""
    if not secret_names:
        return False
    import difflib

    matchers = _MATCHERS.get(secret_names)
    if matchers is None:
        matchers = []
        for name in secret_names:
            m = difflib.SequenceMatcher()
            m.set_seq2(name)
            matchers.append(m)
        _MATCHERS[secret_names] = matchers
    for m in matchers:
        m.set_seq1(word)
        if m.real_quick_ratio() >= cutoff and m.quick_ratio() >= cutoff and m.ratio() >= cutoff:
            return True
    return False


def _looks_like_ref(value) -> bool:
    return isinstance(value, dict) and bool(set(value) & {"env", "file", "exec"})
