"""The protocol side: a pygls server over stdio.

Diagnostics are published on open and after changes. Changes are
debounced with a leading edge: the first change after a quiet period is
linted at once (so a single edit shows its result in milliseconds), and a
burst of keystrokes inside the window costs one more lint at its end, of
the latest text. The window is `initializationOptions.debounceMs` (default
150 ms).

The only pygls/lsprotocol importer.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from gatewayctl import __version__
from gatewayctl.lsp import features

DEFAULT_DEBOUNCE_MS = 150
MOVE_SECRET = "gatewayctl.moveSecretToFile"
_LANG_FORMAT = {"toml": "toml", "yaml": "yaml", "json": "json", "jsonc": "json"}


class GatewayctlServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("gatewayctl", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.debounce = DEFAULT_DEBOUNCE_MS / 1000
        self.pending: dict[str, object] = {}
        self.last_run: dict[str, float] = {}
        self.results: dict[str, tuple[int | None, object]] = {}
        self.last_data: dict[str, object] = {}
        self.formats: dict[str, str | None] = {}
        self.event_loop = None  # the asyncio loop the handlers run on, once known
        self.schemas: dict[str, str] = {}  # uri -> "config" | "settings", from the last load


def uri_path(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    return unquote(parsed.path) or uri


def _units(text: str, encoding) -> int:
    if encoding in (lsp.PositionEncodingKind.Utf32, "utf-32"):
        return len(text)
    if encoding in (lsp.PositionEncodingKind.Utf8, "utf-8"):
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _from_units(line: str, units: int, encoding) -> int:
    """Code-point column of a client column on that line."""
    if encoding in (lsp.PositionEncodingKind.Utf32, "utf-32"):
        return min(units, len(line))
    count = 0
    for i, ch in enumerate(line):
        if count >= units:
            return i
        count += _units(ch, encoding)
    return len(line)


class Converter:
    """Our positions (1-based lines, code-point columns) <-> the client's."""

    def __init__(self, text: str, encoding) -> None:
        self.lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
        self.encoding = encoding

    def position(self, line: int, column: int) -> lsp.Position:
        idx = max(line - 1, 0)
        if idx >= len(self.lines):
            return lsp.Position(line=len(self.lines), character=0)
        text = self.lines[idx]
        return lsp.Position(line=idx, character=_units(text[: max(column - 1, 0)], self.encoding))

    def range(self, rng) -> lsp.Range:
        return lsp.Range(start=self.position(rng.start.line, rng.start.column), end=self.position(rng.end.line, rng.end.column))

    def column(self, pos: lsp.Position) -> int:
        """0-based code-point column of a client position."""
        if pos.line >= len(self.lines):
            return 0
        return _from_units(self.lines[pos.line], pos.character, self.encoding)


def _severity(d) -> lsp.DiagnosticSeverity:
    return lsp.DiagnosticSeverity.Error if d.is_error else lsp.DiagnosticSeverity.Warning


def to_lsp(d, conv: Converter) -> lsp.Diagnostic:
    rng = conv.range(d.range) if d.range else lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0))
    message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    return lsp.Diagnostic(
        range=rng,
        message=message,
        severity=_severity(d),
        code=d.code,
        code_description=lsp.CodeDescription(href=features.rules_link(d.code)),
        source="gatewayctl",
        data={"pointer": d.pointer},
    )


