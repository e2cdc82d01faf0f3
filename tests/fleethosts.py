"""Three simulated hosts on one machine: three owners with their own
GATEWAYCTL_HOME and host id, one plan, one real etcd and the built-in fakes
(tests/test_fleet_hosts.py, bench/bench_failover.py).

Every host runs ``gatewayctl gateway run --plan plan.json --host-id H``;
the plan's [fleet] table points at the test's etcd under a prefix of its
own. Timing: lease_ttl_s 6, stop_grace_s 1.5, settle_s 3 (the budget:
renew every 2 s, lanes stop taking work 6 - 0.37 - 1.5 = 4.13 s after a
renewal was sent and are gone 5.63 s after it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.fakes import six
from tests.support import LANES_AS_ROOT_SETTINGS, poll

TTL_S = 6.0
GRACE_S = 1.5
SETTLE_S = 3.0  # the default at this TTL (min(3, ttl/2)); hosts started together on a loaded machine may come up seconds apart
FAMILIES = ("feishu", "matrix", "qqbot", "telegram", "wecom", "whatsapp")
SELECTORS = ["lark=work", "telegram=bot_123456", "wecom=alerts"]


def settings_toml(endpoint: str, prefix: str, *, ttl_s: float = TTL_S) -> str:
    accounts = ", ".join(f'"{s}"' for s in SELECTORS)
    return f"""loong_config = "gw.toml"
channel_accounts = [{accounts}]
stop_grace_s = {GRACE_S}
{LANES_AS_ROOT_SETTINGS}
[handler]
echo = true
timeout_s = 10

[restart]
policy = "on-failure"

[fleet]
backend = "etcd"
endpoints = ["{endpoint}"]
prefix = "{prefix}"
lease_ttl_s = {ttl_s}
settle_s = {SETTLE_S}
"""


def loong_config(fakes: six.Fakes) -> str:
    # The six-lane config without gatewayctl's settings (they are in gatewayctl.toml).
    text = fakes.config()
    head, _, rest = text.partition("[feishu]")
    return "[outbound_http]\nallow_private_hosts = true\n\n[feishu]" + rest


class Host:
    """One owner: its own home, its own host id, the shared plan."""

    def __init__(self, fleet: "Fleet", host_id: str):
        self.fleet = fleet
        self.host_id = host_id
        self.home = fleet.dir / host_id
        self.home.mkdir(exist_ok=True)
        self.env = six.base_env(self.home)
        self.env.update(fleet.fakes.env())
        self.proc: subprocess.Popen | None = None
        self.err = self.home / "owner.err"

    def start(self) -> None:
        with open(self.err, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gatewayctl", "gateway", "run", "--plan", "plan.json", "--host-id",
                 self.host_id],
                cwd=self.fleet.dir, env=self.env, stdout=err, stderr=err,
            )

    def gatewayctl(self, *args, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gatewayctl", *args], cwd=self.fleet.dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def status(self) -> dict:
        done = self.gatewayctl("gateway", "status", "--json")
        try:
            return json.loads(done.stdout)
        except ValueError:
            return {}

    def running_lanes(self) -> set[str]:
        st = self.status()
        return {f"{ln['family']}/{ln['account']}" for ln in st.get("lanes") or ()
                if ln.get("state") == "running" and (ln.get("worker") or {}).get("connected")}

    def signal(self, signum) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signum)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.gatewayctl("gateway", "stop", "--wait", "--timeout", "30", timeout=60)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        try:
            return self.err.read_text(errors="replace")
        except OSError:
            return ""


class Fleet:
    def __init__(self, workdir: Path, etcd, prefix: str, *, ttl_s: float = TTL_S):
        self.dir = workdir
        self.etcd = etcd
        self.fakes = six.Fakes()
        (workdir / "gw.toml").write_text(loong_config(self.fakes))
        (workdir / "gatewayctl.toml").write_text(settings_toml(etcd.endpoint, prefix, ttl_s=ttl_s))
        self.hosts: dict[str, Host] = {}
        first = Host(self, "host-a")
        # --port 0: three owners on one machine cannot share the default control port
        done = first.gatewayctl("plan", "--file", "gatewayctl.toml", "--port", "0", "--out", "plan.json")
        assert done.returncode == 0, done.stderr
        self.hosts["host-a"] = first
        for name in ("host-b", "host-c"):
            self.hosts[name] = Host(self, name)

    def start(self, *names) -> None:
        for name in names or self.hosts:
            self.hosts[name].start()

    def fleet_status(self) -> dict:
        done = self.hosts["host-a"].gatewayctl("fleet", "status", "--plan", "plan.json", "--json")
        try:
            return json.loads(done.stdout)
        except ValueError:
            return {}

    def holders(self) -> dict[str, str | None]:
        return {lane["lane"]: lane["holder"] for lane in self.fleet_status().get("lanes") or ()}

    def wait_all_served(self, timeout: float = 60.0, hosts=None) -> dict[str, str]:
        """Until every lane is held and running (connected) on its holder."""
        hosts = hosts or list(self.hosts)

        def served():
            holders = self.holders()
            if len(holders) != 6 or not all(holders.values()):
                return None
            running = {h: self.hosts[h].running_lanes() for h in hosts}
            if all(lane in running.get(h, ()) for lane, h in holders.items()):
                return holders
            return None

        got = poll(served, timeout, interval=0.2)
        if got is None:
            logs = "\n".join(f"--- {h}\n{self.hosts[h].log()[-3000:]}" for h in hosts)
            raise AssertionError(f"lanes not all served: {self.fleet_status()}\n{logs}")
        return got

    def overlaps(self) -> dict[str, int]:
        return {f"{type(f).__name__}@{i}": f.overlaps for i, f in enumerate(self.fakes.all())}

    def stop(self) -> None:
        for host in self.hosts.values():
            try:
                host.stop()
            except Exception:  # noqa: BLE001 - teardown: stop the rest
                if host.proc is not None:
                    host.proc.kill()
        self.fakes.stop()


def kill_hard(host: Host) -> None:
    """SIGKILL the owner (its lanes die by their parent-death signal)."""
    host.signal(signal.SIGKILL)
    host.proc.wait(10)


def now() -> float:
    return time.monotonic()
