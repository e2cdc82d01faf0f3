"""Loopback fakes of the six channel APIs gatewayctl's lane workers speak:
the Telegram Bot API, the Matrix client-server API, the WhatsApp Cloud API,
WeCom's AI-bot long connection, the Feishu/Lark open platform and the QQ Bot
open platform, each speaking the real wire format (paths, JSON shapes, auth,
status codes including 401, 409 and 429, websocket frames).

This package owns those fakes for demos (``gatewayctl demo``), tests and
benchmarks. Every server binds 127.0.0.1 only (an ephemeral port by
default), exposes Python methods to inject inbound messages and inspect
replies (Telegram and Matrix also over HTTP under ``/_fake/...``), and
carries fixed test credentials that are never real ones.
``python -m gatewayctl.fakes FAMILY [--port N]`` runs one in the foreground.

Nothing in the pipeline (source, selectors, validate, compile, report) or
the runtime and workers imports this package: it is a stand-in for the
outside world, reached only from ``cli/demo.py``, tests and bench/. It may
import ``gatewayctl.workers`` (the Feishu frame codec) and the workers'
third-party libraries (websockets, cryptography), never the pipeline.
"""

from gatewayctl.fakes.feishu import FakeFeishu
from gatewayctl.fakes.matrix import FakeMatrix
from gatewayctl.fakes.qqbot import FakeQQBot
from gatewayctl.fakes.telegram import FakeTelegram
from gatewayctl.fakes.wecom import FakeWeCom
from gatewayctl.fakes.whatsapp import FakeWhatsAppCloud, post_webhook, sign, webhook_payload

__all__ = ["FakeFeishu", "FakeMatrix", "FakeQQBot", "FakeTelegram", "FakeWeCom", "FakeWhatsAppCloud",
           "post_webhook", "sign", "webhook_payload"]
