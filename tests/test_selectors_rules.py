"""Selector rules GW402-GW409 against the config model, on the seed's
worked example (docs: shared spec, "Worked example"), resolved as loong
resolves them (docs/loong-compat.md, "Selectors")."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayctl import catalog
from gatewayctl.diagnostics import CODES
from gatewayctl.selectors import parse_selectors
from gatewayctl.validate.model import build_model
from gatewayctl.validate.rules.selectors import ResolvedSelector, check
from tests.support import examples

SEED = """
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
default_account = "bot_123456"

[telegram.accounts.bot_123456]
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]

[wecom]
enabled = true
default_account = "alerts"

[wecom.accounts.alerts]
bot_id = { env = "WECOM_ALERTS_BOT_ID" }
secret = { env = "WECOM_ALERTS_SECRET" }
allowed_conversation_ids = ["group_alerts"]
"""


def model_of(extra: str = ""):
    return build_model(tomllib.loads(SEED + extra))


def run(*texts: str, extra: str = ""):
    selectors, syntax = parse_selectors([(f"/{i}", t) for i, t in enumerate(texts)])
    assert syntax == (), syntax
    resolved, findings = check(selectors, model_of(extra))
    return selectors, resolved, findings


def one(*texts: str, extra: str = ""):
    selectors, resolved, findings = run(*texts, extra=extra)
    assert len(findings) == 1, findings
    return selectors, resolved, findings[0]


def at(text: str, finding) -> str:
    return text[finding.column_offset : finding.column_offset + finding.length]


# ------------------------------------------------------------ the seed


def test_seed_selectors_resolve_to_three_lanes():
    selectors, resolved, findings = run("lark=work", "telegram=bot_123456", "wecom=alerts")
    assert findings == []
    assert [(r.family.id, r.typed_channel, r.account.id) for r in resolved] == [
        ("feishu", "lark", "work"),
        ("telegram", "telegram", "bot_123456"),
        ("wecom", "wecom", "alerts"),
    ]
    assert all(isinstance(r, ResolvedSelector) for r in resolved)
    assert [r.selector for r in resolved] == list(selectors)


def test_seed_comma_separated_in_one_item_is_the_same():
    _, resolved, findings = run(" lark=work, telegram=bot_123456 ,wecom=alerts")
    assert findings == []
    assert [r.family.id for r in resolved] == ["feishu", "telegram", "wecom"]


def test_seed_same_family_twice_after_aliasing():
    text2 = "feishu=work"
    (first, second), resolved, f = one("lark=work", text2)
    assert f.code == "GW404"
    assert f.pointer == "/1"
    assert at(text2, f) == "feishu"
    assert "`lark` (feishu) in `lark=work`" in f.message and "`feishu=work`" in f.message
    assert "one channel family can only appear once in the selector list" in f.message
    assert [r.selector for r in resolved] == [first]


def test_seed_outbound_only_surface():
    _, resolved, f = one("slack=team")
    assert f.code == "GW403"
    assert at("slack=team", f) == "slack"
    assert "outbound-only" in f.message
    assert "that surface does not belong in this runtime-backed owner model" in f.message
    assert "feishu, telegram, matrix, wecom, whatsapp, qqbot" in f.message
    assert resolved == ()


def test_seed_unknown_account_lists_configured_ids():
    _, resolved, f = one("wecom=oncall")
    assert f.code == "GW405"
    assert at("wecom=oncall", f) == "oncall"
    assert "no account `oncall` in [wecom]; configured accounts: alerts" in f.message
    assert "the account id must exist" in f.hint
    assert resolved == ()


# ------------------------------------------------------------ GW402


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("telgram=bot_123456", "did you mean `telegram`?"),
        ("lrak=work", "did you mean `lark` (an alias of feishu)?"),
        ("wechat_work=alerts", "did you mean `wechat-work` (an alias of wecom)?"),
        ("slak=team", "did you mean `slack`? (it is outbound-only, which the gateway owner does not run)"),
    ],
)
def test_unknown_channel_lists_supervised_ids_and_suggests(text, suggestion):
    _, resolved, f = one(text)
    assert f.code == "GW402"
    assert at(text, f) == text.split("=")[0]
    assert "the gateway supervises feishu, telegram, matrix, wecom, whatsapp, qqbot" in f.message
    assert suggestion in f.message
    assert resolved == ()


def test_unknown_channel_without_a_close_name_has_no_guess():
    _, _, f = one("xyzzy=work")
    assert f.code == "GW402"
    assert "did you mean" not in f.message


# ------------------------------------------------------------ GW403


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("line=main", "native-serve (standalone)"),
        ("http-webhook=main", "native-serve (standalone)"),
        ("weixin=main", "plugin-bridge"),
        ("whatsapp_personal=main", "plugin-bridge"),
        ("zalo=main", "catalog-only"),
        ("slack-bot=team", "outbound-only"),
        ("GChat=team", "outbound-only"),
    ],
)
def test_every_non_supervised_class_is_refused_and_named(text, label):
    _, resolved, f = one(text)
    assert f.code == "GW403"
    assert label in f.message
    assert "does not belong in this runtime-backed owner model" in f.message
    assert f"Remove `{text}`" in f.hint
    assert resolved == ()


def test_alias_is_shown_with_its_family():
    _, _, f = one("slack-bot=team")
    assert f.message.startswith("`slack-bot` (slack) is an outbound-only channel")


# ------------------------------------------------------------ GW404 details


def test_duplicate_is_reported_even_when_the_first_has_its_own_problem():
    _, resolved, findings = run("wecom=oncall", "qywx=alerts")
    assert [f.code for f in findings] == ["GW405", "GW404"]
    assert [f.pointer for f in findings] == ["/0", "/1"]
    assert resolved == ()


def test_identical_selector_twice():
    _, resolved, f = one("lark=work", "lark=work")
    assert f.code == "GW404"
    assert "`lark=work` is given twice" in f.message
    assert len(resolved) == 1


def test_duplicate_across_one_item():
    text = "lark=work, FEISHU=work"
    _, _, f = one(text)
    assert f.code == "GW404"
    assert f.column_offset == text.index("FEISHU")


# ------------------------------------------------------------ GW407


def test_family_without_a_table():
    _, resolved, f = one("matrix=main")
    assert f.code == "GW407"
    assert "no [matrix] table" in f.message
    assert at("matrix=main", f) == "matrix"
    assert "loong treats a missing table as a disabled family and skips the selector" in f.message
    assert CODES["GW407"].severity == "warning"
    (rs,) = resolved
    assert rs.family.id == "matrix" and rs.runs is False


# ------------------------------------------------------------ GW405 details


def test_accounts_compare_after_normalization():
    extra = '\n[matrix]\nenabled = true\n[matrix.accounts."Lark Prod"]\nuser_id = "@a:b"\n'
    _, resolved, findings = run("matrix= lark-PROD ", extra=extra)
    assert findings == []
    assert resolved[0].account.key == "Lark Prod"
    _, resolved, findings = run("matrix=Lark  Prod", extra=extra)
    assert findings == [] and resolved[0].account.id == "lark-prod"


def test_unknown_account_suggests_and_shows_the_normalized_id():
    _, _, f = one("lark=Wrok")
    assert f.code == "GW405"
    assert "no account `Wrok` (normalized: `wrok`) in [feishu]" in f.message
    assert "; did you mean `work`?" in f.message


def test_single_account_shape_accepts_any_account_when_id_is_derived():
    extra = '\n[matrix]\nenabled = true\nuser_id = "@bot:example.org"\n'
    _, resolved, findings = run("matrix=anything", extra=extra)
    assert findings == []
    assert resolved[0].family.id == "matrix" and resolved[0].account is None


def test_single_account_shape_with_known_id():
    extra = '\n[matrix]\nenabled = true\naccount_id = "Bridge Sync"\n'
    _, resolved, findings = run("matrix=bridge-sync", extra=extra)
    assert findings == []
    assert resolved[0].account is not None and resolved[0].account.id == "bridge-sync"
    # loong accepts any account id for a family without an accounts table
    # and runs its one account: a warning that the selector names another id.
    _, resolved, f = one("matrix=other", extra=extra)
    assert f.code == "GW408" and CODES["GW408"].severity == "warning"
    assert "runs its one account, `bridge-sync`" in f.message
    assert "`matrix=bridge-sync`" in f.hint
    assert at("matrix=other", f) == "other"
    assert resolved[0].runs and resolved[0].account.id == "bridge-sync"


# ------------------------------------------------------------ GW406


def test_disabled_family_is_a_warning_and_no_lane():
    extra = '\n[matrix]\nenabled = false\n[matrix.accounts.main]\nuser_id = "@a:b"\n'
    _, resolved, f = one("matrix=main", extra=extra)
    assert f.code == "GW406"
    assert CODES["GW406"].severity == "warning" and f.severity is None
    assert "loong skips it before looking at accounts, so no matrix lane runs" in f.message
    assert at("matrix=main", f) == "matrix"
    assert [(r.family.id, r.runs) for r in resolved] == [("matrix", False)]


def test_disabled_account_is_a_warning_pointing_at_the_account():
    extra = '\n[feishu.accounts.old]\nenabled = false\n'
    text = "lark=old"
    _, resolved, f = one(text, extra=extra)
    assert f.code == "GW406"
    assert at(text, f) == "old"
    assert "account `old` of [feishu]" in f.message
    assert "loong skips it and runs no feishu lane at all" in f.message
    assert [(r.family.id, r.account.id, r.runs) for r in resolved] == [("feishu", "old", False)]


def test_disabled_default_account_means_no_lane_for_the_family():
    extra = '\n[matrix]\nenabled = true\ndefault_account = "main"\n[matrix.accounts.main]\nenabled = false\n'
    _, _, f = one("matrix=main", extra=extra)
    assert f.code == "GW406"
    assert "runs no matrix lane at all" in f.message


def test_disabled_family_is_skipped_before_its_accounts_are_looked_at():
    # supervisor.rs:107 -> sdk.rs:1012: `if !enabled { return Ok(false) }`
    # comes before resolve_account, so an unknown account is no error there.
    extra = '\n[matrix]\nenabled = false\n[matrix.accounts.main]\nuser_id = "@a:b"\n'
    _, _, f = one("matrix=nope", extra=extra)
    assert f.code == "GW406"
    assert "has no account `nope`: enabling the family would make this an error" in f.message


def test_account_id_override_is_not_a_key_for_telegram():
    # resolve_account matches account keys only (channels_account_resolution.rs:305).
    extra = '\n[telegram.accounts.ops]\naccount_id = "Ops Bot"\n'
    _, _, f = one("telegram=ops-bot", extra=extra)
    assert f.code == "GW405"
    assert "is the runtime id (account_id) of [telegram.accounts.ops], but loong selects telegram accounts by key" in f.message
    assert "`telegram=ops`" in f.hint


def test_feishu_matches_a_runtime_id_too():
    # feishu-integration: resolve_requested_feishu_account (feishu/api/runtime.rs:85).
    extra = '\n[feishu.accounts.ops]\naccount_id = "Ops Bot"\n[feishu.accounts.cli]\napp_id = "cli_a1b2"\n'
    _, resolved, findings = run("lark=ops-bot", extra=extra)
    assert findings == [] and resolved[0].account.key == "ops"
    _, resolved, findings = run("feishu=feishu_cli_a1b2", extra=extra)
    assert findings == [] and resolved[0].account.key == "cli"
    # Compared exactly (trimmed, not normalized) with the normalized runtime id.
    _, _, f = one("lark=Ops Bot", extra=extra)
    assert f.code == "GW405"


def test_feishu_runtime_id_shared_by_two_accounts_is_ambiguous():
    extra = '\n[feishu.accounts.a]\naccount_id = "Ops"\n[feishu.accounts.b]\naccount_id = "ops"\n'
    _, _, f = one("lark=ops", extra=extra)
    assert f.code == "GW405" and "several have it as their runtime id (`a`, `b`)" in f.message


# ------------------------------------------------------------ location and safety


def test_findings_point_at_the_selector_source():
    selectors, syntax = parse_selectors([("/gateway/channel_accounts/3", "  lark=work ,  slack=team")])
    _, findings = check(selectors, model_of())
    (f,) = findings
    assert f.pointer == "/gateway/channel_accounts/3"
    assert (f.column_offset, f.length) == (15, 5)


names = st.sampled_from(catalog.all_names() + ("nope", "Lark", "FEISHU", "tele gram"))
accounts = st.sampled_from(("work", "alerts", "bot_123456", "Work", "oncall", "x y", ""))


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.tuples(names, accounts), max_size=6))
def test_any_selector_list_gives_lanes_or_findings_never_an_exception(pairs):
    texts = [f"{c}={a}" for c, a in pairs]
    selectors, _ = parse_selectors([(f"/{i}", t) for i, t in enumerate(texts)])
    resolved, findings = check(selectors, model_of())
    # Each selector is resolved, reported, or both (a warning about a
    # selector loong accepts).
    assert {r.selector.pointer for r in resolved} | {f.pointer for f in findings} == {s.pointer for s in selectors}
    families = [r.family.id for r in resolved]
    assert len(families) == len(set(families))
    assert all(r.family.supervised for r in resolved)
    for f in findings:
        text = texts[int(f.pointer[1:])]
        assert f.code in {"GW402", "GW403", "GW404", "GW405", "GW406", "GW407", "GW408"}
        assert 0 <= f.column_offset and f.column_offset + f.length <= len(text) and f.length > 0


def test_documented_messages_are_the_real_ones(repo_root):
    from gatewayctl.selectors import parse_flag_selectors

    docs = (repo_root / "docs" / "rules.md").read_text(encoding="utf-8")
    extra = '\n[feishu.accounts.old]\nenabled = false\n'
    for text in ("slack=team", "wecom=oncall", "telgram=bot_123456", "matrix=main", "lark=old"):
        _, _, f = one(text, extra=extra)
        assert f.message in docs, f.message
    _, _, f = one("matrix=main", extra='\n[matrix]\nenabled = false\n[matrix.accounts.main]\nuser_id = "@a:b"\n')
    assert f.message in docs, f.message
    _, _, f = one("matrix=other", extra='\n[matrix]\nenabled = true\naccount_id = "Bridge Sync"\n')
    assert f.message in docs, f.message
    _, _, f = one("lark=work", "feishu=work")
    assert f.message in docs
    for text in ("telegrambot123", "=work", "wecom=", "lark!=work"):
        (finding,) = parse_flag_selectors([("/0", text)])[1]
        assert finding.message in docs, finding.message
    for text in ("lark=work,", "lark=work=ops", "lark=Lark\tProd"):
        (finding,) = parse_selectors([("/0", text)])[1]
        assert finding.message in docs, finding.message
    from gatewayctl.validate.rules.selectors import comma_entry

    text = "lark=work, wecom=alerts"
    assert comma_entry("/0", text, parse_selectors([("/0", text)])[0]).message in docs


# ------------------------------------------------------------ through the pipeline


def _validate(config: str, *cli: str):
    from gatewayctl.source import load_document, selector_document
    from gatewayctl.validate import validate

    doc, load_diags = load_document("config.toml", data=config.encode())
    assert load_diags == ()
    validated, diags = validate(doc, cli_selectors=selector_document(list(cli)) if cli else None)
    return doc, validated, diags


def test_command_line_findings_point_at_the_flag_and_column():
    _, validated, diags = _validate(SEED, "lark=work", "telegrambot123", " wecom = oncall", "lark=x,feishu=y")
    got = [(d.code, d.range.start.line, d.range.start.column, d.range.end.column) for d in diags]
    assert got == [
        ("GW401", 2, 1, 15),  # telegrambot123
        ("GW405", 3, 10, 16),  # oncall
        ("GW404", 4, 1, 5),  # lark in `lark=x,feishu=y`: one selector, as loong reads the flag
    ]
    assert [r.family.id for r in validated.selectors] == ["feishu"]


def test_a_comma_in_a_flag_is_part_of_the_account_id():
    _, validated, diags = _validate(SEED, "telegram=bot_123456,wecom=alerts")
    (d,) = diags
    assert d.code == "GW405"
    assert "no account `bot_123456,wecom=alerts` (normalized: `bot_123456-wecom-alerts`)" in d.message
    assert "A comma does not separate selectors" in d.hint
    assert d.hint.endswith("Repeat the flag instead: --channel-account telegram=bot_123456 --channel-account wecom=alerts")
    assert (d.range.start.column, d.range.end.column) == (10, 33)


def test_a_second_equals_sign_is_part_of_the_account_id():
    extra = '\n[matrix]\nenabled = true\n[matrix.accounts."a=b"]\nuser_id = "@a:b"\n'
    _, validated, diags = _validate(SEED + extra, "matrix=a=b")
    assert not [d for d in diags if d.code.startswith("GW4")]  # the config's own findings aside
    assert validated.selectors[0].account.id == "a-b"


def test_config_list_findings_point_inside_the_string():
    config = SEED + '\n[gateway]\nchannel_accounts = [\n  "lark=work",\n  "slack=team, wecom=alerts,",\n]\n'
    doc, validated, diags = _validate(config)
    line = doc.text.splitlines().index('  "slack=team, wecom=alerts,",') + 1
    got = sorted((d.code, d.range.start.line, d.range.start.column, d.range.end.column) for d in diags)
    # `  "` puts the string's first character in column 4. The entry holds
    # commas: read as a list for one deprecation period, with GW409. GW601:
    # the list is in loong's config, its deprecated place.
    key_line = doc.text.splitlines().index("channel_accounts = [") + 1
    assert got == [
        ("GW401", line, 4 + 24, 4 + 25), ("GW403", line, 4, 9), ("GW409", line, 4, 4 + 25), ("GW601", key_line, 1, 17)
    ]
    assert [r.family.id for r in validated.selectors] == ["feishu", "wecom"]
    gw409 = next(d for d in diags if d.code == "GW409")
    assert "loong reads one value as one selector" in gw409.message
    assert "`slack` with account `team, wecom=alerts,`" in gw409.message


def test_a_selected_disabled_account_gives_its_family_no_lane():
    from gatewayctl.compile.compiler import CompileOptions, compile_plan

    config = SEED + '\n[feishu.accounts.old]\nenabled = false\n'
    doc, validated, diags = _validate(config, "lark=old", "wecom=alerts")
    assert [d.code for d in diags] == ["GW406"]
    plan, findings = compile_plan(doc, validated, CompileOptions())
    assert plan is not None, findings
    lanes = {(lane.family, lane.account_id) for lane in plan.lanes}
    # As loong does (supervisor.rs:94): the selector still selects feishu,
    # whose surface is then not enabled, so feishu runs nothing; the
    # default account `work` does not stand in. Unselected telegram runs
    # its default.
    assert lanes == {("wecom", "alerts"), ("telegram", "bot_123456")}


flag_accounts = st.sampled_from(("work", "alerts", "bot_123456", "Work", "oncall", "x y", "a=b", "work,wecom=alerts", "\tz"))


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.tuples(names, flag_accounts), max_size=6))
def test_any_flag_list_resolves_or_reports_never_an_exception(pairs):
    from gatewayctl.selectors import parse_flag_selectors

    texts = [f"{c}={a}" for c, a in pairs]
    selectors, syntax = parse_flag_selectors([(f"/{i}", t) for i, t in enumerate(texts)])
    resolved, findings = check(selectors, model_of(), flags=True)
    assert {r.selector.pointer for r in resolved} | {f.pointer for f in findings} == {s.pointer for s in selectors}
    for f in findings:
        text = texts[int(f.pointer[1:])]
        assert 0 <= f.column_offset and f.column_offset + f.length <= len(text) and f.length > 0
        assert "\n" not in f.message and "\t" not in f.message  # user text is shown escaped
        if "," in text.partition("=")[2] and f.code == "GW405":
            assert "Repeat the flag instead" in f.hint
