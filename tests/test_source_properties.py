"""source: property tests.

(a) Documents written from generated trees (TOML: headers, dotted keys,
    inline tables, arrays, arrays of tables, quoted keys, every string
    form; YAML: block and flow styles, every scalar quoting) load back to
    the tree, the locator knows every pointer, and the text at each scalar's
    range parses back to that scalar (each key's range to that key).
(b) Any text or bytes: load_document returns a Document or diagnostics whose
    ranges lie inside the input; never an exception.
(c) Repeating a key/value line or a [table] header gives exactly one GW004,
    on the repeated line, naming the first line.
"""

from __future__ import annotations

import datetime
import json
import math
import re

from hypothesis import HealthCheck, given, settings, strategies as st

from gatewayctl.diagnostics import pointer_join
from gatewayctl.source import load_document
from tests.support import examples

SETTINGS = settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- generated trees ----------------------------------------------------------

keys = st.text(
    st.sampled_from(list("abcxyz_-09") + [" ", ".", '"', "'", "\\", "é", "\t", "/", "~", "#", "="]),
    max_size=6,
)
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=False, width=64)
strings = st.text(max_size=12)


def toml_scalars():
    return st.one_of(
        ints,
        floats,
        st.booleans(),
        strings,
        st.datetimes(min_value=datetime.datetime(1, 1, 1)),
        st.dates(),
        st.times(),
    )


def trees(scalars):
    values = st.recursive(
        scalars,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=4),
        max_leaves=24,
    )
    return st.dictionaries(keys, values, max_size=6)


def walk(value, tokens=()):
    """Every (tokens, value) pair of a tree, containers included."""
    yield tokens, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, tokens + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, tokens + (str(i),))


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def snippet(doc, r) -> str:
    lines = doc.text.split("\n")
    out = []
    for n in range(r.start.line, r.end.line + 1):
        line = lines[n - 1]
        if line.endswith("\r"):
            line = line[:-1]
        a = r.start.column - 1 if n == r.start.line else 0
        b = r.end.column - 1 if n == r.end.line else len(line)
        out.append(line[a:b])
    return "\n".join(out)


# -- a small TOML writer with randomly chosen forms -----------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def toml_key(k: str, draw) -> str:
    if _BARE.match(k) and draw(st.booleans()):
        return k
    if "'" not in k and not _CONTROL.search(k) and draw(st.booleans()):
        return f"'{k}'"
    return toml_basic(k)


def toml_basic(s: str) -> str:
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif _CONTROL.match(c):
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_string(s: str, draw) -> str:
    forms = ["basic"]
    if "'" not in s and not _CONTROL.search(s):
        forms.append("literal")
    if "'''" not in s and not s.endswith("'") and not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", s):
        forms.append("ml-literal")
    forms.append("ml-basic")
    form = draw(st.sampled_from(forms))
    if form == "basic":
        return toml_basic(s)
    if form == "literal":
        return f"'{s}'"
    lead = "\n" if draw(st.booleans()) else ""
    if form == "ml-literal":
        if not lead and s.startswith("\n"):
            lead = "\n"  # otherwise the value's own first newline would be trimmed
        return f"'''{lead}{s}'''"
    body = []
    for c in s:
        if c == "\\":
            body.append("\\\\")
        elif c == '"':
            body.append('\\"')
        elif c in "\n\t":
            body.append(c)
        elif _CONTROL.match(c):
            body.append(f"\\u{ord(c):04x}")
        else:
            body.append(c)
    text = "".join(body)
    if not lead and text.startswith("\n"):
        lead = "\n"
    return f'"""{lead}{text}"""'


def toml_value(v, draw) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return toml_string(v, draw)
    if isinstance(v, datetime.datetime):
        return v.isoformat(sep=draw(st.sampled_from(["T", " "])))
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        items = [toml_value(x, draw) for x in v]
        if draw(st.booleans()):
            return "[" + ", ".join(items) + "]"
        inner = "".join(f"\n  {x},  # item" for x in items)
        return "[" + inner + "\n]"
    return "{" + ", ".join(f"{toml_key(k, draw)} = {toml_value(x, draw)}" for k, x in v.items()) + "}"


