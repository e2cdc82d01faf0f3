from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from gatewayctl import catalog
from gatewayctl.catalog import normalize_account_id as norm
from gatewayctl.diagnostics import pointer_join, pointer_split


def test_catalog_has_the_29_surfaces_and_six_supervised_families():
    assert len(catalog.FAMILIES) == 29
    assert catalog.SUPERVISED_IDS == ("feishu", "telegram", "matrix", "wecom", "whatsapp", "qqbot")
    classes = {f.klass for f in catalog.FAMILIES}
    assert classes == {
        catalog.GATEWAY_SUPERVISED,
        catalog.NATIVE_SERVE,
        catalog.PLUGIN_BRIDGE,
        catalog.OUTBOUND_ONLY,
        catalog.CATALOG_ONLY,
    }


@pytest.mark.parametrize(
    "name, family",
    [("lark", "feishu"), (" LARK ", "feishu"), ("qywx", "wecom"), ("wa", "whatsapp"), ("tencent-qq", "qqbot"),
     ("gchat", "google-chat"), ("google_chat", "google-chat"), ("whatsapp-web", "whatsapp-personal"), ("mm", "mattermost")],
)
def test_aliases_resolve_after_trim_and_lowercase(name, family):
    assert catalog.resolve(name).id == family


def test_unknown_names_do_not_resolve():
    assert catalog.resolve("telegarm") is None
    assert catalog.resolve("") is None


def test_aliases_are_unique_across_families():
    seen = {}
    for fam in catalog.FAMILIES:
        for name in (fam.id, fam.table, *fam.aliases):
            assert seen.setdefault(name, fam.id) == fam.id, name


@pytest.mark.parametrize(
    "raw, expected",
    [("Lark Prod", "lark-prod"), ("work", "work"), ("", "default"), ("   ", "default"), ("--x--", "x"),
     ("a  b", "a-b"), ("Bot_123456", "bot_123456"), ("a/b.c", "a-b-c"), ("é", "default"), ("DEFAULT", "default")],
)
def test_account_id_normalization(raw, expected):
    assert norm(raw) == expected


@given(st.text())
def test_normalization_is_idempotent_and_well_formed(raw):
    n = norm(raw)
    assert norm(n) == n
    assert n and n[0] not in "-_" and n[-1] not in "-_"
    assert all(c.isascii() and (c.isalnum() or c in "-_") for c in n)
    assert n == n.lower()


@given(st.lists(st.one_of(st.text(), st.integers(min_value=0, max_value=99))))
def test_pointer_round_trip(tokens):
    assert pointer_split(pointer_join(*tokens)) == [str(t) for t in tokens]


@given(st.one_of(st.text(), st.from_regex(r"[a-z0-9_\-]{1,12}", fullmatch=True)))
def test_normalization_fast_path_agrees_with_the_full_algorithm(raw):
    from gatewayctl.catalog import _normalize_slow

    assert normalize_account_id_uncached(raw) == _normalize_slow(raw)


def normalize_account_id_uncached(raw):
    return norm.__wrapped__(raw)


# ------------------------------------------- the generated fields table


def test_generated_fields_table_is_current_and_equal_to_the_schema():
    from gatewayctl.catalog import _fields_compiled

    shipped = Path(_fields_compiled.__file__).read_text(encoding="utf-8")
    assert shipped == catalog.fields_module_source(), (
        "src/gatewayctl/catalog/_fields_compiled.py is stale: run python -m gatewayctl.validate.schema --regenerate"
    )
    for fam in catalog.FAMILIES:
        if fam.id in _fields_compiled.FIELDS:
            assert catalog.fields(fam.id) == catalog.fields_from_schema(fam.id), fam.id


def test_stale_fields_table_falls_back_to_the_schema(monkeypatch):
    from gatewayctl.catalog import _fields_compiled

    monkeypatch.setattr(_fields_compiled, "SCHEMA_SHA256", "0" * 64)
    monkeypatch.setattr(_fields_compiled, "FIELDS", {"telegram": (("bot_token", (), False, None, None, None),)})
    catalog.fields.cache_clear()
    try:
        assert catalog.fields("telegram") == catalog.fields_from_schema("telegram")
        assert catalog.fields("telegram")["bot_token"].secret
    finally:
        catalog.fields.cache_clear()
