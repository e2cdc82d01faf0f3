"""Generate the known-key inventory of loong's channel config structs.

    python scripts/loong_inventory.py --loong-git-dir DIR [--rev REV] [--out FILE]
    python scripts/loong_inventory.py --loong-src DIR [--out FILE]      # a checkout or a sample tree

Reads loong's Rust sources (never copies them): every struct that derives
serde's Deserialize under the config directory (crates/app/src/config by
default), with the serde attributes that decide which keys a TOML table may
hold: the container's ``rename_all``/``deny_unknown_fields``, and each
field's ``rename``, ``alias``, ``flatten``, ``skip``/``skip_deserializing``
and ``default``. Starting from the root struct (``LoongConfig``), each field
whose type is a ``*ChannelConfig`` struct is a channel family table; its
``accounts`` map names the account struct; fields whose type is another
derived struct are nested tables (``acp``). A struct with a hand-written
``Deserialize`` impl, or a flattened map, is recorded as ``open`` (any key).

Writes the inventory as JSON (default src/gatewayctl/catalog/loong_keys.json)
with the loong commit it came from, and prints what changed against the
previous inventory at that path: refreshing to a newer loong is this command
plus a review of that diff. Exit status: 0 written (or unchanged), 1 with
``--check`` when the file would change, 2 on a usage or read error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "gatewayctl" / "catalog" / "loong_keys.json"
DEFAULT_ROOTS = ("crates/app/src/config",)
ROOT_STRUCT = "LoongConfig"
FORMAT = 1


# ------------------------------------------------------------------ sources


class SourceTree:
    """Rust files of one loong revision: a git directory at a rev, or a plain tree."""

    def __init__(self, *, git_dir: str | None = None, rev: str = "HEAD", src: str | None = None):
        self.git_dir = git_dir
        self.src = Path(src) if src else None
        self.rev = rev
        if git_dir:
            self.commit = self._git("rev-parse", f"{rev}^{{commit}}").strip()
            self.date = self._git("show", "-s", "--format=%cI", self.commit).strip()
        else:
            self.commit = "unversioned"
            self.date = ""

    def _git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise SystemExit(f"loong_inventory: git {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def rust_files(self, roots) -> list[str]:
        if self.git_dir:
            listed = self._git("ls-tree", "-r", "--name-only", self.commit, "--", *roots).splitlines()
            return sorted(p for p in listed if p.endswith(".rs"))
        out = []
        for root in roots:
            base = self.src / root
            out.extend(str(p.relative_to(self.src)) for p in base.rglob("*.rs"))
        return sorted(out)

    def read(self, path: str) -> str:
        if self.git_dir:
            return self._git("show", f"{self.commit}:{path}")
        return (self.src / path).read_text(encoding="utf-8")


# ------------------------------------------------------------------ lexing


def strip_comments(text: str) -> str:
    """The text with comments blanked out (newlines kept, so line numbers hold).

    String literals (plain and raw), char literals and lifetimes are kept
    intact, so `"https://..."` is not mistaken for a comment.
    """
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append(text[i:end])
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.|\\u\{[0-9a-fA-F]+\}|[^'\\])'", text[i:])
            if m:
                out.append(m.group(0))
                i += len(m.group(0))
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _matching(text: str, start: int, open_ch: str, close_ch: str) -> int:
    """Index just past the bracket that closes the one at ``start``."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(text)


