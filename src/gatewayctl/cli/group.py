"""The click group: every command, loaded lazily on first use.

cli/main.py imports this module only when a command line is not one the
fast path of `check` reads itself (cli/fastcheck.py).
"""

from __future__ import annotations

import importlib
import importlib.util

import click

from gatewayctl import __version__
from gatewayctl.catalog.loong import LOONG_REPO, version_line

# name -> (module, attribute, short help). Modules import on first use only.
_COMMANDS = {
    "check": ("gatewayctl.cli.check", "check", "Lint loong configs and gatewayctl.toml: exact locations and fix hints."),
    "fix": ("gatewayctl.cli.fix", "fix", "Apply the fixes gatewayctl knows, as exact text edits (safe by default)."),
    "lsp": ("gatewayctl.cli.lsp", "lsp", "Language server over stdio: diagnostics, quick fixes, hover, completion."),
    "plan": ("gatewayctl.cli.plan", "plan", "Compile gatewayctl.toml and its loong config into an immutable launch plan."),
    "migrate": ("gatewayctl.cli.migrate", "migrate", "Move gatewayctl's settings out of loong's config into gatewayctl.toml."),
    "channels": ("gatewayctl.cli.plan", "channels", "Show each channel family of a config and how it is classified."),
    "gateway": ("gatewayctl.cli.gateway", "gateway", "Run, inspect and stop the gateway owner."),
    "multi-channel-serve": (
        "gatewayctl.cli.gateway",
        "multi_channel_serve",
        "Foreground compatibility wrapper: own the lanes with a live view.",
    ),
    "lane": ("gatewayctl.cli.lane", "lane", "Built-in lane workers (run by the gateway owner)."),
    "schema": ("gatewayctl.cli.schema", "schema", "Print a shipped JSON Schema (config, settings, plan, plandiff, status)."),
    "preflight": (
        "gatewayctl.cli.preflight",
        "preflight",
        "Probe each lane's channel API with its real credentials, without taking ownership.",
    ),
    "fleet": ("gatewayctl.cli.fleet", "fleet", "The fleet of hosts sharing the lanes on etcd: status, release, rebalance."),
    "demo": ("gatewayctl.cli.demo", "demo", "Run the example rollout end to end against built-in fakes (offline)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name, spec in _COMMANDS.items() if _available(spec[0]))

    def get_command(self, ctx, name):
        spec = _COMMANDS.get(name)
        if spec is None or not _available(spec[0]):
            return None
        module = importlib.import_module(spec[0])
        return getattr(module, spec[1])

    def format_commands(self, ctx, formatter):
        rows = [(n, _COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__,
    prog_name="gatewayctl",
    # The loong the rules were read from: a lint is only as good as its
    # agreement with that runtime (docs/loong-compat.md).
    message=f"%(prog)s %(version)s\nrules follow loong {version_line()} ({LOONG_REPO})",
)
def cli() -> None:
    """gatewayctl: make multi-channel gateway rollouts safe.

    \b
    Exit codes (all commands):
      0   ok
      1   errors found (warnings too under --strict)
      2   usage error: bad option, no such file
      3   gateway status: no owner is running
      4   saved plan tampered (digest mismatch)
      5   saved plan has an unknown format_version
      6   saved plan is stale (config or settings changed since)
      7   saved plan unreadable or not a plan
      8   another gateway owner is already active
      9   the owner stopped because a lane failed
      10  runtime state could not be written
      11  gateway status: running but degraded (a lane is not running)
      12  saved plan made by another gatewayctl version (re-create it)
      13  gateway apply: refused, or failed and rolled back
      14  fleet: etcd cannot be reached
      15  fleet release: no other host took the lane in time
      70  internal error (a bug; GATEWAYCTL_DEBUG=1 shows the traceback)
      75  lane serve: stopped by its fleet deadline (lease not renewed in time)
      130 interrupted by Ctrl-C (gateway run: a stop request, exit 0)
    """
