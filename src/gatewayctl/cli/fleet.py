"""`gatewayctl fleet status|release|rebalance`: the fleet as etcd holds it.

Every command finds the fleet (endpoints, prefix) in the plan the hosts run:
``--plan FILE``, ``--file gatewayctl.toml`` or ``--config FILE`` as for
``gateway run`` (default ./gatewayctl.toml). ``status`` only reads (one
range request): it never takes, renews or writes anything.
"""

from __future__ import annotations

import json
import sys
import time

import click

from gatewayctl.cli import exitcodes
from gatewayctl.cli.gateway import _CONTEXT, _common_run_options, _compile, _err, _load_saved, _settings

_EPILOG = """\b
Exit codes:
  0   done (status: every lane of the fleet has a holder)
  1   the plan's config has errors
  2   usage error (also: the plan has no [fleet] table)
  4-7, 12  the saved plan cannot be used (as for gateway run)
  11  status: a lane of the fleet has no holder
  14  etcd cannot be reached (or refused the request)
  15  release: no other host took the lane within --timeout
"""

FLEET_STATUS_FORMAT_VERSION = 1


def _fleet_plan(opts):
    settings = _settings(**opts, mode="gateway_headless", session=None)
    plan, code = _load_saved(settings) if settings.plan_path else _compile(settings, purpose="fleet not read")
    if plan is None:
        sys.exit(code)
    if plan.fleet is None:
        _err("error: this plan has no [fleet] table: its owner runs alone on one host (add [fleet] to gatewayctl.toml)")
        sys.exit(exitcodes.USAGE)
    return plan


def _backend(plan):
    import os

    from gatewayctl.runtime.fleet.backend import BackendUnavailable
    from gatewayctl.runtime.fleet.hosting import make_backend
    from gatewayctl.workers.base import LaneFailure

    try:
        return make_backend(plan, os.environ, os.getcwd())
    except (BackendUnavailable, LaneFailure) as exc:  # an endpoint refused, a credential that does not resolve
        _err(f"error: {exc.message}")
        sys.exit(exitcodes.FLEET_UNAVAILABLE)
    except ValueError as exc:
        _err(f"error: {exc}")
        sys.exit(exitcodes.USAGE)


def _one_call(opts, call):
    """The plan's fleet, and ``call(backend)`` on a backend that is closed
    afterwards; etcd unreachable is exit 14."""
    from gatewayctl.runtime.fleet.backend import BackendUnavailable

    plan = _fleet_plan(opts)
    backend = _backend(plan)
    try:
        return plan, call(backend)
    except BackendUnavailable as exc:
        _unavailable(exc)
    finally:
        backend.close()


def _unavailable(exc) -> None:
    _err(f"error: etcd: {getattr(exc, 'message', None) or exc}")
    sys.exit(exitcodes.FLEET_UNAVAILABLE)


def fleet_document(plan, view, now_ms: int) -> dict:
    """The `fleet status --json` document (schema: `gatewayctl schema fleetstatus`)."""
    lanes = sorted({lane for rec in view.hosts.values() for lane in rec.lanes} | set(view.holders)
                   | {lane.name for lane in plan.lanes})
    hosts = []
    for host_id, rec in sorted(view.hosts.items()):
        hosts.append({
            "host_id": host_id, "pid": rec.pid, "version": rec.version, "plan_sha256": rec.plan_sha256,
            "started_at_ms": rec.started_at_ms,
            "holds": sorted(lane for lane, h in view.holders.items() if h.host_id == host_id),
        })
    out_lanes = []
    for lane in lanes:
        holder = view.holders.get(lane)
        standby = sorted(h for h, rec in view.hosts.items() if lane in rec.lanes and (holder is None or h != holder.host_id))
        out_lanes.append({
            "lane": lane,
            "holder": holder.host_id if holder else None,
            "since_ms": holder.since_ms if holder else None,
            "definition_sha256": (holder.definition_sha256 if holder else view.definitions.get(lane)),
            "standby": standby,
            "release_requested": lane in view.releases,
        })
    return {
        "format_version": FLEET_STATUS_FORMAT_VERSION,
        "backend": plan.fleet.backend,
        "endpoints": list(plan.fleet.endpoints),
        "prefix": plan.fleet.prefix,
        "lease_ttl_s": plan.fleet.lease_ttl_s,
        "read_at_ms": now_ms,
        "rebalance_generation": view.rebalance_generation,
        "hosts": hosts,
        "lanes": out_lanes,
    }


