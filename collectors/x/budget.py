"""The spending guard for X's paid reads.

X bills every *resource* a response returns, not only posts: "All prices are
per resource fetched (reads) ... Charged per resource returned in the response"
with Posts: Read $0.005, User: Read $0.010, Media: Read $0.005 (docs.x.com,
x-api/getting-started/pricing). A search page therefore bills its posts, the
authors in `includes.users`, the posts in `includes.tweets` (posts like any
other) and the items in `includes.media`. Each type is de-duplicated per UTC
day: "If the same post is returned from multiple queries within a day, it only
counts once" (docs.x.com, x-api/fundamentals/post-cap, "Deduplication"); the
pricing page states the window as the 24-hour UTC day for any billable resource
(a "soft guarantee": tagwatch counts as if it held, so an outage at X can only
make the real bill smaller than the ledger's).

So the ledger is the `paid_reads` table: one row per (platform, UTC day,
resource kind, id). From it come the resources billed today and this calendar
month, priced per kind from `[x]`, which the guard compares with the configured
budget *before* each request, using the worst case of the page the request may
return (`worst_case`), so a pass stops before the budget is spent rather than
after. `x.monthly_post_budget` and `x.daily_post_budget` count posts;
`x.budget_usd` is money over all kinds. Engagement refreshes may use only a
share of the month's budget; what they used is kept in each run's details
(`refresh_reads`).

Read-only helpers (`budget_state`, `budget_warning`) take a plain connection,
so `tagwatch status` and the digest can show the budget without a writer.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tagwatch.errors import QuotaExhausted
from tagwatch.records import iso
from tagwatch.settings import Config
from tagwatch.settings_types import XSection
from tagwatch.storage.ledgers import record_paid_reads

__all__ = [
    "BudgetState",
    "Prices",
    "Reads",
    "budget_state",
    "budget_warning",
    "record_reads",
    "record_resources",
    "ledger_state",
    "status_lines",
    "worst_case",
    "PLATFORM",
    "KINDS",
]

PLATFORM = "x"
KINDS = ("post", "user", "media")
WARN_AT = 0.8  # share of a budget from which status and digest warn


@dataclass(frozen=True)
class Reads:
    """Resources read (or that may be read), by the kinds X prices."""

    posts: int = 0
    users: int = 0
    media: int = 0

    def __add__(self, other: Reads) -> Reads:
        return Reads(self.posts + other.posts, self.users + other.users, self.media + other.media)

    def times(self, n: int) -> Reads:
        return Reads(self.posts * n, self.users * n, self.media * n)

    def cost(self, prices: Prices) -> float:
        return self.posts * prices.post + self.users * prices.user + self.media * prices.media

    def by_kind(self) -> dict[str, int]:
        return {"post": self.posts, "user": self.users, "media": self.media}

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Reads:
        return cls(counts.get("post", 0), counts.get("user", 0), counts.get("media", 0))


@dataclass(frozen=True)
class Prices:
    post: float = 0.005
    user: float = 0.010
    media: float = 0.005

    @classmethod
    def of(cls, section: XSection) -> Prices:
        return cls(
            float(section.price_per_post_usd),
            float(section.price_per_user_usd),
            float(section.price_per_media_usd),
        )


# The most each expansion can add to a page, per post in `data` (docs.x.com,
# x-api/fundamentals/expansions): one author; up to two referenced posts (a
# reply that also quotes) and their authors; up to four media items (four
# photos, or one video or GIF). Unknown expansions are refused rather than
# guessed at: the guard must never under-count.
PER_POST: dict[str, Reads] = {
    "author_id": Reads(users=1),
    "in_reply_to_user_id": Reads(users=1),
    "referenced_tweets.id": Reads(posts=2),
    "referenced_tweets.id.author_id": Reads(users=2),
    "attachments.media_keys": Reads(media=4),
}


def worst_case(posts: int, expansions: Iterable[str]) -> Reads:
    """The most a page of `posts` results with these expansions can bill."""
    total = Reads(posts=posts)
    for name in expansions:
        if name not in PER_POST:
            raise ValueError(f"no worst case known for the X expansion {name!r}")
        total = total + PER_POST[name].times(posts)
    return total


@dataclass(frozen=True)
class BudgetState:
    """Resources billed so far against the configured limits (None: no limit set)."""

    day: date
    today: Reads
    month: Reads
    refresh_this_month: int
    month_limit: int | None  # posts: x.monthly_post_budget
    day_limit: int | None  # posts: x.daily_post_budget
    money_limit: float | None  # USD over all kinds: x.budget_usd
    refresh_limit: int | None  # posts refreshes may read this month
    prices: Prices

    @property
    def read_today(self) -> int:
        return self.today.posts

    @property
    def read_this_month(self) -> int:
        return self.month.posts

    @property
    def spent_usd(self) -> float:
        return self.month.cost(self.prices)

    @property
    def next_month(self) -> date:
        d = self.day
        return date(d.year + (d.month == 12), d.month % 12 + 1, 1)

    def room(self) -> int | None:
        """Posts the post limits still allow now (None: no post limit)."""
        rooms = []
        if self.month_limit is not None:
            rooms.append(self.month_limit - self.month.posts)
        if self.day_limit is not None:
            rooms.append(self.day_limit - self.today.posts)
        return max(min(rooms), 0) if rooms else None

    def money_left(self) -> float | None:
        if self.money_limit is None:
            return None
        return max(self.money_limit - self.spent_usd, 0.0)

    def affordable(self, per_item: Reads) -> int | None:
        """How many items, each billing up to `per_item`, fit now (None: no limit)."""
        counts = []
        room = self.room()
        if room is not None and per_item.posts:
            counts.append(room // per_item.posts)
        left = self.money_left()
        unit = per_item.cost(self.prices)
        if left is not None and unit > 0:
            counts.append(math.floor(left / unit + 1e-9))
        return max(min(counts), 0) if counts else None

    def check(self, wanted: Reads | int) -> None:
        """Raise QuotaExhausted unless `wanted` (a worst case) fits in the budget."""
        want = wanted if isinstance(wanted, Reads) else Reads(posts=wanted)
        if self.day_limit is not None and self.today.posts + want.posts > self.day_limit:
            raise QuotaExhausted(
                f"X daily budget reached: {self.today.posts:,} of {self.day_limit:,} posts read "
                f"today (UTC); collection resumes tomorrow. Raise x.daily_post_budget to read more."
            )
        if self.month_limit is not None and self.month.posts + want.posts > self.month_limit:
            raise QuotaExhausted(
                f"X monthly budget reached: {self.month.posts:,} of {self.month_limit:,} posts "
                f"read this month (${self.spent_usd:,.2f} spent); collection resumes on "
                f"{self.next_month}. Raise x.monthly_post_budget to read more."
            )
        left = self.money_left()
        if left is not None and want.cost(self.prices) > left + 1e-9:
            raise QuotaExhausted(
                f"X money budget reached: ${self.spent_usd:,.2f} of ${self.money_limit:,.2f} spent "
                f"this month ({self._spent_parts()}), and the next request could cost up to "
                f"${want.cost(self.prices):,.2f}; collection resumes on {self.next_month}. "
                "Raise x.budget_usd to read more."
            )

    def _spent_parts(self) -> str:
        m, p = self.month, self.prices
        return (
            f"{m.posts:,} posts ${m.posts * p.post:,.2f}, {m.users:,} users "
            f"${m.users * p.user:,.2f}, {m.media:,} media ${m.media * p.media:,.2f}"
        )

    def summary(self) -> str:
        limit = f" of {self.month_limit:,}" if self.month_limit is not None else ""
        line = (
            f"X budget: {self.month.posts:,}{limit} posts read this month "
            f"(${self.spent_usd:,.2f}), {self.today.posts:,} today"
        )
        if self.day_limit is not None:
            line += f" of {self.day_limit:,}"
        return line

    def spend_line(self) -> str:
        """The money, by kind: what X bills besides posts."""
        of = f" of ${self.money_limit:,.2f}" if self.money_limit is not None else ""
        return f"  X spend this month: ${self.spent_usd:,.2f}{of} ({self._spent_parts()})"

    def as_dict(self) -> dict[str, Any]:
        """Plain data for `tagwatch status --json` (None: no limit set)."""
        return {
            "day": self.day.isoformat(),
            "today": self.today.by_kind(),
            "month": self.month.by_kind(),
            "refresh_this_month": self.refresh_this_month,
            "month_limit": self.month_limit,
            "day_limit": self.day_limit,
            "money_limit": self.money_limit,
            "refresh_limit": self.refresh_limit,
            "prices": {
                "post": self.prices.post,
                "user": self.prices.user,
                "media": self.prices.media,
            },
            "spent_usd": round(self.spent_usd, 6),
            "warning": self.warning(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BudgetState:
        return cls(
            day=date.fromisoformat(data["day"]),
            today=Reads.of(data["today"]),
            month=Reads.of(data["month"]),
            refresh_this_month=data["refresh_this_month"],
            month_limit=data["month_limit"],
            day_limit=data["day_limit"],
            money_limit=data["money_limit"],
            refresh_limit=data["refresh_limit"],
            prices=Prices(**data["prices"]),
        )

    def lines(self) -> list[str]:
        """Lines for `tagwatch status`: the budget, the spend by kind, a warning."""
        warning = self.warning()
        lines = [self.summary()]
        if self.month.users or self.month.media or self.money_limit is not None:
            lines.append(self.spend_line())
        return lines + ([f"  WARNING: {warning}"] if warning else [])

    def warning(self) -> str | None:
        """A sentence for status and digest when the budget is (nearly) used up."""
        room = self.room()
        if self.month_limit is not None and self.month.posts >= WARN_AT * self.month_limit:
            if room == 0:
                return (
                    f"X collection stopped: the monthly budget of {self.month_limit:,} posts is "
                    f"used up until {self.next_month}."
                )
            return (
                f"X budget nearly used: {self.month.posts:,} of {self.month_limit:,} posts "
                f"this month ({self.month_limit - self.month.posts:,} left)."
            )
        left = self.money_left()
        if self.money_limit is not None and left is not None:
            if left < self.prices.post:
                return (
                    f"X collection stopped: the monthly budget of ${self.money_limit:,.2f} is "
                    f"used up until {self.next_month}."
                )
            if self.spent_usd >= WARN_AT * self.money_limit:
                return (
                    f"X budget nearly used: ${self.spent_usd:,.2f} of ${self.money_limit:,.2f} "
                    f"this month (${left:,.2f} left)."
                )
        if self.day_limit is not None and self.today.posts >= self.day_limit:
            return f"X collection paused: today's budget of {self.day_limit:,} posts is used up."
        return None


def refresh_limit(section: XSection) -> int | None:
    """Posts refreshes may read a month: their share of the month's budget, in posts.

    A refresh asks for no expansions, so it reads posts only; the money budget
    is turned into posts at the post price.
    """
    limits = []
    if section.monthly_post_budget > 0:
        limits.append(int(section.monthly_post_budget))
    if section.budget_usd > 0:
        limits.append(int(section.budget_usd / section.price_per_post_usd + 1e-9))
    if not limits:
        return None
    return int(min(limits) * section.refresh_budget_share)


def _month_start(day: date) -> str:
    return iso(datetime(day.year, day.month, 1, tzinfo=UTC))


def _counts(conn: sqlite3.Connection, where: str, value: str) -> Reads:
    rows = conn.execute(
        f"select kind, count(*) from paid_reads where platform = ? and {where} group by kind",
        (PLATFORM, value),
    )
    return Reads.of({str(kind): int(n) for kind, n in rows})


def budget_state(conn: sqlite3.Connection, config: Config, now: datetime) -> BudgetState:
    """The budget as of `now`, read from the ledger (works on a read-only connection)."""
    section = config.x
    day = now.astimezone(UTC).date()
    refresh = conn.execute(
        "select coalesce(sum(json_extract(details, '$.refresh_reads')), 0) from runs"
        " where collector = ? and started_at >= ?",
        (PLATFORM, _month_start(day)),
    ).fetchone()[0]
    return BudgetState(
        day=day,
        today=_counts(conn, "day = ?", day.isoformat()),
        month=_counts(conn, "day like ?", day.isoformat()[:7] + "-%"),
        refresh_this_month=int(refresh or 0),
        month_limit=int(section.monthly_post_budget) if section.monthly_post_budget > 0 else None,
        day_limit=int(section.daily_post_budget) if section.daily_post_budget > 0 else None,
        money_limit=float(section.budget_usd) if section.budget_usd > 0 else None,
        refresh_limit=refresh_limit(section),
        prices=Prices.of(section),
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


def record_resources(
    conn: sqlite3.Connection, resources: Mapping[str, Iterable[str]], now: datetime
) -> Reads:
    """Enter what a response returned into the ledger, by kind; returns what is newly billed."""
    day = now.astimezone(UTC).date().isoformat()
    new: dict[str, int] = {}
    for kind, ids in resources.items():
        if kind not in KINDS:
            raise ValueError(f"unknown X resource kind {kind!r}")
        wanted = [str(i) for i in dict.fromkeys(ids) if str(i)]
        if not wanted:
            continue
        new[kind] = record_paid_reads(conn, PLATFORM, day, kind, wanted)
    return Reads.of(new)


def record_reads(conn: sqlite3.Connection, ids: Iterable[str], now: datetime) -> int:
    """Enter posts into the ledger; returns how many are newly billed."""
    return record_resources(conn, {"post": ids}, now).posts


def status_lines(config: Config, now: datetime) -> list[str]:
    """Lines for `tagwatch status`: the X budget, and a warning when it runs short."""
    state = read_budget(config, now)
    return [] if state is None else state.lines()


def read_budget(config: Config, now: datetime) -> BudgetState | None:
    """The budget from the database on disk, read-only; None when X is off or never ran."""
    from tagwatch.storage.db import connect

    if not config.x.enabled or not config.db_path.exists():
        return None
    conn = connect(config.db_path, readonly=True)
    try:
        return ledger_state(conn, config, now)
    finally:
        conn.close()


def ledger_state(conn: sqlite3.Connection, config: Config, now: datetime) -> BudgetState | None:
    """The budget on any connection; None when the database has no ledger yet."""
    return budget_state(conn, config, now) if _has_ledger(conn) else None