def _split_top(text: str, sep: str = ",") -> list[tuple[int, str]]:
    """Split at ``sep`` outside brackets and strings; (offset, part) pairs."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c in "([{<":
            depth += 1
        elif c in ")]}>":
            if not (c == ">" and i and text[i - 1] == "-"):
                depth -= 1
        elif c == sep and depth == 0:
            parts.append((start, text[start:i]))
            start = i + 1
        i += 1
    parts.append((start, text[start:]))
    return parts


# ------------------------------------------------------------------ structs


@dataclass
class Field:
    name: str  # the Rust field name
    keys: list[str]  # accepted TOML keys: the (renamed) name first, then aliases
    type: str
    flatten: bool
    line: int


@dataclass
class Struct:
    name: str
    path: str
    line: int
    fields: list[Field]
    deny_unknown: bool = False
    custom: bool = False  # hand-written Deserialize: keys unknown
    attrs: dict = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


_ATTR = re.compile(r"#\s*\[")
_STRUCT = re.compile(r"\bstruct\s+([A-Za-z_]\w*)\s*(<[^{;]*?>)?\s*(where[^{;]*)?\{")


def _attributes_before(text: str, pos: int) -> list[str]:
    """The `#[...]` attributes directly above the item starting at ``pos``."""
    head = text[:pos]
    head = re.sub(r"(pub(\s*\([^)]*\))?\s*)$", "", head.rstrip())
    attrs = []
    while True:
        stripped = head.rstrip()
        if not stripped.endswith("]"):
            break
        # find the '#[' that opens this trailing attribute
        depth, i = 0, len(stripped) - 1
        while i >= 0:
            if stripped[i] == "]":
                depth += 1
            elif stripped[i] == "[":
                depth -= 1
                if depth == 0:
                    break
            i -= 1
        if i <= 0 or stripped[i - 1] != "#":
            break
        attrs.insert(0, stripped[i + 1 : -1])
        head = stripped[: i - 1]
    return attrs


def _serde_items(attrs: list[str]) -> list[tuple[str, str | None]]:
    """Every `key` / `key = "value"` / `key(...)` item of the serde attributes."""
    items = []
    for attr in attrs:
        m = re.match(r"\s*serde\s*\((.*)\)\s*$", attr, re.S)
        if not m:
            continue
        for _off, part in _split_top(m.group(1)):
            part = part.strip()
            if not part:
                continue
            kv = re.match(r'([A-Za-z_]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$', part, re.S)
            if kv:
                items.append((kv.group(1), kv.group(2)))
                continue
            call = re.match(r"([A-Za-z_]+)\s*\((.*)\)\s*$", part, re.S)
            if call:
                items.append((call.group(1), call.group(2)))
                continue
            items.append((part, None))
    return items


def _rename_all(name: str, rule: str | None) -> str:
    if not rule or rule == "snake_case":
        return name
    words = [w for w in name.split("_") if w]
    if rule == "lowercase":
        return name.lower()
    if rule == "UPPERCASE":
        return name.upper()
    if rule == "camelCase":
        return words[0] + "".join(w.capitalize() for w in words[1:]) if words else name
    if rule == "PascalCase":
        return "".join(w.capitalize() for w in words)
    if rule == "kebab-case":
        return name.replace("_", "-")
    if rule == "SCREAMING_SNAKE_CASE":
        return name.upper()
    if rule == "SCREAMING-KEBAB-CASE":
        return name.upper().replace("_", "-")
    raise SystemExit(f"loong_inventory: unknown serde rename_all rule {rule!r}")


def _deserialize_name(value: str | None) -> str | None:
    """`rename = "x"` gives "x"; `rename(deserialize = "x", ...)` gives "x"."""
    if value is None:
        return None
    m = re.search(r'deserialize\s*=\s*"((?:[^"\\]|\\.)*)"', value)
    if m:
        return m.group(1)
    if "serialize" in value and "=" in value:
        return None  # rename(serialize = "x") only: the deserialized key is unchanged
    return value


def parse_structs(path: str, source: str) -> tuple[list[Struct], set[str]]:
    """The structs of one file, and the names with a hand-written Deserialize."""
    text = _blank_test_modules(strip_comments(source))
    custom = set(re.findall(r"impl\s*<\s*'de\s*>\s*(?:serde::)?Deserialize\s*<\s*'de\s*>\s*for\s+([A-Za-z_]\w*)", text))
    out = []
    for m in _STRUCT.finditer(text):
        attrs = _attributes_before(text, m.start())
        derives = " ".join(a for a in attrs if a.lstrip().startswith("derive"))
        name = m.group(1)
        if not re.search(r"\bDeserialize\b", derives) and name not in custom:
            continue
        container = dict(_serde_items(attrs))
        body_start = m.end() - 1
        body_end = _matching(text, body_start, "{", "}")
        body = text[body_start + 1 : body_end - 1]
        fields = []
        for off, part in _split_top(body):
            if not part.strip():
                continue
            fm = re.search(r"(?:pub(?:\s*\([^)]*\))?\s+)?(r#)?([A-Za-z_]\w*)\s*:\s*(.+?)\s*$", _strip_attrs(part), re.S)
            if not fm:
                continue
            rust_name = fm.group(2)
            items = _serde_items(_field_attrs(part))
            names = dict(items)
            if "skip" in names or "skip_deserializing" in names:
                continue
            renamed = _deserialize_name(names.get("rename")) or _rename_all(rust_name, container.get("rename_all"))
            aliases = [v for k, v in items if k == "alias" and v]
            line = text.count("\n", 0, body_start + 1 + off + len(part) - len(part.lstrip())) + 1
            fields.append(Field(rust_name, [renamed, *aliases], " ".join(fm.group(3).split()), "flatten" in names, line))
        out.append(
            Struct(
                name=name,
                path=path,
                line=text.count("\n", 0, m.start()) + 1,
                fields=fields,
                deny_unknown="deny_unknown_fields" in container,
                custom=name in custom,
            )
        )
    return out, custom


_TEST_MOD = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]\s*(?:pub(?:\s*\([^)]*\))?\s+)?mod\s+\w+\s*\{")


def _blank_test_modules(text: str) -> str:
    """`#[cfg(test)] mod tests { ... }` blanked (newlines kept): test helper
    structs are not what loong deserializes its config into."""
    while True:
        m = _TEST_MOD.search(text)
        if not m:
            return text
        end = _matching(text, m.end() - 1, "{", "}")
        text = text[: m.start()] + "".join(ch if ch == "\n" else " " for ch in text[m.start() : end]) + text[end:]


def _strip_attrs(part: str) -> str:
    return re.sub(r"#\s*\[(?:[^\[\]]|\[[^\[\]]*\])*\]", " ", part)


def _field_attrs(part: str) -> list[str]:
    return [a[a.index("[") + 1 : -1] for a in re.findall(r"#\s*\[(?:[^\[\]]|\[[^\[\]]*\])*\]", part)]


# ------------------------------------------------------------------ inventory


def _inner_type(rust_type: str) -> str:
    """`Option<Box<ChannelAcpConfig>>` -> `ChannelAcpConfig`; a path's last segment."""
    t = rust_type.strip()
    while True:
        m = re.fullmatch(r"(?:[\w:]+::)?(Option|Box)\s*<\s*(.+)\s*>", t)
        if not m:
            break
        t = m.group(2).strip()
    return t.split("::")[-1].strip()


