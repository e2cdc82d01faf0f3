"""A thin, synchronous client of etcd's v3 JSON gateway (etcd 3.4+), on httpx.

Why our own and not etcd3gw: etcd3gw is built on requests (plus futurist
and pbr), a second HTTP stack in every lane process that imports this
module, and it takes one timeout for the whole client, while fencing needs
every call bounded by its own deadline (a keepalive that answers after its
budget must count as failed). The gateway is a handful of JSON POSTs.

What it guarantees:

- Every call has a deadline (``timeout_s`` of the client, or of the call).
  Connect, send and every wait for bytes are bounded by the time left when
  the request is sent; the body is read in chunks with the deadline checked
  after each; and an answer that completes after the deadline is an error,
  never a result. The limit: a server that trickles its response headers a
  byte at a time can hold one call past its deadline (each read is bounded,
  their sum is not), but what it finally says still counts as a failure.
  Name resolution (getaddrinfo) is not bounded: give endpoints as IPs when
  that matters.
- Endpoints are tried in order, starting from the one that answered last;
  one that fails (refused, timed out, not etcd, or etcd saying it is
  unavailable) hands the rest of the deadline to the next.
- Every failure is one exception type, ``EtcdError``, whose message names
  the endpoint and what went wrong; it never carries a password or token.
  ``unavailable`` says nothing answered in time; ``code`` is etcd's gRPC
  status code when etcd itself refused.
- Answers are untrusted input: size-capped, and every field type-checked.

Imports only the standard library at import time; httpx is imported when
the first request is sent (lane workers import this module).

One client may be shared by threads: httpx's connection pool is
thread-safe, and the remembered endpoint and auth token are plain
assignments (a race costs at most one extra try or one extra login).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # pragma: no cover - typing only
    import httpx

# gRPC status codes etcd answers with (google.golang.org/grpc/codes).
CODE_INVALID_ARGUMENT = 3
CODE_DEADLINE_EXCEEDED = 4
CODE_NOT_FOUND = 5
CODE_FAILED_PRECONDITION = 9
CODE_UNAVAILABLE = 14
CODE_UNAUTHENTICATED = 16

# A fleet view ranges over one prefix (host records, holders, cursors);
# anything larger than this is not ours to hold in memory.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_MESSAGE_CAP = 200

REVOKE_PATH = "/v3/lease/revoke"  # 3.4 serves it and /v3/kv/lease/revoke; 3.5 both too


class EtcdError(Exception):
    """An etcd call that did not succeed; ``message`` says where and why."""

    def __init__(self, message: str, *, code: int | None = None, unavailable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.unavailable = unavailable

    @property
    def lease_not_found(self) -> bool:
        return self.code == CODE_NOT_FOUND and "lease not found" in self.message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int

    def text(self) -> str:
        return self.value.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class RangeResult:
    kvs: tuple[KeyValue, ...]
    revision: int
    count: int
    more: bool


@dataclass(frozen=True, slots=True)
class TxnResponse:
    """One answer inside a txn: ``kind`` is "range", "put" or "delete_range"."""

    kind: str
    range: RangeResult | None = None
    deleted: int = 0


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    responses: tuple[TxnResponse, ...]


@dataclass(frozen=True, slots=True)
class Lease:
    id: int
    ttl_s: int


# ---- request building ------------------------------------------------------


def _bytes(key: str | bytes) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


def _b64(data: str | bytes) -> str:
    return base64.b64encode(_bytes(data)).decode("ascii")


def prefix_range_end(prefix: str | bytes) -> bytes:
    """The ``range_end`` that makes a range cover every key starting with ``prefix``."""
    raw = bytearray(_bytes(prefix))
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return bytes(raw)
        raw.pop()
    return b"\x00"  # empty prefix: every key


_RESULTS = {"==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}


def _compare(key: str | bytes, target: str, field: str, value: Any, op: str) -> dict:
    if op not in _RESULTS:
        raise ValueError(f"compare operator must be one of {sorted(_RESULTS)}, not {op!r}")
    return {"key": _b64(key), "target": target, "result": _RESULTS[op], field: value}


def compare_create(key: str | bytes, revision: int = 0, op: str = "==") -> dict:
    """Compare the key's create revision (0: the key does not exist)."""
    return _compare(key, "CREATE", "create_revision", str(revision), op)


