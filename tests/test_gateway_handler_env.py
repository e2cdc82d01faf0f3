"""[gateway.handler] env: the handler's own variables, by name, config to handler process.

Schema (names validated like the plan's env names), compiler (sorted,
unique), plan file (round trip; older plans without the key still load),
owner (passes the names to every lane), worker (the exec handler gets
exactly those plus the base variables, never the lane's channel
credentials), and one run through the owner, a real `lane serve` and a real
exec handler against the Telegram fake.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import jsonschema
import pytest

from gatewayctl.catalog import load_schema
from gatewayctl.compile import planfile
from gatewayctl.compile.plan import BASE_ENV, Handler, SecretRef
from gatewayctl.runtime.owner import lane_environment
from gatewayctl.validate import schema as schema_stage
from gatewayctl.workers import handlers, serve
from gatewayctl.workers.base import HandlerError
from tests.lane_programs.plans import cli, finish, make_plan, read_status, start_owner, wait_for, wait_running
from tests.lane_programs.plans import lane as runtime_lane
from tests.test_plan_support import assert_valid_plan, compile_text

ENV_HANDLER = str(Path(__file__).parent / "lane_programs" / "env_handler.py")
TELEGRAM = """
[telegram]
enabled = true
bot_token = { env = "TELEGRAM_BOT_TOKEN" }
allowed_chat_ids = [1]
"""


# ------------------------------------------------------------------ schema

GOOD = [["OPENAI_API_KEY"], ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"], ["my.var-1", "_X"], []]
BAD = [["OPENAI API KEY"], ["$OPENAI_API_KEY"], ["OPENAI_API_KEY=sk-x"], [""], ["-X"], ["A", "A"], "OPENAI_API_KEY", [3]]


@pytest.mark.parametrize("names", GOOD)
def test_schema_accepts_variable_names(names):
    data = {"gateway": {"handler": {"echo": True, "env": names}}}
    assert schema_stage.check(data) == []
    assert jsonschema.Draft7Validator(load_schema()).is_valid(data)


@pytest.mark.parametrize("names", BAD, ids=repr)
def test_schema_rejects_what_is_not_a_list_of_unique_names(names):
    data = {"gateway": {"handler": {"exec": ["bot"], "env": names}}}
    findings = schema_stage.check(data)  # the generated fast validator, then the explanation
    assert findings and all(f.code.startswith("GW1") for f in findings)
    assert all(f.pointer.startswith("/gateway/handler/env") for f in findings), findings
    assert not jsonschema.Draft7Validator(load_schema()).is_valid(data)


# ---------------------------------------------------------------- compile


def test_compiled_plan_carries_sorted_names_and_round_trips():
    text = TELEGRAM + '[gateway.handler]\nexec = ["python3", "bot.py"]\nenv = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"]\n'
    plan, findings, diags = compile_text(text)
    assert plan is not None and not [d for d in diags if d.is_error], diags
    assert plan.handler.env == ("ANTHROPIC_API_KEY", "OPENAI_API_KEY")
    body = assert_valid_plan(plan)
    assert body["plan"]["handler"]["env"] == ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
    again = planfile.loads(planfile.dumps(plan))
    assert again == plan
    # Names only: the lane's own env list is untouched by the handler's.
    assert plan.lanes[0].env == ("TELEGRAM_BOT_TOKEN",)


def test_handler_without_env_compiles_to_an_empty_list():
    plan, _, _ = compile_text(TELEGRAM + "[gateway.handler]\necho = true\n")
    assert plan.handler == Handler("echo", env=())
    assert planfile.plan_to_json(plan)["handler"]["env"] == []


def test_a_plan_made_before_handler_env_still_loads():
    plan, _, _ = compile_text(TELEGRAM + "[gateway.handler]\necho = true\n")
    body = planfile.plan_to_json(plan)
    del body["handler"]["env"]
    envelope = {
        "format_version": 1,
        "plan": body,
        "plan_sha256": hashlib.sha256(planfile.canonical_bytes(body)).hexdigest(),
    }
    loaded = planfile.loads(json.dumps(envelope))
    assert loaded.handler == Handler("echo", env=())


# ------------------------------------------------------------------ owner


def test_owner_passes_handler_names_to_every_lane_and_nothing_else():
    environ = {
        "PATH": "/bin",
        "OPENAI_API_KEY": "sk-handler",
        "TELEGRAM_BOT_TOKEN": "t0k",
        "LARK_APP_SECRET": "other-lane-secret",
        "UNLISTED": "x",
    }
    ln = runtime_lane("telegram", env=("TELEGRAM_BOT_TOKEN",))
    env = lane_environment(ln, environ, status_path="/rt/s.json", runtime_dir="/rt", handler_env=("OPENAI_API_KEY", "ABSENT"))
    assert env == {
        "PATH": "/bin",
        "OPENAI_API_KEY": "sk-handler",
        "TELEGRAM_BOT_TOKEN": "t0k",
        "GATEWAYCTL_LANE_STATUS": "/rt/s.json",
        "GATEWAYCTL_RUNTIME_DIR": "/rt",
        "GATEWAYCTL_LANE": "telegram/a",
    }


# ----------------------------------------------------------------- worker


def test_exec_handler_environment_is_base_plus_named_minus_credentials():
    environ = {
        "PATH": "/bin",
        "LC_ALL": "C",
        "HOME": "/home/bot",
        "OPENAI_API_KEY": "sk-handler",
        "TG_TOKEN": "123:secret",
        "SHELL_ONLY": "x",
        "GATEWAYCTL_LANE_STATUS": "/rt/s.json",
    }
    # A name that is also a channel credential stays stripped.
    env = handlers.handler_env({"TG_TOKEN"}, environ, names=("OPENAI_API_KEY", "TG_TOKEN", "ABSENT"))
    assert env == {"PATH": "/bin", "LC_ALL": "C", "HOME": "/home/bot", "OPENAI_API_KEY": "sk-handler"}
    assert set(BASE_ENV) >= {"PATH", "HOME"}


def test_lane_serve_gives_the_exec_handler_its_names(monkeypatch):
    """serve wires plan.handler.env into the handler's environment."""
    seen = {}

    class Refusing:
        async def start(self):
            raise HandlerError("refused by the test")

        async def close(self):
            return None

    def fake_build(spec, *, env=None, clock=None):
        seen["env"] = env
        return Refusing()

    monkeypatch.setattr(handlers, "build", fake_build)
    plan, _, _ = compile_text(TELEGRAM + '[gateway.handler]\nexec = ["bot"]\nenv = ["OPENAI_API_KEY"]\n')
    environ = {"PATH": "/bin", "TELEGRAM_BOT_TOKEN": "123:secret", "OPENAI_API_KEY": "sk-handler", "OTHER": "x"}
    outcome = asyncio.run(serve.serve_async(plan, plan.lanes[0], environ=environ))
    assert outcome.kind == "lane" and "refused by the test" in outcome.message
    assert seen["env"] == {"PATH": "/bin", "OPENAI_API_KEY": "sk-handler"}