class TomlWriter:
    def __init__(self, draw) -> None:
        self.draw = draw
        self.lines: list[str] = []
        # line index -> "kv" (single-line key/value) | "table" ([header])
        self.kinds: dict[int, str] = {}

    def emit(self, line: str, kind: str | None = None) -> None:
        if kind and "\n" not in line:
            self.kinds[len(self.lines)] = kind
        self.lines.extend(line.split("\n"))
        if self.draw(st.integers(0, 5)) == 0:
            self.lines.append("# a comment line" if self.draw(st.booleans()) else "")

    def header(self, path, aot: bool) -> str:
        sep = self.draw(st.sampled_from([".", " . "]))
        name = sep.join(toml_key(k, self.draw) for k in path)
        return f"[[{name}]]" if aot else f"[{name}]"

    def table(self, d: dict, path: tuple) -> None:
        draw = self.draw
        later = []
        for k, v in d.items():
            if isinstance(v, dict):
                form = draw(st.sampled_from(["header", "dotted", "inline"]))
                if form == "header":
                    later.append(("table", k, v))
                    continue
                if form == "dotted" and v:
                    self.dotted((k,), v)
                    continue
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v) and draw(st.booleans()):
                later.append(("aot", k, v))
                continue
            tail = "   # trailing" if draw(st.booleans()) else ""
            self.emit(f"{toml_key(k, draw)} = {toml_value(v, draw)}{tail}", "kv")
        for kind, k, v in later:
            if kind == "table":
                self.emit(self.header(path + (k,), False), "table")
                self.table(v, path + (k,))
            else:
                for item in v:
                    self.emit(self.header(path + (k,), True))
                    self.table(item, path + (k,))

    def dotted(self, prefix: tuple, d: dict) -> None:
        draw = self.draw
        for k, v in d.items():
            if isinstance(v, dict) and v and draw(st.booleans()):
                self.dotted(prefix + (k,), v)
                continue
            key = ".".join(toml_key(p, draw) for p in prefix + (k,))
            self.emit(f"{key} = {toml_value(v, draw)}", "kv")


def write_toml(tree: dict, draw) -> TomlWriter:
    w = TomlWriter(draw)
    w.table(tree, ())
    return w


# -- a small YAML writer ------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_ -]*[A-Za-z0-9_-]\Z|[A-Za-z]\Z")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def yaml_string(s: str, draw) -> str:
    if _PLAIN.match(s) and s.lower() not in _YAML_WORDS and draw(st.booleans()):
        return s
    printable = not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]", s)
    if printable and draw(st.booleans()):
        return "'" + s.replace("'", "''") + "'"
    return yaml_double(s)


def yaml_double(s: str) -> str:
    out = []
    for c in s:
        o = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or (0xE000 <= o <= 0xFFFD and o != 0xFEFF) or o >= 0x10000:
            out.append(c)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def yaml_scalar(v, draw) -> str:
    if v is None:
        return draw(st.sampled_from(["null", "~"]))
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        r = repr(v)
        return r if ("." in r or "e" in r) else r + ".0"
    if isinstance(v, datetime.date):
        return v.isoformat()
    return yaml_string(v, draw)


