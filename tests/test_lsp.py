"""`gatewayctl lsp` driven by a real LSP client (pytest-lsp, on pygls's
client) over the server process's stdio, as an editor drives it: open,
edit, diagnostics appear and clear, a quick fix and a suppression apply and
the diagnostic goes, hover shows the schema's description, completion
offers table keys and configured account ids. Waits are on notifications,
never on time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

pytestmark = pytest.mark.slow

CONFIG = """\
[telegram]
enabled = true
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [123456789]

[feishu]
enabled = true
default_account = "work"
app_id = { env = "FEISHU_APP_ID" }
app_secret = { env = "FEISHU_APP_SECRET" }

[feishu.accounts.work]
allowed_chat_ids = ["oc_ops"]

[feishu.accounts."Lark Prod"]
allowed_chat_ids = ["oc_prod"]
"""


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "gatewayctl", "lsp", "--stdio"]),
)
async def client(lsp_client: LanguageClient, tmp_path):
    await lsp_client.initialize_session(
        lsp.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=tmp_path.as_uri(),
            initialization_options={"debounceMs": 0},
        )
    )
    yield
    await lsp_client.shutdown_session()


def _open(client: LanguageClient, path: Path, text: str, language: str = "toml") -> str:
    path.write_text(text)
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
    return uri


async def _diagnostics(client: LanguageClient, uri: str, version: int) -> list[lsp.Diagnostic]:
    """Wait for the diagnostics of exactly this version of the buffer."""
    while True:
        params = await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        if params.uri == uri and params.version == version:
            return list(params.diagnostics)


def _change(client: LanguageClient, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str):
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                lsp.TextDocumentContentChangePartial(
                    range=lsp.Range(start=lsp.Position(line=start[0], character=start[1]), end=lsp.Position(line=end[0], character=end[1])),
                    text=text,
                )
            ],
        )
    )


def _apply(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.split("\n")
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln) + 1)

    def off(p):  # this test's texts are ASCII: UTF-16 units are characters
        return offsets[p.line] + p.character

    for e in sorted(edits, key=lambda e: off(e.range.start), reverse=True):
        text = text[: off(e.range.start)] + e.new_text + text[off(e.range.end) :]
    return text


@pytest.mark.asyncio
async def test_diagnostics_appear_on_edit_and_clear_on_the_fix(client: LanguageClient, tmp_path):
    uri = _open(client, tmp_path / "config.toml", CONFIG)
    assert await _diagnostics(client, uri, 1) == []

    # type a typo into line 3: bot_token -> bot_tokn
    _change(client, uri, 2, (2, 7), (2, 9), "n")
    text = CONFIG.replace("bot_token =", "bot_tokn =")
    diags = await _diagnostics(client, uri, 2)
    gw101 = [d for d in diags if d.code == "GW101"]
    assert len(gw101) == 1, diags
    d = gw101[0]
    assert d.range == lsp.Range(start=lsp.Position(line=2, character=0), end=lsp.Position(line=2, character=8))
    assert d.severity == lsp.DiagnosticSeverity.Error and d.source == "gatewayctl"
    assert d.code_description.href.endswith("/docs/rules.md#gw101-unknown-key")

    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=d.range,
            context=lsp.CodeActionContext(diagnostics=[d]),
        )
    )
    titles = [a.title for a in actions]
    assert "rename `bot_tokn` to `bot_token` (GW101, unsafe)" in titles, titles
    assert "Suppress GW101 on this line" in titles
    rename = next(a for a in actions if a.title.startswith("rename"))
    (doc_edit,) = rename.edit.document_changes
    assert doc_edit.text_document.version == 2
    fixed = _apply(text, list(doc_edit.edits))
    assert fixed == CONFIG

    # the editor applies it as a full-text change; the diagnostic goes
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=3),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    assert await _diagnostics(client, uri, 3) == []


@pytest.mark.asyncio
async def test_suppress_on_this_line_and_a_safe_fix(client: LanguageClient, tmp_path):
    text = CONFIG.replace('bot_token = { env = "TELEGRAM_BOT_TOKEN" }', 'bot_token = "$TELEGRAM_BOT_TOKEN"')
    uri = _open(client, tmp_path / "config.toml", text)
    (d,) = await _diagnostics(client, uri, 1)
    assert d.code == "GW212" and d.severity == lsp.DiagnosticSeverity.Warning
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), range=d.range, context=lsp.CodeActionContext(diagnostics=[d]))
    )
    fix = next(a for a in actions if "GW212" in a.title and not a.title.startswith("Suppress"))
    assert fix.is_preferred
    assert _apply(text, list(fix.edit.document_changes[0].edits)) == CONFIG
    suppress = next(a for a in actions if a.title == "Suppress GW212 on this line")
    silenced = _apply(text, list(suppress.edit.document_changes[0].edits))
    assert 'bot_token = "$TELEGRAM_BOT_TOKEN"  # gatewayctl: ignore[GW212]\n' in silenced
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=silenced)],
        )
    )
    assert await _diagnostics(client, uri, 2) == []


@pytest.mark.asyncio
async def test_a_burst_of_changes_ends_with_the_latest_text(client: LanguageClient, tmp_path):
    uri = _open(client, tmp_path / "config.yaml", "telegram:\n  enabled: true\n", "yaml")
    await _diagnostics(client, uri, 1)
    for version, key in enumerate(["a", "ab", "abc", "polling_timout_s"], start=2):
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=f"telegram:\n  {key}: 1\n")],
            )
        )
    diags = await _diagnostics(client, uri, 5)
    assert [d.code for d in diags] == ["GW101"] and "polling_timout_s" in diags[0].message


@pytest.mark.asyncio
async def test_hover_and_completion(client: LanguageClient, tmp_path):
    uri = _open(client, tmp_path / "config.toml", CONFIG)
    await _diagnostics(client, uri, 1)
    hover = await client.text_document_hover_async(
        lsp.HoverParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=3, character=3))
    )
    assert hover is not None and "**allowed_chat_ids**" in hover.contents.value
    assert "Telegram" in hover.contents.value or "chat" in hover.contents.value

    # keys of [telegram] not yet written, at the start of a new line in it
    text = CONFIG.replace("allowed_chat_ids = [123456789]\n", "allowed_chat_ids = [123456789]\npol\n", 1)
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    await _diagnostics(client, uri, 2)
    items = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=4, character=3))
    )
    labels = {i.label for i in items.items}
    assert "polling_timeout_s" in labels and "streaming_mode" in labels
    assert "allowed_chat_ids" not in labels and "bot_token" not in labels  # already written

    # account ids inside a channel_accounts selector
    # (a selector list in loong's [gateway], its deprecated place: GW601 warns there)
    text2 = CONFIG + '\n[gateway]\nchannel_accounts = ["lark=work", "feishu=\n'
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=3),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text2)],
        )
    )
    await _diagnostics(client, uri, 3)
    line = text2.split("\n").index('channel_accounts = ["lark=work", "feishu=')
    items = await client.text_document_completion_async(
        lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line=line, character=len('channel_accounts = ["lark=work", "feishu='))
        )
    )
    assert [i.label for i in items.items] == ["lark-prod", "work"]


@pytest.mark.asyncio
async def test_an_inline_secret_moves_to_a_0600_file_through_the_server(client: LanguageClient, tmp_path):
    secret = "Qz7kR2mN8pV4sT6wX9yB3cD5"
    text = CONFIG.replace('bot_token = { env = "TELEGRAM_BOT_TOKEN" }', f'bot_token = "123456789:{secret}"')
    uri = _open(client, tmp_path / "config.toml", text)
    diags = await _diagnostics(client, uri, 1)
    d = next(x for x in diags if x.code == "GW211")
    assert all(secret not in x.message for x in diags)
    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), range=d.range, context=lsp.CodeActionContext(diagnostics=[d]))
    )
    move = next(a for a in actions if isinstance(a, lsp.Command))
    assert "0600" in move.title and secret not in repr(move)
    name, arguments = move.command, move.arguments
    applied = []

    @client.feature(lsp.WORKSPACE_APPLY_EDIT)
    def on_apply(params: lsp.ApplyWorkspaceEditParams):
        applied.append(params.edit)
        return lsp.ApplyWorkspaceEditResult(applied=True)

    await client.workspace_execute_command_async(lsp.ExecuteCommandParams(command=name, arguments=arguments))
    assert applied, "the server asked the editor to apply the edit"
    (edit,) = applied[0].document_changes[0].edits
    assert secret not in edit.new_text
    path = tmp_path / "config.secrets" / "telegram.bot_token"
    assert edit.new_text == f'{{ file = "{path}" }}'
    assert path.read_text() == f"123456789:{secret}\n" and (path.stat().st_mode & 0o777) == 0o600
