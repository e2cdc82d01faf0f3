"""The lane's fleet deadline (workers/fence.py): a lane stops serving by
itself once the deadline its owner keeps extending has passed, even when
the owner is paused, and a lane resumed after its deadline sends nothing.

Units first (the descriptor, check, the watchdog on a driven clock), then
real ``gatewayctl lane serve`` processes against the Telegram fake, with
the fence descriptor passed the way the owner passes it (pass_fds and
$GATEWAYCTL_LANE_FENCE_FD)."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

from gatewayctl.cli import exitcodes
from gatewayctl.fakes import FakeTelegram
from gatewayctl.workers import fence as fence_mod
from gatewayctl.workers.base import Inbound, handle_inbound
from gatewayctl.workers.fence import EX_FENCED, ENV_FENCE_FD, Fence, Fenced, watchdog
from tests.fakes import plans
from tests.support import poll, read_json

S = 1_000_000_000


class FenceFile:
    """The owner's side: a 16-byte file, pwrite()n whole at offset 0."""

    def __init__(self, path, stop_ns: int, dead_ns: int):
        self.path = str(path)
        self.wfd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.set(stop_ns, dead_ns)
        self.rfd = os.open(self.path, os.O_RDONLY)

    def set(self, stop_ns: int, dead_ns: int) -> None:
        os.pwrite(self.wfd, struct.pack("<qq", stop_ns, dead_ns), 0)

    def from_now(self, stop_s: float, dead_s: float) -> tuple[int, int]:
        now = time.monotonic_ns()
        stop_ns, dead_ns = now + int(stop_s * S), now + int(dead_s * S)
        self.set(stop_ns, dead_ns)
        return stop_ns, dead_ns

    def close(self) -> None:
        os.close(self.wfd)
        os.close(self.rfd)


@pytest.fixture
def fence_file(tmp_path):
    now = time.monotonic_ns()
    ff = FenceFile(tmp_path / "fence", now + 60 * S, now + 70 * S)
    yield ff
    ff.close()


# ---------------------------------------------------------------- units


def test_no_variable_no_fence():
    assert Fence.from_env({}) is None


def test_a_future_deadline_lets_the_lane_on_a_passed_one_trips_once(fence_file):
    fence = Fence.from_env({ENV_FENCE_FD: str(fence_file.rfd)}, lane="telegram/a")
    trips = []
    fence.on_trip = lambda: trips.append(1)
    fence.check("polling")
    assert fence.tripped is None and trips == []
    fence_file.from_now(-0.5, 5)
    with pytest.raises(Fenced) as exc:
        fence.check("polling getUpdates")
    assert "telegram/a" in exc.value.message and "polling getUpdates" in exc.value.message
    assert "lease could not be renewed in time" in exc.value.message
    # Tripped for good: a later renewal does not un-fence a stopping lane.
    fence_file.from_now(60, 70)
    with pytest.raises(Fenced):
        fence.check("sending a reply")
    assert trips == [1]


@pytest.mark.parametrize("case", ["short", "closed", "not-a-number"])
def test_an_unusable_descriptor_fails_closed(tmp_path, case):
    if case == "short":
        path = tmp_path / "short"
        path.write_bytes(b"\x00" * 8)
        fd = os.open(path, os.O_RDONLY)
        value = str(fd)
    elif case == "closed":
        fd = os.open(tmp_path, os.O_RDONLY)
        os.close(fd)
        value = str(fd)
    else:
        fd, value = None, "three"
    try:
        fence = Fence.from_env({ENV_FENCE_FD: value}, lane="telegram/a")
        with pytest.raises(Fenced) as exc:
            fence.check("polling")
        expected = {"short": "holds 8 of 16 bytes", "closed": "cannot read the fence descriptor",
                    "not-a-number": "is not a descriptor number"}[case]
        assert expected in exc.value.message and fence.tripped == exc.value.message
    finally:
        if case == "short":
            os.close(fd)


