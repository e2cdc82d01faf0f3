"""A lane worker that reports why it fails just before it exits, as the built-in ones do.

    last_words.py takeover TRIGGER   run ("running", connected); once TRIGGER exists:
                                     "backoff" with a transient error, then "failed"
                                     with the takeover error, then exit 1
    last_words.py stale-error TRIGGER run with an old handler error in last_error; once
                                     TRIGGER exists: exit 3 without saying why

The final status write and the exit are back to back, so the owner's periodic
read of the status file cannot have seen it: only a read after the exit can.
"""

import json
import os
import sys
import time

TAKEOVER = (
    "WeCom sent disconnected_event: another client subscribed with this bot's credentials "
    "and took over its long connection (WeCom allows one per bot); stop the other client, "
    "then restart this lane"
)


def report(**fields):
    path = os.environ["GATEWAYCTL_LANE_STATUS"]
    base = {"family": "wecom", "account": "alerts", "pid": os.getpid(), "messages_ignored": 0,
            "replies_sent": 2, "messages_received": 2, "handler_errors": 0, "last_inbound_at_ms": None}
    base.update(fields)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as fh:
        json.dump(base, fh)
    os.replace(tmp, path)


def wait_for_trigger(path):
    while not os.path.exists(path):
        time.sleep(0.02)


def main(argv):
    mode, trigger = argv[1], argv[2]
    if mode == "takeover":
        report(state="running", connected=True, last_error=None)
        wait_for_trigger(trigger)
        report(state="backoff", connected=False, last_error="connection lost (close code 1006); reconnecting in 1 s")
        time.sleep(0.05)
        report(state="failed", connected=False, last_error=TAKEOVER)
        sys.exit(1)
    if mode == "stale-error":
        report(state="running", connected=True, handler_errors=1,
               last_error="handler gave no answer within 5s (request wecom:m1, dropped)")
        wait_for_trigger(trigger)
        sys.exit(3)
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
