"""The impact report's methodology: what was and was not collected, said honestly.

Why a module of its own: donors read the figures through it. Collection
passes that failed or stopped on a rate limit or quota are gaps in what
tagwatch saw, so each is named with its local time and the next pass that
completed; the prose that explains them is shared by the HTML and the PDF.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from tagwatch.records import parse_iso
from tagwatch.reports.figures import unknown_figures
from tagwatch.reports.impact.table import Table, period_where
from tagwatch.settings import EventConfig

__all__ = [
    "FAILED_STATUSES",
    "PROSE",
    "Gap",
    "Methodology",
    "passes_and_gaps",
    "gaps_table",
    "plural",
]

FAILED_STATUSES = ("failed", "rate_limited", "quota", "interrupted")

# Prose shared by the HTML and the PDF, so both say the same thing.
PROSE = {
    "countries": "Not reported: the platforms do not tell tagwatch where posts were written, and "
    "guessing a country from a profile or a language would not be reliable enough to report.",
    "not_collected": "Private and followers-only posts; posts that do not carry the hashtag; "
    "reposts and boosts as separate posts (they count as engagement of the original); the "
    "content of images and videos; where posters are (countries are not reported).",
    "gaps": "Posts from those times were usually picked up by the next completed pass, which "
    "resumes from the last saved position; posts deleted in between, or beyond what the "
    "platform's search returns, may be missing:",
    "no_passes": "No collection passes are recorded in this database for the period (the posts "
    "may have been collected before the period, or imported).",
    "mastodon": "Posts from other instances are included only when they reached these instances "
    "through federation.",
    "unknown": "What a platform's API does not give, tagwatch does not invent or scrape.",
    "engagement": "Engagement is likes + reposts + replies + quotes as the platforms reported "
    "them when tagwatch last refreshed each post; later engagement is not included. Views are "
    "counted only where a platform reports them.",
}


@dataclass
class Gap:
    """A collection pass that did not complete: posts of that time may be missing."""

    collector: str
    status: str
    started: datetime  # local
    ended: datetime | None
    error: str
    next_success: datetime | None


@dataclass
class Methodology:
    platforms_enabled: list[str]
    platforms_not_collected: list[str]
    mastodon_instances: list[str]
    passes: Table
    gaps: list[Gap]
    deleted_removed: int
    hidden_posts: int
    hidden_authors: int
    engagement_as_of: datetime | None
    timezone: str
    # Platforms with posts in the period whose counts, or authors, the API does not
    # give (Threads, Instagram): `Summary.counts_unknown` and `.authorless_platforms`.
    counts_unknown: list[str] = field(default_factory=list)
    authorless_posts: int = 0
    authorless_platforms: list[str] = field(default_factory=list)

    def unknown_text(self) -> str:
        """Which figures leave which platform out (the digest's sentences); empty if none."""
        notes = unknown_figures(self.counts_unknown, self.authorless_platforms)
        if not notes:
            return ""
        if self.authorless_posts:
            notes.append(
                f"In this report, {plural(self.authorless_posts, 'post')} "
                + ("has" if self.authorless_posts == 1 else "have")
                + " no known author."
            )
        return " ".join([PROSE["unknown"], *notes])

    def deleted_text(self) -> str:
        return (
            "Deleted by their authors after tagwatch collected them: "
            f"{plural(self.deleted_removed, 'post')} of this period. Their content was removed "
            "and they are not counted anywhere in this report."
        )

    def restricted_text(self) -> str:
        return (
            "Limited by their authors to logged-in readers: "
            f"{plural(self.hidden_posts, 'post')} from {plural(self.hidden_authors, 'account')}. "
            "They are counted in the figures but never quoted, and their authors are not named."
        )


def plural(count: int, one: str, many: str = "") -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def passes_and_gaps(
    conn: sqlite3.Connection, start: str | None, end: str | None, event: EventConfig
) -> tuple[Table, list[Gap]]:
    where, params = period_where(start, end, "started_at")
    runs = list(conn.execute(f"select * from runs where {where} order by started_at, id", params))
    per_collector: dict[str, Counter[str]] = defaultdict(Counter)
    for r in runs:
        per_collector[r["collector"]][r["status"]] += 1
    passes = Table(
        "collection_passes",
        "Collection passes",
        [("collector", "Collector"), ("passes", "Passes"), ("ok", "Completed")]
        + [(s, s.replace("_", " ").capitalize()) for s in FAILED_STATUSES],
        [
            {
                "collector": c,
                "passes": sum(n.values()),
                "ok": n["ok"] + n["partial"],
                **{s: n[s] for s in FAILED_STATUSES},
            }
            for c, n in sorted(per_collector.items())
        ],
    )
    gaps = []
    for r in runs:
        if r["status"] not in FAILED_STATUSES:
            continue
        nxt = conn.execute(
            "select min(started_at) from runs where collector = ? and started_at > ?"
            " and status in ('ok', 'partial')",
            (r["collector"], r["started_at"]),
        ).fetchone()[0]
        gaps.append(
            Gap(
                collector=r["collector"],
                status=r["status"],
                started=parse_iso(r["started_at"]).astimezone(event.tz),
                ended=parse_iso(r["ended_at"]).astimezone(event.tz) if r["ended_at"] else None,
                error=r["error"] or "",
                next_success=parse_iso(nxt).astimezone(event.tz) if nxt else None,
            )
        )
    return passes, gaps


def gaps_table(gaps: list[Gap], tz_name: str) -> Table:
    def fmt(t: datetime | None) -> str:
        return t.strftime("%Y-%m-%d %H:%M") if t else ""

    return Table(
        "collection_gaps",
        "Passes that did not complete",
        [
            ("collector", "Collector"),
            ("status", "Status"),
            ("started", f"Started ({tz_name})"),
            ("ended", "Ended"),
            ("next_success", "Next completed pass"),
            ("error", "Error"),
        ],
        [
            {
                "collector": g.collector,
                "status": g.status,
                "started": fmt(g.started),
                "ended": fmt(g.ended),
                "next_success": fmt(g.next_success) or "none",
                "error": g.error,
            }
            for g in gaps
        ],
    )
