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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lingua import IsoCode639_1, Language

from tagwatch.records import iso, parse_iso, to_utc
from tagwatch.reports import analysis
from tagwatch.reports.export import period_bounds
from tagwatch.reports.figures import (
    ENGAGEMENT_COUNTS,
    ENGAGEMENT_LABEL,
    Analysis,
    Counts,
    DayFigures,
    HourFigures,
    PlatformFigures,
    PostRef,
    SessionReport,
    Summary,
    Voices,
    author_label,
    counts_text,
)
from tagwatch.reports.impact.method import PROSE, Gap, Methodology, gaps_table, passes_and_gaps
from tagwatch.reports.impact.table import Table, period_where
from tagwatch.reports.rows import CREATED
from tagwatch.reports.themes import ThemeKeys
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

REACH_DEFINITION = (
    "Estimated reach is the sum of the follower counts of the accounts that posted, each "
    "account counted once, as last seen by tagwatch. It is an upper bound on the audience "
    "that could have seen at least one post in their timeline, not a count of people who "
    "did: followers of several posters are counted several times, not every follower sees "
    "every post, and audiences reached through reposts are not included. Accounts whose "
    "follower count the platform did not report add nothing."
)


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


COUNT_COLUMNS = [
    ("posts", "Posts"),
    ("authors", "Authors"),
    ("likes", "Likes"),
    ("reposts", "Reposts"),
    ("replies", "Replies"),
    ("quotes", "Quotes"),
    ("engagement", "Engagement"),
]


def _count_cells(c: Counts) -> dict[str, int | str]:
    """The COUNT_COLUMNS of one row of figures.

    Unknown is not zero: a group whose posts have no known author (Instagram) has
    its authors empty, and a count none of its posts gave (Threads) is empty too.
    """
    return {
        "posts": c.posts,
        "authors": "" if c.authors_unknown else c.unique_authors,
        **{k: "" if k in c.counts_missing else getattr(c, k) for k in ENGAGEMENT_COUNTS},
        "engagement": "" if c.engagement_unknown else c.engagement,
    }


def _per_day(days: list[DayFigures], event: EventConfig) -> Table:
    return Table(
        "per_day",
        "Posts per day",
        [("day", "Day"), *COUNT_COLUMNS],
        [{"day": d.day.isoformat(), **_count_cells(d.counts)} for d in days],
        note=f"Days are calendar days in {event.timezone}.",
    )


def _per_platform(figures: list[PlatformFigures], platforms: list[str]) -> Table:
    by_name = {f.platform: f.counts for f in figures}
    out = []
    for platform in platforms:
        c = by_name.get(platform, Counts())
        views = c.views if c.posts_with_views else ""
        out.append({"platform": platform, **_count_cells(c), "views": views})
    return Table(
        "per_platform",
        "Posts per platform",
        [("platform", "Platform"), *COUNT_COLUMNS, ("views", "Views")],
        out,
        note="Views are reported by X only; empty where a platform does not count them.",
    )


def _timeline(
    hours: list[HourFigures], platforms: list[str], event: EventConfig
) -> tuple[Table, dict[str, list[tuple[datetime, int]]]]:
    table_rows = []
    for h in hours:
        out: dict[str, Any] = {
            "hour_local": h.hour.strftime("%Y-%m-%d %H:%M"),
            "hour_utc": iso(h.hour),
        }
        for p in platforms:
            out[p] = h.by_platform.get(p, 0)
        out["total"] = h.counts.posts
        table_rows.append(out)
    series = {p: [(to_utc(h.hour), h.by_platform.get(p, 0)) for h in hours] for p in platforms}
    columns = [("hour_local", f"Hour ({event.timezone})"), ("hour_utc", "Hour (UTC)")]
    columns += [(p, p) for p in platforms] + [("total", "Total")]
    table = Table("timeline_hourly", "Posts per hour", columns, table_rows)
    return table, series


def _growth(
    conn: sqlite3.Connection, event: EventConfig, lo: datetime, hi: datetime
) -> tuple[Table, list[tuple[datetime, float]]]:
    """Total engagement known hour by hour (day by day after a week), from the analysis API."""
    last = conn.execute(
        "select max(s.at) from snapshots s join posts p on p.id = s.post_id"
        " where p.deleted = 0 and p.created_at >= ? and p.created_at < ?",
        (iso(lo), iso(hi)),
    ).fetchone()[0]
    # Refreshes can go on for weeks after the event: keep the series to a readable length.
    span = (parse_iso(last) - lo) if last else timedelta(0)
    step = timedelta(hours=1) if span <= timedelta(days=7) else timedelta(days=1)
    if span > timedelta(days=120):
        step = timedelta(days=7)
    points = analysis.engagement_growth(conn, event, lo, hi, step=step)
    rows, previous = [], 0
    for pt in points:
        rows.append(
            {
                "until_local": pt.at.strftime("%Y-%m-%d %H:%M"),
                "until_utc": iso(pt.at),
                "posts_tracked": pt.posts_tracked,
                "gained": pt.engagement - previous,
                "engagement_total": pt.engagement,
            }
        )
        previous = pt.engagement
    table = Table(
        "engagement_growth",
        "Engagement over time",
        [
            ("until_local", f"Until ({event.timezone})"),
            ("until_utc", "Until (UTC)"),
            ("posts_tracked", "Posts with counts"),
            ("gained", "Gained"),
            ("engagement_total", "Total engagement"),
        ],
        rows,
        note="From the counts tagwatch stored each time it saw them change; the last total "
        "is the engagement in the summary.",
    )
    return table, [(pt.at, float(pt.engagement)) for pt in points]


