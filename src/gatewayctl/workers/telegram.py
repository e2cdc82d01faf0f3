"""Telegram Bot API lane: getUpdates long polling -> handler -> sendMessage.

The offset is persisted (workers.cursor) after each update is handled, so a
restart neither loses nor repeats one. 429 honours ``retry_after``; 409 is a
lane failure that says whether another poller or a webhook holds the bot;
401 is fatal; network errors and 5xx back off and retry. The bot token is
part of every URL, so no URL or httpx error text is ever printed unredacted.

Imports httpx, the standard library and sibling worker modules.
"""

from __future__ import annotations

import logging

import httpx

from gatewayctl.workers import httpclient
from gatewayctl.workers.cursor import Cursor
from gatewayctl.workers.secrets import describe as _describe
from gatewayctl.workers.base import (
    Backoff,
    Inbound,
    LaneContext,
    LaneFailure,
    SendError,
    Stopped,
    allowed,
    guarded,
    handle_inbound,
    is_int,
    kind_of,
    printable,
    server_delay,
    split_text,
    until_stopped,
)

log = logging.getLogger("gatewayctl.workers.telegram")

MAX_TEXT = 4096
DEFAULT_BASE_URL = "https://api.telegram.org"


class _Transient(Exception):
    pass


class _RetryAfter(Exception):
    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


class _Conflict(Exception):
    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


class _Malformed(Exception):
    """An answer whose shape is not the Bot API's (``result: 5``)."""


class _ApiError(Exception):
    def __init__(self, code: int, description: str):
        super().__init__(f"{code} {description}")
        self.code = code
        self.description = description


