"""The wall's heartbeat: one `WallHub` per app polls the database and wakes every open stream.

Why apart from the handlers: the hub outlives any request (it polls ~twice a second for as
long as the app serves), and the server must reach it to end the open streams at shutdown
(`server.py`); handlers only read what it keeps current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tagwatch.records import iso
from tagwatch.reports.wall.feed import WallFeed
from tagwatch.settings import AgendaSession, Config

__all__ = ["WallHub", "current_session", "STATS_SECONDS"]

log = logging.getLogger("tagwatch.wall")

STATS_SECONDS = 5.0


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
    ):
        self.feed = feed
        self.config = config
        self.now = now
        self.poll_interval = poll_interval
        self.closed = False
        self.clients = 0
        self.stats: dict[str, Any] = {}
        self.stats_version = 0
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

    def refresh(self, *, stats: bool = False) -> None:
        """One poll of the database; wakes the streams when the wall changed."""
        changed = self.feed.poll() is not None
        if changed or stats or time.monotonic() - self._stats_at >= STATS_SECONDS:
            self.stats = self.compute_stats()
            self.stats_version += 1
            self._stats_at = time.monotonic()
            changed = True
        if changed:
            self._notify()

    def compute_stats(self) -> dict[str, Any]:
        now = self.now()
        ev = self.config.event
        start, end = ev.day_bounds(now.astimezone(ev.tz).date())
        stats = self.feed.stats(start, end)
        session = current_session(self.config, now)
        stats["session"] = (
            None if session is None else {"title": session.title, "prompt": session.prompt}
        )
        stats["now"] = iso(now)
        return stats

    async def run(self) -> None:
        while not self.closed:
            try:
                self.refresh()
            except Exception:  # a locked or replaced file must not kill the wall
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
        self.closed = False
        self._task = loop.create_task(self.run())

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
