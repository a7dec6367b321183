"""The fake X API with the filtered stream: `FakeX` plus the v2 stream and its rules.

Added endpoints, in the shapes of X's docs and of the recorded stream lines
in tests/fixtures/recorded/twitter/filtered_stream_lines.jsonl:

- ``GET /2/tweets/search/stream/rules`` → ``{"data": [{"id", "value", "tag"}],
  "meta": {"sent", "result_count"}}``,
- ``POST /2/tweets/search/stream/rules`` with ``{"add": [...]}`` or
  ``{"delete": {"ids": [...]}}`` → the rules made, ``meta.summary``,
- ``GET /2/tweets/search/stream`` → one JSON line per matching post
  (``{"data", "includes", "matching_rules": [{"id", "tag"}]}``), ``\\r\\n``
  keep-alives, and 403 for access levels without it (`deny`).

A rule matches a post carrying one of the rule's ``#hashtags``; ``-is:retweet``
leaves retweets out. `push(tweet_id)` sends a stored tweet to every client whose
rules match; `drop_connections()` cuts them off.
"""

from __future__ import annotations

import itertools
import json
import queue
import re
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from tagwatch.collectors.fakes.x import FakeRequest, FakeX

__all__ = ["FakeXStream"]

STREAM = "/2/tweets/search/stream"
RULES = "/2/tweets/search/stream/rules"
_CLOSE = object()
_RULE_TAG = re.compile(r"#(\w+)")


class FakeXStream(FakeX):
    def __init__(self, *, keep_alive: float = 20.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.keep_alive = keep_alive  # X sends one every 20 seconds
        self.rules: dict[str, dict[str, str]] = {}
        self._rule_ids = itertools.count(1_600_000_000_000_000_000)
        self._streams: list[queue.Queue[Any]] = []
        self._stream_lock = threading.Lock()

    # -- publishing ---------------------------------------------------------------

    def matching_rules(self, tweet: dict[str, Any]) -> list[dict[str, str]]:
        tags = {h["tag"].casefold() for h in (tweet.get("entities") or {}).get("hashtags") or []}
        retweet = any(r.get("type") == "retweeted" for r in tweet.get("referenced_tweets") or [])
        out = []
        for rule in self.rules.values():
            wanted = {t.casefold() for t in _RULE_TAG.findall(rule["value"])}
            if wanted & tags and not (retweet and "-is:retweet" in rule["value"]):
                out.append({"id": rule["id"], "tag": rule.get("tag", "")})
        return out

    def push(self, tweet_id: str) -> bool:
        """Send a stored tweet down the stream if a rule matches; returns whether it went."""
        tweet = self.state.tweets[tweet_id]
        rules = self.matching_rules(tweet)
        if not rules:
            return False
        user = self.state.users.get(tweet["author_id"])
        line: dict[str, Any] = {"data": tweet, "includes": {"users": [user]} if user else {}}
        line["matching_rules"] = rules
        with self._stream_lock:
            for q in self._streams:
                q.put(json.dumps(line) + "\r\n")
        return True

    def drop_connections(self) -> None:
        with self._stream_lock:
            streams, self._streams = self._streams, []
        for q in streams:
            q.put(_CLOSE)

    @property
    def connected(self) -> int:
        with self._stream_lock:
            return len(self._streams)

    def stop(self) -> None:
        self.drop_connections()
        super().stop()

    # -- serving ------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        if path not in (STREAM, RULES):
            super().handle(h, method)
            return
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length) or b"{}") if length else {}
        with self._lock:
            self.requests.append(_request(method, path, h))
            if h.headers.get("Authorization", "") != f"Bearer {self.bearer_token}":
                return self._json(h, 401, {"title": "Unauthorized", "status": 401})
            denied = next((b for p, b in self.denied.items() if path.startswith(p)), None)
        if denied is not None:
            return self._json(h, 403, denied)
        if path == RULES:
            return self._json(h, 200, self._rules(method, body))
        self._stream(h)

    def _rules(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        sent = self.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if method == "GET":
            data = list(self.rules.values())
            out: dict[str, Any] = {"meta": {"sent": sent, "result_count": len(data)}}
            if data:
                out["data"] = data
            return out
        if "delete" in body:
            ids = [str(i) for i in body["delete"].get("ids") or []]
            gone = [i for i in ids if self.rules.pop(i, None) is not None]
            summary = {"deleted": len(gone), "not_deleted": len(ids) - len(gone)}
            return {"meta": {"sent": sent, "summary": summary}}
        made = []
        for rule in body.get("add") or []:
            new = {"id": str(next(self._rule_ids)), "value": rule["value"]}
            if rule.get("tag"):
                new["tag"] = rule["tag"]
            self.rules[new["id"]] = new
            made.append(new)
        summary = {"created": len(made), "not_created": 0, "valid": len(made), "invalid": 0}
        return {"data": made, "meta": {"sent": sent, "summary": summary}}

    def _stream(self, h: BaseHTTPRequestHandler) -> None:
        q: queue.Queue[Any] = queue.Queue()
        with self._stream_lock:
            self._streams.append(q)
        try:
            # X streams with chunked transfer encoding; clients read chunk by chunk.
            h.protocol_version = "HTTP/1.1"
            h.send_response(200)
            h.send_header("content-type", "application/json; charset=utf-8")
            h.send_header("transfer-encoding", "chunked")
            h.send_header("connection", "close")
            h.end_headers()
            while True:
                try:
                    item = q.get(timeout=self.keep_alive)
                except queue.Empty:
                    item = "\r\n"
                if item is _CLOSE:
                    h.wfile.write(b"0\r\n\r\n")
                    return
                data = item.encode("utf-8")
                h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            with self._stream_lock:
                self._streams = [s for s in self._streams if s is not q]
            h.close_connection = True

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json; charset=utf-8")
        h.send_header("content-length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)


def _request(method: str, path: str, h: BaseHTTPRequestHandler) -> FakeRequest:
    return FakeRequest(method, path, {}, dict(h.headers.items()))
