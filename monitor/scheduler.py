"""`tagwatch run`: every collector on its rhythm, the morning digest, the wall, for days.

Each enabled collector is its own APScheduler job in a thread pool, so a slow
or failing platform never holds up another. A job never overlaps itself
(`max_instances=1`) and a backlog of missed runs collapses into one
(`coalesce`). Each collector keeps one instance and one database connection
for the life of the runner: logins and sessions are reused across passes, and
no two threads ever share a SQLite connection.

Stopping (SIGINT/SIGTERM) sets one event: collectors see it before their next
request (`tagwatch.collectors.base.PassStopped`) and end the pass with every page they
stored committed, and waits (rate limits, backoff) wake up at once. Then the
scheduler shuts down, waiting for those passes to record themselves.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import TYPE_CHECKING, Any

# APScheduler 3 ships no type information (pyproject.toml's mypy overrides say so).
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tagwatch.collectors import collector_class, enabled_platforms, sections_hint
from tagwatch.collectors.base import Collector, Progress, RunRecord
from tagwatch.errors import ConfigError
from tagwatch.monitor import jobs
from tagwatch.monitor.alerts import AlertEngine
from tagwatch.monitor.health import schedule_path, write_schedule
from tagwatch.monitor.lock import RunnerLock
from tagwatch.monitor.logs import RedactSecrets, remove_logging, secret_values, setup_logging
from tagwatch.monitor.memory import release_free_memory
from tagwatch.records import iso, utcnow
from tagwatch.settings import Config
from tagwatch.storage.db import Store
from tagwatch.storage.status import FAILED, collector_health

if TYPE_CHECKING:
    from tagwatch.reports.wall.server import WallServer

__all__ = [
    "CollectorFactory",
    "CollectTrigger",
    "Runner",
    "digest_time",
    "digest_trigger",
    "collect_trigger",
    "run_until_stopped",
    "collect_now",
    "close_stale_runs",
]

log = logging.getLogger("tagwatch.run")

# (config, store, **kwargs) -> Collector; a Collector subclass is one.
CollectorFactory = Callable[..., Collector]

DIGEST_RETRY = timedelta(minutes=15)
DIGEST_ATTEMPTS = 3
PRUNE_EVERY_SECONDS = 3600.0
BACKUP_FIRST_AFTER = timedelta(minutes=5)

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def digest_time(config: Config) -> time | None:
    """`[schedule] digest_time` as a time, None when the daily digest is switched off."""
    value = config.schedule.digest_time.strip()
    if not value:
        return None
    match = _HHMM.match(value)
    if match is None:
        raise ConfigError(
            f"{config.path}: schedule.digest_time {value!r} is not a time of day; "
            'write it as HH:MM in the event\'s timezone, e.g. digest_time = "07:30".'
        )
    return time(int(match[1]), int(match[2]))


def _check_schedule(config: Config) -> None:
    sched = config.schedule
    if sched.session_interval_minutes < 0:
        raise ConfigError(f"{config.path}: schedule.session_interval_minutes must be 0 or more.")
    if sched.jitter_seconds < 0:
        raise ConfigError(f"{config.path}: schedule.jitter_seconds must be 0 or more.")
    if sched.failure_alert_after < 1:
        raise ConfigError(f"{config.path}: schedule.failure_alert_after must be 1 or more.")
    digest_time(config)


class CollectTrigger(BaseTrigger):
    """Every `interval`, or every `session_interval` while an agenda session runs.

    The fast rhythm starts on time: a slow-rhythm step that would jump over a
    session's start fires at the start instead. Jitter is added to every fire.
    """

    def __init__(
        self,
        interval: timedelta,
        *,
        session_interval: timedelta | None = None,
        sessions: tuple[tuple[datetime, datetime], ...] = (),
        jitter: float = 0.0,
        first: datetime | None = None,
    ):
        self.interval = interval
        self.session_interval = (
            session_interval if session_interval and session_interval < interval else None
        )
        self.sessions = tuple(sorted(sessions)) if self.session_interval else ()
        self.jitter = jitter
        self.first = first

    def in_session(self, at: datetime) -> bool:
        return any(start <= at < end for start, end in self.sessions)

    def step(self, previous: datetime) -> datetime:
        """The next fire after `previous`, without jitter."""
        if self.session_interval is not None and self.in_session(previous):
            return previous + self.session_interval
        nxt = previous + self.interval
        for start, _ in self.sessions:
            if previous < start < nxt:
                return start
        return nxt

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return self.first or now
        return self._apply_jitter(self.step(previous_fire_time), self.jitter, now)

    def __str__(self) -> str:
        extra = f", {self.session_interval} in sessions" if self.session_interval else ""
        return f"every {self.interval}{extra}"


def collect_trigger(
    config: Config, platform: str, *, first: datetime | None = None
) -> CollectTrigger:
    sched = config.schedule
    session = sched.session_interval_minutes
    return CollectTrigger(
        timedelta(minutes=config.sections[platform].interval_minutes),
        session_interval=timedelta(minutes=session) if session > 0 else None,
        sessions=tuple((s.start, s.end) for s in config.event.sessions),
        jitter=sched.jitter_seconds,
        first=first,
    )


def digest_trigger(config: Config) -> CronTrigger | None:
    """Daily at `digest_time`, local to the event (DST included), or None when off."""
    at = digest_time(config)
    if at is None:
        return None
    return CronTrigger(hour=at.hour, minute=at.minute, timezone=config.event.tz)


def digest_day(config: Config, fired_at: datetime) -> date:
    """The digest sent at `fired_at` covers the day before, in the event's timezone."""
    return (fired_at.astimezone(config.event.tz) - timedelta(days=1)).date()


