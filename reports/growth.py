"""Engagement growth of a period's posts, replayed from the snapshots taken on each refresh.

Part of the analysis API (re-exported by `tagwatch.reports.analysis`); apart only to keep
that module small.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from tagwatch.records import iso, to_utc
from tagwatch.reports.figures import GrowthPoint
from tagwatch.settings import EventConfig

__all__ = ["engagement_growth"]


def engagement_growth(
    conn: sqlite3.Connection,
    event: EventConfig,
    start: datetime,
    end: datetime,
    *,
    step: timedelta | None = None,
    until: datetime | None = None,
) -> list[GrowthPoint]:
    """How the engagement of the period's posts grew, from the snapshots taken on each refresh.

    One point per `step` (default: hourly for periods up to two days, else daily)
    from `start` on, each the sum of every post's latest snapshot taken before that
    point. The series runs until `until` (a point at or after it counts what was
    known before it) or, by default, until a point counts every snapshot: one taken
    exactly on a step boundary must not be left out of the total.
    """
    cur = conn.cursor()
    cur.row_factory = None
    cur.execute(
        "select s.post_id, s.at, s.likes, s.reposts, s.replies, s.quotes from snapshots s"
        " join posts p on p.id = s.post_id"
        " where p.created_at >= ? and p.created_at < ? and p.deleted = 0 order by s.at",
        (iso(start), iso(end)),
    )
    snaps = cur.fetchall()
    if not snaps:
        return []
    if step is None:
        step = timedelta(hours=1) if end - start <= timedelta(days=2) else timedelta(days=1)
    stop = None if until is None else to_utc(until)
    latest: dict[int, tuple[int, int, int, int]] = {}
    totals = [0, 0, 0, 0]
    points = []
    at = to_utc(start) + step
    i = 0
    while True:
        bound = iso(at)
        while i < len(snaps) and snaps[i][1] < bound:
            post_id, _, *values = snaps[i]
            old = latest.get(post_id, (0, 0, 0, 0))
            new = tuple(v or 0 for v in values)
            for k in range(4):
                totals[k] += new[k] - old[k]
            latest[post_id] = new  # type: ignore[assignment]
            i += 1
        points.append(GrowthPoint(at.astimezone(event.tz), len(latest), *totals))
        if (i == len(snaps)) if stop is None else (at >= stop):
            break
        at += step
    return points
