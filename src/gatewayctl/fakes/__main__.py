"""``python -m gatewayctl.fakes FAMILY[:PORT]... [--port N]``: run fakes in the
foreground (for manual rollouts, the docs/gateway.md walkthrough and the
benchmark); prints one JSON line per fake with its loopback endpoints and
test credentials, then serves until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys

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


def _family_port(text: str) -> tuple[str, int]:
    family, sep, port = text.partition(":")
    if family not in FAKES:
        raise argparse.ArgumentTypeError(f"unknown family {family!r}; choose from {', '.join(FAKES)}")
    if not sep:
        return family, 0
    if not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: the port after ':' must be a number from 0 to 65535")
    return family, int(port)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatewayctl.fakes",
                                     description="Run loopback channel-API fakes in the foreground.")
    parser.add_argument("fakes", nargs="+", type=_family_port, metavar="FAMILY[:PORT]",
                        help=f"one of {', '.join(FAKES)}, optionally with its loopback port (default: "
                             "ephemeral); for wecom the websocket port, for feishu and qqbot the HTTP port "
                             "(their websocket is ephemeral)")
    parser.add_argument("--port", type=int, default=None,
                        help="the port of a single FAMILY (the same as FAMILY:PORT)")
    args = parser.parse_args(argv)
    wanted = list(args.fakes)
    if args.port is not None:
        if len(wanted) != 1 or wanted[0][1]:
            parser.error("--port goes with a single FAMILY without :PORT; give several as FAMILY:PORT")
        wanted = [(wanted[0][0], args.port)]
    families = [family for family, _ in wanted]
    if len(set(families)) != len(families):
        parser.error("each family at most once")
    # A process-directed signal may land on any thread, and a handler only
    # runs once the main thread wakes: block both signals before the fakes'
    # threads start (they inherit the mask) and take them with sigwait here.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    started = []
    try:
        for family, port in wanted:
            try:
                fake = FAKES[family](port=port)
                fake.start()
            except OSError as exc:  # the port is taken, most likely
                print(f"python -m gatewayctl.fakes: cannot listen for {family} on 127.0.0.1:{port}: "
                      f"{exc.strerror or exc}; pick another port", file=sys.stderr)
                return 1
            started.append(fake)
            print(json.dumps({"family": family, **_describe(family, fake)}), flush=True)
        signal.sigwait(stop_signals)
    finally:
        for fake in started:
            fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
