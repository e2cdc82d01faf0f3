"""Inline suppressions: `# gatewayctl: ignore[GW210]` comments.

Part of the one lint pass (``lint_file``), so check, plan, fix and the
language server honour a suppression identically.

- ``# gatewayctl: ignore[GW210, GW211]`` silences those codes on its own
  line; written on a line of its own (nothing but the comment), it silences
  them on the next line instead. A diagnostic's line is the line its range
  starts on.
- ``# gatewayctl: ignore-file[GW306]`` silences the code in the whole file.
- A code that suppresses nothing is reported as GW701 (with a safe fix that
  deletes it); a malformed directive, an unknown code, or a code that cannot
  be suppressed (load errors GW0xx, plan refusals GW5xx, run-time GW6xx,
  GW7xx itself) is
  GW702.

TOML and YAML only: JSON has no comments. Comments are found with a small
per-format scanner that knows where strings (and YAML block scalars) are,
so a `#` inside a value is never taken for a comment.

Imports the standard library and gatewayctl.diagnostics only.
"""

from __future__ import annotations


from gatewayctl.diagnostics import CODES, SAFE, Diagnostic, Fix, Range, Severity, code_info
from gatewayctl.lazyre import lazy
from gatewayctl.records import record

__all__ = [
    "Directive",
    "apply_suppressions",
    "comment_starts",
    "directives",
    "line_suppression_edit",
    "suppressible",
]

MARKER = "gatewayctl:"
_DIRECTIVE = lazy(r"#\s*gatewayctl:\s*(?P<verb>[A-Za-z_-]*)\s*(?:\[(?P<codes>[^\]]*)\])?")
_CODE = lazy(r"[^,\s]+")


def suppressible(code: str) -> bool:
    """Lint findings (GW1xx-GW4xx) can be suppressed. Load errors cannot
    (there is no parsed file to trust the comment of), nor plan refusals (a
    plan must not carry what it refuses), nor the suppression codes."""
    return code in CODES and code[2] in "1234"


@record
class Directive:
    """One `# gatewayctl: ...` comment."""

    line: int  # 1-based
    column: int  # 1-based column of its `#`
    end_column: int  # just past the directive (exclusive)
    comment_column: int  # 1-based column of the comment's first `#` on the line
    verb: str  # "ignore" | "ignore-file" | anything else (malformed)
    codes: tuple[tuple[str, int, int], ...]  # (code, start column, end column)
    own_line: bool  # nothing but the comment on its line
    bracketed: bool


# -- finding comments ---------------------------------------------------


def comment_starts(text: str, fmt: str) -> dict[int, int]:
    """1-based line -> 0-based index (within the line) of the `#` that
    starts a comment on it. JSON has none."""
    if fmt == "toml":
        return _toml_comments(text)
    if fmt == "yaml":
        return _yaml_comments(text)
    return {}


def _toml_comments(text: str) -> dict[int, int]:
    out: dict[int, int] = {}
    multi: str | None = None  # '"""' or "'''" while inside a multi-line string
    for n, line in enumerate(text.split("\n"), start=1):
        i, length = 0, len(line)
        if multi is not None:
            end = _close_multi(line, 0, multi)
            if end < 0:
                continue
            multi, i = None, end
        while i < length:
            ch = line[i]
            if ch == "#":
                out[n] = i
                break
            if line.startswith('"""', i) or line.startswith("'''", i):
                quote = line[i : i + 3]
                end = _close_multi(line, i + 3, quote)
                if end < 0:
                    multi = quote
                    break
                i = end
                continue
            if ch == '"':
                i = _close_basic(line, i + 1)
                continue
            if ch == "'":
                j = line.find("'", i + 1)
                i = length if j < 0 else j + 1
                continue
            i += 1
    return out


def _close_basic(line: str, i: int) -> int:
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == '"':
            return i + 1
        i += 1
    return len(line)


def _close_multi(line: str, i: int, quote: str) -> int:
    """Index just past the closing quote of a multi-line string, or -1."""
    while i < len(line):
        if quote == '"""' and line[i] == "\\":
            i += 2
            continue
        if line.startswith(quote, i):
            end = i + 3
            # up to two extra quotes belong to the string ("""a""""" is valid)
            while end < len(line) and line[end] == quote[0] and end - i < 5:
                end += 1
            return end
        i += 1
    return -1


