"""Feishu/Lark lane: events in (webhook or long connection) -> handler ->
reply through the open platform API.

- Webhook mode serves ``webhook_path`` on ``webhook_bind``. A body
  ``{"encrypt": ...}`` is decrypted (AES-256-CBC, key = SHA-256 of
  ``encrypt_key``, IV = the first 16 bytes of the base64-decoded text,
  PKCS#7 padding); the verification token inside is compared in constant
  time; ``url_verification`` is answered with its challenge; every other
  callback must carry ``X-Lark-Signature`` = hex SHA-256 of timestamp +
  nonce + encrypt_key + raw body (the order lark-oapi's dispatcher checks
  them in). A callback is acknowledged at once and its turn runs in the
  background: Feishu retries a callback not answered within 3 s, and the
  retries are answered once thanks to the ``header.event_id`` dedupe (also
  persisted with the cursor, so a restart does not answer a retry again).
- Websocket mode: see workers.feishu_ws (pbbp2 frames).
- ``im.message.receive_v1`` text messages only; ``ignore_bot_messages``
  skips senders that are not users; ``require_mention`` (group chats) needs
  a mention of the bot's open_id (from ``/open-apis/bot/v3/info``).
- Replies: ``POST /open-apis/im/v1/messages/{message_id}/reply`` with a
  cached ``tenant_access_token``, refreshed before it expires and once more
  when the API says the token is invalid.

Imports httpx, cryptography (webhook mode only), the standard library and sibling worker modules.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
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
    TokenCache,
    allowed,
    handle_inbound,
    kind_of,
    post_json,
    printable,
    split_text,
)
from gatewayctl.workers.httpserver import Request, Response, parse_bind, serve
from gatewayctl.workers.secrets import describe

log = logging.getLogger("gatewayctl.workers.feishu")

BASE_URLS = {"feishu": "https://open.feishu.cn", "lark": "https://open.larksuite.com"}
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
BOT_INFO_PATH = "/open-apis/bot/v3/info"
# A text message may be up to 150 KB of request body; long replies are sent
# in parts well below that.
MAX_TEXT = 10000
_SEEN_KEEP = 2048
# Refresh this long before the token's stated expiry (Feishu hands out a new
# token in the last 30 minutes of the old one's two hours).
_REFRESH_MARGIN_S = 300.0
# Codes that mean "the tenant_access_token is not (or no longer) valid".
_TOKEN_CODES = {99991661, 99991663, 99991664, 99991668}
_RATE_CODES = {99991400, 11232, 230020}
_MENTION_KEY = re.compile(r"@_user_\d+")


# ------------------------------------------------------------ callbacks


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """Decrypt a callback's ``encrypt`` field; ValueError when it is not ours."""
    try:
        raw = base64.b64decode(encrypted, validate=False)
    except (ValueError, TypeError):
        raise ValueError("encrypt is not base64") from None
    if len(raw) < 32 or len(raw) % 16:
        raise ValueError("encrypt has the wrong length")
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    padded = decryptor.update(raw[16:]) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes([pad]) * pad:
        raise ValueError("bad padding (wrong encrypt_key?)")
    return padded[:-pad]


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


def signature_ok(headers: dict[str, str], encrypt_key: str, body: bytes) -> bool:
    given = headers.get("x-lark-signature")
    timestamp = headers.get("x-lark-request-timestamp")
    nonce = headers.get("x-lark-request-nonce")
    if not given or timestamp is None or nonce is None:
        return False
    expected = signature(timestamp, nonce, encrypt_key, body)
    return hmac.compare_digest(expected.encode("ascii"), given.strip().encode("utf-8", "replace"))


def _json_response(status: int, obj) -> Response:
    return Response(status, json.dumps(obj).encode("utf-8"), "application/json; charset=utf-8")


class _TokenInvalid(Exception):
    pass


class _Transient(Exception):
    pass


# ------------------------------------------------------------ the lane


