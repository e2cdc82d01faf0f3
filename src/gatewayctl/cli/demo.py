"""`gatewayctl demo`: the seed rollout end to end, offline.

Owns the newcomer demo: it starts the built-in loopback fakes
(``gatewayctl.fakes``) of Feishu (websocket mode), Telegram and WeCom in this
process, writes the bundled example rollout (embedded below: loong's config pointed at the
fakes) into a temporary directory, and then runs the real commands a user
would type, as child processes, printing each command line and its output:
``check gatewayctl.toml``, ``plan --out``, ``plan show``, ``gateway run`` (in the
background), one message into each fake and the reply seen there,
``gateway status`` and ``gateway stop --wait``. No network beyond 127.0.0.1,
no real credentials: the fakes' test credentials travel only in the
environment of the processes the demo starts, as ``{ env = ... }``
references in the config.

It drives gatewayctl only through its command line, so it imports no
pipeline or runtime module; the fakes are imported on first use so that
``gatewayctl --help`` stays cheap.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import click

from gatewayctl.cli import exitcodes

CONFIG_NAME = "gateway-rollout.toml"
SETTINGS_NAME = "gatewayctl.toml"
PLAN_NAME = "plan.json"
OWNER_LOG = "gateway-run.log"
START_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
TELEGRAM_CHAT_ID = 123456789
FEISHU_CHAT_ID = "oc_ops_room"
WECOM_CHAT_ID = "group_alerts"
# exitcodes.py has no demo-specific code; 1 is "something failed", as for check.
DEMO_FAILED = 1

DEMO_AS_ROOT = """
# You run the demo as root: say so explicitly, or the owner refuses to start
# lanes as root. In production name an unprivileged user here instead.
[worker]
user = "root"
"""

# examples/gatewayctl.toml, gatewayctl's settings for the example rollout,
# as shipped (a test keeps the two equal). Embedded, like the config below,
# because the examples live in the repository, not in the wheel the demo
# must also run from.
SETTINGS_TEXT = """\
# gatewayctl's own settings for the seed rollout (examples/gatewayctl.toml),
# written by `gatewayctl demo` next to the loong config it names.
loong_config = "gateway-rollout.toml"   # relative to this file
channel_accounts = ["lark=work", "telegram=bot_123456", "wecom=alerts"]

# The built-in echo handler answers each message with its own text.
[handler]
echo = true
timeout_s = 10

[restart]
policy = "on-failure"
"""

# examples/gateway-rollout.toml (loong's config), with each account pointed
# at a loopback fake.
CONFIG_TEMPLATE = """\
# The seed playbook's three-family rollout (examples/gateway-rollout.toml),
# pointed at gatewayctl's built-in loopback fakes by `gatewayctl demo`.
active_provider = "volcengine"

[providers.volcengine]
api_key = {{ env = "ARK_API_KEY" }}

[memory]
backend = "sqlite"

# The fakes listen on 127.0.0.1: outbound calls to a loopback host must be
# allowed explicitly.
[outbound_http]
allow_private_hosts = true

[feishu]
enabled = true
mode = "websocket"
default_account = "work"

[feishu.accounts.work]
domain = "lark"
base_url = "{feishu_base_url}"
app_id = {{ env = "LARK_WORK_APP_ID" }}
app_secret = {{ env = "LARK_WORK_APP_SECRET" }}
allowed_chat_ids = ["{feishu_chat}"]

[telegram]
enabled = true
default_account = "bot_123456"

[telegram.accounts.bot_123456]
base_url = "{telegram_base_url}"
polling_timeout_s = 1
bot_token = {{ env = "TELEGRAM_BOT_TOKEN" }}
allowed_chat_ids = [{telegram_chat}]

[wecom]
enabled = true
default_account = "alerts"

