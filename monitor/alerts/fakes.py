"""Loopback chat servers that answer like a Slack incoming webhook and a Matrix homeserver.

For the tests, the bench and the demo: they record what they receive and can
answer "too many requests" once, the way each real server does. Sources of
each behaviour are noted beside it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from tagwatch.collectors.fakes.loopback import LoopbackServer

__all__ = ["FakeSlackWebhook", "FakeMatrix"]


def _read_json(handler: BaseHTTPRequestHandler) -> Any:
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length else b""
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def _answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: str,
    *,
    content_type: str = "text/plain",
    headers: dict[str, str] | None = None,
) -> None:
    data = body.encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)


class FakeSlackWebhook(LoopbackServer):
    """POST {path} with a JSON body, as https://api.slack.com/messaging/webhooks describes.

    - 200 with the body `ok` on success (python-slack-sdk's WebhookClient doc:
      `response.body == "ok"`, https://docs.slack.dev/tools/python-slack-sdk/webhook);
    - 400 `invalid_payload` for a body that is not JSON, 400 `no_text` for one
      without `text` or `blocks` ("Handling errors" in the webhooks guide);
    - 404 `no_service` for a path that is not the webhook's (a revoked URL);
    - 429 with a `Retry-After` header in seconds (https://api.slack.com/docs/rate-limits:
      incoming webhooks allow about one message a second), `rate_limit_once` times.
    """

    def __init__(
        self,
        *,
        path: str = "/services/T000/B000/XXXX",
        rate_limit_once: int = 0,
        retry_after: int = 1,
    ):
        self.path = path
        self.received: list[dict[str, Any]] = []
        self.rate_limited = 0
        self._to_limit = rate_limit_once
        self.retry_after = retry_after
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    @property
    def webhook_url(self) -> str:
        return self.url + self.path

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if method != "POST" or urlsplit(handler.path).path != self.path:
            _answer(handler, 404, "no_service")
            return
        body = _read_json(handler)
        if not isinstance(body, dict):
            _answer(handler, 400, "invalid_payload")
            return
        if not body.get("text") and not body.get("blocks"):
            _answer(handler, 400, "no_text")
            return
        with self.lock:
            if self._to_limit > 0:
                self._to_limit -= 1
                self.rate_limited += 1
                _answer(
                    handler, 429, "rate_limited", headers={"Retry-After": str(self.retry_after)}
                )
                return
            self.received.append(body)
            self.arrived.notify_all()
        _answer(handler, 200, "ok")

    def texts(self) -> list[str]:
        with self.lock:
            return [str(b.get("text")) for b in self.received]

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= n, timeout)


class FakeMatrix(LoopbackServer):
    """`PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}` of the
    client-server spec (https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid).

    - the access token as `Authorization: Bearer` ("Client authentication"):
      none gives 401 `M_MISSING_TOKEN`, a wrong one 401 `M_UNKNOWN_TOKEN`;
    - a room the account has not joined gives 403 `M_FORBIDDEN`;
    - 200 `{"event_id": ...}`; the same txnId again returns the same event and
      stores nothing twice ("Transaction identifiers": idempotent retries);
    - 429 `{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": ...}` ("Rate
      limiting"), `rate_limit_once` times.
    """

    PREFIX = "/_matrix/client/v3/rooms/"

    def __init__(
        self, *, token: str, room: str, rate_limit_once: int = 0, retry_after_ms: int = 200
    ):
        self.token = token
        self.room = room
        self.received: list[dict[str, Any]] = []
        self.events: dict[str, str] = {}
        self.rate_limited = 0
        self._to_limit = rate_limit_once
        self.retry_after_ms = retry_after_ms
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        def error(status: int, code: str, message: str, **extra: Any) -> None:
            _answer(
                handler,
                status,
                json.dumps({"errcode": code, "error": message, **extra}),
                content_type="application/json",
            )

        path = urlsplit(handler.path).path
        parts = path[len(self.PREFIX) :].split("/") if path.startswith(self.PREFIX) else []
        if method != "PUT" or len(parts) != 4 or parts[1:3] != ["send", "m.room.message"]:
            error(404, "M_UNRECOGNIZED", "Unrecognized request")
            return
        auth = handler.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            error(401, "M_MISSING_TOKEN", "Missing access token")
            return
        if auth[len("Bearer ") :] != self.token:
            error(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.")
            return
        room, txn = unquote(parts[0]), unquote(parts[3])
        if room != self.room:
            error(403, "M_FORBIDDEN", "User not in room")
            return
        body = _read_json(handler)
        if not isinstance(body, dict) or "msgtype" not in body or "body" not in body:
            error(400, "M_BAD_JSON", "Content must have msgtype and body")
            return
        with self.lock:
            if self._to_limit > 0:
                self._to_limit -= 1
                self.rate_limited += 1
                error(
                    429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=self.retry_after_ms
                )
                return
            if txn not in self.events:
                self.events[txn] = f"$event{len(self.events) + 1}"
                self.received.append(body)
                self.arrived.notify_all()
            event_id = self.events[txn]
        _answer(handler, 200, json.dumps({"event_id": event_id}), content_type="application/json")

    def wait_for(self, n: int, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.received) >= n, timeout)