def _map_value_type(rust_type: str) -> str | None:
    m = re.fullmatch(r"(?:[\w:]+::)?(?:BTreeMap|HashMap|IndexMap)\s*<\s*[^,]+,\s*(.+)\s*>", _inner_type(rust_type))
    return _inner_type(m.group(1)) if m else None


class Inventory:
    def __init__(self, structs: dict[str, Struct]):
        self.structs = structs

    def table(self, struct_name: str, depth: int = 0) -> dict:
        st = self.structs[struct_name]
        entry: dict = {"struct": st.name, "source": st.where}
        if st.custom:
            entry["open"] = True
            entry["keys"] = []
            return entry
        keys: dict[str, str] = {}
        aliases: dict[str, str] = {}
        tables: dict[str, dict] = {}
        open_ = False
        for f in st.fields:
            inner = _inner_type(f.type)
            if f.flatten:
                if inner in self.structs and depth < 8:
                    flat = self.table(inner, depth + 1)
                    open_ = open_ or flat.get("open", False)
                    for k in flat["keys"]:
                        keys.setdefault(k, f"{self.structs[inner].where}")
                    aliases.update(flat.get("aliases", {}))
                    tables.update(flat.get("tables", {}))
                else:  # a flattened map or an unknown type takes any key
                    open_ = True
                continue
            for k in f.keys:
                keys[k] = f"{st.path}:{f.line}"
            for alias in f.keys[1:]:
                aliases[alias] = f.keys[0]
            if inner in self.structs and depth < 8 and f.keys[0] != "accounts":
                tables[f.keys[0]] = self.table(inner, depth + 1)
        entry["keys"] = sorted(keys)
        if aliases:
            entry["aliases"] = dict(sorted(aliases.items()))
        if tables:
            entry["tables"] = dict(sorted(tables.items()))
        if open_:
            entry["open"] = True
        if st.deny_unknown:
            entry["deny_unknown_fields"] = True
        return entry

    def families(self) -> dict:
        root = self.structs.get(ROOT_STRUCT)
        if root is None:
            raise SystemExit(f"loong_inventory: no struct {ROOT_STRUCT} in the sources")
        out = {}
        for f in root.fields:
            inner = _inner_type(f.type)
            if not inner.endswith("ChannelConfig") or inner not in self.structs:
                continue
            family = self.table(inner)
            family["field"] = f"{root.path}:{f.line}"
            accounts = next((g for g in self.structs[inner].fields if g.keys[0] == "accounts"), None)
            if accounts is not None:
                value = _map_value_type(accounts.type)
                if value in self.structs:
                    family["accounts"] = self.table(value)
            out[f.keys[0]] = family
        return dict(sorted(out.items()))


