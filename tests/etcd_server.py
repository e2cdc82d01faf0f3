"""A real etcd server for tests: 127.0.0.1, free ports, a temporary data dir, stopped by pid.

Debian's ``etcd-server`` package provides the binary (``scripts/test.sh``
installs it when missing); ``GATEWAYCTL_TEST_ETCD`` may name another one.
Without a binary, ``etcd_binary()`` is None and the fixtures skip, naming
what is missing.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx

MISSING_REASON = (
    "etcd binary not found on PATH (Debian package etcd-server; scripts/test.sh installs it, "
    "or set GATEWAYCTL_TEST_ETCD to an etcd 3.4+ binary)"
)

# etcd refuses to start on architectures it does not officially support
# unless ETCD_UNSUPPORTED_ARCH names the running one (GOARCH spelling).
_SUPPORTED = {"x86_64", "amd64", "ppc64le"}
_GOARCH = {"aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "i686": "386", "s390x": "s390x", "riscv64": "riscv64"}


def etcd_binary() -> str | None:
    explicit = os.environ.get("GATEWAYCTL_TEST_ETCD")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("etcd")


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (all held open together while chosen)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def unique_prefix(name: str = "t") -> str:
    """A key prefix no other test shares (several tests may share one server)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)[:40]
    return f"/gatewayctl-test/{safe}-{uuid.uuid4().hex[:8]}"


class EtcdServer:
    """One etcd member. ``start()`` again after ``stop()`` reuses the ports and the data."""

    def __init__(self, workdir: Path, binary: str | None = None) -> None:
        self.binary = binary or etcd_binary()
        if self.binary is None:
            raise RuntimeError(MISSING_REASON)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "etcd.log"
        self.client_port, self.peer_port = free_ports(2)
        self.name = "gwtest"
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def argv(self) -> list[str]:
        client = self.endpoint
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            self.binary,
            "--name", self.name,
            "--data-dir", str(self.data_dir),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}",
            "--initial-cluster-state", "new",
            "--initial-cluster-token", f"gwtest-{self.client_port}",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]  # fmt: skip

    def start_fresh(self, attempts: int = 3) -> None:
        """First start; if a chosen port was taken meanwhile, choose again."""
        for attempt in range(attempts):
            try:
                self.start()
                return
            except RuntimeError:
                if attempt == attempts - 1 or "address already in use" not in self.log_tail():
                    raise
                self.client_port, self.peer_port = free_ports(2)
                shutil.rmtree(self.data_dir, ignore_errors=True)

    def start(self, timeout: float = 30.0) -> None:
        if self.pid is not None:
            raise RuntimeError("etcd is already running")
        env = dict(os.environ)
        machine = platform.machine().lower()
        if machine not in _SUPPORTED:
            env["ETCD_UNSUPPORTED_ARCH"] = _GOARCH.get(machine, machine)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child holds it; closed below
        try:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # a ^C at the terminal must not reach it first
            )
        finally:
            log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False) as http:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"etcd exited while starting:\n{self.log_tail()}")
                try:
                    r = http.post(self.endpoint + "/v3/kv/range", json={"key": "AA=="}, timeout=1.0)
                    if r.status_code == 200 and "header" in r.json():
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"etcd did not answer within {timeout:g}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM by pid, wait; SIGKILL if it will not go."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no etcd log)"