class DrivenClock:
    def __init__(self, start_ns: int):
        self.now = start_ns
        self.sleeps: list[float] = []

    def __call__(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += int(seconds * S)
        await asyncio.sleep(0)


def test_watchdog_stops_at_stop_ns_exits_at_dead_ns_and_follows_renewals(fence_file):
    clock = DrivenClock(1_000 * S)
    fence_file.set(clock.now + 3 * S, clock.now + 5 * S)
    fence = Fence(fence_file.rfd, lane="telegram/a", clock_ns=clock)
    events = []
    fence.on_trip = lambda: events.append(("stop", clock.now))
    renewed = []

    async def sleep(seconds):
        await clock.sleep(seconds)
        if clock.now >= 1_002 * S and not renewed:  # one renewal, 2 s in: both deadlines move 4 s on
            renewed.append(True)
            fence_file.set(clock.now + 3 * S, clock.now + 5 * S)

    asyncio.run(watchdog(fence, exit=lambda code: events.append(("exit", code, clock.now)), sleep=sleep))
    assert events == [("stop", 1_005 * S), ("exit", EX_FENCED, 1_007 * S)]
    assert max(clock.sleeps) <= fence_mod.WATCH_EVERY_S  # a deadline moved closer is seen within a second


def test_watchdog_with_an_unusable_descriptor_exits_at_once(tmp_path):
    fence = Fence.from_env({ENV_FENCE_FD: "x"}, lane="telegram/a")
    codes = []
    asyncio.run(watchdog(fence, exit=codes.append))
    assert codes == [EX_FENCED] and fence.tripped


def test_handle_inbound_neither_asks_nor_sends_past_the_deadline(fence_file):
    fence = Fence(fence_file.rfd, lane="telegram/a")
    fence_file.from_now(-1, -1)
    asked, sent = [], []

    class Handler:
        async def ask(self, request):
            asked.append(request)
            return "reply"

    class Ctx:
        lane = plans.lane("telegram", "a", {}, [])
        handler = Handler()

        def check_fence(self, what):
            fence.check(what)

    async def send(text):
        sent.append(text)

    with pytest.raises(Fenced):
        asyncio.run(handle_inbound(Ctx(), Inbound("42", "7", "1", "hi"), send))
    assert asked == [] and sent == []


def test_exit_code_75_is_the_lane_fenced_code():
    assert EX_FENCED == exitcodes.LANE_FENCED == 75


def test_a_fenced_lane_in_process_ends_fenced_and_says_why(tmp_path, fence_file):
    with FakeTelegram() as tg:
        p = plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo"))
        status = str(tmp_path / "lane.json")
        env = {"TG_TOKEN": tg.token, ENV_FENCE_FD: str(fence_file.rfd)}
        lane = plans.LaneThread(p, "telegram", env, status_path=status, state_dir=str(tmp_path)).start()
        try:
            tg.inject(42, 7, "before")
            assert tg.wait_sent(1, timeout=20)
            fence_file.from_now(-0.1, 30)  # stop passed, the dead deadline far off: the graceful path
            outcome = lane.join(20)
        finally:
            lane.stop()
        assert outcome.kind == "fenced" and "lease could not be renewed in time" in outcome.message
        st = read_json(status)
        assert st["state"] == "stopped" and "lease could not be renewed" in st["last_error"]


# ---------------------------------------------------------------- processes


def _serve(plan_path, env, fence_fd):
    full = {"PATH": os.environ.get("PATH", ""), **env, ENV_FENCE_FD: str(fence_fd)}
    return subprocess.Popen([sys.executable, "-m", "gatewayctl", "lane", "serve", "--plan", plan_path,
                             "--lane", "telegram"], env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, pass_fds=(fence_fd,),
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _polls(tg) -> int:
    with tg.cond:
        return sum(1 for m, _ in tg.calls if m == "getUpdates")


def _polling(tg):
    with tg.cond:
        return bool(tg._polls)


@pytest.mark.slow
@pytest.mark.parametrize("dead_s", [-0.1, 30.0], ids=["dead-passed", "graceful"])
def test_a_lane_past_its_deadline_exits_75_without_polling_or_sending(tmp_path, fence_file, dead_s):
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")),
                                str(tmp_path / "p.json"))
        status = tmp_path / "rt" / "lane.json"
        proc = _serve(plan_path, {"TG_TOKEN": tg.token, "GATEWAYCTL_LANE_STATUS": str(status)}, fence_file.rfd)
        try:
            tg.inject(42, 7, "served")
            assert tg.wait_sent(1, timeout=20)
            assert tg.wait_until(lambda: _polling(tg), timeout=20)
            fence_file.from_now(-0.1, dead_s)
            polls = _polls(tg)  # the poll in progress is counted; no later one may come
            tg.inject(42, 7, "after the deadline")
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == EX_FENCED, err
        assert _polls(tg) == polls
        assert [s["text"] for s in tg.snapshot_sent()] == ["served"]
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "lease could not be renewed in time" in lines[0], err
        assert tg.token not in err


@pytest.mark.slow
def test_a_deadline_extended_in_time_keeps_the_lane_serving(tmp_path, fence_file):
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")),
                                str(tmp_path / "p.json"))
        fence_file.from_now(1.0, 1.5)
        proc = _serve(plan_path, {"TG_TOKEN": tg.token}, fence_file.rfd)
        done = threading.Event()

        def owner():  # renews every 0.2 s with a 1 s budget, like a keepalive loop
            while not done.wait(0.2):
                fence_file.from_now(1.0, 1.5)

        renewer = threading.Thread(target=owner, daemon=True)
        renewer.start()
        try:
            started, i = time.monotonic(), 0
            while time.monotonic() - started < 4.0:  # four budgets of 1 s: each message is answered
                tg.inject(42, 7, f"m{i}")
                assert tg.wait_sent(i + 1, timeout=20), f"m{i} not answered"
                assert proc.poll() is None
                i += 1
                done.wait(0.1)
            done.set()
            renewer.join(5)
            t_end = time.monotonic_ns()
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == EX_FENCED, err
            # stopped by the deadline, not earlier than one budget after the last renewal
            assert time.monotonic_ns() - t_end >= int(0.8 * S)
        finally:
            done.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.mark.slow