_BLOCK_SCALAR = lazy(r"(?:^|[\s:\-])[|>][0-9+-]*\s*(?:#.*)?$")


def _yaml_comments(text: str) -> dict[int, int]:
    out: dict[int, int] = {}
    block_indent: int | None = None  # inside a block scalar: its parent's indent
    quote: str | None = None  # inside a multi-line quoted scalar
    for n, line in enumerate(text.split("\n"), start=1):
        stripped = line.rstrip("\r")
        indent = len(stripped) - len(stripped.lstrip(" "))
        if block_indent is not None:
            if not stripped.strip() or indent > block_indent:
                continue  # block scalar content: `#` is text
            block_indent = None
        i, length = 0, len(stripped)
        if quote is not None:
            i = _yaml_close(stripped, 0, quote)
            if i < 0:
                continue
            quote = None
        while i < length:
            ch = stripped[i]
            if ch == "#" and (i == 0 or stripped[i - 1] in " \t"):
                out[n] = i
                break
            if ch in "\"'" and (i == 0 or stripped[i - 1] in " \t:[{,-?"):
                j = _yaml_close(stripped, i + 1, ch)
                if j < 0:
                    quote = ch
                    break
                i = j
                continue
            i += 1
        content = stripped[: out[n]] if n in out else stripped
        if quote is None and _BLOCK_SCALAR.search(content.rstrip()):
            block_indent = indent
    return out


def _yaml_close(line: str, i: int, quote: str) -> int:
    while i < len(line):
        ch = line[i]
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if quote == "'" and line.startswith("''", i):
                i += 2
                continue
            return i + 1
        i += 1
    return -1


def directives(text: str, fmt: str) -> list[Directive]:
    """Every `# gatewayctl:` directive of a TOML or YAML text."""
    if MARKER not in text:
        return []
    lines = text.split("\n")
    out = []
    for n, start in comment_starts(text, fmt).items():
        line = lines[n - 1].rstrip("\r")
        comment = line[start:]
        if MARKER not in comment:
            continue
        for m in _DIRECTIVE.finditer(comment):
            codes = []
            if m.group("codes") is not None:
                base = start + m.start("codes")
                for cm in _CODE.finditer(m.group("codes")):
                    codes.append((cm.group(0), base + cm.start() + 1, base + cm.end() + 1))
            out.append(
                Directive(
                    line=n,
                    column=start + m.start() + 1,
                    end_column=start + m.end() + 1,
                    comment_column=start + 1,
                    verb=m.group("verb"),
                    codes=tuple(codes),
                    own_line=not line[:start].strip(),
                    bracketed=m.group("codes") is not None,
                )
            )
    return out


# -- applying -------------------------------------------------------------


def apply_suppressions(doc, diags) -> tuple[list[Diagnostic], int]:
    """Drop the diagnostics of ``doc`` that its comments suppress and add
    GW701/GW702 for directives that suppress nothing or are malformed.
    Returns (diagnostics, how many were suppressed). Diagnostics of other
    documents (command-line selectors) are never suppressed."""
    found = directives(doc.text, doc.format)
    if not found:
        return list(diags), 0
    line_rules: dict[int, dict[str, list]] = {}
    file_rules: dict[str, list] = {}
    problems: list[Diagnostic] = []
    entries = []  # (directive, code, start, end, used-flag holder)
    for d in found:
        if d.verb not in ("ignore", "ignore-file") or not d.bracketed or not d.codes:
            problems.append(_invalid(doc, d))
            continue
        for code, a, b in d.codes:
            if not suppressible(code.upper()) or code != code.upper():
                problems.append(_bad_code(doc, d, code, a, b))
                continue
            slot = [d, code, a, b, False]
            entries.append(slot)
            if d.verb == "ignore-file":
                file_rules.setdefault(code, []).append(slot)
            else:
                targets = (d.line, d.line + 1) if d.own_line else (d.line,)
                for target in targets:
                    line_rules.setdefault(target, {}).setdefault(code, []).append(slot)
    kept: list[Diagnostic] = []
    suppressed = 0
    for diag in diags:
        if diag.path != doc.path or diag.range is None:
            kept.append(diag)
            continue
        hits = file_rules.get(diag.code, []) + line_rules.get(diag.range.start.line, {}).get(diag.code, [])
        if not hits:
            kept.append(diag)
            continue
        for slot in hits:
            slot[4] = True
        suppressed += 1
    for d, code, a, b, used in entries:
        if not used:
            problems.append(_unused(doc, d, code, a, b))
    return kept + problems, suppressed


