"""A hostile chat API on loopback, for the hardening tests: each request is
answered by a script the test writes, and the scripts can do what a broken
or malicious server does (endless body, one byte every few seconds, wrong
types, negative retry_after, escape sequences in error text).

Raw sockets and threads, no HTTP library: the point is to send what a
library would refuse to. Everything is generated on the fly.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Seen:
    method: str
    path: str
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            return None


class Reply:
    """What one script step does with the connection."""

    def send(self, sock: socket.socket, server: "HostileServer") -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class Json(Reply):
    def __init__(self, obj, status: int = 200, headers: dict | None = None):
        self.data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.status = status
        self.headers = headers or {}

    def send(self, sock, server):
        extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        sock.sendall(
            f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\nContent-Length: {len(self.data)}\r\n"
            f"{extra}Connection: close\r\n\r\n".encode() + self.data
        )


class Endless(Reply):
    """A 200 with a chunked body that never ends; counts what it got out."""

    def send(self, sock, server):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"[" + b" " * 65535
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while not server.closing:
            sock.sendall(frame)
            server.add_bytes(len(chunk))


class Drip(Reply):
    """Headers, then one byte every ``every_s`` for ever (each read is
    quick, the response never completes)."""

    def __init__(self, every_s: float):
        self.every_s = every_s

    def send(self, sock, server):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
        while not server.closing:
            sock.sendall(b" ")
            server.add_bytes(1)
            server.closing_event.wait(self.every_s)


class HostileServer:
    """``script(seen) -> Reply`` decides each answer; ``seen`` lists every
    request. Connections end when the client goes away or the server stops."""

    def __init__(self, script):
        self.script = script
        self.seen: list[Seen] = []
        self.bytes_out = 0
        self.closing = False
        self.closing_event = threading.Event()
        self.dropped = 0  # connections the client closed while we were sending
        self.lock = threading.Lock()
        hostile = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                sock = self.request
                sock.settimeout(30)
                try:
                    req = _read_request(sock)
                    if req is None:
                        return
                    with hostile.lock:
                        hostile.seen.append(req)
                    hostile.script(req).send(sock, hostile)
                except (ConnectionError, socket.timeout, OSError):
                    with hostile.lock:
                        hostile.dropped += 1

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def add_bytes(self, n: int) -> None:
        with self.lock:
            self.bytes_out += n

    def requests(self, path_part: str = "") -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if path_part in s.path]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.closing = True
        self.closing_event.set()
        self.server.shutdown()
        self.server.server_close()


def _read_request(sock: socket.socket) -> Seen | None:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            return None
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(rest) < length:
        more = sock.recv(65536)
        if not more:
            break
        rest += more
    return Seen(method, target.split("?")[0], rest[:length])
