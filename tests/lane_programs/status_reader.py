"""Read the runtime's state files in a tight loop; report any torn or unparseable read.

    status_reader.py RUNTIME_DIR SECONDS

Reads until it has seen enough rewrites (more than 500 reads, more than 10
heartbeats, at least 3 lane restarts) or SECONDS passed, whichever is first:
a deadline, not a duration, so a loaded machine makes it slower, not wrong.
Prints one JSON line: {"reads": n, "torn": [...], "heartbeats": k, "restarts_seen": r}.
Then asks the owner to stop (as `gateway stop` would), so the test's owner returns.
"""

import json
import os
import sys
import time


def main():
    runtime_dir, seconds = sys.argv[1], float(sys.argv[2])
    names = ("status.json", "owner-active.json")
    reads, torn = 0, []
    beats, restarts = set(), 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (reads > 500 and len(beats) > 10 and restarts >= 3):
        for name in names:
            path = os.path.join(runtime_dir, name)
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                continue
            reads += 1
            try:
                doc = json.loads(data)
                if not isinstance(doc, dict) or "phase" not in doc:
                    raise ValueError("not a status object")
            except ValueError as exc:
                torn.append(f"{name}: {exc}: {data[:80]!r}")
                continue
            beats.add(doc.get("last_heartbeat_at"))
            for lane in doc.get("lanes") or []:
                restarts = max(restarts, lane.get("restarts") or 0)
    from gatewayctl.runtime import RuntimePaths, System, request_stop

    outcome = request_stop(RuntimePaths(runtime_dir), System())
    print(json.dumps({"reads": reads, "torn": torn, "heartbeats": len(beats), "restarts_seen": restarts, "stop": outcome}))


if __name__ == "__main__":
    main()
