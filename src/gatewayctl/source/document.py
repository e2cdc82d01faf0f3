"""The loaded ``Document`` and its lazy pointer -> range locator.

Positions cost time and nobody needs them for a clean file, so a Document
only remembers how to build its index; the first ``locate`` builds it.

Imports the standard library, gatewayctl.diagnostics and source.text only;
no parser library (a Document must stay cheap to build and to pass around).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gatewayctl.diagnostics import (
    TARGET_KEY,
    Diagnostic,
    Finding,
    Range,
    Severity,
    code_info,
    pointer_split,
)
from gatewayctl.digest import sha256_hex
from gatewayctl.records import field, record
from gatewayctl.source.text import Entry, LineTable


class Index:
    """What ``build_index`` returns (a protocol, written as a plain class:
    typing.Protocol would cost a cold check the typing import)."""

    def entry(self, tokens: Sequence[str]) -> Entry | None:
        """The entry at exactly these pointer tokens; None if absent (and for the root)."""


@record
class Document:
    path: str
    text: str
    format: str  # "toml" | "yaml" | "json" | "selectors"
    data: object = field(compare=False)
    sha256: str
    # Builds the index on first use; may return None when positions cannot
    # be computed (then every pointer locates to the first line).
    build_index: Callable[["Document"], Index | None] = field(repr=False, compare=False)
    _lines: list = field(default_factory=list, init=False, repr=False, compare=False)
    _index: list = field(default_factory=list, init=False, repr=False, compare=False)

    # -- lines ---------------------------------------------------------

    @property
    def lines(self) -> LineTable:
        if not self._lines:
            self._lines.append(LineTable(self.text))
        return self._lines[0]

    def line_text(self, n: int) -> str:
        return self.lines.line_text(n)

    # -- locating ------------------------------------------------------

    def _get_index(self) -> Index | None:
        if not self._index:
            try:
                index = self.build_index(self)
            except RecursionError:
                # Nesting deep enough to exhaust the stack: the file loaded,
                # so report at the first line rather than fail the run.
                index = None
            self._index.append(index)
        return self._index[0]

    def locate(
        self,
        pointer: str,
        target: str = "value",
        column_offset: int | None = None,
        length: int | None = None,
    ) -> Range | None:
        lines = self.lines
        try:
            tokens = pointer_split(pointer)
        except ValueError:
            return lines.first_line_range()
        index = self._get_index()
        if index is None:
            return lines.first_line_range()
        entry = index.entry(tokens) if tokens else None
        if entry is not None:
            if target == TARGET_KEY and entry.key is not None:
                return lines.range(*entry.key)
            span = entry.value
            if column_offset is not None and entry.content_start is not None:
                span = self._narrow(entry, tokens, column_offset, length) or span
            return lines.range(*span)
        for n in range(len(tokens) - 1, 0, -1):
            ancestor = index.entry(tokens[:n])
            if ancestor is not None:
                return lines.range(*(ancestor.key or ancestor.value))
        return lines.first_line_range()

    def exact_span(self, pointer: str, target: str = "value") -> tuple[int, int] | None:
        """Character offsets of exactly this entry's key or value in
        ``text``; None when the pointer does not exist (no ancestor
        fallback: a fix must edit the entry itself or nothing)."""
        try:
            tokens = pointer_split(pointer)
        except ValueError:
            return None
        index = self._get_index() if tokens else None
        entry = index.entry(tokens) if index is not None else None
        if entry is None:
            return None
        return entry.key if target == TARGET_KEY else entry.value

    def _narrow(self, entry: Entry, tokens, column_offset: int, length: int | None):
        if length is None:
            value = _walk(self.data, tokens)
            if not isinstance(value, str):
                return None
            length = len(value) - column_offset
        if column_offset < 0 or length < 0 or column_offset + length > entry.clean_len:
            return None
        start = entry.content_start + column_offset
        return (start, start + length)

    def diagnostic(self, finding: Finding) -> Diagnostic:
        severity = finding.severity or Severity(code_info(finding.code).severity)
        return Diagnostic(
            code=finding.code,
            severity=severity,
            message=finding.message,
            hint=finding.hint,
            path=self.path,
            pointer=finding.pointer,
            range=self.locate(finding.pointer, finding.target, finding.column_offset, finding.length),
            fix=finding.fix,
        )


def _walk(data: object, tokens: Sequence[str]) -> object:
    for token in tokens:
        if isinstance(data, dict):
            if token not in data:
                return None
            data = data[token]
        elif isinstance(data, list):
            if not token.isdigit() or int(token) >= len(data):
                return None
            data = data[int(token)]
        else:
            return None
    return data


# -- selectors from the command line ------------------------------------


@record
class _ListIndex:
    entries: dict

    def entry(self, tokens: Sequence[str]) -> Entry | None:
        if len(tokens) != 1:
            return None
        return self.entries.get(tokens[0])


def selector_document(values: Sequence[str], label: str = "<command line>") -> Document:
    """A pseudo-document whose line i+1 holds values[i]; pointer "/i" locates it.

    Line breaks inside a value become spaces in ``text`` (one character for
    one) so that line numbers and character offsets both stay true.
    """
    values = [str(v) for v in values]
    shown = [v.replace("\r", " ").replace("\n", " ") for v in values]
    text = "\n".join(shown)

    def build(doc: Document) -> Index:
        entries = {}
        offset = 0
        for i, line in enumerate(shown):
            entries[str(i)] = Entry(value=(offset, offset + len(line)), content_start=offset, clean_len=len(line))
            offset += len(line) + 1
        return _ListIndex(entries)

    return Document(
        path=label,
        text=text,
        format="selectors",
        data=list(values),
        sha256=sha256_hex(text.encode("utf-8", "surrogatepass")),
        build_index=build,
    )

