"""Human output in the style of rustc and taplo: a header, the location, a
source snippet with a caret under the span, and the hint."""

from __future__ import annotations

from gatewayctl.diagnostics import escape_controls as esc
from gatewayctl.report import ReportInput
from gatewayctl.textwidth import width as text_width

_RESET = "\x1b[0m"
_STYLE = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m", "bold": "\x1b[1m", "dim": "\x1b[2m"}


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_STYLE[style]}{text}{_RESET}" if color else text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _shown(source: str) -> str:
    return esc(source.replace("\t", "    "))


def render(inp: ReportInput) -> str:
    color = inp.color
    out: list[str] = []
    for d in inp.diagnostics:
        sev = d.severity.value
        # Keys, values and paths come from files others wrote: every one is
        # printed with its control characters escaped (diagnostics.escape_controls).
        out.append(_paint(f"{sev}[{d.code}]", sev, color) + _paint(f": {esc(d.message)}", "bold", color))
        r = d.range
        path = esc(d.path)
        loc = f"{path}:{r.start.line}:{r.start.column}" if r else path
        lines = inp.sources.get(d.path)
        if r and lines and 1 <= r.start.line <= len(lines):
            gutter = len(str(r.start.line))
            pad = " " * gutter
            out.append(f"{pad}{_paint('-->', 'note', color)} {loc}")
            raw = lines[r.start.line - 1]
            start = max(r.start.column - 1, 0)
            # Tabs become four spaces on both the line and the caret's lead,
            # so the caret stays under the same text; other control
            # characters become escapes, and the caret measures them escaped.
            src = _shown(raw)
            if r.end.line == r.start.line:
                end = max(r.end.column - 1, start + 1)
            else:
                end = max(len(raw), start + 1)
            # Columns, not code points: a CJK character before or inside the
            # span takes two columns on the terminal (gatewayctl.textwidth).
            width = max(text_width(_shown(raw[start:end])), 1)
            out.append(f"{pad} {_paint('|', 'note', color)}")
            out.append(f"{_paint(str(r.start.line), 'note', color)} {_paint('|', 'note', color)} {src}")
            caret = " " * text_width(_shown(raw[:start])) + "^" * width
            out.append(f"{pad} {_paint('|', 'note', color)} {_paint(caret, sev, color)}")
            if d.hint:
                out.append(f"{pad} {_paint('=', 'note', color)} hint: {esc(d.hint)}")
        else:
            out.append(f"  {_paint('-->', 'note', color)} {loc}")
            if d.hint:
                out.append(f"   {_paint('=', 'note', color)} hint: {esc(d.hint)}")
        out.append("")
    errors, warnings = inp.error_count, inp.warning_count
    unloaded = sum(1 for f in inp.files if not f.loaded)
    files = _plural(len(inp.files), "file")
    if errors or warnings:
        summary = f"checked {files}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
        if unloaded:
            summary += f" ({unloaded} could not be loaded)"
        if inp.strict and warnings and not errors:
            summary += " (--strict: warnings fail)"
        out.append(_paint(summary, "error" if not inp.valid else "warning", color))
    else:
        out.append(f"checked {files}: no problems found")
    return "\n".join(out) + "\n"

