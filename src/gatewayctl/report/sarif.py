"""SARIF 2.1.0 output, the format GitHub code scanning (and most CI
dashboards) ingest.

Owns the mapping Diagnostic -> SARIF result: one run, a rules table built
from the code registry, physical locations with 1-based regions and stable
fingerprints. Imports only the standard library, gatewayctl.diagnostics and
gatewayctl.report; must not import source, selectors, validate, compile or
runtime.
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import quote

from gatewayctl.diagnostics import CODES, Diagnostic, code_info
from gatewayctl.report import ReportInput

SARIF_VERSION = "2.1.0"
# The $id of the OASIS 2.1.0 schema (errata 01), the one tests validate against.
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

# The Source URL of pyproject.toml's [project.urls], read from the installed
# metadata, is what links point at; this copy of it serves only a run
# without installed metadata (e.g. from a bare source tree).
DEFAULT_INFORMATION_URI = "https://github.com/gatewayctl/gatewayctl"

# The key under partialFingerprints. The "/v1" is part of the contract: if
# the fingerprint recipe ever changes, the key changes with it, so code
# scanning never matches old alerts against a differently computed value.
FINGERPRINT_KEY = "gatewayctl/v1"

SRCROOT = "%SRCROOT%"

_AREAS = (
    ("GW0", "loading"),
    ("GW1", "schema"),
    ("GW2", "accounts-secrets"),
    ("GW3", "serving"),
    ("GW4", "selectors"),
    ("GW5", "plans"),
    ("GW7", "suppressions"),
)


def rule_anchor(code: str) -> str:
    """GitHub's slug of the code's heading in docs/rules.md."""
    info = code_info(code)
    heading = f"{info.code} {info.title}".lower()
    heading = re.sub(r"[^\w\- ]", "", heading)
    return heading.replace(" ", "-")


def _area(code: str) -> str:
    for prefix, name in _AREAS:
        if code.startswith(prefix):
            return name
    return "other"


def information_uri() -> str:
    from importlib import metadata

    try:
        urls = metadata.metadata("gatewayctl").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in urls:
        label, _, url = entry.partition(",")
        if label.strip().lower() in ("homepage", "source", "repository") and url.strip().startswith("https://"):
            return url.strip().rstrip("/")
    return DEFAULT_INFORMATION_URI


def rules_doc_uri(info_uri: str) -> str:
    """docs/rules.md as rendered by the forge; helpUri anchors follow GitHub's
    heading slugs ("### GW101 unknown-key" -> #gw101-unknown-key)."""
    return info_uri + "/blob/main/docs/rules.md"


def _rule(code: str, rules_uri: str) -> dict:
    info = CODES[code]
    help_uri = f"{rules_uri}#{rule_anchor(code)}"
    severity_note = (
        "Errors fail `gatewayctl check`."
        if info.severity == "error"
        else "Warnings fail `gatewayctl check` only under --strict."
    )
    return {
        "id": info.code,
        "name": info.title,
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": f"{info.code} {info.title}: {info.summary} {severity_note}"},
        "helpUri": help_uri,
        "help": {
            "text": f"{info.summary} See {help_uri} for a bad example, the message and the fix.",
            "markdown": f"{info.summary}\n\n[{info.code} in docs/rules.md]({help_uri}): a bad example, the message and the fix.",
        },
        "defaultConfiguration": {"level": info.severity},
        "properties": {"tags": ["gatewayctl", _area(code)]},
    }


def _is_pseudo_path(path: str) -> bool:
    # "<stdin>", "<command line>": text that has no file in the repository.
    return path.startswith("<") and path.endswith(">")


def _repo_path(path: str) -> str:
    """The path as given, in forward slashes, without a leading "./": the
    same file gets the same URI and fingerprint however it was spelled."""
    posix = path.replace("\\", "/")
    while posix.startswith("./"):
        posix = posix[2:]
    return posix


_DRIVE = re.compile(r"^[A-Za-z]:/")


def _artifact_location(path: str) -> dict:
    posix = _repo_path(path)
    # A file name that is not UTF-8 reaches Python as surrogate escapes: its
    # URI percent-encodes the original bytes.
    if posix.startswith("/"):
        # An absolute path cannot be resolved against the checkout root.
        return {"uri": "file://" + quote(posix, safe="/", errors="surrogateescape")}
    if _DRIVE.match(posix):
        return {"uri": "file:///" + quote(posix, safe="/:", errors="surrogateescape")}
    return {"uri": quote(posix, safe="/", errors="surrogateescape"), "uriBaseId": SRCROOT}


def _region(d: Diagnostic) -> dict | None:
    r = d.range
    if r is None:
        return None
    return {
        "startLine": r.start.line,
        "startColumn": r.start.column,
        "endLine": r.end.line,
        # SARIF's endColumn is the column after the last character: the same
        # end-exclusive convention as our Range.
        "endColumn": r.end.column,
    }


def fingerprint(d: Diagnostic) -> str:
    """Stable across edits that only move lines: no line or column goes in."""
    material = "\x00".join((d.code, _repo_path(d.path), d.pointer, d.message))
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()


def _anchor_path(inp: ReportInput) -> str:
    """The file a result without one of its own is attached to.

    GitHub code scanning rejects the whole upload when any result lacks a
    physical artifact location, so "<command line>" selector findings (and
    "<stdin>") are anchored to the first real file checked, without a
    region; the logical location and the message keep where they really are.
    """
    for f in inp.files:
        if not _is_pseudo_path(f.path):
            return f.path
    # Only stdin without --stdin-filename: there is no file at all.
    return "stdin"


def _location(d: Diagnostic, anchor: str) -> dict:
    if _is_pseudo_path(d.path):
        physical: dict = {"artifactLocation": _artifact_location(anchor)}
    else:
        physical = {"artifactLocation": _artifact_location(d.path)}
        region = _region(d)
        if region is not None:
            physical["region"] = region
    # The JSON pointer names the config entry independent of formatting.
    logical = {"fullyQualifiedName": f"{d.path}#{d.pointer}", "kind": "member"}
    if d.pointer:
        logical["name"] = d.pointer
    return {"physicalLocation": physical, "logicalLocations": [logical]}


def _result(d: Diagnostic, rule_index: int, anchor: str) -> dict:
    text = d.message if not d.hint else f"{d.message}\nHint: {d.hint}"
    if _is_pseudo_path(d.path):
        r = d.range
        where = f"{d.path}:{r.start.line}:{r.start.column}" if r else d.path
        text = f"{where}: {text}"
    result = {
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": d.severity.value,
        "message": {"text": text},
        "locations": [_location(d, anchor)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(d)},
    }
    props = {"pointer": d.pointer}
    if d.hint:
        props["hint"] = d.hint
    result["properties"] = props
    return result


def build(inp: ReportInput) -> dict:
    """The SARIF log as a plain dict (render() serializes it)."""
    codes = sorted({d.code for d in inp.diagnostics if d.code in CODES})
    index = {c: i for i, c in enumerate(codes)}
    anchor = _anchor_path(inp)
    results = []
    for d in inp.diagnostics:
        if d.code not in index:  # pragma: no cover - every code is registered
            continue
        results.append(_result(d, index[d.code], anchor))
    info_uri = information_uri()
    rules_uri = rules_doc_uri(info_uri)
    run = {
        "tool": {
            "driver": {
                "name": "gatewayctl",
                "version": inp.tool_version,
                "semanticVersion": inp.tool_version,
                "informationUri": info_uri,
                "rules": [_rule(c, rules_uri) for c in codes],
            }
        },
        "columnKind": "unicodeCodePoints",
        "originalUriBaseIds": {
            SRCROOT: {"description": {"text": "The directory gatewayctl check was run in."}}
        },
        "results": results,
        "properties": {"strict": inp.strict, "valid": inp.valid},
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render(inp: ReportInput) -> str:
    return json.dumps(build(inp), ensure_ascii=False, indent=2) + "\n"
