"""`gatewayctl migrate`, and why gatewayctl.toml exists: loong's rewrite.

migrate moves gatewayctl's [gateway] keys out of loong's config into
gatewayctl.toml, editing only their lines (every other byte, comments
included, stays), atomically, and refuses when the settings file already
holds other values. A config rewritten the way loong writes it
(tests/loong_rewrite.py) keeps plan and rollout unchanged in the new layout
and loses them in the old one.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from gatewayctl.cli import exitcodes
from gatewayctl.cli.main import cli

from tests.loong_rewrite import loong_rewrite
from tests.test_plan_support import REPO

CONFIG = """\
# loong's config, with comments that must survive
active_provider = "volcengine"   # trailing comment

[providers.volcengine]
api_key = { env = "ARK_API_KEY" }

[gateway]
port = 27100  # loong's own: it stays
# the rollout's selectors
channel_accounts = [
  "lark=work",   # the ops room
  "telegram=bot",
]
stop_grace_s = 5

# what answers
[gateway.handler]
# the echo handler for now
echo = true
timeout_s = 10

[gateway.restart]
policy = "on-failure"

# Feishu: the ops room
[feishu]
enabled = true
mode = "websocket"
default_account = "work"

[feishu.accounts.work]
domain = "lark"
app_id = { env = "LARK_WORK_APP_ID" }
app_secret = { env = "LARK_WORK_APP_SECRET" }
allowed_chat_ids = ["oc_ops_room"]

[telegram]
enabled = true
default_account = "bot"

