"""The Runner: every collector on its rhythm, the morning digest, backups, the wall, for days.

Each enabled collector is its own APScheduler job in a thread pool, so a slow
or failing platform never holds up another. A job never overlaps itself
(`max_instances=1`) and a backlog of missed runs collapses into one
(`coalesce`). Each collector keeps one instance and one database connection
for the life of the runner: logins and sessions are reused across passes, and
no two threads ever share a SQLite connection.

Stopping sets one event: collectors see it before their next request
(`tagwatch.collectors.base.PassStopped`) and end the pass with every page they
stored committed, and waits (rate limits, backoff) wake up at once. Then the
scheduler shuts down, waiting for those passes to record themselves. When the
jobs fire is `triggers.py`; enrichment's thread is `enricher.py`; the commands that
lock, log and turn signals into that stop event are `scheduler.py`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
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
from apscheduler.triggers.interval import IntervalTrigger

from tagwatch.collectors import collector_class, enabled_platforms
from tagwatch.collectors.base import Collector, Progress, RunRecord
from tagwatch.errors import ConfigError
from tagwatch.monitor import jobs
from tagwatch.monitor.alerts import AlertEngine
from tagwatch.monitor.enricher import Enricher
from tagwatch.monitor.health import schedule_path, write_schedule
from tagwatch.monitor.logs import RedactSecrets, secret_values
from tagwatch.monitor.triggers import (
    CollectTrigger,
    collect_trigger,
    digest_day,
    digest_trigger,
)
from tagwatch.records import utcnow
from tagwatch.settings import Config
from tagwatch.storage.db import Store
from tagwatch.storage.status import FAILED, collector_health

if TYPE_CHECKING:
    from tagwatch.reports.wall.server import WallServer

__all__ = ["CollectorFactory", "Runner", "close_stale_runs"]

log = logging.getLogger("tagwatch.run")

# (config, store, **kwargs) -> Collector; a Collector subclass is one.
CollectorFactory = Callable[..., Collector]

DIGEST_RETRY = timedelta(minutes=15)
DIGEST_ATTEMPTS = 3
BACKUP_FIRST_AFTER = timedelta(minutes=5)


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
        # One pass of a collector at a time, scheduled or called directly (the demo's last
        # passes): two would share its client and its store's connection.
        self._pass_locks: dict[str, threading.Lock] = {}
        self.enricher = Enricher(config, self.stop_event)
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
            self.enricher.start()
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
            self.enricher.run_once(self._stores[name])
        return record

    def _collect_job(self, name: str) -> None:
        """The scheduled job: a pass; enrichment is the enrichment thread's work.

        So a collector's next pass never waits for enrichment, nor for the
        language models to load.
        """
        record = self._pass(name)
        if record is not None and self._stored(record):
            self.enricher.want()

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
        self.enricher.stop()
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
    n = store.close_stale_runs(at=utcnow())
    if n:
        log.warning("%d pass(es) left unfinished by an earlier run marked interrupted", n)
    return n
