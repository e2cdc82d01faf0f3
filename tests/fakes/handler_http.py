"""A loopback url handler: POST request JSON -> {"id", "reply": "url: <text>"}."""

from __future__ import annotations

from gatewayctl.fakes._http import FakeRequest, FakeServer


class UrlHandlerServer(FakeServer):
    def __init__(self, host="127.0.0.1", port=0):
        super().__init__(host, port)
        self.requests: list[dict] = []
        self.url = f"{self.base_url}/turn"

    def dispatch(self, req: FakeRequest):
        if req.path != "/turn" or req.method != "POST":
            return 404, {"error": "not found"}, None
        body = req.json()
        with self.cond:
            self.requests.append(body)
            self.cond.notify_all()
        if body.get("text") == "silent":
            return 200, {"id": body["id"], "reply": None}, None
        return 200, {"id": body["id"], "reply": f"url: {body['text']}"}, None
