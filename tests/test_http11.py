"""The bounded h11 server under the control API and the webhook listeners:
strict parsing, deadlines, the connection cap, rate-limited refusal logs.
A real loopback server on its own event loop thread, raw sockets as
clients (a library client would refuse to send what is tested here)."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from gatewayctl.http11 import Limits, Response, Server
from tests.support import poll


class Running:
    def __init__(self, route=None, **limits):
        self.lines: list[str] = []
        self.release = threading.Event()

        async def default(req):
            if req.path == "/boom":
                raise TypeError("route bug on hostile input")
            if req.path == "/block":
                await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
            return Response(200, b"ok:" + req.body)

        self.loop = asyncio.new_event_loop()
        self.server = Server(route or default, limits=Limits(**limits), name="test", log=self.lines.append)
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start("127.0.0.1", 0))
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(5)
        self.port = self.server.sockets[0].getsockname()[1]

    def stop(self):
        self.release.set()

        async def shut():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


@pytest.mark.parametrize("lengths", [
    [b"+3"], [b"1_0"], [b"3", b"4"], [b"-1"], [b"0x3"], [b" 3 3"],
])
def test_bad_content_lengths_are_refused(lengths):
    head = b"POST /x HTTP/1.1\r\nHost: t\r\n" + b"".join(b"Content-Length: " + v + b"\r\n" for v in lengths)
    with Running() as srv:
        reply = exchange(srv.port, head + b"\r\nabcd")
        assert status_of(reply) == 400, reply
        assert srv.server.stats.bad_requests == 1


def test_a_good_request_and_a_repeated_identical_length_are_served():
    with Running() as srv:
        assert exchange(srv.port, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc").endswith(b"ok:abc")
        # RFC 9110 8.6: identical repeats may be taken as one
        reply = exchange(srv.port, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc")
        assert reply.endswith(b"ok:abc")
        chunked = b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        assert exchange(srv.port, chunked).endswith(b"ok:abc")


def test_oversize_head_and_body_are_refused_without_reading_them():
    with Running(max_head_bytes=1024, max_body_bytes=100) as srv:
        big_head = b"GET /x HTTP/1.1\r\nHost: t\r\nX-Junk: " + b"a" * 4096 + b"\r\n\r\n"
        assert status_of(exchange(srv.port, big_head)) in (400, 431)
        claimed = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n"
        assert status_of(exchange(srv.port, claimed)) == 413
        chunked = b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + b"c8\r\n" + b"a" * 200 + b"\r\n"
        assert status_of(exchange(srv.port, chunked)) == 413


def test_a_dripping_head_is_cut_at_its_total_deadline():
    """One byte every 0.1 s: each read is quick, so only a deadline on the
    whole head (0.5 s here) ends it."""
    with Running(head_timeout_s=0.5) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            stop = threading.Event()

            def drip():
                for ch in b"GET /x HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 100:
                    if stop.wait(0.1):
                        return
                    try:
                        s.sendall(bytes([ch]))
                    except OSError:
                        return

            dripper = threading.Thread(target=drip, daemon=True)
            dripper.start()
            got = s.recv(4096)
            stop.set()
            dripper.join(5)
        assert status_of(got) == 408
        assert poll(lambda: srv.server.stats.timed_out == 1)


def test_a_body_that_never_completes_is_cut_at_its_deadline():
    with Running(body_timeout_s=0.5) as srv:
        reply = exchange(srv.port, b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        assert status_of(reply) == 408


@pytest.mark.slow  # a 1,000-connection flood: a stress test, ~11 s
def test_idle_flood_holds_at_most_the_cap_and_real_requests_get_through():
    cap = 16
    with Running(max_connections=cap) as srv:
        idle = []
        try:
            for _ in range(200):
                idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
            assert poll(lambda: srv.server.stats.accepted == 200)
            # A real client in the middle of the flood is answered.
            for n in range(5):
                assert exchange(srv.port, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").endswith(b"ok:"), n
            stats = srv.server.stats
            assert stats.peak_held <= cap and stats.held <= cap
            assert stats.evicted >= 200 - cap
            # one log line for the whole flood, not one per connection
            assert 1 <= len([ln for ln in srv.lines if "make room" in ln]) <= 2, srv.lines
        finally:
            for s in idle:
                s.close()


def test_when_every_slot_is_busy_a_new_connection_is_refused_and_logged_once():
    with Running(max_connections=2) as srv:
        busy = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(2)]
        try:
            for s in busy:
                s.sendall(b"GET /block HTTP/1.1\r\nHost: t\r\n\r\n")
            assert poll(lambda: srv.server.stats.held == 2 and srv.server.stats.accepted == 2)
            assert poll(lambda: all(c.phase == "handling" for c in srv.server._conns.values()))
            replies = [exchange(srv.port, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n") for _ in range(5)]
            assert all(status_of(r) == 503 for r in replies), replies
            assert srv.server.stats.refused == 5
            assert len([ln for ln in srv.lines if "refused" in ln]) == 1, srv.lines
            srv.release.set()
            assert all(s.recv(4096).startswith(b"HTTP/1.1 200") for s in busy)
        finally:
            for s in busy:
                s.close()


def test_a_route_exception_answers_500_and_is_logged_once(recwarn):
    with Running() as srv:
        for _ in range(3):
            assert status_of(exchange(srv.port, b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n")) == 500
        assert srv.server.stats.route_errors == 3
        assert len([ln for ln in srv.lines if "TypeError" in ln]) == 1
        assert exchange(srv.port, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").endswith(b"ok:")
