"""The etcd JSON-gateway client's error paths, against loopback HTTP servers that misbehave.

The happy paths run against a real etcd in test_fleet_backend.py; here a
server answers garbage, too slowly, too much, or etcd errors, and every one
must come back as an EtcdError with a clear message, within the deadline,
never a traceback of another type and never a credential.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gatewayctl.runtime.fleet import etcd
from gatewayctl.runtime.fleet.etcd import EtcdClient, EtcdError

HEADER = {"header": {"revision": "7"}}


class Loopback:
    """A loopback HTTP server whose every POST is answered by ``respond(handler, path, body)``."""

    def __init__(self, respond) -> None:
        self.respond = respond
        self.requests: list[tuple[str, dict, dict]] = []
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else {}
                outer.requests.append((self.path, body, dict(self.headers)))
                outer.respond(self, self.path, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def send(handler, status: int, payload, *, content_type="application/json") -> None:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@pytest.fixture
def loopback():
    servers: list[Loopback] = []

    def make(respond) -> Loopback:
        server = Loopback(respond)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def refused_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_garbage_answer_is_an_etcd_error_naming_the_endpoint(loopback):
    server = loopback(lambda h, p, b: send(h, 200, b"<html>proxy says hi</html>", content_type="text/html"))
    with EtcdClient([server.endpoint], timeout_s=2) as client:
        with pytest.raises(EtcdError) as info:
            client.range("/k")
    err = info.value
    assert err.unavailable and err.code is None
    assert server.endpoint in err.message and "not an etcd JSON answer (HTTP 200)" in err.message
    assert "Traceback" not in str(err)


def test_wrongly_typed_fields_are_malformed_not_a_crash(loopback):
    answers = iter(
        [
            {"header": {"revision": {"no": 1}}},
            {"header": {"revision": "1"}, "kvs": [{"key": "!!not base64!!"}]},
            {"header": {"revision": "1"}, "kvs": "nope"},
            {"header": {"revision": "1"}, "succeeded": "yes"},
        ]
    )
    server = loopback(lambda h, p, b: send(h, 200, next(answers)))
    with EtcdClient([server.endpoint], timeout_s=2) as client:
        for call, expect in [
            (lambda: client.range("/k"), "header.revision is not an integer"),
            (lambda: client.range("/k"), "kv.key is not valid base64"),
            (lambda: client.range("/k"), "kvs is not a list"),
            (lambda: client.txn([], []), "succeeded is not a boolean"),
        ]:
            with pytest.raises(EtcdError) as info:
                call()
            assert "malformed answer" in info.value.message and expect in info.value.message


def test_a_server_that_never_answers_fails_within_the_deadline(loopback):
    server = loopback(lambda h, p, b: server.release.wait(30))
    with EtcdClient([server.endpoint], timeout_s=0.5) as client:
        start = time.monotonic()
        with pytest.raises(EtcdError) as info:
            client.lease_keepalive(42)
        elapsed = time.monotonic() - start
    assert info.value.unavailable and "timed out" in info.value.message
    assert 0.4 <= elapsed < 1.5


def test_a_listener_that_never_accepts_fails_within_the_deadline():
    # A full accept backlog: connect() itself hangs, like a blackholed host.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
        fillers = []
        try:
            for _ in range(8):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(sock.getsockname())
                fillers.append(filler)
            with EtcdClient([endpoint], timeout_s=0.5) as client:
                start = time.monotonic()
                with pytest.raises(EtcdError) as info:
                    client.range("/k")
                elapsed = time.monotonic() - start
        finally:
            for filler in fillers:
                filler.close()
    assert info.value.unavailable
    assert elapsed < 1.5


def test_an_answer_that_completes_after_the_deadline_is_not_a_result(loopback):
    def drip(h, p, b):
        data = json.dumps({"result": {"ID": "42", "TTL": "10"}}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        for byte in data:
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            if server.release.wait(0.05):
                return

    server = loopback(drip)
    with EtcdClient([server.endpoint], timeout_s=0.5) as client:
        with pytest.raises(EtcdError) as info:
            client.lease_keepalive(42)
    assert info.value.unavailable
    assert "deadline" in info.value.message or "timed out" in info.value.message


def test_an_oversized_answer_is_refused(loopback):
    server = loopback(lambda h, p, b: send(h, 200, {"header": {"revision": "1"}, "pad": "x" * 5000}))
    with EtcdClient([server.endpoint], timeout_s=2, max_bytes=1000) as client:
        with pytest.raises(EtcdError) as info:
            client.range("/k")
    assert "answer larger than 1000 bytes" in info.value.message


def test_etcd_refusals_keep_their_code_and_a_clean_message(loopback):
    server = loopback(
        lambda h, p, b: send(
            h, 404, {"error": "etcdserver: requested lease not found\x1b[31m", "message": "etcdserver: requested lease not found\x1b[31m", "code": 5}
        )
    )
    with EtcdClient([server.endpoint], timeout_s=2) as client:
        with pytest.raises(EtcdError) as info:
            client.put("/k", "v", lease=99)
        assert client.lease_revoke(99) is False  # already gone is not an error for revoke
    err = info.value
    assert err.code == 5 and err.lease_not_found and not err.unavailable
    assert "\x1b" not in err.message and "requested lease not found?[31m" in err.message
    assert f"etcd at {server.endpoint} refused /v3/kv/put" in err.message


def test_the_next_endpoint_answers_and_is_remembered(loopback):
    down = threading.Event()

    def good_until_down(h, p, b):
        if down.is_set():  # (a closed server would still answer on the kept-alive connection)
            send(h, 502, b"Bad Gateway", content_type="text/plain")
        else:
            send(h, 200, {"header": {"revision": "3"}, "kvs": []})

    good = loopback(good_until_down)
    bad = loopback(lambda h, p, b: send(h, 503, {"code": 14, "message": "etcdserver: no leader"}))
    refused = refused_endpoint()
    with EtcdClient([refused, bad.endpoint, good.endpoint], timeout_s=2) as client:
        assert client.range("/k").revision == 3
        assert client.endpoint == good.endpoint
        bad_calls = len(bad.requests)
        assert client.range("/k").revision == 3
        assert len(bad.requests) == bad_calls  # started at the remembered one
        down.set()
        with pytest.raises(EtcdError) as info:
            client.range("/k")
    msg = info.value.message
    assert info.value.unavailable
    assert "etcd is unavailable (etcdserver: no leader)" in msg and "cannot connect" in msg
    assert "not an etcd JSON answer (HTTP 502)" in msg


def test_requests_carry_base64_keys_and_string_lease_ids(loopback):
    server = loopback(lambda h, p, b: send(h, 200, HEADER))
    with EtcdClient([server.endpoint], timeout_s=2) as client:
        assert client.put("/a/ключ", b"\x00\xff", lease=7) == 7
        client.range("/a/", prefix=True)
    (path, put, _), (_, rng, _) = server.requests
    assert path == "/v3/kv/put"
    assert base64.b64decode(put["key"]).decode() == "/a/ключ"
    assert base64.b64decode(put["value"]) == b"\x00\xff" and put["lease"] == "7"
    assert base64.b64decode(rng["range_end"]) == b"/a0"


def test_auth_token_is_sent_and_renewed_once_when_etcd_says_it_expired(loopback):
    state = {"auth": 0, "rejected": False}

    def respond(h, path, body):
        if path == "/v3/auth/authenticate":
            state["auth"] += 1
            send(h, 200, {**HEADER, "token": f"tok{state['auth']}"})
        elif h.headers.get("Authorization") == "tok1" and not state["rejected"]:
            state["rejected"] = True
            send(h, 401, {"code": 16, "message": "etcdserver: invalid auth token"})
        else:
            send(h, 200, HEADER)

    server = loopback(respond)
    with EtcdClient([server.endpoint], timeout_s=2, username="gw", password="s3cret-pw") as client:
        client.put("/k", "v")
        client.put("/k", "v")
    assert state["auth"] == 2
    paths = [(p, h.get("Authorization")) for p, _, h in server.requests]
    assert paths == [
        ("/v3/auth/authenticate", None),
        ("/v3/kv/put", "tok1"),
        ("/v3/auth/authenticate", None),
        ("/v3/kv/put", "tok2"),
        ("/v3/kv/put", "tok2"),
    ]


def test_a_refused_password_is_never_in_the_message(loopback):
    server = loopback(
        lambda h, p, b: send(h, 400, {"code": 3, "message": "etcdserver: authentication failed, invalid user ID or password"})
    )
    with EtcdClient([server.endpoint], timeout_s=2, username="gw", password="s3cret-pw") as client:
        with pytest.raises(EtcdError) as info:
            client.range("/k")
    assert "refused the configured username/password" in info.value.message
    assert "s3cret-pw" not in info.value.message and "s3cret-pw" not in repr(info.value)


@pytest.mark.parametrize(
    ("endpoints", "expect"),
    [
        (["http://gw:s3cret-pw@127.0.0.1:2379"], "carries credentials"),
        (["ftp://127.0.0.1:2379"], "is not an http(s) URL"),
        ([], "no etcd endpoints given"),
    ],
)
def test_bad_endpoints_are_refused_without_echoing_secrets(endpoints, expect):
    with pytest.raises(EtcdError) as info:
        EtcdClient(endpoints, timeout_s=1)
    assert expect in info.value.message and "s3cret" not in info.value.message


def test_keepalive_of_a_gone_lease_reads_as_ttl_zero(loopback):
    server = loopback(lambda h, p, b: send(h, 200, {"result": {**HEADER, "ID": "42"}}))
    with EtcdClient([server.endpoint], timeout_s=2) as client:
        assert client.lease_keepalive(42) == 0


def test_prefix_range_end():
    assert etcd.prefix_range_end("/a/") == b"/a0"
    assert etcd.prefix_range_end(b"a\xff") == b"b"
    assert etcd.prefix_range_end(b"\xff\xff") == b"\x00"


def test_importing_the_client_does_not_import_httpx_or_the_owner():
    code = (
        "import sys, gatewayctl.runtime.fleet.etcd\n"
        "bad = [m for m in ('httpx', 'gatewayctl.runtime.owner', 'asyncio') if m in sys.modules]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
