"""The wall's database work, off the event loop: one connection, one thread at a time.

Why: every open wall (a screen, a hall of phones) is served by one event loop. A query
run inside it that meets a lock (a VACUUM, a backup's last step, a long collector
transaction) would freeze them all for as long as SQLite waits. So the handlers that do
need the database (the moderators' routes) hand their work to a worker thread through
`Guarded.run`; the connection it guards is used by one thread at a time (a lock), which is
what `check_same_thread=False` asks of its users. The hub's poll has its own connection
(`hub.py`), so a moderator never waits behind a slow poll, nor a poll behind a moderator.

A lock that outlasts the wall's wait (`WAIT_MS`, shorter than a collector's) becomes
`StorageBusy`: the transaction rolled back, nothing was written, and the moderator is told
to try again instead of watching a spinner for half a minute.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from starlette.concurrency import run_in_threadpool

from tagwatch.errors import StorageBusy

__all__ = ["Guarded", "WAIT_MS", "BUSY_MESSAGE", "is_busy"]

# How long a wall's query waits on another connection's lock before giving up.
WAIT_MS = 5_000
BUSY_MESSAGE = "database busy (backup or VACUUM running), try again"

T = TypeVar("T")
R = TypeVar("R")

# SQLite's primary result codes for "another connection holds the lock".
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_busy(exc: BaseException) -> bool:
    """Whether `exc` is SQLite saying "locked" (any extended code of BUSY or LOCKED)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    return "locked" in str(exc) or "busy" in str(exc)


class Guarded(Generic[T]):
    """A connection (or a `Store`) that worker threads take turns to use."""

    def __init__(self, resource: T):
        self.resource = resource
        self._lock = threading.Lock()

    async def run(self, work: Callable[[T], R]) -> R:
        """`work(resource)` in a worker thread; raises StorageBusy when SQLite stays locked."""
        return await run_in_threadpool(self._call, work)

    def wait_idle(self, timeout: float = 30) -> None:
        """Wait for a worker thread still using the resource (before closing it at shutdown:
        a connection closed under a running query can crash the process)."""
        if self._lock.acquire(timeout=timeout):
            self._lock.release()

    def _call(self, work: Callable[[T], R]) -> R:
        with self._lock:
            try:
                return work(self.resource)
            except sqlite3.OperationalError as exc:
                if is_busy(exc):
                    raise StorageBusy(BUSY_MESSAGE) from exc
                raise
