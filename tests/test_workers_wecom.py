"""WeCom AI bot lane against the loopback long-connection fake: subscribe,
message in / stream reply out, allowlists, dead-connection detection,
reconnect after a drop, takeover as a lane failure."""

from __future__ import annotations


import pytest

from gatewayctl.fakes.wecom import FakeWeCom
from tests.fakes import plans
from tests.fakes.plans import wecom_env, wecom_lane
from tests.support import poll as _poll, read_json




def _status(path):
    return read_json(path, {})


@pytest.fixture
def wc():
    with FakeWeCom() as fake:
        yield fake


@pytest.mark.parametrize("ack_with_cmd", [False, True])
def test_group_and_single_messages_answered_with_a_finished_stream(tmp_path, ack_with_cmd):
    with FakeWeCom(ack_with_cmd=ack_with_cmd) as wc:
        lane = wecom_lane(wc, allowed_conversation_ids=("group_alerts", "lisi"))
        p = plans.plan([lane], plans.exec_handler())
        status = str(tmp_path / "lane.json")
        with plans.LaneThread(p, "wecom", wecom_env(wc), status_path=status):
            assert wc.wait_connected()
            rid = wc.inject("disk full on db1", chatid="group_alerts", userid="zhangsan")
            rid2 = wc.inject("hello", userid="lisi")
            sent = wc.wait_sent(2)
            assert sent, "no reply"
            by_req = {s["req_id"]: s for s in sent}
            assert by_req[rid]["content"] == "handled: disk full on db1"
            assert by_req[rid2]["content"] == "handled: hello"
            assert all(s["finish"] is True and s["msgtype"] == "stream" for s in sent)
            assert len({s["id"] for s in sent}) == 2  # one stream id per reply
            st = _poll(lambda: (d := _status(status)) and d.get("replies_sent") == 2 and d)
            assert st["connected"] is True and st["state"] == "running"
        subscribe = next(f for f in wc.frames if f.get("cmd") == "aibot_subscribe")
        assert subscribe["body"] == {"bot_id": wc.bot_id, "secret": wc.secret}
        assert subscribe["headers"]["req_id"]


def test_allowlist_misses_get_no_reply(wc, tmp_path):
    lane = wecom_lane(wc, allowed_conversation_ids=("group_alerts",), allowed_sender_ids=("zhangsan",))
    p = plans.plan([lane], plans.Handler(kind="echo"))
    status = str(tmp_path / "lane.json")
    with plans.LaneThread(p, "wecom", wecom_env(wc), status_path=status):
        assert wc.wait_connected()
        wc.inject("other group", chatid="group_other", userid="zhangsan")
        wc.inject("other sender", chatid="group_alerts", userid="mallory")
        wc.inject("direct, not allowed", userid="zhangsan")  # single chat: conversation = userid
        wc.inject("", chatid="group_alerts", userid="zhangsan", msgtype="image")
        wc.inject("ok", chatid="group_alerts", userid="zhangsan")
        assert wc.wait_sent(1)
        assert _poll(lambda: _status(status).get("messages_ignored") == 4)
    assert [s["content"] for s in wc.snapshot_sent()] == ["ok"]


def test_empty_conversation_allowlist_answers_nothing(wc, tmp_path):
    lane = wecom_lane(wc, allowed_conversation_ids=())
    p = plans.plan([lane], plans.Handler(kind="echo"))
    status = str(tmp_path / "lane.json")
    with plans.LaneThread(p, "wecom", wecom_env(wc), status_path=status):
        assert wc.wait_connected()
        wc.inject("anyone?", chatid="group_alerts")
        assert _poll(lambda: _status(status).get("messages_ignored") == 1)
        assert "fail closed" in (_status(status).get("last_error") or "")
    assert wc.snapshot_sent() == []


def test_reconnects_and_resubscribes_after_the_server_drops(wc, tmp_path):
    p = plans.plan([wecom_lane(wc)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "wecom", wecom_env(wc), status_path=str(tmp_path / "lane.json")):
        assert wc.wait_connected(1)
        wc.drop()
        assert wc.wait_connected(2, timeout=15)
        wc.inject("after the drop", chatid="group_alerts")
        assert wc.wait_sent(1)
    assert [s["content"] for s in wc.snapshot_sent()] == ["after the drop"]


@pytest.mark.slow  # waits out three 1 s ping intervals
def test_two_unanswered_pings_mean_a_dead_connection(wc, tmp_path):
    wc.answer_pings = False
    p = plans.plan([wecom_lane(wc, ping_interval_s=1, reconnect_interval_s=1)], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "wecom", wecom_env(wc), status_path=str(tmp_path / "lane.json")):
        assert wc.wait_connected(1)
        # two pings go unanswered, the third tick gives up and reconnects
        assert wc.wait_until(lambda: wc.connections >= 2, timeout=15)
        assert wc.pings >= 2


def test_takeover_is_a_lane_failure_that_says_so(wc, tmp_path):
    status = str(tmp_path / "lane.json")
    p = plans.plan([wecom_lane(wc)], plans.Handler(kind="echo"))
    thread = plans.LaneThread(p, "wecom", wecom_env(wc), status_path=status).start()
    assert wc.wait_connected()
    wc.takeover()
    outcome = thread.join(15)
    assert outcome is not None and outcome.kind == "lane"
    assert "disconnected_event" in outcome.message and "another client" in outcome.message
    assert "took over" in outcome.message
    assert wc.secret not in outcome.message and wc.bot_id not in outcome.message
    st = _status(status)
    assert st["state"] == "failed" and st["last_error"] == outcome.message
    assert wc.connections == 1  # no reconnect loop


def test_wrong_secret_is_a_lane_failure_without_the_secret(wc, tmp_path):
    env = wecom_env(wc) | {"WECOM_SECRET": "not-the-secret-xyz"}
    p = plans.plan([wecom_lane(wc)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "wecom", env).start().join(15)
    assert outcome.kind == "lane" and "aibot_subscribe" in outcome.message and "40001" in outcome.message
    assert "not-the-secret-xyz" not in outcome.message


def test_missing_secret_names_the_reference(wc):
    env = wecom_env(wc)
    del env["WECOM_SECRET"]
    p = plans.plan([wecom_lane(wc)], plans.Handler(kind="echo"))
    outcome = plans.LaneThread(p, "wecom", env).start().join(10)
    assert outcome.kind == "lane" and "WECOM_SECRET" in outcome.message and "`secret`" in outcome.message


def test_unreachable_server_backs_off_and_reports(tmp_path):
    fake = FakeWeCom().start()
    url = fake.url
    fake.stop()  # nothing listens there any more
    lane = plans.lane("wecom", "alerts", {"websocket_url": url, "ping_interval_s": 30, "reconnect_interval_s": 1,
                                         "allowed_conversation_ids": ["g"]},
                      [plans.SecretRef("bot_id", "env", "WECOM_BOT_ID"), plans.SecretRef("secret", "env", "WECOM_SECRET")])
    status = str(tmp_path / "lane.json")
    p = plans.plan([lane], plans.Handler(kind="echo"))
    with plans.LaneThread(p, "wecom", {"WECOM_BOT_ID": "b", "WECOM_SECRET": "s"}, status_path=status):
        st = _poll(lambda: (d := _status(status)) and "cannot connect" in (d.get("last_error") or "") and d)
        assert st and st["connected"] is False
