"""``gatewayctl lane serve``: the built-in lane worker the gateway owner runs.

Thin on purpose: options in, workers.serve.serve() runs the loop, the
outcome becomes an exit code here (and only here) with a one-line reason
on stderr.
"""

from __future__ import annotations

import sys

import click

from gatewayctl.cli import exitcodes

LANE_FAILED = 1  # the lane cannot run: missing secret, rejected token, 409, ...


@click.group("lane")
def lane() -> None:
    """Built-in lane workers (run by the gateway owner)."""


@lane.command("serve")
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False), help="Plan file to read the lane from.")
@click.option("--lane", "lane_key", required=True, metavar="FAMILY[/ACCOUNT]", help="Which lane of the plan to serve.")
def serve(plan_path: str, lane_key: str) -> None:
    """Serve one lane: receive messages, ask the handler, send replies.

    \b
    Reads GATEWAYCTL_LANE_STATUS (status file) and GATEWAYCTL_RUNTIME_DIR
    (cursor directory). Exits 0 on SIGTERM; non-zero with a one-line reason
    on stderr when the lane cannot run; 75 when a fleet lane stopped by its
    deadline (GATEWAYCTL_LANE_FENCE_FD).
    """
    from gatewayctl.workers.serve import serve as run

    outcome = run(plan_path, lane_key)
    if outcome.kind == "ok":
        sys.exit(exitcodes.OK)
    click.echo(f"gatewayctl lane serve: {outcome.message}", err=True)
    if outcome.kind == "plan":
        sys.exit(exitcodes.PLAN_ERROR_EXIT.get(outcome.plan_error, exitcodes.PLAN_UNREADABLE))
    if outcome.kind == "usage":
        sys.exit(exitcodes.USAGE)
    if outcome.kind == "fenced":
        sys.exit(exitcodes.LANE_FENCED)
    sys.exit(LANE_FAILED)
