"""The config schema in VS Code's YAML support, for real: the
yaml-language-server (the engine of Red Hat's YAML extension) is driven over
LSP stdio, as the editor does, with the `# yaml-language-server: $schema=`
modeline and with the `yaml.schemas` setting from docs/editors.md. A good
config gets no diagnostics; a misspelled key is reported on its line."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gatewayctl.cli.main import cli

pytestmark = [pytest.mark.tools, pytest.mark.slow]

YLS = shutil.which("yaml-language-server")
if YLS is None:
    pytest.skip(
        "yaml-language-server not installed (npm install -g yaml-language-server): the VS Code YAML engine",
        allow_module_level=True,
    )

DOCS = Path(__file__).resolve().parents[1] / "docs" / "editors.md"

GOOD = """\
telegram:
  enabled: true
  bot_token: {env: TELEGRAM_BOT_TOKEN}
  allowed_chat_ids: [123456789]
"""
BAD = GOOD.replace("bot_token:", "bot_tokn:")


class LanguageServer:
    """A minimal LSP client: JSON-RPC over stdio with Content-Length framing."""

    def __init__(self, root: Path, settings: dict):
        self.root = root
        self.settings = settings
        self.proc = subprocess.Popen(
            [YLS, "--stdio"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.inbox: queue.Queue = queue.Queue()
        self.diagnostics: dict[str, list] = {}
        threading.Thread(target=self._read, daemon=True).start()
        self._next_id = 1
        self.request("initialize", {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "capabilities": {"workspace": {"configuration": True}, "textDocument": {"publishDiagnostics": {}}},
        })
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": {"yaml": settings}})

    def _read(self):
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                key, _, value = line.partition(":")
                headers[key.lower()] = value.strip()
            self.inbox.put(json.loads(out.read(int(headers["content-length"]))))

    def _send(self, msg: dict):
        body = json.dumps(msg).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method, params):
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        self._next_id += 1

    def _answer(self, msg):
        if msg.get("method") == "workspace/configuration":
            items = msg["params"]["items"]
            result = [self.settings if item.get("section") == "yaml" else {} for item in items]
            self._send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
        elif "method" in msg and "id" in msg:  # any other server request
            self._send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        elif msg.get("method") == "textDocument/publishDiagnostics":
            self.diagnostics[msg["params"]["uri"]] = msg["params"]["diagnostics"]

    def open(self, path: Path):
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": path.as_uri(), "languageId": "yaml", "version": 1, "text": path.read_text(encoding="utf-8"),
        }})

    def wait_for(self, predicate, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"language server gave no such answer; diagnostics so far: {self.diagnostics}"
            try:
                self._answer(self.inbox.get(timeout=min(remaining, 1.0)))
            except queue.Empty:
                pass

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def project(tmp_path) -> Path:
    result = CliRunner().invoke(cli, ["schema", "config"])
    assert result.exit_code == 0
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "config.schema.json").write_bytes(result.stdout_bytes)
    return tmp_path


def _check(project: Path, settings: dict, good: Path, bad: Path) -> tuple[list, list]:
    server = LanguageServer(project, settings)
    try:
        # Opened in this order, validated in this order: once bad.yaml's
        # diagnostics are in, good.yaml's final answer is too.
        server.open(good)
        server.open(bad)
        server.wait_for(lambda: any("bot_tokn" in d["message"] for d in server.diagnostics.get(bad.as_uri(), [])))
        server.wait_for(lambda: good.as_uri() in server.diagnostics)
        return server.diagnostics[good.as_uri()], server.diagnostics[bad.as_uri()]
    finally:
        server.close()


def _bad_line(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines) if "bot_tokn" in line)  # LSP lines are 0-based


def test_modeline_as_documented(project):
    (modeline,) = re.findall(r"^# yaml-language-server: \$schema=\S+$", DOCS.read_text(encoding="utf-8"), flags=re.M)
    good = project / "config.yaml"
    bad = project / "deploy" / "channels.yaml"
    good.write_text(modeline + "\n\n" + GOOD, encoding="utf-8")
    bad.parent.mkdir()
    bad.write_text(modeline.replace("./schemas", "../schemas") + "\n\n" + BAD, encoding="utf-8")
    good_diags, bad_diags = _check(project, {"validate": True, "schemaStore": {"enable": False}}, good, bad)
    assert good_diags == []
    (diag,) = [d for d in bad_diags if "bot_tokn" in d["message"]]
    assert diag["range"]["start"]["line"] == _bad_line(bad)
    assert diag["severity"] == 1  # Error


def test_settings_association_as_documented(project):
    (block,) = re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    schemas = json.loads(block)["yaml.schemas"]
    good = project / "config.yaml"
    bad = project / "deploy" / "eu.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad.parent.mkdir()
    bad.write_text(BAD, encoding="utf-8")
    good_diags, bad_diags = _check(
        project, {"validate": True, "schemaStore": {"enable": False}, "schemas": schemas}, good, bad
    )
    assert good_diags == []
    assert any(d["range"]["start"]["line"] == _bad_line(bad) for d in bad_diags if "bot_tokn" in d["message"])
