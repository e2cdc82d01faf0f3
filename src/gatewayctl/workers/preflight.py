"""Preflight: does each lane of a plan work, before anyone owns it?

For every lane, in parallel and without taking the owner slot: resolve its
secret references in the given environment, then make the cheapest
authenticated read the channel API offers and check what it says:

    telegram  getMe, then getWebhookInfo (a set webhook makes getUpdates fail)
    matrix    whoami, and that the user id is the one the config names
    whatsapp  GET of the phone number id (Graph API)
    wecom     aibot_subscribe with ack, then close
    feishu    a tenant access token, then the bot's info
    qqbot     the app access token, then the gateway URL

A probe never disturbs a lane that is serving: the only probe that would
(a WeCom subscribe takes the long connection over from the running client)
is not made for a lane the local owner runs; the owner's own view of that
lane is reported instead. Every probe has a total deadline, so an
unreachable host fails in bounded time, and every response body is read
up to a size cap. What is shown is the API's own words with every resolved
secret value masked.

Imports only the standard library, gatewayctl.compile.plan and sibling
worker modules (httpx and websockets are this package's to import).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import httpx

from gatewayctl.compile.plan import Lane, LaunchPlan
from gatewayctl.workers import httpclient
from gatewayctl.workers.base import LaneFailure

MAX_BODY_BYTES = 256 * 1024
DEFAULT_TIMEOUT_S = 10.0

OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    lane: str  # family/account
    family: str
    result: str  # ok | failed | skipped
    detail: str  # the API's answer (or why), secret values masked
    latency_ms: int | None  # None when no request was made

    def to_json(self) -> dict:
        return {
            "lane": self.lane,
            "family": self.family,
            "result": self.result,
            "detail": self.detail,
            "latency_ms": self.latency_ms,
        }


class _Refused(Exception):
    """The API answered, and the answer means this lane would not work."""


async def _call(client: httpx.AsyncClient, method: str, url: str, **kw) -> tuple[int, dict]:
    """(status, JSON object or {}); the client bounds the body and the wait."""
    resp = await client.request(method, url, **kw)
    try:
        data = resp.json()
    except ValueError:
        data = {}
    return resp.status_code, data if isinstance(data, dict) else {}


def _s(value, limit: int = 200) -> str:
    text = "" if value is None else str(value)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- one probe per family ---------------------------------------------------


async def _telegram(lane: Lane, secrets, client) -> str:
    from gatewayctl.workers.telegram import DEFAULT_BASE_URL

    base = str(lane.settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    token = secrets.require("bot_token", lane)
    status, body = await _call(client, "POST", f"{base}/bot{token}/getMe", json={})
    if status != 200 or body.get("ok") is not True:
        raise _Refused(f"getMe: {body.get('error_code') or status} {_s(body.get('description'))}".rstrip())
    me = body.get("result") if isinstance(body.get("result"), dict) else {}
    status, body = await _call(client, "POST", f"{base}/bot{token}/getWebhookInfo", json={})
    if status != 200 or body.get("ok") is not True:
        raise _Refused(f"getWebhookInfo: {body.get('error_code') or status} {_s(body.get('description'))}".rstrip())
    info = body.get("result") if isinstance(body.get("result"), dict) else {}
    if info.get("url"):
        host = urlsplit(str(info["url"])).hostname or "?"
        raise _Refused(
            f"getMe: @{_s(me.get('username'))}, but a webhook is set (to {_s(host)}): getUpdates would fail "
            "with 409 Conflict; remove it with deleteWebhook, or stop the other consumer"
        )
    return f"getMe: @{_s(me.get('username'))} (id {_s(me.get('id'))}); no webhook set"


async def _matrix(lane: Lane, secrets, client) -> str:
    from gatewayctl.workers.matrix import API

    base = lane.settings.get("base_url")
    if not base:
        raise _Refused("matrix needs base_url (the homeserver) in the plan")
    token = secrets.require("access_token", lane)
    status, body = await _call(
        client, "GET", f"{str(base).rstrip('/')}{API}/account/whoami", headers={"Authorization": f"Bearer {token}"}
    )
    if status != 200:
        raise _Refused(f"whoami: {status} {_s(body.get('errcode'))} {_s(body.get('error'))}".rstrip())
    who = _s(body.get("user_id"))
    wanted = str(lane.settings.get("user_id") or "")
    if wanted and who != wanted:
        raise _Refused(f"whoami: the access token belongs to {who}, but the config says user_id = {wanted}")
    return f"whoami: {who}" + (f" (device {_s(body.get('device_id'))})" if body.get("device_id") else "")


async def _whatsapp(lane: Lane, secrets, client) -> str:
    from gatewayctl.workers.whatsapp import DEFAULT_API

    api = str(lane.settings.get("api_base_url") or DEFAULT_API).rstrip("/")
    token = secrets.require("access_token", lane)
    pnid = lane.settings.get("phone_number_id") or secrets.get("phone_number_id")
    if not pnid:
        raise _Refused("whatsapp needs phone_number_id (setting or phone_number_id_env)")
    status, body = await _call(
        client,
        "GET",
        f"{api}/{quote(str(pnid), safe='')}",
        params={"fields": "display_phone_number,verified_name"},
        headers={"Authorization": f"Bearer {token}"},
    )
    if status != 200:
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        raise _Refused(f"phone number {pnid}: HTTP {status} code {_s(err.get('code'))} {_s(err.get('message'))}".rstrip())
    return f"phone number {pnid}: {_s(body.get('display_phone_number'))} ({_s(body.get('verified_name'))})"


async def _feishu(lane: Lane, secrets, client) -> str:
    from gatewayctl.workers.feishu import BASE_URLS, BOT_INFO_PATH, TOKEN_PATH

    domain = str(lane.settings.get("domain") or "feishu")
    base = str(lane.settings.get("base_url") or BASE_URLS.get(domain, BASE_URLS["feishu"])).rstrip("/")
    app_id, app_secret = secrets.require("app_id", lane), secrets.require("app_secret", lane)
    status, body = await _call(client, "POST", f"{base}{TOKEN_PATH}", json={"app_id": app_id, "app_secret": app_secret})
    token = body.get("tenant_access_token")
    if body.get("code") != 0 or not isinstance(token, str) or not token:
        raise _Refused(f"tenant_access_token: code {_s(body.get('code') if 'code' in body else status)} {_s(body.get('msg'))}".rstrip())
    status, body = await _call(client, "GET", f"{base}{BOT_INFO_PATH}", headers={"Authorization": f"Bearer {token}"})
    bot = body.get("bot") if isinstance(body.get("bot"), dict) else {}
    if body.get("code") != 0:
        raise _Refused(f"bot info: code {_s(body.get('code') if 'code' in body else status)} {_s(body.get('msg'))}".rstrip())
    return f"tenant token ok; bot {_s(bot.get('app_name'))} ({_s(bot.get('open_id'))})"


async def _qqbot(lane: Lane, secrets, client) -> str:
    from gatewayctl.workers.qqbot import DEFAULT_API_BASE, DEFAULT_TOKEN_BASE

    token_base = str(lane.settings.get("token_base_url") or DEFAULT_TOKEN_BASE).rstrip("/")
    api = str(lane.settings.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")
    body_in = {"appId": secrets.require("app_id", lane), "clientSecret": secrets.require("client_secret", lane)}
    status, body = await _call(client, "POST", f"{token_base}/app/getAppAccessToken", json=body_in)
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise _Refused(f"getAppAccessToken: HTTP {status} code {_s(body.get('code'))} {_s(body.get('message'))}".rstrip())
    status, body = await _call(client, "GET", f"{api}/gateway", headers={"Authorization": f"QQBot {token}"})
    url = body.get("url")
    if status != 200 or not isinstance(url, str) or not url:
        raise _Refused(f"gateway: HTTP {status} code {_s(body.get('code'))} {_s(body.get('message'))}".rstrip())
    return f"app token ok; gateway {_s(urlsplit(url).netloc)}"


async def _wecom(lane: Lane, secrets, client) -> str:
    import websockets

    from gatewayctl.workers.wecom import DEFAULT_URL

    url = str(lane.settings.get("websocket_url") or DEFAULT_URL)
    frame = {
        "cmd": "aibot_subscribe",
        "headers": {"req_id": "gwpreflight_subscribe_1"},
        "body": {"bot_id": secrets.require("bot_id", lane), "secret": secrets.require("secret", lane)},
    }
    async with websockets.connect(url, ping_interval=None, close_timeout=2, max_size=MAX_BODY_BYTES) as ws:
        await ws.send(json.dumps(frame, ensure_ascii=False))
        while True:
            raw = await ws.recv()
            try:
                ack = json.loads(raw)
            except ValueError:
                continue
            headers = ack.get("headers") if isinstance(ack, dict) and isinstance(ack.get("headers"), dict) else {}
            if headers.get("req_id") == frame["headers"]["req_id"]:
                break
    if ack.get("errcode", 0) != 0:
        raise _Refused(f"aibot_subscribe: errcode {_s(ack.get('errcode'))} {_s(ack.get('errmsg'))}".rstrip())
    return "aibot_subscribe acknowledged (connection closed again)"


PROBES = {
    "telegram": _telegram,
    "matrix": _matrix,
    "whatsapp": _whatsapp,
    "feishu": _feishu,
    "qqbot": _qqbot,
    "wecom": _wecom,
}
# Families whose only probe would take a live connection over from a lane
# that serves it.
TAKEOVER_PROBES = frozenset({"wecom"})


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, (httpclient.DeadlineExceeded, httpclient.ResponseTooLarge)):
        return httpclient.describe(exc)
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer (timeout)"
    if isinstance(exc, httpx.HTTPError):
        return f"network error ({type(exc).__name__})"
    if isinstance(exc, OSError):
        return f"cannot connect ({exc.strerror or type(exc).__name__})"
    return f"{type(exc).__name__}"


async def probe_lane(plan: LaunchPlan, lane: Lane, *, environ=None, cwd=None, timeout_s: float = DEFAULT_TIMEOUT_S,
                     serving: dict | None = None) -> ProbeResult:
    """One lane's verdict. ``serving`` maps lane names the local owner runs
    to that owner's status of the lane."""
    from gatewayctl.workers.secrets import resolve

    if lane.family not in PROBES:
        return ProbeResult(lane.name, lane.family, SKIPPED, f"no preflight probe for family {lane.family}", None)
    if serving is not None and lane.name in serving and lane.family in TAKEOVER_PROBES:
        view = serving[lane.name] or {}
        worker = view.get("worker") if isinstance(view.get("worker"), dict) else {}
        state = f"state {view.get('state')}" + (", connected" if worker.get("connected") else ", not connected")
        return ProbeResult(
            lane.name, lane.family, SKIPPED,
            f"serving: the local owner runs this lane ({state}); a subscribe would take its connection over",
            None,
        )
    try:
        secrets = await asyncio.wait_for(asyncio.to_thread(resolve, plan, lane, environ=environ, cwd=cwd), timeout_s)
    except asyncio.TimeoutError:
        return ProbeResult(lane.name, lane.family, FAILED, f"secrets: not resolved within {timeout_s:g}s", None)
    except LaneFailure as exc:
        return ProbeResult(lane.name, lane.family, FAILED, exc.message, None)
    started = time.monotonic()
    try:
        # The lanes' bounded client (a total deadline, a body cap, the
        # environment's proxies): the probe sees the network the lane will see.
        async with httpclient.client(max_bytes=MAX_BODY_BYTES, timeout=httpx.Timeout(timeout_s)) as client:
            detail = await asyncio.wait_for(PROBES[lane.family](lane, secrets, client), timeout_s)
        result = OK
    except asyncio.TimeoutError:
        result, detail = FAILED, f"no answer within {timeout_s:g}s"
    except _Refused as exc:
        result, detail = FAILED, str(exc)
    except LaneFailure as exc:
        result, detail = FAILED, exc.message
    except Exception as exc:  # noqa: BLE001 - any network or protocol failure is this lane's verdict
        result, detail = FAILED, _describe_error(exc)
    latency = int((time.monotonic() - started) * 1000)
    return ProbeResult(lane.name, lane.family, result, secrets.redact(detail), latency)


async def preflight(plan: LaunchPlan, *, environ=None, cwd=None, timeout_s: float = DEFAULT_TIMEOUT_S,
                    serving: dict | None = None) -> list[ProbeResult]:
    """Every lane of ``plan``, probed in parallel; results in plan order."""
    return list(
        await asyncio.gather(
            *(probe_lane(plan, lane, environ=environ, cwd=cwd, timeout_s=timeout_s, serving=serving) for lane in plan.lanes)
        )
    )


def run_preflight(plan: LaunchPlan, **kw) -> list[ProbeResult]:
    return asyncio.run(preflight(plan, **kw))
