"""`gatewayctl lsp`: run the language server over stdio for an editor."""

from __future__ import annotations

import click


@click.command("lsp", context_settings={"help_option_names": ["-h", "--help"]}, epilog="Exit codes: 0 the editor ended the session.")
@click.option("--stdio", is_flag=True, help="Talk LSP over stdin/stdout (the default and only transport; accepted for editors that pass it).")
def lsp(stdio):
    """Serve the Language Server Protocol on stdin/stdout.

    Editors start it themselves (docs/editors.md shows VS Code, Neovim and
    Helix). Diagnostics, quick fixes, suppressions, hover and completion
    come from the same pass as `gatewayctl check` and `gatewayctl fix`.
    """
    from gatewayctl.lsp.server import serve_stdio

    serve_stdio()
