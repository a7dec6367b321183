"""What the fake Threads and Instagram servers share: Meta's Graph API conventions.

Split from `tagwatch.collectors.fakes.meta` (the two platforms' endpoints); the
sources of each behaviour are listed in that module's docstring: error bodies
and codes (Graph API guide "Handling Errors"), usage headers ("Rate Limiting"),
Graph paging, ``/debug_token``, and tokens in a header or ``access_token=``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tagwatch.collectors.fakes.faults import Fault, Faults, encoded
from tagwatch.collectors.fakes.loopback import LoopbackServer
from tagwatch.records import utcnow

__all__ = [
    "FakeGraph",
    "GraphRequest",
    "graph_time",
    "parse_graph_time",
    "page_cursor",
    "page_offset",
]


def graph_time(at: datetime) -> str:
    """Meta's timestamp format: ``2017-08-31T18:10:00+0000``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_graph_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


def page_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def page_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode().split(":")[1])
    except (ValueError, IndexError):
        return -1


@dataclass
class GraphRequest:
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)


class FakeGraph(LoopbackServer):
    """What both fakes share: tokens, errors, usage headers, debug_token, the request log."""

    usage_header = "X-App-Usage"

    def __init__(
        self,
        *,
        token: str,
        now: Callable[[], datetime] = utcnow,
        scopes: tuple[str, ...] = (),
        expires_at: datetime | None = None,
    ):
        self.token = token
        self.now = now
        self.scopes = scopes
        self.expires_at = expires_at
        self.revoked = False
        self.usage_percent: int | None = None  # None: no usage header (few calls so far)
        self.faults = Faults()  # queued misbehaviour (`fail`, `throttle`)
        self.regain_minutes = 0
        self.requests: list[GraphRequest] = []
        self.lock = threading.Lock()

    def count(self, prefix: str = "/") -> int:
        return sum(1 for r in self.requests if r.path.startswith(prefix))

    # -- faults --------------------------------------------------------------------------

    def fail(self, path: str, status: int = 500, *, body: Any = None, times: int = 1) -> None:
        """The next `times` requests under `path` answer `status` (Graph's code 1 error body)."""
        self.faults.add(Fault("error", path, status, body, times=times))

    def throttle(self, code: int, *, path: str = "*", times: int | None = None) -> None:
        """Answer requests (every one until `faults.clear()`) with throttling `code`.

        Graph API guide "Handling Errors": codes 4, 17, 32 and 613 (HTTP 400);
        the usage headers then stand at 100 % and, on Instagram, the BUC header
        says when access returns (`regain_minutes`).
        """
        msg = {
            4: "Application request limit reached",
            17: "User request limit reached",
            32: "Page request limit reached",
            613: "Calls to this api have exceeded the rate limit.",
        }.get(code, "Request limit reached")
        self.faults.add(Fault("rate_limit", path, 400, self.error(code, msg), times=times))

    # -- plumbing ------------------------------------------------------------------------

    def _usage(self, percent: int) -> tuple[str, str]:
        body = {"call_count": percent, "total_cputime": percent // 2, "total_time": percent // 2}
        return self.usage_header, json.dumps(body)

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            handler.send_header(k, v)
        handler.end_headers()
        handler.wfile.write(data)

    @staticmethod
    def error(code: int, message: str, kind: str = "OAuthException", subcode: int = 0) -> Any:
        err: dict[str, Any] = {"message": message, "type": kind, "code": code}
        if subcode:
            err["error_subcode"] = subcode
        err["fbtrace_id"] = "AbCdEfGhIjK"
        return {"error": err}

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append(GraphRequest(parts.path, query, dict(handler.headers.items())))
        headers: dict[str, str] = {}
        if self.usage_percent is not None:
            name, value = self._usage(self.usage_percent)
            headers[name] = value
        auth = handler.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else query.get("access_token", "")
        if token != self.token or self.revoked:
            # Graph API guide: 190 with subcode 463 "expired", 460 password changed, etc.
            msg = "Error validating access token: Session has expired."
            self._send(handler, 400, self.error(190, msg, subcode=463), headers)
            return
        fault = self.faults.take(parts.path)
        if fault is not None:
            if fault.kind == "rate_limit":
                # Graph API guide: throttling codes; the BUC header says when access returns.
                name, value = self._usage(100)
                headers[name] = value
            # Graph API guide: code 1, "An unknown error occurred", for a fault without a body.
            body = encoded(fault.body, self.error(1, "An unknown error occurred"))
            self._send(handler, fault.status, body, {**headers, **fault.headers})
            return
        if parts.path.endswith("/debug_token"):
            self._send(handler, 200, self.debug_info(query.get("input_token", "")), headers)
            return
        status, body = self.route(parts.path, query)
        self._send(handler, status, body, headers)

    def debug_info(self, token: str) -> Any:
        now = self.now()
        expires = int(self.expires_at.timestamp()) if self.expires_at else 0
        return {
            "data": {
                "type": "USER",
                "application": "tagwatch test app",
                "data_access_expires_at": int((now + timedelta(days=90)).timestamp()),
                "expires_at": expires,
                "is_valid": token == self.token and not self.revoked,
                "issued_at": int((now - timedelta(days=1)).timestamp()),
                "scopes": list(self.scopes),
                "user_id": "1000",
            }
        }

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        raise NotImplementedError

    def gone(self, object_id: str) -> tuple[int, Any]:
        # Graph API: reading a deleted object answers code 100, subcode 33.
        msg = (
            f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation."
        )
        return 400, self.error(100, msg, kind="GraphMethodException", subcode=33)

    def page(
        self, items: list[dict[str, Any]], query: dict[str, str], limit: int, path: str
    ) -> tuple[int, Any]:
        start = page_offset(query.get("after"))
        if start < 0:
            return 400, self.error(100, "Invalid parameter: after", kind="OAuthException")
        chunk = items[start : start + limit]
        body: dict[str, Any] = {"data": chunk}
        if chunk:
            body["paging"] = {
                "cursors": {"before": page_cursor(start), "after": page_cursor(start + limit)}
            }
            if start + limit < len(items):
                nxt = dict(query, after=page_cursor(start + limit))
                nxt.pop("access_token", None)
                body["paging"]["next"] = f"{self.url}{path}?{urlencode(nxt)}"
        return 200, body
