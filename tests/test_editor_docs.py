"""docs/editors.md's language-server snippets are what they say: the Helix
languages.toml and the VS Code settings parse, the extension's package.json
is valid and activates on the languages the server checks, and every
snippet starts `gatewayctl lsp` (which exists: `gatewayctl lsp --help`)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

from gatewayctl.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "editors.md").read_text(encoding="utf-8")
SERVER_PART = DOC.split("## The language server: `gatewayctl lsp`", 1)[1]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", SERVER_PART, flags=re.S)


def test_helix_snippet_parses_and_starts_the_server():
    (block,) = _blocks("toml")
    conf = tomllib.loads(block)
    server = conf["language-server"]["gatewayctl"]
    assert [server["command"], *server["args"]] == ["gatewayctl", "lsp"]
    (language,) = conf["language"]
    assert "gatewayctl" in language["language-servers"] and language["grammar"] == "toml"


def test_vscode_settings_and_extension():
    (settings,) = _blocks("jsonc")  # VS Code's settings.json is JSON with comments; this one has none
    values = json.loads(settings)
    manifest = json.loads((REPO / "editors" / "vscode" / "package.json").read_text())
    declared = manifest["contributes"]["configuration"]["properties"]
    assert set(values) <= set(declared)
    assert manifest["main"] == "./extension.js"
    assert {"onLanguage:toml", "onLanguage:yaml", "onLanguage:json"} <= set(manifest["activationEvents"])
    source = (REPO / "editors" / "vscode" / "extension.js").read_text()
    assert 'args: ["lsp"]' in source and "debounceMs" in source


def test_neovim_snippet_starts_the_server():
    (block,) = _blocks("lua")
    assert 'cmd = { "gatewayctl", "lsp" }' in block


def test_the_command_exists():
    result = CliRunner().invoke(cli, ["lsp", "--help"])
    assert result.exit_code == 0 and "Language Server Protocol" in result.output
