"""`gatewayctl check`: lint channel configs.

The click command only fills CheckSettings; run_check() builds the parts and
orchestrates. A load failure is a value: one bad file never stops the run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from gatewayctl.cli import exitcodes
from gatewayctl.inputs import MAX_CONFIG_BYTES, read_stream
from gatewayctl.report import REPORTER_NAMES

STDIN = "-"


@dataclass(frozen=True, slots=True)
class CheckSettings:
    files: tuple[str, ...]
    fmt: str = "text"
    strict: bool = False
    selectors: tuple[str, ...] = ()  # raw CLI selector texts, in order
    stdin_filename: str | None = None
    color: bool = False


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    output: str
    exit_code: int


def selector_texts(channel_accounts, selectors) -> tuple[str, ...]:
    """The selector values, one selector each, as loong reads
    --channel-account: a --channel-account value is one selector (a comma in
    it belongs to the account id); a --selectors list is gatewayctl's
    shorthand for repeating the flag, so it is split at its commas."""
    return tuple(channel_accounts) + tuple(part for text in selectors for part in text.split(","))


def run_check(settings: CheckSettings, *, stdin_bytes: bytes | None = None) -> CheckOutcome:
    from gatewayctl import __version__
    from gatewayctl.diagnostics import sort_diagnostics
    from gatewayctl.pipeline import dedupe, lint_file, selector_doc
    from gatewayctl.report import FileResult, ReportInput, get_reporter

    cli_doc = selector_doc(settings.selectors)
    all_diags: list = []
    files: list[FileResult] = []
    sources: dict[str, tuple[str, ...]] = {}
    missing = False

    for path in settings.files:
        if path == STDIN:
            shown = settings.stdin_filename or "<stdin>"
            result = lint_file(shown, data=stdin_bytes if stdin_bytes is not None else b"", cli_selectors=cli_doc)
            if settings.stdin_filename is None:
                result = _hint_stdin_format(result)
        else:
            if not os.path.exists(path):
                missing = True
            result = lint_file(path, cli_selectors=cli_doc)
        sources.update(result.sources)
        all_diags.extend(result.diagnostics)
        own = [d for d in result.diagnostics if d.path == result.shown]
        has_error = any(d.is_error for d in own) or (settings.strict and bool(own))
        files.append(FileResult(result.shown, valid=not has_error, loaded=result.loaded))

    report = ReportInput(
        diagnostics=tuple(sort_diagnostics(dedupe(all_diags))),
        files=tuple(files),
        sources=sources,
        color=settings.color,
        strict=settings.strict,
        tool_version=__version__,
    )
    output = get_reporter(settings.fmt)(report)
    if missing:
        code = exitcodes.USAGE
    elif not report.valid:
        code = exitcodes.DIAGNOSTICS
    else:
        code = exitcodes.OK
    return CheckOutcome(output, code)


def _hint_stdin_format(result):
    """Unnamed stdin is read as TOML (loong's format); when that fails, say so
    and how to name YAML or JSON, since the content may well be either."""
    from dataclasses import replace

    extra = (
        "Stdin without --stdin-filename is read as TOML; for YAML or JSON pass "
        "--stdin-filename config.yaml (or config.json)."
    )
    diags = tuple(
        replace(d, hint=f"{d.hint} {extra}".strip() if d.hint else extra) if d.code == "GW002" else d
        for d in result.diagnostics
    )
    return replace(result, diagnostics=diags)


def _want_color(flag: bool | None, stream=None) -> bool:
    """Colour for ``stream`` (default stdout, where `check` writes its report)."""
    from gatewayctl.cli.colour import want_color

    return want_color(flag, sys.stdout if stream is None else stream)


@click.command(
    "check",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 no errors (warnings allowed unless --strict), 1 errors found, 2 usage error (bad option, no such file).",
)
# readable=False: an unreadable file is the loader's GW001 in the chosen
# format, not a usage error that leaves --format json with no output.
@click.argument("files", nargs=-1, type=click.Path(dir_okay=True, allow_dash=True, readable=False))
@click.option("--format", "fmt", type=click.Choice(REPORTER_NAMES), default="text", show_default=True, help="Output format.")
@click.option("--strict", is_flag=True, help="Treat warnings as failures (exit 1).")
@click.option(
    "--channel-account",
    "channel_accounts",
    multiple=True,
    metavar="CHANNEL=ACCOUNT",
    help="Selector to check (repeatable; one value is one selector, as in loong). Replaces the config's [gateway] channel_accounts list; does not merge.",
)
@click.option(
    "--selectors",
    multiple=True,
    metavar="LIST",
    help='Comma-separated selectors, e.g. "lark=work,wecom=alerts": shorthand for repeating --channel-account (combines with it).',
)
@click.option("--stdin-filename", metavar="NAME", help="Name to report for the config read from stdin ('-'); its suffix picks the format.")
@click.option("--color/--no-color", "color", default=None, help="Colour the text output (default: when stdout is a terminal, TERM is not dumb and NO_COLOR is unset; FORCE_COLOR forces it).")
def check(files, fmt, strict, channel_accounts, selectors, stdin_filename, color):
    """Lint channel configs (TOML, YAML or JSON) with exact locations and fix hints.

    Checks many files in one run; a file that cannot be read or parsed is
    reported and the others are still checked. Use '-' to read one config
    from stdin.
    """
    if not files:
        raise click.UsageError("no config files given (use '-' to read from stdin)")
    if files.count(STDIN) > 1:
        raise click.UsageError("'-' (stdin) may be given only once")
    settings = CheckSettings(
        files=tuple(files),
        fmt=fmt,
        strict=strict,
        selectors=selector_texts(channel_accounts, selectors),
        stdin_filename=stdin_filename,
        color=_want_color(color),
    )
    # At most one byte over the limit: the loader then refuses it (GW001)
    # instead of growing with whatever is piped in (`< /dev/zero`).
    stdin_bytes = read_stream(sys.stdin.buffer, MAX_CONFIG_BYTES) if STDIN in files else None
    outcome = run_check(settings, stdin_bytes=stdin_bytes)
    sys.stdout.write(outcome.output)
    sys.stdout.flush()
    sys.exit(outcome.exit_code)
