"""The loopback control API: /health, /api/gateway/status, /api/gateway/stop, /api/gateway/apply.

Served on 127.0.0.1 only by the bounded h11 server (``gatewayctl.http11``)
on its own event loop in a daemon thread, so the owner's single-threaded
supervision loop never waits on a client. Every endpoint but /health needs
``Authorization: Bearer <token>``, compared in constant time. The handlers
only read state files and write a stop request through the same functions
the CLI uses, so the API and the CLI cannot disagree.

Bounds (docs/gateway.md): at most ``LIMITS.max_connections`` connections
(the oldest idle one is closed to make room), the request head within 5 s,
a body of at most 1 MiB (an apply request's plan) within 5 s, 5 s to take the answer; refusals are
logged at most once a minute. A flood of idle connections therefore holds
a fixed number of descriptors and never "Too many open files".
Imports gatewayctl.http11 and the standard library.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
from typing import Callable

from gatewayctl.http11 import Limits, Request, Response, Server

LOOPBACK = "127.0.0.1"
# A body carries at most an apply request (a plan): 1 MiB bounds it with room.
LIMITS = Limits(max_connections=32, max_head_bytes=16 * 1024, max_body_bytes=1024 * 1024,
                head_timeout_s=5.0, body_timeout_s=5.0, write_timeout_s=5.0, log_every_s=60.0)

log = logging.getLogger("gatewayctl.runtime.control")


class ControlServer:
    def __init__(self, port: int, token: str, status_fn: Callable[[], dict], stop_fn: Callable[[], str], *,
                 apply_fn: Callable[[dict], tuple[int, dict]] | None = None,
                 limits: Limits = LIMITS, log_fn: Callable[[str], None] | None = None):
        self._requested_port = port
        self._route = _make_route(token, status_fn, stop_fn, apply_fn)
        self._limits = limits
        self._log_fn = log_fn or log.warning
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        assert self._port is not None
        return self._port

    @property
    def stats(self):
        """Connection counters of the running server (held, evicted, refused, ...)."""
        assert self._server is not None
        return self._server.stats

    def start(self) -> int:
        """Bind (0 = an ephemeral port) and serve; returns the bound port. Raises OSError."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        async def bind() -> None:
            server = Server(self._route, limits=self._limits, name="control API", log=self._log_fn)
            self._server = await server.start(LOOPBACK, self._requested_port)
            self._port = self._server.sockets[0].getsockname()[1]

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(bind())
            except BaseException as exc:  # noqa: BLE001 - handed to start() and raised there
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="gatewayctl-control", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            self._loop = None
            raise failure[0]
        return self.port

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def close(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = None
        self._thread = None


def _json(code: int, body: dict) -> Response:
    return Response(code, json.dumps(body, sort_keys=True).encode("utf-8"), "application/json",
                    (("Cache-Control", "no-store"),))


def _error(code: int, kind: str, message: str) -> Response:
    return _json(code, {"error": {"code": kind, "message": message}})


def _make_route(token: str, status_fn, stop_fn, apply_fn=None):
    expected = f"Bearer {token}".encode("utf-8")

    def authorized(req: Request) -> bool:
        given = req.headers.get("authorization", "").encode("latin-1", "replace")
        return hmac.compare_digest(given, expected)

    async def route(req: Request) -> Response:
        if req.method == "GET" and req.path == "/health":
            return _json(200, {"status": "ok"})
        if req.method not in ("GET", "POST"):
            return _error(405, "method_not_allowed", f"method {req.method} is not served")
        if not authorized(req):
            return _error(401, "unauthorized", "missing or invalid bearer token (see token_path in gateway status)")
        if req.method == "GET" and req.path == "/api/gateway/status":
            return _json(200, status_fn())
        if req.method == "POST" and req.path == "/api/gateway/stop":
            try:
                outcome = stop_fn()
            except OSError as exc:
                return _error(500, "io_error", f"cannot write the stop request: {exc.strerror or exc}")
            return _json(200 if outcome == "already_stopped" else 202, {"outcome": outcome})
        if req.method == "POST" and req.path == "/api/gateway/apply" and apply_fn is not None:
            try:
                body = json.loads(req.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return _error(400, "bad_request", "the body must be a JSON object {\"plan\": ..., \"ready_timeout_s\": N}")
            if not isinstance(body, dict):
                return _error(400, "bad_request", "the body must be a JSON object {\"plan\": ..., \"ready_timeout_s\": N}")
            code, answer = apply_fn(body)
            return _json(code, answer)
        shown = "".join(c if c.isprintable() else "?" for c in req.path[:200])
        return _error(404, "not_found", f"no such endpoint: {req.method} {shown}")

    return route
