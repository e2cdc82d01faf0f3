"""`gatewayctl schema config|settings|plan|plandiff|status|fleetstatus`: print a shipped JSON Schema.

Owns only the command. The files themselves live in schemas/ (shipped as
package data) and are located through gatewayctl.catalog.schema_path, so
this prints exactly what the linter validates with. Imports click, the
catalog and exitcodes; must not import validate, compile or runtime.
"""

from __future__ import annotations

import sys

import click

from gatewayctl.cli import exitcodes

SCHEMA_NAMES = ("config", "settings", "plan", "plandiff", "status", "fleetstatus")


@click.command(
    "schema",
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 printed, 2 unknown schema name, 70 the schema file is missing from this installation (a bug).",
)
@click.argument("name", type=click.Choice(SCHEMA_NAMES))
@click.option("--path", "show_path", is_flag=True, help="Print the schema file's location instead of its content.")
def schema(name: str, show_path: bool) -> None:
    """Print a shipped JSON Schema, byte for byte.

    \b
    config    loong's config file (also the editor schema, see docs/editors.md)
    settings  gatewayctl's own settings file, gatewayctl.toml (editor schema too)
    plan      a saved launch plan (gatewayctl plan --out)
    plandiff  `gatewayctl plan diff --json`
    status    the gateway owner's status.json
    fleetstatus  `gatewayctl fleet status --json`

    \b
    Examples:
      gatewayctl schema config > config.schema.json
      gatewayctl schema --path config
    """
    from gatewayctl.catalog import schema_path

    path = schema_path(name)
    if show_path:
        click.echo(str(path))
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        # Shipped with every wheel and checkout: missing means a broken install.
        click.echo(f"gatewayctl: the {name} schema is missing from this installation ({path}): {exc.strerror}", err=True)
        sys.exit(exitcodes.INTERNAL)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