class Runner:
    """The scheduler of one database: start(), then stop() from any thread."""

    def __init__(
        self,
        config: Config,
        *,
        factories: Mapping[str, CollectorFactory] | None = None,
        now: Callable[[], datetime] | None = None,
        progress: Progress | None = None,
    ):
        _check_schedule(config)
        self.config = config
        self.factories = dict(factories) if factories is not None else None
        self.now = now or utcnow
        self._clock_injected = now is not None
        self.progress = progress
        self.stop_event = threading.Event()
        self.failure_alert_after = config.schedule.failure_alert_after
        self.failures: dict[str, int] = {}
        # The last passes of each collector, for callers that watch the runner (the demo).
        self.records: dict[str, deque[RunRecord]] = {}
        self.started_at = utcnow()
        self._collectors: dict[str, Collector] = {}
        self._stores: dict[str, Store] = {}
        self._state_lock = threading.Lock()
        # Job threads using the scheduler's jobs right now; stop() waits for them (_job_store).
        self._listening = threading.Condition()
        self._listeners_busy = 0
        self._enrich_lock = threading.Lock()
        self._pruned_at = -PRUNE_EVERY_SECONDS  # the first enrichment run prunes
        # One pass of a collector at a time, scheduled or called directly (the demo's last
        # passes): two would share its client and its store's connection.
        self._pass_locks: dict[str, threading.Lock] = {}
        self._enrich_wanted = threading.Event()
        self._enricher: threading.Thread | None = None
        self._redact = RedactSecrets(secret_values(config))
        self.wall: WallServer | None = None
        self.streams: list[Any] = []  # tagwatch.collectors.streams.base.StreamThread
        self.control: Store | None = None
        self.alerts: AlertEngine | None = None  # [alerts] enabled: rules after each page
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=len(self.platforms()) + 2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- set-up ---------------------------------------------------------------

    def platforms(self) -> list[str]:
        if self.factories is not None:
            return list(self.factories)
        return enabled_platforms(self.config)

    def _factory(self, name: str) -> CollectorFactory:
        if self.factories is not None:
            return self.factories[name]
        return collector_class(name)

    def open(self) -> None:
        """Connections for every collector; what one `tagwatch collect` needs."""
        if self.control is not None:
            return
        if self.config.alerts.enabled:
            self.alerts = AlertEngine.from_config(self.config, now=self.now)
        self.control = Store.open(self.config.db_path)
        if self.alerts is not None:
            self.alerts.start()
        close_stale_runs(self.control)
        self.failures = {
            h.collector: h.consecutive_failures for h in collector_health(self.control.conn)
        }
        for name in self.platforms():
            self._stores[name] = Store.open(self.config.db_path)
        for name in self.platforms():
            # Built now, so a collector's wrong setting stops `run`/`collect` at start
            # (exit 2, the key named) instead of failing every pass; anything else a
            # collector raises while being built is still recorded by its pass.
            try:
                self._collector(name)
            except ConfigError:
                self.close()
                raise
            except Exception:  # noqa: BLE001, S110 - the pass records it (_locked_pass)
                pass

    def start(self) -> None:
        """Open, schedule every job, serve the wall, and go (returns at once)."""
        self.open()
        names = self.platforms()
        for name in names:
            self.scheduler.add_job(
                self._collect_job,
                trigger=collect_trigger(self.config, name),
                args=[name],
                id=f"collect:{name}",
                name=f"collect {name}",
            )
        trigger = digest_trigger(self.config)
        if trigger is not None:
            self.scheduler.add_job(self.digest, trigger=trigger, id="digest", name="daily digest")
        hours = float(self.config.storage.backup_every_hours)
        if hours > 0:
            # The first soon after start (a runner restarted often still leaves copies).
            self.scheduler.add_job(
                self.backup,
                trigger=IntervalTrigger(hours=hours),
                next_run_time=datetime.now(UTC) + BACKUP_FIRST_AFTER,
                id="backup",
                name="database backup",
            )
        self.scheduler.add_listener(
            self._on_job_event,
            EVENT_JOB_SUBMITTED
            | EVENT_JOB_EXECUTED
            | EVENT_JOB_ERROR
            | EVENT_JOB_MISSED
            | EVENT_JOB_MAX_INSTANCES,
        )
        if self.config.schedule.serve_wall:
            self._start_wall()
        if names:
            self._enricher = threading.Thread(
                target=self._enrich_worker, name="tagwatch-enrich", daemon=True
            )
            self._enricher.start()
        self._start_streams()
        self.scheduler.start()
        self.write_state()
        log.info(
            "runner started: %s; digest %s",
            ", ".join(f"{n} {collect_trigger(self.config, n)}" for n in names) or "no collector",
            f"daily at {self.config.schedule.digest_time} {self.config.event.timezone}"
            if trigger
            else "off",
        )

    def _start_wall(self) -> None:
        from tagwatch.reports.wall.server import WallServer  # uvicorn only when serving

        host, port = jobs.wall_address(self.config)
        app = jobs.wall_app(self.config, now=self.now if self._clock_injected else None)
        self.wall = WallServer(app, host, port)
        self.wall.start(fix="Change [wall] port, or set [schedule] serve_wall = false.")
        log.info("wall at http://%s:%d/", host, port)

    def _start_streams(self) -> None:
        """Each live stream in its own thread with its own store (issue 13)."""
        from tagwatch.collectors.streams import stream_specs
        from tagwatch.collectors.streams.base import StreamThread

        for cls, kwargs in stream_specs(self.config):
            extra: dict[str, Any] = {"now": self.now} if self._clock_injected else {}
            thread = StreamThread(cls, self.config, stop=self.stop_event, **kwargs, **extra)
            if self.alerts is not None:
                thread.stream.after_batch = self.alerts.on_stored
            self.streams.append(thread)
            thread.start()
            log.info("stream %s started", thread.stream.name)

    def _stop_streams(self) -> None:
        """Streams see the stop event within half a second; wait, then close their stores."""
        for thread in self.streams:
            thread.join()
        self.streams.clear()

    # -- jobs -----------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        self.stop_event.wait(seconds)

    def _collector(self, name: str) -> Collector:
        collector = self._collectors.get(name)
        if collector is None:
            kwargs: dict[str, Any] = {
                "sleep": self._sleep,
                "stop": self.stop_event,
                "progress": self.progress,
            }
            if self._clock_injected:
                kwargs["now"] = self.now
            collector = self._factory(name)(self.config, self._stores[name], **kwargs)
            if self.alerts is not None:
                collector.after_page = self.alerts.on_stored
            self._collectors[name] = collector
        return collector

    def collect(self, name: str) -> RunRecord | None:
        """One pass of one collector, then enrichment of what it stored (`tagwatch collect`)."""
        record = self._pass(name)
        if record is not None and self._stored(record):
            self._enrich(self._stores[name])
        return record

    def _collect_job(self, name: str) -> None:
        """The scheduled job: a pass; enrichment is the enrichment thread's work.

        So a collector's next pass never waits for enrichment, nor for the
        language models to load.
        """
        record = self._pass(name)
        if record is not None and self._stored(record):
            self._enrich_wanted.set()

    def _stored(self, record: RunRecord) -> bool:
        return bool(record.new_posts or record.updated_posts) and not self.stop_event.is_set()

    def _pass(self, name: str) -> RunRecord | None:
        with self._pass_locks.setdefault(name, threading.Lock()):
            return self._locked_pass(name)

    def _locked_pass(self, name: str) -> RunRecord | None:
        if self.stop_event.is_set():
            return None
        store = self._stores[name]
        try:
            collector = self._collector(name)
        except Exception as exc:  # noqa: BLE001 - recorded; retried next pass
            record = self._record_cannot_start(name, store, exc)
        else:
            record = collector.run_pass()
        self.records.setdefault(name, deque(maxlen=100)).append(record)
        self._count_failure(record)
        if self.alerts is not None:
            self.alerts.after_pass(record)
        return record

    def _record_cannot_start(self, name: str, store: Store, exc: Exception) -> RunRecord:
        at = self.now()
        record = RunRecord(
            name,
            status="failed",
            error=self._redact.redact(f"cannot start: {exc}"),
            started_at=at,
            ended_at=at,
        )
        run_id = store.start_run(name, at=at)
        store.finish_run(
            run_id,
            status="failed",
            requests=0,
            new_posts=0,
            updated_posts=0,
            error=record.error,
            at=at,
        )
        log.error("pass %s", record.summary())
        return record

    def _count_failure(self, record: RunRecord) -> None:
        name = record.collector
        if record.status in FAILED:
            self.failures[name] = self.failures.get(name, 0) + 1
            if self.failures[name] >= self.failure_alert_after:
                log.warning(
                    "%s has failed %d passes in a row (last: %s)",
                    name,
                    self.failures[name],
                    record.error or record.status,
                )
        elif record.status != "interrupted":
            if self.failures.get(name, 0) >= self.failure_alert_after:
                log.info("%s recovered after %d failed passes", name, self.failures[name])
            self.failures[name] = 0

    def _enrich(self, store: Store) -> None:
        with self._enrich_lock:
            try:
                done = jobs.enrich_after_pass(self.config, store)
                if done:
                    log.info("enriched %d posts", done)
            except Exception:  # noqa: BLE001 - enrichment must never stop collection
                log.exception("enrichment failed")
            self._prune(store)
            # An enrichment batch is the runner's biggest burst of allocations: hand what
            # it freed back, so memory stays flat over days (see monitor/memory.py).
            release_free_memory()

    def backup(self) -> bool:
        """The backup job: a failure is logged and tried again at the next interval,
        never stopping collection."""
        try:
            result = jobs.backup(self.config)
        except Exception as exc:  # noqa: BLE001 - a failed backup must not stop the runner
            log.error("database backup failed: %s", exc)
            return False
        log.info(
            "backed up %d posts to %s%s",
            result.posts,
            result.backup.path,
            f"; purged {result.purged_in_older} deleted post(s) from earlier backups"
            if result.purged_in_older
            else "",
        )
        return True

    def _prune(self, store: Store) -> None:
        """At most hourly: drop the wall's change log older than a day, so the file
        does not grow by it for the whole event (walls read it within a second)."""
        if monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = monotonic()
        try:
            # `wall_events.at` is written by SQLite's own clock: compare with the real one.
            gone = store.prune_wall_events(older_than=utcnow() - timedelta(days=1))
            if gone:
                log.info("pruned %d wall events older than a day", gone)
        except Exception:  # noqa: BLE001 - housekeeping must never stop collection
            log.exception("pruning wall events failed")

    def _enrich_worker(self) -> None:
        """Enrich after the passes that stored posts, one run at a time, in its own thread.

        The language models load first, at start: lingua holds the GIL while it
        loads them (seconds), so that pause comes once, as the runner starts,
        not in the middle of some later pass. Wakes that come during a run fold
        into one more run.
        """
        store = Store.open(self.config.db_path)
        try:
            try:
                jobs.warm_enrichment(self.config)
            except Exception:  # noqa: BLE001 - enrichment loads them itself when it runs
                log.exception("loading the language models failed")
            while True:
                self._enrich_wanted.wait()
                if self.stop_event.is_set():
                    return
                self._enrich_wanted.clear()
                self._enrich(store)
        finally:
            store.close()

    def _stop_enrichment(self) -> None:
        if self._enricher is None:
            return
        self._enrich_wanted.set()
        self._enricher.join(timeout=60)
        if self._enricher.is_alive():
            log.warning("enrichment did not finish within 60 s; the rest is enriched next time")
        self._enricher = None

    def digest(self, day: date | None = None, attempt: int = 1) -> bool:
        """The daily job: the digest of the day before, in the event's timezone.

        A failure (SMTP down, say) is retried a few times, DIGEST_RETRY apart: the
        team reads the digest in the morning, not the next day.
        """
        assert self.control is not None
        day = day or digest_day(self.config, self.now())
        try:
            jobs.daily_digest(self.config, day, store=self.control)
            return True
        except Exception as exc:  # noqa: BLE001 - logged, retried; collection goes on
            if attempt >= DIGEST_ATTEMPTS:
                log.error(
                    "digest for %s failed %d times (%s); send it by hand: "
                    "tagwatch digest --date %s --send",
                    day,
                    attempt,
                    exc,
                    day,
                )
                return False
            with self._job_store() as usable:
                if not usable:
                    log.error(
                        "digest for %s failed (%s) as tagwatch stopped; send it by hand: "
                        "tagwatch digest --date %s --send",
                        day,
                        exc,
                        day,
                    )
                    return False
                retry_at = utcnow() + DIGEST_RETRY
                log.error(
                    "digest for %s failed (%s); trying again at %s", day, exc, retry_at.isoformat()
                )
                self.scheduler.add_job(
                    self.digest,
                    trigger="date",
                    run_date=retry_at,
                    args=[day, attempt + 1],
                    id="digest-retry",
                    name="daily digest, again",
                    replace_existing=True,
                )
            return False

    # -- state ----------------------------------------------------------------

    def next_runs(self) -> dict[str, tuple[datetime | None, float | None]]:
        out: dict[str, tuple[datetime | None, float | None]] = {}
        for job in self.scheduler.get_jobs():
            trigger = job.trigger
            interval = (
                trigger.interval.total_seconds() if isinstance(trigger, CollectTrigger) else None
            )
            when = getattr(job, "next_run_time", None)
            out[job.id] = (when.astimezone(UTC) if when else None, interval)
        return out

    def write_state(self) -> None:
        # Read the jobs before taking our lock: APScheduler calls listeners while holding its
        # job store lock, so taking them in the other order would deadlock.
        next_runs = self.next_runs()
        with self._state_lock:
            try:
                write_schedule(self.config.db_path, next_runs, since=self.started_at)
            except OSError as exc:
                log.warning("cannot write %s: %s", schedule_path(self.config.db_path), exc)

    def _on_job_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_ERROR:
            exc = getattr(event, "exception", None)
            log.error("job %s failed: %s", event.job_id, self._redact.redact(repr(exc)))
        with self._job_store() as usable:
            if usable:
                self.write_state()

    @contextmanager
    def _job_store(self) -> Iterator[bool]:
        """Whether a job's thread may use the scheduler's jobs now: False once stopping.

        shutdown(wait=True) holds APScheduler's job store lock while it waits for the job
        threads, so a job thread reaching for that lock as stop() began (a listener reading
        the schedule, a failed digest adding its retry) would deadlock it. So the check and
        the count are one step under our condition, and stop() waits for the count to reach
        zero before it shuts the scheduler down.
        """
        with self._listening:
            usable = self.scheduler.running and not self.stop_event.is_set()
            if usable:
                self._listeners_busy += 1
        try:
            yield usable
        finally:
            if usable:
                with self._listening:
                    self._listeners_busy -= 1
                    self._listening.notify_all()

    # -- stopping ---------------------------------------------------------------

    def stop(self) -> None:
        """End passes at their next request, wait for them to record, close everything."""
        with self._listening:
            self.stop_event.set()
            self._listening.wait_for(lambda: self._listeners_busy == 0)
        was_running = self.scheduler.running
        if was_running:
            self.scheduler.shutdown(wait=True)
        self._stop_enrichment()
        if self.wall is not None:
            self.wall.stop()
            self.wall = None
        self._stop_streams()
        self.close()
        if was_running:
            try:
                schedule_path(self.config.db_path).unlink()
            except FileNotFoundError:
                pass
            log.info("runner stopped")

    def close(self) -> None:
        if self.alerts is not None:
            self.alerts.stop()  # evaluates what is pending and sends what is queued first
            self.alerts = None
        for store in [*self._stores.values(), *([self.control] if self.control else [])]:
            store.close()
        self._stores.clear()
        self._collectors.clear()
        self.control = None


