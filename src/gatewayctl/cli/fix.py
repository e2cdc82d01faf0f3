"""`gatewayctl fix`: apply the fixes the rules declare.

The click command fills FixSettings; run_fix() calls the fix package (which
runs the pipeline's one lint pass) per file, writes or diffs, and decides
the exit code. Nothing here loads or validates a config itself.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from gatewayctl.cli import exitcodes


@dataclass(frozen=True, slots=True)
class FixSettings:
    files: tuple[str, ...]
    diff: bool = False
    select: frozenset[str] | None = None
    unsafe: bool = False
    color: bool = False


@dataclass(frozen=True, slots=True)
class FixOutcome:
    stdout: str
    stderr: str
    exit_code: int


def parse_select(values) -> frozenset[str] | None:
    """`--select GW101,GW212 --select GW701` -> the codes; usage error for
    a code gatewayctl does not have."""
    from gatewayctl.diagnostics import CODES

    codes = {c.strip().upper() for v in values for c in v.split(",") if c.strip()}
    if not values:
        return None
    unknown = sorted(c for c in codes if c not in CODES)
    if unknown:
        raise click.BadParameter(f"unknown code(s): {', '.join(unknown)} (see docs/rules.md)", param_hint="--select")
    return frozenset(codes)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_fix(settings: FixSettings) -> FixOutcome:
    from gatewayctl import __version__
    from gatewayctl.diagnostics import escape_controls, sort_diagnostics
    from gatewayctl.fix import diff, fix_file, write
    from gatewayctl.report import FileResult, ReportInput, get_reporter

    out: list[str] = []
    err: list[str] = []
    remaining: list = []
    sources: dict = {}
    files: list[FileResult] = []
    missing = write_failed = False
    fixed_total = hidden = 0
    for path in settings.files:
        if not os.path.exists(path):
            missing = True
        ff = fix_file(path, select=settings.select, unsafe=settings.unsafe)
        result = ff.after
        left = [d for d in result.diagnostics if settings.select is None or d.code in settings.select or result.doc is None]
        remaining.extend(left)
        sources.update(result.sources)
        files.append(FileResult(result.shown, valid=not left, loaded=result.loaded))
        hidden += ff.unsafe_skipped
        shown = escape_controls(path)
        for r in ff.refused:
            err.append(f"{shown}:{r.line}: {r.code} not fixed: {r.reason}")
        if not ff.changed:
            continue
        fixed_total += len(ff.applied)
        if settings.diff:
            out.append(diff(ff))
            continue
        try:
            write(ff)
        except OSError as exc:
            write_failed = True
            err.append(f"{shown}: cannot write the fixed config: {exc.strerror or exc}; the file is unchanged")
            continue
        for s in ff.secret_files:
            err.append(f"{shown}: moved an inline secret to {escape_controls(s.path)} (mode 0600); ship it with the config")

    if not settings.diff:
        report = ReportInput(
            diagnostics=tuple(sort_diagnostics(remaining)),
            files=tuple(files),
            sources=sources,
            color=settings.color,
            tool_version=__version__,
        )
        if remaining:
            out.append(get_reporter("text")(report))
    verb = "would fix" if settings.diff else "fixed"
    summary = f"{verb} {_plural(fixed_total, 'problem')} in {_plural(len(settings.files), 'file')}, {len(remaining)} remaining"
    if hidden:
        summary += f" ({hidden} more {'fix' if hidden == 1 else 'fixes'} available with --unsafe-fixes)"
    err.append(summary)
    if missing:
        code = exitcodes.USAGE
    elif write_failed:
        code = exitcodes.IO_ERROR
    elif remaining:
        code = exitcodes.DIAGNOSTICS
    else:
        code = exitcodes.OK
    return FixOutcome("".join(out), "\n".join(err) + "\n", code)


@click.command(
    "fix",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 nothing left to report, 1 diagnostics remain, 2 usage error (bad option, no such file), 10 a fixed file could not be written.",
)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=True))
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff of the fixes (secrets masked); write nothing.")
@click.option("--select", "select", multiple=True, metavar="CODES", help="Fix (and report) only these codes, e.g. GW101,GW212 (repeatable).")
@click.option("--unsafe-fixes", "unsafe", is_flag=True, help="Also apply unsafe fixes (they may change meaning; docs/rules.md marks them).")
@click.option("--color/--no-color", "color", default=None, help="Colour the report of what remains.")
def fix(files, show_diff, select, unsafe, color):
    """Apply the fixes gatewayctl knows, as exact text edits.

    Everything else in the file stays byte for byte. A fix is kept only if
    re-checking the result removes its diagnostic and adds none; a file that
    does not parse is not touched. Safe fixes apply by default, unsafe ones
    with --unsafe-fixes.
    """
    from gatewayctl.cli.check import _want_color

    if not files:
        raise click.UsageError("no config files given")
    settings = FixSettings(
        files=tuple(files),
        diff=show_diff,
        select=parse_select(select),
        unsafe=unsafe,
        color=_want_color(color),
    )
    outcome = run_fix(settings)
    sys.stdout.write(outcome.stdout)
    sys.stdout.flush()
    sys.stderr.write(outcome.stderr)
    sys.exit(outcome.exit_code)
