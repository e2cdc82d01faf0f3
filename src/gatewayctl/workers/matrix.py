"""Matrix client-server API lane: /sync long polling -> handler -> send.

The first sync after a fresh start (no saved cursor) only takes the
``next_batch`` token and answers none of the backlog. The cursor
(``since`` plus the event ids already handled from the batch it started)
is persisted after each event, so a restart mid-batch neither loses nor
repeats a reply. Replies are ``PUT .../send/m.room.message/{txnId}`` with
the inbound event id as txnId, which makes a retried send idempotent at the
homeserver. Only ``m.text`` is answered; edits (``m.replace``) are skipped.

Imports httpx, the standard library and sibling worker modules.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import httpx

from gatewayctl.workers import httpclient
from gatewayctl.workers.cursor import Cursor
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
    kind_of,
    printable,
    server_delay,
    until_stopped,
)
from gatewayctl.workers.secrets import describe

log = logging.getLogger("gatewayctl.workers.matrix")

API = "/_matrix/client/v3"


class _Transient(Exception):
    pass


class _RetryAfter(Exception):
    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds


class _ApiError(Exception):
    def __init__(self, status: int, errcode: str, error: str):
        super().__init__(f"{status} {errcode} {error}".strip())
        self.status = status
        self.errcode = errcode


def sync_filter(limit: int | None = None) -> str:
    timeline: dict = {"types": ["m.room.message"]}
    if limit is not None:
        timeline["limit"] = limit
    return json.dumps(
        {
            "presence": {"types": []},
            "account_data": {"types": []},
            "room": {
                "timeline": timeline,
                "state": {"types": []},
                "ephemeral": {"types": []},
                "account_data": {"types": []},
            },
        },
        separators=(",", ":"),
    )


class MatrixLane:
    def __init__(self, ctx: LaneContext, client: httpx.AsyncClient | None = None):
        self.ctx = ctx
        self.token = ctx.secrets.require("access_token", ctx.lane)
        base = ctx.setting("base_url")
        if not base:
            raise LaneFailure(f"{ctx.lane.name}: matrix needs base_url (the homeserver) in the plan")
        self.base = str(base).rstrip("/")
        self.user_id = str(ctx.setting("user_id") or "")
        self.timeout_s = int(ctx.setting("sync_timeout_s", 30) or 0)
        self.allowed_rooms = tuple(ctx.setting("allowed_room_ids", ()) or ())
        self.allowed_senders = tuple(ctx.setting("allowed_sender_ids", ()) or ())
        self.require_mention = bool(ctx.setting("require_mention", False))
        self.ignore_self = bool(ctx.setting("ignore_self_messages", True))
        self.client = client
        self.backoff = Backoff()

    async def _request(self, method: str, path: str, *, params=None, body=None, timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            resp = await self.client.request(
                method, self.base + path, params=params, json=body, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise _Transient(f"matrix {path.split('?')[0]}: network error ({httpclient.describe(exc)})") from None
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if 200 <= resp.status_code < 300:
            return data
        errcode = printable(data.get("errcode") or "", 64)
        error = printable(data.get("error") or resp.reason_phrase or "", 300)
        if resp.status_code == 429 or errcode == "M_LIMIT_EXCEEDED":
            ms = data.get("retry_after_ms")
            if ms is not None:
                raise _RetryAfter(server_delay(ms, scale=0.001))
            raise _RetryAfter(server_delay(resp.headers.get("Retry-After")))
        if resp.status_code == 401 or errcode in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
            ref = next((s for s in self.ctx.lane.secrets if s.field.startswith("access_token")), None)
            where = f" (from {describe(ref)})" if ref else ""
            raise LaneFailure(f"{self.ctx.lane.name}: the homeserver rejected the access token{where}: {resp.status_code} {errcode}")
        if resp.status_code >= 500:
            raise _Transient(f"matrix: HTTP {resp.status_code} {errcode}")
        raise _ApiError(resp.status_code, errcode, error)

    async def _retrying(self, method: str, path: str, **kw):
        backoff = Backoff()
        while True:
            if self.ctx.stop.is_set():
                raise Stopped()
            self.ctx.check_fence("calling the homeserver")  # each try: a retry may come after the deadline
            try:
                return await self._request(method, path, **kw)
            except _RetryAfter as exc:
                self.ctx.status.error(f"matrix: 429 M_LIMIT_EXCEEDED, retrying after {exc.seconds:g}s")
                await self.ctx.pause(exc.seconds)
            except _Transient as exc:
                self.ctx.status.connected(False, str(exc))
                await self.ctx.pause(backoff.next_delay())

    async def run(self) -> None:
        own = self.client is None
        if own:
            self.client = httpclient.client()
        self.cursor = Cursor(self.ctx)
        try:
            await self._run()
        finally:
            self.cursor.close()
            if own:
                await self.client.aclose()

    async def _run(self) -> None:
        ctx = self.ctx
        try:
            who = await until_stopped(ctx, self._retrying("GET", f"{API}/account/whoami"))
        except _ApiError as exc:
            raise LaneFailure(f"{ctx.lane.name}: whoami refused: {exc}") from None
        if not self.user_id:
            self.user_id = who.get("user_id") if isinstance(who.get("user_id"), str) else ""
        if not self.allowed_rooms:
            ctx.status.error("allowed_room_ids is empty: no room will be answered (fail closed)")
        state = self.cursor.load()
        since = state.get("since") if isinstance(state.get("since"), str) else None
        done = set(state.get("done") or ()) if since else set()
        if since is None:
            since = await self._skip_backlog()
        while not ctx.stop.is_set():
            ctx.check_fence("syncing")
            params = {"since": since, "timeout": self.timeout_s * 1000, "filter": sync_filter()}
            try:
                data = await until_stopped(
                    ctx, self._request("GET", f"{API}/sync", params=params, timeout=self.timeout_s + 15)
                )
            except _RetryAfter as exc:
                ctx.status.error(f"matrix /sync: 429 M_LIMIT_EXCEEDED, retrying after {exc.seconds:g}s")
                await ctx.pause(exc.seconds)
                continue
            except (_Transient, _ApiError) as exc:
                ctx.status.connected(False, str(exc))
                await ctx.pause(self.backoff.next_delay())
                continue
            self.backoff.reset()
            ctx.status.connected(True)
            for room_id, event in _timeline_events(ctx, data):
                if ctx.stop.is_set():
                    return
                event_id = event.get("event_id")
                if not isinstance(event_id, str) or event_id in done:
                    if not isinstance(event_id, str):
                        ctx.malformed("event", "no string event_id")
                    continue
                await guarded(ctx, "event", self._handle(room_id, event))
                done.add(event_id)
                self.cursor.save({"since": since, "done": sorted(done)})
            next_batch = data.get("next_batch")
            if isinstance(next_batch, str) and next_batch:
                since = next_batch
                done = set()
                self.cursor.save({"since": since, "done": []})

    async def _skip_backlog(self) -> str:
        """A fresh start answers from now on, not hours of history."""
        params = {"timeout": 0, "filter": sync_filter(limit=1)}
        while True:
            self.ctx.check_fence("syncing")
            try:
                data = await until_stopped(self.ctx, self._retrying("GET", f"{API}/sync", params=params))
            except _ApiError as exc:
                self.ctx.status.connected(False, str(exc))
                await self.ctx.pause(self.backoff.next_delay())
                continue
            token = data.get("next_batch")
            if isinstance(token, str) and token:
                self.ctx.status.connected(True)
                self.cursor.save({"since": token, "done": []})
                return token
            await self.ctx.pause(self.backoff.next_delay())

    def _mentioned(self, content: dict) -> bool:
        if not self.user_id:
            return False
        mentions = content.get("m.mentions")
        if isinstance(mentions, dict) and isinstance(mentions.get("user_ids"), list) \
                and self.user_id in mentions["user_ids"]:
            return True
        body = content.get("body") if isinstance(content.get("body"), str) else ""
        formatted = content.get("formatted_body") if isinstance(content.get("formatted_body"), str) else ""
        return self.user_id in body or f"matrix.to/#/{self.user_id}" in formatted

    async def _handle(self, room_id: str, event: dict) -> None:
        ctx = self.ctx
        if event.get("type") != "m.room.message":
            return
        content = event.get("content")
        if not isinstance(content, dict):
            ctx.malformed("event", f"content is {kind_of(content)}, not an object")
            return
        sender = event.get("sender")
        if not isinstance(sender, str) or not sender:
            ctx.malformed("event", "sender is missing or not a string")
            return
        if self.ignore_self and self.user_id and sender == self.user_id:
            return
        unsigned = event.get("unsigned")
        if isinstance(unsigned, dict) and unsigned.get("transaction_id"):
            # Only events sent with this very access token carry our txn id:
            # our own replies. Answering them would loop even with
            # ignore_self_messages off.
            return
        relates = content.get("m.relates_to")
        if (isinstance(relates, dict) and relates.get("rel_type") == "m.replace") or "m.new_content" in content:
            return
        if content.get("msgtype") != "m.text" or not isinstance(content.get("body"), str):
            return
        ctx.status.message_received()
        if not allowed(room_id, self.allowed_rooms, empty_means_all=False) or not allowed(
            sender, self.allowed_senders, empty_means_all=True
        ):
            ctx.status.message_ignored()
            return
        text = content["body"]
        if self.require_mention:
            if not self._mentioned(content):
                ctx.status.message_ignored()
                return
            stripped = text.replace(self.user_id, "").strip(" :,")
            text = stripped or text
        event_id = event["event_id"]
        inbound = Inbound(room_id, sender, event_id, text)

        async def send(reply: str) -> None:
            path = f"{API}/rooms/{quote(room_id, safe='')}/send/m.room.message/{quote(event_id, safe='')}"
            body = {"msgtype": "m.text", "body": reply, "m.relates_to": {"m.in_reply_to": {"event_id": event_id}}}
            try:
                await self._retrying("PUT", path, body=body)
            except _ApiError as exc:
                raise SendError(f"matrix send to {room_id}: {exc}") from None

        await handle_inbound(ctx, inbound, send)


def _timeline_events(ctx: LaneContext, data: dict):
    """(room_id, event) for each timeline event of the joined rooms; parts
    of the wrong shape are counted as malformed and skipped."""
    rooms = data.get("rooms", {})
    joined = rooms.get("join", {}) if isinstance(rooms, dict) else None
    if not isinstance(joined, dict):
        ctx.malformed("sync answer", "rooms.join is not an object")
        return
    for room_id in sorted(joined):
        room = joined[room_id]
        timeline = room.get("timeline", {}) if isinstance(room, dict) else None
        events = timeline.get("events", []) if isinstance(timeline, dict) else None
        if not isinstance(events, list):
            ctx.malformed("sync answer", f"the timeline of a room is not {'an object' if events is None else 'a list'}")
            continue
        for event in events:
            if isinstance(event, dict):
                yield room_id, event
            else:
                ctx.malformed("event", f"an event is {kind_of(event)}, not an object")


async def run(ctx: LaneContext) -> None:
    await MatrixLane(ctx).run()
