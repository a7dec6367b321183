"""What every collector shares: run records, retries, rate-limit waits, cursors.

A collector runs one *pass*: it reads what is new for each tracked hashtag,
writes it through the store page by page (a cursor saved in the same
transaction as the posts it covers), and returns a `RunRecord`. Platform
quirks stay in the subclass: it translates its client library's exceptions
into `PlatformError`s (`translate_error`), and the base decides what to do
with them, the same way for every platform.
"""

from __future__ import annotations

import functools
import logging
import random
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

from tagwatch.collectors.cursor import Cursor, LegacyReader
from tagwatch.errors import AuthError, MalformedResponse, PlatformError, QuotaExhausted, RateLimited
from tagwatch.records import Post, utcnow
from tagwatch.settings import Config
from tagwatch.storage.db import Store, WriteResult

__all__ = [
    "Collector",
    "RunRecord",
    "Progress",
    "PassStopped",
    "PageHook",
    "backoff_delay",
    "MAX_RATE_LIMIT_WAIT",
    "normalizer",
]

log = logging.getLogger("tagwatch.collect")
T = TypeVar("T")

# A reset header further away than this is treated as a clock problem, not a plan.
MAX_RATE_LIMIT_WAIT = timedelta(minutes=16)

Progress = Callable[[str, str, int], None]  # (collector, query, posts so far)
# Called after each committed page (collector name, what it wrote, the collector's now):
# the runner passes the alert engine's hook in here, so collectors import no alert code.
PageHook = Callable[[str, WriteResult, datetime], None]


# What a parser raises when a payload has the wrong shape: a missing key, a wrong
# type, an unparseable date or number, a record that `Post` refuses.
_SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError)


