"""What `gatewayctl lane serve` does once its options are read, shared by
the click command (cli/lane.py) and the click-free path (cli/fastlane.py),
so the two cannot differ: workers.serve runs the lane, the outcome becomes
an exit code here with a one-line reason on stderr.

Imports no click until a lane fails (then only to word the reason as
click.echo always has): a running lane must not carry click's modules.
"""

from __future__ import annotations

import sys

from gatewayctl.cli import exitcodes

LANE_FAILED = 1  # the lane cannot run: missing secret, rejected token, 409, ...


def execute(plan_path: str, lane_key: str) -> None:
    """Serve the lane and exit with lane serve's exit code."""
    from gatewayctl.workers.serve import serve as run

    outcome = run(plan_path, lane_key)
    if outcome.kind == "ok":
        sys.exit(exitcodes.OK)
    import click

    click.echo(f"gatewayctl lane serve: {outcome.message}", err=True)
    if outcome.kind == "plan":
        sys.exit(exitcodes.PLAN_ERROR_EXIT.get(outcome.plan_error, exitcodes.PLAN_UNREADABLE))
    if outcome.kind == "usage":
        sys.exit(exitcodes.USAGE)
    if outcome.kind == "fenced":
        sys.exit(exitcodes.LANE_FENCED)
    sys.exit(LANE_FAILED)
