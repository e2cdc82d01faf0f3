"""`gatewayctl lane serve` without click: the command every built-in lane
runs.

click and the command group cost each lane process about 1 MiB of memory
of its own (bench/bench_memory.py: six lanes, six copies). This module
reads exactly the command lines the click command (cli/lane.py) accepts
without a message of its own, `lane serve --plan PLAN --lane LANE` (either
order, `--opt=value` too), and runs them through the same
lanerun.execute(); anything else (--help, a missing, repeated or unknown
option, a plan path that is a directory, which click's Path type words)
goes to click. tests/test_cli_fastlane.py holds the two to the same
answers.

Imports no click.
"""

from __future__ import annotations

_OPTIONS = {"--plan": "plan", "--lane": "lane"}


def parse(args: list[str]) -> tuple[str, str] | None:
    """(plan path, lane key) for a `lane serve` command line click would
    accept as is, or None when click must read it."""
    if len(args) < 2 or args[0] != "lane" or args[1] != "serve":
        return None
    found: dict[str, str] = {}
    rest = args[2:]
    i = 0
    while i < len(rest):
        name, eq, value = rest[i].partition("=")
        i += 1
        key = _OPTIONS.get(name)
        if key is None or key in found:
            return None  # an argument, --help, an unknown or repeated option: click's
        if not eq:
            if i >= len(rest):
                return None  # click: "requires an argument"
            value = rest[i]
            i += 1
            if value.startswith("-"):
                return None  # an option where a value was expected: click decides
        found[key] = value
    if len(found) != 2:
        return None  # click: "Missing option"
    import os

    if os.path.isdir(found["plan"]):
        return None  # click.Path(dir_okay=False) refuses it in its own words
    return found["plan"], found["lane"]


def fast_lane(args: list[str]) -> None:
    """Serve the lane and exit when ``args`` is a command line parse()
    reads; return (doing nothing) otherwise."""
    parsed = parse(args)
    if parsed is None:
        return
    from gatewayctl.cli.lanerun import execute

    execute(*parsed)
