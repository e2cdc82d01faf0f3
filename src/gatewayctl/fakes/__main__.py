"""``python -m tests.fakes telegram|matrix|whatsapp [--port N]``: run one
fake in the foreground (for the demo and the benchmark); prints one JSON
line with its base URL and credentials, then serves until interrupted."""

from __future__ import annotations

import argparse
import json
import signal
import threading

from tests.fakes import FakeMatrix, FakeTelegram, FakeWhatsAppCloud


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes")
    parser.add_argument("family", choices=("telegram", "matrix", "whatsapp"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.family == "telegram":
        fake = FakeTelegram(port=args.port)
        info = {"base_url": fake.base_url, "bot_token": fake.token}
    elif args.family == "matrix":
        fake = FakeMatrix(port=args.port)
        info = {"base_url": fake.base_url, "access_token": fake.access_token, "user_id": fake.user_id}
    else:
        fake = FakeWhatsAppCloud(port=args.port)
        info = {"api_base_url": fake.api_base_url, "access_token": fake.access_token,
                "phone_number_id": fake.phone_number_id}
    fake.start()
    print(json.dumps(info), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
