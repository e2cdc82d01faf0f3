"""A minimal asyncio HTTP/1.1 server for webhook ingress (one request per
connection, Content-Length bodies only, bounded sizes).

Small on purpose: webhook providers send plain POSTs with a Content-Length,
and a lane should not pull in a web framework. Standard library only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

MAX_HEADER = 64 * 1024
MAX_BODY = 1024 * 1024

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[Request], Awaitable[Response]]


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port``; raises ValueError with a reason."""
    bind = bind.strip()
    if bind.startswith("["):
        host, sep, port = bind[1:].partition("]:")
    else:
        host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"webhook_bind {bind!r} is not host:port")
    return host or "127.0.0.1", int(port)


async def serve(bind: str, route: Route) -> asyncio.base_events.Server:
    host, port = parse_bind(bind)

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            response = await _one(reader, route)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            response = Response(400, b"bad request\n")
        if response is not None:
            head = (
                f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode("latin-1")
            try:
                writer.write(head + response.body)
                await writer.drain()
            except ConnectionError:
                pass
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass

    return await asyncio.start_server(on_client, host, port, limit=MAX_HEADER)


async def _one(reader: asyncio.StreamReader, route: Route) -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Response(411, b"length required\n")
    length = int(headers.get("content-length", "0") or 0)
    if length < 0 or length > MAX_BODY:
        return Response(413, b"too large\n")
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    return await route(Request(method.upper(), parts.path, parse_qs(parts.query, keep_blank_values=True), headers, body))
