"""Fake WhatsApp Cloud API (Graph API) plus the webhook side: builders for
Meta's webhook payloads, X-Hub-Signature-256 signing, and a poster that
delivers them to a lane's webhook like Meta does."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.request

from gatewayctl.fakes._http import FakeRequest, FakeServer, sent_listing

_MESSAGES = re.compile(r"^(?:/v\d+\.\d+)?/([^/]+)/messages$")
_NODE = re.compile(r"^(?:/v\d+\.\d+)?/([^/]+)$")


def _err(status: int, code: int, message: str, etype: str = "OAuthException"):
    return status, {"error": {"message": message, "type": etype, "code": code, "fbtrace_id": "FAKEtrace"}}, None


class FakeWhatsAppCloud(FakeServer):
    def __init__(self, access_token: str = "EAAfake-access-token-000", *, phone_number_id: str = "1098765432",
                 version: str = "v25.0", host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.version = version
        self.api_base_url = f"{self.base_url}/{version}"
        self.sent: list[dict] = []
        self.failures: list[tuple[int, int]] = []
        self.next_id = 1
        self.replied_to: set[str] = set()  # inbound message ids a reply named (context.message_id)

    def fail_next(self, status: int = 429, code: int = 130429, count: int = 1) -> None:
        with self.cond:
            self.failures.extend([(status, code)] * count)

    def wait_sent(self, n: int, timeout: float = 10.0):
        return self.wait_until(lambda: list(self.sent) if len(self.sent) >= n else None, timeout)

    def snapshot_sent(self) -> list[dict]:
        with self.cond:
            return list(self.sent)

    def dispatch(self, req: FakeRequest):
        if req.path == "/_fake/sent":
            return sent_listing(self, req)
        node = _NODE.match(req.path)
        if node and req.method == "GET":
            # A read of the phone number node, as `preflight` makes it.
            if req.headers.get("authorization") != f"Bearer {self.access_token}":
                return _err(401, 190, "Invalid OAuth access token - Cannot parse access token")
            if node.group(1) != self.phone_number_id:
                return _err(400, 100, f"Unsupported get request. Object with ID '{node.group(1)}' does not exist, "
                                      "cannot be loaded due to missing permissions, or does not support this operation",
                            "GraphMethodException")
            return 200, {"verified_name": "Fake Business", "display_phone_number": "+1 555-000-1111",
                         "id": self.phone_number_id, "quality_rating": "GREEN"}, None
        m = _MESSAGES.match(req.path)
        if not m or req.method != "POST":
            return _err(400, 100, "Unsupported request", "GraphMethodException")
        if req.headers.get("authorization") != f"Bearer {self.access_token}":
            return _err(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if m.group(1) != self.phone_number_id:
            return _err(400, 100, f"Unsupported post request. Object with ID '{m.group(1)}' does not exist",
                        "GraphMethodException")
        with self.cond:
            if self.failures:
                status, code = self.failures.pop(0)
                return _err(status, code, "(#130429) Rate limit hit", "OAuthException")
        try:
            body = req.json()
        except ValueError:
            return _err(400, 100, "Invalid JSON")
        if body.get("messaging_product") != "whatsapp":
            return _err(400, 100, "The parameter messaging_product is required.")
        if body.get("type") != "text" or not isinstance((body.get("text") or {}).get("body"), str):
            return _err(400, 100, "Param text['body'] is required")
        if len(body["text"]["body"]) > 4096:
            return _err(400, 100, "Param text['body'] must be at most 4096 characters long.")
        # Since the 2026 username rollout a reply names the user by phone
        # number ("to", which wins when both are given) or by
        # business-scoped user id ("recipient").
        to, recipient = body.get("to"), body.get("recipient")
        if not (isinstance(to, str) and to) and not (isinstance(recipient, str) and recipient):
            return _err(400, 100, "(#100) The parameter to or recipient is required.")
        context = (body.get("context") or {}).get("message_id") if isinstance(body.get("context"), dict) else None
        with self.cond:
            if isinstance(context, str) and context:
                if context in self.replied_to:
                    # Push delivery has no consumer to count: a second reply
                    # to one inbound message is what two receivers look like.
                    self.overlaps += 1
                self.replied_to.add(context)
            wamid = f"wamid.OUT{self.next_id:06d}"
            self.next_id += 1
            self.sent.append({"to": to, "recipient": recipient, "text": body["text"]["body"],
                              "context": (body.get("context") or {}).get("message_id"), "id": wamid,
                              "at": time.monotonic()})
            self.cond.notify_all()
        contact = {"input": to, "wa_id": to} if to else {"input": recipient, "user_id": recipient}
        return 200, {"messaging_product": "whatsapp", "contacts": [contact],
                     "messages": [{"id": wamid}]}, None


def bsuid_for(sender: str) -> str:
    """A stable business-scoped user id for a test sender (country code,
    a dot, digits: the documented shape, e.g. ``US.13491208655302741918``)."""
    digits = int(hashlib.sha256(sender.encode()).hexdigest()[:16], 16)
    return f"US.{digits}"


def webhook_payload(phone_number_id: str, sender: str | None, text: str, message_id: str, *,
                    display_phone_number: str = "15550001111", msg_type: str = "text",
                    user_id: str | None = None, username: str | None = None) -> dict:
    """A messages webhook in today's shape: the contact carries the
    business-scoped ``user_id`` always, ``wa_id`` and the message's
    ``from`` only when the phone number is shared (``sender`` None: a
    user with a username whose number Meta withholds)."""
    user_id = user_id or bsuid_for(sender or username or message_id)
    message = {"id": message_id, "timestamp": str(int(time.time())), "type": msg_type}
    if sender:
        message["from"] = sender
    if msg_type == "text":
        message["text"] = {"body": text}
    profile = {"name": "Test User"}
    if username:
        profile["username"] = username
    contact = {"profile": profile, "user_id": user_id}
    if sender:
        contact["wa_id"] = sender
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id},
                    "contacts": [contact],
                    "messages": [message],
                },
                "field": "messages",
            }],
        }],
    }


def sign(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(url: str, payload: dict, app_secret: str | None, *, signature: str | None = None,
                 timeout: float = 30.0) -> tuple[int, bytes]:
    """Deliver like Meta: raw JSON body, X-Hub-Signature-256 over it."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    sig = signature if signature is not None else (sign(app_secret, body) if app_secret else None)
    if sig:
        headers["X-Hub-Signature-256"] = sig
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
