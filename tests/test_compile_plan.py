"""compile_plan: which lanes run, with what settings, secrets and argv.

Every plan compiled here is checked against schemas/plan.schema.json and
round-tripped through the wire format (assert_valid_plan).
"""

from __future__ import annotations

import pytest

from gatewayctl.compile import planfile
from gatewayctl.compile.compiler import CompileOptions

from tests.test_plan_support import REPO, assert_valid_plan, compile_text

SEED = (REPO / "examples" / "gateway-rollout.toml").read_text(encoding="utf-8")
SEED_SETTINGS = (REPO / "examples" / "gatewayctl.toml").read_text(encoding="utf-8")
SHAPES = (REPO / "fixtures" / "plans" / "default-shapes.toml").read_text(encoding="utf-8")

TELEGRAM = """
[telegram]
enabled = true
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [1]
"""


def _ok(text, **kw):
    plan, findings, diags = compile_text(text, **kw)
    assert not [d for d in diags if d.is_error], diags
    assert plan is not None, findings
    assert_valid_plan(plan)
    return plan, findings


def _codes(findings):
    return sorted(f.code for f in findings)


# --------------------------------------------------------------- lanes


def test_seed_example_compiles_to_three_selected_lanes():
    plan, findings = _ok(SEED, path="examples/gateway-rollout.toml", settings=SEED_SETTINGS)
    assert findings == []
    assert [(l.family, l.alias, l.account_id, l.account_source) for l in plan.lanes] == [
        ("feishu", "lark", "work", "selector"),
        ("telegram", "telegram", "bot_123456", "selector"),
        ("wecom", "wecom", "alerts", "selector"),
    ]
    feishu = plan.lane("feishu")
    assert feishu.settings["domain"] == "lark"  # the account's value
    assert feishu.settings["mode"] == "websocket"  # the family's value, inherited
    assert feishu.settings["webhook_path"] == "/feishu/events"  # schema default
    assert feishu.env == ("LARK_WORK_APP_ID", "LARK_WORK_APP_SECRET")
    assert plan.config_path == "examples/gateway-rollout.toml"


def test_cli_selectors_replace_the_config_list():
    plan, _ = _ok(SEED, settings=SEED_SETTINGS, selectors=["telegram=bot_123456"])
    # the config lists three selectors; the command line names one, so the
    # other two families run their default accounts (no alias)
    assert [(l.family, l.alias, l.account_source) for l in plan.lanes] == [
        ("feishu", None, "explicit_default"),
        ("telegram", "telegram", "selector"),
        ("wecom", None, "explicit_default"),
    ]


def test_default_shapes_give_each_account_source():
    plan, findings = _ok(SHAPES)
    assert _codes(findings) == []
    got = {l.family: (l.account_id, l.account_label, l.account_source, l.alias) for l in plan.lanes}
    assert got == {
        "feishu": ("ops-room", "Ops Room", "explicit_default", None),
        "telegram": ("default", "Default", "mapped_default", None),
        "wecom": ("alpha", "alpha", "fallback", None),
        "matrix": ("default", "default", "single_account", None),
        "whatsapp": ("support-line", "Support Line", "single_account", None),
    }
    assert "slack" not in got  # outbound-only never runs in the gateway
    assert [l.family for l in plan.lanes] == sorted(got)


def test_inheritance_and_acp_replacement():
    plan, _ = _ok(SHAPES)
    feishu = plan.lane("feishu")
    assert feishu.settings["allowed_chat_ids"] == ("oc_shared",)  # family-level, inherited
    assert feishu.settings["acp"]["working_directory"] == "/srv/ops"
    telegram = plan.lane("telegram")
    assert telegram.settings["polling_timeout_s"] == 30  # the account overrides the default 15
    assert telegram.secrets[0].ref == "TELEGRAM_SHARED_TOKEN"  # family-level *_env sibling


def test_selected_account_other_than_default():
    plan, _ = _ok(SHAPES, selectors=["Lark=Sales", "telegram=backup"])
    feishu, telegram = plan.lane("feishu"), plan.lane("telegram")
    assert (feishu.alias, feishu.account_id, feishu.account_label) == ("Lark", "sales", "sales")
    assert [s.ref for s in feishu.secrets] == ["FEISHU_APP_ID", "FEISHU_SALES_SECRET"]
    assert "acp" not in feishu.settings  # only "Ops Room" sets one
    assert telegram.settings["allowed_chat_ids"] == (2002,)


