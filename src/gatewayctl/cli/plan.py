"""`gatewayctl plan` (compile, show, verify) and `gatewayctl channels`.

The click commands only fill settings objects; run_plan(), run_show(),
run_verify() and run_channels() do the work and return an outcome (text and
exit code), so tests call them without a process. Exit codes come from
cli/exitcodes.py and are decided here.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import click

from gatewayctl.cli import exitcodes
from gatewayctl.compile.plan import MODES
from gatewayctl.diagnostics import escape_controls

PORT_ENV = "GATEWAYCTL_GATEWAY_PORT"

_EXIT_EPILOG = (
    "\b\nExit codes:\n"
    "  0  plan written\n"
    "  1  the settings, the config or the selectors have errors (diagnostics printed, no plan written)\n"
    "  2  usage error (bad option, no gatewayctl.toml here and no --file/--config)\n"
    " 10  the --out file could not be written\n"
    "\b\nplan verify / plan show exit codes:\n"
    "  0  plan is intact, of a known format and (verify) exactly what its unchanged config compiles to\n"
    "  4  tampered: the content does not match its plan_sha256, or (verify) not what its config compiles to\n"
    "  5  unknown format_version: a plan format this gatewayctl does not read\n"
    "  6  stale: the config changed since the plan was made (verify only)\n"
    "  7  unreadable: missing file, not a regular file, too large, or not a valid plan\n"
    " 12  made by another gatewayctl version (verify only): re-create it with this one\n"
)
# Each subcommand lists its own codes: `plan show --help` must not promise
# "plan written".
_SHOW_EPILOG = (
    "\b\nExit codes:\n"
    "  0  the plan is intact and of a known format (shown)\n"
    "  2  usage error\n"
    "  4  tampered: the plan's content does not match its plan_sha256\n"
    "  5  unknown format_version: made by another gatewayctl version\n"
    "  7  unreadable: missing file or not a plan\n"
)
_VERIFY_EPILOG = (
    "\b\nExit codes (of the first plan that fails):\n"
    "  0  every plan is intact, of a known format and its config unchanged (or --allow-stale)\n"
    "  2  usage error\n"
    "  4  tampered: the plan's content does not match its plan_sha256\n"
    "  5  unknown format_version: made by another gatewayctl version\n"
    "  6  stale: the config changed since the plan was made\n"
    "  7  unreadable: missing file or not a plan\n"
)


@dataclass(frozen=True, slots=True)
class Outcome:
    stdout: str
    stderr: str
    exit_code: int


@dataclass(frozen=True, slots=True)
class PlanSettings:
    config: str
    selectors: tuple[str, ...] = ()  # raw CLI selector texts; empty: use the config's list
    mode: str = "gateway_headless"
    session: str | None = None
    port: int | None = None
    env_port: str | None = None
    allow_inline_secrets: bool = False
    out: str | None = None
    fmt: str = "text"
    color: bool = False
    # The closing line under text diagnostics: what did not happen, what to run next.
    after_errors: str = "no plan written: fix the errors above and run `gatewayctl plan` again"


# ------------------------------------------------------------------- plan


def run_plan(settings: PlanSettings) -> Outcome:
    """check + compile; writes the plan only when there is no error."""
    from gatewayctl import __version__
    from gatewayctl.compile import planfile
    from gatewayctl.compile.compiler import CompileOptions
    from gatewayctl.diagnostics import sort_diagnostics
    from gatewayctl.pipeline import dedupe, lint_and_compile, selector_doc
    from gatewayctl.report import FileResult, ReportInput, get_reporter

    options = CompileOptions(
        mode=settings.mode,
        session=settings.session,
        port=settings.port,
        env_port=settings.env_port,
        allow_inline_secrets=settings.allow_inline_secrets,
        generator_version=__version__,
    )
    problem = options.problem()
    if problem is not None:
        return Outcome("", f"Error: {problem}\n", exitcodes.USAGE)
    if not _utf8(settings.config):
        # The plan records the path as given, in canonical UTF-8 JSON: a
        # file name that is not UTF-8 text (bytes the OS hands over as
        # surrogate escapes) cannot be written into it.
        return Outcome(
            "",
            escape_controls(f"Error: the config path {settings.config} is not UTF-8 text; a plan records it: rename the file")
            + "\n",
            exitcodes.USAGE,
        )

    result, plan = lint_and_compile(settings.config, options, cli_selectors=selector_doc(settings.selectors))
    diags = result.diagnostics
    has_error = result.has_errors
    stderr = ""
    if diags:
        report = ReportInput(
            diagnostics=tuple(sort_diagnostics(dedupe(diags))),
            files=tuple(
                FileResult(path, valid=not any(d.is_error and d.path == path for d in diags), loaded=loaded)
                for path, loaded in result.inputs
            ),
            sources=result.sources,
            color=settings.color,
            tool_version=__version__,
        )
        stderr = get_reporter(settings.fmt)(report)
        if has_error and settings.fmt == "text":  # JSON output stays one object
            stderr += settings.after_errors + "\n"
    if has_error or plan is None:
        return Outcome("", stderr, exitcodes.DIAGNOSTICS)

    data = planfile.dumps(plan)
    if settings.out is None:
        return Outcome(data.decode("utf-8"), stderr, exitcodes.OK)
    try:
        digest = planfile.write(plan, settings.out)
    except planfile.PlanError as exc:
        return Outcome("", stderr + escape_controls(exc.message) + "\n", exitcodes.USAGE)
    except OSError as exc:
        return Outcome("", stderr + f"cannot write plan {settings.out}: {exc.strerror or exc}\n", exitcodes.IO_ERROR)
    lanes = ", ".join(lane.name for lane in plan.lanes)
    if settings.fmt == "json":
        summary = json.dumps(
            {"plan": settings.out, "plan_sha256": digest, "lanes": [lane.name for lane in plan.lanes]}, sort_keys=True
        )
    else:
        summary = f"wrote {settings.out}: {len(plan.lanes)} lane{'s' if len(plan.lanes) != 1 else ''} ({lanes}), plan_sha256 {digest}"
    return Outcome(escape_controls(summary) + "\n", stderr, exitcodes.OK)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ------------------------------------------------------------ show/verify


def _plan_error_outcome(exc) -> Outcome:
    return Outcome("", escape_controls(f"error: {exc.message}") + "\n", exitcodes.PLAN_ERROR_EXIT.get(exc.kind, exitcodes.PLAN_UNREADABLE))


def run_show(path: str, *, base_dir: str | None = None, as_json: bool = False) -> Outcome:
    from gatewayctl.compile import planfile

    try:
        plan = planfile.load(path)
    except planfile.PlanError as exc:
        return _plan_error_outcome(exc)
    state = planfile.check_stale(plan, base_dir=base_dir)
    if as_json:
        body = json.loads(planfile.read_bytes(path))
        body["stale"] = state.stale
        return Outcome(json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n", "", exitcodes.OK)
    return Outcome(describe(plan, planfile.digest(plan), state.message), "", exitcodes.OK)


def describe(plan, digest: str, config_state: str | None = None) -> str:
    """A human summary of a plan: what would run, from where, and why."""
    from gatewayctl.compile.plan import thaw

    lines = [
        f"plan {digest}",
        f"  made by      {plan.generator_name} {plan.generator_version} (format_version {plan.format_version})",
        f"  config       {plan.config_path} (sha256 {plan.config_sha256[:16]}...)"
        + (f": {config_state}" if config_state else ""),
        (
            f"  settings     {plan.settings_path} (sha256 {plan.settings_sha256[:16]}...)"
            if plan.settings_path is not None
            else "  settings     [gateway] of the config (deprecated place: `gatewayctl migrate`)"
        ),
        f"  owner        {plan.mode}" + (f", session {plan.session!r}" if plan.session else ""),
        f"  control      {plan.control.bind}:{plan.control.port}"
        + (" (ephemeral)" if plan.control.port == 0 else "")
        + f" (port from {plan.control.port_source})",
        "  restart      "
        + (
            "never (fail closed on the first lane failure)"
            if plan.restart.policy == "never"
            else f"on-failure, at most {plan.restart.max_restarts} in {plan.restart.window_s:g}s, "
            f"backoff {plan.restart.backoff_initial_s:g}s..{plan.restart.backoff_max_s:g}s, then fail closed"
        ),
        f"  stop grace   {plan.stop_grace_s:g}s",
        "  handler      " + _handler_text(plan.handler),
        "  lanes run as "
        + (
            "the owner's user (a root owner refuses: set [worker] user)"
            if plan.run_as is None
            else f"user {plan.run_as.user}" + (f", group {plan.run_as.group}" if plan.run_as.group else "")
            + ", no supplementary groups"
        ),
        f"  private hosts {'allowed' if plan.allow_private_hosts else 'refused'}",
        *_fleet_lines(plan),
        f"  lanes ({len(plan.lanes)}):",
    ]
    for lane in plan.lanes:
        why = {
            "selector": f"selected by {lane.alias}={lane.account_label}",
            "explicit_default": "default_account names it",
            "mapped_default": "its key normalizes to `default`",
            "fallback": "first account in sort order (no default_account)",
            "single_account": "single-account family",
        }.get(lane.account_source, lane.account_source)
        lines.append(f"    {lane.name}  ({why})")
        lines.append(f"      worker    {' '.join(_quote(a) for a in lane.worker)}")
        for s in lane.secrets:
            ref = " ".join(s.ref) if isinstance(s.ref, tuple) else s.ref
            lines.append(f"      secret    {s.field} <- {s.kind} {ref}")
        if lane.env:
            lines.append(f"      env       {', '.join(lane.env)}")
        settings = thaw(lane.settings)
        for key in sorted(settings):
            lines.append(f"      setting   {key} = {json.dumps(settings[key], ensure_ascii=False)}")
    # Paths, argv items, labels and settings come from the config: never
    # print their control characters as themselves.
    return "\n".join(escape_controls(line) for line in lines) + "\n"


def _fleet_lines(plan) -> list[str]:
    """The fleet a plan runs in and its lease budget (docs/fleet.md); none
    for a plan without one (the local slot alone), whose summary stays as
    it was."""
    fleet = plan.fleet
    if fleet is None:
        return []
    b = fleet.budget(plan.stop_grace_s)

    def s(value: float) -> str:
        return f"{value:.2f}".rstrip("0").rstrip(".") + "s"

    lines = [
        f"  fleet        {fleet.backend}, prefix {fleet.prefix}, host id "
        + (fleet.host_id if fleet.host_id is not None else "(the host name, or gateway run --host-id)"),
        f"    endpoints  {', '.join(fleet.endpoints)}",
        f"    lease      ttl {s(b.ttl_s)}, renewed every {s(b.renew_every_s)} (each request within {s(b.request_timeout_s)})",
        f"    lanes      stop taking work {s(b.lane_stop_after_s)} and are gone {s(b.lane_dead_after_s)} after a renewal "
        f"is sent (margin {s(b.margin_s)}, stop grace {s(b.stop_grace_s)})",
        f"    view       read every {s(b.poll_s)}; settle {s(b.settle_s)} before the first claim",
    ]
    for cred in (fleet.username, fleet.password):
        if cred is not None:
            lines.append(f"    {cred.field:<10} <- {cred.kind} {cred.ref}")
    return lines


def _handler_text(handler) -> str:
    if handler is None:
        return "none"
    if handler.kind == "exec":
        return f"exec {' '.join(_quote(a) for a in handler.exec)} (timeout {handler.timeout_s:g}s)"
    if handler.kind == "url":
        return f"url {handler.url} (timeout {handler.timeout_s:g}s)"
    return "echo (built-in)"


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg) if arg and not arg.startswith("{") else (arg or "''")


def prove_plan(plan, *, source: str, base_dir: str | None, allow_stale: bool, recompile: bool = True) -> str:
    """Everything beyond the loader's checks that a saved plan must pass
    before it is trusted; raises planfile.PlanError, returns what was proven.

    With ``recompile``: made by this gatewayctl version ("generator"), its
    config unchanged ("stale", unless ``allow_stale``) and exactly what that
    config compiles to with the recorded options ("tampered"). A stale
    config allowed by ``allow_stale`` cannot be recompiled: the result says
    so. Without ``recompile`` only the staleness check runs."""
    from gatewayctl import __version__
    from gatewayctl.compile import planfile
    from gatewayctl.pipeline.verify import recompile_check

    if recompile:
        planfile.check_generator(plan, __version__, source=source)
    inputs = f"config {plan.config_path}" + (
        f" and settings {plan.settings_path}" if plan.settings_path is not None else ""
    )
    state = planfile.check_stale(plan, base_dir=base_dir)
    if state.stale:
        if not allow_stale:
            raise planfile.PlanError("stale", state.message)
        changed = ", ".join(
            f"{label} {path}"
            for label, path, sha in (
                ("config", plan.config_path, plan.config_sha256),
                ("settings", plan.settings_path, plan.settings_sha256),
            )
            if path is not None and planfile.input_changed(path, sha, base_dir) is not None
        )
        return f"{changed} changed since (--allow-stale): content not recompiled"
    if not recompile:
        return f"{inputs} unchanged; content not recompiled"
    recompile_check(plan, source=source, base_dir=base_dir, generator_version=__version__)
    verb = "compile" if plan.settings_path is not None else "compiles"
    return f"{inputs} unchanged and {verb} to exactly this plan"


def run_verify(paths, *, base_dir: str | None = None, allow_stale: bool = False) -> Outcome:
    """Verify each plan; the exit code is that of the first failing file."""
    from gatewayctl.compile import planfile

    out: list[str] = []
    err: list[str] = []
    code = exitcodes.OK
    for path in paths:
        try:
            plan = planfile.load(path)
            proven = prove_plan(plan, source=path, base_dir=base_dir, allow_stale=allow_stale)
        except planfile.PlanError as exc:
            err.append(escape_controls(f"{path}: {_LABEL.get(exc.kind, exc.kind)}: {_without_path(exc.message, path)}"))
            if code == exitcodes.OK:
                code = exitcodes.PLAN_ERROR_EXIT.get(exc.kind, exitcodes.PLAN_UNREADABLE)
            continue
        inputs = f"config {plan.config_path}" + (
            f" and settings {plan.settings_path}" if plan.settings_path is not None else ""
        )
        out.append(
            escape_controls(
                f"{path}: ok: plan_sha256 {planfile.digest(plan)}, {len(plan.lanes)} lane"
                f"{'s' if len(plan.lanes) != 1 else ''}, {proven}"
            )
        )
    return Outcome("".join(line + "\n" for line in out), "".join(line + "\n" for line in err), code)


def _without_path(message: str, path: str) -> str:
    """The plan reader names the file in its messages; the verify line already starts with it."""
    if message.startswith(f"{path}: "):
        return message[len(path) + 2 :]
    return message.replace(f"cannot read plan {path}: ", "cannot read plan: ", 1)


_LABEL = {
    "tampered": "tampered",
    "version": "unknown format version",
    "stale": "stale",
    "unreadable": "unreadable",
    "malformed": "not a plan",
    "generator": "made by another gatewayctl version",
}


# --------------------------------------------------------------- channels


def run_channels(config: str, *, as_json: bool = False) -> Outcome:
    from gatewayctl.compile.channels import describe_channels
    from gatewayctl.pipeline import is_settings_file, loong_config_path
    from gatewayctl.source import load_document
    from gatewayctl.validate.model import build_model

    doc, diags = load_document(config)
    if doc is not None and is_settings_file(doc.path, doc.data):
        # A gatewayctl settings file: describe the loong config it names.
        named = loong_config_path(doc.path, doc.data)
        if named is None:
            return Outcome("", f"{config}: names no loong config (set loong_config)\n", exitcodes.DIAGNOSTICS)
        config = named
        doc, diags = load_document(config)
    if doc is None:
        # The same report `check` gives: path:line:column, snippet, hint.
        from gatewayctl import __version__
        from gatewayctl.pipeline import lint_file
        from gatewayctl.report import FileResult, ReportInput, get_reporter

        result = lint_file(config)
        report = ReportInput(
            diagnostics=tuple(result.diagnostics),
            files=(FileResult(config, valid=False, loaded=False),),
            sources=result.sources,
            color=False,
            tool_version=__version__,
        )
        return Outcome("", get_reporter("text")(report), exitcodes.DIAGNOSTICS)
    rows = describe_channels(build_model(doc.data))
    if as_json:
        body = {"config": config, "families": [r.to_json() for r in rows]}
        return Outcome(json.dumps(body, sort_keys=True, indent=2, ensure_ascii=False) + "\n", "", exitcodes.OK)
    if not rows:
        return Outcome(escape_controls(f"{config}: no channel families configured") + "\n", "", exitcodes.OK)
    lines = []
    for r in rows:
        state = "enabled" if r.enabled else "disabled"
        lines.append(f"{r.family} [{r.table}]  {r.class_label}, {state}")
        if r.runs_in_gateway is not None:
            lines.append(f"  gateway     {r.runs_in_gateway}")
        if r.accounts:
            shown = ", ".join(a.id + ("" if a.enabled else " (disabled)") for a in r.accounts)
            lines.append(f"  accounts    {shown}")
        else:
            lines.append("  accounts    single-account shape (no [accounts] table)")
        lines.append(f"  default     {r.default_id or '(derived from credentials at run time)'}: {r.default_reason}")
    return Outcome("\n".join(escape_controls(line) for line in lines) + "\n", "", exitcodes.OK)


# ------------------------------------------------------------------ click


def _want_color(flag, stream=None):
    from gatewayctl.cli.colour import want_color

    return want_color(flag, sys.stdout if stream is None else stream)


_CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.group(
    "plan",
    invoke_without_command=True,
    context_settings=_CONTEXT,
    epilog=_EXIT_EPILOG,
    subcommand_metavar="[show PLAN | verify PLAN... | diff [OLD] NEW]",
)
@click.option(
    "--file",
    "settings_file",
    metavar="FILE",
    help="gatewayctl's settings file (default: ./gatewayctl.toml); it names the loong config.",
)
@click.option(
    "--config",
    "config",
    metavar="FILE",
    help="A loong config alone, its gatewayctl settings read from [gateway] (deprecated: `gatewayctl migrate`).",
)
@click.option(
    "--channel-account",
    "channel_accounts",
    multiple=True,
    metavar="CHANNEL=ACCOUNT",
    help="Select the account a family runs (repeatable). Command-line selectors REPLACE the settings' "
    "channel_accounts list; they do not merge with it.",
)
@click.option(
    "--selectors",
    multiple=True,
    metavar="LIST",
    help='Comma-separated selectors, e.g. "lark=work,wecom=alerts": shorthand for repeating --channel-account; combines with it, '
    "and together they replace the config's list.",
)
@click.option("--session", metavar="NAME", help="Attached CLI session name (implies --mode gateway_attached_cli).")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    help="Owner mode. Default: gateway_attached_cli with --session, else gateway_headless. "
    "multi_channel_serve needs --session.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help=f"Control API port (0: a free port picked at run time). Else ${PORT_ENV}, else the settings' control_port, "
    "else loong's [gateway] port, else 26306.",
)
@click.option(
    "--allow-inline-secrets",
    is_flag=True,
    help="Accept inline secret literals: the plan then holds a JSON pointer into the config, never the value.",
)
@click.option("--out", metavar="FILE", help="Write the plan here (atomically) instead of stdout.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Format of the diagnostics (printed on stderr) and of the --out summary.",
)
@click.option(
    "--color/--no-color",
    "color",
    default=None,
    help="Colour the diagnostics (default: when stderr is a terminal, TERM is not dumb and NO_COLOR is unset; FORCE_COLOR forces it; FORCE_COLOR=0 or false turns it off).",
)
@click.pass_context
def plan(ctx, settings_file, config, channel_accounts, selectors, session, mode, port, allow_inline_secrets, out, fmt, color):
    """Compile gatewayctl's settings and the loong config they name into an
    immutable launch plan.

    Runs everything `gatewayctl check` runs on the settings file, both
    verdicts (would loong accept the config, can gatewayctl run it); on any
    error it prints the diagnostics and exits 1 without writing a plan. The
    plan is canonical JSON with a plan_sha256 digest and both files'
    digests: the same inputs give the same bytes on any machine. Enabled
    gateway-supervised families that are not selected run their default
    account.

    \b
    gatewayctl plan --out plan.json                       # ./gatewayctl.toml
    gatewayctl plan --file ops/gatewayctl.toml --channel-account lark=work
    gatewayctl plan show plan.json
    gatewayctl plan verify plan.json [--config-dir DIR]
    """
    if ctx.invoked_subcommand is not None:
        if (
            settings_file or config or channel_accounts or selectors or session or mode or port is not None
            or out or allow_inline_secrets
        ):
            raise click.UsageError(f"plan options go without a subcommand, not before `{ctx.invoked_subcommand}`")
        return
    config = input_file(settings_file, config)
    if mode is None:
        mode = "gateway_attached_cli" if session is not None else "gateway_headless"
    from gatewayctl.cli.check import selector_texts

    settings = PlanSettings(
        config=config,
        selectors=selector_texts(channel_accounts, selectors),
        mode=mode,
        session=session,
        port=port,
        env_port=os.environ.get(PORT_ENV),
        allow_inline_secrets=allow_inline_secrets,
        out=out,
        fmt=fmt,
        color=_want_color(color, sys.stderr),  # the diagnostics go to stderr
    )
    _finish(run_plan(settings))


@plan.command("show", context_settings=_CONTEXT, epilog=_SHOW_EPILOG)
@click.argument("plan_file", metavar="PLAN")
@click.option("--config-dir", metavar="DIR", help="Resolve a relative config path against DIR (default: current directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan JSON (verified) with a `stale` flag.")
def show(plan_file, config_dir, as_json):
    """Human summary of a saved plan (its digest and version are checked)."""
    _finish(run_show(plan_file, base_dir=config_dir, as_json=as_json))


@plan.command("verify", context_settings=_CONTEXT, epilog=_VERIFY_EPILOG)
@click.argument("plan_files", metavar="PLAN...", nargs=-1, required=True)
@click.option("--config-dir", metavar="DIR", help="Resolve the plan's relative config and settings paths against DIR (default: current directory).")
@click.option("--allow-stale", is_flag=True, help="Do not fail when the config or settings changed since the plan was made.")
def verify(plan_files, config_dir, allow_stale):
    """Check saved plans: format version, digest (tampering) and staleness.

    A plan is stale when its loong config's or its gatewayctl settings
    file's SHA-256 differs from the one recorded in the plan. Several plans may be given (pre-commit passes
    many); the exit code is that of the first one that fails.
    """
    _finish(run_verify(plan_files, base_dir=config_dir, allow_stale=allow_stale))


@click.command("channels", context_settings=_CONTEXT)
@click.option("--config", "config", metavar="FILE", required=True, help="The config to describe.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def channels(config, as_json):
    """Show each channel family of a config: its catalog class (gateway-supervised,
    native-serve, plugin-bridge, outbound-only, catalog-only), whether it is
    enabled, its accounts, and its default account and why."""
    if not os.path.exists(config):
        raise click.UsageError(f"config file {config!r} does not exist")
    _finish(run_channels(config, as_json=as_json))


def input_file(settings_file: str | None, config: str | None) -> str:
    """The file a plan is made from: --file (a settings file), --config (a
    loong config alone, or a settings file), else ./gatewayctl.toml."""
    from gatewayctl.pipeline import find_settings

    if settings_file and config:
        raise click.UsageError(
            "give --file (gatewayctl.toml, which names the loong config) or --config (a loong config alone), not both"
        )
    path = settings_file or config
    if path is None:
        path = find_settings(".")
        if path is None:
            raise click.UsageError(
                "no gatewayctl.toml in the current directory: give --file FILE (or --config for a loong config "
                "alone), or use `plan show PLAN` / `plan verify PLAN`"
            )
    if not os.path.exists(path):
        what = "settings file" if settings_file else "config file"
        raise click.UsageError(f"{what} {path!r} does not exist")
    return path


def _finish(outcome: Outcome) -> None:
    if outcome.stderr:
        sys.stderr.write(outcome.stderr)
        sys.stderr.flush()
    if outcome.stdout:
        sys.stdout.write(outcome.stdout)
        sys.stdout.flush()
    sys.exit(outcome.exit_code)


def _register_diff() -> None:
    from gatewayctl.cli.plandiff import diff

    plan.add_command(diff)


_register_diff()
