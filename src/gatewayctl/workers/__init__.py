"""Built-in lane workers: the reply loops behind ``gatewayctl lane serve``.

Owns: reading one lane of a LaunchPlan, resolving its secret references,
the handler clients (exec / url / echo), the per-family loops (one module
per family), cursor persistence and the live lane status file.
This package is the only importer of httpx and websockets.

Must not import gatewayctl.source, selectors, validate, report or cli: a
worker runs a plan and never re-reads a config through the pipeline (an
inline secret is read straight from the config file by ``secrets``).
"""