class TelegramLane:
    def __init__(self, ctx: LaneContext, client: httpx.AsyncClient | None = None):
        self.ctx = ctx
        self.token = ctx.secrets.require("bot_token", ctx.lane)
        self.base = str(ctx.setting("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.poll_timeout = int(ctx.setting("polling_timeout_s", 15) or 0)
        self.allowed_chats = tuple(ctx.setting("allowed_chat_ids", ()) or ())
        self.allowed_senders = tuple(ctx.setting("allowed_sender_ids", ()) or ())
        self.require_mention = bool(ctx.setting("require_mention", False))
        self.client = client
        self.me: dict = {}
        self.backoff = Backoff()

    async def _call(self, method: str, payload: dict, *, timeout: float = 30.0):
        url = f"{self.base}/bot{self.token}/{method}"
        try:
            resp = await self.client.post(url, json=payload, timeout=timeout)
        except httpx.HTTPError as exc:
            raise _Transient(f"telegram {method}: network error ({httpclient.describe(exc)})") from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if resp.status_code == 200 and body.get("ok") is True:
            return body.get("result")
        # error_code is an integer in the Bot API; anything else is ignored
        # in favour of the HTTP status (a hostile "abc" must not crash us).
        code = body.get("error_code") if is_int(body.get("error_code")) else resp.status_code
        description = printable(body.get("description") or resp.reason_phrase or "", 300)
        if code == 429:
            params = body.get("parameters") or {}
            retry = params.get("retry_after") if isinstance(params, dict) else None
            if retry is None:
                retry = resp.headers.get("Retry-After")
            raise _RetryAfter(server_delay(retry))
        if code == 401:
            ref = next((s for s in self.ctx.lane.secrets if s.field.startswith("bot_token")), None)
            where = f" (from {_describe(ref)})" if ref else ""
            raise LaneFailure(f"{self.ctx.lane.name}: Telegram rejected the bot token{where}: 401 Unauthorized")
        if code == 409:
            raise _Conflict(description)
        if code >= 500:
            raise _Transient(f"telegram {method}: HTTP {code} {description}")
        raise _ApiError(code, description)

    async def _call_retrying(self, method: str, payload: dict, *, timeout: float = 30.0):
        """Retry 429 and transient errors until success or stop."""
        backoff = Backoff()
        while True:
            if self.ctx.stop.is_set():
                raise Stopped()
            self.ctx.check_fence(f"calling {method}")  # each try: a retry may come after the deadline
            try:
                return await self._call(method, payload, timeout=timeout)
            except _RetryAfter as exc:
                self.ctx.status.error(f"telegram {method}: 429 Too Many Requests, retrying after {exc.seconds:g}s")
                await self.ctx.pause(exc.seconds)
            except _Transient as exc:
                self.ctx.status.connected(False, self.ctx.redact(str(exc)))
                await self.ctx.pause(backoff.next_delay())

    async def run(self) -> None:
        own_client = self.client is None
        if own_client:
            self.client = httpclient.client()
        self.cursor = Cursor(self.ctx)
        try:
            await self._run()
        finally:
            self.cursor.close()
            if own_client:
                await self.client.aclose()

    async def _run(self) -> None:
        ctx = self.ctx
        try:
            me = await until_stopped(ctx, self._call_retrying("getMe", {}))
        except _Conflict as exc:
            raise LaneFailure(f"{ctx.lane.name}: getMe refused: 409 {exc.description}") from None
        if not isinstance(me, dict):
            ctx.malformed("getMe answer", f"result is {kind_of(me)}, not an object")
            me = {}
        self.me = me
        if not self.allowed_chats:
            ctx.status.error("allowed_chat_ids is empty: no chat will be answered (fail closed)")
        state = self.cursor.load()
        offset = state.get("offset") if isinstance(state.get("offset"), int) else None
        while not ctx.stop.is_set():
            ctx.check_fence("polling getUpdates")
            payload = {"timeout": self.poll_timeout, "allowed_updates": ["message"]}
            if offset is not None:
                payload["offset"] = offset
            try:
                updates = await until_stopped(
                    ctx, self._call("getUpdates", payload, timeout=self.poll_timeout + 15)
                )
            except _RetryAfter as exc:
                ctx.status.error(f"telegram getUpdates: 429 Too Many Requests, retrying after {exc.seconds:g}s")
                await ctx.pause(exc.seconds)
                continue
            except _Transient as exc:
                ctx.status.connected(False, ctx.redact(str(exc)))
                await ctx.pause(self.backoff.next_delay())
                continue
            except _Conflict as exc:
                raise LaneFailure(await self._conflict_reason(exc.description)) from None
            except _ApiError as exc:
                ctx.status.connected(False, ctx.redact(f"telegram getUpdates: {exc}"))
                await ctx.pause(self.backoff.next_delay())
                continue
            if not isinstance(updates, list):
                # Not an Update array: nothing to take, and asking again at
                # once would be a hot loop against a broken server.
                ctx.malformed("getUpdates answer", f"result is {kind_of(updates)}, not an array")
                ctx.status.connected(False)
                await ctx.pause(self.backoff.next_delay())
                continue
            self.backoff.reset()
            ctx.status.connected(True)
            for update in updates:
                if ctx.stop.is_set():
                    return
                if not isinstance(update, dict) or not is_int(update.get("update_id")):
                    ctx.malformed("update", "no integer update_id")
                    continue
                await guarded(ctx, "update", self._handle(update))
                if offset is None or update["update_id"] + 1 > offset:
                    offset = update["update_id"] + 1
                self.cursor.save({"offset": offset})

    async def _conflict_reason(self, description: str) -> str:
        name = self.ctx.lane.name
        try:
            info = await self._call("getWebhookInfo", {}, timeout=10) or {}
        except (LaneFailure, _Transient, _RetryAfter, _Conflict, _ApiError):
            info = None
        if not isinstance(info, dict):
            info = None
        if info and info.get("url"):
            return (
                f"{name}: Telegram refused getUpdates (409 Conflict): a webhook is set for this bot "
                f"({printable(info.get('url'), 200)}); remove it with deleteWebhook or stop the service that set it"
            )
        if info is not None:
            return (
                f"{name}: Telegram refused getUpdates (409 Conflict): another poller is using this bot token; "
                "stop the other instance (only one getUpdates client per bot)"
            )
        return f"{name}: Telegram refused getUpdates (409 Conflict: {description})"

    def _mentioned(self, message: dict) -> bool:
        username = str(self.me.get("username") or "")
        text = message.get("text") or ""
        for ent in message.get("entities") or ():
            if not isinstance(ent, dict):
                continue
            kind = ent.get("type")
            user = ent.get("user")
            if kind == "text_mention" and isinstance(user, dict) and user.get("id") == self.me.get("id"):
                return True
            if kind in ("mention", "bot_command") and username:
                piece = _utf16_slice(text, ent.get("offset", 0), ent.get("length", 0))
                if kind == "mention" and piece.lower() == f"@{username.lower()}":
                    return True
                if kind == "bot_command" and piece.lower().endswith(f"@{username.lower()}"):
                    return True
        return False

    async def _handle(self, update: dict) -> None:
        ctx = self.ctx
        message = update.get("message")
        if message is None:
            return  # another update type (allowed_updates asks for messages only)
        if not isinstance(message, dict):
            ctx.malformed("update", f"message is {kind_of(message)}, not an object")
            return
        if not isinstance(message.get("text"), str):
            return  # not a text message
        chat = message.get("chat")
        sender = message.get("from", {})
        if not isinstance(chat, dict) or not isinstance(sender, dict):
            bad = "chat" if not isinstance(chat, dict) else "from"
            ctx.malformed("update", f"message.{bad} is {kind_of(message.get(bad))}, not an object")
            return
        chat_id = chat.get("id")
        if not (is_int(chat_id) or isinstance(chat_id, str)) or not chat_id:
            ctx.malformed("update", "message.chat.id is missing or not an id")
            return
        if not isinstance(message.get("entities", []), list):
            ctx.malformed("update", "message.entities is not an array")
            return
        ctx.status.message_received()
        if not allowed(chat_id, self.allowed_chats, empty_means_all=False) or not allowed(
            sender.get("id"), self.allowed_senders, empty_means_all=True
        ):
            ctx.status.message_ignored()
            return
        text = message["text"]
        if self.require_mention and chat.get("type") != "private":
            if not self._mentioned(message):
                ctx.status.message_ignored()
                return
            username = self.me.get("username")
            if username:
                text = _strip_mention(text, f"@{username}")
        message_id = message.get("message_id") if is_int(message.get("message_id")) else None
        inbound = Inbound(str(chat_id), printable(sender.get("id", ""), 64), "" if message_id is None else str(message_id),
                          text)

        async def send(reply: str) -> None:
            for i, chunk in enumerate(split_text(reply, MAX_TEXT)):
                ctx.check_fence("sending a reply")
                payload = {"chat_id": chat_id, "text": chunk}
                if i == 0 and message_id is not None:
                    payload["reply_parameters"] = {
                        "message_id": message_id,
                        "allow_sending_without_reply": True,
                    }
                try:
                    await self._call_retrying("sendMessage", payload)
                except _Conflict as exc:
                    raise SendError(f"telegram sendMessage: 409 {exc.description}") from None
                except _ApiError as exc:
                    raise SendError(f"telegram sendMessage to chat {chat_id}: {exc}") from None

        await handle_inbound(ctx, inbound, send)


def _utf16_slice(text: str, offset, length) -> str:
    try:
        raw = text.encode("utf-16-le")
        return raw[int(offset) * 2 : (int(offset) + int(length)) * 2].decode("utf-16-le", "replace")
    except (TypeError, ValueError):
        return ""


def _strip_mention(text: str, mention: str) -> str:
    lowered = text.lower()
    idx = lowered.find(mention.lower())
    if idx < 0:
        return text
    stripped = (text[:idx] + text[idx + len(mention) :]).strip()
    return stripped or text


async def run(ctx: LaneContext) -> None:
    await TelegramLane(ctx).run()
