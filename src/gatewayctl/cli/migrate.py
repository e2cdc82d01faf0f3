"""`gatewayctl migrate`: move gatewayctl's settings out of loong's config.

Owns only the command: the move itself (which lines, what the new file
holds, when to refuse) is gatewayctl.pipeline.migrate. Exit codes come from
cli/exitcodes.py and are decided here.
"""

from __future__ import annotations

import os
import sys

import click

from gatewayctl.cli import exitcodes

_EPILOG = (
    "\b\nExit codes:\n"
    "  0  moved (or nothing to move; with --dry-run: what would change was printed)\n"
    "  1  refused: nothing was changed (the message says why and what to do)\n"
    "  2  usage error (no such file)\n"
    " 10  a file could not be written\n"
)


@click.command("migrate", context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EPILOG)
@click.argument("loong_config", metavar="LOONG_CONFIG")
@click.option(
    "--to",
    "settings_file",
    metavar="FILE",
    default="gatewayctl.toml",
    show_default=True,
    help="The gatewayctl settings file to write.",
)
@click.option("--dry-run", is_flag=True, help="Print the new settings file and the lines removed from loong's config; write nothing.")
def migrate(loong_config, settings_file, dry_run):
    """Move gatewayctl's settings out of loong's config into gatewayctl.toml.

    loong rewrites its config.toml from its own structs whenever it saves
    it, dropping every key it does not know (and every comment): the
    [gateway] keys that are gatewayctl's (channel_accounts, stop_grace_s,
    worker, restart, handler) would be lost. This writes them to the
    settings file (with loong_config naming LOONG_CONFIG) and removes them
    from LOONG_CONFIG, editing only their lines: everything else, comments
    included, stays byte for byte. loong's own [gateway] port stays. Both
    files are replaced atomically. An existing settings file with other
    values is refused, never merged.

    \b
    gatewayctl migrate ~/.loong/config.toml
    gatewayctl migrate --to ops/gatewayctl.toml --dry-run config.toml
    """
    from gatewayctl.pipeline.migrate import MigrationRefused, apply, plan_migration

    if not os.path.isfile(loong_config):
        raise click.UsageError(f"loong config {loong_config!r} does not exist")
    try:
        m = plan_migration(loong_config, settings_file)
    except MigrationRefused as exc:
        click.echo(f"gatewayctl migrate: refused: {exc.message}", err=True)
        sys.exit(exitcodes.DIAGNOSTICS)
    if m is None:
        click.echo(f"{loong_config}: no gatewayctl settings in [gateway]; nothing to migrate")
        sys.exit(exitcodes.OK)
    moved = ", ".join(m.moved)
    if dry_run:
        import difflib

        if m.settings_text is not None:
            click.echo(f"--- would write {settings_file}:")
            click.echo(m.settings_text, nl=False)
        else:
            click.echo(f"--- {settings_file} already holds {moved}")
        with open(loong_config, encoding="utf-8") as fh:
            old = fh.read()
        diff = difflib.unified_diff(
            old.splitlines(keepends=True), m.loong_text.splitlines(keepends=True), loong_config, loong_config + " (migrated)"
        )
        click.echo("".join(diff), nl=False)
        sys.exit(exitcodes.OK)
    try:
        apply(m)
    except OSError as exc:
        click.echo(f"gatewayctl migrate: cannot write {exc.filename or settings_file}: {exc.strerror or exc}", err=True)
        sys.exit(exitcodes.IO_ERROR)
    if m.settings_text is not None:
        click.echo(f"wrote {settings_file}: {moved}")
    else:
        click.echo(f"{settings_file} already holds {moved}")
    click.echo(f"removed {moved} from [gateway] of {loong_config} (nothing else changed)")
    click.echo(f"next: gatewayctl check {settings_file}")
