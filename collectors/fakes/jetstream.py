"""A loopback Jetstream: the Bluesky network's JSON event stream over a websocket.

It speaks what tagwatch's stream client uses of the real service
(github.com/bluesky-social/jetstream): `GET /subscribe` upgraded to a
websocket, `wantedCollections` (repeatable, `app.bsky.*` prefixes allowed)
and `cursor` (unix microseconds) query parameters, and events in the shapes
recorded from production in
tests/fixtures/recorded/bluesky/jetstream_v1_subscribe_events.jsonl:

    {"did", "time_us", "kind": "commit",
     "commit": {"rev", "operation": "create"|"update"|"delete", "collection", "rkey",
                "record", "cid"}}

A cursor replays events from that time on, as far back as the fake's
`replay_window` keeps (older cursors start at the oldest kept event, as
Jetstream does); no cursor means live from now. Tests publish posts of a
`BlueskyNetwork` (so the same post can also be found by search), deletes,
or raw events; `drop_connections()` cuts every client off, `refuse()` makes
the port stop accepting, `sent` counts what went out.

    with FakeJetstream() as js:
        js.publish_post(network.posts[uri])
        endpoint = js.url   # ws://127.0.0.1:PORT/subscribe
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tagwatch.collectors.fakes.bluesky_data import FakePost

__all__ = ["FakeJetstream"]

POST = "app.bsky.feed.post"


def _rev(n: int) -> str:
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    return "3m" + "".join(alphabet[(n >> (5 * i)) & 31] for i in reversed(range(11)))


class FakeJetstream:
    """A Jetstream `/subscribe` endpoint on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        replay_window: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] | None = None,
    ):
        self.replay_window = replay_window
        self.clock = clock or (lambda: datetime.now(UTC))
        self.log: list[tuple[int, str, str]] = []  # (time_us, collection, json)
        self.connections: list[ServerConnection] = []
        self.subscriptions: list[dict[str, list[str]]] = []  # query of each connection
        self.sent = 0
        self._cond = threading.Condition()
        self._revs = itertools.count(1)
        self._last_us = 0
        self._server: Server | None = None
        self._refusing = False
        # Set by stop(): a connection whose handshake ends after the drop must not register,
        # or its handler waits for events forever and the server's shutdown waits for it.
        self._stopping = False

    # -- running ------------------------------------------------------------------

    def start(self) -> Self:
        self._stopping = False
        self._server = serve(
            self._serve,
            "127.0.0.1",
            0,
            process_request=self._check_path,
            compression=None,
            max_queue=None,
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            with self._cond:
                self._stopping = True
            self.drop_connections()
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/subscribe"

    # -- faults -------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Cut every client off (a restart or a network blip)."""
        with self._cond:
            conns, self.connections = self.connections, []
            self._cond.notify_all()
        for conn in conns:
            conn.close(code=1011, reason="restarting")

    def refuse(self, refusing: bool = True) -> None:
        """Answer new connections 503 (a host down behind its load balancer)."""
        self._refusing = refusing

    # -- events -------------------------------------------------------------------

    def now_us(self) -> int:
        """A time_us after every earlier one, as Jetstream's are."""
        with self._cond:
            us = max(int(self.clock().timestamp() * 1_000_000), self._last_us + 1)
            self._last_us = us
            return us

    def publish(self, event: dict[str, Any]) -> int:
        """Send one event (its `time_us` is set if missing); returns its time_us."""
        event.setdefault("time_us", self.now_us())
        collection = (event.get("commit") or {}).get("collection", "")
        with self._cond:
            self.log.append((event["time_us"], collection, json.dumps(event)))
            self._cond.notify_all()
        return int(event["time_us"])

    def publish_raw(self, lines: Iterable[str]) -> None:
        """Pre-serialized events, sent as they are (the benchmark's firehose)."""
        with self._cond:
            for line in lines:
                self._last_us += 1
                self.log.append((self._last_us, POST, line))
            self._cond.notify_all()

    def commit(self, did: str, operation: str, rkey: str, record: dict[str, Any] | None) -> int:
        commit: dict[str, Any] = {
            "rev": _rev(next(self._revs)),
            "operation": operation,
            "collection": POST,
            "rkey": rkey,
        }
        if record is not None:
            commit["record"] = record
            commit["cid"] = f"bafyrei{abs(hash(json.dumps(record, sort_keys=True))):x}"
        return self.publish({"did": did, "kind": "commit", "commit": commit})

    def publish_post(self, post: FakePost) -> int:
        """The create event of a post of a `BlueskyNetwork`."""
        did, _, rkey = post.uri.removeprefix("at://").partition(f"/{POST}/")
        return self.commit(did, "create", rkey, post.record)

    def publish_delete(self, uri: str) -> int:
        did, _, rkey = uri.removeprefix("at://").partition(f"/{POST}/")
        return self.commit(did, "delete", rkey, None)

    # -- the websocket ------------------------------------------------------------

    def _check_path(self, conn: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != "/subscribe":
            return conn.respond(404, "Not Found\n")
        if self._refusing:
            return conn.respond(503, "Service Unavailable\n")
        return None

    def _start_index(self, cursor: str | None) -> int:
        with self._cond:
            if cursor is None:
                return len(self.log)
            oldest = int((self.clock() - self.replay_window).timestamp() * 1_000_000)
            since = max(int(cursor), oldest)
            return next((i for i, e in enumerate(self.log) if e[0] >= since), len(self.log))

    def _serve(self, conn: ServerConnection) -> None:
        query = parse_qs(urlsplit(conn.request.path if conn.request else "").query)
        wanted = query.get("wantedCollections", [])
        cursor = query.get("cursor", [None])[0]
        with self._cond:
            if self._stopping:
                return
            self.connections.append(conn)
            self.subscriptions.append(query)
        index = self._start_index(cursor)

        def wants(collection: str) -> bool:
            return not wanted or any(
                collection == w or (w.endswith(".*") and collection.startswith(w[:-1]))
                for w in wanted
            )

        try:
            while True:
                with self._cond:
                    while index >= len(self.log) and conn in self.connections:
                        self._cond.wait(0.5)
                    if conn not in self.connections:
                        return
                    batch = self.log[index:]
                index += len(batch)
                for _, collection, line in batch:
                    if wants(collection):
                        conn.send(line)
                        self.sent += 1
        except ConnectionClosed:
            return
        finally:
            with self._cond:
                if conn in self.connections:
                    self.connections.remove(conn)


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `predicate` until it is truthy (tests of a running stream)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)