def test_a_lane_resumed_after_its_deadline_sends_nothing(tmp_path, fence_file):
    """SIGSTOP with a message on its way, the deadline passes, SIGCONT: the
    lane finds the update in its socket, and exits 75 without answering."""
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")),
                                str(tmp_path / "p.json"))
        status = tmp_path / "rt" / "lane.json"
        proc = _serve(plan_path, {"TG_TOKEN": tg.token, "GATEWAYCTL_LANE_STATUS": str(status)}, fence_file.rfd)
        try:
            assert tg.wait_until(lambda: _polling(tg), timeout=20)
            assert poll(lambda: (read_json(str(status)) or {}).get("connected"), timeout=20)
            proc.send_signal(signal.SIGSTOP)
            tg.inject(42, 7, "while stopped")  # answers the poll in progress: the update waits in the socket
            _, dead_ns = fence_file.from_now(0.2, 0.4)
            assert poll(lambda: time.monotonic_ns() > dead_ns + S // 2, timeout=10)
            proc.send_signal(signal.SIGCONT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.communicate()
        assert proc.returncode == EX_FENCED, err
        assert tg.snapshot_sent() == []
        assert len(err.strip().splitlines()) == 1 and "lease could not be renewed in time" in err


@pytest.mark.slow
def test_a_lane_stuck_in_a_turn_is_ended_at_its_dead_deadline(tmp_path, fence_file):
    """The graceful stop would wait for the turn (the handler answers after
    5 s); the dead deadline comes first: the watchdog ends the process, and
    the late answer is never sent."""
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.exec_handler(), stop_grace_s=5.0),
                                str(tmp_path / "p.json"))
        status = str(tmp_path / "rt" / "lane.json")
        proc = _serve(plan_path, {"TG_TOKEN": tg.token, "GATEWAYCTL_LANE_STATUS": status}, fence_file.rfd)
        try:
            tg.inject(42, 7, "slow")  # the test handler answers this one after 5 s
            assert poll(lambda: (read_json(status) or {}).get("messages_received") == 1, timeout=20)
            fence_file.from_now(-0.1, 0.5)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == EX_FENCED, err
        # (the handler, left without its lane, may add its own broken-pipe lines)
        lane_lines = [ln for ln in err.splitlines() if "telegram/bot_123456" in ln]
        assert len(lane_lines) == 1, err
        assert lane_lines[0].startswith("lane telegram/bot_123456: the lane did not stop by its deadline (")
        assert "could not be renewed in time; exiting with 75" in lane_lines[0]
        assert tg.snapshot_sent() == []