def test_exec_handler_process_receives_exactly_that_environment():
    env = handlers.handler_env(
        {"TG_TOKEN"},
        {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-handler", "TG_TOKEN": "123:secret", "OTHER": "x"},
        names=("OPENAI_API_KEY",),
    )

    async def go():
        h = handlers.ExecHandler((sys.executable, ENV_HANDLER), 10.0, env=env)
        await h.start()
        try:
            return json.loads(await h.ask({"id": "r1", "text": "hi"}))
        finally:
            await h.close()

    answer = asyncio.run(go())
    assert answer["api_key"] == "sk-handler"
    # Python may coerce a C locale by setting LC_CTYPE itself (PEP 538).
    assert set(answer["names"]) - {"LC_CTYPE"} == {"PATH", "OPENAI_API_KEY"}


# ------------------------------------------------------------- end to end


@pytest.mark.slow
def test_owner_lane_and_exec_handler_end_to_end(tmp_path):
    from gatewayctl.compile.plan import DEFAULT_WORKER, freeze
    from gatewayctl.fakes.telegram import FakeTelegram

    home = tmp_path / "home"
    with FakeTelegram() as fake:
        settings = {"base_url": fake.base_url, "polling_timeout_s": 1, "allowed_chat_ids": [42],
                    "allowed_sender_ids": [], "require_mention": False}
        tg = dataclasses.replace(
            runtime_lane("telegram", account="bot_123456", env=("TG_TOKEN",)),
            settings=freeze(settings),
            secrets=(SecretRef("bot_token", "env", "TG_TOKEN"),),
            worker=DEFAULT_WORKER,
        )
        path = make_plan(tmp_path, [tg])
        base = planfile.load(str(path))
        plan = dataclasses.replace(
            base,
            allow_private_hosts=True,
            handler=Handler("exec", exec=(sys.executable, ENV_HANDLER), timeout_s=10.0, env=("OPENAI_API_KEY",)),
        )
        planfile.write(plan, str(path))
        owner = start_owner(home, path, TG_TOKEN=fake.token, OPENAI_API_KEY="sk-handler-e2e", UNLISTED_VAR="nope")
        try:
            wait_running(home, owner)
            fake.inject(42, 7, "hi")
            sent = fake.wait_sent(1, timeout=20)
            assert sent, "no reply"
            answer = json.loads(sent[0]["text"])
            assert answer["api_key"] == "sk-handler-e2e"
            assert "TG_TOKEN" not in answer["names"] and "UNLISTED_VAR" not in answer["names"]
            assert "OPENAI_API_KEY" in answer["names"]
            # The lane's worker stats are null until its status file is read.
            doc = wait_for(lambda: ((d := read_status(home))["lanes"][0]["worker"] or {}).get("replies_sent") == 1 and d,
                           what="reply counted")
            assert "sk-handler-e2e" not in json.dumps(doc) and fake.token not in json.dumps(doc)
            assert cli(home, "gateway", "stop").returncode == 0
            rc, _out, err = finish(owner)
            assert rc == 0, err
        finally:
            if owner.poll() is None:
                owner.kill()
