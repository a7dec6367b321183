"""Progress of `tagwatch collect`: a live line on a terminal, plain lines in a log.

A first pass backfills the whole event and can take many minutes; someone at
a terminal wants to see it move, while cron mail and log files want one
readable line per page, never carriage returns. Platforms do not say how many
posts a search will return, so this counts rather than fills a bar.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressLine"]

SPINNER = "|/-\\"


class ProgressLine:
    """A `tagwatch.collectors.base.Progress` callback: (collector, query, new posts so far)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.clock = clock
        self._started: dict[str, float] = {}
        self._width = 0
        self._ticks = 0

    def __call__(self, collector: str, query: str, posts: int) -> None:
        now = self.clock()
        started = self._started.setdefault(collector, now)
        if not self.tty:
            self.stream.write(f"{collector} {query}: {posts} new posts so far\n")
            self.stream.flush()
            return
        self._ticks += 1
        elapsed = now - started
        text = (
            f"{SPINNER[self._ticks % len(SPINNER)]} {collector:<9} {query:<20} "
            f"{posts:>7} new posts  {elapsed:5.0f}s"
        )
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erase the live line before a summary is printed under it."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
