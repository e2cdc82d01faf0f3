"""``gatewayctl lane serve``: the built-in lane worker the gateway owner runs.

Thin on purpose: options in, cli/lanerun.py runs workers.serve.serve()
and turns the outcome into an exit code with a one-line reason on stderr
(the same function cli/fastlane.py calls without click).
"""

from __future__ import annotations

import click

from gatewayctl.cli.lanerun import LANE_FAILED  # noqa: F401 - its documented home was here


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
    from gatewayctl.cli.lanerun import execute

    execute(plan_path, lane_key)  # shared with cli/fastlane.py, the click-free path lanes take
