"""The language server's knowledge without the protocol (fast, in-process):
completion in YAML and TOML, hover through accounts, and client position
units for non-ASCII lines. tests/test_lsp.py drives the real server."""

from __future__ import annotations

from lsprotocol import types as lsp

from gatewayctl.lsp import features
from gatewayctl.lsp.server import Converter

YAML = """\
telegram:
  enabled: true
  accounts:
    ops:
      bot_token: {env: OPS}
      pol
gateway:
  channel_accounts:
    - "telegram=
"""


def test_yaml_key_completion_inside_an_account_table():
    items = features.completions(YAML, "yaml", 5, 9, {"telegram": {"accounts": {"ops": {}, "Night Shift": {}}}})
    labels = {c.label for c in items}
    assert "polling_timeout_s" in labels and "allowed_chat_ids" in labels
    assert "bot_token" not in labels  # already written in that table


def test_yaml_selector_completion_offers_normalized_account_ids():
    items = features.completions(YAML, "yaml", 8, len('    - "telegram='), {"telegram": {"accounts": {"ops": {}, "Night Shift": {}}}})
    assert [c.label for c in items] == ["night-shift", "ops"]


def test_no_completion_outside_tables_or_selectors():
    assert features.completions("a = 1\n", "toml", 0, 5, {}) == []
    assert features.completions('x = ["lark=', "toml", 0, 11, {"feishu": {"accounts": {"w": {}}}}) == []


def test_hover_through_an_account_table():
    text = hover_for('[feishu.accounts.work]\ndomain = "lark"\n', 1, 2)
    assert text is not None and "**domain**" in text and "`lark`" in text


def hover_for(text: str, line: int, column: int):
    result = features.lint("c.toml", text)
    offset = result.doc.lines.offset(line + 1, column + 1)
    tokens = features.key_at(result.doc, offset)
    return features.hover_text(tokens) if tokens else None


def test_positions_are_in_the_clients_units():
    conv = Converter('name = "😀é" # x\n', lsp.PositionEncodingKind.Utf16)
    # 1-based code-point column 12 (after the closing quote) is UTF-16 unit 12: the emoji takes two
    assert conv.position(1, 12) == lsp.Position(line=0, character=12)
    assert conv.position(1, 11) == lsp.Position(line=0, character=11)
    assert conv.column(lsp.Position(line=0, character=11)) == 10
    utf32 = Converter('name = "😀é"\n', lsp.PositionEncodingKind.Utf32)
    assert utf32.position(1, 11) == lsp.Position(line=0, character=10)


def test_a_settings_file_gets_the_settings_schema(tmp_path):
    from gatewayctl.fix import own_doc

    (tmp_path / "config.toml").write_text("[telegram]\nenabled = false\n")
    settings = tmp_path / "gatewayctl.toml"
    text = 'loong_config = "config.toml"\nstop_grace_s = 5\n[restart]\n\n'
    settings.write_text(text)
    result = features.lint(str(settings), text)
    doc = own_doc(result)
    tokens = features.key_at(doc, doc.lines.offset(2, 2))
    assert tokens == ("stop_grace_s",)
    hover = features.hover_text(tokens, "settings")
    assert hover and "**stop_grace_s**" in hover
    labels = {c.label for c in features.completions(text, "toml", 3, 0, None, "settings")}
    assert "policy" in labels and "max_restarts" in labels