[telegram.accounts.bot]
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]
"""

# The lines migrate removes from CONFIG (1-based), and nothing else.
REMOVED = {10, 11, 12, 13, 14, 17, 18, 19, 20, 22, 23}


def run(args, env=None):
    return CliRunner().invoke(cli, args, env=env or {"GATEWAYCTL_GATEWAY_PORT": None}, catch_exceptions=False)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text(CONFIG)
    os.chmod(tmp_path / "config.toml", 0o600)
    return tmp_path


def plan_body(args) -> dict:
    r = run(["plan", *args])
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)["plan"]


def same_rollout(a: dict, b: dict) -> bool:
    """Plans equal but for which files they came from."""
    strip = lambda p: {k: v for k, v in p.items() if k not in ("config", "settings")}  # noqa: E731
    return strip(a) == strip(b)


def test_migrate_moves_our_keys_and_touches_nothing_else(here):
    before = plan_body(["--config", "config.toml"])
    r = run(["migrate", "config.toml"])
    assert r.exit_code == 0, r.output
    assert "wrote gatewayctl.toml: channel_accounts, stop_grace_s, handler, restart" in r.stdout
    # loong's config: exactly the moved lines are gone; every other line,
    # comments and loong's port included, is byte for byte the same
    old = CONFIG.split("\n")
    assert (here / "config.toml").read_text() == "\n".join(l for i, l in enumerate(old, 1) if i not in REMOVED)
    assert "port = 27100  # loong's own: it stays" in (here / "config.toml").read_text()
    # permission bits kept (loong's config may hold secrets)
    assert stat.S_IMODE(os.stat(here / "config.toml").st_mode) == 0o600
    settings = (here / "gatewayctl.toml").read_text()
    assert 'loong_config = "config.toml"' in settings
    # the same rollout, now from gatewayctl.toml, with no deprecation warning left
    after = run(["plan"])
    assert after.exit_code == 0 and "GW601" not in after.stderr
    body = json.loads(after.stdout)["plan"]
    assert same_rollout(before, body) and body["settings"]["path"] == "gatewayctl.toml"
    assert run(["check", "gatewayctl.toml"]).exit_code == 0
    # a second run has nothing to do
    again = run(["migrate", "config.toml"])
    assert again.exit_code == 0 and "nothing to migrate" in again.stdout


def test_dry_run_writes_nothing(here):
    r = run(["migrate", "--dry-run", "config.toml"])
    assert r.exit_code == 0
    assert "--- would write gatewayctl.toml:" in r.stdout and "-[gateway.handler]" in r.stdout
    assert (here / "config.toml").read_text() == CONFIG and not (here / "gatewayctl.toml").exists()


def test_an_existing_settings_file_with_other_values_is_refused_and_nothing_changes(here):
    (here / "gatewayctl.toml").write_text('loong_config = "config.toml"\nchannel_accounts = ["lark=work"]\n')
    r = run(["migrate", "config.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS
    assert "refused" in r.stderr and "other values for channel_accounts" in r.stderr
    assert (here / "config.toml").read_text() == CONFIG
    assert (here / "gatewayctl.toml").read_text() == 'loong_config = "config.toml"\nchannel_accounts = ["lark=work"]\n'


def test_an_existing_settings_file_with_the_same_values_only_loses_the_leftovers(here):
    assert run(["migrate", "--to", "first.toml", "config.toml"]).exit_code == 0
    settings = (here / "first.toml").read_text()
    (here / "config.toml").write_text(CONFIG)  # the keys came back (an old backup restored)
    r = run(["migrate", "--to", "first.toml", "config.toml"])
    assert r.exit_code == 0 and "first.toml already holds" in r.stdout
    assert (here / "first.toml").read_text() == settings
    assert "[gateway.handler]" not in (here / "config.toml").read_text()


def test_a_settings_file_naming_another_config_is_refused(here):
    (here / "gatewayctl.toml").write_text('loong_config = "other.toml"\n')
    r = run(["migrate", "config.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS and "names another loong config" in r.stderr
    assert (here / "config.toml").read_text() == CONFIG


@pytest.mark.parametrize(
    "text, words",
    [
        ('[gateway]\nchannel_acounts = ["lark=work"]\n', "keys gatewayctl does not know"),
        ('gateway = { port = 1, channel_accounts = ["lark=work"] }\n', "shares its line with other keys"),
    ],
    ids=["typo", "inline-table"],
)
def test_what_cannot_be_moved_safely_is_refused(here, text, words):
    (here / "config.toml").write_text(text)
    r = run(["migrate", "config.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS and words in r.stderr
    assert (here / "config.toml").read_text() == text and not (here / "gatewayctl.toml").exists()


def test_yaml_is_not_edited_and_a_missing_file_is_a_usage_error(here):
    (here / "c.yaml").write_text("gateway:\n  channel_accounts: [lark=work]\n")
    r = run(["migrate", "c.yaml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS and "migrate edits loong's TOML" in r.stderr
    assert run(["migrate", "nope.toml"]).exit_code == exitcodes.USAGE


def test_a_symlinked_config_stays_a_symlink(here):
    real = here / "real.toml"
    real.write_text(CONFIG)
    (here / "config.toml").unlink()
    os.symlink("real.toml", here / "config.toml")
    assert run(["migrate", "config.toml"]).exit_code == 0
    assert os.path.islink(here / "config.toml") and "[gateway.handler]" not in real.read_text()


def test_loong_config_is_named_relative_to_the_settings_file_else_home_else_absolute(here, monkeypatch):
    monkeypatch.setenv("HOME", str(here / "elsewhere"))
    (here / "ops").mkdir()
    assert run(["migrate", "--to", "ops/a.toml", "config.toml"]).exit_code == 0
    assert f'loong_config = "{here / "config.toml"}"' in (here / "ops" / "a.toml").read_text()
    assert run(["plan", "--file", "ops/a.toml"]).exit_code == 0
    for home, name, expected in ((here, "ops/b.toml", "~/config.toml"), (here / "elsewhere", "c.toml", "config.toml")):
        (here / "config.toml").write_text(CONFIG)
        monkeypatch.setenv("HOME", str(home))
        assert run(["migrate", "--to", name, "config.toml"]).exit_code == 0
        assert f'loong_config = "{expected}"' in (here / name).read_text()
        assert run(["plan", "--file", name]).exit_code == 0


# ------------------------------------------------------- loong's rewrite


def test_loong_rewrite_drops_the_old_place_and_keeps_the_new(here):
    """Why the settings moved: one save by loong drops [gateway]'s gatewayctl
    keys and every comment. In the old layout the plan then changes (no
    handler: refused); in the new layout plan and rollout are unchanged."""
    # old layout: the rewrite loses the handler and the selectors
    rewritten = loong_rewrite(CONFIG)
    assert "#" not in rewritten and "handler" not in rewritten and "channel_accounts" not in rewritten
    assert "port = 27100" in rewritten
    (here / "config.toml").write_text(rewritten)
    r = run(["plan", "--config", "config.toml"])
    assert r.exit_code == exitcodes.DIAGNOSTICS and "GW610" in r.stderr

    # new layout: the same rewrite changes nothing gatewayctl runs
    (here / "config.toml").write_text(CONFIG)
    assert run(["migrate", "config.toml"]).exit_code == 0
    before = plan_body([])
    (here / "config.toml").write_text(loong_rewrite((here / "config.toml").read_text()))
    after = plan_body([])
    assert same_rollout(before, after)
    assert before["config"]["sha256"] != after["config"]["sha256"]  # it did rewrite the file


def test_the_shipped_example_survives_loongs_rewrite(tmp_path, monkeypatch):
    for name in ("gatewayctl.toml", "gateway-rollout.toml"):
        (tmp_path / name).write_bytes((REPO / "examples" / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    before = plan_body([])
    (tmp_path / "gateway-rollout.toml").write_text(loong_rewrite((tmp_path / "gateway-rollout.toml").read_text()))
    assert run(["check", "gatewayctl.toml"]).exit_code == 0
    after = plan_body([])
    assert same_rollout(before, after)
    assert [ln["account_source"] for ln in after["lanes"]] == ["selector"] * 3 and after["handler"]["kind"] == "echo"
