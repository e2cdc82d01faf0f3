"""Message flow against the loopback fakes while an owner is being changed
(tests/test_apply_rollout.py, bench/bench_apply.py).

``Flow`` sends one message every ``interval_s`` to each of the given lanes
(a thread per lane, each message text a unique id), watches the fakes'
outgoing records for the echoed replies, and tells afterwards which ids
were never answered, which were answered more than once, and the longest
interval without a new reply on each lane (the silence an operator would
see). The owner's lanes echo (``[gateway.handler] echo = true``), so a
reply's text is the message id it answers.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from gatewayctl.fakes import post_webhook, webhook_payload
from gatewayctl.fakes.feishu import message_event

ROOM = "!room:localhost"


@dataclass
class Channel:
    """How to send one message into a lane and read the replies it sent."""

    name: str
    send: Callable[[str], None]
    fake: object
    reply_text: Callable[[dict], str | None]

    def replies(self) -> list[str]:
        with self.fake.cond:
            records = list(self.fake.sent)
        return [t for t in (self.reply_text(r) for r in records) if t is not None]


def telegram(fake, chat_id: int = 123456789) -> Channel:
    return Channel("telegram", lambda text: fake.inject(chat_id, 7, text), fake, lambda r: r.get("text"))


def feishu(fake) -> Channel:
    return Channel("feishu", lambda text: fake.push_event(message_event(text, message_id=f"om_{text}")), fake,
                   lambda r: r.get("text"))


def wecom(fake, chatid: str = "group_alerts") -> Channel:
    # A streamed reply may come in several frames; the finished one is the answer.
    return Channel("wecom", lambda text: fake.inject(text, chatid=chatid), fake,
                   lambda r: r.get("content") if r.get("finish") is not False else None)


def matrix(fake, room: str = ROOM) -> Channel:
    return Channel("matrix", lambda text: fake.inject(room, "@alice:localhost", text), fake,
                   lambda r: (r.get("content") or {}).get("body"))


def whatsapp(fake, webhook_url: str, app_secret: str) -> Channel:
    def send(text: str) -> None:
        code, body = post_webhook(webhook_url, webhook_payload(fake.phone_number_id, "1555", text, f"wamid.{text}"),
                                  app_secret, timeout=10)
        if code != 200:
            raise RuntimeError(f"whatsapp webhook answered {code}: {body[:200]!r}")

    return Channel("whatsapp", send, fake, lambda r: r.get("text"))


def qqbot(fake, user: str = "u_alice") -> Channel:
    return Channel("qqbot", lambda text: fake.inject_c2c(user, text), fake, lambda r: r.get("content"))


@dataclass
class LaneFlow:
    channel: Channel
    sent: list[str] = field(default_factory=list)
    send_errors: list[str] = field(default_factory=list)
    first_seen: dict[str, float] = field(default_factory=dict)  # reply id -> monotonic time first seen


class Flow:
    def __init__(self, channels: list[Channel], *, interval_s: float = 0.05, watch_s: float = 0.005):
        self.interval_s = interval_s
        self.watch_s = watch_s
        self.lanes = [LaneFlow(c) for c in channels]
        self._stop = threading.Event()
        self._stop_watch = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watcher: threading.Thread | None = None

    def start(self) -> "Flow":
        for lane in self.lanes:
            t = threading.Thread(target=self._send_loop, args=(lane,), daemon=True, name=f"flow-{lane.channel.name}")
            t.start()
            self._threads.append(t)
        self._watcher = threading.Thread(target=self._watch_loop, daemon=True, name="flow-watch")
        self._watcher.start()
        return self

    def _send_loop(self, lane: LaneFlow) -> None:
        prefix = lane.channel.name[:2]
        next_at = time.monotonic()
        for n in itertools.count(1):
            if self._stop.is_set():
                return
            text = f"{prefix}-{n}"
            lane.sent.append(text)
            try:
                lane.channel.send(text)
            except Exception as exc:  # noqa: BLE001 - reported by lost()
                lane.send_errors.append(f"{text}: {type(exc).__name__}: {exc}")
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _watch_loop(self) -> None:
        while not self._stop_watch.is_set():
            now = time.monotonic()
            for lane in self.lanes:
                for text in lane.channel.replies():
                    lane.first_seen.setdefault(text, now)
            self._stop_watch.wait(self.watch_s)

    def stop_sending(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)

    def close(self) -> None:
        self.stop_sending()
        self._stop_watch.set()
        if self._watcher is not None:
            self._watcher.join(5)

    # -- results ------------------------------------------------------------

    def answered(self, lane: LaneFlow) -> Counter:
        return Counter(lane.channel.replies())

    def all_answered(self) -> bool:
        return all(set(lane.sent) <= set(self.answered(lane)) for lane in self.lanes)

    def replies_since(self, t0: float) -> dict[str, int]:
        return {lane.channel.name: sum(1 for t in list(lane.first_seen.values()) if t >= t0) for lane in self.lanes}

    def lost(self) -> dict[str, list[str]]:
        out = {}
        for lane in self.lanes:
            answered = self.answered(lane)
            missing = [m for m in lane.sent if m not in answered]
            if missing or lane.send_errors:
                out[lane.channel.name] = missing + lane.send_errors
        return out

    def doubled(self) -> dict[str, dict[str, int]]:
        out = {}
        for lane in self.lanes:
            many = {m: n for m, n in self.answered(lane).items() if n > 1}
            if many:
                out[lane.channel.name] = many
        return out

    def longest_silence(self, t0: float, t1: float) -> dict[str, float]:
        """Per lane, the longest interval in [t0, t1] without a new reply."""
        out = {}
        for lane in self.lanes:
            times = sorted(t for t in list(lane.first_seen.values()) if t0 <= t <= t1)
            edges = [t0] + times + [t1]
            out[lane.channel.name] = max(b - a for a, b in zip(edges, edges[1:]))
        return out
