"""What the language server knows, without the protocol: diagnostics,
quick fixes, suppressions, hover text and completions for one buffer.

Everything runs through the pipeline's one lint pass and the fix package,
so the editor shows exactly what `gatewayctl check` prints and applies
exactly what `gatewayctl fix` would. Positions here are ours (1-based
lines, code-point columns, character offsets); server.py converts them to
the client's units.

Imports diagnostics, catalog (the schema and account-id normalization),
pipeline, fix and report.sarif (the docs link of a code); never validate,
selectors, compile, runtime or workers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from gatewayctl.diagnostics import SAFE, Diagnostic, pointer_join

_TOML_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_TOML_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
_YAML_KEY_LINE = re.compile(r"^(\s*)([A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')\s*:(?:\s|$)")
_KEY_PREFIX = re.compile(r"^\s*([A-Za-z0-9_-]*)$")
_SELECTOR_PREFIX = re.compile(r"[\"']\s*([A-Za-z0-9_-]+)\s*=\s*([^\"'=,]*)$")


@dataclass(frozen=True, slots=True)
class Action:
    """A quick fix or a suppression: replace text at character offsets."""

    title: str
    diagnostic: Diagnostic
    edits: tuple  # fix.Edit
    preferred: bool = False
    secret_pointer: str | None = None  # set: the action moves a secret (a server command)


def lint(path: str, text: str, fmt: str | None = None):
    from gatewayctl.pipeline import lint_file

    return lint_file(path, data=text.encode("utf-8", "surrogatepass"), fmt=fmt)


def own(result) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.path == result.shown]


@functools.cache
def rules_link(code: str) -> str:
    from gatewayctl.report.sarif import information_uri, rule_anchor, rules_doc_uri

    return f"{rules_doc_uri(information_uri())}#{rule_anchor(code)}"


# -- code actions -----------------------------------------------------------


def actions(path: str, result, first_line: int, last_line: int, fmt: str | None = None) -> list[Action]:
    """Quick fixes and "suppress on this line" for the diagnostics that
    touch lines first_line..last_line (1-based). A quick fix is offered only
    if it passes the same re-check as `gatewayctl fix`."""
    from gatewayctl.fix import apply_edits, own_doc, plan_edit, verify
    from gatewayctl.fix.edits import Edit
    from gatewayctl.pipeline.suppress import line_suppression_edit, suppressible

    doc = own_doc(result)
    if doc is None:
        return []
    out: list[Action] = []
    for d in own(result):
        r = d.range
        if r is None or r.end.line < first_line or r.start.line > last_line:
            continue
        if d.fix is not None:
            planned = plan_edit(doc, d, config_path=path)
            if planned is not None:
                after = lint(path, apply_edits(doc.text, planned.edits), fmt or doc.format)
                if verify(result, after, d) is None:
                    unsafe = d.fix.safety != SAFE
                    title = f"{d.fix.title} ({d.code}{', unsafe' if unsafe else ''})"
                    secret = d.pointer if planned.secret_file is not None else None
                    out.append(Action(title, d, planned.edits, preferred=not unsafe, secret_pointer=secret))
        if suppressible(d.code):
            edit = line_suppression_edit(doc.text, doc.format, r.start.line, d.code)
            if edit is not None:
                line, col, text = edit
                at = doc.lines.offset(line, col)
                out.append(Action(f"Suppress {d.code} on this line", d, (Edit(at, at, text),)))
    return out


# -- hover --------------------------------------------------------------------


def key_at(doc, offset: int) -> tuple[str, ...] | None:
    """The pointer tokens of the key written at ``offset``, if any."""
    stack = [((), doc.data)]
    while stack:
        tokens, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            here = tokens + (str(key),)
            if isinstance(key, str):
                span = doc.exact_span(pointer_join(*here), "key")
                if span is not None and span[0] <= offset < max(span[1], span[0] + 1):
                    return here
            if isinstance(value, (dict, list)):
                stack.append((here, value))
    return None


def _deref(schema: dict, node: dict) -> dict:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 16:
        target = schema
        for tok in node["$ref"][2:].split("/"):
            target = target[tok]
        merged = dict(target)
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        node = merged
        seen += 1
    return node


def schema_at(tokens, schema_name: str = "config") -> dict | None:
    """The schema's node for a key path (accounts and maps included):
    ``config`` for a loong config, ``settings`` for gatewayctl.toml."""
    from gatewayctl.catalog import load_schema

    schema = load_schema(schema_name)
    node = schema
    for tok in tokens:
        node = _deref(schema, node)
        props = node.get("properties", {}) if isinstance(node, dict) else {}
        if tok in props:
            node = props[tok]
            continue
        extra = node.get("additionalProperties") if isinstance(node, dict) else None
        if isinstance(extra, dict):
            node = extra
            continue
        return None
    return _deref(schema, node)


def hover_text(tokens, schema_name: str = "config") -> str | None:
    node = schema_at(tokens, schema_name)
    if not node:
        return None
    lines = [f"**{tokens[-1]}**" + (f" (`{'.'.join(tokens[:-1])}`)" if len(tokens) > 1 else "")]
    if node.get("description"):
        lines.append(node["description"])
    facts = []
    kind = node.get("type")
    if kind:
        facts.append("type: " + (" or ".join(kind) if isinstance(kind, list) else kind))
    if "oneOf" in node or "anyOf" in node:
        facts.append("a secret reference: a string, or { env = ... } / { file = ... } / { exec = [...] }")
    if "enum" in node:
        facts.append("one of: " + ", ".join(f"`{v}`" for v in node["enum"]))
    if "default" in node:
        facts.append(f"default: `{node['default']}`")
    if facts:
        lines.append("\n".join(f"- {f}" for f in facts))
    return "\n\n".join(lines)


# -- completion -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Completion:
    label: str
    detail: str
    documentation: str = ""


def _toml_table(lines: list[str], line_no: int) -> tuple[tuple[str, ...], int] | None:
    """The `[table]` a 0-based line is in, and the header's line."""
    for n in range(line_no, -1, -1):
        m = _TOML_HEADER.match(lines[n])
        if m and not lines[n].lstrip().startswith("[["):
            return tuple(_split_dotted(m.group(1))), n
    return (), -1


