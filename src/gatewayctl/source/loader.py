"""Read bytes, decode UTF-8, and hand the text to the parser of its format.

Imports no parser library itself: each format module is imported on first
use, so a TOML run never pays for ruamel.yaml.
"""

from __future__ import annotations

import os

from gatewayctl.diagnostics import Position, Range
from gatewayctl.digest import sha256_hex
from gatewayctl.inputs import MAX_CONFIG_BYTES, InputError, read_regular_file, size_text
from gatewayctl.source.common import LoadResult, load_diagnostic
from gatewayctl.source.values import replace_surrogates, unsupported_values

FORMATS = ("toml", "yaml", "json")
_BY_SUFFIX = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def format_for(path: str) -> str:
    """The format a path's suffix implies; an unknown suffix means TOML (loong's own)."""
    return _BY_SUFFIX.get(os.path.splitext(str(path))[1].lower(), "toml")


def load_document(path: str, *, data: bytes | None = None, fmt: str | None = None) -> LoadResult:
    """Load one config; see docs/architecture.md "source".

    ``data`` given: parse those bytes and never touch the disk (stdin).
    Returns ``(Document, ())`` or ``(None, (diagnostic, ...))``.
    """
    if fmt is None:
        fmt = format_for(path)
    elif fmt not in FORMATS:
        # The caller (cli) offers only FORMATS; anything else is our bug.
        raise ValueError(f"unknown config format {fmt!r}; expected one of {FORMATS}")
    path = str(path)
    if data is None:
        raw, problem = _read(path)
        if problem is not None:
            return None, (problem,)
    else:
        raw = bytes(data)
        if len(raw) > MAX_CONFIG_BYTES:
            return None, (_too_large(path),)
    text, problem = _decode(path, raw)
    if problem is not None:
        return None, (problem,)
    sha256 = sha256_hex(raw)
    if fmt == "toml":
        from gatewayctl.source import toml_source as parser
    elif fmt == "yaml":
        from gatewayctl.source import yaml_source as parser
    else:
        from gatewayctl.source import json_source as parser
    doc, diags = parser.parse(path, text, sha256)
    if doc is None:
        return doc, diags
    # Values no consumer of a config can hold (loong's serde types, our
    # canonical UTF-8 plans): refused here, once, so check and plan agree.
    problems = unsupported_values(doc.data)
    if problems:
        return None, tuple(
            # Located with the real key; reported with U+FFFD in place of a
            # surrogate, which no output encoding could carry.
            load_diagnostic("GW007", path, message, hint, doc.locate(pointer, where), replace_surrogates(pointer))
            for pointer, where, message, hint in problems
        )
    return doc, diags


def _too_large(path: str):
    return load_diagnostic(
        "GW001",
        path,
        f"cannot read {path}: it is larger than the {size_text(MAX_CONFIG_BYTES)} limit for a config",
        "A config is a few kilobytes; check that this is the file you meant (not a log, a dump or a device).",
    )


def _read(path: str):
    hint = "Check the path and that the file is readable by this user."
    try:
        return read_regular_file(path, MAX_CONFIG_BYTES), None
    except InputError as exc:
        if exc.kind == "too_large":
            return None, _too_large(path)
        if exc.kind == "directory":
            hint = "Pass the config file itself, e.g. config.toml inside that directory."
        elif exc.kind == "not_regular":
            hint = "Pass a regular file; to lint generated text, pipe it to `gatewayctl check -`."
        return None, load_diagnostic("GW001", path, f"cannot read {path}: {exc.reason}", hint)


def _decode(path: str, raw: bytes):
    body = raw[len(_UTF8_BOM):] if raw.startswith(_UTF8_BOM) else raw
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        bad = exc.start
    for bom, name in _OTHER_BOMS:
        if body.startswith(bom):
            return None, load_diagnostic(
                "GW001",
                path,
                f"{path} is encoded as {name}, not UTF-8",
                "Save the file as UTF-8 (most editors offer it under 'Save with encoding').",
            )
    line_start = body.rfind(b"\n", 0, bad) + 1
    line = body.count(b"\n", 0, bad) + 1
    column = len(body[line_start:bad].decode("utf-8", "replace")) + 1
    rng = Range(Position(line, column), Position(line, column + 1))
    return None, load_diagnostic(
        "GW001",
        path,
        f"{path} is not valid UTF-8: byte 0x{body[bad]:02x} at line {line}, column {column}",
        "Save the file as UTF-8; configs must be UTF-8 text.",
        rng,
    )