_SESSION_COUNTS = ("posts", "authors", "engagement")


def _sessions(
    reports: list[SessionReport], event: EventConfig, lo: datetime, hi: datetime
) -> Table:
    rows = [
        {
            "session": s.title,
            "start_local": s.start.astimezone(event.tz).strftime("%Y-%m-%d %H:%M"),
            "room": s.room,
            # Unknown stays empty, as in the other count tables.
            **{k: v for k, v in _count_cells(s.counts).items() if k in _SESSION_COUNTS},
            "by_hashtag": s.by_hashtag,
            "by_speaker": s.by_speaker,
            "by_time": s.by_time,
        }
        for s in reports
        if s.end > lo and s.start < hi
    ]
    return Table(
        "sessions",
        "Posts per agenda session",
        [
            ("session", "Session"),
            ("start_local", "Start"),
            ("room", "Room"),
            ("posts", "Posts"),
            ("authors", "Authors"),
            ("engagement", "Engagement"),
            ("by_hashtag", "By session hashtag"),
            ("by_speaker", "By speaker mention"),
            ("by_time", "By time"),
        ],
        rows,
        note="A post belongs to a session when it carries the session's hashtag or mentions a "
        "speaker, otherwise when it was posted while the session ran; posts outside every "
        "session are in no row.",
    )


def _top_posts(refs: list[PostRef], event: EventConfig) -> tuple[Table, list[dict[str, Any]]]:
    """The analysis' top posts (restricted ones never among them), as table rows."""
    out = []
    for i, r in enumerate(refs[:TOP_POSTS], start=1):
        out.append(
            {
                "rank": i,
                "platform": r.platform,
                "author": r.author_handle,
                "author_name": r.author_name,
                "posted_local": r.created_at.astimezone(event.tz).strftime("%Y-%m-%d %H:%M"),
                "likes": r.likes,
                "reposts": r.reposts,
                "replies": r.replies,
                "quotes": r.quotes,
                "engagement": r.engagement,
                # Guarded here so the HTML, the PDF and top_posts.csv all carry the same link.
                "url": safe_url(r.url),
                "text": r.text,
                # What the HTML and the PDF print: no made-up author, no 0 for unknown.
                "who": author_label(r.platform, r.author_handle, r.author_name),
                "counts": counts_text(r.likes, r.reposts, r.replies, r.quotes),
            }
        )
    table = Table(
        "top_posts",
        "Top posts by engagement",
        [
            ("rank", "#"),
            ("platform", "Platform"),
            ("author", "Author"),
            ("author_name", "Name"),
            ("posted_local", "Posted"),
            ("likes", "Likes"),
            ("reposts", "Reposts"),
            ("replies", "Replies"),
            ("quotes", "Quotes"),
            ("engagement", "Engagement"),
            ("url", "Link"),
            ("text", "Text"),
        ],
        out,
        note="Posts whose authors asked not to be shown to logged-out readers are counted "
        "in every figure but never quoted. Newer posts first on equal engagement.",
    )
    return table, out


def _voices(voices: Voices) -> Table:
    """The analysis' voices by posts: authors by stable id, named by their latest handle."""
    rows = [
        {
            "platform": v.platform,
            "author": v.handle,
            "name": v.display_name,
            "posts": v.posts,
            "engagement": v.engagement,
            "followers": "" if v.followers is None else v.followers,
        }
        for v in voices.by_posts[:TOP_VOICES]
    ]
    return Table(
        "top_voices",
        "Top voices",
        [
            ("platform", "Platform"),
            ("author", "Account"),
            ("name", "Name"),
            ("posts", "Posts"),
            ("engagement", "Engagement received"),
            ("followers", "Followers"),
        ],
        rows,
        note="Accounts that posted most, then by engagement their posts received; an account "
        "that changed its handle is one account, under its latest handle.",
    )


