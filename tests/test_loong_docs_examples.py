"""Every TOML example of loong's own documentation passes `check` without an
error, except those loong itself refuses (listed below with loong's reason).

The examples are a pinned copy (fixtures/loong/docs/, PROVENANCE names the
commit and the extraction command); when a loong mirror is on this machine
the copy is also proven to be exactly what the extraction script makes of
that commit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gatewayctl.catalog.loong import LOONG_COMMIT
from gatewayctl.diagnostics import Severity
from gatewayctl.source import load_document
from gatewayctl.validate import validate

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "fixtures" / "loong" / "docs"
SCRIPT = REPO / "scripts" / "extract_loong_docs_toml.py"
MIRROR = Path(os.environ.get("LOONG_GIT_DIR", "/work/.mirror/loongclaw-ai+loongclaw/repo"))

# Snippets loong itself refuses: file -> {(code, line): loong's reason}.
EXPECTED_REFUSALS = {
    "site__use-loong__channel-guides__irc.mdx--1.toml": {
        ("GW330", 4): "crates/app/src/config/irc.rs:101 refuses the config at load: "
        "`bare `host:port` is not supported for irc server; use `irc://host:port` or `ircs://host:port``",
    },
    "site__use-loong__channel-guides__signal.mdx--1.toml": {
        ("GW313", 4): "crates/app/src/channel/signal.rs:45 checks service_url against the outbound policy when it sends: "
        "a loopback host without `[outbound_http] allow_private_hosts = true` is refused (the same page says so)",
    },
    "site__use-loong__configuration-reference.mdx--13.toml": {
        ("GW302", 11): "crates/app/src/channel/dispatch.rs:3165 refuses to serve feishu: "
        "`feishu.allowed_chat_ids is empty; configure at least one trusted chat id`",
    },
    "site__use-loong__configuration-reference.mdx--19.toml": {
        ("GW004", 7): "crates/app/src/config/runtime.rs:2053 parses the file with the toml crate, "
        "which refuses a key defined twice (the page lists alternatives, not one config)",
    },
}

SNIPPETS = sorted(DOCS.glob("*.toml"))


def errors_of(path: Path) -> set[tuple[str, int]]:
    doc, diags = load_document(str(path))
    diags = list(diags)
    if doc is not None:
        diags.extend(validate(doc)[1])
    return {(d.code, d.range.start.line if d.range else 0) for d in diags if d.severity is Severity.ERROR}


def test_the_pinned_copy_is_complete_and_from_the_commit_the_rules_follow():
    provenance = (DOCS / "PROVENANCE").read_text(encoding="utf-8")
    assert f"commit: {LOONG_COMMIT}" in provenance
    assert f"snippets: {len(SNIPPETS)}" in provenance
    assert len(SNIPPETS) >= 100
    for path in SNIPPETS:
        assert re.match(r"# loong-docs: (site|docs)/\S+\.mdx?:\d+\n", path.read_text(encoding="utf-8")), path
    assert set(EXPECTED_REFUSALS) <= {p.name for p in SNIPPETS}


@pytest.mark.parametrize("path", SNIPPETS, ids=[p.name for p in SNIPPETS])
def test_loong_docs_example_has_no_error_unless_loong_refuses_it(path):
    expected = set(EXPECTED_REFUSALS.get(path.name, {}))
    assert errors_of(path) == expected


def test_the_pinned_copy_is_what_the_script_extracts(tmp_path):
    if not (MIRROR / "HEAD").exists():
        pytest.skip(f"no loong git mirror at {MIRROR} (set LOONG_GIT_DIR) to re-extract from")
    out = tmp_path / "docs"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--loong-git-dir", str(MIRROR), "--rev", LOONG_COMMIT, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    fresh = {p.name: p.read_bytes() for p in out.iterdir()}
    pinned = {p.name: p.read_bytes() for p in DOCS.iterdir()}
    assert fresh == pinned
