"""Unit tests of the worker parts: handlers, secrets, status file, text
splitting, lane selection, and the `lane serve` process contract."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gatewayctl.compile.plan import SecretRef
from gatewayctl.fakes import FakeTelegram
from gatewayctl.workers import handlers, secrets
from gatewayctl.workers.base import Backoff, HandlerError, LaneFailure, split_text
from gatewayctl.workers.serve import pick_lane
from gatewayctl.workers.status import StatusWriter
from tests.fakes import plans


def _req(text, rid="r1"):
    return {"id": rid, "family": "telegram", "account": "a", "conversation_id": "1", "sender_id": "2",
            "message_id": "3", "text": text}


# ---------------------------------------------------------------- handlers


def test_exec_handler_answers_by_id_and_null_means_no_reply():
    async def go():
        h = handlers.ExecHandler((sys.executable, plans.HANDLER_SCRIPT), 5.0)
        await h.start()
        try:
            results = await asyncio.gather(*(h.ask(_req(f"t{i}", f"id{i}")) for i in range(5)))
            assert results == [f"handled: t{i}" for i in range(5)]
            assert await h.ask(_req("silent", "s")) is None
        finally:
            await h.close()

    asyncio.run(go())


def test_exec_handler_restarts_with_backoff_after_dying():
    async def go():
        h = handlers.ExecHandler((sys.executable, plans.HANDLER_SCRIPT), 5.0, backoff=Backoff(0.05, 0.2))
        await h.start()
        try:
            with pytest.raises(HandlerError, match="exited with status 3"):
                await h.ask(_req("die", "d1"))
            assert await h.ask(_req("alive again", "a1")) == "handled: alive again"
            assert h.restarts == 1
        finally:
            await h.close()

    asyncio.run(go())


def test_exec_handler_drops_a_request_after_timeout():
    async def go():
        h = handlers.ExecHandler((sys.executable, plans.HANDLER_SCRIPT), 0.3)
        await h.start()
        try:
            t0 = time.monotonic()
            with pytest.raises(HandlerError, match=r"no answer within 0.3s; request slow1 dropped"):
                await h.ask(_req("slow", "slow1"))
            assert time.monotonic() - t0 < 2
            assert "slow1" not in h._pending  # the late answer will find nothing waiting
        finally:
            await h.close()

    asyncio.run(go())


def test_exec_handler_that_cannot_start_is_reported():
    async def go():
        h = handlers.ExecHandler(("/nonexistent/handler-binary",), 1.0)
        with pytest.raises(HandlerError, match="cannot start"):
            await h.start()

    asyncio.run(go())


def test_handler_env_drops_channel_credentials():
    env = handlers.handler_env({"TG_TOKEN"}, {"TG_TOKEN": "x", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}


def test_url_handler_errors_are_handler_errors():
    async def go():
        h = handlers.UrlHandler("http://127.0.0.1:9/turn", 1.0)  # discard port: nothing listens
        await h.start()
        try:
            with pytest.raises(HandlerError, match="unreachable"):
                await h.ask(_req("x"))
        finally:
            await h.close()

    asyncio.run(go())


# ---------------------------------------------------------------- secrets


def _lane_with(*refs):
    with FakeTelegram() as fake:
        ln = plans.lane("telegram", "a", {"base_url": fake.base_url}, list(refs))
    return ln


def test_secret_kinds_resolve(tmp_path):
    f = tmp_path / "tok"
    f.write_text("from-file\n")
    cfg = tmp_path / "gw.toml"
    cfg.write_text('[telegram]\nbot_token = "inline-value"\n')
    ln = _lane_with(
        SecretRef("a", "env", "A_NAME"),
        SecretRef("b", "file", str(f)),
        SecretRef("c", "exec", (sys.executable, "-c", "print('from-exec')")),
        SecretRef("bot_token", "inline", "/telegram/bot_token"),
    )
    p = plans.plan([ln], plans.Handler(kind="echo"), config_path=str(cfg))
    got = secrets.resolve(p, ln, environ={"A_NAME": "from-env"})
    assert [got.get(k) for k in "abc"] == ["from-env", "from-file", "from-exec"]
    assert got.get("bot_token") == "inline-value"
    assert got.redact("x from-file y") == "x *** y"


def test_inline_secret_from_json_config(tmp_path):
    cfg = tmp_path / "gw.json"
    cfg.write_text(json.dumps({"matrix": {"accounts": {"a/b": {"access_token": "tok-json"}}}}))
    ln = _lane_with(SecretRef("access_token", "inline", "/matrix/accounts/a~1b/access_token"))
    p = plans.plan([ln], plans.Handler(kind="echo"), config_path=str(cfg))
    assert secrets.resolve(p, ln, environ={}).get("access_token") == "tok-json"


@pytest.mark.parametrize(
    "ref, needle",
    [
        (SecretRef("bot_token", "env", "MISSING_VAR"), "environment variable MISSING_VAR is not set"),
        (SecretRef("bot_token", "file", "/nonexistent/token"), "file /nonexistent/token cannot be read"),
        (SecretRef("bot_token", "exec", (sys.executable, "-c", "import sys; print('leak'); sys.exit(4)")),
         "exited with status 4"),
        (SecretRef("bot_token", "inline", "/telegram/nope"), "inline value at /telegram/nope is gone"),
    ],
)
def test_missing_secret_names_reference_never_value(tmp_path, ref, needle):
    cfg = tmp_path / "gw.toml"
    cfg.write_text('[telegram]\nother = "x"\n')
    ln = _lane_with(ref)
    p = plans.plan([ln], plans.Handler(kind="echo"), config_path=str(cfg))
    with pytest.raises(LaneFailure) as err:
        secrets.resolve(p, ln, environ={})
    assert needle in err.value.message and "bot_token" in err.value.message
    assert "leak" not in err.value.message


def test_inline_secret_in_yaml_is_refused_clearly(tmp_path):
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("telegram:\n  bot_token: abc\n")
    ln = _lane_with(SecretRef("bot_token", "inline", "/telegram/bot_token"))
    p = plans.plan([ln], plans.Handler(kind="echo"), config_path=str(cfg))
    with pytest.raises(LaneFailure, match="YAML config"):
        secrets.resolve(p, ln, environ={})


# ---------------------------------------------------------------- status, text, lanes


class _FakeClock:
    def __init__(self):
        self.t = 100.0

    def now_ms(self):
        return int(self.t * 1000)

    def monotonic(self):
        return self.t


def test_status_file_is_written_atomically_and_coalesced(tmp_path):
    path = tmp_path / "s" / "lane.json"
    clock = _FakeClock()
    st = StatusWriter(str(path), family="telegram", account="a", clock=clock)
    st.flush()
    st.connected(True)
    data = json.loads(path.read_text())
    assert data["connected"] is True and data["state"] == "running"
    st.message_received()  # within 0.2 s of the last write and no loop: written now
    clock.t += 1
    st.reply_sent()
    data = json.loads(path.read_text())
    assert data["messages_received"] == 1 and data["replies_sent"] == 1
    assert data["last_inbound_at_ms"] == 100000
    assert set(data) >= {"connected", "messages_received", "replies_sent", "handler_errors",
                         "last_inbound_at_ms", "last_error"}
    assert [p.name for p in path.parent.iterdir()] == ["lane.json"]  # no temp files left


def test_split_text_counts_utf16_and_prefers_newlines():
    assert split_text("abc", 4096) == ["abc"]
    emoji = "😀" * 3000  # 6000 UTF-16 units
    parts = split_text(emoji, 4096)
    assert "".join(parts) == emoji and all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    text = "a" * 3000 + "\n" + "b" * 3000
    assert split_text(text, 4096) == ["a" * 3000 + "\n", "b" * 3000]


def test_pick_lane_uses_owner_env_for_a_bare_family():
    with FakeTelegram() as fake:
        a = plans.telegram_lane(fake, account="a")
        b = plans.telegram_lane(fake, account="b")
    p = plans.plan([a, b], plans.Handler(kind="echo"))
    assert pick_lane(p, "telegram", "telegram/b")[0] is b
    assert pick_lane(p, "telegram/a")[0] is a
    lane, problem = pick_lane(p, "telegram")
    assert lane is None and "ambiguous" in problem
    assert pick_lane(p, "matrix")[0] is None


# ---------------------------------------------------------------- the process


def _serve(plan_path, lane, env, **kw):
    full = {"PATH": os.environ.get("PATH", ""), **env}
    return subprocess.Popen([sys.executable, "-m", "gatewayctl", "lane", "serve", "--plan", plan_path, "--lane", lane],
                            env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), **kw)


@pytest.mark.slow
def test_lane_serve_process_replies_and_exits_0_on_sigterm(tmp_path):
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")), str(tmp_path / "p.json"))
        status = tmp_path / "rt" / "lane.json"
        proc = _serve(plan_path, "telegram", {"TG_TOKEN": tg.token, "GATEWAYCTL_LANE_STATUS": str(status)})
        try:
            tg.inject(42, 7, "via process")
            assert tg.wait_sent(1, timeout=20)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert tg.token not in err
        assert (tmp_path / "rt" / "cursor-telegram-bot_123456.json").exists()
        assert json.loads(status.read_text())["state"] == "stopped"


@pytest.mark.slow
def test_lane_serve_process_fails_with_one_line_reason(tmp_path):
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.Handler(kind="echo")), str(tmp_path / "p.json"))
    proc = _serve(plan_path, "telegram", {})
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 1
    assert err.count("\n") == 1 and "TG_TOKEN" in err and "not set" in err
    proc = _serve(plan_path, "matrix", {})
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 2 and "not there" in err
    (tmp_path / "junk.json").write_text("{}")
    proc = _serve(str(tmp_path / "junk.json"), "telegram", {})
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 7 and "not a plan" in err


@pytest.mark.slow
def test_lane_killed_mid_stream_loses_nothing_repeats_at_most_the_turn_in_flight(tmp_path):
    # SIGKILL leaves no time to finish a turn: the cursor is saved right after
    # each reply, so at most the one message being answered can come again.
    with FakeTelegram() as tg:
        plan_path = plans.write(plans.plan([plans.telegram_lane(tg)], plans.exec_handler()), str(tmp_path / "p.json"))
        env = {"TG_TOKEN": tg.token, "GATEWAYCTL_LANE_STATUS": str(tmp_path / "rt" / "lane.json")}
        texts = [f"k{i}" for i in range(400)]
        proc = _serve(plan_path, "telegram", env)
        for t in texts:
            tg.inject(42, 7, t)
        assert tg.wait_sent(10, timeout=20)
        proc.kill()
        proc.communicate(timeout=15)
        assert len(tg.snapshot_sent()) < len(texts), "killed too late to be mid-stream"
        proc = _serve(plan_path, "telegram", env)
        try:
            assert _wait_all(tg, {f"handled: {t}" for t in texts})
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=15)
        replies = [s["text"] for s in tg.snapshot_sent()]
        assert set(replies) == {f"handled: {t}" for t in texts}
        assert len(replies) - len(set(replies)) <= 1


def _wait_all(tg, wanted, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted <= {s["text"] for s in tg.snapshot_sent()}:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("handler", [None, plans.Handler(kind="exec"), plans.Handler(kind="url")])
def test_lane_without_a_usable_handler_fails_clearly(handler):
    with FakeTelegram() as tg:
        p = plans.plan([plans.telegram_lane(tg)], handler)
        outcome = plans.LaneThread(p, "telegram", {"TG_TOKEN": tg.token}).start().join(10)
    assert outcome.kind == "lane" and "[handler]" in outcome.message