def _ago(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "-"
    s = max(0, (now_ms - ms) // 1000)
    return f"{s}s ago" if s < 120 else f"{s // 60}m ago"


def render(doc: dict) -> str:
    from gatewayctl.diagnostics import escape_controls

    now = doc["read_at_ms"]
    lines = [f"fleet {doc['prefix']} on {', '.join(doc['endpoints'])} (lease ttl {doc['lease_ttl_s']:g} s)"]
    hosts = doc["hosts"]
    lines.append(f"hosts ({len(hosts)} live):" if hosts else "hosts: none live")
    for h in hosts:
        lines.append(f"  {h['host_id']}: pid {h['pid']}, plan {h['plan_sha256'][:12]}, holds {len(h['holds'])}")
    width = max([4] + [len(lane["lane"]) for lane in doc["lanes"]])
    hwidth = max([6] + [len(lane["holder"] or "-") for lane in doc["lanes"]])
    lines.append(f"{'LANE':<{width}}  {'HOLDER':<{hwidth}}  {'SINCE':<8}  STANDBY")
    for lane in doc["lanes"]:
        extra = "  (release requested)" if lane["release_requested"] else ""
        lines.append(
            f"{lane['lane']:<{width}}  {lane['holder'] or '-':<{hwidth}}  {_ago(lane['since_ms'], now):<8}  "
            f"{', '.join(lane['standby']) or '-'}{extra}"
        )
    return "".join(escape_controls(line) + "\n" for line in lines)


@click.group("fleet", context_settings=_CONTEXT)
def fleet() -> None:
    """The fleet of hosts that share this plan's lanes on etcd.

    \b
    gatewayctl fleet status [--json]        # every lane: holder, since when, standby hosts
    gatewayctl fleet release lark=work      # ask the holder to hand one lane over
    gatewayctl fleet rebalance              # spread the lanes evenly again
    """


@fleet.command("status", context_settings=_CONTEXT, epilog=_EPILOG)
@_common_run_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable (schema: `gatewayctl schema fleetstatus`).")
def status(as_json, **opts):
    """Show every lane of the fleet: its holder, since when, the standby hosts. Reads only."""
    plan, view = _one_call(opts, lambda backend: backend.view())
    doc = fleet_document(plan, view, time.time_ns() // 1_000_000)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render(doc))
    sys.exit(exitcodes.OK if all(lane["holder"] for lane in doc["lanes"]) else exitcodes.DEGRADED)


def _lane_name(plan, selector: str) -> str:
    from gatewayctl.selectors import parse_selectors

    parsed, findings = parse_selectors((("/0", selector),))
    if findings or len(parsed) != 1:
        why = findings[0].message if findings else "give exactly one"
        raise click.UsageError(f"{selector!r} is not one lane selector like lark=work: {why}")
    sel = parsed[0]
    channel, account = sel.channel.lower(), sel.account
    for lane in plan.lanes:
        names = {lane.family, lane.alias or lane.family}
        if lane.family == "feishu":
            names.add("lark")
        if channel in names and account in (lane.account_id, lane.account_label):
            return lane.name
    known = ", ".join(f"{(lane.alias or lane.family)}={lane.account_label}" for lane in plan.lanes)
    raise click.UsageError(f"the plan has no lane {selector!r} (its lanes: {known})")


@fleet.command("release", context_settings=_CONTEXT, epilog=_EPILOG)
@click.argument("selector", metavar="FAMILY=ACCOUNT")
@_common_run_options
@click.option("--timeout", type=click.FloatRange(min=0.1, max=3600), default=60.0, show_default=True, metavar="S",
              help="How long to wait for another host to take the lane.")
def release(selector, timeout, **opts):
    """Ask the holder of one lane to hand it over (for maintenance), and wait
    until another host serves it."""
    from gatewayctl.runtime.fleet.backend import BackendUnavailable

    plan = _fleet_plan(opts)
    lane = _lane_name(plan, selector)
    backend = _backend(plan)
    try:
        holder = backend.request_release(lane, by=f"gatewayctl fleet release ({_whoami()})")
        if holder is None:
            _err(f"{lane}: no host holds it now; nothing to hand over")
            sys.exit(exitcodes.FLEET_NOT_MOVED)
        started = time.monotonic()
        sys.stdout.write(f"{lane}: asked {holder.host_id} to hand it over\n")
        sys.stdout.flush()
        gap_from = None
        while time.monotonic() - started < timeout:
            view = backend.view()
            now = view.holders.get(lane)
            if now is None and gap_from is None:
                gap_from = time.monotonic()
            if now is not None and now.lease != holder.lease:
                gap = (time.monotonic() - gap_from) if gap_from is not None else 0.0
                sys.stdout.write(
                    f"{lane}: moved from {holder.host_id} to {now.host_id} in {time.monotonic() - started:.1f} s "
                    f"(unheld for about {gap:.1f} s)\n"
                )
                sys.exit(exitcodes.OK)
            time.sleep(0.1)
    except BackendUnavailable as exc:
        _unavailable(exc)
    finally:
        backend.close()
    _err(f"{lane}: no other host took it within {timeout:g} s (is another host live with this lane in its plan?)")
    sys.exit(exitcodes.FLEET_NOT_MOVED)


@fleet.command("rebalance", context_settings=_CONTEXT, epilog=_EPILOG)
@_common_run_options
def rebalance(**opts):
    """Spread the lanes evenly over the live hosts again: hosts holding more
    than their share hand the excess over. Lanes never move back by
    themselves after a failover; this is how they do."""
    _, generation = _one_call(opts, lambda backend: backend.request_rebalance())
    sys.stdout.write(f"rebalance requested (generation {generation}): see `gatewayctl fleet status`\n")
    sys.exit(exitcodes.OK)


def _whoami() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    return f"{user}@{socket.gethostname()}"