def normalizer(platform: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Make a payload → `Post` parser raise only `MalformedResponse` on a bad payload.

    A platform can answer anything (a proxy's error page, a changed schema, a
    hostile server); the pass then fails with a recorded reason instead of an
    "unexpected" crash, and nothing half-parsed reaches the store.
    """

    def wrap(parse: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(parse)
        def parsed(*args: Any, **kwargs: Any) -> T:
            try:
                return parse(*args, **kwargs)
            except _SHAPE_ERRORS as exc:
                raise MalformedResponse(
                    f"{platform} sent a post in a shape tagwatch cannot read"
                    f" ({type(exc).__name__}: {str(exc)[:120]})"
                ) from exc

        return parsed

    return wrap


class PassStopped(Exception):
    """The runner is stopping (SIGTERM): end the pass between two requests, pages committed."""


@dataclass
class RunRecord:
    collector: str
    status: str = "ok"  # ok | partial | failed | rate_limited | quota | interrupted
    requests: int = 0
    new_posts: int = 0
    updated_posts: int = 0
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def add(self, result: WriteResult) -> None:
        self.new_posts += result.new
        self.updated_posts += result.updated

    def summary(self) -> str:
        line = (
            f"{self.collector}: {self.status}, {self.new_posts} new, "
            f"{self.updated_posts} updated, {self.requests} requests"
        )
        if self.error:
            line += f" ({self.error})"
        return line


def backoff_delay(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with full jitter: spreads retries of many clients apart."""
    return random.uniform(0, min(cap, base * (2**attempt)))


class Collector(ABC):
    """One platform's pass: subclasses implement `collect` (then `refresh`), `translate_error`."""

    name: ClassVar[str]
    # Set by the runner (alerts, issue 22); must return at once: collection never waits on it.
    after_page: PageHook | None = None

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ):
        self.config = config
        self.store = store
        self.now = now
        self.sleep = sleep
        self.progress = progress
        self.stop = stop
        self.collect_cfg = config.collect
        self.record = RunRecord(self.name)
        self._deadline: datetime | None = None

    # -- to implement ---------------------------------------------------------

    @abstractmethod
    def collect(self) -> None:
        """Read what is new for every hashtag, storing page by page via `store_page`."""

    def refresh(self) -> None:  # noqa: B027 - a step every platform has, most with a body
        """Re-read recent posts' counts and deletions, within collect.refresh_requests_per_pass.

        The same step, under the same name, on every platform: `collect` calls it
        after reading what is new, and a stream's gap fill overrides it with
        nothing (the stream is there for new posts, the scheduled pass refreshes).
        """

    def translate_error(self, exc: Exception) -> PlatformError | None:
        """Map a client library's exception to a PlatformError (None: not a platform fault)."""
        return exc if isinstance(exc, PlatformError) else None

    def secrets(self) -> Iterable[str]:
        """Secret values this collector uses, so error text can be scrubbed of them."""
        return ()

    # -- shared behaviour -----------------------------------------------------

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(t.casefold() for t in self.config.event.hashtags)

    def backfill_start(self) -> datetime:
        """Where a first pass starts: the event's first local day, minus backfill_days."""
        ev = self.config.event
        start, _ = ev.day_bounds(ev.start)
        return (start - timedelta(days=self.collect_cfg.backfill_days)).astimezone(UTC)

    def cursor_key(self, query: str) -> tuple[str, str]:
        return self.name, query

    def get_cursor(self, query: str) -> str | None:
        return self.store.get_cursor(*self.cursor_key(query))

    def read_cursor(self, query: str, legacy: LegacyReader | None = None) -> Cursor:
        """Where reading `query` stands; `legacy` reads the platform's cursors from before #19."""
        return Cursor.read(self.get_cursor(query), legacy)

    def store_page(
        self, posts: list[Post], *, query: str | None = None, cursor: Cursor | str | None = None
    ) -> WriteResult:
        """Commit one page of posts, and the cursor that covers them, atomically."""
        value = cursor.dump() if isinstance(cursor, Cursor) else cursor
        cur = (*self.cursor_key(query), value) if query is not None and value is not None else None
        result = self.store.write_posts(posts, cursor=cur)
        self.record.add(result)
        if self.after_page is not None and (result.new or result.updated):
            self.after_page(self.name, result, self.now())
        if self.progress is not None and query is not None:
            self.progress(self.name, query, self.record.new_posts)
        return result

    def time_left(self) -> float:
        if self._deadline is None:
            return float(self.collect_cfg.pass_time_budget_seconds)
        return (self._deadline - self.now()).total_seconds()

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Make one API request with the shared retry and rate-limit rules.

        Timeouts and 5xx are retried with jittered exponential backoff up to
        `collect.max_retries`; a 429 is waited out when its reset falls within
        the pass's time budget, otherwise it ends the pass (RateLimited).
        """
        attempt = 0
        while True:
            if self.stop is not None and self.stop.is_set():
                raise PassStopped("stopped before the pass finished")
            self.record.requests += 1
            try:
                return fn(*args, **kwargs)
            except Exception as raw:  # noqa: BLE001 - translated below
                exc = self.translate_error(raw)
                if exc is None:
                    raise
                if exc is not raw:
                    exc.__cause__ = raw
            if isinstance(exc, RateLimited):
                wait = self._rate_limit_wait(exc)
                if wait is not None and attempt < self.collect_cfg.max_retries:
                    log.info("%s: rate limited on %s, waiting %.0fs", self.name, what, wait)
                    self.record.details["rate_limit_waits"] = (
                        self.record.details.get("rate_limit_waits", 0) + 1
                    )
                    self.sleep(wait)
                    attempt += 1
                    continue
                raise exc
            if exc.retryable and attempt < self.collect_cfg.max_retries:
                delay = backoff_delay(attempt)
                log.info(
                    "%s: %s failed (%s), retry %d in %.1fs",
                    self.name,
                    what,
                    self.redact(str(exc)),
                    attempt + 1,
                    delay,
                )
                self.record.details["retries"] = self.record.details.get("retries", 0) + 1
                self.sleep(delay)
                attempt += 1
                continue
            raise exc

    def _rate_limit_wait(self, exc: RateLimited) -> float | None:
        """Seconds to wait for the reset, or None if the pass should end instead."""
        now = self.now()
        if exc.reset_at is None:
            wait = 60.0
        else:
            wait = (exc.reset_at - now).total_seconds() + 1
            if wait < 0 or wait > MAX_RATE_LIMIT_WAIT.total_seconds():
                log.warning(
                    "%s: rate-limit reset %s is %+.0fs from now; is the clock right?",
                    self.name,
                    exc.reset_at.isoformat(),
                    wait,
                )
                wait = min(max(wait, 1.0), MAX_RATE_LIMIT_WAIT.total_seconds())
        if wait > self.time_left():
            return None
        return wait

    def redact(self, text: str) -> str:
        for secret in self.secrets():
            if secret:
                text = text.replace(secret, "[redacted]")
        return text

    def run_pass(self) -> RunRecord:
        """Run one pass and record it; never raises a platform fault to the caller."""
        self.record = RunRecord(self.name, started_at=self.now())
        self._deadline = self.now() + timedelta(seconds=self.collect_cfg.pass_time_budget_seconds)
        run_id = self.store.start_run(self.name, at=self.record.started_at)
        purged_before = self.store.purged
        try:
            self.collect()
        except RateLimited as exc:
            self.record.status = "rate_limited"
            self.record.error = self.redact(str(exc))
        except QuotaExhausted as exc:
            self.record.status = "quota"
            self.record.error = self.redact(str(exc))
        except (AuthError, MalformedResponse, PlatformError) as exc:
            self.record.status = "failed"
            self.record.error = self.redact(str(exc))
        except PassStopped as exc:
            self.record.status = "interrupted"
            self.record.error = str(exc)
        except (KeyboardInterrupt, SystemExit):
            self.record.status = "interrupted"
            self.record.error = "stopped before the pass finished"
            raise
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the scheduler
            log.exception("%s: unexpected error", self.name)
            self.record.status = "failed"
            self.record.error = self.redact(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            self.record.ended_at = self.now()
            if self.store.conn.in_transaction:
                self.store.conn.execute("ROLLBACK")
            self.store.finish_run(
                run_id,
                status=self.record.status,
                requests=self.record.requests,
                new_posts=self.record.new_posts,
                updated_posts=self.record.updated_posts,
                error=self.record.error,
                details=self.record.details,
                at=self.record.ended_at,
            )
            log.info("pass %s", self.record.summary())
            if self.store.purged > purged_before and self.config.storage.vacuum_after_purge:
                self._vacuum()
        return self.record

    def _vacuum(self) -> None:
        """[storage] vacuum_after_purge: rewrite the file so purged posts leave no trace in it."""
        try:
            self.store.vacuum()
        except sqlite3.Error as exc:  # busy readers: the next purge tries again
            log.warning("%s: VACUUM after purging deleted posts failed: %s", self.name, exc)
