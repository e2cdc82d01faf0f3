"""`gatewayctl preflight`: does each selected lane work, before a rollout?

Compiles the config exactly as `gatewayctl plan` does (or reads a saved
plan, verified as `gateway run --plan` verifies it), then asks
workers.preflight to probe every lane in parallel, in this process's
environment, without taking the owner slot. Exit codes are decided here.
"""

from __future__ import annotations

import json
import os
import sys

import click

from gatewayctl.cli import exitcodes
from gatewayctl.diagnostics import escape_controls

PREFLIGHT_FORMAT_VERSION = 1

_EPILOG = (
    "\b\nExit codes:\n"
    "  0  every lane passed (or was skipped because it is serving)\n"
    "  1  a lane failed its probe, or the config has errors\n"
    "  2  usage error\n"
    "  4-7  the saved plan is tampered, of an unknown version, stale or unreadable\n"
)


def serving_lanes() -> dict:
    """Lane name -> the local owner's status of that lane, for the lanes an
    owner on this host runs now ({} when none runs)."""
    from gatewayctl.runtime import RuntimePaths, System, load_status

    doc = load_status(RuntimePaths.from_env(), System())
    if not doc.get("running"):
        return {}
    return {f"{ln.get('family')}/{ln.get('account')}": ln for ln in doc.get("lanes") or () if isinstance(ln, dict)}


def render(results) -> str:
    width = max((len(r.lane) for r in results), default=0)
    lines = []
    for r in results:
        latency = f"  ({r.latency_ms} ms)" if r.latency_ms is not None else ""
        # a secret reference (a file path) or a lane name comes from the plan: escaped
        lines.append(escape_controls(f"{r.result:<7}  {r.lane:<{width}}  {r.detail}{latency}"))
    failed = sum(1 for r in results if r.result == "failed")
    skipped = sum(1 for r in results if r.result == "skipped")
    summary = f"preflight: {len(results) - failed - skipped} ok, {failed} failed, {skipped} skipped"
    return "\n".join(lines + [summary]) + "\n"


def run_probes(plan, *, timeout_s: float, serving: dict | None) -> tuple[list, int]:
    from gatewayctl.workers.preflight import run_preflight

    results = run_preflight(plan, cwd=os.getcwd(), timeout_s=timeout_s, serving=serving)
    code = exitcodes.DIAGNOSTICS if any(r.result == "failed" for r in results) else exitcodes.OK
    return results, code


@click.command("preflight", context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EPILOG)
@click.option(
    "--file",
    "settings_file",
    metavar="FILE",
    help="Compile gatewayctl's settings file (as `gatewayctl plan` does) and probe its lanes. "
    "Default, without --plan/--config: ./gatewayctl.toml.",
)
@click.option(
    "--config",
    "config",
    metavar="FILE",
    help="Compile a loong config alone (its settings in [gateway], deprecated) and probe its lanes.",
)
@click.option("--plan", "plan_path", metavar="FILE", help="Probe the lanes of a saved plan instead.")
@click.option(
    "--channel-account",
    "channel_accounts",
    multiple=True,
    metavar="CHANNEL=ACCOUNT",
    help="Select the account a family runs (repeatable); replaces the settings' list, as for `plan`.",
)
@click.option("--selectors", multiple=True, metavar="LIST", help="Comma-separated selectors; combines with --channel-account.")
@click.option("--allow-inline-secrets", is_flag=True, help="Accept inline secret literals (as `gatewayctl plan` does).")
@click.option("--config-dir", metavar="DIR", help="Resolve a saved plan's relative config path against DIR.")
@click.option(
    "--trust-plan", is_flag=True, help="With --plan: do not recompile its config to prove it (as for `gateway run`)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: format_version, ok, lanes[].")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0.1, max=600),
    default=10.0,
    show_default=True,
    metavar="S",
    help="Seconds each lane's probe may take in all (an unreachable host fails after this).",
)
def preflight(
    settings_file, config, plan_path, channel_accounts, selectors, allow_inline_secrets, config_dir, trust_plan, as_json,
    timeout_s,
):
    """Probe every selected lane's channel API with its real credentials,
    without taking ownership: one line per lane (ok, failed or skipped), the
    API's own words and the latency. Secrets are never printed.

    \b
    gatewayctl preflight                       # ./gatewayctl.toml
    gatewayctl preflight --file gatewayctl.toml --channel-account lark=work --channel-account wecom=alerts
    gatewayctl preflight --plan plan.json --json
    """
    from gatewayctl.cli.gateway import _compile, _load_saved, _settings

    # The same settings filler as plan, gateway run and apply: the same
    # usage checks and the same reading of --selectors.
    settings = _settings(
        settings_file=settings_file, config=config, plan_path=plan_path, channel_accounts=channel_accounts,
        selectors=selectors, port=None, allow_inline_secrets=allow_inline_secrets, allow_stale=False,
        trust_plan=trust_plan, config_dir=config_dir,
    )
    plan, code = _load_saved(settings) if plan_path else _compile(settings, purpose="preflight not run", rerun="gatewayctl preflight")
    if plan is None:
        sys.exit(code)
    results, code = run_probes(plan, timeout_s=timeout_s, serving=serving_lanes())
    if as_json:
        body = {
            "format_version": PREFLIGHT_FORMAT_VERSION,
            "ok": code == exitcodes.OK,
            "lanes": [r.to_json() for r in results],
        }
        sys.stdout.write(json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(results))
    sys.stdout.flush()
    sys.exit(code)
