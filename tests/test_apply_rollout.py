"""Issue 14, "What must hold", with real processes and the built-in fakes:
a six-lane `gateway run --config` owner (tests/fakes/six.py) changed live
by `gateway apply` and SIGHUP while a client sends a message every 50 ms
to each lane the apply must not disturb (tests/fakes/flow.py)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.fakes.feishu import message_event
from tests.fakes.flow import Flow
from tests.fakes.six import Fakes, Owner
from tests.support import poll

pytestmark = pytest.mark.slow

UNCHANGED_BY_LARK = ["telegram", "wecom", "matrix", "whatsapp", "qqbot"]


@pytest.fixture
def fakes():
    f = Fakes()
    yield f
    f.stop()


@pytest.fixture
def owner(tmp_path, fakes):
    o = Owner(tmp_path, fakes)
    o.start(6)
    yield o
    o.stop()


def _flowing(flow: Flow, since: float, n: int = 5, timeout: float = 30) -> None:
    got = poll(lambda: all(v >= n for v in flow.replies_since(since).values()), timeout, interval=0.05)
    assert got, f"replies since the mark: {flow.replies_since(since)}; lost so far: {flow.lost()}"


def _settle(flow: Flow) -> None:
    """Stop sending; every message sent has its answer within the deadline."""
    flow.stop_sending()
    poll(flow.all_answered, 30, interval=0.05)
    flow.close()


def test_repointing_one_lane_keeps_the_other_five_serving_without_a_gap(owner, fakes):
    before = owner.status()
    flow = Flow(owner.channels(before, UNCHANGED_BY_LARK)).start()
    try:
        _flowing(flow, 0.0)
        done = owner.apply_selectors("lark=home,telegram=bot_123456,wecom=alerts")
        assert done.returncode == 0, done.stdout + done.stderr + owner.log()[-3000:]
        assert "succeeded" in done.stdout and "1 replaced" in done.stdout, done.stdout
        _flowing(flow, time.monotonic())
    finally:
        _settle(flow)
    assert flow.lost() == {}, flow.lost()
    assert flow.doubled() == {}, flow.doubled()
    sent = {lane.channel.name: len(lane.sent) for lane in flow.lanes}
    assert all(n >= 10 for n in sent.values()), sent

    after = owner.status()
    pids_before, pids_after = Owner.pids(before), Owner.pids(after)
    for family in UNCHANGED_BY_LARK:
        assert pids_after[family] == pids_before[family], f"{family} was restarted"
    assert pids_after["feishu"] != pids_before["feishu"]
    assert Owner.lane(after, "feishu")["account"] == "home"
    assert after["last_apply"]["result"] == "succeeded"
    assert after["last_apply"]["lanes"]["replaced"] == ["feishu/home"] or \
        after["last_apply"]["lanes"]["replaced"] == ["feishu/work"], after["last_apply"]

    # The re-pointed lane answers as the new account, on the new account's API.
    old_replies = len(fakes.fs.snapshot_sent())
    assert fakes.fs2.wait_ws(1, 20)
    fakes.fs2.push_event(message_event("as home", message_id="om_home_1"))
    assert [s["text"] for s in fakes.fs2.wait_sent(1, 20)] == ["as home"]
    assert len(fakes.fs.snapshot_sent()) == old_replies
    for secret in fakes.secrets():
        assert secret not in done.stdout + done.stderr + owner.log()


def test_a_refused_token_is_refused_before_anything_stops(owner, fakes):
    before = owner.status()
    done = owner.apply_selectors("lark=work,telegram=bot_777,wecom=alerts")
    assert done.returncode == exitcodes.APPLY_FAILED, done.stdout + done.stderr
    assert "refused" in done.stdout and "preflight failed" in done.stdout
    assert "telegram/bot_777" in done.stdout and "401" in done.stdout, done.stdout
    after = owner.status()
    assert Owner.pids(after) == Owner.pids(before), "a lane was touched by a refused apply"
    assert after["plan_sha256"] == before["plan_sha256"]
    record = after["last_apply"]
    assert record["result"] == "refused" and "telegram/bot_777" in record["message"]
    fakes.tg.inject(123456789, 7, "still here")
    assert poll(lambda: "still here" in [s["text"] for s in fakes.tg.snapshot_sent()], 20)
    for secret in fakes.secrets():
        assert secret not in done.stdout + done.stderr


def test_a_token_refused_after_the_preflight_is_rolled_back(owner, fakes):
    """The token passes the preflight's getMe, then the API refuses it on the
    lane's own getUpdates (revoked in between, as /revoke in BotFather does):
    the new lane fails, the old one runs again and answers."""
    before = owner.status()
    fakes.tg2.fail_next("getUpdates", 401, count=1000, description="Unauthorized")
    done = owner.apply_selectors("lark=work,telegram=bot_654321,wecom=alerts", timeout=20)
    assert done.returncode == exitcodes.APPLY_FAILED, done.stdout + done.stderr
    assert "failed" in done.stdout and "rolled back" in done.stdout, done.stdout
    assert "telegram/bot_654321" in done.stdout and "401" in done.stdout, done.stdout
    after = poll(lambda: owner.connected(6, {"telegram": "bot_123456"}), 30, interval=0.1)
    assert after, owner.status()
    pids = Owner.pids(after)
    assert pids["telegram"] != Owner.pids(before)["telegram"]  # the old lane was started again
    assert {f: p for f, p in pids.items() if f != "telegram"} == \
        {f: p for f, p in Owner.pids(before).items() if f != "telegram"}
    assert after["plan_sha256"] == before["plan_sha256"]
    record = after["last_apply"]
    assert record["result"] == "failed" and "telegram/bot_654321" in record["message"]
    assert record["lanes"]["replaced"], record
    fakes.tg.inject(123456789, 7, "back again")
    assert poll(lambda: "back again" in [s["text"] for s in fakes.tg.snapshot_sent()], 20)
    assert fakes.tg2.snapshot_sent() == []
