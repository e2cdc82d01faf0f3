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
3. ``FORCE_COLOR`` of ``0`` or ``false``: no colour, as Node's
   supports-color and ``tty.getColorDepth`` read it (force-color.org says
   any non-empty value forces, but issue 13 counts ``FORCE_COLOR=0``
   turning colour on as a bug: people write ``=0`` to mean "off");
4. ``FORCE_COLOR`` with any other non-empty value: colour;
5. otherwise colour only when the stream is a terminal and ``TERM`` is not
   ``dumb``.

An empty ``NO_COLOR`` or ``FORCE_COLOR`` counts as unset.
"""

from __future__ import annotations

import os

# The FORCE_COLOR values that mean "do not colour" (exact, as Node compares them).
FORCE_COLOR_OFF = frozenset({"0", "false"})


def want_color(flag: bool | None, stream, environ=None) -> bool:
    if flag is not None:
        return flag
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    force = env.get("FORCE_COLOR")
    if force in FORCE_COLOR_OFF:
        return False
    if force:
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False
