"""The post-event impact report: the figures, as plain data, for donors and partners.

Why it is built on `export_rows`: partners receive the export next to the
report, and the report's numbers must be the numbers they can recount from it.
So every post figure here (posts, authors, engagement, per day, per platform,
languages, themes) is an aggregation of exactly the rows `tagwatch export`
gives for the same period; the database is read directly only for what the
export does not carry (follower counts, the no-unauthenticated flag,
engagement snapshots, collection runs, deletions).

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

from monitor.config import Config, EventConfig
from reports import analysis
from reports.export import export_rows, period_bounds
from reports.figures import author_label, counts_text
from reports.impact_method import PROSE, Gap, Methodology, gaps_table, passes_and_gaps
from reports.impact_table import Table, period_where
from reports.rows import CREATED
from reports.rows import load_period as load_rows
from reports.themes import ThemeKeys
from reports.urls import safe_url
from storage.records import iso, parse_iso

__all__ = [
    "Table",
    "Summary",
    "Gap",
    "Methodology",
    "ImpactReport",
    "build_report",
    "summarize",
    "REACH_DEFINITION",
    "PROSE",
]

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
class Summary:
    """The executive summary in figures; also the unit of comparison between periods."""

    posts: int = 0
    authors: int = 0
    engagement: int = 0
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    views: int = 0
    posts_with_views: int = 0
    reach: int = 0
    authors_without_followers: int = 0
    peak_hour: datetime | None = None  # local start of the busiest hour
    peak_hour_posts: int = 0
    platforms: list[str] = field(default_factory=list)
    days_with_posts: int = 0


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


def _extras(
    conn: sqlite3.Connection, start: str | None, end: str | None
) -> dict[tuple, sqlite3.Row]:
    """What the export does not carry, keyed by (platform, platform id)."""
    where, params = period_where(start, end)
    sql = (
        "select p.platform, p.platform_id, p.no_unauthenticated, p.lang_detected,"
        " a.followers from posts p left join authors a on a.id = p.author_id"
        f" where p.deleted = 0 and {where}"
    )
    return {(r["platform"], r["platform_id"]): r for r in conn.execute(sql, params)}


def _engagement(row: dict[str, Any]) -> int:
    return sum(row[k] or 0 for k in ("likes", "reposts", "replies", "quotes"))


def _hour(ts: str, event: EventConfig) -> datetime:
    """The local hour a post falls in, as its UTC start instant.

    Keyed in UTC because local times compare by wall clock: the hour repeated
    when daylight saving ends would otherwise count as one.
    """
    local = parse_iso(ts).astimezone(event.tz)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def _local_day(ts: str, event: EventConfig) -> date:
    return parse_iso(ts).astimezone(event.tz).date()


def summarize(
    rows: list[dict[str, Any]], extras: dict[tuple, sqlite3.Row], event: EventConfig
) -> Summary:
    """Headline figures of a list of export rows."""
    s = Summary(posts=len(rows))
    followers: dict[tuple[str, str], int | None] = {}
    hours: Counter[datetime] = Counter()
    days: set[date] = set()
    for row in rows:
        s.likes += row["likes"] or 0  # unknown counts (None) add nothing
        s.reposts += row["reposts"] or 0
        s.replies += row["replies"] or 0
        s.quotes += row["quotes"] or 0
        if row["views"] is not None:
            s.views += row["views"]
            s.posts_with_views += 1
        key = (row["platform"], row["author_handle"])
        extra = extras.get((row["platform"], row["id"]))
        hours[_hour(row["created_at"], event)] += 1
        days.add(_local_day(row["created_at"], event))
        if not row["author_handle"]:
            continue  # no author given (Instagram): not an author, adds no reach
        known = extra["followers"] if extra is not None else None
        if known is not None or key not in followers:
            followers[key] = known if known is not None else followers.get(key)
    s.engagement = s.likes + s.reposts + s.replies + s.quotes
    s.authors = len(followers)
    s.reach = sum(n for n in followers.values() if n)
    s.authors_without_followers = sum(1 for n in followers.values() if n is None)
    if hours:
        # Earliest of equally busy hours, so the answer does not depend on dict order.
        peak, s.peak_hour_posts = min(hours.items(), key=lambda kv: (-kv[1], kv[0]))
        s.peak_hour = peak.astimezone(event.tz)
    s.platforms = sorted({r["platform"] for r in rows})
    s.days_with_posts = len(days)
    return s


COUNT_COLUMNS = [
    ("posts", "Posts"),
    ("authors", "Authors"),
    ("likes", "Likes"),
    ("reposts", "Reposts"),
    ("replies", "Replies"),
    ("quotes", "Quotes"),
    ("engagement", "Engagement"),
]


def _known_sum(values: list[int | None]) -> int | str:
    """The sum of the known values; empty (unknown) when posts exist but none gave one."""
    known = [v for v in values if v is not None]
    return sum(known) if known or not values else ""


def _counts(rows: list[dict[str, Any]]) -> dict[str, int | str]:
    """The COUNT_COLUMNS of a group of export rows (authors by platform and handle).

    Unknown is not zero: posts without an author (Instagram) are no author, and a
    count no post of the group gave (Threads' likes) is empty, not 0.
    """
    authors = {(r["platform"], r["author_handle"]) for r in rows if r["author_handle"]}
    counted = ("likes", "reposts", "replies", "quotes")
    engaged = [_engagement(r) for r in rows if any(r[k] is not None for k in counted)]
    return {
        "posts": len(rows),
        "authors": len(authors) if authors or not rows else "",
        **{k: _known_sum([r[k] for r in rows]) for k in counted},
        "engagement": sum(engaged) if engaged or not rows else "",
    }


def _per_day(rows: list[dict[str, Any]], event: EventConfig, days: list[date]) -> Table:
    by_day: dict[date, list[dict[str, Any]]] = {d: [] for d in days}
    for row in rows:
        by_day.setdefault(_local_day(row["created_at"], event), []).append(row)
    return Table(
        "per_day",
        "Posts per day",
        [("day", "Day"), *COUNT_COLUMNS],
        [{"day": day.isoformat(), **_counts(by_day[day])} for day in sorted(by_day)],
        note=f"Days are calendar days in {event.timezone}.",
    )


def _per_platform(rows: list[dict[str, Any]], platforms: list[str]) -> Table:
    out = []
    for platform in platforms:
        p_rows = [r for r in rows if r["platform"] == platform]
        views = [r["views"] for r in p_rows if r["views"] is not None]
        out.append({"platform": platform, **_counts(p_rows), "views": sum(views) if views else ""})
    return Table(
        "per_platform",
        "Posts per platform",
        [("platform", "Platform"), *COUNT_COLUMNS, ("views", "Views")],
        out,
        note="Views are reported by X only; empty where a platform does not count them.",
    )


def _timeline(
    rows: list[dict[str, Any]], event: EventConfig, lo: datetime, hi: datetime
) -> tuple[Table, dict[str, list[tuple[datetime, int]]]]:
    platforms = sorted({r["platform"] for r in rows})
    counts: dict[str, Counter[datetime]] = {p: Counter() for p in platforms}
    for row in rows:
        counts[row["platform"]][_hour(row["created_at"], event)] += 1
    hours = []
    t = lo.astimezone(UTC)
    while t < hi:
        hours.append(t)
        # Step in UTC so a daylight-saving change neither repeats nor skips an hour.
        t += timedelta(hours=1)
    table_rows = []
    for h in hours:
        local = h.astimezone(event.tz).strftime("%Y-%m-%d %H:%M")
        out: dict[str, Any] = {"hour_local": local, "hour_utc": iso(h)}
        for p in platforms:
            out[p] = counts[p][h]
        out["total"] = sum(counts[p][h] for p in platforms)
        table_rows.append(out)
    series = {p: [(h, counts[p][h]) for h in hours] for p in platforms}
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


def _sessions(conn: sqlite3.Connection, event: EventConfig, lo: datetime, hi: datetime) -> Table:
    reports = analysis.sessions(conn, event, lo, hi, 0, n_themes=0, examples=0)
    rows = [
        {
            "session": s.title,
            "start_local": s.start.astimezone(event.tz).strftime("%Y-%m-%d %H:%M"),
            "room": s.room,
            "posts": s.counts.posts,
            "authors": s.counts.unique_authors,
            "engagement": s.counts.engagement,
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
    rows: list[dict[str, Any]], extras: dict[tuple, sqlite3.Row], event: EventConfig
) -> tuple[Table, list[dict[str, Any]]]:
    shown = [r for r in rows if not _hidden(extras, r)]
    ranked = sorted(shown, key=lambda r: (-_engagement(r), r["created_at"], r["id"]))[:TOP_POSTS]
    out = []
    for i, r in enumerate(ranked, start=1):
        out.append(
            {
                "rank": i,
                "platform": r["platform"],
                "author": r["author_handle"],
                "author_name": r["author_name"],
                "posted_local": _hour_min(r["created_at"], event),
                "likes": r["likes"],
                "reposts": r["reposts"],
                "replies": r["replies"],
                "quotes": r["quotes"],
                "engagement": _engagement(r),
                # Guarded here so the HTML, the PDF and top_posts.csv all carry the same link.
                "url": safe_url(r["url"]),
                "text": r["text"],
                # What the HTML and the PDF print: no made-up author, no 0 for unknown.
                "who": author_label(r["platform"], r["author_handle"], r["author_name"]),
                "counts": counts_text(r["likes"], r["reposts"], r["replies"], r["quotes"]),
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
        "in every figure but never quoted.",
    )
    return table, out


def _hour_min(ts: str, event: EventConfig) -> str:
    return parse_iso(ts).astimezone(event.tz).strftime("%Y-%m-%d %H:%M")


def _hidden(extras: dict[tuple, sqlite3.Row], row: dict[str, Any]) -> bool:
    extra = extras.get((row["platform"], row["id"]))
    return bool(extra is not None and extra["no_unauthenticated"])


def _voices(rows: list[dict[str, Any]], extras: dict[tuple, sqlite3.Row]) -> tuple[Table, int]:
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    hidden: set[tuple[str, str]] = set()
    for r in rows:
        key = (r["platform"], r["author_handle"])
        if _hidden(extras, r):
            hidden.add(key)
        s = stats.setdefault(
            key,
            {
                "platform": r["platform"],
                "author": r["author_handle"],
                "name": r["author_name"],
                "posts": 0,
                "engagement": 0,
                "followers": "",
            },
        )
        s["posts"] += 1
        s["engagement"] += _engagement(r)
        extra = extras.get((r["platform"], r["id"]))
        if extra is not None and extra["followers"] is not None:
            s["followers"] = extra["followers"]
    named = [s for k, s in stats.items() if k not in hidden]
    ranked = sorted(named, key=lambda s: (-s["posts"], -s["engagement"], s["author"]))[:TOP_VOICES]
    table = Table(
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
        ranked,
        note="Accounts that posted most, then by engagement their posts received.",
    )
    return table, len(hidden)


def _themes(
    conn: sqlite3.Connection, event: EventConfig, days: list[date]
) -> tuple[Table, Table, dict[str, list[float]]]:
    """From the analysis API, so the report's themes are the digest's and the wall's."""
    lo, hi = event.day_bounds(days[0])[0], event.day_bounds(days[-1])[1]
    whole = analysis.themes(conn, event, lo, hi, n=TOP_THEMES, examples=0)
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
    for r in load_rows(conn, lo, hi):
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


def _languages(conn: sqlite3.Connection, event: EventConfig, lo: datetime, hi: datetime) -> Table:
    """From the analysis API: detected language, else the platform's tag, else "und"."""
    rows = [
        {
            "language": lc.lang,
            "name": _language_name(lc.lang),
            "posts": lc.posts,
            "share": round(100 * lc.share, 1),
            "detected": lc.detected,
        }
        for lc in analysis.languages(conn, event, lo, hi)
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


def load_period(
    conn: sqlite3.Connection, event: EventConfig, start_day: date | None, end_day: date | None
) -> tuple[list[dict[str, Any]], dict[tuple, sqlite3.Row], str | None, str | None]:
    """The export rows of local days [start_day, end_day] and their extras."""
    start, end = period_bounds(event, start_day, end_day)
    rows = list(export_rows(conn, start=start, end=end))
    return rows, _extras(conn, start, end), start, end


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
    rows, extras, start, end = load_period(conn, event, start_day, end_day)
    days = [start_day + timedelta(days=i) for i in range((end_day - start_day).days + 1)]
    summary = summarize(rows, extras, event)
    enabled = [
        p
        for p in ("bluesky", "x", "mastodon", "threads", "instagram")
        if config.sections[p].enabled
    ]
    platforms = sorted(set(enabled) | set(summary.platforms))
    lo, hi = event.day_bounds(start_day)[0], event.day_bounds(end_day)[1]
    timeline, volume = _timeline(rows, event, lo, hi)
    growth, growth_points = _growth(conn, event, lo, hi)
    top_table, top_posts = _top_posts(rows, extras, event)
    voices, hidden_authors = _voices(rows, extras)
    themes, themes_by_day, theme_series = _themes(conn, event, days)
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
            _per_day(rows, event, days),
            _per_platform(rows, platforms),
            timeline,
            _sessions(conn, event, lo, hi),
            growth,
            top_table,
            voices,
            themes,
            themes_by_day,
            _languages(conn, event, lo, hi),
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
            platforms_not_collected=[
                p for p in ("bluesky", "x", "mastodon", "threads", "instagram") if p not in enabled
            ],
            mastodon_instances=list(config.mastodon.instances) if "mastodon" in enabled else [],
            passes=passes,
            gaps=gaps,
            deleted_removed=deleted,
            hidden_posts=sum(1 for r in rows if _hidden(extras, r)),
            hidden_authors=hidden_authors,
            engagement_as_of=parse_iso(as_of).astimezone(event.tz) if as_of else None,
            timezone=event.timezone,
            platforms_with_posts=summary.platforms,
        ),
        top_posts=top_posts,
    )
    if compare is not None:
        other_conn, c_lo, c_hi = compare
        c_rows, c_extras, _, _ = load_period(other_conn, event, c_lo, c_hi)
        report.comparison = summarize(c_rows, c_extras, event)
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
    ("engagement", "Engagement (likes, reposts, replies, quotes)"),
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
