"""Fix intents -> text edits at the exact ranges the diagnostics locate.

A fix never re-emits the document: each edit replaces one located span
(a key, a value, a suppression code) with text built here for the
document's format, so comments, key order, quoting and indentation
elsewhere stay byte for byte. The values a fix writes are small and
regular (a bare key, a variable name, an `env` or `file` table), so they
are built directly; JSON string escaping is valid TOML basic-string and
YAML double-quoted escaping too.

Imports the standard library, diagnostics and source's Document only.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from gatewayctl.diagnostics import TARGET_KEY, Diagnostic, pointer_split

_TOML_BARE = re.compile(r"[A-Za-z0-9_-]+\Z")
_YAML_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_YAML_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"}
_FILE_TOKEN = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True, order=True)
class Edit:
    """Replace ``text[start:end]`` (character offsets) with ``new``."""

    start: int
    end: int
    new: str


@dataclass(frozen=True, slots=True)
class SecretFile:
    """A secret the fix moves out of the config: written (0600, never
    overwriting another file) only when the fixed config is written."""

    path: str
    value: str


@dataclass(frozen=True, slots=True)
class Planned:
    diagnostic: Diagnostic
    edits: tuple[Edit, ...]
    secret_file: SecretFile | None = None


def apply_edits(text: str, edits) -> str:
    """Apply non-overlapping edits (any order)."""
    out = []
    pos = 0
    for e in sorted(edits):
        out.append(text[pos : e.start])
        out.append(e.new)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


def overlaps(a: Edit, b: Edit) -> bool:
    return a.start < b.end and b.start < a.end or (a.start == b.start and a.end == a.start == b.end)


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def key_text(fmt: str, key: str) -> str:
    if fmt == "toml":
        return key if _TOML_BARE.match(key) else _string(key)
    if fmt == "yaml":
        return key if _YAML_PLAIN.match(key) and key.lower() not in _YAML_RESERVED else _string(key)
    return _string(key)


def table_text(fmt: str, key: str, value: str) -> str:
    if fmt == "toml":
        return f"{{ {key} = {_string(value)} }}"
    if fmt == "yaml":
        return f"{{{key}: {_string(value)}}}"
    return f"{{{_string(key)}: {_string(value)}}}"


def _span(doc, rng) -> tuple[int, int]:
    lines = doc.lines
    return lines.offset(rng.start.line, rng.start.column), lines.offset(rng.end.line, rng.end.column)


def _value_at(data, pointer: str):
    node = data
    for tok in pointer_split(pointer):
        if isinstance(node, dict) and tok in node:
            node = node[tok]
        elif isinstance(node, list) and tok.isdigit() and int(tok) < len(node):
            node = node[int(tok)]
        else:
            return None
    return node


def _exact(doc, pointer: str, target: str):
    return doc.exact_span(pointer, target)


def _own_key(text: str, span: tuple[int, int], key: str) -> tuple[int, int] | None:
    """Narrow a located key span to the key itself: a TOML header or dotted
    key (`[telegram.bot_tokn]`) is located as the whole path, and only its
    last part may be renamed. None when the span does not end in the key."""
    a, b = span
    while b > a and text[b - 1] in " \t":
        b -= 1
    for form in (key, _string(key), f"'{key}'"):
        if text.endswith(form, a, b):
            start = b - len(form)
            before = text[a:start].rstrip(" \t")
            if start == a or before.endswith("."):
                return (start, b)
    return None


def secret_file_path(config_path: str, pointer: str, taken=os.path.exists, same=None) -> str:
    """Where an inline secret goes: ``<config dir>/<config stem>.secrets/
    <dotted pointer>``, absolute (loong reads `file` relative to its working
    directory, not the config's). A name already taken by another file gets
    a ``.2``, ``.3`` suffix; ``same(path)`` says a taken name already holds
    this very secret (a fix interrupted before the config was written)."""
    config = os.path.abspath(config_path)
    stem = os.path.splitext(os.path.basename(config))[0] or "config"
    directory = os.path.join(os.path.dirname(config), f"{stem}.secrets")
    name = ".".join(_FILE_TOKEN.sub("_", t) or "_" for t in pointer_split(pointer)) or "secret"
    candidate = os.path.join(directory, name)
    n = 2
    while taken(candidate) and not (same and same(candidate)):
        candidate = os.path.join(directory, f"{name}.{n}")
        n += 1
    return candidate


def plan_edit(doc, diag: Diagnostic, *, config_path: str | None = None) -> Planned | None:
    """The edits that carry out ``diag.fix`` on ``doc``; None when the fix
    cannot be placed exactly (then it stays a hint)."""
    fix = diag.fix
    if fix is None or doc is None:
        return None
    fmt = doc.format
    if fix.action == "rename-key":
        span = _exact(doc, diag.pointer, TARGET_KEY)
        span = _own_key(doc.text, span, pointer_split(diag.pointer)[-1]) if span is not None else None
        if span is None:
            return None
        return Planned(diag, (Edit(span[0], span[1], key_text(fmt, fix.arg("to"))),))
    if fix.action == "replace-string":
        span = _exact(doc, diag.pointer, "value")
        if span is None or not isinstance(_value_at(doc.data, diag.pointer), str):
            return None
        return Planned(diag, (Edit(span[0], span[1], _string(fix.arg("value"))),))
    if fix.action == "env-table":
        span = _exact(doc, diag.pointer, "value")
        if span is None or not isinstance(_value_at(doc.data, diag.pointer), str):
            return None
        return Planned(diag, (Edit(span[0], span[1], table_text(fmt, "env", fix.arg("env"))),))
    if fix.action == "secret-to-file":
        value = _value_at(doc.data, diag.pointer)
        span = _exact(doc, diag.pointer, "value")
        if span is None or not isinstance(value, str) or not value.strip():
            return None
        # loong trims an inline secret, and reads a file up to its trailing
        # newlines: the file holds the trimmed value and one newline.
        content = value.strip() + "\n"
        path = secret_file_path(config_path or doc.path, diag.pointer, same=lambda p: _holds(p, content))
        return Planned(diag, (Edit(span[0], span[1], table_text(fmt, "file", path)),), SecretFile(path, content))
    if fix.action == "split-list-entry":
        span = _exact(doc, diag.pointer, "value")
        items = fix.all("item")
        if span is None or not items or not isinstance(_value_at(doc.data, diag.pointer), str):
            return None
        line_start = doc.text.rfind("\n", 0, span[0]) + 1
        lead = doc.text[line_start : span[0]]
        if fmt == "yaml" and lead.strip() == "-":
            # a block sequence: one `- item` line each, at the same indent
            sep = "\n" + lead
        else:
            sep = ", "
        return Planned(diag, (Edit(span[0], span[1], sep.join(_string(i) for i in items)),))
    if fix.action == "drop-suppression":
        lines = doc.lines
        try:
            l1, c1 = int(fix.arg("start_line")), int(fix.arg("start"))
            l2, c2 = int(fix.arg("end_line")), int(fix.arg("end"))
        except ValueError:
            return None
        a = lines.offset(l1, c1)
        # end on a later line: through the line break (a whole comment line)
        b = lines.line_start(l2) if l2 > l1 else lines.offset(l2, c2)
        return Planned(diag, (Edit(a, b, ""),))
    return None


def _holds(path: str, content: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read() == content
    except (OSError, UnicodeDecodeError):
        return False
