"""The alert engine: rules evaluated as posts arrive, alerts stored, messages sent.

Why two threads: collection must never wait for an alert. A collector's page
hook (`on_stored`) and a pass's end (`after_pass`) only set a flag and wake
the evaluator, which reads the last minutes through its own connection and
stores what fired; the sender thread delivers, retrying a 429 after the wait
the server asked for (`Retry-After`, Matrix's `retry_after_ms`), and records
every outcome beside the alert. Wake-ups that come while an evaluation runs
fold into one more, so a burst of stream batches costs a few evaluations, not
one per post.

Not a pager storm: one alert per cause until it is back to normal (then one
"back to normal" message), the same cause silent for `cooldown_minutes` after
that, nothing sent in `quiet_hours` or beyond `daily_cap` per channel (stored
as suppressed, listed by `tagwatch status` and the digest all the same).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

from tagwatch.errors import ConfigError, DeliveryError, DeliveryRateLimited
from tagwatch.monitor.alerts.channels import Channel, channels_from_config, new_key_prefix
from tagwatch.monitor.alerts.render import Message, render, render_test
from tagwatch.monitor.alerts.rules import (
    COLLECTION_KIND,
    Finding,
    RuleState,
    evaluate_collection,
    evaluate_posts,
)
from tagwatch.records import parse_iso, utcnow
from tagwatch.reports.wall.rules import WordFilter
from tagwatch.settings import Config, time_range
from tagwatch.storage import alerts as db
from tagwatch.storage.db import Store, WriteResult

__all__ = ["AlertEngine", "TestResult", "quiet_hours"]

log = logging.getLogger("tagwatch.alerts")

MAX_ATTEMPTS = 4
MAX_RETRY_WAIT = 60.0
# Collection is checked this often (real seconds) even when no post arrives:
# a dead collector or a silent stream stores nothing that would wake the rules.
COLLECTION_EVERY = 30.0


def quiet_hours(config: Config) -> tuple[dtime, dtime] | None:
    """`[alerts] quiet_hours` as (start, end) local times; None when not set (form: the loader)."""
    return time_range(config.alerts.quiet_hours)


def check_alerts(config: Config) -> None:
    """What the loader cannot know: the channels' secrets in the environment (`run` at start).

    The [alerts] values themselves (windows, floors, quiet_hours, Matrix, addresses)
    are refused by the loader, for every command.
    """
    if config.alerts.enabled:
        channels_from_config(config)


@dataclass(frozen=True)
class TestResult:
    channel: str
    ok: bool
    reason: str | None = None


class AlertEngine:
    """Rules, storage of alerts and their delivery for one database."""

    def __init__(
        self,
        config: Config,
        channels: Sequence[Channel],
        *,
        now: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Any] | None = None,
    ):
        self.config = config
        self.channels = {c.name: c for c in channels}
        self.now = now
        self.quiet = quiet_hours(config)
        self.cooldown = timedelta(minutes=config.alerts.cooldown_minutes)
        self.state = RuleState()
        self.blocked = WordFilter(config.wall.blocked_words)
        self.key_prefix = new_key_prefix()
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._posts_due = False
        self._collection_due = False
        self._signalled_at: float | None = None
        self._triggers: dict[int, float] = {}  # delivery id -> monotonic time of its trigger
        self._outbox: queue.Queue[int | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Event()
        self._idle.set()
        # Seconds from the hook of the page that triggered an alert to the channel accepting it.
        self.latencies: list[float] = []
        self.on_sent: Callable[[str, Message], None] | None = None

    @classmethod
    def from_config(cls, config: Config, **kwargs: Any) -> AlertEngine:
        channels = channels_from_config(config)
        if not channels:
            log.warning(
                "[alerts] is enabled but no channel is set up: alerts are stored and listed by"
                " `tagwatch status`, not sent. Set %s, a Matrix room or email_recipients.",
                config.alerts.webhook_url_env,
            )
        return cls(config, channels, **kwargs)

    # -- hooks: any thread, never blocking --------------------------------------------

    def on_stored(self, source: str, result: WriteResult, now: datetime) -> None:
        """After a page or stream batch is committed: evaluate the post rules soon."""
        if not (result.new or result.updated):
            return
        with self._lock:
            self._posts_due = True
            if self._signalled_at is None:
                self._signalled_at = time.monotonic()
        self._wake.set()

    def after_pass(self, record: Any) -> None:
        """After a collector's pass (any outcome): check collection, and the post rules too:
        time has moved, so a surge may be over though the pass stored nothing."""
        with self._lock:
            self._collection_due = self._posts_due = True
        self._wake.set()

    # -- evaluation (the caller owns `store`) ---------------------------------------------

    def evaluate(
        self,
        store: Store,
        now: datetime,
        *,
        posts: bool = True,
        collection: bool = False,
        signalled_at: float | None = None,
    ) -> list[int]:
        """Run the rules; store what fired and what is back to normal; the deliveries queued."""
        findings: list[Finding] = []
        kinds: set[str] = set()
        if posts:
            found, kinds = evaluate_posts(
                store.conn, self.config, now, self.state, blocked=self.blocked
            )
            findings += found
        if collection and self.config.alerts.collection:
            findings += evaluate_collection(
                store.conn,
                self.config,
                now,
                budget=self._budget(store, now),
                streams=self._streams(store, now),
                tokens=self._tokens(now),
            )
            kinds.add(COLLECTION_KIND)
        queued: list[int] = []
        current = {f.cause for f in findings}
        for f in findings:
            if db.open_alert(store.conn, f.cause) is not None:
                continue
            last = db.last_resolved(store.conn, f.cause)
            if last is not None and now - parse_iso(last) < self.cooldown:
                continue
            if f.kind == "post" and not self._post_due(store, now):
                # Each post is its own cause, so the per-cause rule alone lets a lively
                # day send dozens: space them out.
                continue
            alert_id = db.insert_alert(
                store,
                kind=f.kind,
                cause=f.cause,
                target=f.target,
                title=f.title,
                lines=f.lines,
                examples=f.examples,
                facts={**f.facts, "announce_end": f.announce_end},
                at=now,
            )
            log.warning("alert: %s", f.title)
            ids = self._queue(store, alert_id, "alert", now)
            if signalled_at is not None:
                self._triggers.update(dict.fromkeys(ids, signalled_at))
            queued += ids
        for alert in db.open_alerts(store.conn, kinds):
            if alert.cause in current:
                continue
            db.resolve_alert(store, alert.id, at=now)
            log.info("back to normal: %s", alert.title)
            if alert.facts.get("announce_end", True):
                queued += self._queue(store, alert.id, "resolved", now)
        return queued

    def _tokens(self, now: datetime) -> dict[str, str | None]:
        """Threads' and Instagram's token expiry, as their collectors last read it."""
        from tagwatch.collectors.meta.status import status_data

        return {
            name: d.get("token_expires_at") for name, d in status_data(self.config, now).items()
        }

    def _post_due(self, store: Store, now: datetime) -> bool:
        last = db.last_fired(store.conn, "post")
        spacing = timedelta(minutes=self.config.alerts.post_every_minutes)
        return last is None or now - parse_iso(last) >= spacing

    def _budget(self, store: Store, now: datetime) -> Any:
        if not self.config.x.enabled:
            return None
        from tagwatch.collectors.x.budget import ledger_state

        return ledger_state(store.conn, self.config, now)

    def _streams(self, store: Store, now: datetime) -> dict[str, dict[str, Any]]:
        from tagwatch.collectors.streams.status import stream_states

        return stream_states(store.conn, now)

    def _in_quiet_hours(self, now: datetime) -> bool:
        if self.quiet is None:
            return False
        start, end = self.quiet
        at = now.astimezone(self.config.event.tz).time()
        if start <= end:
            return start <= at < end
        return at >= start or at < end

    def _queue(self, store: Store, alert_id: int, message: str, now: datetime) -> list[int]:
        day = now.astimezone(self.config.event.tz).date().isoformat()
        wanted = list(self.channels)
        if message == "resolved":
            # "Back to normal" only where the alert itself went out.
            went = {
                d["channel"]
                for d in db.deliveries_of(store.conn, alert_id)
                if d["message"] == "alert" and d["status"] in ("sent", "queued")
            }
            wanted = [c for c in wanted if c in went]
        queued = []
        for name in wanted:
            reason = None
            if self._in_quiet_hours(now):
                reason = f"quiet hours ({self.config.alerts.quiet_hours})"
            elif db.sent_on_day(store.conn, name, day) >= self.config.alerts.daily_cap:
                reason = f"daily cap of {self.config.alerts.daily_cap} reached"
            delivery_id = db.add_delivery(
                store,
                alert_id=alert_id,
                channel=name,
                message=message,
                status="suppressed" if reason else "queued",
                reason=reason,
                local_day=day,
                at=now,
            )
            if reason is None:
                queued.append(delivery_id)
        return queued

    # -- delivery ------------------------------------------------------------------------

    def deliver(self, store: Store, delivery_id: int) -> str:
        """Send one queued delivery with retries; record and return its status."""
        row = db.delivery(store.conn, delivery_id)
        if row is None or row["status"] != "queued":
            return row["status"] if row else "missing"
        channel = self.channels.get(row["channel"])
        if channel is None:
            db.finish_delivery(
                store,
                delivery_id,
                status="failed",
                attempts=0,
                at=utcnow(),
                reason=f"channel {row['channel']} is no longer configured",
            )
            return "failed"
        message = self._message(store, row)
        attempts = 0
        reason: str | None = None
        while attempts < MAX_ATTEMPTS:
            attempts += 1
            try:
                channel.send(message, key=f"tagwatch.{self.key_prefix}.{delivery_id}")
            except DeliveryRateLimited as exc:
                reason = str(exc)
                wait = exc.retry_after if exc.retry_after is not None else 2.0**attempts
                self._sleep(min(wait, MAX_RETRY_WAIT))
                continue
            except (DeliveryError, ConfigError) as exc:
                reason = str(exc)
                if attempts < MAX_ATTEMPTS and not isinstance(exc, ConfigError):
                    self._sleep(min(2.0**attempts, MAX_RETRY_WAIT))
                    continue
                break
            except Exception as exc:  # noqa: BLE001 - a sender bug must not stop collection
                log.exception("sending an alert through %s failed", channel.name)
                reason = f"unexpected {type(exc).__name__}"
                break
            else:
                db.finish_delivery(
                    store, delivery_id, status="sent", attempts=attempts, at=utcnow()
                )
                trigger = self._triggers.pop(delivery_id, None)
                if trigger is not None:
                    self.latencies.append(time.monotonic() - trigger)
                if self.on_sent is not None:
                    self.on_sent(channel.name, message)
                return "sent"
        db.finish_delivery(
            store, delivery_id, status="failed", attempts=attempts, at=utcnow(), reason=reason
        )
        log.error("alert not sent through %s: %s", channel.name, reason)
        return "failed"

    def _message(self, store: Store, row: dict[str, Any]) -> Message:
        name = self.config.event.name
        if row["alert_id"] is None:
            return render_test(name, row["channel"])
        alert = db.alert_by_id(store.conn, row["alert_id"])
        assert alert is not None
        return render(alert, name, resolved=row["message"] == "resolved")

    def test_channels(self, store: Store, now: datetime) -> list[TestResult]:
        """`tagwatch alerts test`: one test message to each channel, sent now."""
        day = now.astimezone(self.config.event.tz).date().isoformat()
        results = []
        for name in self.channels:
            delivery_id = db.add_delivery(
                store,
                alert_id=None,
                channel=name,
                message="test",
                status="queued",
                local_day=day,
                at=now,
            )
            status = self.deliver(store, delivery_id)
            row = db.delivery(store.conn, delivery_id) or {}
            results.append(TestResult(name, status == "sent", row.get("reason")))
        return results

    # -- threads -----------------------------------------------------------------------

    def start(self) -> None:
        """The evaluator and the sender, each with its own connection."""
        if self._threads:
            return
        self._stop.clear()
        evaluator_store = Store.open(self.config.db_path)
        sender_store = Store.open(self.config.db_path)
        for delivery_id in db.queued_deliveries(sender_store.conn):
            self._outbox.put(delivery_id)  # left unsent by the last runner
        self._threads = [
            threading.Thread(
                target=self._evaluate_loop,
                args=(evaluator_store,),
                name="tagwatch-alerts",
                daemon=True,
            ),
            threading.Thread(
                target=self._send_loop,
                args=(sender_store,),
                name="tagwatch-alerts-send",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Evaluate what is pending, send what is queued (within `timeout`), stop."""
        if not self._threads:
            return
        self._stop.set()
        self._wake.set()
        evaluator, sender = self._threads
        evaluator.join(timeout)
        self._outbox.put(None)
        sender.join(timeout)
        if sender.is_alive():
            log.warning("alerts still queued at stop are sent by the next run")
        self._threads = []

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Tests and the demo: wait until what was signalled is evaluated and sent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = self._posts_due or self._collection_due
            if not pending and self._idle.is_set() and self._outbox.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    def _evaluate_loop(self, store: Store) -> None:
        last_collection = time.monotonic()
        try:
            while True:
                self._wake.wait(COLLECTION_EVERY)
                stopping = self._stop.is_set()
                self._wake.clear()
                with self._lock:
                    self._idle.clear()
                    posts, collection = self._posts_due, self._collection_due
                    signalled, self._signalled_at = self._signalled_at, None
                    self._posts_due = self._collection_due = False
                if time.monotonic() - last_collection >= COLLECTION_EVERY:
                    collection = posts = True
                if collection:
                    last_collection = time.monotonic()
                if posts or collection:
                    try:
                        for delivery_id in self.evaluate(
                            store,
                            self.now(),
                            posts=posts,
                            collection=collection,
                            signalled_at=signalled,
                        ):
                            self._outbox.put(delivery_id)
                    except Exception:  # noqa: BLE001 - alerts must never stop collection
                        log.exception("evaluating the alert rules failed")
                self._idle.set()
                if stopping:
                    return
        finally:
            store.close()

    def _send_loop(self, store: Store) -> None:
        try:
            while True:
                delivery_id = self._outbox.get()
                try:
                    if delivery_id is None:
                        return
                    self.deliver(store, delivery_id)
                except Exception:  # noqa: BLE001 - recorded; the next one goes on
                    log.exception("delivering alert %s failed", delivery_id)
                finally:
                    self._outbox.task_done()
        finally:
            store.close()