class FeishuLane:
    def __init__(self, ctx: LaneContext, client: httpx.AsyncClient | None = None):
        self.ctx = ctx
        lane = ctx.lane
        self.app_id = ctx.secrets.require("app_id", lane)
        self.app_secret = ctx.secrets.require("app_secret", lane)
        domain = str(ctx.setting("domain") or "feishu")
        self.base = str(ctx.setting("base_url") or BASE_URLS.get(domain, BASE_URLS["feishu"])).rstrip("/")
        self.mode = str(ctx.setting("mode") or "websocket")
        self.allowed_chats = tuple(ctx.setting("allowed_chat_ids", ()) or ())
        self.allowed_senders = tuple(ctx.setting("allowed_sender_ids", ()) or ())
        self.ignore_bots = bool(ctx.setting("ignore_bot_messages", True))
        self.require_mention = bool(ctx.setting("require_mention", False))
        if self.mode == "webhook":
            self.verification_token = ctx.secrets.require("verification_token", lane)
            self.encrypt_key = ctx.secrets.require("encrypt_key", lane)
            self.bind = str(ctx.setting("webhook_bind") or DEFAULT_WEBHOOK_BIND)
            self.path = str(ctx.setting("webhook_path") or "/feishu/events")
            try:
                parse_bind(self.bind)
            except ValueError as exc:
                raise LaneFailure(f"{lane.name}: {exc}") from None
            # Only webhook mode decrypts callbacks: cryptography (about 8 MiB
            # of a lane's unique memory) is loaded here, before the first
            # callback, and never by a websocket-mode lane.
            import cryptography.hazmat.primitives.ciphers  # noqa: F401
        elif self.mode != "websocket":
            raise LaneFailure(f"{lane.name}: unknown feishu mode {self.mode!r} (websocket or webhook)")
        self.client = client
        self.bot_open_id = ""
        self._tokens = TokenCache(ctx.clock, _REFRESH_MARGIN_S)
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.in_flight: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self.receiver = None
        self.cursor = Cursor(ctx)
        self._fatal: LaneFailure | None = None
        self._fatal_event = asyncio.Event()

    # -- lifecycle --------------------------------------------------------
    async def run(self) -> None:
        ctx = self.ctx
        own = self.client is None
        if own:
            self.client = httpclient.client()
        for eid in self.cursor.load().get("seen") or ():
            if isinstance(eid, str):
                self.seen[eid] = None
        if not self.allowed_chats:
            ctx.status.error("allowed_chat_ids is empty: no chat will be answered (fail closed)")
        try:
            await self._bot_info()
            if self.mode == "webhook":
                main = asyncio.ensure_future(self._serve_webhook())
            else:
                from gatewayctl.workers.feishu_ws import WsReceiver

                self.receiver = WsReceiver(self, self.base, self.app_id, self.app_secret, self.take_event,
                                           self.client)
                main = asyncio.ensure_future(self.receiver.run())
            fatal = asyncio.ensure_future(self._fatal_event.wait())
            try:
                await asyncio.wait({main, fatal}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                fatal.cancel()
                if not main.done():
                    main.cancel()
                await asyncio.gather(main, fatal, return_exceptions=True)
            if self._fatal is not None:
                raise self._fatal
            main.result()
        finally:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            self.cursor.close()
            if own:
                await self.client.aclose()

    async def _bot_info(self) -> None:
        """The bot's open_id, for require_mention. Retried until it works or
        the lane stops: without it mentions cannot be recognised."""
        backoff = Backoff()
        while True:
            if self.ctx.stop.is_set():
                raise Stopped()
            try:
                body = await self._api("GET", BOT_INFO_PATH, None)
            except _Transient as exc:
                self.ctx.status.connected(False, self.ctx.redact(str(exc)))
                await self.ctx.pause(backoff.next_delay())
                continue
            except SendError as exc:
                if self.require_mention:
                    raise LaneFailure(f"{self.ctx.lane.name}: require_mention needs the bot's open_id, "
                                      f"but {exc}") from None
                self.ctx.status.error(str(exc))
                return
            bot = body.get("bot") if isinstance(body.get("bot"), dict) else {}
            self.bot_open_id = str(bot.get("open_id") or "")
            return

    # -- the API ----------------------------------------------------------
    @property
    def token_fetches(self) -> int:
        return self._tokens.fetches

    async def _tenant_token(self, *, force: bool = False) -> str:
        return await self._tokens.get(self._fetch_tenant_token, force=force)

    async def _fetch_tenant_token(self) -> tuple[str, float]:
        _status, body = await post_json(
            self.client, f"{self.base}{TOKEN_PATH}", {"app_id": self.app_id, "app_secret": self.app_secret},
            what="feishu tenant_access_token", transient=_Transient,
        )
        if body.get("code") != 0 or not body.get("tenant_access_token"):
            refs = [describe(s) for s in self.ctx.lane.secrets if s.field in ("app_id", "app_secret")]
            where = f" (from {', '.join(refs)})" if refs else ""
            raise LaneFailure(self.ctx.redact(
                f"{self.ctx.lane.name}: feishu refused the app credentials{where}: code "
                f"{printable(body.get('code'), 20)} {printable(body.get('msg', ''), 200)}".rstrip()
            ))
        try:
            expire = float(body.get("expire") or 7200)
        except (TypeError, ValueError):
            expire = 7200.0
        return str(body["tenant_access_token"]), expire

    async def _api(self, method: str, path: str, payload: dict | None) -> dict:
        """One open-platform call: refresh the token once on an auth failure;
        network trouble, 5xx and rate limits raise _Transient."""
        for attempt in (0, 1):
            token = await self._tenant_token(force=attempt == 1)
            try:
                resp = await self.client.request(method, f"{self.base}{path}", json=payload, timeout=30,
                                                 headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:
                raise _Transient(f"feishu {path}: network error ({httpclient.describe(exc)})") from None
            try:
                body = resp.json()
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            code = body.get("code")
            if code in _TOKEN_CODES or resp.status_code == 401:
                if attempt == 0:
                    continue
                raise LaneFailure(f"{self.ctx.lane.name}: feishu rejects a freshly issued tenant_access_token "
                                  f"(code {code}) on {path}")
            if resp.status_code == 429 or code in _RATE_CODES or resp.status_code >= 500:
                raise _Transient(f"feishu {path}: HTTP {resp.status_code} code {code}")
            if code != 0:
                raise SendError(f"feishu {path}: HTTP {resp.status_code} code {printable(code, 20)}: "
                                f"{printable(body.get('msg', ''), 200)}")
            return body
        raise AssertionError("unreachable")

    async def reply(self, message_id: str, text: str) -> None:
        path = f"/open-apis/im/v1/messages/{message_id}/reply"
        for chunk in split_text(text, MAX_TEXT):
            payload = {"msg_type": "text", "content": json.dumps({"text": chunk}, ensure_ascii=False)}
            backoff = Backoff()
            while True:
                self.ctx.check_fence("sending a reply")  # each try: a retry may come after the deadline
                try:
                    await self._api("POST", path, payload)
                    break
                except _Transient as exc:
                    self.ctx.status.error(self.ctx.redact(str(exc)))
                    await self.ctx.clock.sleep(backoff.next_delay())

    # -- events -----------------------------------------------------------
    async def take_event(self, event: dict) -> None:
        """Take one decoded event in; its turn runs in the background. Returns
        at once so the callback or the ack frame is answered in time."""
        header = event.get("header") if isinstance(event.get("header"), dict) else {}
        raw_id = header.get("event_id") or event.get("uuid") or ""
        event_id = raw_id if isinstance(raw_id, str) else ""
        if event_id and (event_id in self.seen or event_id in self.in_flight):
            return
        if header.get("event_type") != "im.message.receive_v1":
            return
        body = event.get("event")
        if not isinstance(body, dict):
            self.ctx.malformed("event", f"event is {kind_of(body)}, not an object")
            return
        if event_id:
            self.in_flight.add(event_id)
        task = asyncio.ensure_future(self._event(event_id, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember(self, event_id: str) -> None:
        self.seen[event_id] = None
        while len(self.seen) > _SEEN_KEEP:
            self.seen.popitem(last=False)
        self.cursor.save({"seen": list(self.seen)})

    async def _event(self, event_id: str, body: dict) -> None:
        try:
            await self._message(body)
            if event_id:
                self._remember(event_id)
        except Stopped:
            pass
        except SHAPE_ERRORS as exc:
            self.ctx.malformed("event", f"{type(exc).__name__}: {exc}")
            if event_id:
                self._remember(event_id)  # a retry of it would be just as malformed
        except LaneFailure as exc:
            # Raised inside a background turn: hand it to run(), which ends the lane.
            if self._fatal is None:
                self._fatal = exc
            self._fatal_event.set()
        finally:
            self.in_flight.discard(event_id)

    async def _message(self, body: dict) -> None:
        ctx = self.ctx
        message = body.get("message") if isinstance(body.get("message"), dict) else {}
        sender = body.get("sender") if isinstance(body.get("sender"), dict) else {}
        ctx.status.message_received()
        if self.ignore_bots and sender.get("sender_type") not in (None, "user"):
            ctx.status.message_ignored()
            return
        if message.get("message_type") != "text":
            ctx.status.message_ignored()
            return
        content = message.get("content")
        try:
            parsed = json.loads(content) if isinstance(content, str) else None
        except ValueError:
            parsed = None
        text = parsed.get("text") if isinstance(parsed, dict) else None
        ids = sender.get("sender_id")
        chat_id, sender_id, message_id = (
            value if isinstance(value, str) else ""
            for value in (message.get("chat_id"), ids.get("open_id") if isinstance(ids, dict) else "",
                          message.get("message_id"))
        )
        chat_ok = "*" in self.allowed_chats or allowed(chat_id, self.allowed_chats, empty_means_all=False)
        if not isinstance(text, str) or not message_id or not chat_ok or not allowed(
                sender_id, self.allowed_senders, empty_means_all=True):
            ctx.status.message_ignored()
            return
        raw_mentions = message.get("mentions")
        mentions = [m for m in raw_mentions if isinstance(m, dict)] if isinstance(raw_mentions, list) else []

        def open_id(m: dict):
            return m["id"].get("open_id") if isinstance(m.get("id"), dict) else None

        mentioned = any(open_id(m) == self.bot_open_id for m in mentions) if self.bot_open_id else False
        if self.require_mention and message.get("chat_type") == "group" and not mentioned:
            ctx.status.message_ignored()
            return
        # Mentions arrive as placeholders (@_user_1); the bot's own is noise
        # to the handler, others keep their display name.
        names = {m.get("key"): m for m in mentions if isinstance(m.get("key"), str)}

        def placeholder(match: re.Match) -> str:
            m = names.get(match.group(0))
            if m is None:
                return match.group(0)
            if self.bot_open_id and open_id(m) == self.bot_open_id:
                return ""
            name = m.get("name")
            return f"@{name if isinstance(name, str) else ''}"

        text = _MENTION_KEY.sub(placeholder, text).strip()
        if not text:
            ctx.status.message_ignored()
            return

        async def send(reply: str) -> None:
            await self.reply(message_id, reply)

        await handle_inbound(ctx, Inbound(chat_id, sender_id, message_id, text), send)

    # -- webhook ----------------------------------------------------------
    async def _serve_webhook(self) -> None:
        ctx = self.ctx
        try:
            server = await serve(self.bind, self.route)
        except OSError as exc:
            raise LaneFailure(f"{ctx.lane.name}: cannot listen on webhook_bind {self.bind} "
                              f"({exc.strerror or exc})") from None
        try:
            sock = server.sockets[0].getsockname()
            host = f"[{sock[0]}]" if ":" in sock[0] else sock[0]
            ctx.status.data["webhook_url"] = f"http://{host}:{sock[1]}{self.path}"
            ctx.status.connected(True)
            await ctx.stop.wait()
        finally:
            server.close()
            await server.wait_closed()

    async def route(self, req: Request) -> Response:
        ctx = self.ctx
        if req.path != self.path:
            return Response(404, b"not found\n")
        if req.method != "POST":
            return Response(405, b"method not allowed\n")
        try:
            outer = json.loads(req.body)
        except ValueError:
            return _json_response(400, {"msg": "invalid json"})
        if not isinstance(outer, dict):
            return _json_response(400, {"msg": "invalid json"})
        plain = outer
        if "encrypt" in outer:
            try:
                plain = json.loads(decrypt(self.encrypt_key, str(outer.get("encrypt"))))
            except ValueError:
                ctx.status.error("feishu webhook: rejected a callback that does not decrypt with encrypt_key")
                return _json_response(400, {"msg": "cannot decrypt"})
            if not isinstance(plain, dict):
                return _json_response(400, {"msg": "invalid json"})
        header = plain.get("header") if isinstance(plain.get("header"), dict) else {}
        token = str(header.get("token") if plain.get("schema") else plain.get("token") or "")
        if not hmac.compare_digest(token.encode("utf-8"), self.verification_token.encode("utf-8")):
            ctx.status.error("feishu webhook: rejected a callback with a wrong verification token")
            return _json_response(401, {"msg": "invalid verification token"})
        if plain.get("type") == "url_verification":
            return _json_response(200, {"challenge": plain.get("challenge", "")})
        if not signature_ok(req.headers, self.encrypt_key, req.body):
            ctx.status.error("feishu webhook: rejected a callback with a missing or invalid X-Lark-Signature")
            return _json_response(401, {"msg": "invalid signature"})
        if ctx.stop.is_set():
            return _json_response(503, {"msg": "stopping"})
        try:
            ctx.check_fence("taking a webhook event")
        except Stopped:
            return _json_response(503, {"msg": "stopping"})
        await self.take_event(plain)
        return _json_response(200, {"msg": "success"})
