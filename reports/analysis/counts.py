"""A period's posts, read once, and what is counted from them: totals, per platform, per
local hour and per local day.

Why apart from the rest of the analysis: every other figure starts from a `Period`, and
counting is where "unknown is not zero" is kept (a count a platform does not give is
left out of its total, and the figure says so); it reads best on its own.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from datetime import date, datetime, timedelta, tzinfo
from typing import TypeVar

from tagwatch.records import parse_iso, to_utc
from tagwatch.reports.figures import (
    ENGAGEMENT_COUNTS,
    Counts,
    DayFigures,
    HourFigures,
    PlatformFigures,
    Summary,
)
from tagwatch.reports.rows import (
    AUTHOR,
    CREATED,
    FOLLOWERS,
    LIKES,
    PLATFORM,
    QUOTES,
    REPLIES,
    REPOSTS,
    RESTRICTED,
    VIEWS,
    Row,
    load_period,
)
from tagwatch.reports.themes import ThemeKeys
from tagwatch.settings import EventConfig

__all__ = ["Period"]


class Period:
    """The posts of [start, end), loaded once; every figure is computed from this."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        event: EventConfig,
        start: datetime,
        end: datetime,
        *,
        before: Period | None = None,
    ):
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("period bounds must be timezone-aware datetimes")
        self.conn = conn
        self.event = event
        self.start = start
        self.end = end
        self.rows: list[Row] = load_period(conn, start, end)
        self.keys = ThemeKeys(event.tags)
        # A caller that loaded the period just before (the digest's "day before")
        # hands it over, so trends need no second read of the same posts.
        self.before = before
        self._hours: dict[datetime, list[Row]] | None = None
        self._days: dict[date, list[Row]] | None = None

    def previous(self) -> list[Row]:
        """Posts of the period of the same length just before this one (for trends only)."""
        length = self.end - self.start
        b = self.before
        if b is not None and b.start == self.start - length and b.end == self.start:
            return b.rows  # full rows hold every column the light ones do, in the same places
        # On a day of a DST change the day before is not of the same length: load it.
        return load_period(self.conn, self.start - length, self.start, light=True)

    def summary(self) -> Summary:
        """The period's totals (`analysis.summary` without another read)."""
        return _summary(self)

    def per_platform(self) -> list[PlatformFigures]:
        """Figures per platform, busiest first (`analysis.per_platform` without another read)."""
        return _per_platform(self)

    def hour_groups(self) -> dict[datetime, list[Row]]:
        """Rows by local hour (UTC start), grouped once for the summary and `per_hour`."""
        if self._hours is None:
            self._hours = _hour_groups(self)
        return self._hours

    def day_groups(self) -> dict[date, list[Row]]:
        """Rows by local day, grouped once for the summary and `per_day`."""
        if self._days is None:
            self._days = _day_groups(self)
        return self._days


def _counts(rows: Iterable[Row]) -> Counts:
    posts = likes = reposts = replies = quotes = views = with_views = authorless = 0
    known = [0, 0, 0, 0]  # posts that gave likes, reposts, replies, quotes
    authors: set[int] = set()
    for r in rows:
        posts += 1
        if r[AUTHOR] is not None:
            authors.add(r[AUTHOR])
        else:  # a post without a known author adds no author
            authorless += 1
        # Unknown counts (None) add nothing: `figures.engagement` over the sums.
        if r[LIKES] is not None:
            likes += r[LIKES]
            known[0] += 1
        if r[REPOSTS] is not None:
            reposts += r[REPOSTS]
            known[1] += 1
        if r[REPLIES] is not None:
            replies += r[REPLIES]
            known[2] += 1
        if r[QUOTES] is not None:
            quotes += r[QUOTES]
            known[3] += 1
        if r[VIEWS] is not None:
            views += r[VIEWS]
            with_views += 1
    missing = tuple(c for c, n in zip(ENGAGEMENT_COUNTS, known, strict=True) if posts and not n)
    return Counts(
        posts,
        len(authors),
        likes,
        reposts,
        replies,
        quotes,
        views,
        with_views,
        authorless_posts=authorless,
        counts_missing=missing,
    )


# -- figures from loaded rows -------------------------------------------------------


