"""The lanes' HTTP client: httpx with a total deadline and a size cap on
every request.

httpx's timeouts bound each network operation (connect, one read, one
write), not the request: a server that drips one byte every few seconds,
or streams an endless body, keeps a request going forever and the body
growing until the process is killed. ``BoundedTransport`` wraps the real
transport and gives each request:

- a total deadline, from sending to the last byte of the body: the
  largest of the request's httpx timeouts (so ``client.post(url,
  timeout=30)`` takes at most 30 s in all, and a long poll with ``timeout =
  poll + 15`` at most that), ``DEFAULT_DEADLINE_S`` when it has none;
- a cap on the response body, ``MAX_RESPONSE_BYTES`` unless the client
  says otherwise; the body is counted as it arrives, never buffered past
  the cap.

Both failures are ``httpx.TransportError`` subclasses, so every lane's
existing "network error: back off and retry" path handles them; their
text says what happened (``describe``). Imports httpx and the standard
library.
"""

from __future__ import annotations

import asyncio
import os

import httpx

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
DEFAULT_DEADLINE_S = 60.0


class DeadlineExceeded(httpx.TimeoutException):
    """The whole request (headers and body) took longer than its deadline."""


class ResponseTooLarge(httpx.TransportError):
    """The response body grew past the cap."""


def describe(exc: BaseException) -> str:
    """Short, secret-free text for a failed request (never the URL: a
    Telegram URL carries the bot token)."""
    if isinstance(exc, (DeadlineExceeded, ResponseTooLarge)):
        return str(exc)
    return type(exc).__name__


def _deadline_of(request: httpx.Request, default: float) -> float:
    timeouts = request.extensions.get("timeout") or {}
    values = [v for v in timeouts.values() if isinstance(v, (int, float)) and v > 0]
    return max(values) if values else default


class _BoundedStream(httpx.AsyncByteStream):
    def __init__(self, inner, deadline: float, seconds: float, max_bytes: int):
        self._inner = inner
        self._deadline = deadline
        self._seconds = seconds
        self._max = max_bytes
        self._seen = 0

    async def __aiter__(self):
        it = self._inner.__aiter__()
        while True:
            try:
                async with asyncio.timeout_at(self._deadline):
                    chunk = await it.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise DeadlineExceeded(f"no complete answer within {self._seconds:g} s") from None
            self._seen += len(chunk)
            if self._seen > self._max:
                raise ResponseTooLarge(f"answer over the {self._max}-byte limit")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class BoundedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport | None = None, *, max_bytes: int = MAX_RESPONSE_BYTES,
                 default_deadline_s: float = DEFAULT_DEADLINE_S):
        self._inner = inner or httpx.AsyncHTTPTransport()
        self._max = max_bytes
        self._default = default_deadline_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        seconds = _deadline_of(request, self._default)
        deadline = asyncio.get_running_loop().time() + seconds
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._inner.handle_async_request(request)
        except TimeoutError:
            raise DeadlineExceeded(f"no answer within {seconds:g} s", request=request) from None
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self._max:
            await response.aclose()
            raise ResponseTooLarge(f"answer of {length} bytes is over the {self._max}-byte limit", request=request)
        response.stream = _BoundedStream(response.stream, deadline, seconds, self._max)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


_ssl_context = None
_ssl_context_key = None


def default_ssl_context():
    """The verifying SSL context every client of this process shares.

    httpx builds one per client (the CA bundle parsed again each time, a
    megabyte or two); one per process is enough, and a lane forked from
    the lane template (runtime/template.py) shares the template's. Built
    as httpx builds it, so SSL_CERT_FILE and SSL_CERT_DIR still count; a
    change of either builds it again."""
    global _ssl_context, _ssl_context_key
    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    if _ssl_context is None or key != _ssl_context_key:
        _ssl_context, _ssl_context_key = httpx.create_ssl_context(), key
    return _ssl_context


def client(*, max_bytes: int = MAX_RESPONSE_BYTES, **kwargs) -> httpx.AsyncClient:
    """An httpx.AsyncClient whose every request is bounded (see module doc).

    Built as httpx builds it (so ``HTTPS_PROXY``, ``NO_PROXY`` and the CA
    variables keep working: passing ``transport=`` would switch the
    environment's proxies off), then each of its transports, the default
    one and every proxy mount, is wrapped."""
    kwargs.setdefault("verify", default_ssl_context())
    c = httpx.AsyncClient(**kwargs)
    inner, mounts = getattr(c, "_transport", None), getattr(c, "_mounts", None)
    if not isinstance(inner, httpx.AsyncBaseTransport) or not isinstance(mounts, dict):
        # An httpx whose internals moved: bounded, without environment proxies.
        return httpx.AsyncClient(transport=BoundedTransport(max_bytes=max_bytes), **kwargs)
    c._transport = BoundedTransport(inner, max_bytes=max_bytes)
    for pattern, transport in list(mounts.items()):
        if transport is not None:
            mounts[pattern] = BoundedTransport(transport, max_bytes=max_bytes)
    return c
