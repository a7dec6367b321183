"""The impact report's tables, each a `Table` built from the figures layer's plain data: per
day, per platform, the timeline, growth, sessions, top posts, voices, themes, languages,
the summary and the comparison.

Why apart from `report.py`: each table is a small pure function of figures the report
has already read; `report.py` reads once and decides how many of each to show.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from lingua import IsoCode639_1, Language

from tagwatch.records import iso, parse_iso, to_utc
from tagwatch.reports import analysis
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
from tagwatch.reports.impact.table import Table
from tagwatch.reports.rows import CREATED
from tagwatch.reports.themes import ThemeKeys
from tagwatch.reports.urls import safe_url
from tagwatch.settings import EventConfig

__all__ = ["REACH_DEFINITION", "SUMMARY_FIGURES", "comparison_table", "summary_rows"]

REACH_DEFINITION = (
    "Estimated reach is the sum of the follower counts of the accounts that posted, each "
    "account counted once, as last seen by tagwatch. It is an upper bound on the audience "
    "that could have seen at least one post in their timeline, not a count of people who "
    "did: followers of several posters are counted several times, not every follower sees "
    "every post, and audiences reached through reposts are not included. Accounts whose "
    "follower count the platform did not report add nothing."
)

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


def _top_posts(
    refs: list[PostRef], event: EventConfig, n: int
) -> tuple[Table, list[dict[str, Any]]]:
    """The analysis' top posts (restricted ones never among them), as table rows."""
    out = []
    for i, r in enumerate(refs[:n], start=1):
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


def _voices(voices: Voices, n: int) -> Table:
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
        for v in voices.by_posts[:n]
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
    a: Analysis, period: analysis.Period, days: list[date], n: int, n_by_day: int
) -> tuple[Table, Table, dict[str, list[float]]]:
    """From the analysis, so the report's themes are the digest's: the top `n`, and the
    first `n_by_day` of them day by day."""
    event, whole = period.event, a.themes
    ranked = sorted(whole.phrases + whole.hashtags, key=lambda th: (-th.posts, th.kind, th.label))

    def label(th: Any) -> str:
        return f"#{th.label}" if th.kind == "hashtag" else th.label

    top = ranked[:n]
    table = Table(
        "themes",
        "Themes of the event",
        [("theme", "Theme"), ("kind", "Kind"), ("posts", "Posts")],
        [{"theme": label(th), "kind": th.kind, "posts": th.posts} for th in top],
        note="Hashtags other than the event's own, and noun phrases (merged across letter case "
        "and plural), by the number of posts that carry them.",
    )
    moving = top[:n_by_day]
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