def test_selector_for_single_account_family_with_derived_id():
    plan, _ = _ok(TELEGRAM, selectors=["telegram=bot_42"])
    lane = plan.lane("telegram")
    assert (lane.account_id, lane.account_label, lane.account_source) == ("bot_42", "bot_42", "selector")


def test_a_family_account_id_names_no_lane_its_accounts_are_selected_by_key():
    """Every account inherits the family's account_id as its runtime id
    (loong crates/app/src/config/channels.rs:1964), but loong selects and
    defaults by key (channels_account_resolution.rs:305): the lane is the
    key's, with or without a selector."""
    text = TELEGRAM.replace("allowed_chat_ids = [1]", 'allowed_chat_ids = [1]\naccount_id = "Ops Bot"')
    text += "\n[telegram.accounts.primary]\n[telegram.accounts.backup]\n"
    plan, _ = _ok(text)
    lane = plan.lane("telegram")
    assert (lane.account_id, lane.account_source) == ("backup", "fallback")
    assert "account_id" not in lane.settings
    plan, _ = _ok(text, selectors=["telegram=primary"])
    assert plan.lane("telegram").account_id == "primary"
    _, _, diags = compile_text(text, selectors=["telegram=ops-bot"])
    assert [d.code for d in diags if d.is_error] == ["GW405"]


def test_single_account_id_without_a_letter_or_digit_is_no_identity():
    """loong reads `account_id = "--"` as no configured identity and derives
    one (channels_account_resolution.rs:24): the plan cannot know it."""
    text = TELEGRAM.replace("allowed_chat_ids = [1]", 'allowed_chat_ids = [1]\naccount_id = "--"')
    plan, _ = _ok(text)
    assert (plan.lane("telegram").account_id, plan.lane("telegram").account_source) == ("default", "single_account")
    # Like a derived id: the selector names the one account (no GW408, which
    # needs a known account_id that the selector contradicts).
    plan, findings = _ok(text, selectors=["telegram=bot_42"])
    assert plan.lane("telegram").account_id == "bot_42"
    _, _, diags = compile_text(text, selectors=["telegram=bot_42"])
    assert "GW408" not in [d.code for d in diags]


def test_disabled_family_selected_is_left_out_with_the_selector_warning():
    text = SEED.replace("[wecom]\nenabled = true", "[wecom]\nenabled = false")
    plan, findings, diags = compile_text(text, settings=SEED_SETTINGS)
    assert [d.code for d in diags] == ["GW406"]
    assert [l.family for l in plan.lanes] == ["feishu", "telegram"]
    assert_valid_plan(plan)


def test_disabled_account_is_never_run():
    text = SEED + '\n[wecom.accounts.spare]\nenabled = false\nbot_id = { env = "B" }\nsecret = { env = "S" }\n'
    plan, findings, diags = compile_text(text, selectors=["lark=work", "wecom=spare"])
    assert [d.code for d in diags] == ["GW406"]
    assert "runs no wecom lane at all" in diags[0].message
    # As loong (supervisor.rs:94): the selector still selects wecom, whose
    # surface is then not enabled; the default account does not stand in.
    assert plan.lane("wecom") is None
    assert plan.lane("feishu").name == "feishu/work"
    assert_valid_plan(plan)
    # Unselected, wecom runs its (enabled) default account.
    plan2, _, diags2 = compile_text(text, selectors=["lark=work"])
    assert diags2 == () or [d.code for d in diags2] == []
    assert plan2.lane("wecom").name == "wecom/alerts"
    assert plan2.lane("wecom").account_source == "explicit_default"


def test_no_lane_is_gw502():
    plan, findings, diags = compile_text(TELEGRAM.replace("enabled = true", "enabled = false"))
    assert plan is None
    assert _codes(findings) == ["GW502"]
    assert "nothing to run" in findings[0].message and "telegram" in findings[0].message
    plan, findings, _ = compile_text('[slack]\nenabled = true\nbot_token = { env = "SLACK" }\n')
    assert plan is None and _codes(findings) == ["GW502"]
    assert "no gateway-supervised family" in findings[0].message


# ------------------------------------------------------------- secrets


WHATSAPP = """
[whatsapp]
enabled = true
access_token = "env:WA_TOKEN"
verify_token_env = "WA_VERIFY"
app_secret = { file = "/run/secrets/wa" }
phone_number_id = "1234567890"
"""


