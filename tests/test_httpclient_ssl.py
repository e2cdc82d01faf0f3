"""One verifying SSL context per lane process (workers/httpclient.py): the
CA bundle is parsed once, not per client, and a lane forked from the lane
template shares the template's; SSL_CERT_FILE still counts."""

from __future__ import annotations

import asyncio
import ssl

import certifi

from gatewayctl.workers import httpclient


def test_clients_share_one_verifying_context_and_a_ca_variable_builds_a_new_one(monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = httpclient.default_ssl_context()
    assert isinstance(first, ssl.SSLContext) and first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert httpclient.default_ssl_context() is first

    async def contexts():
        a, b = httpclient.client(), httpclient.client()
        try:
            return [c._transport._inner._pool._ssl_context for c in (a, b)]
        finally:
            await a.aclose()
            await b.aclose()

    assert all(ctx is first for ctx in asyncio.run(contexts()))
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    other = httpclient.default_ssl_context()
    assert other is not first and other.verify_mode == ssl.CERT_REQUIRED