def create_server() -> GatewayctlServer:
    server = GatewayctlServer()

    def encoding(ls):
        return ls.workspace.position_encoding or lsp.PositionEncodingKind.Utf16

    def buffer(ls, uri):
        doc = ls.workspace.get_text_document(uri)
        return doc.source, doc.version

    def run_lint(ls, uri: str):
        text, version = buffer(ls, uri)
        cached = ls.results.get(uri)
        if cached is not None and cached[0] == version and version is not None:
            return cached[1], text
        result = features.lint(uri_path(uri), text, ls.formats.get(uri))
        ls.results[uri] = (version, result)
        if result.doc is not None:
            ls.last_data[uri] = result.doc.data  # the loong config's (account ids)
        if own_doc(result) is not None:
            ls.schemas[uri] = _schema_name(result)
        return result, text

    def publish(ls, uri: str):
        ls.pending.pop(uri, None)
        ls.last_run[uri] = ls.event_loop.time() if ls.event_loop is not None else 0.0
        if uri not in ls.formats:
            return  # closed meanwhile
        result, text = run_lint(ls, uri)
        conv = Converter(text, encoding(ls))
        _, version = buffer(ls, uri)
        diagnostics = [to_lsp(d, conv) for d in features.own(result)]
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    def schedule(ls, uri: str):
        import asyncio

        loop = asyncio.get_running_loop()
        ls.event_loop = loop
        if uri in ls.pending:
            return  # the pending run lints the latest text
        since = loop.time() - ls.last_run.get(uri, float("-inf"))
        delay = 0.0 if since >= ls.debounce else ls.debounce - since
        ls.pending[uri] = loop.call_later(delay, publish, ls, uri)

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: GatewayctlServer, params: lsp.InitializeParams):
        options = params.initialization_options or {}
        if isinstance(options, dict) and isinstance(options.get("debounceMs"), (int, float)) and options["debounceMs"] >= 0:
            ls.debounce = options["debounceMs"] / 1000

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: GatewayctlServer, params: lsp.DidOpenTextDocumentParams):
        uri = params.text_document.uri
        ls.formats[uri] = _LANG_FORMAT.get(params.text_document.language_id) if not _has_suffix(uri) else None
        ls.last_run.pop(uri, None)
        schedule(ls, uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: GatewayctlServer, params: lsp.DidChangeTextDocumentParams):
        schedule(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: GatewayctlServer, params: lsp.DidSaveTextDocumentParams):
        schedule(ls, params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: GatewayctlServer, params: lsp.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        handle = ls.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        for table in (ls.results, ls.last_data, ls.formats, ls.last_run, ls.schemas):
            table.pop(uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix], resolve_provider=False),
    )
    def code_action(ls: GatewayctlServer, params: lsp.CodeActionParams):
        uri = params.text_document.uri
        result, text = run_lint(ls, uri)
        conv = Converter(text, encoding(ls))
        _, version = buffer(ls, uri)
        out = []
        for action in features.actions(uri_path(uri), result, params.range.start.line + 1, params.range.end.line + 1, ls.formats.get(uri)):
            diag = to_lsp(action.diagnostic, conv)
            if action.secret_pointer is not None:
                # A bare Command (valid in this result): a CodeAction that
                # carries a command is read back as a Command by lsprotocol
                # based clients, which then lose the command's name.
                out.append(lsp.Command(title=action.title, command=MOVE_SECRET, arguments=[uri, version, action.secret_pointer]))
                continue
            out.append(
                lsp.CodeAction(
                    title=action.title,
                    kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    is_preferred=action.preferred or None,
                    edit=_workspace_edit(uri, version, own_doc(result), action.edits, conv),
                )
            )
        return out

    @server.command(MOVE_SECRET)
    async def move_secret(ls, *args):
        """Write the secret file (0600) here, where the config lives, then
        ask the editor to replace the value: an editor-created file would
        not get the mode, and the value never travels back to the client.
        Arguments: uri, version, JSON pointer of the secret."""
        if len(args) != 3 or not isinstance(args[0], str) or not isinstance(args[2], str):
            return None
        uri, version, pointer = args
        from gatewayctl.fix import plan_edit, write_secret

        result, text = run_lint(ls, uri)
        _, current = buffer(ls, uri)
        if version is not None and current != version:
            ls.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Warning, message="the file changed; ask for the fix again"))
            return None
        target = next((d for d in features.own(result) if d.code == "GW211" and d.pointer == pointer), None)
        planned = plan_edit(own_doc(result), target, config_path=uri_path(uri)) if target is not None else None
        if planned is None or planned.secret_file is None:
            return None
        try:
            write_secret(planned.secret_file)
        except OSError as exc:
            ls.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Error, message=f"cannot write the secret file: {exc.strerror or exc}"))
            return None
        conv = Converter(text, encoding(ls))
        edit = _workspace_edit(uri, current, own_doc(result), planned.edits, conv)
        await ls.workspace_apply_edit_async(lsp.ApplyWorkspaceEditParams(edit=edit, label="move the secret to a 0600 file"))
        return None

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def hover(ls: GatewayctlServer, params: lsp.HoverParams):
        uri = params.text_document.uri
        result, text = run_lint(ls, uri)
        doc = own_doc(result)
        if doc is None:
            return None
        conv = Converter(text, encoding(ls))
        column = conv.column(params.position)
        offset = doc.lines.offset(params.position.line + 1, column + 1)
        tokens = features.key_at(doc, offset)
        if tokens is None:
            return None
        body = features.hover_text(tokens, _schema_name(result))
        if body is None:
            return None
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=body))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["=", '"', "'"]))
    def completion(ls: GatewayctlServer, params: lsp.CompletionParams):
        uri = params.text_document.uri
        result, text = run_lint(ls, uri)
        doc = own_doc(result)
        fmt = (doc.format if doc is not None else None) or ls.formats.get(uri) or _suffix_format(uri)
        conv = Converter(text, encoding(ls))
        schema = _schema_name(result) if doc is not None else ls.schemas.get(uri, "config")
        items = features.completions(text, fmt, params.position.line, conv.column(params.position), ls.last_data.get(uri), schema)
        return lsp.CompletionList(
            is_incomplete=False,
            items=[
                lsp.CompletionItem(
                    label=c.label,
                    kind=lsp.CompletionItemKind.Property if "key" in c.detail else lsp.CompletionItemKind.Value,
                    detail=c.detail,
                    documentation=c.documentation or None,
                )
                for c in items
            ],
        )

    return server


def own_doc(result):
    from gatewayctl.fix import own_doc as _own

    return _own(result)


def _schema_name(result) -> str:
    return "settings" if getattr(result, "settings_doc", None) is not None else "config"


def _has_suffix(uri: str) -> bool:
    return os.path.splitext(uri_path(uri))[1].lower() in (".toml", ".yaml", ".yml", ".json")


def _suffix_format(uri: str) -> str:
    from gatewayctl.source.loader import format_for

    return format_for(uri_path(uri))


def _workspace_edit(uri, version, doc, edits, conv: Converter) -> lsp.WorkspaceEdit:
    text_edits = []
    for e in edits:
        a, b = doc.lines.position(e.start), doc.lines.position(e.end)
        if e.end > e.start and doc.text[e.end - 1] == "\n":
            # through a line break: end at the start of the next line
            b_pos = lsp.Position(line=b.line - 1 + 1, character=0) if b.column == 1 else conv.position(b.line, b.column)
        else:
            b_pos = conv.position(b.line, b.column)
        text_edits.append(lsp.TextEdit(range=lsp.Range(start=conv.position(a.line, a.column), end=b_pos), new_text=e.new))
    return lsp.WorkspaceEdit(
        document_changes=[
            lsp.TextDocumentEdit(text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=text_edits)
        ]
    )


def serve_stdio() -> None:
    server = create_server()
    server.start_io(sys.stdin.buffer, sys.stdout.buffer)