def test_secret_reference_forms_and_env_names():
    plan, _ = _ok(WHATSAPP)
    lane = plan.lane("whatsapp")
    assert [(s.field, s.kind, s.ref) for s in lane.secrets] == [
        ("access_token", "env", "WA_TOKEN"),
        ("app_secret", "file", "/run/secrets/wa"),
        ("verify_token", "env", "WA_VERIFY"),
    ]
    assert lane.settings["phone_number_id"] == "1234567890"
    assert lane.env == ("WA_TOKEN", "WA_VERIFY")


INLINE = """
[telegram]
enabled = true
bot_token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
allowed_chat_ids = [1]
"""
LITERAL = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def test_inline_secret_is_refused_without_the_flag():
    plan, findings, diags = compile_text(INLINE)
    assert "GW211" in [d.code for d in diags]  # check only warns
    assert plan is None
    assert _codes(findings) == ["GW501"]
    f = findings[0]
    assert f.pointer == "/telegram/bot_token"
    assert LITERAL not in f.message + f.hint


def test_inline_secret_with_the_flag_is_a_pointer_never_the_value():
    plan, findings = _ok(INLINE, allow_inline_secrets=True)
    lane = plan.lane("telegram")
    assert [(s.field, s.kind, s.ref) for s in lane.secrets] == [("bot_token", "inline", "/telegram/bot_token")]
    assert lane.env == ()
    assert LITERAL.encode() not in planfile.dumps(plan)
    assert LITERAL.split(":")[1].encode() not in planfile.dumps(plan)


def test_inherited_inline_secret_points_at_the_family_entry():
    text = """
[telegram]
enabled = true
default_account = "a"
bot_token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
allowed_chat_ids = [1]

[telegram.accounts.a]
require_mention = true
"""
    plan, _ = _ok(text, allow_inline_secrets=True)
    assert plan.lane("telegram").secrets[0].ref == "/telegram/bot_token"


# -------------------------------------------------------------- worker


def _with_gateway(extra: str, base: str = TELEGRAM) -> str:
    return "[gateway]\n" + extra + "\n" + base


def test_worker_template_expands_compile_time_placeholders_only():
    text = _with_gateway(
        'worker.command = ["loong", "channels", "serve", "{family}", "--account", "{account}", '
        '"--session={session}", "--plan", "{plan}", "--state", "{runtime_dir}/x"]'
    )
    plan, _ = _ok(text, mode="gateway_attached_cli", session="ops")
    assert plan.lane("telegram").worker == (
        "loong", "channels", "serve", "telegram", "--account", "default",
        "--session=ops", "--plan", "{plan}", "--state", "{runtime_dir}/x",
    )


def test_default_worker_is_the_builtin_lane_server():
    plan, _ = _ok(TELEGRAM)
    assert plan.lane("telegram").worker == ("{gatewayctl}", "lane", "serve", "--plan", "{plan}", "--lane", "telegram")


@pytest.mark.parametrize(
    "command, index, fragment",
    [
        ('["loong", "serve", "{channel}"]', 2, "unknown placeholder {channel}"),
        ('["loong", "{family"]', 1, "unmatched '{'"),
        ('["loong", "family}"]', 1, "unmatched '}'"),
        ('["x{gatewayctl}"]', 0, "{gatewayctl} must be a whole argv item"),
        ('["loong", "{}"]', 1, "unknown placeholder {}"),
    ],
)
def test_malformed_worker_template_is_gw503(command, index, fragment):
    plan, findings, diags = compile_text(_with_gateway(f"worker.command = {command}"))
    assert plan is None
    assert _codes(findings) == ["GW503"]
    assert findings[0].pointer == f"/gateway/worker/command/{index}"
    assert fragment in findings[0].message


# ------------------------------------------------------- owner settings


@pytest.mark.parametrize(
    "options, config_port, expected",
    [
        ({"port": 4000, "env_port": "5000"}, 6000, (4000, "cli")),
        ({"port": 0, "env_port": "5000"}, 6000, (0, "ephemeral_cli")),
        ({"env_port": " 5000 "}, 6000, (5000, "env")),
        ({"env_port": ""}, 6000, (6000, "config")),
        ({}, None, (26306, "default")),
    ],
)
def test_control_port_precedence(options, config_port, expected):
    text = _with_gateway(f"port = {config_port}" if config_port is not None else "")
    plan, _ = _ok(text, **options)
    assert (plan.control.bind, plan.control.port, plan.control.port_source) == ("127.0.0.1",) + expected


