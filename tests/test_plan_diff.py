"""`gatewayctl plan diff`: lanes added, removed, replaced (which fields) or
unchanged; owner-level changes marked as needing a full restart; a JSON
form that validates against schemas/plandiff.schema.json; --exit-code; and
--running against a real owner."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schemas" / "plandiff.schema.json").read_text(encoding="utf-8"))

CONFIG = """\
[telegram]
enabled = true
allowed_chat_ids = [1]
default_account = "alpha"
[telegram.accounts.alpha]
bot_token = { env = "TG_ALPHA" }
[telegram.accounts.beta]
bot_token = { env = "TG_BETA" }

[matrix]
enabled = true
base_url = "https://matrix.example.org"
user_id = "@bot:example.org"
access_token = { env = "MATRIX_TOKEN" }
allowed_room_ids = ["!room:example.org"]
"""


def _plan(tmp: Path, name: str, config: str, *args: str, handler: str = "echo = true") -> Path:
    """A plan from gatewayctl settings (the handler) naming ``config``."""
    cfg = tmp / f"{name}.toml"
    cfg.write_text(config, encoding="utf-8")
    settings = tmp / f"{name}-settings.toml"
    settings.write_text(f'loong_config = "{name}.toml"\n[handler]\n{handler}\n', encoding="utf-8")
    out = tmp / f"{name}.json"
    result = CliRunner().invoke(cli, ["plan", "--file", str(settings), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return out


def _diff(*args: str):
    result = CliRunner().invoke(cli, ["plan", "diff", *args])
    return result.exit_code, result.stdout


def _json(*args: str) -> dict:
    code, out = _diff("--json", *args)
    assert code in (0, 1), out
    doc = json.loads(out)
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    return doc


def test_same_plan_is_no_change_and_exit_code_zero(tmp_path):
    a = _plan(tmp_path, "a", CONFIG)
    code, out = _diff("--exit-code", str(a), str(a))
    assert code == exitcodes.OK
    assert "No changes" in out
    doc = _json(str(a), str(a))
    assert doc["changes"] is False
    assert {lane["action"] for lane in doc["lanes"]} == {"unchanged"}


def test_repointing_one_lane_changes_only_that_lane(tmp_path):
    old = _plan(tmp_path, "old", CONFIG)
    new = _plan(tmp_path, "new", CONFIG, "--channel-account", "telegram=beta")
    code, out = _diff("--exit-code", str(old), str(new))
    assert code == exitcodes.DIAGNOSTICS  # 1: the plans differ
    assert "~ lane telegram (telegram/alpha -> telegram/beta) will be replaced" in out
    assert "= lane matrix" in out and "unchanged" in out
    assert "Plan: 0 to add, 1 to replace, 0 to remove, 1 unchanged." in out
    doc = _json(str(old), str(new))
    by_family = {lane["family"]: lane for lane in doc["lanes"]}
    assert by_family["matrix"]["action"] == "unchanged" and by_family["matrix"]["changes"] == []
    fields = {c["field"]: c for c in by_family["telegram"]["changes"]}
    assert fields["account_id"]["old"] == "alpha" and fields["account_id"]["new"] == "beta"
    # secret references are shown by name; plans hold no values to show
    assert fields["env"] == {"field": "env", "old": ["TG_ALPHA"], "new": ["TG_BETA"]}
    assert doc["needs_full_restart"] is False


def test_provenance_alone_does_not_replace_a_lane(tmp_path):
    # the same account chosen by default_account, then by a selector
    old = _plan(tmp_path, "old", CONFIG)
    new = _plan(tmp_path, "new", CONFIG, "--channel-account", "telegram=alpha")
    doc = _json(str(old), str(new))
    assert {lane["family"]: lane["action"] for lane in doc["lanes"]} == {"matrix": "unchanged", "telegram": "unchanged"}
    assert doc["changes"] is False


def test_added_and_removed_lanes(tmp_path):
    old = _plan(tmp_path, "old", CONFIG)
    without_matrix = CONFIG.replace("[matrix]\nenabled = true", "[matrix]\nenabled = false")
    with_wecom = without_matrix + '\n[wecom]\nenabled = true\nbot_id = { env = "WECOM_BOT" }\nsecret = { env = "WECOM_SECRET" }\nallowed_conversation_ids = ["c1"]\n'
    new = _plan(tmp_path, "new", with_wecom)
    doc = _json(str(old), str(new))
    actions = {lane["family"]: lane["action"] for lane in doc["lanes"]}
    assert actions == {"matrix": "remove", "telegram": "unchanged", "wecom": "add"}
    assert doc["summary"] == {"add": 1, "change": 0, "remove": 1, "unchanged": 1}
    _, out = _diff(str(old), str(new))
    assert "+ lane wecom" in out and "- lane matrix" in out


def test_a_handler_change_touches_every_lane(tmp_path):
    old = _plan(tmp_path, "old", CONFIG)
    new = _plan(tmp_path, "new", CONFIG, handler='exec = ["python3", "bot.py"]')
    doc = _json(str(old), str(new))
    assert {lane["action"] for lane in doc["lanes"]} == {"change"}
    for lane in doc["lanes"]:
        assert any(c["field"].startswith("handler") for c in lane["changes"])


def test_control_port_change_needs_a_full_restart(tmp_path):
    old = _plan(tmp_path, "old", CONFIG, "--port", "26306")
    new = _plan(tmp_path, "new", CONFIG, "--port", "26307")
    doc = _json(str(old), str(new))
    assert doc["needs_full_restart"] is True and doc["changes"] is True
    port = [o for o in doc["owner"] if o["field"] == "control.port"]
    assert port == [{"field": "control.port", "old": 26306, "new": 26307, "needs_full_restart": True}]
    _, out = _diff(str(old), str(new))
    assert "needs a full restart" in out


def test_same_port_from_another_source_is_provenance_only(tmp_path):
    old = _plan(tmp_path, "old", CONFIG, "--port", "26306")
    new = _plan(tmp_path, "new", CONFIG)  # the default port, 26306
    doc = _json(str(old), str(new))
    assert doc["changes"] is False and doc["needs_full_restart"] is False
    # the two configs (and settings files) have different names here:
    # provenance too, restart nothing
    assert {o["field"] for o in doc["owner"]} == {"control.port_source", "config.path", "settings.path", "settings.sha256"}
    assert not any(o["needs_full_restart"] for o in doc["owner"])


def test_a_tampered_plan_is_refused_like_plan_show(tmp_path):
    good = _plan(tmp_path, "a", CONFIG)
    bad = tmp_path / "bad.json"
    bad.write_text(good.read_text().replace('"TG_ALPHA"', '"TG_OTHER"'))
    code, _ = _diff(str(good), str(bad))
    assert code == exitcodes.PLAN_TAMPERED


def test_usage_errors():
    assert _diff("only-one.json")[0] == exitcodes.USAGE
    assert _diff("--running", "a.json", "b.json")[0] == exitcodes.USAGE


def test_running_without_an_owner_is_exit_3(tmp_path, monkeypatch):
    monkeypatch.setenv("GATEWAYCTL_HOME", str(tmp_path / "home"))
    a = _plan(tmp_path, "a", CONFIG)
    code, _ = _diff("--running", str(a))
    assert code == exitcodes.NOT_RUNNING


@pytest.mark.slow
def test_running_compares_against_the_live_owners_plan(tmp_path):
    from tests.lane_programs.plans import cli as run_cli, finish, lane, make_plan, start_owner, wait_running

    home = tmp_path / "home"
    running = make_plan(tmp_path, [lane("telegram", account="a"), lane("matrix", account="m")])
    owner = start_owner(home, running)
    try:
        wait_running(home, owner)
        same = run_cli(home, "plan", "diff", "--running", "--exit-code", str(running))
        assert same.returncode == 0, same.stdout + same.stderr
        other = make_plan(tmp_path, [lane("telegram", account="b"), lane("matrix", account="m")])
        changed = run_cli(home, "plan", "diff", "--running", "--json", "--exit-code", str(other))
        assert changed.returncode == 1, changed.stderr
        doc = json.loads(changed.stdout)
        jsonschema.Draft7Validator(SCHEMA).validate(doc)
        assert doc["old"]["plan"] == "<running>"
        assert {lane["family"]: lane["action"] for lane in doc["lanes"]} == {"matrix": "unchanged", "telegram": "change"}
    finally:
        run_cli(home, "gateway", "stop")
        finish(owner)


def test_an_optional_field_absent_or_null_is_no_change():
    from gatewayctl.compile.plandiff import _field_changes

    assert _field_changes({"stop_grace_s": 5, "run_as": None}, {"stop_grace_s": 5}) == ()
    changed = _field_changes({"stop_grace_s": 5}, {"stop_grace_s": 5, "run_as": {"user": "gw", "group": None}})
    assert [(c.field, c.old, c.new) for c in changed] == [("run_as.user", None, "gw")]


def test_control_characters_in_what_a_plan_carries_are_escaped(tmp_path):
    a = _plan(tmp_path, "a", CONFIG)
    hostile = tmp_path / "new\x1b[2J\u202e.json"
    hostile.write_bytes(a.read_bytes())
    code, out = _diff(str(a), str(hostile))
    assert code == 0
    assert "\x1b" not in out and "\u202e" not in out
    assert "new\\x1b[2J\\u202e.json" in out
