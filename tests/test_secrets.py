"""Secret-reference classification, the *_env fallback and env-pointer hygiene."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, strategies as st

from gatewayctl.validate.secrets import (
    DEFAULT_ENV_NAMES,
    SecretInfo,
    classify,
    effective_env_pointer,
    effective_secret,
    env_name_problem,
    example_env_name,
    looks_like_secret,
)

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)
BLANKS = st.text(alphabet=" \t", max_size=3)


# ---------------------------------------------------------------- classify


@pytest.mark.parametrize(
    "value, ref",
    [
        ("$TOKEN", "TOKEN"),
        ("${TOKEN}", "TOKEN"),
        ("env:TOKEN", "TOKEN"),
        ("ENV:TOKEN", "TOKEN"),
        ("Env:_t0k", "_t0k"),
        ("%TOKEN%", "TOKEN"),
        ("  $TOKEN  ", "TOKEN"),
        ("${ TOKEN }", "TOKEN"),
    ],
)
def test_whole_string_env_forms_are_references(value, ref):
    assert classify(value) == SecretInfo("env", ref)


@pytest.mark.parametrize(
    "value",
    [
        "ARK_API_KEY",  # a bare name is a literal, as the spec says
        "prefix-$TOKEN",  # no interpolation inside longer strings
        "$TOKEN suffix",
        "${TOKEN",
        "$1TOKEN",
        "env:",
        "env:MY-TOKEN",
        "%%",
        "%MY TOKEN%",
        "$",
        "sk-live-abcdef",
        "123456:ABCDEF",
    ],
)
def test_other_strings_are_inline_and_carry_no_value(value):
    info = classify(value)
    assert info.kind == "inline"
    assert info.ref is None and info.problem is None
    assert value.strip() not in repr(info)


@pytest.mark.parametrize("value", [None, "", "   ", "\t"])
def test_missing_or_blank_is_absent(value):
    assert classify(value).kind == "absent"
    assert not classify(value).present


@pytest.mark.parametrize(
    "value, kind, ref",
    [
        ({"env": "TOKEN"}, "env", "TOKEN"),
        ({"env": "  TOKEN "}, "env", "TOKEN"),
        ({"env": "my.token-name"}, "env", "my.token-name"),
        ({"file": "/run/secrets/token"}, "file", "/run/secrets/token"),
        ({"exec": ["pass", "show", "tg"]}, "exec", ("pass", "show", "tg")),
    ],
)
def test_reference_tables(value, kind, ref):
    assert classify(value) == SecretInfo(kind, ref)


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"env": "A", "file": "/b"},
        {"vault": "x"},
        {"env": ""},
        {"env": "  "},
        {"env": 3},
        {"file": ""},
        {"exec": []},
        {"exec": [""]},
        {"exec": ["  ", "x"]},
        {"exec": "pass show"},
        {"exec": ["ok", 3]},
        {"env": "TOKEN=abc"},  # hygiene: an assignment is not a name
        {"env": "sk-abcdef"},
        3,
        True,
        ["A"],
    ],
)
def test_malformed_references_are_invalid_with_a_reason(value):
    info = classify(value)
    assert info.kind == "invalid"
    assert info.ref is None
    assert info.problem
    assert info.present  # something was configured: not a "missing credential"


@given(name=NAMES, before=BLANKS, after=BLANKS, form=st.sampled_from(["$", "${}", "env:", "%%"]), data=st.data())
def test_env_reference_recognition_property(name, before, after, form, data):
    if form == "$":
        body = "$" + name
    elif form == "${}":
        body = "${" + name + "}"
    elif form == "env:":
        prefix = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in "env")
        body = prefix + ":" + name
    else:
        body = "%" + name + "%"
    assert classify(before + body + after) == SecretInfo("env", name)


@given(st.text(max_size=60))
def test_any_string_classifies_without_leaking(value):
    info = classify(value)
    assert info.kind in ("env", "inline", "absent")
    if info.kind == "env":
        assert info.ref and all(c in string.ascii_letters + string.digits + "_" for c in info.ref)
    else:
        assert info.ref is None


@given(name=NAMES)
def test_a_bare_name_is_never_an_env_reference(name):
    # "ARK_API_KEY" alone is a literal: only the marked forms are references.
    assert classify(name).kind == "inline"


# ---------------------------------------------------------------- effective_secret


def test_field_wins_over_env_sibling():
    info = effective_secret({"bot_token": {"env": "A"}, "bot_token_env": "B"}, "bot_token")
    assert info == SecretInfo("env", "A", None, "bot_token")


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_env_sibling_used_when_field_absent_or_blank(blank):
    settings = {"bot_token_env": " TG_TOKEN "}
    if blank is not None:
        settings["bot_token"] = blank
    assert effective_secret(settings, "bot_token") == SecretInfo("env", "TG_TOKEN", None, "bot_token_env")


def test_inline_field_reports_field_not_value():
    info = effective_secret({"bot_token": "123:abc"}, "bot_token", family="telegram")
    assert info == SecretInfo("inline", None, None, "bot_token")


def test_bad_env_sibling_is_invalid_but_present():
    info = effective_secret({"bot_token_env": "$TG"}, "bot_token")
    assert info.kind == "invalid" and info.present and info.field == "bot_token_env"
    assert "TG" in info.problem


def test_blank_env_sibling_means_no_reference():
    assert effective_secret({"bot_token_env": " "}, "bot_token").kind == "absent"


def test_ill_typed_sibling_counts_as_configured():
    assert effective_secret({"bot_token_env": 5}, "bot_token").kind == "invalid"


def test_nothing_is_absent():
    assert effective_secret({}, "bot_token", family="telegram") == SecretInfo("absent", None, None, "bot_token")


@pytest.mark.parametrize(
    "field, name",
    [
        ("access_token", "WHATSAPP_ACCESS_TOKEN"),
        ("verify_token", "WHATSAPP_VERIFY_TOKEN"),
        ("app_secret", "WHATSAPP_APP_SECRET"),
    ],
)
def test_whatsapp_default_env_names(field, name):
    assert effective_secret({}, field, family="whatsapp") == SecretInfo("env", name)
    # The default applies only when the sibling key is missing altogether.
    assert effective_secret({f"{field}_env": ""}, field, family="whatsapp").kind == "absent"
    # Matrix has an access_token too, without a default.
    assert effective_secret({}, "access_token", family="matrix").kind == "absent"


def test_plain_env_pointer_default_for_phone_number_id():
    assert effective_env_pointer({}, "phone_number_id", family="whatsapp").ref == "WHATSAPP_PHONE_NUMBER_ID"
    assert effective_env_pointer({"phone_number_id_env": "WA_PHONE"}, "phone_number_id", family="whatsapp").ref == "WA_PHONE"


def test_default_names_are_themselves_clean():
    for name in DEFAULT_ENV_NAMES.values():
        assert env_name_problem(name) is None


# ---------------------------------------------------------------- env pointer hygiene


@pytest.mark.parametrize(
    "value, fragment, suggestion",
    [
        ("OPENAI_KEY=sk-abcdef", "KEY=VALUE", "OPENAI_KEY"),
        ("export OPENAI_KEY=whatever", "KEY=VALUE", "OPENAI_KEY"),
        ("$TELEGRAM_TOKEN", '"$"', "TELEGRAM_TOKEN"),
        ("${TELEGRAM_TOKEN}", '"$"', "TELEGRAM_TOKEN"),
        ("%TELEGRAM_TOKEN%", "%NAME%", "TELEGRAM_TOKEN"),
        ("sk-proj-abc", "looks like a secret", "EXAMPLE_NAME"),
        ("Bearer abc", "looks like a secret", "EXAMPLE_NAME"),
        ("ghp_abc", "looks like a secret", "EXAMPLE_NAME"),
        ("glpat-abc", "looks like a secret", "EXAMPLE_NAME"),
        ("ya29.abc", "looks like a secret", "EXAMPLE_NAME"),
        ("rk-abc", "looks like a secret", "EXAMPLE_NAME"),
        ("pk-abc", "looks like a secret", "EXAMPLE_NAME"),
        ("123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr", "looks like a secret", "EXAMPLE_NAME"),
        ("123e4567-e89b-12d3-a456-426614174000", "looks like a secret", "EXAMPLE_NAME"),
        ("abcdefghijklmnopqrstuvw/x", "looks like a secret", "EXAMPLE_NAME"),
        ("abcdefghijklmnopqrstu+vwx", "looks like a secret", "EXAMPLE_NAME"),
        ("MY TOKEN", "not a valid environment variable name", "EXAMPLE_NAME"),
        ("-TOKEN", "not a valid environment variable name", "EXAMPLE_NAME"),
        ("tök", "not a valid environment variable name", "EXAMPLE_NAME"),
    ],
)
def test_hygiene_problems_suggest_a_fix(value, fragment, suggestion):
    problem = env_name_problem(value, example="EXAMPLE_NAME", inline_field="telegram.bot_token")
    assert problem is not None
    assert fragment in problem
    assert f'"{suggestion}"' in problem


@pytest.mark.parametrize(
    "value",
    [
        "TELEGRAM_BOT_TOKEN",
        "_x",
        "9LIVES",
        "my.token-name",
        "A" * 22 + "-",
        # loong (config/shared.rs:774): a valid variable name is never a
        # pasted secret, however long and however many dashes or dots.
        "A" * 23 + "-",
        "PROD.FEISHU-WORKSPACE.APP-SECRET.V2",
        "  PADDED  ",
        "",
        "   ",
        None,
        42,
    ],
)
def test_good_or_blank_names_pass(value):
    assert env_name_problem(value) is None


@pytest.mark.parametrize(
    "value, secret_part",
    [
        ("API_KEY=S3cr3tValueQQ", "S3cr3tValueQQ"),
        ("sk-S3cr3tValueQQ", "S3cr3tValueQQ"),
        ("123456789:S3cr3tValueQQS3cr3tValueQQS3cr3tVal", "S3cr3tValueQQ"),
        ("S3cr3t/ValueQQ+moreMoreMore", "S3cr3t"),
        ("$sk-S3cr3tValueQQ", "S3cr3tValueQQ"),
        ("%sk-S3cr3tValueQQ%", "S3cr3tValueQQ"),
        ("export sk-S3cr3tValueQQ=x", "S3cr3tValueQQ"),
        ("S3cr3t ValueQQ", "S3cr3t"),
    ],
)
def test_hygiene_messages_never_repeat_the_secret(value, secret_part):
    problem = env_name_problem(value, example="EXAMPLE_NAME")
    assert problem is not None
    assert secret_part not in problem


def test_hygiene_order_follows_loong():
    # An assignment wins over the "$" check, which wins over the shape check.
    assert "KEY=VALUE" in env_name_problem("$A=b")
    assert '"$"' in env_name_problem("$sk-abc")
    assert "%NAME%" in env_name_problem("%sk-abc%")


def test_telegram_token_shape_is_loongs_and_only_for_telegram():
    # crates/app/src/config/shared.rs:812: 6-12 digits, ':', 12+ token characters.
    short = "123456:abcdefghijkl"  # 19 characters: only the Telegram shape catches it
    assert looks_like_secret(short, telegram=True)
    assert not looks_like_secret(short)
    assert not looks_like_secret("12345:abcdefghijkl", telegram=True)  # 5 digits
    assert not looks_like_secret("123456:abcdefghijk", telegram=True)  # 11 characters after ':'
    assert "looks like a secret" in env_name_problem(short, telegram=True)
    assert "not a valid environment variable name" in env_name_problem(short)


def test_looks_like_secret_and_example_names():
    assert looks_like_secret("BEARER abc")
    assert not looks_like_secret("SHORT-NAME.x")
    assert example_env_name("telegram", "bot_token") == "TELEGRAM_BOT_TOKEN"
    assert example_env_name("feishu_work", "app_secret_env") == "FEISHU_WORK_APP_SECRET"
    assert example_env_name("google_chat", None) == "GOOGLE_CHAT"
    assert example_env_name(None, None) == "MY_SECRET"
