"""The fakes' common HTTP server: threaded, loopback, JSON in and out."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class BadRequest(ValueError):
    """A control request the fake cannot act on: answered 400 with the reason."""


class FakeRequest:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes):
        parts = urlsplit(handler.path)
        self.method = handler.command
        self.path = parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.body = body
        self._sock = handler.connection

    def peer_gone(self) -> bool:
        """True when the client closed its end (a killed or stopped process,
        an abandoned long poll): it waits for no answer any more. Nothing
        is read: a pipelined request stays for the server."""
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            return bool(readable) and self._sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def json(self):
        ctype = self.headers.get("content-type", "")
        if not self.body:
            return {}
        if "application/x-www-form-urlencoded" in ctype:
            return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}
        return json.loads(self.body)

    def control_json(self, *required: str) -> dict:
        """The body of a ``/_fake/...`` control request: a JSON object whatever
        the Content-Type (``curl -d`` sends a form type), holding ``required``.
        Anything else raises BadRequest, which the server answers with 400."""
        try:
            body = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise BadRequest(f"the body is not JSON ({exc}); send a JSON object") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        missing = [k for k in required if k not in body]
        if missing:
            raise BadRequest(f"the JSON object lacks {', '.join(repr(k) for k in missing)}")
        return body

    def params(self) -> dict:
        """Telegram style: query string and body merged (body wins)."""
        merged = dict(self.query)
        try:
            body = self.json()
        except ValueError:
            body = {}
        if isinstance(body, dict):
            merged.update(body)
        return merged


MAX_SENT_WAIT_S = 60.0


def sent_listing(fake, req: FakeRequest) -> tuple[int, dict, None]:
    """``GET /_fake/sent[?wait=N[&timeout=S]]``: the replies the fake took, without
    their monotonic stamps. With ``wait``, first wait (at most ``timeout`` s,
    default 10, at most 60) until N were sent, so a shell walkthrough can see
    a reply without a retry loop; on timeout the list is what there is."""
    try:
        want = int(req.query.get("wait", "0") or 0)
        timeout = min(float(req.query.get("timeout", "10") or 10), MAX_SENT_WAIT_S)
    except ValueError:
        raise BadRequest("wait must be an integer and timeout a number of seconds") from None
    if want > 0 and timeout > 0:
        fake.wait_until(lambda: len(fake.sent) >= want, timeout)
    return 200, {"sent": [{k: v for k, v in s.items() if k != "at"} for s in fake.snapshot_sent()]}, None


class Waits:
    """``wait_until`` for a fake whose state changes under ``self.cond``."""

    cond: threading.Condition

    def wait_until(self, predicate, timeout: float = 10.0):
        """Block until predicate() (called under the lock) is truthy; its value, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


OVERLAPS_PATH = "/_fake/overlaps"


class FakeServer(Waits):
    """Subclasses implement ``dispatch(req) -> (status, json_obj, headers)``.

    ``overlaps`` counts concurrent consumers of the one account a fake
    serves (what each family's platform would see as two clients at once:
    a getUpdates finding another in progress, two /sync long polls, two live
    websockets, a second reply to one message); it only grows. ``GET
    /_fake/overlaps`` answers ``{"overlaps": n}``."""

    overlaps = 0

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.cond = threading.Condition()
        self.closing = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are separate writes: without this, Nagle plus
            # the client's delayed ACK adds ~40 ms to every response
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet: tests read state, not logs
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    if self.command == "GET" and urlsplit(self.path).path == OVERLAPS_PATH:
                        status, obj, headers = 200, {"overlaps": fake.overlaps}, None
                    else:
                        status, obj, headers = fake.dispatch(FakeRequest(self, body))
                except BadRequest as exc:
                    status, obj, headers = 400, {"error": str(exc)}, None
                data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
                self.send_response(status)
                ctype = "text/plain" if isinstance(obj, bytes) else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # a client that goes away mid-request (a killed worker) is normal here
                import sys

                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
                    super().handle_error(request, client_address)

        self.httpd = Server((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self):
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        if self._thread is not None:  # shutdown() would wait forever for a loop never started
            self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


    def dispatch(self, req: FakeRequest):  # pragma: no cover - abstract
        raise NotImplementedError