def _diag(doc, code: str, message: str, hint: str, line: int, a: int, b: int, fix: Fix | None = None) -> Diagnostic:
    return Diagnostic(
        code=code,
        severity=Severity(code_info(code).severity),
        message=message,
        hint=hint,
        path=doc.path,
        pointer="",
        range=Range.of(line, a, line, b),
        fix=fix,
    )


def _invalid(doc, d: Directive) -> Diagnostic:
    return _diag(
        doc,
        "GW702",
        "malformed gatewayctl comment: expected `# gatewayctl: ignore[GWnnn]` or `# gatewayctl: ignore-file[GWnnn]`",
        "name the codes in brackets, separated by commas: # gatewayctl: ignore[GW210, GW211]",
        d.line,
        d.column,
        d.end_column,
    )


def _bad_code(doc, d: Directive, code: str, a: int, b: int) -> Diagnostic:
    import re

    shown = code if re.fullmatch(r"[A-Za-z0-9]{1,12}", code) else "this code"
    if code.upper() in CODES and code != code.upper():
        why = f"write codes in capitals: {code.upper()}"
    elif code.upper() in CODES:
        why = f"{code} cannot be suppressed (only GW1xx-GW4xx lint findings can)"
    else:
        why = f"{shown} is not a gatewayctl code (see docs/rules.md)"
    return _diag(doc, "GW702", f"suppression of {shown}: {why}", "fix or remove the code in the brackets", d.line, a, b)


def _unused(doc, d: Directive, code: str, a: int, b: int) -> Diagnostic:
    where = "in this file" if d.verb == "ignore-file" else (f"on line {d.line + 1}" if d.own_line else f"on line {d.line}")
    fix = Fix("drop-suppression", SAFE, f"remove the unused suppression of {code}", _drop_args(doc, d, code, a, b))
    return _diag(
        doc,
        "GW701",
        f"unused suppression: no {code} diagnostic {where}",
        f"remove {code} from the comment (gatewayctl fix does it)",
        d.line,
        a,
        b,
        fix,
    )


def _drop_args(doc, d: Directive, code: str, a: int, b: int) -> tuple[tuple[str, str], ...]:
    """What to delete (1-based columns, end exclusive; end line may be the
    next line to delete a whole comment-only line)."""
    line = doc.line_text(d.line)
    if len(d.codes) > 1:
        index = [c[0] for c in d.codes].index(code)
        if index + 1 < len(d.codes):
            start, end = a, d.codes[index + 1][1]  # "GW1, " up to the next code
        else:
            start, end = d.codes[index - 1][2], b  # ", GW2" after the previous one
        return _span(d.line, start, d.line, end)
    # the only code: the whole directive goes
    rest_before = line[: d.column - 1]
    rest_after = line[d.end_column - 1 :]
    if not rest_before.strip() and not rest_after.strip():
        return _span(d.line, 1, d.line + 1, 1)  # a comment-only line: delete the line
    if d.column == d.comment_column and not rest_after.strip():
        # a trailing comment that is only this directive: also drop the blanks before it
        start = len(rest_before.rstrip(" \t")) + 1
        return _span(d.line, start, d.line, len(line) + 1)
    if d.column == d.comment_column:
        # the comment goes on after the directive: keep its `# ` and the rest
        lead = len(line[d.column :]) - len(line[d.column :].lstrip(" \t"))
        trail = len(rest_after) - len(rest_after.lstrip(" \t"))
        return _span(d.line, d.column + 1 + lead, d.line, d.end_column + trail)
    return _span(d.line, d.column, d.line, d.end_column)


def _span(l1: int, c1: int, l2: int, c2: int) -> tuple[tuple[str, str], ...]:
    return (("start_line", str(l1)), ("start", str(c1)), ("end_line", str(l2)), ("end", str(c2)))


