"""Built-in lane workers: the reply loops behind ``gatewayctl lane serve``.

Owns: reading one lane of a LaunchPlan, resolving its secret references,
the handler clients (exec / url / echo), the per-family loops (one module
per family), cursor persistence and the live lane status file.
This package is the only importer of httpx and websockets.

Must not import gatewayctl.source, selectors, validate, report or cli: a
worker runs a plan and never re-reads a config through the pipeline (an
inline secret is read straight from the config file by ``secrets``).
"""

import sys as _sys

# httpx's package __init__ imports its command-line client (httpx._main)
# whenever rich and pygments are installed (they come with other tools in
# most environments): 80 modules and about 4 MiB of every lane's unique
# memory (bench/bench_memory.py), for a `httpx` command a lane never runs.
# An explicit None in sys.modules makes that import fail, and httpx then
# defines its stand-in `main` (its own `except ImportError` branch). Set
# before any worker module imports httpx; left alone if httpx is loaded.
if "httpx" not in _sys.modules:
    _sys.modules.setdefault("httpx._main", None)
