"""The known-key inventory of loong's channel structs (class 8 of issue 10).

The generator (scripts/loong_inventory.py) reads serde the way serde does,
proven on a vendored Rust sample written for this test; the inventory in
the package is what the generator makes of the pinned loong commit (when a
loong mirror is on this machine); the schema lists every key loong defines;
and GW101/GW111 never fire on one of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gatewayctl.catalog import BY_TABLE, load_schema
from gatewayctl.catalog.loong import LOONG_COMMIT, inventory, known_keys
from gatewayctl.source import load_document
from gatewayctl.validate import validate

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "loong_inventory.py"
SAMPLE = REPO / "fixtures" / "loong" / "rust-sample"
PACKAGED = REPO / "src" / "gatewayctl" / "catalog" / "loong_keys.json"
MIRROR = Path(os.environ.get("LOONG_GIT_DIR", "/work/.mirror/loongclaw-ai+loongclaw/repo"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_generator_reads_serde_attributes_like_serde(tmp_path):
    out = tmp_path / "keys.json"
    proc = run("--loong-src", str(SAMPLE), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())
    assert got == json.loads((SAMPLE / "expected.json").read_text())
    alpha = got["families"]["alpha"]
    # rename and alias replace/extend the field name; skip and
    # skip_deserializing drop it; a flattened struct lends its keys; the
    # account struct's rename_all applies; a cfg(test) twin is ignored.
    assert {"server", "token", "api_token", "account_id", "default_account"} <= set(alpha["keys"])
    assert not {"server_url", "runtime_only", "computed", "common", "only_in_tests"} & set(alpha["keys"])
    assert alpha["accounts"]["keys"] == ["acp", "botToken", "enabled", "server"]
    assert alpha["tables"]["acp"]["aliases"] == {"mcp_servers": "bootstrap_mcp_servers"}
    # A flattened map and a hand-written Deserialize accept any key.
    assert got["families"]["beta_chat"]["open"] is True
    assert got["families"]["opaque"]["open"] is True
    assert "gateway" not in got["families"]  # not a *ChannelConfig


def test_generator_prints_the_diff_against_the_previous_inventory(tmp_path):
    out = tmp_path / "keys.json"
    previous = json.loads((SAMPLE / "expected.json").read_text())
    previous["loong"]["commit"] = "0" * 40
    previous["families"]["alpha"]["keys"].remove("token")
    previous["families"]["alpha"]["keys"].append("retired_key")
    out.write_text(json.dumps(previous))
    proc = run("--loong-src", str(SAMPLE), "--out", str(out), "--check")
    assert proc.returncode == 1
    assert f"loong commit: {'0' * 40} -> unversioned" in proc.stdout
    assert "+ [alpha] token" in proc.stdout
    assert "- [alpha] retired_key" in proc.stdout
    assert json.loads(out.read_text()) == previous  # --check writes nothing


def test_generator_refuses_a_tree_without_the_root_struct(tmp_path):
    (tmp_path / "crates" / "app" / "src" / "config").mkdir(parents=True)
    proc = run("--loong-src", str(tmp_path), "--out", str(tmp_path / "k.json"))
    assert proc.returncode != 0
    assert "no struct LoongConfig" in proc.stderr


def test_packaged_inventory_is_what_the_generator_makes_of_the_pinned_loong(tmp_path):
    if not (MIRROR / "HEAD").exists():
        pytest.skip(f"no loong git mirror at {MIRROR} (set LOONG_GIT_DIR); the sample test covers the generator")
    out = tmp_path / "keys.json"
    shutil.copy(PACKAGED, out)
    proc = run("--loong-git-dir", str(MIRROR), "--rev", LOONG_COMMIT, "--out", str(out), "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no key changes" in proc.stdout


def test_inventory_comes_from_the_commit_the_rules_follow():
    inv = inventory()
    assert inv["loong"]["commit"] == LOONG_COMMIT
    assert inv == json.loads(PACKAGED.read_text())
    # Every channel family of loong's config is in the catalog, and the
    # catalog's families that loong has no table for are catalog-only.
    loong_tables = set(inv["families"]) - {"cli"}
    assert loong_tables <= set(BY_TABLE)
    assert {BY_TABLE[t].klass for t in set(BY_TABLE) - loong_tables} == {"catalog-only"}


def _schema_props(name: str) -> set[str]:
    return set(load_schema("config")["definitions"][name]["properties"])


@pytest.mark.parametrize("table", sorted(set(inventory()["families"]) - {"cli"}))
def test_schema_lists_every_key_loong_defines(table):
    fam = inventory()["families"][table]
    assert set(fam["keys"]) <= _schema_props(f"channel_{table}")
    if "accounts" in fam:
        assert set(fam["accounts"]["keys"]) <= _schema_props(f"account_{table}")
        for sub in fam["accounts"].get("tables", {}).values():
            assert set(sub["keys"]) <= _schema_props("channelAcp")
    for sub in fam.get("tables", {}).values():
        assert set(sub["keys"]) <= _schema_props("channelAcp")


def _every_loong_key_config() -> str:
    """TOML that writes every key loong defines, in every family, account and acp table."""
    lines = []
    for table, fam in inventory()["families"].items():
        if table == "cli":
            continue
        lines.append(f"[{table}]")
        lines += [f'{k} = "x"' for k in fam["keys"] if k not in ("accounts", "acp")]
        for name, sub in fam.get("tables", {}).items():
            lines.append(f"[{table}.{name}]")
            lines += [f'{k} = "x"' for k in sub["keys"]]
        if "accounts" in fam:
            lines.append(f"[{table}.accounts.a1]")
            lines += [f'{k} = "x"' for k in fam["accounts"]["keys"] if k != "acp"]
            for name, sub in fam["accounts"].get("tables", {}).items():
                lines.append(f"[{table}.accounts.a1.{name}]")
                lines += [f'{k} = "x"' for k in sub["keys"]]
    return "\n".join(lines) + "\n"


def test_no_unknown_key_finding_on_any_key_loong_defines():
    text = _every_loong_key_config()
    doc, diags = load_document("every-key.toml", data=text.encode())
    assert doc is not None and not diags
    _, found = validate(doc)
    unknown = [f"{d.code} {d.pointer}: {d.message}" for d in found if d.code in ("GW101", "GW111")]
    assert unknown == []
    assert text.count(" = ") > 400  # the config really writes them all


def test_known_keys_by_table_path():
    assert "managed_bridge_plugin_id" in known_keys(("qqbot",))
    assert "managed_bridge_plugin_id" not in known_keys(("qqbot", "accounts", "any"))
    assert known_keys(("telegram", "accounts", "work", "acp")) == frozenset({"bootstrap_mcp_servers", "working_directory"})
    assert known_keys(("gateway",)) is None
    assert known_keys(("telegram", "nope")) is None
    assert known_keys(()) is None


def check(text: str):
    doc, diags = load_document("c.toml", data=text.encode())
    assert doc is not None and not diags
    return [(d.code, d.severity.value, d.message) for d in validate(doc)[1]]


def test_typo_of_a_loong_key_is_an_error_and_a_stranger_key_a_warning():
    found = sorted(check('[telegram]\nenabled = false\nrequire_mentoin = true\nnotes = "ops"\n'))
    assert ("GW101", "error") == found[0][:2] and "did you mean `require_mention`" in found[0][2]
    assert ("GW111", "warning") == found[1][:2] and "loong does not read it" in found[1][2]
    assert len(found) == 2


def test_gatewayctl_own_tables_keep_gw101_for_every_unknown_key():
    found = check('[gateway.restart]\nzzz_unrelated = 1\n')
    # GW601: [gateway.restart] itself is a gatewayctl setting in its deprecated place
    assert sorted(c for c, _, _ in found) == ["GW101", "GW601"]
    from gatewayctl.validate.schema import check_settings

    assert [f.code for f in check_settings({"loong_config": "c.toml", "restart": {"zzz_unrelated": 1}})] == ["GW101"]


def test_version_shows_the_loong_commit_as_docs_loong_compat_says(gatewayctl_cmd):
    proc = subprocess.run([*gatewayctl_cmd, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"rules follow loong {LOONG_COMMIT[:8]}" in proc.stdout
    doc = (REPO / "docs" / "loong-compat.md").read_text(encoding="utf-8")
    block = doc.split("$ gatewayctl --version\n", 1)[1].split("```", 1)[0]
    assert proc.stdout.replace("\r", "") == block