def _split_dotted(text: str) -> list[str]:
    out, cur, quote = [], "", None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                cur += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def _yaml_path(lines: list[str], line_no: int, indent: int) -> tuple[str, ...]:
    path = []
    for n in range(line_no - 1, -1, -1):
        m = _YAML_KEY_LINE.match(lines[n])
        if not m:
            continue
        depth = len(m.group(1))
        if depth < indent:
            path.append(m.group(2).strip("\"'"))
            indent = depth
            if depth == 0:
                break
    return tuple(reversed(path))


def completions(text: str, fmt: str, line: int, column: int, data, schema_name: str = "config") -> list[Completion]:
    """Completions at 0-based ``line`` and code-point ``column``: the keys a
    table may hold (not yet written), or the configured account ids inside a
    `channel_accounts` selector. ``data`` is the last loaded value of the
    buffer (the text being typed often does not parse)."""
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return []
    before = lines[line][:column]
    offset = sum(len(x) + 1 for x in lines[:line]) + column
    selector = _SELECTOR_PREFIX.search(before)
    if selector and _in_channel_accounts(text[:offset], fmt):
        return _account_ids(selector.group(1), data)
    if not _KEY_PREFIX.match(before):
        return []
    if fmt == "toml":
        table, header = _toml_table(lines, line)
        present = set()
        for n in range(header + 1, len(lines)):
            if n != line and _TOML_HEADER.match(lines[n]):
                break
            m = _TOML_KEY_LINE.match(lines[n])
            if m and n != line:
                present.add(m.group(1))
    elif fmt == "yaml":
        indent = len(before) - len(before.lstrip(" "))
        table = _yaml_path(lines, line, indent)
        present = set()
        for n in range(line + 1, len(lines)):
            m = _YAML_KEY_LINE.match(lines[n])
            if m and len(m.group(1)) < indent:
                break
        for n, body in enumerate(lines):
            m = _YAML_KEY_LINE.match(body)
            if m and n != line and len(m.group(1)) == indent and _yaml_path(lines, n, indent) == table:
                present.add(m.group(2).strip("\"'"))
    else:
        return []
    if not table and schema_name == "config":
        return []  # loong's top level is open: no list to offer
    node = schema_at(table, schema_name)
    if not node:
        return []
    props = node.get("properties", {})
    out = []
    for name in sorted(props):
        if name in present:
            continue
        child = schema_at(table + (name,), schema_name) or {}
        out.append(Completion(name, f"[{'.'.join(table)}] key", child.get("description", "")))
    return out


def _in_channel_accounts(prefix: str, fmt: str) -> bool:
    at = prefix.rfind("channel_accounts")
    if at < 0:
        return False
    between = prefix[at + len("channel_accounts") :]
    if fmt == "toml":
        return between.lstrip().startswith("=") and "[" in between and "]" not in between
    if fmt == "yaml":
        rest = between.split("\n")
        if not rest[0].lstrip().startswith(":"):
            return False
        return "[" in rest[0] and "]" not in between or all(not x.strip() or x.lstrip().startswith("-") for x in rest[1:])
    return False


def _account_ids(channel: str, data) -> list[Completion]:
    from gatewayctl.catalog import normalize_account_id, resolve

    fam = resolve(channel)
    if fam is None or not isinstance(data, dict):
        return []
    table = data.get(fam.table)
    if not isinstance(table, dict):
        return []
    accounts = table.get("accounts")
    ids: dict[str, str] = {}
    if isinstance(accounts, dict) and accounts:
        for key in accounts:
            if isinstance(key, str):
                ids.setdefault(normalize_account_id(key), key)
    elif isinstance(table.get("account_id"), str) and table["account_id"].strip():
        ids[normalize_account_id(table["account_id"])] = table["account_id"]
    return [Completion(i, f"account of [{fam.table}]", f"[{fam.table}.accounts.{key}]") for i, key in sorted(ids.items())]
