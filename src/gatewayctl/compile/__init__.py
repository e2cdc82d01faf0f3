"""Compile: a validated config model becomes an immutable LaunchPlan.

Owns plan.py (the frozen dataclasses), planfile.py (the one wire format) and
compiler.py (pure: model + selectors -> plan). May import diagnostics,
catalog, selectors and validate; never source text directly, never runtime,
report or cli. plan.py and planfile.py import only the standard library so
that the runtime can read plans without the rest of the pipeline.
"""
