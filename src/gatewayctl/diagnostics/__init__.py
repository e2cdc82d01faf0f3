"""Diagnostics: the one currency every pipeline stage returns.

Owns Position, Range, Severity, Diagnostic, Finding and the code registry.
Standard library and gatewayctl.records (frozen records without the
dataclasses import) only; must not import any other gatewayctl package.

A stage produces ``Finding`` values (a code, a JSON pointer into the
document, a message); one ``locate`` step, owned by the source package,
turns them into ``Diagnostic`` values with a 1-based source range. Positions
are therefore computed only for documents that have something to say.
"""

from __future__ import annotations

import enum

from gatewayctl.diagnostics.codes import CODES, CodeInfo, code_info
from gatewayctl.lazyre import lazy
from gatewayctl.records import field, record

__all__ = [
    "CODES",
    "CodeInfo",
    "Diagnostic",
    "Finding",
    "Fix",
    "SAFE",
    "UNSAFE",
    "ORIGIN_SETTINGS",
    "Position",
    "Range",
    "Severity",
    "code_info",
    "escape_pointer_token",
    "pointer_join",
    "pointer_split",
    "sort_diagnostics",
]


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


@record(order=True)
class Position:
    """1-based line and column (columns count Unicode code points)."""

    line: int
    column: int

    def to_json(self) -> dict:
        return {"line": self.line, "column": self.column}


@record(order=True)
class Range:
    """A span of source text; ``end`` is exclusive."""

    start: Position
    end: Position

    @classmethod
    def of(cls, line: int, column: int, end_line: int, end_column: int) -> "Range":
        return cls(Position(line, column), Position(end_line, end_column))

    def to_json(self) -> dict:
        return {"start": self.start.to_json(), "end": self.end.to_json()}


# Characters a human format never prints as themselves: C0 controls (line
# breaks included: a key holding "\n::error ..." must not start a line of
# its own in a CI log, where the runner would obey it), DEL and C1 (ESC and
# CSI sequences recolour, move or retitle a terminal), Unicode line and
# paragraph separators, the bidirectional overrides and isolates ("Trojan
# source" reordering), and lone surrogates (not encodable: printing one
# would crash).
_UNPRINTABLE = lazy("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(m: "re.Match[str]") -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every unprintable character (see _UNPRINTABLE) written
    as a visible escape (``\\n``, ``\\x1b``, ``\\u202e``). Every human output
    format (text, github, plan show, command errors) passes user-controlled
    text through here; JSON and SARIF escape them by their own rules."""
    return _UNPRINTABLE.sub(_escape_one, text) if _UNPRINTABLE.search(text) else text


# At most this many diagnostics are reported per file (errors first); the
# rest are counted in one GW008. A file with 30,000 unknown keys is one
# mistake (a wrong file, a generated dump), and reporting each would cost
# minutes and megabytes. Documented in docs/rules.md (GW008).
MAX_DIAGNOSTICS_PER_FILE = 200


# Which part of a keyed entry a finding is about: the key itself (unknown
# key, duplicate key) or its value (wrong type, bad secret).
TARGET_KEY = "key"
TARGET_VALUE = "value"


# How sure a fix is (the ruff model): a safe fix has one right answer and
# keeps the config's meaning (or makes loong accept what it refused with the
# one value its own message names), so `gatewayctl fix` applies it by
# default; an unsafe fix may change meaning and needs --unsafe-fixes.
SAFE = "safe"
UNSAFE = "unsafe"


@record
class Fix:
    """A fix a rule declares next to its finding, as an intent, not text.

    The fix package turns it into text edits for the document's format at
    the range the finding locates. ``action`` is one of:

    - ``rename-key``: ``args = (("to", NEW_KEY),)``; the key at the pointer
      becomes NEW_KEY.
    - ``replace-string``: ``args = (("value", TEXT),)``; the string value at
      the pointer becomes TEXT (never a secret: a variable name).
    - ``env-table``: ``args = (("env", NAME),)``; the value at the pointer
      becomes an ``{ env = NAME }`` secret reference.
    - ``secret-to-file``: the inline secret at the pointer moves to a new
      0600 file and the value becomes ``{ file = PATH }``; the value itself
      is never carried here.
    - ``split-list-entry``: ``args = (("item", TEXT), ...)``; the string at
      the pointer, an item of a list, becomes one list item per TEXT.
    - ``drop-suppression``: an unused code of a suppression comment is
      removed (``args = (("line", N), ("start", COL), ("end", COL))``, the
      columns of the text to delete, 1-based, end exclusive).
    """

    action: str
    safety: str
    title: str
    args: tuple[tuple[str, str], ...] = ()

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.args if key == name]

    def arg(self, name: str, default: str = "") -> str:
        for key, value in self.args:
            if key == name:
                return value
        return default


@record
class Finding:
    """A diagnostic before it is located in source text.

    ``pointer`` is an RFC 6901 JSON pointer into the loaded document.
    ``severity`` defaults to the code's registered severity.
    ``column_offset``/``length`` narrow the span inside a string value (used
    for selectors written in a config list): both count characters of the
    decoded string, and the locator maps them into the source when it can.
    ``origin`` names the document the pointer is into when a stage sees two
    (``ORIGIN_SETTINGS``: gatewayctl's own settings file); "" is the
    document being validated.
    """

    code: str
    pointer: str
    message: str
    hint: str = ""
    target: str = TARGET_VALUE
    severity: Severity | None = None
    column_offset: int | None = None
    length: int | None = None
    fix: Fix | None = None
    # For "X is missing" findings: the missing key names. validate() drops
    # such a finding when an unknown-key finding in the same table already
    # says the key is there under a typo (one mistake, one diagnostic).
    missing: tuple[str, ...] = ()
    origin: str = ""


ORIGIN_SETTINGS = "settings"


@record
class Diagnostic:
    code: str
    severity: Severity
    message: str
    hint: str
    path: str
    pointer: str
    range: Range | None = None
    # Extra machine-readable facts (e.g. {"did_you_mean": "bot_token"}); never secrets.
    data: tuple[tuple[str, str], ...] = field(default=())
    # The fix the rule declared, if any (see Fix); not part of any report.
    fix: Fix | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self) -> dict:
        out = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "path": self.path,
            "pointer": self.pointer,
            "range": self.range.to_json() if self.range else None,
        }
        return out


def sort_diagnostics(diags) -> list[Diagnostic]:
    """Stable reading order: by file, then position, then code."""

    def key(d: Diagnostic):
        r = d.range
        pos = (r.start.line, r.start.column) if r else (0, 0)
        return (d.path, pos, d.code, d.pointer, d.message)

    return sorted(diags, key=key)


def escape_pointer_token(token: str) -> str:
    token = str(token)
    if "~" not in token and "/" not in token:
        return token
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer_join(*tokens) -> str:
    return "".join("/" + escape_pointer_token(t) for t in tokens)


def pointer_split(pointer: str) -> list[str]:
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [_unescape(t) for t in pointer[1:].split("/")]
