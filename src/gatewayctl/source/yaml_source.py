"""YAML: ruamel.yaml composes nodes (with marks); values are built here.

Building values from the node graph ourselves (instead of ruamel's
constructor) is what lets us report every duplicate key with both lines,
refuse tags and non-string keys with a location, and survive recursive
aliases. ruamel's own scalar constructors still decide what `0o17`, `.inf`
or `2024-01-01` mean, so YAML 1.2 semantics are ruamel's, not ours.

YAML timestamps stay date/datetime objects, exactly like TOML dates, so a
tree means the same thing in either format.

The only ruamel.yaml importer. Imports gatewayctl.diagnostics and source.*;
nothing from catalog, validate or later stages.
"""

from __future__ import annotations

import warnings

# This module is imported on the first YAML file only (see loader), so a
# TOML-only run never loads ruamel.yaml.
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from gatewayctl.diagnostics import Position, Range, pointer_join
from gatewayctl.source.common import LoadResult, load_diagnostic, type_name
from gatewayctl.source.document import Document
from gatewayctl.source.text import Entry, LineTable, trim_end

_T = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_T + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
_MAP = _T + "map"
_SEQ = _T + "seq"
_MERGE = _T + "merge"
_STR = _T + "str"
# A config has a few hundred values; this bounds what aliases can expand to
# ("billion laughs") while leaving generous room for real files.
MAX_VALUES = 250_000

_PROBLEMS = {
    "mapping values are not allowed here": (
        "a ': ' appears where no new key can start",
        "Quote values that contain ': ', or put a nested mapping on its own, more indented lines.",
    ),
    "expected a single document in the stream": (
        "the file holds more than one YAML document",
        "A config is a single document: remove the extra '---' separators.",
    ),
    "could not find expected ':'": (
        "a key is missing its ':'",
        "Write `key: value`; a line continuing a value must be indented more than its key.",
    ),
}