def compare_mod(key: str | bytes, revision: int, op: str = "==") -> dict:
    return _compare(key, "MOD", "mod_revision", str(revision), op)


def compare_version(key: str | bytes, version: int, op: str = "==") -> dict:
    return _compare(key, "VERSION", "version", str(version), op)


def compare_lease(key: str | bytes, lease: int, op: str = "==") -> dict:
    """Compare the lease the key is attached to (a missing key compares as lease 0)."""
    return _compare(key, "LEASE", "lease", str(lease), op)


def compare_value(key: str | bytes, value: str | bytes, op: str = "==") -> dict:
    return _compare(key, "VALUE", "value", _b64(value), op)


def put_op(key: str | bytes, value: str | bytes, lease: int = 0) -> dict:
    body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
    if lease:
        body["lease"] = str(lease)
    return {"request_put": body}


def delete_op(key: str | bytes, *, prefix: bool = False) -> dict:
    body = {"key": _b64(key)}
    if prefix:
        body["range_end"] = _b64(prefix_range_end(key))
    return {"request_delete_range": body}


def range_op(key: str | bytes, *, prefix: bool = False) -> dict:
    body = {"key": _b64(key)}
    if prefix:
        body["range_end"] = _b64(prefix_range_end(key))
    return {"request_range": body}


# ---- answer parsing (untrusted input) ----------------------------------------


class _Malformed(Exception):
    pass


