"""The loopback control API: /health, /api/gateway/status, /api/gateway/stop.

Stdlib ``http.server`` on 127.0.0.1 only, served from a daemon thread. Every
endpoint but /health needs ``Authorization: Bearer <token>``, compared in
constant time. The handlers only read state files and write a stop request
through the same functions the CLI uses, so the API and the CLI cannot
disagree. Standard library only.
"""

from __future__ import annotations

import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

LOOPBACK = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class ControlServer:
    def __init__(self, port: int, token: str, status_fn: Callable[[], dict], stop_fn: Callable[[], str]):
        self._requested_port = port
        self._token = token
        self._status_fn = status_fn
        self._stop_fn = stop_fn
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def start(self) -> int:
        """Bind (0 = an ephemeral port) and serve; returns the bound port. Raises OSError."""
        handler = _make_handler(self._token, self._status_fn, self._stop_fn)
        self._server = _Server((LOOPBACK, self._requested_port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="gatewayctl-control", daemon=True
        )
        self._thread.start()
        return self.port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _make_handler(token: str, status_fn, stop_fn):
    expected = f"Bearer {token}".encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        server_version = "gatewayctl"
        sys_version = ""

        def log_message(self, format, *args):  # noqa: A002 - the lane logs are the place for logs
            return

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body, sort_keys=True).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _error(self, code: int, kind: str, message: str) -> None:
            self._send(code, {"error": {"code": kind, "message": message}})

        def _authorized(self) -> bool:
            given = (self.headers.get("Authorization") or "").encode("utf-8", "replace")
            if hmac.compare_digest(given, expected):
                return True
            self._error(401, "unauthorized", "missing or invalid bearer token (see token_path in gateway status)")
            return False

        def _drain_body(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if 0 < length <= 65536:
                self.rfile.read(length)

        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            elif not self._authorized():
                return
            elif self.path == "/api/gateway/status":
                self._send(200, status_fn())
            else:
                self._error(404, "not_found", f"no such endpoint: GET {self.path}")

        def do_POST(self):  # noqa: N802
            self._drain_body()
            if not self._authorized():
                return
            if self.path == "/api/gateway/stop":
                try:
                    outcome = stop_fn()
                except OSError as exc:
                    self._error(500, "io_error", f"cannot write the stop request: {exc.strerror or exc}")
                    return
                self._send(200 if outcome == "already_stopped" else 202, {"outcome": outcome})
            else:
                self._error(404, "not_found", f"no such endpoint: POST {self.path}")

    return Handler
