"""The loong conformance corpus: what `check` says must be what loong does.

Every file under fixtures/loong/cases/<class>/ is one behaviour of loong
(commit in docs/loong-compat.md), read from its Rust source. A case starts
with a comment header:

    # loong: crates/app/src/config/channels.rs:123      (one or more)
    # outcome: error-at-load | error-at-gateway-start | error-at-send | warning | accepted
    # channel-account: lark=work                         (optional, repeatable)

`# channel-account:` lines are command-line selectors, one line per
`--channel-account` flag (the value as typed; a value starting with `"` is
read as a JSON string, for exact whitespace). The offending lines carry
`# expect: GWnnn[, GWnnn]`, as in fixtures/invalid/; a diagnostic about a
command-line selector is expected on that selector's `# channel-account:`
line. The (code, line) pairs the full pipeline reports must equal the
markers exactly. On top of that the outcome must agree with severities:
an error-* case reports at least one error, a `warning` case at least one
warning and no error, an `accepted` case no error (a marked warning is
allowed: loong accepts, gatewayctl explains).

Each case that is not `accepted` has a near miss that loong accepts next to
it: `<name>.toml` pairs with `<name>-ok.toml`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gatewayctl.diagnostics import Severity
from gatewayctl.source import load_document, selector_document
from gatewayctl.validate import validate

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("LOONG_GIT_DIR", "/work/.mirror/loongclaw-ai+loongclaw/repo"))
CASES = REPO / "fixtures" / "loong" / "cases"
SUFFIXES = {".toml", ".yaml", ".yml", ".json"}
OUTCOMES = ("error-at-load", "error-at-gateway-start", "error-at-send", "warning", "accepted")
MARK = re.compile(r"#\s*expect:\s*(GW\d{3}(?:\s*,\s*GW\d{3})*)")
LOONG_REF = re.compile(r"#\s*loong:\s*(crates/[\w./-]+\.rs):([1-9]\d*)\s*$")
OUTCOME = re.compile(r"#\s*outcome:\s*(\S+)\s*$")
SELECTOR = re.compile(r"#\s*channel-account:\s?(.*?)\s*(?:#\s*expect:.*)?$")


@dataclass(frozen=True)
class Case:
    path: Path
    refs: tuple[tuple[str, int], ...]
    outcome: str | None
    selectors: tuple[tuple[str, int], ...]  # (value, file line)
    marks: frozenset[tuple[str, int]]


def parse_case(path: Path) -> Case:
    refs, outcome, selectors, marks = [], None, [], set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        m = MARK.search(line)
        if m:
            marks.update((code.strip(), lineno) for code in m.group(1).split(","))
        stripped = line.strip()
        if not stripped.startswith("#"):
            continue
        if (r := LOONG_REF.match(stripped)) is not None:
            refs.append((r.group(1), int(r.group(2))))
        elif (o := OUTCOME.match(stripped)) is not None:
            outcome = o.group(1)
        elif (s := SELECTOR.match(stripped)) is not None:
            value = s.group(1)
            if value.startswith('"'):
                value = json.loads(value)
            selectors.append((value, lineno))
    return Case(path, tuple(refs), outcome, tuple(selectors), frozenset(marks))


def run_case(case: Case):
    """(reported (code, line) pairs, severities by pair, readable lines)."""
    doc, diags = load_document(str(case.path))
    diags = list(diags)
    cli = selector_document([v for v, _ in case.selectors]) if case.selectors else None
    if doc is not None:
        _, more = validate(doc, cli_selectors=cli)
        diags.extend(more)
    pairs: dict[tuple[str, int], Severity] = {}
    readable = []
    for d in diags:
        line = d.range.start.line if d.range else 0
        if cli is not None and d.path == cli.path and 1 <= line <= len(case.selectors):
            line = case.selectors[line - 1][1]
        pairs[(d.code, line)] = d.severity
        readable.append(f"{d.code} {d.severity.value} line {line}: {d.message}")
    return pairs, readable


def _files() -> list[Path]:
    return sorted(p for p in CASES.rglob("*") if p.suffix in SUFFIXES and p.is_file())


FILES = _files()


def _ids(paths):
    return [str(p.relative_to(CASES)) for p in paths]


def test_corpus_covers_the_classes():
    classes = {p.relative_to(CASES).parts[0] for p in FILES}
    assert {"load-values", "runtime-ids", "gateway-ingress", "allowlists", "secrets", "private-hosts"} <= classes
    assert len(FILES) >= 60


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_case_header_is_complete(path):
    case = parse_case(path)
    assert case.refs, f"{path}: no `# loong: crates/...rs:LINE` header"
    assert case.outcome in OUTCOMES, f"{path}: `# outcome:` must be one of {', '.join(OUTCOMES)}"
    assert path.parent.parent == CASES, f"{path}: cases live in fixtures/loong/cases/<class>/"


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_case_agrees_with_loong(path):
    case = parse_case(path)
    pairs, readable = run_case(case)
    reported = set(pairs)
    missing = case.marks - reported
    unexpected = reported - case.marks
    assert not missing and not unexpected, (
        f"missing: {sorted(missing)}\nunexpected: {sorted(unexpected)}\nreported:\n" + "\n".join(readable)
    )
    errors = [p for p, sev in pairs.items() if sev is Severity.ERROR]
    warnings = [p for p, sev in pairs.items() if sev is Severity.WARNING]
    if case.outcome.startswith("error-"):
        assert errors, f"loong refuses this config ({case.outcome}) but check reports no error:\n" + "\n".join(readable)
    elif case.outcome == "warning":
        assert warnings and not errors, "expected warnings only:\n" + "\n".join(readable)
    else:
        assert not errors, "loong accepts this config but check reports errors:\n" + "\n".join(readable)


REFUSED = [p for p in FILES if parse_case(p).outcome != "accepted"]


@pytest.mark.parametrize("path", REFUSED, ids=_ids(REFUSED))
def test_case_has_an_accepted_near_miss(path):
    near = path.with_name(f"{path.stem}-ok{path.suffix}")
    assert near.is_file(), f"{path.name} needs a near miss that loong accepts: {near.name}"
    assert parse_case(near).outcome == "accepted", f"{near.name} must have `# outcome: accepted`"


def test_every_loong_reference_is_a_line_of_the_pinned_commit():
    """Each `# loong: path:line` names a file of the commit the rules follow
    and a line inside it (a typo'd or stale reference fails here)."""
    from gatewayctl.catalog.loong import LOONG_COMMIT

    if not (MIRROR / "HEAD").exists():
        pytest.skip(f"no loong git mirror at {MIRROR} (set LOONG_GIT_DIR) to read the referenced files from")
    refs = {ref for p in FILES for ref in parse_case(p).refs}
    lines: dict[str, list[bytes] | None] = {}
    for path in sorted({p for p, _ in refs}):
        proc = subprocess.run(
            ["git", "--git-dir", str(MIRROR), "show", f"{LOONG_COMMIT}:{path}"],
            capture_output=True,
            timeout=60,
        )
        lines[path] = proc.stdout.split(b"\n") if proc.returncode == 0 else None
    # A reference names code: an existing, non-blank line.
    bad = sorted((p, n) for p, n in refs if lines[p] is None or n > len(lines[p]) or not lines[p][n - 1].strip())
    assert not bad, f"references outside loong {LOONG_COMMIT[:12]}: {bad}"


def test_parse_case_reads_selectors_and_maps_their_lines(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(
        '# loong: crates/daemon/src/lib.rs:1\n# outcome: error-at-load\n'
        '# channel-account: lark=a,b  # expect: GW405\n# channel-account: " wecom=x "\n[feishu]\n',
        encoding="utf-8",
    )
    case = parse_case(p)
    assert case.refs == (("crates/daemon/src/lib.rs", 1),)
    assert case.selectors == (("lark=a,b", 3), (" wecom=x ", 4))
    assert case.marks == {("GW405", 3)}
