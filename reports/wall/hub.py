"""The wall's heartbeat: one `WallHub` per app polls the database and wakes every open stream.

Why apart from the handlers: the hub outlives any request (it polls ~twice a second for as
long as the app serves), and the server must reach it to end the open streams at shutdown
(`server.py`); handlers only read what it keeps current.

Why the poll runs in a worker thread: a backup, a VACUUM or a collector's long transaction
can keep SQLite busy for seconds, and a query waiting on it inside the event loop would
freeze every open wall. The database half of a poll (`WallFeed.fetch`, the stats queries)
runs in a thread on the feed's own connection, one poll at a time; only the swap into
memory and the wake-up happen on the loop. A slow poll delays the next update, never an
answer: unauthenticated requests are answered from the memory the hub keeps. The counters
(a count over the whole day: half a second at 500,000 posts) are made apart, on a third
connection, after the new posts have gone out, so they never hold up a post.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from tagwatch.errors import StorageBusy
from tagwatch.records import iso
from tagwatch.reports.wall.access import BUSY_MESSAGE, is_busy
from tagwatch.reports.wall.feed import WallFeed
from tagwatch.settings import AgendaSession, Config

__all__ = ["WallHub", "current_session", "STATS_SECONDS"]

log = logging.getLogger("tagwatch.wall")
T = TypeVar("T")

STATS_SECONDS = 5.0
# While posts arrive, the counters are recounted at most this often.
STATS_MIN_SECONDS = 1.0


def current_session(config: Config, now: datetime) -> AgendaSession | None:
    """The agenda session running at `now`, if any."""
    for session in config.event.sessions:
        if session.start <= now < session.end:
            return session
    return None


class WallHub:
    """Keeps the feed current and wakes the open event streams."""

    def __init__(
        self,
        feed: WallFeed,
        config: Config,
        now: Callable[[], datetime],
        poll_interval: float,
        stats_conn: sqlite3.Connection | None = None,
    ):
        self.feed = feed
        self.config = config
        self.now = now
        self.poll_interval = poll_interval
        self.closed = False
        self.clients = 0
        self.stats: dict[str, Any] = {}
        self.stats_version = 0
        # The newest wall event whose posts are in memory (`/healthz`).
        self.seq = feed.seq
        # The counters' own connection (without one they share the feed's, taking turns).
        self.stats_conn = stats_conn
        self._stats_lock: asyncio.Lock | None = None
        self._stats_thread = threading.Lock() if stats_conn is not None else None
        self._stats_task: asyncio.Task[None] | None = None
        self._polling: asyncio.Lock | None = None
        # Held by the worker thread while it uses the feed's connection: cancelling the
        # poll does not stop that thread, so shutdown waits for it before closing.
        self._in_thread = threading.Lock()
        self._stats_at = 0.0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def waiter(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    def _notify(self) -> None:
        old, self._wake = self._wake, asyncio.Event()
        if old is not None:
            old.set()

    async def refresh(self, *, stats: bool = False) -> None:
        """One poll of the database; wakes the streams when the wall changed.

        Polls never overlap (a moderator's action waits for the poll in flight, then
        polls itself), so the feed's connection is used by one thread at a time. With
        `stats`, the counters are recounted before it returns (a moderator's action);
        otherwise they are recounted in the background when due.
        """
        if self._polling is None:
            self._polling = asyncio.Lock()
        async with self._polling:
            fetched = await run_in_threadpool(self._locked, self._in_thread, self.feed.fetch)
            changed = self.feed.apply(fetched) is not None
            self.seq = self.feed.seq
            if changed:
                self._notify()  # the new posts go out now, before any recount
        if stats:
            await self.update_stats()
            return
        since = time.monotonic() - self._stats_at
        due = since >= STATS_SECONDS or (changed and since >= STATS_MIN_SECONDS)
        if due and (self._stats_task is None or self._stats_task.done()):
            self._stats_task = asyncio.get_running_loop().create_task(self._background_stats())

    async def update_stats(self) -> None:
        """Recount the counters (one count at a time, so the newest always lands last)."""
        if self._stats_lock is None:
            self._stats_lock = asyncio.Lock()
        async with self._stats_lock:
            lock = self._in_thread
            if self.stats_conn is not None and self._stats_thread is not None:
                lock = self._stats_thread
            self.stats = await run_in_threadpool(self._locked, lock, self.compute_stats)
            self.stats_version += 1
            self._stats_at = time.monotonic()
            self._notify()

    async def _background_stats(self) -> None:
        try:
            await self.update_stats()
        except StorageBusy:
            log.warning("wall: the database is busy; the counters update once it is free")
        except Exception:  # a count that fails must not kill the wall
            log.exception("wall: counting the wall's figures failed")

    def _locked(self, lock: threading.Lock, work: Callable[[], T]) -> T:
        with lock:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                if is_busy(exc):  # locked past the wait: the next poll tries again
                    raise StorageBusy(BUSY_MESSAGE) from exc
                raise

    def compute_stats(self) -> dict[str, Any]:
        now = self.now()
        ev = self.config.event
        start, end = ev.day_bounds(now.astimezone(ev.tz).date())
        stats = self.feed.stats(start, end, conn=self.stats_conn)
        session = current_session(self.config, now)
        stats["session"] = (
            None if session is None else {"title": session.title, "prompt": session.prompt}
        )
        stats["now"] = iso(now)
        return stats

    async def run(self) -> None:
        while not self.closed:
            try:
                await self.refresh()
            except StorageBusy:  # a backup or VACUUM holds the file: try at the next tick
                log.warning("wall: the database is busy; the screens update once it is free")
            except Exception:  # a replaced or damaged file must not kill the wall
                log.exception("wall: polling the database failed")
            await asyncio.sleep(self.poll_interval)

    def start(self) -> None:
        """Start polling on the running loop (idempotent).

        Called from the lifespan, and also by the first request, so the wall
        works under a server run with `lifespan="off"` too.
        """
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self._polling = asyncio.Lock()
        self._stats_lock = asyncio.Lock()
        self.closed = False
        self._task = loop.create_task(self.run())

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._stats_task is not None:
            self._stats_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stats_task
        # A poll or count cancelled mid-query goes on in its thread: let it finish (a
        # connection closed under a running query can crash the process).
        for lock in (self._in_thread, self._stats_thread):
            if lock is not None and lock.acquire(timeout=30):
                lock.release()
        if self.stats_conn is not None:
            self.stats_conn.close()
            self.stats_conn = None

    def close(self) -> None:
        """End every open stream (server shutdown); call from the server's loop."""
        self.closed = True
        self._notify()

    def close_from_thread(self) -> None:
        """`close()` for code running in another thread (e.g. a scheduler stopping the server).

        Open event streams never end by themselves, and uvicorn waits for open
        responses before it stops: call this first, then set `should_exit`.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.close)