def parse(path: str, text: str, sha256: str) -> LoadResult:
    lines = LineTable(text)
    loader = YAML(typ="safe", pure=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            root = loader.compose(text)
    except MarkedYAMLError as exc:
        return None, (_marked_error(path, text, lines, exc),)
    except RecursionError:
        return None, (load_diagnostic("GW003", path, "invalid YAML: nested too deeply to read",
                                      "Flatten the structure.", lines.first_line_range()),)
    except YAMLError as exc:  # ReaderError: a character YAML does not allow
        return None, (_reader_error(path, lines, exc),)
    except Exception as exc:  # noqa: BLE001 - ruamel fails on some garbage with internal errors
        return None, (load_diagnostic("GW003", path, f"invalid YAML: the parser gave up ({type(exc).__name__})",
                                      "Check the file is YAML; indentation must use spaces.",
                                      lines.first_line_range()),)
    if root is None:
        return Document(path, text, "yaml", {}, sha256, build_index=lambda doc: None), ()

    builder = _Builder(loader.constructor, text, lines, path)
    if not _is_mapping(root):
        try:
            shown = builder.value(root, [])
        except RecursionError:
            shown = None
        start = lines.position(root.start_mark.index)
        rng = Range(start, Position(start.line, len(lines.line_text(start.line)) + 1))
        what = "a list" if _is_sequence(root) else type_name(shown)
        return None, (load_diagnostic(
            "GW006", path, f"the top level of a config must be a mapping of sections, not {what}",
            "Start the file with top-level keys such as `telegram:` or `gateway:`.", rng),)
    try:
        data = builder.value(root, [])
    except RecursionError:
        builder.problem("GW007", [], root, "values are nested too deeply to read", "Flatten the structure.")
    if builder.problems:
        return None, tuple(builder.problems)
    index_cache = _Pairs()
    return Document(path, text, "yaml", data, sha256,
                    build_index=lambda doc: YamlIndex(root, text, index_cache)), ()


def _is_mapping(node) -> bool:
    return isinstance(node, MappingNode)


def _is_sequence(node) -> bool:
    return isinstance(node, SequenceNode)


def _is_scalar(node) -> bool:
    return isinstance(node, ScalarNode)


def _span(text: str, node) -> tuple[int, int]:
    start = node.start_mark.index
    return (start, trim_end(text, start, node.end_mark.index))


def _marked_error(path, text, lines, exc):
    mark = exc.problem_mark or exc.context_mark
    problem = (exc.problem or exc.context or "not valid YAML").strip()
    context = (exc.context or "").strip()
    if context in _PROBLEMS:  # "expected a single document" arrives as the context
        problem, context = context, ""
    message, hint = _PROBLEMS.get(problem, (problem, ""))
    if problem.startswith("found character '\\t'"):
        message, hint = "a tab character where YAML needs spaces", "Indent YAML with spaces only."
    elif problem.startswith("found undefined alias"):
        hint = "Define the anchor (&name) before the alias (*name) that uses it."
    if context and exc.context_mark is not None and exc.problem_mark is not None:
        message += f" ({context} on line {lines.position(exc.context_mark.index).line})"
    if not hint:
        hint = "Check indentation (spaces only) and quote values that contain ':', '#', '{', '[' or start with '*', '&', '!'."
    if mark is None:
        rng = lines.first_line_range()
    else:
        offset = min(mark.index, len(text))
        if offset >= len(text):
            offset = len(text.rstrip(" \t\r\n"))
        start = lines.position(offset)
        end_col = min(start.column + 1, len(lines.line_text(start.line)) + 1)
        rng = Range(start, Position(start.line, end_col))
    return load_diagnostic("GW003", path, f"invalid YAML: {message}", hint, rng)


def _reader_error(path, lines, exc):
    position = getattr(exc, "position", None)
    character = getattr(exc, "character", None)
    if isinstance(position, int):
        start = lines.position(position)
        rng = Range(start, Position(start.line, min(start.column + 1, len(lines.line_text(start.line)) + 1)))
    else:
        rng = lines.first_line_range()
    if isinstance(character, int):
        message = f"invalid YAML: the character U+{character:04X} is not allowed"
    elif isinstance(character, str) and len(character) == 1:
        message = f"invalid YAML: the character U+{ord(character):04X} is not allowed"
    else:
        message = "invalid YAML: a character is not allowed"
    return load_diagnostic("GW003", path, message,
                           "Remove control characters; write them as escapes inside a double-quoted string.", rng)


class _Pairs:
    """Effective (key node, value node) pairs of mappings, merges applied, cached per node."""

    def __init__(self) -> None:
        self._cache: dict[int, dict] = {}

    def lookup(self, node) -> dict:
        got = self._cache.get(id(node))
        if got is None:
            got = {}
            for k, v in effective_pairs(node, set()):
                if _is_scalar(k) and k.tag == _STR and k.value not in got:
                    got[k.value] = (k, v)
            self._cache[id(node)] = got
        return got


def effective_pairs(node, active: set) -> list:
    """A mapping's own pairs, then keys from `<<` merges that it does not set itself.

    ``active`` holds the mappings being merged to stop merge cycles.
    """
    if id(node) in active:
        return []
    active = active | {id(node)}
    own = [(k, v) for k, v in node.value if not (_is_scalar(k) and k.tag == _MERGE)]
    seen = {k.value for k, _ in own if _is_scalar(k)}
    merged = []
    for k, v in node.value:
        if not (_is_scalar(k) and k.tag == _MERGE):
            continue
        sources = [v] if _is_mapping(v) else (v.value if _is_sequence(v) else [])
        for src in sources:
            if not _is_mapping(src):
                continue
            for mk, mv in effective_pairs(src, active):
                if _is_scalar(mk) and mk.value not in seen:
                    seen.add(mk.value)
                    merged.append((mk, mv))
    return own + merged


class _Builder:
    def __init__(self, constructor, text: str, lines: LineTable, path: str) -> None:
        self.constructor = constructor
        self.text = text
        self.lines = lines
        self.path = path
        self.problems: list = []
        self.count = 0
        self.active: set[int] = set()

    def problem(self, code, tokens, node, message, hint):
        rng = self.lines.range(*_span(self.text, node)) if node is not None else None
        self.problems.append(load_diagnostic(code, self.path, message, hint, rng, pointer_join(*tokens)))

    def value(self, node, tokens: list, where=None):
        """``where``: the node to point at for a recursive alias (its key),
        since an alias shares its anchor's node and marks."""
        self.count += 1
        if self.count == MAX_VALUES:
            self.problem("GW007", tokens, node, f"aliases expand to more than {MAX_VALUES} values",
                         "Write the config without deeply nested aliases.")
        if self.count >= MAX_VALUES:
            return None
        if _is_scalar(node):
            return self._scalar(node, tokens)
        if id(node) in self.active:
            self.problem("GW007", tokens, where if where is not None else node, "an alias refers to a mapping or list that contains it",
                         "A config cannot be recursive: copy the values instead of aliasing an ancestor.")
            return None
        self.active.add(id(node))
        try:
            if _is_sequence(node):
                if node.tag != _SEQ:
                    return self._bad_tag(node, tokens)
                return [self.value(item, tokens + [str(i)], where=node) for i, item in enumerate(node.value)]
            if node.tag != _MAP:
                return self._bad_tag(node, tokens)
            return self._mapping(node, tokens)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node, tokens):
        if node.tag not in _SCALAR_TAGS:
            return self._bad_tag(node, tokens)
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception as exc:  # noqa: BLE001 - ruamel's scalar constructors raise assorted errors
            # Never echo the value: it may be a secret written in the wrong place.
            kind = node.tag.rsplit(":", 1)[-1]
            self.problem("GW007", tokens, node, f"this value cannot be read as {kind} ({type(exc).__name__})",
                         f"Remove the !!{kind} tag, or quote the value to keep it as text.")
            return None

    def _bad_tag(self, node, tokens):
        tag = str(node.tag)
        shown = "!!" + tag[len(_T):] if tag.startswith(_T) else tag
        self.problem("GW007", tokens, node, f"the YAML tag {shown} is not supported in a config",
                     "Remove the tag; a config holds only strings, numbers, booleans, dates, lists and mappings.")
        return None

    def _mapping(self, node, tokens):
        out: dict = {}
        first: dict = {}
        for k, v in node.value:
            if _is_scalar(k) and k.tag == _MERGE:
                if not (_is_mapping(v) or (_is_sequence(v) and all(_is_mapping(s) for s in v.value))):
                    self.problem("GW007", tokens + ["<<"], v, "a '<<' merge must name a mapping or a list of mappings",
                                 "Write `<<: *anchor` where the anchor is a mapping.")
                continue
            if not (_is_scalar(k) and k.tag == _STR):
                key_value = None
                if _is_scalar(k) and k.tag in _SCALAR_TAGS:
                    try:
                        key_value = self.constructor.construct_object(k, deep=True)
                    except Exception:  # noqa: BLE001
                        key_value = None
                what = type_name(key_value) if _is_scalar(k) else ("a list" if _is_sequence(k) else "a mapping")
                self.problem("GW007", tokens, k, f"a key must be a string, this one is {what}",
                             f"Quote the key: \"{k.value}\": ..." if _is_scalar(k) else "Use a plain string key.")
                continue
            key = k.value
            if key in first:
                line = self.lines.position(first[key].start_mark.index).line
                self.problem("GW004", tokens + [key], k,
                             f"duplicate key '{key}': first defined on line {line}, again on line "
                             f"{self.lines.position(k.start_mark.index).line}",
                             "Remove one of the two entries or merge them; the later one would silently win.")
                continue
            first[key] = k
            out[key] = self.value(v, tokens + [key], where=k)
        for k, v in effective_pairs(node, set()):
            if _is_scalar(k) and k.tag == _STR and k.value not in out and k.value not in first:
                out[k.value] = self.value(v, tokens + [k.value], where=k)
        return out