def yaml_flow(v, draw) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{yaml_string(k, draw)}: {yaml_flow(x, draw)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(yaml_flow(x, draw) for x in v) + "]"
    return yaml_scalar(v, draw)


def yaml_block(v, indent: int, draw) -> list[str]:
    pad = " " * indent
    out = []
    if isinstance(v, dict):
        for k, x in v.items():
            key = yaml_string(k, draw)
            if isinstance(x, (dict, list)) and x and draw(st.booleans()):
                out.append(f"{pad}{key}:")
                out.extend(yaml_block(x, indent + 2, draw))
            else:
                out.append(f"{pad}{key}: {yaml_flow(x, draw)}")
    else:
        for x in v:
            if isinstance(x, (dict, list)) and x and draw(st.booleans()):
                out.append(f"{pad}-")
                out.extend(yaml_block(x, indent + 2, draw))
            else:
                out.append(f"{pad}- {yaml_flow(x, draw)}")
    return out


yaml_scalars = st.one_of(st.none(), ints, floats, st.booleans(), strings, st.dates())


# -- (a) round trip and locator coverage -----------------------------------------


def assert_located(doc, tree, parse_scalar, parse_key):
    index = doc._get_index()
    assert index is not None
    for tokens, value in walk(tree):
        if not tokens:
            continue
        entry = index.entry(list(tokens))
        assert entry is not None, f"locator does not know {pointer_join(*tokens)}"
        pointer = pointer_join(*tokens)
        if not isinstance(value, (dict, list)):
            text = snippet(doc, doc.locate(pointer))
            assert same(parse_scalar(text), value), (pointer, text, value)
        if entry.key is not None and not tokens[-1].isdigit():
            text = snippet(doc, doc.locate(pointer, "key"))
            assert parse_key(text) == tokens[-1], (pointer, text)


def _toml_scalar(text: str):
    doc, diags = load_document("v.toml", data=f"v = {text}\n".encode())
    assert not diags, (text, diags)
    return doc.data["v"]


def _toml_key(text: str):
    doc, diags = load_document("k.toml", data=f"{text} = 1\n".encode())
    assert not diags, (text, diags)
    node = doc.data
    while isinstance(node, dict) and len(node) == 1 and not isinstance(next(iter(node.values())), int):
        node = next(iter(node.values()))
    return next(iter(node))


def _yaml_scalar(text: str):
    doc, diags = load_document("v.yaml", data=f"v: {text}\n".encode())
    assert not diags, (text, diags)
    return doc.data["v"]


def _yaml_key(text: str):
    doc, diags = load_document("k.yaml", data=f"{text}: 1\n".encode())
    assert not diags, (text, diags)
    return next(iter(doc.data))


@SETTINGS
@given(trees(toml_scalars()), st.data())
def test_generated_toml_loads_back_and_every_pointer_is_located(tree, data):
    text = "\n".join(write_toml(tree, data.draw).lines) + "\n"
    if data.draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    doc, diags = load_document("gen.toml", data=text.encode())
    assert diags == (), (text, diags)
    assert same(doc.data, tree), text
    assert_located(doc, tree, _toml_scalar, _toml_key)


@SETTINGS
@given(trees(yaml_scalars), st.data())
def test_generated_yaml_loads_back_and_every_pointer_is_located(tree, data):
    text = "\n".join(yaml_block(tree, 0, data.draw)) + "\n" if tree else "{}\n"
    doc, diags = load_document("gen.yaml", data=text.encode())
    assert diags == (), (text, diags)
    assert same(doc.data, tree), text
    assert_located(doc, tree, _yaml_scalar, _yaml_key)


@SETTINGS
@given(trees(yaml_scalars), st.data())
def test_generated_yaml_with_anchors_aliases_and_merges(tree, data):
    shared = [k for k, v in tree.items() if isinstance(v, (dict, list)) and v]
    if not shared:
        return
    k = data.draw(st.sampled_from(shared))
    body = tree.pop(k)
    lines = yaml_block(tree, 0, data.draw) if tree else []
    lines.append(f"{yaml_double(k)}: &shared")
    lines.extend(yaml_block(body, 2, data.draw))
    lines.append('"zz alias": *shared')
    expected = dict(tree)
    expected[k] = body
    expected["zz alias"] = body
    if isinstance(body, dict):
        lines.append('"zz merge":')
        lines.append("  <<: *shared")
        lines.append('  "zz extra": 1')
        merged = dict(body)
        merged["zz extra"] = 1
        expected["zz merge"] = merged
    text = "\n".join(lines) + "\n"
    doc, diags = load_document("anchors.yaml", data=text.encode())
    assert diags == (), (text, diags)
    assert same(doc.data, expected), text
    assert_located(doc, expected, _yaml_scalar, _yaml_key)
    # an alias is located where its anchor's values are written
    assert doc.locate("/zz alias").start.line == doc.locate(pointer_join(k)).start.line


@SETTINGS
@given(trees(st.one_of(st.none(), ints, st.floats(allow_nan=False, allow_infinity=False), st.booleans(), strings)))
def test_generated_json_loads_back_and_every_pointer_is_located(tree):
    text = json.dumps(tree, indent=2)
    doc, diags = load_document("gen.json", data=text.encode())
    assert diags == ()
    assert_located(doc, tree, lambda t: json.loads(t), lambda t: json.loads(t))


# -- (b) never an exception, ranges inside the input ---------------------------------


def assert_inside(text: str, r) -> None:
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
    for p in (r.start, r.end):
        assert 1 <= p.line <= len(lines), (r, len(lines))
        assert 1 <= p.column <= len(lines[p.line - 1]) + 1, (r, lines[p.line - 1])
    assert (r.start.line, r.start.column) <= (r.end.line, r.end.column)


def check_any(raw: bytes, name: str) -> None:
    doc, diags = load_document(name, data=raw)
    shown = raw.decode("utf-8", "replace")
    if shown.startswith("\ufeff"):
        shown = shown[1:]
    if doc is None:
        assert diags, "a failed load must say why"
        for d in diags:
            assert d.code.startswith("GW0") and d.path == name and d.message
            if d.range is not None:
                assert_inside(shown, d.range)
        return
    assert diags == ()
    for tokens, _ in list(walk(doc.data))[:50]:
        for target in ("key", "value"):
            r = doc.locate(pointer_join(*tokens), target)
            assert r is not None
            assert_inside(doc.text, r)


toml_ish = st.text(st.sampled_from(list("ab1 =.[]{}\"'\\#,\n\r\t-:+_e") + ["\x00", "é", "\u2028"]), max_size=60)
yaml_ish = st.text(st.sampled_from(list("ab1 :-?[]{}\"'\\#,&*!|>\n\r\t~<.") + ["\x00", "é", "\u2028", "\x85"]), max_size=60)


@settings(max_examples=examples(400), deadline=None)
@given(st.one_of(toml_ish, st.text(max_size=40)), st.sampled_from(["x.toml", "x.yaml", "x.json"]))
def test_any_text_is_a_document_or_located_diagnostics(text, name):
    check_any(text.encode("utf-8", "surrogatepass"), name)


@settings(max_examples=examples(300), deadline=None)
@given(yaml_ish)
def test_yaml_shaped_garbage(text):
    check_any(text.encode(), "x.yaml")


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(max_size=80), st.sampled_from(["x.toml", "x.yaml", "x.json"]))
def test_any_bytes(raw, name):
    check_any(raw, name)


@SETTINGS
@given(trees(toml_scalars()), st.data())
def test_mutated_generated_toml(tree, data):
    text = "\n".join(write_toml(tree, data.draw).lines) + "\n"
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        junk = data.draw(st.text(st.sampled_from(list("[]{}=\"'.,#\n ab")), min_size=1, max_size=3))
        text = text[:i] + junk + text[i:]
    check_any(text.encode(), "m.toml")


# -- (c) a repeated statement is one GW004 on the repeated line ------------------------


@SETTINGS
@given(trees(toml_scalars()), st.data())
def test_repeated_statement_is_one_located_duplicate(tree, data):
    w = write_toml(tree, data.draw)
    candidates = sorted(w.kinds)
    if not candidates:
        return
    i = data.draw(st.sampled_from(candidates))
    lines = w.lines[: i + 1] + [w.lines[i]] + w.lines[i + 1 :]
    doc, diags = load_document("dup.toml", data=("\n".join(lines) + "\n").encode())
    assert doc is None and len(diags) == 1, diags
    d = diags[0]
    assert d.code == "GW004", d
    assert d.range.start.line == i + 2, (d, lines)
    assert f"line {i + 1}" in d.message, d.message
    assert "defined twice (" not in d.message  # the explained form, not the fallback
