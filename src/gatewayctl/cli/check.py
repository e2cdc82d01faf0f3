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
    return tuple(channel_accounts) + tuple(selectors)


def source_lines(doc) -> list[str]:
    """Lines as the locator counts them: split on newline only (str.splitlines
    would also split on U+2028, form feeds and the like, and shift snippets)."""
    return [ln[:-1] if ln.endswith("\r") else ln for ln in doc.text.split("\n")]


def mask_lines(doc, pointers) -> tuple[str, ...]:
    """Source lines with every sensitive value replaced by asterisks of the
    same width, so carets still line up and nothing secret is printed."""
    lines = source_lines(doc)
    for ptr in pointers:
        r = doc.locate(ptr, "value")
        if r is None:
            continue
        for ln in range(r.start.line, r.end.line + 1):
            if not 1 <= ln <= len(lines):
                continue
            text = lines[ln - 1]
            a = r.start.column - 1 if ln == r.start.line else 0
            b = r.end.column - 1 if ln == r.end.line else len(text)
            a, b = max(a, 0), min(max(b, a), len(text))
            seg = text[a:b]
            # keep the quotes of a string literal; mask what is inside
            if len(seg) >= 2 and seg[0] == seg[-1] and seg[0] in "\"'":
                masked = seg[0] + "*" * (len(seg) - 2) + seg[-1]
            else:
                masked = "*" * len(seg)
            lines[ln - 1] = text[:a] + masked + text[b:]
    return tuple(lines)


def sensitive_values(doc, pointers) -> set[str]:
    from gatewayctl.diagnostics import pointer_split

    values = set()
    for ptr in pointers:
        node = doc.data
        try:
            for tok in pointer_split(ptr):
                node = node[int(tok)] if isinstance(node, list) else node[tok]
        except (KeyError, IndexError, ValueError, TypeError):
            continue
        if isinstance(node, str) and len(node) >= 4:
            values.add(node)
            if "://" in node and "@" in node:
                userinfo = node.split("://", 1)[1].split("@", 1)[0]
                # "user:password": only the password is secret (scrubbing a
                # user name like "user" would mangle words such as user_id);
                # a bare userinfo is usually a token and is scrubbed whole.
                secret_part = userinfo.split(":", 1)[1] if ":" in userinfo else userinfo
                if len(secret_part) >= 4:
                    values.add(secret_part)
    return values


def scrub(diag, secrets: set[str]):
    """Last line of defence: no rule may echo a sensitive value, but if one
    does, it never reaches the output."""
    from dataclasses import replace

    msg, hint = diag.message, diag.hint
    for s in secrets:
        if s in msg:
            msg = msg.replace(s, "***")
        if s in hint:
            hint = hint.replace(s, "***")
    if msg is diag.message and hint is diag.hint:
        return diag
    return replace(diag, message=msg, hint=hint)


def run_check(settings: CheckSettings, *, stdin_bytes: bytes | None = None) -> CheckOutcome:
    from gatewayctl import __version__
    from gatewayctl.diagnostics import sort_diagnostics
    from gatewayctl.report import FileResult, ReportInput, get_reporter
    from gatewayctl.source import load_document, selector_document
    from gatewayctl.validate import validate

    cli_doc = selector_document(list(settings.selectors)) if settings.selectors else None
    all_diags: dict[tuple, object] = {}
    files: list[FileResult] = []
    sources: dict[str, tuple[str, ...]] = {}
    missing = False
    if cli_doc is not None:
        sources[cli_doc.path] = tuple(source_lines(cli_doc))

    for path in settings.files:
        if path == STDIN:
            shown = settings.stdin_filename or "<stdin>"
            doc, load_diags = load_document(shown, data=stdin_bytes if stdin_bytes is not None else b"")
        else:
            if not os.path.exists(path):
                missing = True
            doc, load_diags = load_document(path)
            shown = path
        file_diags = list(load_diags)
        if doc is not None:
            validated, diags = validate(doc, cli_selectors=cli_doc)
            if diags:
                sensitive = validated.sensitive
                secrets = sensitive_values(doc, sensitive)
                file_diags.extend(scrub(d, secrets) for d in diags)
                sources[doc.path] = mask_lines(doc, sensitive)
        # A file that did not load shows no snippet: without a parse there is
        # no telling which of its values are secrets.
        for d in file_diags:
            all_diags.setdefault((d.path, d.code, d.range, d.message), d)
        own = [d for d in file_diags if d.path == shown]
        has_error = any(d.is_error for d in own) or (settings.strict and bool(own))
        files.append(FileResult(shown, valid=not has_error, loaded=doc is not None))

    report = ReportInput(
        diagnostics=tuple(sort_diagnostics(all_diags.values())),
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


def _want_color(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


@click.command(
    "check",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 no errors (warnings allowed unless --strict), 1 errors found, 2 usage error (bad option, no such file).",
)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=True, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(REPORTER_NAMES), default="text", show_default=True, help="Output format.")
@click.option("--strict", is_flag=True, help="Treat warnings as failures (exit 1).")
@click.option(
    "--channel-account",
    "channel_accounts",
    multiple=True,
    metavar="CHANNEL=ACCOUNT",
    help="Selector to check (repeatable). Replaces the config's [gateway] channel_accounts list; does not merge.",
)
@click.option(
    "--selectors",
    multiple=True,
    metavar="LIST",
    help='Comma-separated selectors, e.g. "lark=work,wecom=alerts" (combines with --channel-account).',
)
@click.option("--stdin-filename", metavar="NAME", help="Name to report for the config read from stdin ('-'); its suffix picks the format.")
@click.option("--color/--no-color", "color", default=None, help="Colour the text output (default: when stdout is a terminal and NO_COLOR is unset).")
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
    stdin_bytes = sys.stdin.buffer.read() if STDIN in files else None
    outcome = run_check(settings, stdin_bytes=stdin_bytes)
    sys.stdout.write(outcome.output)
    sys.stdout.flush()
    sys.exit(outcome.exit_code)