[wecom.accounts.alerts]
websocket_url = "{wecom_url}"
reconnect_interval_s = 1
bot_id = {{ env = "WECOM_ALERTS_BOT_ID" }}
secret = {{ env = "WECOM_ALERTS_SECRET" }}
allowed_conversation_ids = ["{wecom_chat}"]
"""


class DemoFailure(Exception):
    """A demo step did not reach its expected state (reported, exit 1)."""


@dataclass(frozen=True, slots=True)
class Fakes:
    feishu: object
    telegram: object
    wecom: object

    def all(self) -> tuple:
        return (self.feishu, self.telegram, self.wecom)


def _say(text: str = "") -> None:
    click.echo(text)


def _poll(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is gone for every practical purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


class Demo:
    def __init__(self, workdir: str):
        self.workdir = workdir
        self.fakes: Fakes | None = None
        self.env: dict[str, str] = {}
        self.owner: subprocess.Popen | None = None
        self.owner_log = None
        self.seen_pids: set[int] = set()

    # -- setup -------------------------------------------------------------
    def start_fakes(self) -> None:
        from gatewayctl.fakes import FakeFeishu, FakeTelegram, FakeWeCom

        feishu = FakeFeishu()
        telegram = FakeTelegram()
        wecom = FakeWeCom()
        started = []
        try:
            for fake in (feishu, telegram, wecom):
                fake.start()
                started.append(fake)
        except BaseException:
            for fake in started:
                fake.stop()
            raise
        self.fakes = Fakes(feishu=feishu, telegram=telegram, wecom=wecom)
        _say("Loopback fakes of the channel APIs (127.0.0.1 only, test credentials):")
        _say(f"  feishu    {feishu.base_url}  (open platform + long-connection websocket)")
        _say(f"  telegram  {telegram.base_url}  (Bot API)")
        _say(f"  wecom     {wecom.url}  (AI bot long connection)")

    def write_config(self) -> str:
        f = self.fakes
        text = CONFIG_TEMPLATE.format(
            feishu_base_url=f.feishu.base_url, feishu_chat=FEISHU_CHAT_ID,
            telegram_base_url=f.telegram.base_url, telegram_chat=TELEGRAM_CHAT_ID,
            wecom_url=f.wecom.url, wecom_chat=WECOM_CHAT_ID,
        )
        settings = SETTINGS_TEXT
        if os.geteuid() == 0:
            # A root owner starts lanes as root only when told to (docs/gateway.md,
            # "Who lanes run as"); the demo's lanes only talk to loopback fakes.
            settings += DEMO_AS_ROOT
        path = os.path.join(self.workdir, CONFIG_NAME)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        with open(os.path.join(self.workdir, SETTINGS_NAME), "w", encoding="utf-8") as fh:
            fh.write(settings)
        # Inherit PATH and the like, but never another GATEWAYCTL_* setting:
        # the demo's owner must use its own home and no fixed port.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAYCTL_")}
        env.update(
            GATEWAYCTL_HOME=os.path.join(self.workdir, "home"),
            NO_COLOR="1",
            LARK_WORK_APP_ID=f.feishu.app_id,
            LARK_WORK_APP_SECRET=f.feishu.app_secret,
            TELEGRAM_BOT_TOKEN=f.telegram.token,
            WECOM_ALERTS_BOT_ID=f.wecom.bot_id,
            WECOM_ALERTS_SECRET=f.wecom.secret,
        )
        self.env = env
        _say(f"Wrote {path} (the bundled example's loong config, accounts pointed at the fakes;")
        _say("secrets stay { env = ... } references, set only for the processes the demo starts)")
        _say(f"and {SETTINGS_NAME} next to it (examples/gatewayctl.toml: selectors, echo handler).")
        return path

    # -- commands ----------------------------------------------------------
    def _argv(self, args: list[str]) -> list[str]:
        return [sys.executable, "-m", "gatewayctl", *args]

    def run(self, args: list[str], *, expect: tuple[int, ...] = (0,), timeout: float = 60.0,
            quiet: bool = False) -> subprocess.CompletedProcess:
        if not quiet:
            _say()
            _say("$ " + shlex.join(["gatewayctl", *args]))
        try:
            done = subprocess.run(self._argv(args), cwd=self.workdir, env=self.env, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DemoFailure(f"`gatewayctl {shlex.join(args)}` did not finish within {timeout:.0f} s") from None
        if not quiet:
            for stream in (done.stdout, done.stderr):
                if stream:
                    _say(stream.rstrip("\n"))
        if done.returncode not in expect:
            raise DemoFailure(f"`gatewayctl {shlex.join(args)}` exited {done.returncode}"
                              + ("" if not quiet else f": {(done.stderr or done.stdout).strip()[:2000]}"))
        return done

    def status_json(self) -> dict | None:
        done = self.run(["gateway", "status", "--json"], expect=(0, 3, 11), quiet=True)
        try:
            status = json.loads(done.stdout)
        except ValueError:
            return None
        if not isinstance(status, dict):
            return None
        lanes = status.get("lanes") or ()
        for pid in [status.get("pid")] + [ln.get("pid") for ln in lanes] + \
                [(ln.get("worker") or {}).get("pid") for ln in lanes]:
            if isinstance(pid, int) and pid > 0:
                self.seen_pids.add(pid)
        return status

    def start_owner(self) -> None:
        args = ["gateway", "run", "--plan", PLAN_NAME]
        _say()
        _say("$ " + shlex.join(["gatewayctl", *args]) + f" > {OWNER_LOG} 2>&1 &")
        self.owner_log = open(os.path.join(self.workdir, OWNER_LOG), "w", encoding="utf-8")
        self.owner = subprocess.Popen(self._argv(args), cwd=self.workdir, env=self.env, stdout=self.owner_log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.seen_pids.add(self.owner.pid)

        def all_running():
            if self.owner.poll() is not None:
                raise DemoFailure(f"`gatewayctl gateway run` exited {self.owner.returncode} before its lanes "
                                  f"were up:\n{self.read_owner_log()}")
            status = self.status_json()
            if not status or not status.get("running"):
                return None
            lanes = status.get("lanes") or []
            if len(lanes) == 3 and all((ln.get("worker") or {}).get("connected") for ln in lanes):
                return status
            return None

        status = _poll(all_running, START_TIMEOUT_S)
        if status is None:
            raise DemoFailure(f"the three lanes were not all running and connected within {START_TIMEOUT_S:.0f} s:\n"
                              + json.dumps(self.status_json(), indent=1)[:4000])
        names = ", ".join(f"{ln['family']}={ln['account']}" for ln in status["lanes"])
        _say(f"owner pid {status['pid']} is running; lanes connected: {names}")

    def read_owner_log(self) -> str:
        try:
            with open(os.path.join(self.workdir, OWNER_LOG), encoding="utf-8") as fh:
                return fh.read().rstrip("\n")
        except OSError:
            return ""

    # -- messages ----------------------------------------------------------
    def exchange(self) -> list[tuple[str, str]]:
        from gatewayctl.fakes.feishu import message_event

        f = self.fakes
        _say()
        _say("Messages in, one per fake (as the platform would deliver them):")
        f.feishu.push_event(message_event("hello from feishu", chat_id=FEISHU_CHAT_ID))
        _say(f"  -> feishu    chat {FEISHU_CHAT_ID}: hello from feishu")
        f.telegram.inject(TELEGRAM_CHAT_ID, 7, "hello from telegram")
        _say(f"  -> telegram  chat {TELEGRAM_CHAT_ID}: hello from telegram")
        f.wecom.inject("hello from wecom", chatid=WECOM_CHAT_ID)
        _say(f"  -> wecom     chat {WECOM_CHAT_ID}: hello from wecom")

        _say("Replies seen at the fakes (the echo handler answers with the text it got):")
        replies = []
        for family, fake, text_of in (
            ("feishu", f.feishu, lambda s: s.get("text")),
            ("telegram", f.telegram, lambda s: s.get("text")),
            ("wecom", f.wecom, lambda s: s.get("content")),
        ):
            sent = fake.wait_sent(1, REPLY_TIMEOUT_S)
            if not sent:
                raise DemoFailure(f"no reply reached the {family} fake within {REPLY_TIMEOUT_S:.0f} s")
            text = text_of(sent[0])
            _say(f"  <- {family:<9} reply: {text}")
            replies.append((family, text))
        # The fakes saw the replies; wait until the workers' own counters say
        # so too, so the status printed next shows what just happened.
        counted = _poll(lambda: (s := self.status_json()) and len(s.get("lanes") or ()) == 3 and all(
            ((ln.get("worker") or {}).get("replies_sent") or 0) >= 1 for ln in s["lanes"]), REPLY_TIMEOUT_S)
        if not counted:
            raise DemoFailure("the lanes' status never counted the replies the fakes received")
        return replies

    # -- teardown ----------------------------------------------------------
    def stop_owner(self) -> int:
        """`gateway stop --wait`, printed; the owner's exit code."""
        self.run(["gateway", "stop", "--wait", "--timeout", f"{STOP_TIMEOUT_S:g}"])
        try:
            return self.owner.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise DemoFailure("`gatewayctl gateway run` did not exit after `gateway stop --wait`") from None

    def cleanup(self) -> tuple[list[int], list[int]]:
        """Leave nothing behind, whatever happened: (pids that had to be
        killed, pids still alive even after that)."""
        if self.owner is not None and self.owner.poll() is None:
            try:
                self.run(["gateway", "stop", "--wait", "--timeout", "10"], expect=(0, 8, 9, 10), timeout=30,
                         quiet=True)
            except DemoFailure:
                pass
            try:
                self.owner.wait(10)
            except subprocess.TimeoutExpired:
                self.owner.terminate()  # the owner stops its lanes on SIGTERM too
                try:
                    self.owner.wait(10)
                except subprocess.TimeoutExpired:
                    self.owner.kill()
                    self.owner.wait()
        # Lane workers run in their own process groups: give them a moment to
        # finish exiting, then end the ones this demo saw (and only those)
        # directly if the owner could not.
        _poll(lambda: not any(_pid_alive(p) for p in self.seen_pids), 5.0)
        killed = [p for p in sorted(self.seen_pids) if _pid_alive(p)]
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.owner_log is not None:
            self.owner_log.close()
        if self.fakes is not None:
            for fake in self.fakes.all():
                try:
                    fake.stop()
                except Exception:  # noqa: BLE001 - one fake failing to stop must not keep the others up
                    pass
        _poll(lambda: not any(_pid_alive(p) for p in killed), 2.0)
        return killed, [p for p in killed if _pid_alive(p)]