def _themes(
    a: Analysis, period: analysis.Period, days: list[date]
) -> tuple[Table, Table, dict[str, list[float]]]:
    """From the analysis, so the report's themes are the digest's."""
    event, whole = period.event, a.themes
    ranked = sorted(whole.phrases + whole.hashtags, key=lambda th: (-th.posts, th.kind, th.label))

    def label(th: Any) -> str:
        return f"#{th.label}" if th.kind == "hashtag" else th.label

    top = ranked[:TOP_THEMES]
    table = Table(
        "themes",
        "Themes of the event",
        [("theme", "Theme"), ("kind", "Kind"), ("posts", "Posts")],
        [{"theme": label(th), "kind": th.kind, "posts": th.posts} for th in top],
        note="Hashtags other than the event's own, and noun phrases (merged across letter case "
        "and plural), by the number of posts that carry them.",
    )
    moving = top[:THEMES_BY_DAY]
    # Exact daily counts with the analysis' own merge keys (its per-period themes
    # leave out themes under two posts, which would read as 0 on a quiet day).
    keys = ThemeKeys(event.tags)
    per_day: dict[date, Counter[tuple[str, str]]] = defaultdict(Counter)
    for r in period.rows:
        day = parse_iso(r[CREATED]).astimezone(event.tz).date()
        per_day[day].update(("phrase", k) for k in keys.phrases(r))
        per_day[day].update(("hashtag", k) for k in keys.tags(r))
    rows = []
    for day in days:
        row: dict[str, Any] = {"day": day.isoformat()}
        for th in moving:
            row[label(th)] = per_day[day].get((th.kind, th.key), 0)
        rows.append(row)
    by_day = Table(
        "themes_by_day",
        "How the main themes moved day to day",
        [("day", "Day")] + [(label(th), label(th)) for th in moving],
        rows,
        note="Posts per day carrying each of the main themes.",
    )
    series = {label(th): [float(r[label(th)]) for r in rows] for th in moving}
    return table, by_day, series


def _language_name(code: str) -> str:
    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())).name.title()
    except (AttributeError, ValueError):
        return "unknown" if code == "und" else code


def _languages(a: Analysis) -> Table:
    """From the analysis: detected language, else the platform's tag, else "und"."""
    rows = [
        {
            "language": lc.lang,
            "name": _language_name(lc.lang),
            "posts": lc.posts,
            "share": round(100 * lc.share, 1),
            "detected": lc.detected,
        }
        for lc in a.languages
    ]
    return Table(
        "languages",
        "Languages",
        [
            ("name", "Language"),
            ("language", "Code"),
            ("posts", "Posts"),
            ("share", "Share (%)"),
            ("detected", "Detected from the text"),
        ],
        rows,
        note="Language detected from the text where tagwatch could tell, otherwise the "
        "language the platform or author declared; 'und' when neither says.",
    )


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
    enabled = [p for p in PLATFORMS if config.sections[p].enabled]
    platforms = sorted(set(enabled) | set(summary.platforms))
    timeline, volume = _timeline(a.hours, list(summary.platforms), event)
    growth, growth_points = _growth(conn, event, lo, hi)
    top_table, top_posts = _top_posts(a.top_posts, event)
    themes, themes_by_day, theme_series = _themes(a, period, days)
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
            _voices(a.voices),
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


SUMMARY_FIGURES = [
    ("posts", "Posts"),
    ("authors", "Unique authors"),
    ("engagement", f"Engagement ({ENGAGEMENT_LABEL})"),
    ("likes", "Likes"),
    ("reposts", "Reposts"),
    ("replies", "Replies"),
    ("quotes", "Quotes"),
    ("reach", "Estimated reach (followers of the authors, an estimate)"),
    ("views", "Views reported by the platform"),
    ("peak_hour_posts", "Posts in the busiest hour"),
]


def summary_rows(s: Summary, event: EventConfig) -> Table:
    rows = [
        {"figure": label, "value": getattr(s, key), "key": key} for key, label in SUMMARY_FIGURES
    ]
    peak = s.peak_hour.strftime("%Y-%m-%d %H:00") if s.peak_hour else ""
    rows.append({"figure": f"Busiest hour ({event.timezone})", "value": peak, "key": "peak_hour"})
    return Table(
        "summary",
        "Summary",
        [("key", "Key"), ("figure", "Figure"), ("value", "Value")],
        rows,
        note=REACH_DEFINITION,
    )


def comparison_table(now_s: Summary, then: Summary, label: str) -> Table:
    rows = []
    for key, label_ in SUMMARY_FIGURES[:3] + [SUMMARY_FIGURES[7]]:
        a, b = getattr(now_s, key), getattr(then, key)
        change = f"{(a - b) / b * 100:+.0f}%" if b else ""
        rows.append({"figure": label_, "this_period": a, "compared": b, "change": change})
    return Table(
        "comparison",
        f"Compared with {label}",
        [
            ("figure", "Figure"),
            ("this_period", "This period"),
            ("compared", label),
            ("change", "Change"),
        ],
        rows,
    )