def build(tree: SourceTree, roots) -> dict:
    structs: dict[str, Struct] = {}
    customs: set[str] = set()
    for path in tree.rust_files(roots):
        if path.endswith("tests.rs"):  # compiled only under #[cfg(test)]
            continue
        found, custom = parse_structs(path, tree.read(path))
        customs |= custom
        for st in found:
            # Test modules re-declare helper structs; the first (production) one wins.
            structs.setdefault(st.name, st)
    for name in customs:
        if name in structs:
            structs[name].custom = True
    return {
        "format": FORMAT,
        "loong": {
            "repo": "github:loongclaw-ai/loongclaw",
            "commit": tree.commit,
            "committed": tree.date,
            "roots": list(roots),
            "root_struct": ROOT_STRUCT,
        },
        "generated_by": (
            f"python scripts/loong_inventory.py --loong-git-dir DIR --rev {tree.commit}"
            if tree.git_dir
            else "python scripts/loong_inventory.py --loong-src DIR"
        ),
        "families": Inventory(structs).families(),
    }


# ------------------------------------------------------------------ diff


def _flatten_keys(families: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}

    def walk(prefix: str, table: dict):
        out[prefix] = set(table.get("keys", ())) | ({"<any key>"} if table.get("open") else set())
        for name, sub in table.get("tables", {}).items():
            walk(f"{prefix}.{name}", sub)
        if "accounts" in table:
            walk(f"{prefix}.accounts.<id>", table["accounts"])

    for fam, table in families.items():
        walk(fam, table)
    return out


def diff(old: dict | None, new: dict) -> list[str]:
    lines = []
    old_commit = (old or {}).get("loong", {}).get("commit", "none")
    new_commit = new["loong"]["commit"]
    if old_commit != new_commit:
        lines.append(f"loong commit: {old_commit} -> {new_commit}")
    before = _flatten_keys((old or {}).get("families", {}))
    after = _flatten_keys(new["families"])
    for table in sorted(set(before) | set(after)):
        if table not in before:
            lines.append(f"+ [{table}] new table: {', '.join(sorted(after[table])) or '(no keys)'}")
        elif table not in after:
            lines.append(f"- [{table}] table gone")
        else:
            for k in sorted(after[table] - before[table]):
                lines.append(f"+ [{table}] {k}")
            for k in sorted(before[table] - after[table]):
                lines.append(f"- [{table}] {k}")
    return lines


def render(inventory: dict) -> str:
    return json.dumps(inventory, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--loong-git-dir", help="a loong git directory (bare or .git)")
    src.add_argument("--loong-src", help="a directory tree laid out like loong's repository")
    ap.add_argument("--rev", default="HEAD", help="revision to read with --loong-git-dir (default HEAD)")
    ap.add_argument("--root", action="append", help="directory to scan (repeatable; default crates/app/src/config)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="inventory file to write (default: the package's)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file would change")
    args = ap.parse_args(argv)

    tree = SourceTree(git_dir=args.loong_git_dir, rev=args.rev, src=args.loong_src)
    inventory = build(tree, tuple(args.root or DEFAULT_ROOTS))
    out = Path(args.out)
    old = None
    if out.is_file():
        try:
            old = json.loads(out.read_text(encoding="utf-8"))
        except ValueError:
            old = None
    text = render(inventory)
    changes = diff(old, inventory)
    families = inventory["families"]
    print(f"loong {inventory['loong']['commit']}: {len(families)} channel tables, "
          f"{sum(len(_flatten_keys({k: v})) for k, v in families.items())} tables with their nested ones")
    if changes:
        print("changes against the previous inventory:")
        for line in changes:
            print("  " + line)
    else:
        print("no key changes against the previous inventory")
    if args.check:
        same = old is not None and render(old) == text
        print("inventory is current" if same else f"{out} is out of date")
        return 0 if same else 1
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