class YamlIndex:
    def __init__(self, root, text: str, pairs: _Pairs) -> None:
        self.root = root
        self.text = text
        self.pairs = pairs

    def entry(self, tokens) -> Entry | None:
        node = self.root
        key_node = None
        for token in tokens:
            if _is_mapping(node):
                hit = self.pairs.lookup(node).get(token)
                if hit is None:
                    return None
                key_node, node = hit
            elif _is_sequence(node):
                if not token.isdigit() or int(token) >= len(node.value):
                    return None
                key_node, node = None, node.value[int(token)]
            else:
                return None
        value = _span(self.text, node)
        key = _span(self.text, key_node) if key_node is not None else None
        content_start, clean = None, 0
        if _is_scalar(node) and node.style in (None, "", '"', "'") and isinstance(node.value, str):
            content_start = value[0] + (1 if node.style in ('"', "'") else 0)
            clean = _clean_prefix(self.text, content_start, node.value, node.style)
        return Entry(value=value, key=key, content_start=content_start, clean_len=clean)


def _clean_prefix(text: str, start: int, decoded: str, style) -> int:
    """How many decoded characters sit one-to-one in the source from ``start``."""
    stop = {'"': "\\", "'": "''"}.get(style)
    source = text[start:start + len(decoded)]
    if stop:
        cut = source.find(stop)
        if cut != -1:
            source = source[:cut]
    n = 0
    for a, b in zip(source, decoded):
        if a != b:
            break
        n += 1
    return n
