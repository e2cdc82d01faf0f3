"""Helpers the process and network tests share.

Tests never sleep to wait for a state: they poll with a deadline.
"""

from __future__ import annotations

import json
import os
import time

# Issue 12 H: a root owner refuses to start lanes as root unless the plan
# says so ([gateway.worker] user = "root"). The process tests run their lanes
# as whoever runs the suite, so under root they say it explicitly.
LANES_AS_ROOT = os.geteuid() == 0
LANES_AS_ROOT_TOML = '[gateway.worker]\nuser = "root"\n\n' if LANES_AS_ROOT else ""
# The same, in gatewayctl's own settings file (gatewayctl.toml).
LANES_AS_ROOT_SETTINGS = '\n[worker]\nuser = "root"\n' if LANES_AS_ROOT else ""


def examples(n: int) -> int:
    """``max_examples`` for a property test: ``n`` under hypothesis's default
    profile (CI's full run), scaled by the active profile's ``max_examples``
    against the default 100 otherwise. The quick run loads the ``quick``
    profile (tests/conftest.py, ``bash scripts/test.sh --quick``), which runs
    a fifth of the examples, at least 10 a test. Called at import time of
    the test module, after pytest has loaded the profile."""
    from hypothesis import settings

    return max(10, n * settings().max_examples // 100)


def poll(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Call ``predicate`` until it returns something truthy and return that;
    at the deadline, one last call decides (falsy: the caller's assert fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def read_json(path, default=None):
    """A JSON file's content, or ``default`` while it is missing or half-written."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return default
