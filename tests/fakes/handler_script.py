"""A tiny exec handler for tests and demos: JSON lines in, JSON lines out.

Replies "handled: <text>". Test hooks by message text: "silent" -> reply
null; "slow" -> answer after 5 s (past a short timeout); "die" -> exit 3
without answering (the lane must restart it)."""

import json
import sys
import time

for line in sys.stdin:
    req = json.loads(line)
    text = req.get("text", "")
    if text == "die":
        sys.exit(3)
    if text == "slow":
        time.sleep(5)
    reply = None if text == "silent" else f"handled: {text}"
    sys.stdout.write(json.dumps({"id": req["id"], "reply": reply}) + "\n")
    sys.stdout.flush()
