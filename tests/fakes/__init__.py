"""Loopback fakes of the Telegram Bot API, the Matrix client-server API and
the WhatsApp Cloud API, speaking the real wire formats (paths, JSON shapes,
auth headers, status codes including 429 and 409).

Each fake runs a threaded HTTP server on 127.0.0.1 (an ephemeral port by
default), exposes Python methods to inject inbound messages and inspect
replies, and the same over HTTP under ``/_fake/...`` so a separate process
(the demo, the benchmark) can drive it. Standard library only, so a demo
needs nothing installed beyond gatewayctl. ``python -m tests.fakes
telegram|matrix|whatsapp`` runs one in the foreground.
"""

from tests.fakes.matrix import FakeMatrix
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsAppCloud, post_webhook, sign, webhook_payload

__all__ = ["FakeMatrix", "FakeTelegram", "FakeWhatsAppCloud", "post_webhook", "sign", "webhook_payload"]
