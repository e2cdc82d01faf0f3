"""Handler clients: where a lane asks for the reply to one message.

Protocol (JSON lines for exec, one JSON body for url): request
``{"id", "family", "account", "conversation_id", "sender_id", "message_id",
"text"}``, response ``{"id", "reply"}`` (reply null or absent: no reply).

- EchoHandler: answers with the text it got.
- ExecHandler: one long-lived process per lane; restarted with backoff when
  it dies; a request gets ``timeout_s`` to be written to the handler's
  stdin and ``timeout_s`` more to be answered, else it is logged and
  dropped (HandlerError), never retried. A handler that does not take a
  request within ``timeout_s`` (it stopped reading stdin and the pipe is
  full) is killed and restarted: waiting would stall the lane forever.
- UrlHandler: POSTs the request JSON; the response body is the response
  JSON (at most 4 MiB, within ``timeout_s`` in all).

Imports httpx (workers are its only importers) and gatewayctl.compile.plan.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

import httpx

from gatewayctl.compile.plan import Handler as HandlerSpec
from gatewayctl.compile.plan import base_environment
from gatewayctl.workers import httpclient
from gatewayctl.workers.base import Backoff, Clock, HandlerError

log = logging.getLogger("gatewayctl.workers.handler")

_MAX_LINE = 4 * 1024 * 1024


def _reply_of(obj, request_id: str) -> str | None:
    if not isinstance(obj, dict):
        raise HandlerError(f"handler answered {type(obj).__name__}, not a JSON object (request {request_id})")
    reply = obj.get("reply")
    if reply is None:
        return None
    if not isinstance(reply, str):
        raise HandlerError(f"handler reply for {request_id} is {type(reply).__name__}, not a string")
    return reply


class EchoHandler:
    kind = "echo"

    async def start(self) -> None:
        return None

    async def ask(self, request: dict) -> str | None:
        return request["text"]

    async def close(self) -> None:
        return None


class UrlHandler:
    kind = "url"

    def __init__(self, url: str, timeout_s: float):
        self.url = url
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpclient.client(max_bytes=_MAX_LINE, timeout=self.timeout_s)

    async def ask(self, request: dict) -> str | None:
        assert self._client is not None
        try:
            resp = await self._client.post(self.url, json=request)
        except httpx.TimeoutException:
            raise HandlerError(f"url handler gave no answer within {self.timeout_s:g}s (request {request['id']}, dropped)") from None
        except httpclient.ResponseTooLarge as exc:
            raise HandlerError(f"url handler: {exc} (request {request['id']}, dropped)") from None
        except httpx.HTTPError as exc:
            raise HandlerError(f"url handler unreachable: {type(exc).__name__} (request {request['id']})") from None
        if resp.status_code == 204 or (200 <= resp.status_code < 300 and not resp.content.strip()):
            return None
        if not 200 <= resp.status_code < 300:
            raise HandlerError(f"url handler answered HTTP {resp.status_code} (request {request['id']})")
        try:
            obj = resp.json()
        except ValueError:
            raise HandlerError(f"url handler answered invalid JSON (request {request['id']})") from None
        return _reply_of(obj, request["id"])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class ExecHandler:
    """One long-lived child speaking JSON lines; answers matched by id."""

    kind = "exec"

    def __init__(self, argv: tuple[str, ...], timeout_s: float, *, env: dict[str, str] | None = None,
                 clock: Clock | None = None, backoff: Backoff | None = None):
        self.argv = argv
        self.timeout_s = timeout_s
        self.env = env
        self.clock = clock or Clock()
        self.backoff = backoff or Backoff(0.2, 30.0)
        self.restarts = 0
        self.stalls = 0  # times the handler stopped taking input and was killed
        self._stalled = None
        self._proc: asyncio.subprocess.Process | None = None
        self._pending: dict[str, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._closing = False
        self._supervisor: asyncio.Task | None = None
        self._write_lock = asyncio.Lock()

    async def start(self) -> None:
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise())

    async def _spawn(self) -> None:
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,  # the handler's own diagnostics go to the lane's stderr
                env=self.env,
                limit=_MAX_LINE,
            )
        except OSError as exc:
            self._proc = None
            raise HandlerError(f"exec handler `{self.argv[0]}` cannot start ({exc.strerror or exc})") from None
        self._reader = asyncio.create_task(self._read(self._proc))
        self._ready.set()

    async def _read(self, proc) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                log.warning("exec handler wrote a line over %d bytes; ignored", _MAX_LINE)
                continue
            if not line:
                return
            try:
                obj = json.loads(line)
            except ValueError:
                log.warning("exec handler wrote a line that is not JSON; ignored")
                continue
            rid = obj.get("id") if isinstance(obj, dict) else None
            fut = self._pending.pop(str(rid), None) if rid is not None else None
            if fut is None:
                # late answer to a dropped request, or an unknown id
                continue
            if not fut.done():
                fut.set_result(obj)

    async def _supervise(self) -> None:
        """Restart the child with backoff whenever it exits."""
        while not self._closing:
            proc = self._proc
            if proc is None:
                await self._respawn_after_backoff()
                continue
            started = self.clock.monotonic()
            code = await proc.wait()
            if self._reader is not None:
                await asyncio.gather(self._reader, return_exceptions=True)
            if self._closing:
                return
            self._ready.clear()
            for rid, fut in list(self._pending.items()):
                if not fut.done():
                    fut.set_exception(HandlerError(f"exec handler exited with status {code} before answering {rid}"))
            self._pending.clear()
            log.warning("exec handler `%s` exited with status %s; restarting", self.argv[0], code)
            if self.clock.monotonic() - started > 60:
                self.backoff.reset()
            self._proc = None
            await self._respawn_after_backoff()

    async def _respawn_after_backoff(self) -> None:
        await self.clock.sleep(self.backoff.next_delay())
        if self._closing:
            return
        try:
            await self._spawn()
            self.restarts += 1
        except HandlerError as exc:
            log.warning("%s", exc)

    async def ask(self, request: dict) -> str | None:
        rid = str(request["id"])
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=self.timeout_s)
        except asyncio.TimeoutError:
            raise HandlerError(f"exec handler not running; request {rid} dropped") from None
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise HandlerError(f"exec handler not running; request {rid} dropped")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending[rid] = fut
        line = json.dumps(request, ensure_ascii=False).encode("utf-8") + b"\n"
        try:
            await asyncio.wait_for(self._write(proc, line), timeout=self.timeout_s)
        except (BrokenPipeError, ConnectionResetError):
            self._pending.pop(rid, None)
            raise HandlerError(f"exec handler closed its input; request {rid} dropped") from None
        except asyncio.TimeoutError:
            self._pending.pop(rid, None)
            self._kill_stalled(proc)
            raise HandlerError(
                f"exec handler took no input for {self.timeout_s:g}s (stopped reading stdin?); "
                f"restarting it; request {rid} dropped"
            ) from None
        try:
            obj = await asyncio.wait_for(fut, timeout=self.timeout_s)
        except asyncio.TimeoutError:
            self._pending.pop(rid, None)
            raise HandlerError(f"exec handler gave no answer within {self.timeout_s:g}s; request {rid} dropped") from None
        return _reply_of(obj, rid)

    async def _write(self, proc, line: bytes) -> None:
        async with self._write_lock:
            proc.stdin.write(line)
            await proc.stdin.drain()

    def _kill_stalled(self, proc) -> None:
        """Kill a handler that stopped taking input; the supervisor restarts
        it and fails the requests it still owed."""
        if proc is self._proc and proc.returncode is None and proc is not self._stalled:
            self._stalled = proc
            self.stalls += 1
            log.warning("exec handler `%s` took no input for %gs; killing it to restart", self.argv[0], self.timeout_s)
            try:
                proc.kill()
            except ProcessLookupError:
                pass

    async def close(self) -> None:
        self._closing = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.terminate()
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        for task in (self._supervisor, self._reader):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def build(spec: HandlerSpec, *, env: dict[str, str] | None = None, clock: Clock | None = None):
    if spec.kind == "echo":
        return EchoHandler()
    if spec.kind == "url":
        return UrlHandler(spec.url or "", spec.timeout_s)
    if spec.kind == "exec":
        return ExecHandler(tuple(spec.exec), spec.timeout_s, env=env, clock=clock)
    raise ValueError(f"unknown handler kind {spec.kind!r}")


LANE_MARK = "GATEWAYCTL_LANE_MARK"


def handler_env(secret_env_names: set[str], environ=None, *, names: tuple[str, ...] = ()) -> dict[str, str]:
    """The exec handler's environment: the base variables plus exactly the
    ``names`` of ``[gateway.handler] env``, never a variable that carries the
    lane's channel credentials (even when ``names`` lists it: the handler has
    no business with the channel's token, and a typo must not leak it).

    An allowlist rather than "the lane's minus the credentials" so a lane
    started by hand from a full shell does not hand the handler everything.
    """
    environ = os.environ if environ is None else environ
    env = base_environment(environ)
    env.update({name: environ[name] for name in names if name in environ})
    # Not a secret: the random mark that lets a later owner recognise (and
    # reap) a handler its dead predecessor's lane left running.
    if LANE_MARK in environ:
        env[LANE_MARK] = environ[LANE_MARK]
    return {k: v for k, v in env.items() if k not in secret_env_names}
