"""The spending guard for X's paid reads.

X bills every post a request returns, once per post per UTC day (a post read
again the same day is free, the next day it is billed again). So the ledger is
the `paid_reads` table: one row per (platform, UTC day, post id). From it come
the posts billed today and this calendar month, which the guard compares with
the configured budget *before* each request, so a pass stops before the budget
is spent rather than after. Engagement refreshes may use only a share of the
month's budget; what they used is kept in each run's details (`refresh_reads`).

Read-only helpers (`budget_state`, `budget_warning`) take a plain connection,
so `tagwatch status` and the digest can show the budget without a writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from monitor.config import Config, Section
from monitor.errors import QuotaExhausted
from storage.records import iso

__all__ = [
    "BudgetState",
    "budget_state",
    "budget_warning",
    "record_reads",
    "status_lines",
    "PLATFORM",
]

PLATFORM = "x"
WARN_AT = 0.8  # share of a budget from which status and digest warn


@dataclass(frozen=True)
class BudgetState:
    """Posts billed so far against the configured limits (None: no limit set)."""

    day: date
    read_today: int
    read_this_month: int
    refresh_this_month: int
    month_limit: int | None
    day_limit: int | None
    refresh_limit: int | None
    price: float

    @property
    def spent_usd(self) -> float:
        return self.read_this_month * self.price

    @property
    def next_month(self) -> date:
        d = self.day
        return date(d.year + (d.month == 12), d.month % 12 + 1, 1)

    def room(self) -> int | None:
        """Posts that may still be read now (None: unlimited)."""
        rooms = []
        if self.month_limit is not None:
            rooms.append(self.month_limit - self.read_this_month)
        if self.day_limit is not None:
            rooms.append(self.day_limit - self.read_today)
        return max(min(rooms), 0) if rooms else None

    def check(self, wanted: int) -> None:
        """Raise QuotaExhausted unless `wanted` more posts fit in the budget."""
        room = self.room()
        if room is None or room >= wanted:
            return
        if self.day_limit is not None and self.day_limit - self.read_today < wanted:
            raise QuotaExhausted(
                f"X daily budget reached: {self.read_today:,} of {self.day_limit:,} posts read "
                f"today (UTC); collection resumes tomorrow. Raise x.daily_post_budget to read more."
            )
        assert self.month_limit is not None
        raise QuotaExhausted(
            f"X monthly budget reached: {self.read_this_month:,} of {self.month_limit:,} posts "
            f"read this month (${self.spent_usd:,.2f} at ${self.price:g} a post); collection "
            f"resumes on {self.next_month}. Raise x.monthly_post_budget or x.budget_usd to "
            "read more."
        )

    def summary(self) -> str:
        limit = f" of {self.month_limit:,}" if self.month_limit is not None else ""
        line = (
            f"X budget: {self.read_this_month:,}{limit} posts read this month "
            f"(${self.spent_usd:,.2f}), {self.read_today:,} today"
        )
        if self.day_limit is not None:
            line += f" of {self.day_limit:,}"
        return line

    def warning(self) -> str | None:
        """A sentence for status and digest when the budget is (nearly) used up."""
        room = self.room()
        if self.month_limit is not None and self.read_this_month >= WARN_AT * self.month_limit:
            if room == 0:
                return (
                    f"X collection stopped: the monthly budget of {self.month_limit:,} posts is "
                    f"used up until {self.next_month}."
                )
            return (
                f"X budget nearly used: {self.read_this_month:,} of {self.month_limit:,} posts "
                f"this month ({self.month_limit - self.read_this_month:,} left)."
            )
        if self.day_limit is not None and self.read_today >= self.day_limit:
            return f"X collection paused: today's budget of {self.day_limit:,} posts is used up."
        return None


def month_limit(section: Section) -> int | None:
    """The tighter of the post budget and the money budget, in posts (None: no limit)."""
    limits = []
    if section.monthly_post_budget > 0:
        limits.append(int(section.monthly_post_budget))
    if section.budget_usd > 0:
        limits.append(int(section.budget_usd / section.price_per_post_usd + 1e-9))
    return min(limits) if limits else None


def _month_start(day: date) -> str:
    return iso(datetime(day.year, day.month, 1, tzinfo=UTC))


def budget_state(conn: sqlite3.Connection, config: Config, now: datetime) -> BudgetState:
    """The budget as of `now`, read from the ledger (works on a read-only connection)."""
    section = config.sections["x"]
    day = now.astimezone(UTC).date()
    month_prefix = day.isoformat()[:7]
    read_today = conn.execute(
        "select count(*) from paid_reads where platform = ? and day = ?",
        (PLATFORM, day.isoformat()),
    ).fetchone()[0]
    read_month = conn.execute(
        "select count(*) from paid_reads where platform = ? and day like ?",
        (PLATFORM, month_prefix + "-%"),
    ).fetchone()[0]
    refresh = conn.execute(
        "select coalesce(sum(json_extract(details, '$.refresh_reads')), 0) from runs"
        " where collector = ? and started_at >= ?",
        (PLATFORM, _month_start(day)),
    ).fetchone()[0]
    limit = month_limit(section)
    refresh_limit = None if limit is None else int(limit * section.refresh_budget_share)
    return BudgetState(
        day=day,
        read_today=int(read_today),
        read_this_month=int(read_month),
        refresh_this_month=int(refresh or 0),
        month_limit=limit,
        day_limit=int(section.daily_post_budget) if section.daily_post_budget > 0 else None,
        refresh_limit=refresh_limit,
        price=float(section.price_per_post_usd),
    )


def _has_ledger(conn: sqlite3.Connection) -> bool:
    return bool(
        conn.execute(
            "select 1 from sqlite_master where type = 'table' and name = 'paid_reads'"
        ).fetchone()
    )


def budget_warning(conn: sqlite3.Connection, config: Config, now: datetime) -> str | None:
    """For `tagwatch status` and the digest: None when nothing needs saying."""
    if not _has_ledger(conn):
        return None
    return budget_state(conn, config, now).warning()


def record_reads(conn: sqlite3.Connection, ids: Iterable[str], now: datetime) -> int:
    """Enter posts a response returned into the ledger; returns how many are newly billed."""
    day = now.astimezone(UTC).date().isoformat()
    rows = [(PLATFORM, day, str(i)) for i in dict.fromkeys(ids)]
    if not rows:
        return 0
    before = conn.total_changes
    conn.executemany(
        "insert or ignore into paid_reads (platform, day, platform_id) values (?, ?, ?)", rows
    )
    return conn.total_changes - before


def status_lines(config: Config, now: datetime) -> list[str]:
    """Lines for `tagwatch status`: the X budget, and a warning when it runs short."""
    from storage.db import connect

    if not config.sections["x"].enabled or not config.db_path.exists():
        return []
    conn = connect(config.db_path, readonly=True)
    try:
        if not _has_ledger(conn):
            return []
        state = budget_state(conn, config, now)
        warning = state.warning()
        return [state.summary()] + ([f"  WARNING: {warning}"] if warning else [])
    finally:
        conn.close()
