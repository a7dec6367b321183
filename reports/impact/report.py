"""The post-event impact report: the figures, as plain data, for donors and partners.

Every figure comes from the figures layer (`tagwatch.reports.analysis`), the same one
the digest and the wall read, from one read of the period's posts: authors
counted by stable account id (a handle change is one author, with one reach),
engagement by the one definition (`figures.engagement`). Partners receive the
export next to the report (`posts.csv`), and its rows recount to the same
totals: the export carries `author_id` for exactly that.

Every table and chart is a `Table` with fixed columns, so the HTML, the PDF
and the CSV files are three renderings of the same rows.

Posts whose authors asked not to be shown to logged-out readers
(`no_unauthenticated`) are counted, never quoted or named. Deleted posts are
not in the export, so they are not in any figure; the methodology says how
many there were.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tagwatch.records import parse_iso
from tagwatch.reports import analysis
from tagwatch.reports.export import period_bounds
from tagwatch.reports.figures import (
    Summary,
)
from tagwatch.reports.impact.method import PROSE, Gap, Methodology, gaps_table, passes_and_gaps
from tagwatch.reports.impact.table import Table, period_where
from tagwatch.reports.impact.tables import (
    REACH_DEFINITION,
    _growth,
    _languages,
    _per_day,
    _per_platform,
    _sessions,
    _themes,
    _timeline,
    _top_posts,
    _voices,
    comparison_table,
    summary_rows,
)
from tagwatch.reports.urls import safe_url
from tagwatch.settings import Config, EventConfig

__all__ = [
    "Table",
    "Summary",
    "Gap",
    "Methodology",
    "ImpactReport",
    "build_report",
    "REACH_DEFINITION",
    "PROSE",
]

PLATFORMS = ("bluesky", "x", "mastodon", "threads", "instagram")
TOP_POSTS = 10
TOP_VOICES = 10
TOP_THEMES = 15
THEMES_BY_DAY = 6


@dataclass
class ImpactReport:
    event_name: str
    event_url: str
    hashtags: list[str]
    start_day: date
    end_day: date
    timezone: str
    generated_at: datetime
    summary: Summary
    tables: dict[str, Table]
    series: dict[str, Any]  # chart inputs (datetimes, counts) for the chart renderer
    methodology: Methodology
    comparison: Summary | None = None
    comparison_label: str = ""
    top_posts: list[dict[str, Any]] = field(default_factory=list)

    def period_sentence(self) -> str:
        """'On <day>' or 'From <day> to <day>', to open a sentence."""
        label = self.period_label()
        return f"On {label}" if self.start_day == self.end_day else f"From {label}"

    def period_label(self) -> str:
        if self.start_day == self.end_day:
            return _day_label(self.start_day)
        return f"{_day_label(self.start_day)} to {_day_label(self.end_day)}"


def _day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def _count(conn: sqlite3.Connection, sql: str, params: list[Any]) -> int:
    return int(conn.execute(sql, params).fetchone()[0] or 0)


def _bounds(event: EventConfig, first: date | None, last: date | None) -> tuple[datetime, datetime]:
    """Local days [first, last] as instants; None on either side: all of the database."""
    lo = event.day_bounds(first)[0] if first else datetime(1, 1, 2, tzinfo=UTC)
    hi = event.day_bounds(last)[1] if last else datetime(9999, 12, 30, tzinfo=UTC)
    return lo, hi


def build_report(
    conn: sqlite3.Connection,
    config: Config,
    start_day: date | None = None,
    end_day: date | None = None,
    *,
    now: datetime,
    compare: tuple[sqlite3.Connection, date | None, date | None] | None = None,
) -> ImpactReport:
    """Read-only: every figure of the report for local days [start_day, end_day].

    `compare` is (connection, first day, last day) of an earlier period, in this
    database or an earlier event's; None days mean all of that database.
    """
    event = config.event
    start_day = start_day or event.start
    end_day = end_day or event.end
    start, end = period_bounds(event, start_day, end_day)
    lo, hi = _bounds(event, start_day, end_day)
    days = [start_day + timedelta(days=i) for i in range((end_day - start_day).days + 1)]
    # One read of the period: every post figure below is the figures layer's.
    period = analysis.Period(conn, event, lo, hi)
    a = analysis.analyze_period(
        period, top=max(TOP_POSTS, TOP_VOICES), n_themes=TOP_THEMES, examples=0, with_growth=False
    )
    summary = a.summary
    enabled = [p for p in PLATFORMS if config.platform(p).enabled]
    platforms = sorted(set(enabled) | set(summary.platforms))
    timeline, volume = _timeline(a.hours, list(summary.platforms), event)
    growth, growth_points = _growth(conn, event, lo, hi)
    top_table, top_posts = _top_posts(a.top_posts, event, TOP_POSTS)
    themes, themes_by_day, theme_series = _themes(a, period, days, TOP_THEMES, THEMES_BY_DAY)
    passes, gaps = passes_and_gaps(conn, start, end, event)
    where, params = period_where(start, end)
    deleted = _count(conn, f"select count(*) from posts where deleted = 1 and {where}", params)
    as_of = conn.execute(
        f"select max(coalesce(updated_at, collected_at)) from posts where deleted = 0 and {where}",
        params,
    ).fetchone()[0]
    summary_table = summary_rows(summary, event)
    tables = {
        t.name: t
        for t in [
            summary_table,
            _per_day(a.days, event),
            _per_platform(a.platforms, platforms),
            timeline,
            _sessions(a.sessions, event, lo, hi),
            growth,
            top_table,
            _voices(a.voices, TOP_VOICES),
            themes,
            themes_by_day,
            _languages(a),
            passes,
            gaps_table(gaps, event.timezone),
        ]
    }
    report = ImpactReport(
        event_name=event.name,
        event_url=safe_url(event.url),
        hashtags=list(event.hashtags),
        start_day=start_day,
        end_day=end_day,
        timezone=event.timezone,
        generated_at=now.astimezone(event.tz),
        summary=summary,
        tables=tables,
        series={"volume": volume, "growth": growth_points, "themes": theme_series, "days": days},
        methodology=Methodology(
            platforms_enabled=enabled,
            platforms_not_collected=[p for p in PLATFORMS if p not in enabled],
            mastodon_instances=list(config.mastodon.instances) if "mastodon" in enabled else [],
            passes=passes,
            gaps=gaps,
            deleted_removed=deleted,
            hidden_posts=summary.restricted_posts,
            hidden_authors=a.voices.restricted_authors,
            engagement_as_of=parse_iso(as_of).astimezone(event.tz) if as_of else None,
            timezone=event.timezone,
            counts_unknown=list(summary.counts_unknown),
            authorless_posts=summary.authorless_posts,
            authorless_platforms=list(summary.authorless_platforms),
        ),
        top_posts=top_posts,
    )
    if compare is not None:
        other_conn, c_lo, c_hi = compare
        report.comparison = analysis.summary(other_conn, event, *_bounds(event, c_lo, c_hi))
        report.comparison_label = _compare_label(c_lo, c_hi)
        tables["comparison"] = comparison_table(summary, report.comparison, report.comparison_label)
    return report


def _compare_label(lo: date | None, hi: date | None) -> str:
    if lo is None and hi is None:
        return "earlier event"
    if lo is not None and hi is not None:
        return f"{lo.isoformat()} to {hi.isoformat()}"
    return f"from {lo.isoformat()}" if lo else f"until {hi.isoformat()}"  # type: ignore[union-attr]
