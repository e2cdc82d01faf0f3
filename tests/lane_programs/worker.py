"""A small lane worker for tests: behaves in the ways that matter to the owner.

    worker.py run                 run until SIGTERM, then exit 0
    worker.py crash SECONDS [CODE] run, then exit with CODE (default 3)
    worker.py ignore-term          ignore SIGTERM (needs SIGKILL)
    worker.py exit0 SECONDS        exit 0 on its own, unasked
    worker.py grandchild PIDFILE   start a grandchild that ignores SIGTERM, write its pid, run
    worker.py chatty BYTES         write BYTES of output, then run
    worker.py unready              run, but report state "starting" and never "ready"
    worker.py ready-after TRIGGER  report "starting" until TRIGGER exists, then "ready", and run
    worker.py status-zero          make its status file a symlink to /dev/zero, then run
    worker.py status-fifo          make its status file a FIFO nobody writes, then run
    worker.py status-huge          make its status file a 64 MiB sparse file, then run
    worker.py status-hardlink      make its status file a second name of another file, then run
    worker.py status-dir           make its status file a directory, then exit 3 (to be restarted)
    worker.py plan-probe PLAN TRIGGER  once TRIGGER exists, read PLAN (its {plan}), try to
                                   write to it, report the bytes' sha256 and whether writing worked

Every mode reports readiness through $GATEWAYCTL_LANE_STATUS (atomic replace),
as a real worker would, and prints one line to stdout.
"""

import json
import os
import signal
import subprocess
import sys
import time


def report(**fields):
    path = os.environ.get("GATEWAYCTL_LANE_STATUS")
    if not path:
        return
    fields.update(uids=os.getresuid(), gids=os.getresgid(), groups=os.getgroups())
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(fields, fh)
    os.replace(tmp, path)


def on_term(signum, frame):
    print("worker: SIGTERM, exiting", flush=True)
    sys.exit(0)


def main(argv):
    mode = argv[1] if len(argv) > 1 else "run"
    print(f"worker {mode} pid={os.getpid()} lane={os.environ.get('GATEWAYCTL_LANE')}", flush=True)
    signal.signal(signal.SIGTERM, on_term)
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "grandchild":
        child = subprocess.Popen(
            [sys.executable, "-c", "import signal,time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(1)"]
        )
        with open(argv[2] + ".tmp", "w") as fh:
            fh.write(str(child.pid))
        os.replace(argv[2] + ".tmp", argv[2])
    if mode == "chatty":
        total = int(argv[2])
        line = b"x" * 99 + b"\n"
        while total > 0:
            os.write(1, line[: min(total, 100)])
            total -= 100
    if mode == "unready":
        report(state="starting", connected=False, mode=mode, pid=os.getpid())
        while True:
            time.sleep(3600)
    if mode == "ready-after":
        report(state="starting", connected=False, mode=mode, pid=os.getpid())
        while not os.path.exists(argv[2]):
            time.sleep(0.02)
    report(state="ready", mode=mode, pid=os.getpid(), env_names=sorted(os.environ))
    hostile = os.environ.get("GATEWAYCTL_LANE_STATUS", "")
    if mode == "status-zero":
        os.unlink(hostile)
        os.symlink("/dev/zero", hostile)
    if mode == "status-fifo":
        os.unlink(hostile)
        os.mkfifo(hostile, 0o600)
    if mode == "status-hardlink":
        other = os.path.join(os.path.dirname(hostile), "elsewhere.json")
        with open(other, "w") as fh:
            json.dump({"state": "ready", "leaked": True}, fh)
        os.unlink(hostile)
        os.link(other, hostile)
    if mode == "status-dir":
        os.unlink(hostile)
        os.mkdir(hostile)
        time.sleep(0.3)
        sys.exit(3)  # restarted: the owner must cope with what it finds
    if mode == "status-huge":
        with open(hostile + ".tmp", "wb") as fh:
            fh.truncate(64 * 1024 * 1024)
        os.replace(hostile + ".tmp", hostile)
    if mode == "plan-probe":
        plan_path, trigger = argv[2], argv[3]
        while not os.path.exists(trigger):
            time.sleep(0.02)
        import hashlib

        with open(plan_path, "rb") as fh:
            data = fh.read()
        try:
            with open(plan_path, "r+b") as fh:
                fh.write(b"{}")
            wrote = True
        except OSError as exc:
            wrote = exc.strerror
        report(state="ready", mode=mode, plan_path=plan_path, plan_sha256=hashlib.sha256(data).hexdigest(), wrote=wrote)
    if mode in ("crash", "exit0"):
        time.sleep(float(argv[2]))
        code = 0 if mode == "exit0" else int(argv[3]) if len(argv) > 3 else 3
        print(f"worker: exiting with {code}", flush=True)
        sys.exit(code)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv)