def line_suppression_edit(text: str, fmt: str, line: int, code: str) -> tuple[int, int, str] | None:
    """The edit that suppresses ``code`` on 1-based ``line``: (line, column,
    text to insert), adding the code to an existing `ignore[...]` directive
    on that line or appending a new trailing comment. None for JSON or when
    the line ends inside a string (a comment cannot go there)."""
    if fmt not in ("toml", "yaml"):
        return None
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    body = lines[line - 1].rstrip("\r")
    for d in directives(text, fmt):
        if d.line == line and d.verb == "ignore" and d.bracketed and d.codes and not d.own_line:
            if code in [c[0] for c in d.codes]:
                return None
            return (line, d.codes[-1][2], f", {code}")
    starts = comment_starts(text, fmt)
    if line in starts:
        # an existing ordinary comment: put the directive in front of it
        col = starts[line] + 1
        return (line, col, f"# gatewayctl: ignore[{code}] ")
    if _ends_inside_string(text, fmt, line):
        return None
    return (line, len(body) + 1, f"  # gatewayctl: ignore[{code}]")


def _ends_inside_string(text: str, fmt: str, line: int) -> bool:
    """Would a `#` appended to this line be text rather than a comment?"""
    lines = text.split("\n")
    probe = lines[:]
    probe[line - 1] = probe[line - 1].rstrip("\r") + " #x"
    starts = comment_starts("\n".join(probe), fmt)
    return starts.get(line) != len(probe[line - 1]) - 2


# -- suppressions kept in gatewayctl's settings file -------------------------

IGNORE_POINTER = "/lint/ignore"


def apply_settings_suppressions(settings_doc, target_doc, diags) -> tuple[list[Diagnostic], int]:
    """Drop the diagnostics of ``target_doc`` (loong's config) that the
    settings file's ``[lint] ignore`` list silences, by code and JSON
    pointer, and report entries that silence nothing (GW701) or are
    malformed (GW702) in the settings file. loong rewrites its config
    without comments when it saves it; entries here survive that.

    An entry is ``{ code = "GW101", pointer = "/telegram/bot_tokn" }``: the
    pointer names the value a diagnostic is about, and also silences the
    code under it (``/telegram`` covers ``/telegram/accounts/ops``).
    Without ``pointer`` the code is silenced in the whole config."""
    from gatewayctl.diagnostics import Finding, pointer_join

    data = settings_doc.data if isinstance(settings_doc.data, dict) else {}
    lint = data.get("lint")
    entries = lint.get("ignore") if isinstance(lint, dict) else None
    if not isinstance(entries, list) or not entries:
        return list(diags), 0
    rules = []
    problems: list[Diagnostic] = []
    for i, entry in enumerate(entries):
        where = pointer_join("lint", "ignore", i)
        code = entry.get("code") if isinstance(entry, dict) else None
        pointer = entry.get("pointer") if isinstance(entry, dict) else None
        extra = sorted(set(entry) - {"code", "pointer"}) if isinstance(entry, dict) else []
        if not isinstance(code, str) or not suppressible(code) or (pointer is not None and not _is_pointer(pointer)) or extra:
            why = (
                "an entry is a table { code = \"GWnnn\", pointer = \"/json/pointer\" }"
                if not isinstance(entry, dict) or extra
                else f"{code if isinstance(code, str) and code in CODES else 'the code'} cannot be suppressed here (only GW1xx-GW4xx lint findings can)"
                if not isinstance(code, str) or not suppressible(code)
                else "pointer must be a JSON pointer starting with / (or be left out for the whole file)"
            )
            problems.append(settings_doc.diagnostic(Finding("GW702", where, f"[lint] ignore entry {i + 1}: {why}", hint="see docs/rules.md, GW7xx")))
            continue
        rules.append([i, code, pointer, False])
    kept: list[Diagnostic] = []
    suppressed = 0
    for diag in diags:
        hit = None
        if diag.path == target_doc.path:
            for rule in rules:
                _, code, pointer, _ = rule
                if diag.code == code and (pointer is None or diag.pointer == pointer or diag.pointer.startswith(pointer.rstrip("/") + "/")):
                    hit = rule
                    rule[3] = True
        if hit is None:
            kept.append(diag)
        else:
            suppressed += 1
    for i, code, pointer, used in rules:
        if not used:
            place = f"at {pointer}" if pointer is not None else "in the config"
            problems.append(
                settings_doc.diagnostic(
                    Finding(
                        "GW701",
                        pointer_join("lint", "ignore", i),
                        f"unused suppression: no {code} diagnostic {place} of {target_doc.path}",
                        hint="remove the entry from [lint] ignore",
                    )
                )
            )
    return kept + problems, suppressed


def _is_pointer(value) -> bool:
    return isinstance(value, str) and (value == "" or value.startswith("/"))
