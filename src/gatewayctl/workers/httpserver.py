"""Webhook ingress for the lanes (WhatsApp, Feishu webhook mode): the
bounded h11 server of ``gatewayctl.http11`` with the webhook limits.

Limits (docs/workers.md): 128 connections, a 64 KiB request head within
10 s of connecting, a 1 MiB body within 30 s of the head, 10 s to take the
response; one request per connection. Imports gatewayctl.http11 and the
standard library.
"""

from __future__ import annotations

import logging
from typing import Callable

from gatewayctl.http11 import Limits, Request, Response, Route, Server, parse_bind

__all__ = ["LIMITS", "MAX_BODY", "Request", "Response", "Route", "Server", "parse_bind", "serve"]

LIMITS = Limits()
MAX_BODY = LIMITS.max_body_bytes

log = logging.getLogger("gatewayctl.workers.webhook")


async def serve(bind: str, route: Route, *, limits: Limits | None = None, name: str = "webhook",
                log_fn: Callable[[str], None] | None = None) -> Server:
    """Listen on ``bind`` (``host:port``) and answer each request with
    ``route``; raises OSError when the address cannot be bound."""
    host, port = parse_bind(bind)
    server = Server(route, limits=limits or LIMITS, name=name, log=log_fn or log.warning)
    return await server.start(host, port)