# ---------------------------------------------------------------- every family


def _family_cases():
    from gatewayctl.fakes import FakeFeishu, FakeMatrix, FakeQQBot, FakeWeCom, FakeWhatsAppCloud, post_webhook, \
        webhook_payload
    from gatewayctl.fakes.feishu import message_event

    from websockets.exceptions import ConnectionClosed

    def pushed(push):
        """A push over the lane's websocket; the lane may have stopped already
        (its fence tripped on a frame before this one): nothing to push to."""
        def send(fake, status, text):
            try:
                push(fake, text)
            except (ConnectionClosed, AssertionError):
                return None
        return send

    def whatsapp_send(fake, status, text):
        url = poll(lambda: (read_json(status) or {}).get("webhook_url"))
        n = fake.next_id
        try:
            return post_webhook(url, webhook_payload(fake.phone_number_id, "15551234567", text, f"wamid.IN{n}{text}"),
                                "fence-secret")[0]
        except OSError:  # the lane already stopped listening
            return None

    return {
        "telegram": (FakeTelegram, plans.telegram_lane, lambda f: {"TG_TOKEN": f.token},
                     lambda f, st: f.wait_until(lambda: f._polls, timeout=20),
                     lambda f, st, text: f.inject(42, 7, text)),
        "matrix": (FakeMatrix, plans.matrix_lane, lambda f: {"MX_TOKEN": f.access_token},
                   lambda f, st: f.wait_until(lambda: len(f.sync_calls) >= 2, timeout=20),
                   lambda f, st, text: f.inject("!room:localhost", "@alice:localhost", text)),
        "wecom": (FakeWeCom, plans.wecom_lane, plans.wecom_env, lambda f, st: f.wait_connected(1, timeout=20),
                  pushed(lambda f, text: f.inject(text, chatid="group_alerts"))),
        "feishu": (FakeFeishu, plans.feishu_lane, plans.feishu_env, lambda f, st: f.wait_ws(1, timeout=20),
                   pushed(lambda f, text: f.push_event(message_event(text)))),
        "qqbot": (FakeQQBot, plans.qqbot_lane, plans.qqbot_env, lambda f, st: f.wait_ready(1, timeout=20),
                  pushed(lambda f, text: f.inject_c2c("u_alice", text))),
        "whatsapp": (FakeWhatsAppCloud, plans.whatsapp_lane,
                     lambda f: {"WA_TOKEN": f.access_token, "WA_VERIFY": "v", "WA_APP_SECRET": "fence-secret"},
                     lambda f, st: poll(lambda: (read_json(st) or {}).get("webhook_url"), timeout=20),
                     whatsapp_send),
    }


@pytest.mark.parametrize("family", ["telegram", "matrix", "wecom", "feishu", "qqbot", "whatsapp"])
def test_every_family_stops_at_its_deadline_and_answers_nothing_after(tmp_path, fence_file, family):
    fake_class, make_lane, make_env, ready, send = _family_cases()[family]
    with fake_class() as fake:
        p = plans.plan([make_lane(fake)], plans.Handler(kind="echo"))
        status = str(tmp_path / "lane.json")
        env = {**make_env(fake), ENV_FENCE_FD: str(fence_file.rfd)}
        lane = plans.LaneThread(p, family, env, status_path=status, state_dir=str(tmp_path)).start()
        try:
            assert ready(fake, status), f"{family} lane never got ready"
            send(fake, status, "before")
            assert fake.wait_sent(1, timeout=20), f"{family}: no reply before the deadline"
            fence_file.from_now(-0.1, 30)
            send(fake, status, "after")
            outcome = lane.join(20)
        finally:
            lane.stop()
        assert outcome is not None and outcome.kind == "fenced", outcome
        assert len(fake.snapshot_sent()) == 1
        assert fake.overlaps == 0
