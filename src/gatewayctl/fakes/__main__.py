"""``python -m gatewayctl.fakes FAMILY [--port N]``: run one fake in the
foreground (for manual rollouts and the benchmark); prints one JSON line
with its loopback endpoints and test credentials, then serves until
SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal

from gatewayctl.fakes import FakeFeishu, FakeMatrix, FakeQQBot, FakeTelegram, FakeWeCom, FakeWhatsAppCloud


def _describe(family: str, fake) -> dict:
    if family == "telegram":
        return {"base_url": fake.base_url, "bot_token": fake.token}
    if family == "matrix":
        return {"base_url": fake.base_url, "access_token": fake.access_token, "user_id": fake.user_id}
    if family == "whatsapp":
        return {"api_base_url": fake.api_base_url, "access_token": fake.access_token,
                "phone_number_id": fake.phone_number_id}
    if family == "wecom":
        return {"websocket_url": fake.url, "bot_id": fake.bot_id, "secret": fake.secret}
    if family == "feishu":
        return {"base_url": fake.base_url, "app_id": fake.app_id, "app_secret": fake.app_secret}
    return {"token_base_url": fake.base_url, "api_base_url": fake.base_url, "app_id": fake.app_id,
            "client_secret": fake.client_secret}


FAKES = {"telegram": FakeTelegram, "matrix": FakeMatrix, "whatsapp": FakeWhatsAppCloud, "wecom": FakeWeCom,
         "feishu": FakeFeishu, "qqbot": FakeQQBot}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatewayctl.fakes",
                                     description="Run one loopback channel-API fake in the foreground.")
    parser.add_argument("family", choices=tuple(FAKES))
    parser.add_argument("--port", type=int, default=0,
                        help="loopback port (0: ephemeral); for wecom the websocket port, "
                             "for feishu and qqbot the HTTP port (their websocket is ephemeral)")
    args = parser.parse_args(argv)
    # A process-directed signal may land on any thread, and a handler only
    # runs once the main thread wakes: block both signals before the fake's
    # threads start (they inherit the mask) and take them with sigwait here.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    fake = FAKES[args.family](port=args.port)
    fake.start()
    try:
        print(json.dumps({"family": args.family, **_describe(args.family, fake)}), flush=True)
        signal.sigwait(stop_signals)
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
