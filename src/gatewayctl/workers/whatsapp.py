"""WhatsApp Cloud API lane: inbound webhook -> handler -> POST /messages.

The lane serves its ``webhook_path`` on its ``webhook_bind``. GET answers
Meta's verification handshake (hub.mode / hub.verify_token / hub.challenge).
POST is authenticated before it is parsed: X-Hub-Signature-256 must be the
HMAC-SHA256 of the raw body under ``app_secret``, compared in constant
time. Messages for another phone_number_id are ignored; a message id seen
before is answered once (the seen ids are persisted with the cursor). A
delivery is acknowledged with 200 only after its messages are handled, so a
lane that dies mid-turn gets the delivery again instead of losing it.

The Cloud API has no allowlist fields in the config model: the signature
and the phone_number_id are the gate.

Imports httpx, the standard library and sibling worker modules.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import OrderedDict

import httpx

from gatewayctl.workers import httpclient
from gatewayctl.compile.plan import DEFAULT_WEBHOOK_BIND
from gatewayctl.workers.cursor import Cursor
from gatewayctl.workers.base import (
    SHAPE_ERRORS,
    Backoff,
    Inbound,
    LaneContext,
    LaneFailure,
    SendError,
    Stopped,
    handle_inbound,
    kind_of,
    printable,
    server_delay,
    split_text,
)
from gatewayctl.workers.httpserver import Request, Response, parse_bind, serve
from gatewayctl.workers.secrets import describe

log = logging.getLogger("gatewayctl.workers.whatsapp")

MAX_TEXT = 4096
DEFAULT_API = "https://graph.facebook.com/v25.0"
_SEEN_KEEP = 2048
_RATE_CODES = {4, 80007, 130429, 131048, 131056}


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = signature(app_secret, body).encode("ascii")
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


class WhatsAppLane:
    def __init__(self, ctx: LaneContext, client: httpx.AsyncClient | None = None):
        self.ctx = ctx
        lane = ctx.lane
        self.access_token = ctx.secrets.require("access_token", lane)
        self.verify_token = ctx.secrets.require("verify_token", lane)
        self.app_secret = ctx.secrets.require("app_secret", lane)
        pnid = ctx.setting("phone_number_id") or ctx.secrets.get("phone_number_id")
        if not pnid:
            raise LaneFailure(f"{lane.name}: whatsapp needs phone_number_id (setting or phone_number_id_env)")
        self.phone_number_id = str(pnid)
        self.api = str(ctx.setting("api_base_url") or DEFAULT_API).rstrip("/")
        self.bind = str(ctx.setting("webhook_bind") or DEFAULT_WEBHOOK_BIND)
        self.path = str(ctx.setting("webhook_path") or "/webhook")
        try:
            parse_bind(self.bind)
        except ValueError as exc:
            raise LaneFailure(f"{lane.name}: {exc}") from None
        self.client = client
        self.cursor = Cursor(ctx)
        self.server: asyncio.base_events.Server | None = None
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.in_flight: set[str] = set()
        self.fatal: LaneFailure | None = None
        self._fatal_event = asyncio.Event()

    def _remember(self, message_id: str) -> None:
        self.seen[message_id] = None
        while len(self.seen) > _SEEN_KEEP:
            self.seen.popitem(last=False)
        self.cursor.save({"seen": list(self.seen)})

    async def run(self) -> None:
        own = self.client is None
        if own:
            self.client = httpclient.client()
        state = self.cursor.load()
        for mid in state.get("seen") or ():
            if isinstance(mid, str):
                self.seen[mid] = None
        try:
            try:
                self.server = await serve(self.bind, self.route)
            except OSError as exc:
                raise LaneFailure(
                    f"{self.ctx.lane.name}: cannot listen on webhook_bind {self.bind} ({exc.strerror or exc})"
                ) from None
            sock = self.server.sockets[0].getsockname()
            self.ctx.status.data["webhook_url"] = f"http://{_host(sock[0])}:{sock[1]}{self.path}"
            self.ctx.status.connected(True)
            stop = asyncio.ensure_future(self.ctx.stop.wait())
            fatal = asyncio.ensure_future(self._fatal_event.wait())
            await asyncio.wait({stop, fatal}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            fatal.cancel()
            if self.fatal is not None:
                raise self.fatal
        finally:
            if self.server is not None:
                self.server.close()
                await self.server.wait_closed()
            self.cursor.close()
            if own:
                await self.client.aclose()

    async def route(self, req: Request) -> Response:
        if req.path != self.path:
            return Response(404, b"not found\n")
        if req.method == "GET":
            return self._verify(req)
        if req.method != "POST":
            return Response(405, b"method not allowed\n")
        if not signature_ok(self.app_secret, req.body, req.headers.get("x-hub-signature-256")):
            self.ctx.status.error("whatsapp webhook: rejected a POST with a missing or invalid X-Hub-Signature-256")
            return Response(401, b"invalid signature\n")
        try:
            payload = json.loads(req.body)
        except ValueError:
            return Response(400, b"invalid json\n")
        if self.ctx.stop.is_set():
            return Response(503, b"stopping\n")
        try:
            self.ctx.check_fence("taking a webhook delivery")
            await self._deliver(payload)
        except SHAPE_ERRORS as exc:
            # Signed by Meta but not the documented shape: acknowledged (a
            # redelivery would be just as malformed), counted, skipped.
            self.ctx.malformed("webhook delivery", f"{type(exc).__name__}: {exc}")
        except Stopped:
            return Response(503, b"stopping\n")
        except LaneFailure as exc:
            # Raised inside a connection task: hand it to run(), which ends the lane.
            self.fatal = exc
            self._fatal_event.set()
            return Response(503, b"lane failed\n")
        return Response(200, b"EVENT_RECEIVED")

    def _verify(self, req: Request) -> Response:
        mode = (req.query.get("hub.mode") or [""])[0]
        token = (req.query.get("hub.verify_token") or [""])[0]
        challenge = (req.query.get("hub.challenge") or [""])[0]
        if mode == "subscribe" and hmac.compare_digest(token.encode(), self.verify_token.encode()):
            return Response(200, challenge.encode("utf-8"))
        return Response(403, b"verification failed\n")

    async def _deliver(self, payload) -> None:
        ctx = self.ctx
        if not isinstance(payload, dict):
            ctx.malformed("webhook delivery", f"the body is {kind_of(payload)}, not an object")
            return
        for value in _change_values(ctx, payload):
            metadata = value.get("metadata")
            if not isinstance(metadata, dict):
                ctx.malformed("webhook delivery", f"metadata is {kind_of(metadata)}, not an object")
                continue
            if str(metadata.get("phone_number_id") or "") != self.phone_number_id:
                continue
            messages = value.get("messages", [])
            contacts = value.get("contacts", [])
            if not isinstance(messages, list) or not isinstance(contacts, list):
                ctx.malformed("webhook delivery", "messages or contacts is not an array")
                continue
            for message in messages:
                if not isinstance(message, dict) or not isinstance(message.get("id"), str) or not message["id"]:
                    ctx.malformed("message", "not an object with a string id")
                    continue
                mid = message["id"]
                if mid in self.seen or mid in self.in_flight:
                    continue
                self.in_flight.add(mid)
                try:
                    await self._handle(message, contacts)
                    self._remember(mid)
                finally:
                    self.in_flight.discard(mid)

    async def _handle(self, message: dict, contacts: list) -> None:
        ctx = self.ctx
        to, recipient = reply_address(message, contacts)
        if not to and not recipient:
            # Never a send to an empty recipient: the Cloud API would refuse
            # it at best, and it is not the sender at worst.
            ctx.malformed("message", "neither from nor a contact user_id names the sender")
            return
        ctx.status.message_received()
        text_obj = message.get("text")
        text = text_obj.get("body") if message.get("type") == "text" and isinstance(text_obj, dict) else None
        if not isinstance(text, str):
            ctx.status.message_ignored()
            return
        sender = to or recipient
        inbound = Inbound(sender, sender, message["id"], text)

        async def send(reply: str) -> None:
            for i, chunk in enumerate(split_text(reply, MAX_TEXT)):
                ctx.check_fence("sending a reply")
                body = {
                    "messaging_product": "whatsapp",
                    "recipient_type": "individual",
                    "type": "text",
                    "text": {"preview_url": False, "body": chunk},
                }
                # The phone number when the webhook gave one (Meta prefers
                # it, and it keeps the number in later webhooks); else the
                # business-scoped user id, which goes in "recipient".
                if to:
                    body["to"] = to
                else:
                    body["recipient"] = recipient
                if i == 0:
                    body["context"] = {"message_id": message["id"]}
                await self._post_message(body)

        await handle_inbound(ctx, inbound, send)

    async def _post_message(self, body: dict) -> None:
        url = f"{self.api}/{self.phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {self.access_token}"}
        backoff = Backoff()
        while True:
            if self.ctx.stop.is_set():
                raise Stopped()
            self.ctx.check_fence("sending a reply")  # each try: a retry may come after the deadline
            try:
                resp = await self.client.post(url, json=body, headers=headers, timeout=30)
            except httpx.HTTPError as exc:
                self.ctx.status.connected(True, f"whatsapp send: network error ({httpclient.describe(exc)})")
                await self.ctx.pause(backoff.next_delay())
                continue
            if 200 <= resp.status_code < 300:
                return
            try:
                err = resp.json()
            except ValueError:
                err = None
            err = err.get("error") if isinstance(err, dict) else None
            err = err if isinstance(err, dict) else {}
            code = err.get("code") if isinstance(err.get("code"), int) and not isinstance(err.get("code"), bool) \
                else None
            if resp.status_code == 401 or code == 190:
                ref = next((s for s in self.ctx.lane.secrets if s.field.startswith("access_token")), None)
                where = f" (from {describe(ref)})" if ref else ""
                raise LaneFailure(f"{self.ctx.lane.name}: the Cloud API rejected the access token{where}: {resp.status_code}")
            if resp.status_code == 429 or code in _RATE_CODES or resp.status_code >= 500:
                retry = resp.headers.get("Retry-After")
                delay = server_delay(retry) if retry else backoff.next_delay()
                self.ctx.status.error(f"whatsapp send: HTTP {resp.status_code} (code {code}), retrying in {delay:g}s")
                await self.ctx.pause(delay)
                continue
            message = printable(err.get("message") or "", 300)
            raise SendError(f"whatsapp send: HTTP {resp.status_code} code {code}: {message}")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def reply_address(message: dict, contacts: list) -> tuple[str, str]:
    """``(to, recipient)`` for the reply to ``message``: the sender's phone
    number (``from``, or the matching contact's ``wa_id``), else its
    business-scoped user id (BSUID: ``from_user_id``, or ``user_id`` of
    the contact, the one the webhook documents since 2026 for users with a
    username, whose phone number Meta may omit). Empty strings when the
    delivery names neither."""
    def text(value) -> str:
        return value if isinstance(value, str) and value.strip() and len(value) <= 256 else ""

    phone = text(message.get("from"))
    bsuid = text(message.get("from_user_id"))
    candidates = [c for c in contacts if isinstance(c, dict)]
    if phone:
        match = [c for c in candidates if c.get("wa_id") == phone]
    elif bsuid:
        match = [c for c in candidates if c.get("user_id") == bsuid]
    else:
        # One message, one contact: the contact is its sender.
        match = candidates if len(candidates) == 1 else []
    if match:
        phone = phone or text(match[0].get("wa_id"))
        bsuid = bsuid or text(match[0].get("user_id"))
    return phone, ("" if phone else bsuid)


def _change_values(ctx: LaneContext, payload: dict):
    entries = payload.get("entry", [])
    if not isinstance(entries, list):
        ctx.malformed("webhook delivery", f"entry is {kind_of(entries)}, not an array")
        return
    for entry in entries:
        changes = entry.get("changes", []) if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            ctx.malformed("webhook delivery", "an entry without a changes array")
            continue
        for change in changes:
            if not isinstance(change, dict):
                ctx.malformed("webhook delivery", "a change is not an object")
            elif change.get("field") == "messages":
                if isinstance(change.get("value"), dict):
                    yield change["value"]
                else:
                    ctx.malformed("webhook delivery", "a messages change without a value object")


async def run(ctx: LaneContext) -> None:
    await WhatsAppLane(ctx).run()
