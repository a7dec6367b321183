"""What every live stream shares: the connection loop, reconnects, state, the watchdog, gaps.

A stream is one long-lived connection (a websocket, server-sent events, X's
filtered stream) that delivers posts within seconds. It drops: networks
fail, servers restart, hosts go away. The loop here makes that invisible:

* endpoints are tried in turn; after a round that fails everywhere it waits
  with jittered exponential backoff (capped at `[streams] reconnect_max_seconds`);
* the stream's state (connected / reconnecting / stopped), its resume cursor
  and the time of its last event live in the `streams` table, so `tagwatch
  status` can show them and a restarted runner resumes where it stopped;
* a stream silent for `[streams] silence_seconds` is reconnected and the
  silence reported (streams that are never legitimately quiet watch always;
  a hashtag stream only while an agenda session runs, when silence is suspect);
* after a reconnect the missed interval is either replayed by the server
  (a cursor inside its replay window) or filled through the platform's
  search/timeline (`fill_gap`), so the wall has no holes; while every
  endpoint is down for longer than `silence_seconds`, the same fill runs
  meanwhile (once per `silence_seconds`) so the wall keeps moving.

Posts are stored only when new: a stream record carries no engagement
counts, so it must never overwrite what a scheduled pass measured, and a
replayed event must not store a post twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from tagwatch.collectors.base import Collector, PageHook, backoff_delay
from tagwatch.records import Post, iso, parse_iso, utcnow
from tagwatch.settings import Config
from tagwatch.storage.db import Store
from tagwatch.storage.ledgers import save_stream_state

__all__ = [
    "Stream",
    "StreamConnection",
    "QueuedConnection",
    "StreamState",
    "StreamThread",
    "Silent",
    "load_state",
    "END",
]

log = logging.getLogger("tagwatch.stream")

# Cursor and last-event time are written at most this often while nothing is
# stored (a network-wide stream delivers thousands of events a second).
STATE_SAVE_SECONDS = 1.0
# A gap is filled from a little before the last event: clocks and indexing differ.
GAP_OVERLAP = timedelta(seconds=30)


class Silent(Exception):
    """No event for longer than `silence_seconds`: reconnect."""


class StreamConnection(ABC):
    """One open connection; `recv` returns a message, or None when `timeout` passes first."""

    @abstractmethod
    def recv(self, timeout: float) -> Any: ...

    @abstractmethod
    def close(self) -> None: ...


# Put on a QueuedConnection's queue when the server ends the stream.
END = object()


class QueuedConnection(StreamConnection):
    """A connection whose reader thread (ours or the client library's) fills a queue.

    Items: a message, None for a heartbeat, an exception to raise, or `END`.
    """

    closed_by_server = "the server closed the stream"

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()

    def recv(self, timeout: float) -> Any:
        try:
            item = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is END:
            raise ConnectionError(self.closed_by_server)
        if isinstance(item, Exception):
            raise item
        return item


@dataclass
class StreamState:
    """A row of the `streams` table."""

    name: str
    state: str = "new"  # new | connecting | connected | reconnecting | stopped
    cursor: str | None = None
    last_event_at: datetime | None = None
    connected_at: datetime | None = None
    error: str | None = None
    updated_at: datetime | None = None


def load_state(store: Store, name: str) -> StreamState:
    row = store.conn.execute("select * from streams where name = ?", (name,)).fetchone()
    if row is None:
        return StreamState(name)

    def when(value: str | None) -> datetime | None:
        return parse_iso(value) if value else None

    return StreamState(
        name,
        row["state"] or "new",
        row["cursor"],
        when(row["last_event_at"]),
        when(row["connected_at"]),
        row["error"],
        when(row["updated_at"]),
    )


class Stream(ABC):
    """One live stream; `run()` blocks until `stop` is set."""

    platform: ClassVar[str]
    # Whether silence is suspect at any time (a network-wide stream), or only in a session.
    always_busy: ClassVar[bool] = False
    # How far back the server can replay from a cursor (None: it cannot).
    replay_window: timedelta | None = None
    # Set by the runner (alerts, issue 22): called after each stored batch, returns at once.
    after_batch: PageHook | None = None

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        name: str,
        stop: threading.Event | None = None,
        now: Callable[[], datetime] = utcnow,
    ):
        self.config = config
        self.store = store
        self.cfg = config.streams
        self.stop = stop or threading.Event()
        self.now = now
        self.state = load_state(store, name)
        self.tags = config.event.tags
        self.events = 0  # messages received, for benchmarks and logs
        self.stored = 0
        self.deleted = 0
        self.gaps_filled = 0
        self.silences = 0
        self._saved_at = 0.0
        self._down_since: datetime | None = None
        self._filled_until: datetime | None = None

    @classmethod
    def instances(cls, config: Config) -> list[dict[str, Any]]:
        """Keyword arguments of each stream of this kind the config asks for."""
        return [{}]

    @property
    def name(self) -> str:
        return self.state.name

    # -- to implement -----------------------------------------------------------

    @abstractmethod
    def endpoints(self) -> list[str]:
        """Where to connect, in order of preference."""

    @abstractmethod
    def connect(self, endpoint: str, cursor: str | None) -> StreamConnection:
        """Open the stream, resuming from `cursor` when given."""

    @abstractmethod
    def handle(self, message: Any) -> None:
        """One message: store matching posts (`store_new`), honour deletes, advance the cursor."""

    @abstractmethod
    def fill_gap(self, since: datetime, until: datetime) -> int:
        """Store the posts of [since, until] through search/timeline; returns how many were new."""

    def fill_with(self, collector: Collector) -> int:
        """Run a collector pass as a gap fill (recorded in `runs` like any pass)."""
        record = collector.run_pass()
        if record.status not in ("ok", "partial"):
            raise RuntimeError(f"{record.collector} pass {record.status}: {record.error}")
        return record.new_posts

    def close(self) -> None:  # noqa: B027 - an optional hook, not every stream holds clients
        """Release clients (after `run` returns)."""

    # -- the loop ----------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        try:
            while not self.stop.is_set():
                if self._round():
                    attempt = 0  # it was connected: the next failure starts over
                    continue
                if self.stop.is_set():
                    break
                self._fill_while_down()
                delay = backoff_delay(attempt, cap=float(self.cfg.reconnect_max_seconds))
                attempt += 1
                self.save("reconnecting", force=True)
                self.stop.wait(delay)
        finally:
            self.save("stopped", force=True)
            self.close()

    def _round(self) -> bool:
        """Try each endpoint once; True when one connected (and later dropped)."""
        for endpoint in self.endpoints():
            if self.stop.is_set():
                return False
            cursor, gap = self.resume_plan()
            self.save("connecting", force=True)
            try:
                conn = self.connect(endpoint, cursor)
            except Exception as exc:  # noqa: BLE001 - any failure means: next endpoint
                self.report(f"cannot connect to {endpoint}: {_short(exc)}")
                continue
            self.state.connected_at = self.now()
            self._down_since = self._filled_until = None
            # The last error stays: `tagwatch status` then still says the stream went
            # silent or dropped an hour ago, though it is connected again now.
            self.save("connected", force=True)
            log.info("%s: connected to %s%s", self.name, endpoint, " (resuming)" if cursor else "")
            try:
                if gap is not None:
                    self._fill(*gap)
                self._consume(conn)
            except Silent as exc:
                self.silences += 1
                self.report(str(exc), level=logging.WARNING)
            except Exception as exc:  # noqa: BLE001 - a drop: reconnect
                if not self.stop.is_set():
                    self.report(f"{endpoint} dropped: {_short(exc)}")
            finally:
                conn.close()
            return True
        return False

    def resume_plan(self) -> tuple[str | None, tuple[datetime, datetime] | None]:
        """(cursor to resume from, interval to fill by search) for the next connection.

        Never connected before: start live (the scheduled passes did the past).
        Inside the server's replay window: resume from the cursor. Otherwise
        start live and fill from the last event to now.
        """
        last = self._covered_until()
        if last is None:
            return None, None
        now = self.now()
        window = self.replay_window
        if self.state.cursor and window is not None and now - last <= window:
            return self.state.cursor, None
        # What a fill while the stream was down already covered is not searched again.
        start = max(last, self._filled_until or last) - GAP_OVERLAP
        return None, (start, now)

    def _covered_until(self) -> datetime | None:
        if self.replay_window is None and self.state.cursor:
            # A stream without replay keeps in `cursor` the last moment it was
            # known connected: a quiet hashtag has no recent event to go by.
            return parse_iso(self.state.cursor)
        return self.state.last_event_at

    def _fill_while_down(self) -> None:
        """Every endpoint refuses: fill by search meanwhile, at most once per silence_seconds.

        A blip shorter than that is left to the reconnect; a long outage (a host
        down for an hour of the event) keeps the wall fed through search.
        """
        last = self._covered_until()
        if last is None:
            return
        now = self.now()
        self._down_since = self._down_since or now
        quiet = float(self.cfg.silence_seconds)
        since = self._filled_until or self._down_since
        if (now - since).total_seconds() < quiet:
            return
        start = max(last, self._filled_until or last) - GAP_OVERLAP
        if self._fill(start, now):
            self._filled_until = now

    def _fill(self, since: datetime, until: datetime) -> bool:
        try:
            new = self.fill_gap(since, until)
        except Exception as exc:  # noqa: BLE001 - the live stream goes on regardless
            self.report(f"could not fill the gap {iso(since)} – {iso(until)}: {_short(exc)}")
            return False
        self.gaps_filled += 1
        log.info("%s: gap %s – %s filled, %d new posts", self.name, iso(since), iso(until), new)
        return True

    def _consume(self, conn: StreamConnection) -> None:
        silence = float(self.cfg.silence_seconds)
        heard = time.monotonic()
        while not self.stop.is_set():
            if self.replay_window is None:
                self.state.cursor = iso(self.now())
            message = conn.recv(timeout=min(0.5, silence))
            if message is None:
                quiet = time.monotonic() - heard
                if quiet >= silence and self.silence_matters():
                    raise Silent(f"silent for {quiet:.0f}s; reconnecting")
                self.save("connected")
                continue
            heard = time.monotonic()
            self.events += 1
            self.handle(message)
            self.save("connected")

    def silence_matters(self) -> bool:
        if self.always_busy:
            return True
        now = self.now()
        return any(s.start <= now < s.end for s in self.config.event.sessions)

    # -- storing ------------------------------------------------------------------

    def store_new(self, posts: Iterable[Post]) -> int:
        """Store the posts not stored yet, with the stream state, in one transaction."""
        posts = [p for p in posts if p.hashtags and self.tags.intersection(p.hashtags)]
        if not posts:
            return 0
        known = self.store.known_ids(self.platform, [p.platform_id for p in posts])
        fresh = [p for p in posts if p.platform_id not in known]
        if not fresh:
            return 0
        with self.store.transaction():
            result = self.store.write_posts(fresh)
            self._write_state(self.state.state)
        self.stored += result.new
        if self.after_batch is not None and result.new:
            self.after_batch(self.name, result, self.now())
        return result.new

    def delete(self, platform_id: str) -> bool:
        """An upstream delete of a post we hold: purge it at once (it leaves the wall)."""
        if not self.store.known_ids(self.platform, [platform_id]):
            return False  # not ours: a network-wide stream deletes millions of posts
        if self.store.mark_deleted(self.platform, platform_id, at=self.now()):
            self.deleted += 1
            return True
        return False

    def advance(self, cursor: str | None, event_at: datetime | None) -> None:
        if cursor is not None:
            self.state.cursor = cursor
        if event_at is not None:
            self.state.last_event_at = event_at

    def report(self, message: str, *, level: int = logging.INFO) -> None:
        """An error shown by `tagwatch status` and logged; the loop goes on."""
        self.state.error = message
        log.log(level, "%s: %s", self.name, message)
        self.save(self.state.state, force=True)

    def save(self, state: str, *, force: bool = False) -> None:
        self.state.state = state
        clock = time.monotonic()
        if not force and clock - self._saved_at < STATE_SAVE_SECONDS:
            return
        with self.store.transaction():
            self._write_state(state)

    def _write_state(self, state: str) -> None:
        self._saved_at = time.monotonic()
        s = self.state
        s.updated_at = self.now()
        save_stream_state(
            self.store.conn,
            name=s.name,
            state=state,
            cursor=s.cursor,
            last_event_at=iso(s.last_event_at) if s.last_event_at else None,
            connected_at=iso(s.connected_at) if s.connected_at else None,
            error=s.error,
            updated_at=iso(s.updated_at),
        )


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:limit] + ("…" if len(text) > limit else "")


class StreamThread:
    """A stream in its own thread with its own store, as `tagwatch run` runs each one.

    SQLite connections are not shared across threads, so the store is opened
    here and closed once the stream has stopped.
    """

    def __init__(
        self,
        cls: type[Stream],
        config: Config,
        *,
        stop: threading.Event | None = None,
        **kwargs: Any,
    ):
        self.stop_event = stop or threading.Event()
        self.store = Store.open(config.db_path)
        self.stream = cls(config, self.store, stop=self.stop_event, **kwargs)
        self.thread = threading.Thread(
            target=self.stream.run, name=f"stream {self.stream.name}", daemon=True
        )

    def start(self) -> Stream:
        self.thread.start()
        return self.stream

    def join(self, timeout: float = 15.0) -> bool:
        """Wait for the stream to stop; True (and the store closed) when it did."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            log.warning("stream %s did not stop in time", self.stream.name)
            return False
        self.store.close()
        return True

    def stop(self, timeout: float = 15.0) -> bool:
        self.stop_event.set()
        return self.join(timeout)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        assert self.stop(), f"stream {self.stream.name} did not stop"