def run_demo(keep: bool) -> int:
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="gatewayctl-demo-")
    demo = Demo(workdir)
    failure: str | None = None
    replies: list[tuple[str, str]] = []
    owner_code: int | None = None
    try:
        demo.start_fakes()
        demo.write_config()
        _say(f"All commands below run in {workdir} with GATEWAYCTL_HOME={os.path.join(workdir, 'home')}.")
        # Both verdicts: loong's on the config it names, and gatewayctl's.
        demo.run(["check", SETTINGS_NAME])
        # A saved plan fixes its control port: port 0 (ephemeral) goes in the plan,
        # so the demo never collides with an owner on the default port. `plan`
        # finds ./gatewayctl.toml.
        demo.run(["plan", "--port", "0", "--out", PLAN_NAME])
        demo.run(["plan", "show", PLAN_NAME])
        demo.start_owner()
        replies = demo.exchange()
        demo.run(["gateway", "status"])
        owner_code = demo.stop_owner()
        log = demo.read_owner_log()
        _say()
        _say(f"Output of the background `gatewayctl gateway run` (exit {owner_code}, from {OWNER_LOG}):")
        _say(log if log else "(none)")
        if owner_code != 0:
            raise DemoFailure(f"`gatewayctl gateway run` exited {owner_code}, expected 0 after a requested stop")
    except DemoFailure as exc:
        failure = str(exc)
    except KeyboardInterrupt:
        failure = "interrupted"
    finally:
        killed, left = demo.cleanup()
    if left:
        failure = (failure + "; " if failure else "") + f"processes still alive after cleanup: {left}"
    elif killed and failure is None:
        failure = f"processes outlived `gateway stop` and had to be killed: {killed}"
    elapsed = time.monotonic() - started
    if keep:
        _say(f"Kept {workdir} for inspection (--keep).")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    _say()
    if failure is not None:
        click.echo(f"demo FAILED: {failure}", err=True)
        return DEMO_FAILED
    _say(f"demo ok: check, plan, run; {len(replies)} messages in, {len(replies)} replies out "
         f"({', '.join(f for f, _ in replies)}); owner stopped cleanly; no process left behind "
         f"({elapsed:.1f} s).")
    return exitcodes.OK


@click.command("demo", context_settings={"help_option_names": ["-h", "--help"]},
               epilog="\b\nExit codes:\n  0  every step worked\n  1  a step failed (printed; nothing left running)\n")
@click.option("--keep", is_flag=True, help="Keep the temporary directory (config, plan, logs, runtime home).")
def demo(keep: bool) -> None:
    """Run the bundled example rollout end to end against built-in fakes.

    Starts loopback fakes of Feishu, Telegram and WeCom, then runs check,
    plan, gateway run, one message in and one reply out per channel, gateway
    status and gateway stop, printing each command and its output. Needs no
    network and no credentials; leaves no process behind.
    """
    sys.exit(run_demo(keep))