def close_stale_runs(store: Store) -> int:
    """Runs left 'running' by a process that died; call only while holding the lock."""
    with store.transaction() as conn:
        n = conn.execute(
            "update runs set status = 'interrupted', ended_at = coalesce(ended_at, ?),"
            " error = coalesce(error, 'the process stopped before the pass finished')"
            " where status = 'running'",
            (iso(utcnow()),),
        ).rowcount
    if n:
        log.warning("%d pass(es) left unfinished by an earlier run marked interrupted", n)
    return n


def _stop_on_signal(event: threading.Event, *, hard: bool) -> Callable[[int, Any], None]:
    """First SIGINT/SIGTERM: stop at the next request. A second one: quit now.

    Quitting now is safe for the data: a page is one SQLite transaction, rolled
    back if it was not committed. With `hard`, the process exits at once even
    though a pass thread is stuck in a request (threads cannot be interrupted);
    its run stays 'running' until the next start marks it interrupted.
    """

    def on_signal(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if event.is_set():
            log.warning("%s received again: quitting now", name)
            if hard:
                logging.shutdown()
                os._exit(1)
            raise KeyboardInterrupt
        log.info("%s received: stopping after the passes in flight (again to quit at once)", name)
        event.set()

    return on_signal


@contextmanager
def _signals_set(handler: Callable[[int, Any], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def run_until_stopped(
    config: Config,
    *,
    factories: Mapping[str, CollectorFactory] | None = None,
    stop_event: threading.Event | None = None,
    log_stream: Any = None,
) -> int:
    """What `tagwatch run` does: lock, log, schedule, and stop cleanly on a signal.

    Returns the exit code (0: stopped on request). Raises AlreadyRunning when
    another runner holds the database.
    """
    stop_requested = stop_event or threading.Event()

    on_signal = _stop_on_signal(stop_requested, hard=True)

    with RunnerLock(config.db_path, command="run"):
        handlers = setup_logging(config, stream=log_stream)
        try:
            runner = Runner(config, factories=factories)
            if not runner.platforms():
                log.warning(
                    "no collector is enabled: set enabled = true under %s; running the digest%s"
                    " only",
                    sections_hint(),
                    " and wall" if config.schedule.serve_wall else "",
                )
            with _signals_set(on_signal):
                try:
                    runner.start()
                    while not stop_requested.wait(1.0):
                        pass
                finally:
                    runner.stop()
        finally:
            remove_logging(handlers)
    return 0


def collect_now(
    config: Config,
    platforms: list[str] | None = None,
    *,
    factories: Mapping[str, CollectorFactory] | None = None,
    progress: Progress | None = None,
    log_stream: Any = None,
) -> list[RunRecord]:
    """What `tagwatch collect` does: one pass of each collector, in turn, under the lock.

    SIGINT/SIGTERM end the pass in flight at its next request, as in `tagwatch run`.
    """
    runner = Runner(config, factories=factories, progress=progress)
    names = platforms or runner.platforms()

    on_signal = _stop_on_signal(runner.stop_event, hard=False)

    records: list[RunRecord] = []
    with RunnerLock(config.db_path, command="collect"):
        # The summary goes to stdout; stderr gets only warnings, the log file every pass.
        handlers = setup_logging(config, stream=log_stream, stream_level=logging.WARNING)
        try:
            runner.open()
            with _signals_set(on_signal):
                for name in names:
                    if runner.stop_event.is_set():
                        break
                    record = runner.collect(name)
                    if record is not None:
                        records.append(record)
        finally:
            runner.close()
            remove_logging(handlers)
    return records
