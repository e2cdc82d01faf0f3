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
    assert after["last_apply"]["lanes"]["replaced"] == ["feishu/home"], after["last_apply"]

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

    # A lane that keeps retrying never exits: the apply gives up at its
    # timeout and says what the worker last reported.
    with fakes.tg2.cond:
        fakes.tg2.failures.clear()
    fakes.tg2.fail_next("getUpdates", 500, count=1000)
    done = owner.apply_selectors("lark=work,telegram=bot_654321,wecom=alerts", timeout=5)
    assert done.returncode == exitcodes.APPLY_FAILED, done.stdout + done.stderr
    assert "telegram/bot_654321: not ready within 5 s (last error:" in done.stdout and "500" in done.stdout, done.stdout
    assert "rolled back" in done.stdout
    assert poll(lambda: owner.connected(6, {"telegram": "bot_123456"}), 30, interval=0.1), owner.status()


def _pid_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _sighup_record(owner: Owner, after_id) -> dict:
    def done():
        record = owner.status().get("last_apply") or {}
        ok = record.get("origin") == "sighup" and record.get("id") != after_id and \
            record.get("result") not in (None, "running")
        return record if ok else None

    record = poll(done, 90, interval=0.1)
    assert record, (owner.status().get("last_apply"), owner.log()[-3000:])
    return record


def test_remove_and_add_no_op_and_sighup_after_editing_or_breaking_the_config(tmp_path, fakes):
    owner = Owner(tmp_path, fakes, disabled=("qqbot",))
    before = owner.start(5)
    try:
        # Nothing changed: a no-op that says so, nothing restarted.
        same = owner.apply_selectors("lark=work,telegram=bot_123456,wecom=alerts")
        assert same.returncode == 0 and "no-op" in same.stdout and "no changes" in same.stdout, same.stdout
        assert Owner.pids(owner.status()) == Owner.pids(before)

        # One apply removes matrix and adds qqbot.
        (tmp_path / "next.toml").write_text(fakes.config(disabled=("matrix",)))
        done = owner.apply("--config", "next.toml", "--selectors", "lark=work,telegram=bot_123456,wecom=alerts",
                           "--port", "0")
        assert done.returncode == 0, done.stdout + done.stderr + owner.log()[-3000:]
        assert "1 added" in done.stdout and "1 removed" in done.stdout, done.stdout
        moved = poll(lambda: owner.connected(5), 30, interval=0.1)
        assert moved and sorted(Owner.pids(moved)) == ["feishu", "qqbot", "telegram", "wecom", "whatsapp"], moved
        for family in ("feishu", "telegram", "wecom", "whatsapp"):
            assert Owner.pids(moved)[family] == Owner.pids(before)[family], family
        assert poll(lambda: _pid_gone(Owner.pids(before)["matrix"]), 15), "the removed lane's worker still runs"
        record = moved["last_apply"]
        assert [n.split("/")[0] for n in record["lanes"]["added"]] == ["qqbot"], record
        assert [n.split("/")[0] for n in record["lanes"]["removed"]] == ["matrix"], record
        fakes.qq.inject_c2c("u_alice", "qq after apply")
        assert [s["content"] for s in fakes.qq.wait_sent(1, 20)] == ["qq after apply"]

        # SIGHUP recompiles gw.toml (what the owner was started from), edited:
        # matrix off, qqbot on (as now) and telegram also answers chat 555.
        owner.config.write_text(fakes.config(chat_ids=(123456789, 555), disabled=("matrix",)))
        last_id = record["id"]
        os.kill(moved["pid"], signal.SIGHUP)
        hup = _sighup_record(owner, last_id)
        assert hup["result"] == "succeeded", hup
        assert len(hup["lanes"]["replaced"]) == 1 and hup["lanes"]["replaced"][0].startswith("telegram/"), hup
        fakes.tg.inject(555, 7, "from the new chat")
        assert poll(lambda: "from the new chat" in [s["text"] for s in fakes.tg.snapshot_sent()], 30), \
            owner.log()[-2000:]
        applied = owner.status()

        # SIGHUP after breaking the config: nothing changes, the diagnostics are logged.
        owner.config.write_text(owner.config.read_text().replace("polling_timeout_s = 1", "polling_timeout_s = \"soon\""))
        os.kill(moved["pid"], signal.SIGHUP)
        broken = _sighup_record(owner, hup["id"])
        assert broken["result"] == "refused", broken
        assert "does not compile" in broken["message"] and "gw.toml" in broken["message"], broken["message"]
        assert "polling_timeout_s" in broken["message"], broken["message"]
        after = owner.status()
        assert Owner.pids(after) == Owner.pids(applied) and after["plan_sha256"] == applied["plan_sha256"]
        assert "polling_timeout_s" in owner.log()
        fakes.tg.inject(555, 7, "still answering")
        assert poll(lambda: "still answering" in [s["text"] for s in fakes.tg.snapshot_sent()], 30)
    finally:
        owner.stop()


def test_a_detached_owner_started_from_a_config_honours_sighup_and_apply(tmp_path, fakes):
    others = ("feishu", "wecom", "matrix", "whatsapp", "qqbot")
    owner = Owner(tmp_path, fakes, selectors="telegram=bot_123456", disabled=others, detach=True)
    try:
        st = owner.start(1)
        assert owner.proc.wait(30) == 0  # the launcher returned; the owner runs in the background
        assert st["pid"] != owner.proc.pid
        owner.config.write_text(fakes.config(chat_ids=(123456789, 555), disabled=others))
        os.kill(st["pid"], signal.SIGHUP)
        record = _sighup_record(owner, None)
        assert record["result"] == "succeeded", (record, owner.log()[-3000:])
        fakes.tg.inject(555, 7, "detached and reloaded")
        assert poll(lambda: "detached and reloaded" in [s["text"] for s in fakes.tg.snapshot_sent()], 30)
        assert owner.status()["plan_sha256"] == record["to"]

        # `gateway apply` reaches the background owner over its control API too.
        done = owner.apply_selectors("telegram=bot_654321")
        assert done.returncode == 0 and "1 replaced" in done.stdout, done.stdout + done.stderr
        fakes.tg2.inject(555, 7, "as the second bot")
        assert poll(lambda: "as the second bot" in [s["text"] for s in fakes.tg2.snapshot_sent()], 30)
    finally:
        owner.stop()
