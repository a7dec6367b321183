"""A loopback Mastodon streaming server (server-sent events) beside a `FakeMastodon`.

Mastodon serves its streaming API from a separate process, often on its own
host, announced in `/api/v2/instance` as `configuration.urls.streaming`; this
fake does the same: attaching it to a `FakeMastodon` makes the instance
announce it. It speaks what tagwatch uses of the real API
(docs.joinmastodon.org/methods/streaming):

- ``GET /api/v1/streaming/health`` → ``OK``,
- ``GET /api/v1/streaming/hashtag?tag=NAME`` → ``text/event-stream`` with
  ``event: update`` / ``data: <Status JSON>`` for each new status carrying the
  tag, ``event: delete`` / ``data: <status id>`` for every deletion, and a
  ``:thump`` comment as heartbeat,
- 401 ``{"error": ...}`` without a valid token when the instance requires one.

`push_update` / `push_delete` publish; `drop_connections()` cuts every
client off; `subscriptions` logs each connection's query.
"""

from __future__ import annotations

import json
import queue
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from tagwatch.collectors.fakes.loopback import LoopbackServer
from tagwatch.collectors.fakes.mastodon import FakeMastodon

__all__ = ["FakeMastodonStreaming"]

_CLOSE = object()


class FakeMastodonStreaming(LoopbackServer):
    """The streaming server of one fake instance."""

    def __init__(self, instance: FakeMastodon, *, heartbeat: float = 15.0):
        self.instance = instance
        self.heartbeat = heartbeat
        self.subscriptions: list[dict[str, str]] = []
        self._clients: list[tuple[str, queue.Queue[Any]]] = []
        self._lock = threading.Lock()

    def start(self) -> Self:
        super().start()
        self.instance.streaming_url = self.url.replace("http://", "ws://")
        return self

    def stop(self) -> None:
        self.drop_connections()
        super().stop()

    # -- publishing ---------------------------------------------------------------

    def push_update(self, status: dict[str, Any]) -> None:
        """A new status, sent to the streams of the tags it carries."""
        tags = {t["name"].casefold() for t in status.get("tags") or ()}
        frame = f"event: update\ndata: {json.dumps(status, ensure_ascii=False)}\n\n"
        with self._lock:
            for tag, q in self._clients:
                if tag in tags:
                    q.put(frame)

    def push_delete(self, status_id: str) -> None:
        """A deletion goes to every stream, as Mastodon sends it regardless of tag."""
        with self._lock:
            for _, q in self._clients:
                q.put(f"event: delete\ndata: {status_id}\n\n")

    def drop_connections(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for _, q in clients:
            q.put(_CLOSE)

    @property
    def connected(self) -> int:
        with self._lock:
            return len(self._clients)

    # -- serving ------------------------------------------------------------------

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/api/v1/streaming/health":
            self._plain(handler, 200, b"OK", "text/plain")
            return
        if url.path != "/api/v1/streaming/hashtag" or not query.get("tag"):
            self._plain(handler, 404, b'{"error":"Unknown stream type"}', "application/json")
            return
        auth = handler.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else query.get("access_token", "")
        if (token and token not in self.instance.tokens) or (
            self.instance.require_auth and not token
        ):
            body = b'{"error":"Error while trying to authenticate"}'
            self._plain(handler, 401, body, "application/json")
            return
        self.subscriptions.append(query)
        q: queue.Queue[Any] = queue.Queue()
        with self._lock:
            self._clients.append((query["tag"].casefold(), q))
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.send_header("Cache-Control", "private, no-store")
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(b":)\n")
            handler.wfile.flush()
            while True:
                try:
                    frame = q.get(timeout=self.heartbeat)
                except queue.Empty:
                    frame = ":thump\n"
                if frame is _CLOSE:
                    return
                handler.wfile.write(frame.encode("utf-8"))
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            with self._lock:
                self._clients = [c for c in self._clients if c[1] is not q]
            handler.close_connection = True

    @staticmethod
    def _plain(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
