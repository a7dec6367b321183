"""One way to make every fake misbehave: queue a fault for a path, N times.

Every loopback fake (Bluesky, X, Mastodon, Threads and Instagram) keeps a
`Faults` queue and asks it, for each request, whether a fault is due. What a
fault looks like on the wire stays the fake's own business: each platform
sends its own error bodies and its own rate-limit headers (Bluesky's
``ratelimit-reset`` in epoch seconds, X's ``x-rate-limit-reset``, Mastodon's
ISO ``X-RateLimit-Reset``, Meta's usage headers), with the fakes' notes on
where each comes from beside them. The helper only decides *which* request
gets *which* fault, the same way in every fake:

- a fault matches a request whose path (or Bluesky NSID) starts with `path`;
  ``"*"`` matches any request, after every fault with a path of its own;
- `after` lets that many matching requests through first;
- `times` is how many requests get it (None: every one until `clear`).

Kinds: ``error`` (`status` with `body`, as the fake renders it), ``rate_limit``
(a 429 with the platform's own headers, resetting at `reset_at` or `reset_in`
seconds after the request on the fake's clock), ``garbage`` (200 with a body
that is not JSON), ``slow`` (answer after `delay` seconds). The Jetstream fake
is a WebSocket stream, not request and answer: its faults are connections cut
or refused (`drop_connections`, `refuse`), not queued here.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Fault", "Faults", "encoded"]


@dataclass
class Fault:
    """One injected misbehaviour for requests whose path starts with `path`."""

    kind: str  # error | rate_limit | garbage | slow
    path: str = "*"
    status: int = 500
    body: Any = None  # None: the fake's own body for `status`; bytes/str as is; else JSON
    headers: dict[str, str] = field(default_factory=dict)
    reset_at: datetime | None = None
    reset_in: float | None = None  # seconds after the request, on the fake's clock
    delay: float = 0.0
    times: int | None = 1  # None: every matching request until cleared
    after: int = 0  # let this many matching requests through first


class Faults:
    """The faults queued on one fake; safe to use from the test and the server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)

    def take(self, path: str) -> Fault | None:
        """The fault due for a request to `path` now, counted as used; None: answer normally."""
        with self._lock:
            own = [f for f in self._queue if f.path != "*" and path.startswith(f.path)]
            for fault in own + [f for f in self._queue if f.path == "*"]:
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._queue.remove(fault)
                return fault
        return None


def encoded(body: Any, default: Any) -> bytes:
    """A fault's body as sent: the fake's `default` for None, bytes and str as they are."""
    if body is None:
        body = default
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()
