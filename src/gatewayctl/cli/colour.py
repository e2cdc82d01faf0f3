"""Whether to colour one output stream: the flag, then the conventions.

Decided per stream: `check` writes its report to stdout, `plan` and
`gateway run` write diagnostics to stderr, so each asks about the stream it
writes to (`plan ... | tee` keeps its coloured diagnostics on a terminal;
`plan 2>log` writes a plain log).

Order (first match wins):

1. ``--color`` / ``--no-color`` on the command line (a per-run choice beats
   the environment, as no-color.org asks);
2. ``NO_COLOR`` present and not empty, whatever its value: no colour
   (https://no-color.org);
3. ``FORCE_COLOR`` present and not empty, whatever its value, ``0``
   included: colour (https://force-color.org says "regardless of its
   value"; NO_COLOR wins when both are set);
4. otherwise colour only when the stream is a terminal and ``TERM`` is not
   ``dumb``.
"""

from __future__ import annotations

import os


def want_color(flag: bool | None, stream, environ=None) -> bool:
    if flag is not None:
        return flag
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False