def _int(value: Any, what: str) -> int:
    # The gateway writes int64 as decimal strings and omits zero values.
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _Malformed(f"{what} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) <= 20:
        return int(value)
    raise _Malformed(f"{what} is not an integer")


def _b64decode(value: Any, what: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise _Malformed(f"{what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise _Malformed(f"{what} is not valid base64") from None


def _obj(value: Any, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Malformed(f"{what} is not an object")
    return value


def _revision(answer: dict) -> int:
    return _int(_obj(answer.get("header"), "header").get("revision"), "header.revision")


def _parse_range(answer: dict) -> RangeResult:
    raw_kvs = answer.get("kvs") or []
    if not isinstance(raw_kvs, list):
        raise _Malformed("kvs is not a list")
    kvs = []
    for item in raw_kvs:
        kv = _obj(item, "kvs[]")
        kvs.append(
            KeyValue(
                key=_b64decode(kv.get("key"), "kv.key"),
                value=_b64decode(kv.get("value"), "kv.value"),
                create_revision=_int(kv.get("create_revision"), "kv.create_revision"),
                mod_revision=_int(kv.get("mod_revision"), "kv.mod_revision"),
                version=_int(kv.get("version"), "kv.version"),
                lease=_int(kv.get("lease"), "kv.lease"),
            )
        )
    more = answer.get("more", False)
    if not isinstance(more, bool):
        raise _Malformed("more is not a boolean")
    return RangeResult(
        kvs=tuple(kvs),
        revision=_revision(answer),
        count=_int(answer.get("count"), "count"),
        more=more,
    )


def _parse_txn(answer: dict) -> TxnResult:
    succeeded = answer.get("succeeded", False)
    if not isinstance(succeeded, bool):
        raise _Malformed("succeeded is not a boolean")
    raw = answer.get("responses") or []
    if not isinstance(raw, list):
        raise _Malformed("responses is not a list")
    out = []
    for item in raw:
        resp = _obj(item, "responses[]")
        if "response_range" in resp:
            out.append(TxnResponse("range", range=_parse_range(_obj(resp["response_range"], "response_range"))))
        elif "response_put" in resp:
            out.append(TxnResponse("put"))
        elif "response_delete_range" in resp:
            deleted = _int(_obj(resp["response_delete_range"], "response_delete_range").get("deleted"), "deleted")
            out.append(TxnResponse("delete_range", deleted=deleted))
        else:
            raise _Malformed("a txn response of an unknown kind")
    return TxnResult(succeeded=succeeded, revision=_revision(answer), responses=tuple(out))


def _clean(text: Any) -> str:
    """A server-supplied message made safe for one line of output."""
    s = text if isinstance(text, str) else repr(text)
    s = "".join(ch if ch.isprintable() else "?" for ch in s)
    return s if len(s) <= _MESSAGE_CAP else s[: _MESSAGE_CAP - 1] + "…"


def _check_endpoint(url: Any) -> str:
    if not isinstance(url, str):
        raise EtcdError("an etcd endpoint must be a URL string")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EtcdError(
            f"etcd endpoint {_clean(url)!r} is not an http(s) URL with a host (e.g. http://10.0.0.5:2379)"
        )
    if parts.username is not None or parts.password is not None:
        # Never echo the URL: it carries a credential.
        raise EtcdError("an etcd endpoint URL carries credentials; give them as username/password instead")
    if parts.query or parts.fragment:
        raise EtcdError(f"etcd endpoint {_clean(url)!r} must not have a query or fragment")
    return url.rstrip("/")


class _EndpointFailed(Exception):
    """This endpoint did not answer usefully; try the next one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- the client --------------------------------------------------------------


class EtcdClient:
    """etcd v3 over its JSON gateway. ``timeout_s`` is each call's deadline unless the call gives one."""

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        timeout_s: float,
        username: str | None = None,
        password: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        self.endpoints: tuple[str, ...] = tuple(_check_endpoint(e) for e in endpoints)
        if not self.endpoints:
            raise EtcdError("no etcd endpoints given")
        if not (isinstance(timeout_s, (int, float)) and 0 < timeout_s < float("inf")):
            raise EtcdError(f"etcd call timeout must be a positive number of seconds, not {timeout_s!r}")
        if (username is None) != (password is None):
            raise EtcdError("etcd credentials need both a username and a password")
        self.timeout_s = float(timeout_s)
        self.max_bytes = max_bytes
        self._username = username
        self._password = password
        self._token: str | None = None
        self._transport = transport
        self._http: httpx.Client | None = None
        self._preferred = 0

    @property
    def endpoint(self) -> str:
        """The endpoint tried first: the one that answered last."""
        return self.endpoints[self._preferred]

    # ---- KV ----

    def range(
        self,
        key: str | bytes,
        *,
        prefix: bool = False,
        range_end: str | bytes | None = None,
        limit: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
        timeout_s: float | None = None,
    ) -> RangeResult:
        body: dict[str, Any] = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _b64(prefix_range_end(key))
        elif range_end is not None:
            body["range_end"] = _b64(range_end)
        if limit:
            body["limit"] = str(limit)
        if keys_only:
            body["keys_only"] = True
        if count_only:
            body["count_only"] = True
        return self._call("/v3/kv/range", body, timeout_s, _parse_range)

    def get(self, key: str | bytes, *, timeout_s: float | None = None) -> KeyValue | None:
        found = self.range(key, timeout_s=timeout_s).kvs
        return found[0] if found else None

    def put(self, key: str | bytes, value: str | bytes, *, lease: int = 0, timeout_s: float | None = None) -> int:
        """Write one key; returns the store revision after the write."""
        body = put_op(key, value, lease)["request_put"]
        return self._call("/v3/kv/put", body, timeout_s, _revision)

    def delete(self, key: str | bytes, *, prefix: bool = False, timeout_s: float | None = None) -> int:
        """Delete one key (or every key under a prefix); returns how many went."""
        body = delete_op(key, prefix=prefix)["request_delete_range"]
        return self._call("/v3/kv/deleterange", body, timeout_s, lambda a: _int(a.get("deleted"), "deleted"))

    def txn(
        self,
        compare: Sequence[dict],
        success: Sequence[dict],
        failure: Sequence[dict] = (),
        *,
        timeout_s: float | None = None,
    ) -> TxnResult:
        """If every compare holds, run ``success``, else ``failure``; atomically."""
        body = {"compare": list(compare), "success": list(success), "failure": list(failure)}
        return self._call("/v3/kv/txn", body, timeout_s, _parse_txn)

    # ---- leases ----

    def lease_grant(self, ttl_s: int, *, timeout_s: float | None = None) -> Lease:
        def parse(answer: dict) -> Lease:
            if answer.get("error"):
                raise _Malformed(f"lease grant refused: {_clean(answer['error'])}")
            lease = Lease(_int(answer.get("ID"), "ID"), _int(answer.get("TTL"), "TTL"))
            if lease.id == 0 or lease.ttl_s <= 0:
                raise _Malformed("lease grant answered without a lease")
            return lease

        return self._call("/v3/lease/grant", {"TTL": str(int(ttl_s))}, timeout_s, parse)

    def lease_keepalive(self, lease: int, *, timeout_s: float | None = None) -> int:
        """Renew a lease once; returns the TTL granted (0: the lease is gone)."""

        def parse(answer: dict) -> int:
            # A streaming endpoint: the gateway wraps each message in {"result": ...}.
            result = _obj(answer.get("result"), "result")
            if "ID" in result and _int(result["ID"], "ID") != lease:
                raise _Malformed("keepalive answered for another lease")
            return max(0, _int(result.get("TTL"), "TTL"))

        return self._call("/v3/lease/keepalive", {"ID": str(lease)}, timeout_s, parse)

    def lease_revoke(self, lease: int, *, timeout_s: float | None = None) -> bool:
        """Revoke a lease (its keys vanish at once); False if it was already gone."""
        try:
            self._call(REVOKE_PATH, {"ID": str(lease)}, timeout_s, _revision)
        except EtcdError as exc:
            if exc.lease_not_found:
                return False
            raise
        return True

    def lease_time_to_live(self, lease: int, *, timeout_s: float | None = None) -> int:
        """Seconds the lease has left (-1: it does not exist)."""
        return self._call(
            "/v3/lease/timetolive",
            {"ID": str(lease)},
            timeout_s,
            lambda a: _int(a.get("TTL"), "TTL"),
        )

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> EtcdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transport ----

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            # trust_env=False: no proxy variables and no ~/.netrc (which could
            # add credentials we did not choose) between us and the cluster.
            self._http = httpx.Client(transport=self._transport, trust_env=False, follow_redirects=False)
        return self._http

    def _call(self, path: str, body: dict, timeout_s: float | None, parse) -> Any:
        budget = self.timeout_s if timeout_s is None else float(timeout_s)
        deadline = time.monotonic() + budget
        n = len(self.endpoints)
        failures: list[str] = []
        start = self._preferred
        for i in range(n):
            index = (start + i) % n
            endpoint = self.endpoints[index]
            if time.monotonic() >= deadline:
                failures.append(f"{endpoint}: not tried, the deadline had passed")
                continue
            try:
                answer = self._answer(endpoint, path, body, deadline)
                result = parse(answer)
            except _EndpointFailed as exc:
                failures.append(f"{endpoint}: {exc.reason}")
                # Start the next call from the next endpoint, not from this one.
                if index == self._preferred:
                    self._preferred = (index + 1) % n
                continue
            except _Malformed as exc:
                failures.append(f"{endpoint}: malformed answer to {path} ({exc})")
                if index == self._preferred:
                    self._preferred = (index + 1) % n
                continue
            self._preferred = index
            return result
        raise EtcdError(
            f"etcd did not answer {path} within {budget:g}s: " + "; ".join(failures),
            unavailable=True,
        )

    def _answer(self, endpoint: str, path: str, body: dict, deadline: float) -> dict:
        """etcd's answer from one endpoint; server refusals raise EtcdError, transport trouble _EndpointFailed."""
        if self._username is not None and self._token is None:
            self._authenticate(endpoint, deadline)
        answer = self._post(endpoint, path, body, deadline, token=self._token)
        error = _server_error(answer)
        if error is not None and error[0] == CODE_UNAUTHENTICATED and self._username is not None:
            # Simple tokens expire (5 min by default); authenticate once more.
            self._token = None
            self._authenticate(endpoint, deadline)
            answer = self._post(endpoint, path, body, deadline, token=self._token)
            error = _server_error(answer)
        if error is not None:
            code, message = error
            if code in (CODE_UNAVAILABLE, CODE_DEADLINE_EXCEEDED):
                raise _EndpointFailed(f"etcd is unavailable ({message})")
            hint = ""
            if "user name is empty" in message:
                hint = " (this etcd requires authentication: configure a username and password)"
            elif code == CODE_UNAUTHENTICATED or "permission denied" in message:
                hint = " (check the etcd user's roles and credentials)"
            raise EtcdError(f"etcd at {endpoint} refused {path}: {message}{hint}", code=code)
        return answer

    def _authenticate(self, endpoint: str, deadline: float) -> None:
        answer = self._post(
            endpoint,
            "/v3/auth/authenticate",
            {"name": self._username, "password": self._password},
            deadline,
            token=None,
        )
        error = _server_error(answer)
        if error is not None:
            code, message = error
            if code in (CODE_UNAVAILABLE, CODE_DEADLINE_EXCEEDED):
                raise _EndpointFailed(f"etcd is unavailable ({message})")
            # Never name the password; etcd's own message does not either.
            raise EtcdError(
                f"etcd at {endpoint} refused the configured username/password: {message}",
                code=code,
            )
        token = answer.get("token")
        if not isinstance(token, str) or not token:
            if "token" not in answer and "header" in answer:
                raise EtcdError(
                    f"etcd at {endpoint} gave no auth token: "
                    "authentication is not enabled there, so configure no username/password"
                )
            raise _Malformed("authenticate answered without a token")
        self._token = token

    def _post(self, endpoint: str, path: str, body: dict, deadline: float, *, token: str | None) -> dict:
        import httpx

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _EndpointFailed("the deadline passed before the request was sent")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = token
        content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        chunks: list[bytes] = []
        size = 0
        try:
            with self._client().stream(
                "POST", endpoint + path, content=content, headers=headers, timeout=httpx.Timeout(remaining)
            ) as response:
                status = response.status_code
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise _EndpointFailed(f"answer larger than {self.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise _EndpointFailed("answer still arriving at the deadline")
                    chunks.append(chunk)
        except httpx.TimeoutException:
            raise _EndpointFailed("timed out") from None
        except httpx.HTTPError as exc:
            raise _EndpointFailed(_clean(_transport_reason(exc))) from None
        if time.monotonic() > deadline:
            raise _EndpointFailed("answered after the deadline")
        raw = b"".join(chunks)
        try:
            # The keepalive stream may hold more than one message; the first is ours.
            answer, _end = json.JSONDecoder().raw_decode(raw.decode("utf-8").lstrip())
        except (UnicodeDecodeError, ValueError):
            raise _EndpointFailed(f"not an etcd JSON answer (HTTP {status})") from None
        if not isinstance(answer, dict):
            raise _EndpointFailed(f"not an etcd JSON answer (HTTP {status})")
        if status != 200 and _server_error(answer) is None:
            raise _EndpointFailed(f"HTTP {status} without an etcd error")
        return answer


def _server_error(answer: Mapping) -> tuple[int, str] | None:
    """(gRPC code, message) if the gateway answered an error, else None."""
    err = answer.get("error")
    if isinstance(err, dict):  # the streaming form: {"error": {"grpc_code": .., "message": ..}}
        code = err.get("grpc_code", err.get("code"))
        message = err.get("message", "")
    elif "code" in answer and ("error" in answer or "message" in answer):
        code = answer.get("code")
        message = answer.get("message") or answer.get("error") or ""
    else:
        return None
    if isinstance(code, bool) or not isinstance(code, int):
        code = -1
    return code, _clean(message)


def _transport_reason(exc: Exception) -> str:
    import httpx

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({text})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"not an HTTP answer ({text})"
    return text
