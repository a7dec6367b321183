"""How collection went on one day, said plainly, from the runs table.

Why the digest needs this: a quiet section and a broken collector look the same
on paper. If X hit its quota at 14:05, the team must read that next to the
figures, or they will report a drop in conversation that never happened.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, tzinfo

from tagwatch.records import iso, parse_iso
from tagwatch.reports.charts import PLATFORM_LABELS

__all__ = ["CollectorDay", "collection_day", "FAILED_STATUSES"]

# As tagwatch.storage.status counts a failure streak; "interrupted" (a clean stop) is not a failure.
FAILED_STATUSES = ("failed", "error", "quota", "rate_limited")


def _n(count: int, noun: str, plural: str = "") -> str:
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"


@dataclass(frozen=True)
class CollectorDay:
    collector: str
    enabled: bool
    passes: int = 0
    ok: int = 0  # ok or partial
    failed: int = 0  # failed or error
    rate_limited: int = 0
    quota: int = 0
    interrupted: int = 0
    new_posts: int = 0
    first_quota_at: datetime | None = None  # local time
    last_error: str | None = None
    last_error_at: datetime | None = None
    streak: int = 0  # consecutive failed passes at the end of the day
    alert_after: int = 3
    # Longest time between two passes beyond what the platform's search reaches back
    # (Instagram's recent_media: 24 hours), as the pass recorded it (`gap_hours`).
    gap_hours: float | None = None

    @property
    def label(self) -> str:
        return PLATFORM_LABELS.get(self.collector, self.collector)

    @property
    def flagged(self) -> bool:
        return self.alert_after > 0 and self.streak >= self.alert_after

    @property
    def problem(self) -> bool:
        """Anything that could make the day's figures incomplete for this collector."""
        return bool(
            self.failed
            or self.quota
            or self.rate_limited
            or self.flagged
            or self.gap_hours
            or (self.enabled and not self.passes)
        )

    def statement(self) -> str:
        """One plain sentence (without the collector's name) for the digest."""
        if not self.passes:
            if self.enabled:
                return "no collection pass ran this day: nothing was collected."
            return "not enabled."
        parts: list[str] = []
        if self.flagged:
            parts.append(f"FAILING: the last {self.streak} passes in a row failed")
        if self.quota:
            at = f" at {self.first_quota_at:%H:%M}" if self.first_quota_at else ""
            parts.append(
                f"hit its quota{at}; posts after that were not collected"
                f" ({self.quota} pass{'es' if self.quota != 1 else ''} stopped)"
            )
        if self.failed:
            if self.failed == self.passes:
                parts.append(f"all {self.passes} passes failed: nothing was collected")
            else:
                parts.append(f"{self.failed} of {self.passes} passes failed")
        if self.gap_hours:
            parts.append(
                f"{self.gap_hours:g} hours passed between two passes, more than the 24 hours "
                "its search reaches back: posts from that gap may be lost"
            )
        if self.rate_limited:
            parts.append(
                f"{self.rate_limited} pass{'es' if self.rate_limited != 1 else ''}"
                " cut short by rate limits"
            )
        if not parts:
            return (
                f"{_n(self.passes, 'pass', 'passes')}, all fine; {_n(self.new_posts, 'new post')}."
            )
        totals = f"{_n(self.new_posts, 'new post')} in {_n(self.passes, 'pass', 'passes')}"
        text = "; ".join(parts) + f" ({totals})."
        return text[0].upper() + text[1:]


def collection_day(
    conn: sqlite3.Connection,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    *,
    enabled: tuple[str, ...] = (),
    alert_after: int = 3,
) -> list[CollectorDay]:
    """Each collector's passes started in [start, end), plus enabled collectors that never ran."""
    lo, hi = iso(start), iso(end)
    rows = list(
        conn.execute(
            "select collector, started_at, status, new_posts, error, details from runs"
            " where started_at >= ? and started_at < ? and status != 'running'"
            " order by started_at, id",
            (lo, hi),
        )
    )
    names = sorted({r[0] for r in rows} | set(enabled))
    out = []
    for name in names:
        mine = [r for r in rows if r[0] == name]
        counts = {"ok": 0, "failed": 0, "rate_limited": 0, "quota": 0, "interrupted": 0}
        first_quota = last_error = last_error_at = None
        gap_hours: float | None = None
        new_posts = 0
        for _, started, status, new, error, details in mine:
            new_posts += new or 0
            gap = _gap_hours(details)
            if gap is not None and (gap_hours is None or gap > gap_hours):
                gap_hours = gap
            if status in ("ok", "partial"):
                counts["ok"] += 1
            elif status in ("failed", "error"):
                counts["failed"] += 1
            elif status in counts:
                counts[status] += 1
            if status == "quota" and first_quota is None:
                first_quota = parse_iso(started).astimezone(tz)
            if error and status in FAILED_STATUSES:
                last_error, last_error_at = error, parse_iso(started).astimezone(tz)
        # The streak looks back past the day's start: a collector broken since yesterday
        # is still broken today.
        streak = 0
        for (status,) in conn.execute(
            "select status from runs where collector = ? and started_at < ?"
            " and status != 'running' order by started_at desc, id desc limit 500",
            (name, hi),
        ):
            if status not in FAILED_STATUSES:
                break
            streak += 1
        out.append(
            CollectorDay(
                collector=name,
                enabled=name in enabled,
                passes=len(mine),
                new_posts=new_posts,
                first_quota_at=first_quota,
                last_error=last_error,
                last_error_at=last_error_at,
                streak=streak,
                alert_after=alert_after,
                gap_hours=gap_hours,
                **counts,
            )
        )
    return out


def _gap_hours(details: str | None) -> float | None:
    """The `gap_hours` a pass recorded in its details (Instagram), if any."""
    if not details or "gap_hours" not in details:
        return None
    try:
        value = json.loads(details).get("gap_hours")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and value > 0 else None