@pytest.mark.parametrize("raw", ["abc", "70000", "-1", "٣٠٠٠", "1e3"])
def test_bad_env_port_is_gw504(raw):
    plan, findings, _ = compile_text(TELEGRAM, env_port=raw)
    assert plan is None and _codes(findings) == ["GW504"]
    assert "GATEWAYCTL_GATEWAY_PORT" in findings[0].message


def test_restart_grace_handler_and_private_hosts_come_from_the_config():
    text = _with_gateway(
        'stop_grace_s = 3\nrestart = { policy = "on-failure", max_restarts = 2, window_s = 10, backoff_initial_s = 0.5, backoff_max_s = 4 }\n'
        'handler = { exec = ["python3", "bot.py"], timeout_s = 5 }\n'
        "[outbound_http]\nallow_private_hosts = true\n"
    )
    plan, _ = _ok(text)
    assert (plan.restart.policy, plan.restart.max_restarts, plan.restart.window_s) == ("on-failure", 2, 10.0)
    assert (plan.restart.backoff_initial_s, plan.restart.backoff_max_s, plan.stop_grace_s) == (0.5, 4.0, 3.0)
    assert (plan.handler.kind, plan.handler.exec, plan.handler.timeout_s) == ("exec", ("python3", "bot.py"), 5.0)
    assert plan.allow_private_hosts is True


def test_defaults_when_gateway_is_silent():
    plan, _ = _ok(TELEGRAM)
    assert plan.restart.policy == "never" and plan.stop_grace_s == 10.0 and plan.handler is None
    assert (plan.mode, plan.session) == ("gateway_headless", None)


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"mode": "multi_channel_serve"}, "needs a non-blank --session"),
        ({"mode": "gateway_attached_cli", "session": "  "}, "needs a non-blank --session"),
        ({"mode": "gateway_headless", "session": "x"}, "session names an attached owner"),
        ({"mode": "daemon"}, "unknown mode"),
        ({"port": 70000}, "not a port number"),
    ],
)
def test_option_problems_are_usage_errors(options, fragment):
    assert fragment in CompileOptions(**options).problem()


# --------------------------------------------------------- determinism


def test_same_inputs_same_bytes_and_no_machine_paths():
    a, _ = _ok(SEED, path="examples/gateway-rollout.toml", settings=SEED_SETTINGS)
    b, _ = _ok(SEED, path="examples/gateway-rollout.toml", settings=SEED_SETTINGS)
    assert planfile.dumps(a) == planfile.dumps(b)
    data = planfile.dumps(a).decode()
    assert str(REPO) not in data and "/home/" not in data and "/tmp" not in data
    # the path is recorded as given, so a different spelling is a different plan
    c, _ = _ok(SEED, path="./examples/gateway-rollout.toml", settings=SEED_SETTINGS)
    assert planfile.digest(c) != planfile.digest(a)


def test_selector_order_does_not_change_the_plan():
    a, _ = _ok(SEED, settings=SEED_SETTINGS, selectors=["lark=work", "telegram=bot_123456", "wecom=alerts"])
    b, _ = _ok(SEED, settings=SEED_SETTINGS, selectors=["wecom=alerts", "telegram=bot_123456", "lark=work"])
    assert planfile.dumps(a) == planfile.dumps(b)


def test_compile_is_pure_it_reads_no_environment(monkeypatch):
    a, _ = _ok(TELEGRAM)
    monkeypatch.setenv("GATEWAYCTL_GATEWAY_PORT", "1234")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:secret-value-here")
    b, _ = _ok(TELEGRAM)
    assert a == b and a.control.port_source == "default"


# ----------------------------------------------- lanes exactly as loong runs them (issue 10, class 5)

_MATRIX = """
[matrix]
enabled = {enabled}
base_url = "https://matrix.example.org"
user_id = "@bot:example.org"
access_token = {{ env = "MATRIX_ACCESS_TOKEN" }}
allowed_room_ids = ["!ops:example.org"]
"""


