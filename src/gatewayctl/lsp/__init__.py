"""The language server (`gatewayctl lsp`): the checks of CI while typing.

Owns the LSP front end: diagnostics with their code and a link to the code's
section of docs/rules.md, quick fixes (the fixes of `gatewayctl fix`, with
the same re-check) and "suppress on this line" code actions, hover from the
config schema's descriptions, and completion of table keys and of account
ids inside `channel_accounts` selectors.

features.py knows what to say (protocol-free, testable in-process);
server.py speaks LSP over stdio with pygls, the only importer of pygls and
lsprotocol. Lints through the pipeline's one pass and fixes through the fix
package; never imports validate, selectors, compile, runtime or workers.
"""
