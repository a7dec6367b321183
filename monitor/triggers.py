"""When `tagwatch run` fires its jobs: collection rhythms and the daily digest.

Why apart from the runner: a trigger is pure time arithmetic over the config (the agenda's
sessions, the event's timezone), so it is tested on its own with no thread or database; the
runner only hands these triggers to APScheduler.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

# APScheduler 3 ships no type information (pyproject.toml's mypy overrides say so).
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from tagwatch.settings import Config, time_of_day

__all__ = [
    "CollectTrigger",
    "collect_trigger",
    "digest_day",
    "digest_time",
    "digest_trigger",
]


def digest_time(config: Config) -> time | None:
    """`[schedule] digest_time` as a time, None when the daily digest is switched off.

    The loader refuses anything but '' or HH:MM, so None here always means "off".
    """
    return time_of_day(config.schedule.digest_time)


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
        timedelta(minutes=config.platform(platform).interval_minutes),
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