@pytest.mark.parametrize(
    ("extra", "selectors", "lanes", "codes"),
    [
        # loong's collect_loaded_background_surfaces (supervisor.rs:94): a
        # selector for a family without a table or a disabled family is
        # skipped, and nothing else changes.
        ("", ["telegram=default", "matrix=main"], {("telegram", "default")}, ["GW407"]),
        (_MATRIX.format(enabled="false"), ["telegram=default", "matrix=main"], {("telegram", "default")}, ["GW406"]),
        # An unselected enabled family runs its default (here its only) account.
        (_MATRIX.format(enabled="true"), ["telegram=default"], {("telegram", "default"), ("matrix", "default")}, []),
        # A single-account family runs its one account whatever id is selected.
        (_MATRIX.format(enabled="true").replace("enabled = true", 'enabled = true\naccount_id = "Bridge"'),
         ["matrix=other"], {("telegram", "default"), ("matrix", "bridge")}, ["GW408"]),
    ],
)
def test_plan_has_exactly_the_lanes_loong_runs(extra, selectors, lanes, codes):
    plan, findings, diags = compile_text(TELEGRAM + extra, selectors=selectors)
    assert plan is not None, (findings, diags)
    assert sorted(d.code for d in diags) == codes
    assert {(lane.family, lane.account_id) for lane in plan.lanes} == lanes
    assert_valid_plan(plan)


# ------------------------------------------------- loong's gateway ingress

WHATSAPP_TWO = """
[whatsapp]
enabled = true
default_account = "main"

[whatsapp.accounts.main]
phone_number_id = "111"
webhook_path = "/wa/main"

[whatsapp.accounts.backup]
enabled = false
phone_number_id = "222"
webhook_path = "/wa/backup"
"""


def test_ingress_owned_family_with_several_accounts_is_gw505_in_gateway_modes():
    """loong's gateway run drops the lane of a family its HTTP ingress owns
    (crates/daemon/src/gateway/service.rs:324) and serves every configured
    account through the ingress; the plan keeps its one lane and says so."""
    plan, findings = _ok(WHATSAPP_TWO)
    assert [l.account_id for l in plan.lanes] == ["main"]
    (f,) = [f for f in findings if f.code == "GW505"]
    assert f.pointer == "/whatsapp"
    assert "`backup` (disabled), `main`" in f.message and "account `main`" in f.message
    plan, findings = _ok(WHATSAPP_TWO, mode="gateway_attached_cli", session="ops")
    assert _codes(findings) == ["GW505"]


def test_multi_channel_serve_runs_the_lane_as_loong_does():
    plan, findings = _ok(WHATSAPP_TWO, mode="multi_channel_serve", session="ops")
    assert [l.family for l in plan.lanes] == ["whatsapp"] and "GW505" not in _codes(findings)


def test_no_gw505_when_the_ingress_serves_the_same_one_account_or_does_not_own_the_family():
    one = WHATSAPP_TWO.split("[whatsapp.accounts.backup]")[0]
    assert "GW505" not in _codes(_ok(one)[1])
    # default account disabled: the ingress is off, loong runs the selected lane
    off = WHATSAPP_TWO.replace('default_account = "main"', 'default_account = "backup"')
    plan, findings = _ok(off, selectors=["whatsapp=main"])
    assert [l.account_id for l in plan.lanes] == ["main"] and "GW505" not in _codes(findings)
    # feishu in websocket mode (the seed) is never ingress-owned
    assert "GW505" not in _codes(_ok(SEED, path="examples/gateway-rollout.toml")[1])


def test_feishu_webhook_default_owns_the_family_and_drags_websocket_accounts():
    text = """
[feishu]
enabled = true
default_account = "hook"
allowed_chat_ids = ["oc_1"]
verification_token = { env = "FEISHU_VERIFICATION_TOKEN" }
encrypt_key = { env = "FEISHU_ENCRYPT_KEY" }

[feishu.accounts.hook]
mode = "webhook"
webhook_path = "/feishu/hook"
app_id = { env = "FEISHU_HOOK_APP_ID" }
app_secret = { env = "FEISHU_HOOK_APP_SECRET" }

[feishu.accounts.ws]
mode = "websocket"
webhook_path = "/feishu/ws"
app_id = { env = "FEISHU_WS_APP_ID" }
app_secret = { env = "FEISHU_WS_APP_SECRET" }
"""
    plan, findings = _ok(text, selectors=["feishu=ws"])
    assert [l.account_id for l in plan.lanes] == ["ws"]
    (f,) = [f for f in findings if f.code == "GW505"]
    assert "`hook`, `ws`" in f.message and "account `ws`" in f.message
