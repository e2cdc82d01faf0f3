"""An exec handler that answers each message with what its own environment holds.

Reply: JSON ``{"names": [...], "api_key": <OPENAI_API_KEY or null>, "ids": {...}}``
(``ids``: its real/effective/saved uids and gids and supplementary groups); values
other than the one the test planted never leave the process.
"""

import json
import os
import sys

for line in sys.stdin:
    req = json.loads(line)
    reply = json.dumps({
        "names": sorted(os.environ),
        "api_key": os.environ.get("OPENAI_API_KEY"),
        "ids": {"uids": os.getresuid(), "gids": os.getresgid(), "groups": os.getgroups()},
    })
    sys.stdout.write(json.dumps({"id": req["id"], "reply": reply}) + "\n")
    sys.stdout.flush()