def _summary(p: Period) -> Summary:
    followers: dict[int, int | None] = {}
    restricted = authorless = 0
    unknown: set[str] = set()
    no_author: set[str] = set()
    for r in p.rows:
        if r[AUTHOR] is None:
            authorless += 1
            no_author.add(r[PLATFORM])
        else:
            # Rows come oldest first; the follower count is the author's latest anyway.
            followers[r[AUTHOR]] = r[FOLLOWERS]
        restricted += 1 if r[RESTRICTED] else 0
        if r[LIKES] is None or r[REPOSTS] is None or r[REPLIES] is None or r[QUOTES] is None:
            unknown.add(r[PLATFORM])
    known = [f for f in followers.values() if f is not None]
    hours = p.hour_groups()
    peak, peak_posts = None, 0
    if hours:
        # Earliest of equally busy hours, so the answer does not depend on dict order.
        at, rows = min(hours.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        peak, peak_posts = at.astimezone(p.event.tz), len(rows)
    return Summary(
        start=p.start,
        end=p.end,
        counts=_counts(p.rows),
        potential_reach=sum(known),
        authors_with_followers=len(known),
        restricted_posts=restricted,
        peak_hour=peak,
        peak_hour_posts=peak_posts,
        platforms=tuple(sorted({r[PLATFORM] for r in p.rows})),
        days_with_posts=len(p.day_groups()),
        counts_unknown=tuple(sorted(unknown)),
        authorless_posts=authorless,
        authorless_platforms=tuple(sorted(no_author)),
    )


_K = TypeVar("_K", bound=Hashable)


def _group(rows: Iterable[Row], key: Callable[[Row], _K]) -> dict[_K, list[Row]]:
    groups: dict[_K, list[Row]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    return groups


def _per_platform(p: Period) -> list[PlatformFigures]:
    groups = _group(p.rows, lambda r: r[PLATFORM])
    figures = [PlatformFigures(name, _counts(rows)) for name, rows in groups.items()]
    return sorted(figures, key=lambda f: (-f.counts.posts, f.platform))


def _hour_start(created: str, tz: tzinfo, cache: dict[str, datetime]) -> datetime:
    prefix = created[:16]  # minute precision is enough to place a post in its hour
    found = cache.get(prefix)
    if found is None:
        local = parse_iso(created).astimezone(tz)
        found = local.replace(minute=0, second=0, microsecond=0)
        cache[prefix] = found
    return found


def _hour_groups(p: Period) -> dict[datetime, list[Row]]:
    """Rows by the local hour they fall in, keyed by its UTC start.

    Keyed in UTC because local times compare by wall clock: the hour repeated
    when daylight saving ends would otherwise count as one.
    """
    tz = p.event.tz
    cache: dict[str, datetime] = {}
    return _group(p.rows, lambda r: to_utc(_hour_start(r[CREATED], tz, cache)))


def _per_hour(p: Period) -> list[HourFigures]:
    tz = p.event.tz
    groups = p.hour_groups()
    hours = []
    at = to_utc(p.start.astimezone(tz).replace(minute=0, second=0, microsecond=0))
    end = to_utc(p.end)
    while at < end:
        rows = groups.get(at, [])
        hours.append(
            HourFigures(at.astimezone(tz), _counts(rows), dict(Counter(r[PLATFORM] for r in rows)))
        )
        # Step in UTC so a daylight-saving change neither repeats nor skips an hour.
        at += timedelta(hours=1)
    return hours


def _day_groups(p: Period) -> dict[date, list[Row]]:
    tz = p.event.tz
    cache: dict[str, date] = {}

    def day_of(r: Row) -> date:
        prefix = r[CREATED][:16]
        found = cache.get(prefix)
        if found is None:
            found = cache[prefix] = parse_iso(r[CREATED]).astimezone(tz).date()
        return found

    return _group(p.rows, day_of)


def _per_day(p: Period) -> list[DayFigures]:
    tz = p.event.tz
    groups = p.day_groups()
    first = p.start.astimezone(tz).date()
    last = (p.end - timedelta(microseconds=1)).astimezone(tz).date()
    days = []
    while first <= last:
        days.append(DayFigures(first, _counts(groups.get(first, ()))))
        first += timedelta(days=1)
    return days
