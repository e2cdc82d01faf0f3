"""GitHub Actions workflow commands: one `::error`/`::warning` line per
diagnostic, which the runner turns into annotations on the pull request.

Owns the escaping of workflow-command data and properties. Imports only
gatewayctl.diagnostics and gatewayctl.report; must not import source,
selectors, validate, compile or runtime.
"""

from __future__ import annotations

from gatewayctl.diagnostics import Diagnostic, escape_controls
from gatewayctl.report import ReportInput


def escape_data(text: str) -> str:
    """The message part (after `::`): the runner decodes %25, %0D, %0A, so a
    line break can never end the command early. Every other control
    character (ESC sequences in a key, bidi overrides) is written as a
    visible escape (diagnostics.escape_controls)."""
    return escape_controls(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    """A property value: ':' and ',' would end the value early, so they are
    encoded too (the runner's own toolkit does the same)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _is_pseudo_path(path: str) -> bool:
    # "<stdin>", "<command line>": no file in the repository to annotate.
    return path.startswith("<") and path.endswith(">")


def _properties(d: Diagnostic) -> list[tuple[str, str]]:
    if _is_pseudo_path(d.path):
        return [("title", d.code)]
    # GitHub matches annotations to repository paths: "./x" would not match.
    path = d.path
    while path.startswith("./"):
        path = path[2:]
    props: list[tuple[str, str]] = [("file", path)]
    r = d.range
    if r is not None:
        props.append(("line", str(r.start.line)))
        # Columns are only valid when the span stays on one line (GitHub's
        # toolkit: they "cannot be sent when startLine and endLine differ").
        same_line = r.end.line == r.start.line
        if same_line:
            props.append(("col", str(r.start.column)))
        props.append(("endLine", str(r.end.line)))
        if same_line:
            props.append(("endColumn", str(r.end.column)))
    props.append(("title", d.code))
    return props


def command(d: Diagnostic) -> str:
    kind = "error" if d.is_error else "warning"
    props = ",".join(f"{k}={escape_property(v)}" for k, v in _properties(d))
    text = d.message if not d.hint else f"{d.message}\nhint: {d.hint}"
    if _is_pseudo_path(d.path):
        # The position goes into the text, as there is no file to attach it to.
        r = d.range
        where = f"{d.path}:{r.start.line}:{r.start.column}" if r else d.path
        text = f"{where}: {text}"
    return f"::{kind} {props}::{escape_data(text)}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render(inp: ReportInput) -> str:
    lines = [command(d) for d in inp.diagnostics]
    # A plain line for the log reader; the runner ignores non-command lines.
    lines.append(
        f"gatewayctl: checked {_plural(len(inp.files), 'file')}: "
        f"{_plural(inp.error_count, 'error')}, {_plural(inp.warning_count, 'warning')}"
    )
    return "\n".join(lines) + "\n"
