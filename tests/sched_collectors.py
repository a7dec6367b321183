"""Test collectors for the scheduler: real `Collector` subclasses with a platform in memory.

They go through the shared base (`call`, `store_page`, `run_pass`), so the
scheduler is tested on the same path as a real platform, without depending
on any platform's client library. Also importable by a subprocess (the
SIGTERM test), which is why they live in a module rather than a test file.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tagwatch.collectors.base import Collector
from tagwatch.errors import PlatformError
from tagwatch.records import Author, Post

PASSES: list[tuple[str, float, float]] = []  # (collector, started, ended) monotonic
PASSES_LOCK = threading.Lock()
DIGESTS: list[dict[str, Any]] = []
ENRICHED: list[int] = []
ENRICHED_ON: list[str] = []  # the thread each enrichment ran on
WARMED_ON: list[str] = []


def numbered_post(n: int, platform: str = "bluesky") -> Post:
    return Post(
        platform=platform,
        platform_id=f"p{n:05d}",
        url=f"https://example.test/p/{n}",
        author=Author(f"a{n % 7}", f"author{n % 7}", f"Author {n % 7}", 10),
        text=f"Post {n} #HRHN2016",
        created_at=datetime(2016, 11, 24, 9, tzinfo=UTC) + timedelta(minutes=n),
        hashtags=("hrhn2016",),
    )


class PagedCollector(Collector):
    """A platform holding TOTAL numbered posts, read PAGE_SIZE at a time from a stored offset."""

    name = "bluesky"
    TOTAL = int(os.environ.get("SCHED_TOTAL", "30"))
    PAGE_SIZE = int(os.environ.get("SCHED_PAGE_SIZE", "3"))
    PAGE_DELAY = float(os.environ.get("SCHED_PAGE_DELAY", "0"))
    QUERY = "#HRHN2016"

    def fetch(self, offset: int) -> list[Post]:
        if self.PAGE_DELAY:
            self.sleep(self.PAGE_DELAY)
        end = min(offset + self.PAGE_SIZE, self.TOTAL)
        return [numbered_post(n, self.name) for n in range(offset, end)]

    def collect(self) -> None:
        offset = int(self.get_cursor(self.QUERY) or 0)
        while offset < self.TOTAL:
            page = self.call("page", self.fetch, offset)
            offset += len(page)
            self.store_page(page, query=self.QUERY, cursor=str(offset))


class TimedCollector(Collector):
    """Records when each pass starts and ends; a pass lasts DURATION seconds."""

    name = "alpha"
    DURATION = 0.0

    def collect(self) -> None:
        started = time.monotonic()
        self.call("ping", lambda: None)
        if self.DURATION:
            self.sleep(self.DURATION)
        with PASSES_LOCK:
            PASSES.append((self.name, started, time.monotonic()))


class SlowCollector(TimedCollector):
    name = "slow"
    DURATION = 0.7


class RaisingCollector(Collector):
    """A collector with a bug: every pass raises."""

    name = "buggy"

    def collect(self) -> None:
        raise RuntimeError("bug in the collector")


class DownCollector(Collector):
    """A platform answering 503 every time (not retried: max_retries is 0 in the tests)."""

    name = "down"

    def collect(self) -> None:
        self.call("search", self._fail)

    def _fail(self) -> None:
        raise PlatformError("service unavailable (503)", status=503)


def unbuildable(*_args: Any, **_kwargs: Any) -> Collector:
    raise RuntimeError("missing credentials for the test platform")


def record_digest(config: Any, day: Any, *, conn: Any, send: bool) -> None:
    """Stands in for `tagwatch.reports.digest.send_daily_digest`."""
    DIGESTS.append({"day": day, "event": config.event.name, "conn": conn, "send": send})


def record_enrichment(store: Any, config: Any) -> int:
    """Stands in for `tagwatch.monitor.enrichment.enrich_pending`: counts what it would enrich."""
    n = store.conn.execute("select count(*) from posts").fetchone()[0]
    ENRICHED.append(n)
    ENRICHED_ON.append(threading.current_thread().name)
    return 0


def record_warm_up(config: Any) -> None:
    """Stands in for loading the language models (seconds, in a real run)."""
    WARMED_ON.append(threading.current_thread().name)


def passes_of(name: str) -> list[tuple[float, float]]:
    with PASSES_LOCK:
        return [(a, b) for n, a, b in PASSES if n == name]


DIGEST_FAILURES = {"left": 0}


def flaky_digest(config: Any, day: Any, *, conn: Any, send: bool) -> None:
    """A digest whose SMTP server is down for the first DIGEST_FAILURES["left"] attempts."""
    if DIGEST_FAILURES["left"] > 0:
        DIGEST_FAILURES["left"] -= 1
        raise OSError("SMTP server smtp.example.org:587 refused the connection")
    DIGESTS.append({"day": day, "event": config.event.name})


class StuckCollector(PagedCollector):
    """A platform whose second page never comes: the request hangs (no timeout honoured)."""

    def fetch(self, offset: int) -> list[Post]:
        if offset > 0:
            time.sleep(30)  # a blocking read: no stop event can wake it
        return super().fetch(offset)
