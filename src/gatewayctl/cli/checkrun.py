"""What `gatewayctl check` does once its options are read: run_check()
builds the parts and orchestrates; execute() is the whole command after
option parsing, shared by the click command (cli/check.py) and the
click-free fast path (cli/fastcheck.py), so the two cannot differ.

A load failure is a value: one bad file never stops the run. Imports no
click: a cold `check` must not pay for it.
"""

from __future__ import annotations

import os
import sys

from gatewayctl.cli import exitcodes
from gatewayctl.inputs import MAX_CONFIG_BYTES, read_stream
from gatewayctl.records import record
from gatewayctl.report import REPORTER_NAMES

STDIN = "-"


@record
class CheckSettings:
    files: tuple[str, ...]
    fmt: str = "text"
    strict: bool = False
    selectors: tuple[str, ...] = ()  # raw CLI selector texts, in order
    stdin_filename: str | None = None
    color: bool = False
    jobs: int = 1  # processes to lint with (pipeline.lint_files); the output does not depend on it


@record
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
    from gatewayctl.pipeline import dedupe, lint_file, lint_files, selector_doc
    from gatewayctl.report import FileResult, ReportInput, get_reporter

    cli_doc = selector_doc(settings.selectors)
    all_diags: list = []
    files: list[FileResult] = []
    counted: set[str] = set()  # files' paths: a list scan here made a 1,000-file run quadratic
    sources: dict[str, tuple[str, ...]] = {}
    missing = False

    linted = iter(lint_files([p for p in settings.files if p != STDIN], jobs=settings.jobs, cli_selectors=cli_doc))
    for path in settings.files:
        if path == STDIN:
            shown = settings.stdin_filename or "<stdin>"
            result = lint_file(shown, data=stdin_bytes if stdin_bytes is not None else b"", cli_selectors=cli_doc)
            if settings.stdin_filename is None:
                result = _hint_stdin_format(result)
        else:
            if not os.path.exists(path):
                missing = True
            result = next(linted)
        sources.update(result.sources)
        all_diags.extend(result.diagnostics)
        # A gatewayctl settings file brings the loong config it names.
        for shown, loaded in result.inputs or ((result.shown, result.loaded),):
            if shown in counted:
                continue  # named by two settings files, or given too: counted once
            counted.add(shown)
            own = [d for d in result.diagnostics if d.path == shown]
            has_error = any(d.is_error for d in own) or (settings.strict and bool(own))
            files.append(FileResult(shown, valid=not has_error, loaded=loaded))

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
    from gatewayctl.records import replace

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


# Set by cli.main when gatewayctl runs as its own process (never for a
# caller that runs main() inside its own interpreter, such as the tests).
END_PROCESS = False


def execute(files, fmt, strict, channel_accounts, selectors, stdin_filename, color, jobs=0) -> None:
    """Lint ``files`` and exit with check's exit code. The caller has
    refused an empty ``files`` and a second '-' (usage errors). ``jobs``
    0: one process per CPU."""
    from gatewayctl.pipeline import default_jobs

    settings = CheckSettings(
        jobs=jobs or default_jobs(),
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
    if END_PROCESS:
        # Nothing is left to do but free memory the kernel frees anyway:
        # tearing down the interpreter after a thousand files costs 10-15 ms.
        sys.stderr.flush()
        os._exit(outcome.exit_code)
    sys.exit(outcome.exit_code)
