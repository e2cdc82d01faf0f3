"""`gatewayctl check`: lint channel configs.

The click command only reads the options; checkrun.execute() does the rest
(the fast path in fastcheck.py reads the same options without click and
calls the same function).
"""

from __future__ import annotations

import click

from gatewayctl.cli.checkrun import (  # noqa: F401  (re-exported: fix, plan, gateway and tests use them)
    STDIN,
    CheckOutcome,
    CheckSettings,
    _hint_stdin_format,
    _want_color,
    execute,
    run_check,
    selector_texts,
)
from gatewayctl.report import REPORTER_NAMES


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
    help="Selector to check (repeatable; one value is one selector, as in loong). Replaces the settings' channel_accounts list; does not merge.",
)
@click.option(
    "--selectors",
    multiple=True,
    metavar="LIST",
    help='Comma-separated selectors, e.g. "lark=work,wecom=alerts": shorthand for repeating --channel-account (combines with it).',
)
@click.option("--stdin-filename", metavar="NAME", help="Name to report for the config read from stdin ('-'); its suffix picks the format.")
@click.option("--color/--no-color", "color", default=None, help="Colour the text output (default: when stdout is a terminal, TERM is not dumb and NO_COLOR is unset; FORCE_COLOR forces it; FORCE_COLOR=0 or false turns it off).")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Processes to lint with (default 0: one per CPU; 1: this process only). The output and its order do not depend on it.",
)
def check(files, fmt, strict, channel_accounts, selectors, stdin_filename, color, jobs):
    """Lint loong configs and gatewayctl.toml (TOML, YAML or JSON) with exact locations and fix hints.

    A loong config gets loong's verdict: would loong accept it? A gatewayctl
    settings file (gatewayctl.toml, or any file with a top-level
    `loong_config` key) gets both: the loong config it names, and whether
    gatewayctl can plan and run it (what `gatewayctl plan` accepts).

    Checks many files in one run; a file that cannot be read or parsed is
    reported and the others are still checked. Use '-' to read one config
    from stdin.
    """
    if not files:
        raise click.UsageError("no config files given (use '-' to read from stdin)")
    if files.count(STDIN) > 1:
        raise click.UsageError("'-' (stdin) may be given only once")
    execute(files, fmt, strict, channel_accounts, selectors, stdin_filename, color, jobs)
