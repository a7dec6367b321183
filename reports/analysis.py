"""The one query API every output uses (digest, wall, impact report): read-only, plain data.

Every function takes a read connection (`tagwatch.storage.db.connect(path, readonly=True)`
or `store.conn`), the event (`config.event`: timezone, tracked hashtags,
agenda) and a period [start, end) of aware datetimes, and returns the
dataclasses of `tagwatch.reports.figures`. `analyze()` computes everything for a period
in one read of the posts; the single functions are for outputs that need one
figure. Enrichment (language, sentiment, noun phrases) was stored once by
`tagwatch.monitor.enrichment.enrich_pending`; nothing here writes or re-analyses text.

Deleted posts are excluded everywhere. Posts whose authors asked not to be
shown to logged-out viewers (`no_unauthenticated`) are counted but never
returned as top posts or examples, nor named as top voices, unless
`include_restricted=True`, and then posts come with their text blanked and
`restricted=True`.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import TypeVar

from tagwatch.records import parse_iso, to_utc
from tagwatch.reports.agenda import BY_HASHTAG, BY_SPEAKER, BY_TIME, SessionMatcher
from tagwatch.reports.figures import (
    ENGAGEMENT_COUNTS,
    Analysis,
    Counts,
    DayFigures,
    HourFigures,
    LanguageCount,
    MentionCount,
    PlatformFigures,
    PostRef,
    SentimentSummary,
    SessionReport,
    Summary,
    Themes,
    Voice,
    Voices,
)
from tagwatch.reports.growth import engagement_growth
from tagwatch.reports.rows import (
    AUTHOR,
    CREATED,
    FOLLOWERS,
    HANDLE,
    HASHTAGS,
    ID,
    LANG,
    LANG_DETECTED,
    LIKES,
    MENTIONS,
    NAME,
    PLATFORM,
    POLARITY,
    QUOTES,
    REPLIES,
    REPOSTS,
    RESTRICTED,
    SUBJECTIVITY,
    VIEWS,
    Row,
    engagement,
    load_period,
)
from tagwatch.reports.themes import ThemeKeys, compute_themes
from tagwatch.settings import EventConfig

__all__ = [
    "analyze",
    "analyze_period",
    "summary",
    "per_platform",
    "per_hour",
    "per_day",
    "top_posts",
    "top_voices",
    "mentioned_accounts",
    "languages",
    "sentiment",
    "themes",
    "sessions",
    "engagement_growth",
    "post_refs",
    "load_period",
    "Period",
    "POSITIVE_ABOVE",
    "NEGATIVE_BELOW",
]

POSITIVE_ABOVE = 0.1
NEGATIVE_BELOW = -0.1


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


def post_refs(
    conn: sqlite3.Connection, ids: Sequence[int], *, session: dict[int, str] | None = None
) -> list[PostRef]:
    """Posts to show, by id, in the given order; deleted ones are skipped.

    Restricted posts (no_unauthenticated) come back with `restricted=True` and
    no text, so no caller can quote them by accident. `session` overrides the
    stored session title per id (the analysis attributes with the current agenda).
    """
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    found = {
        row[0]: row
        for row in conn.execute(
            "select id, platform, platform_id, url, author_handle, author_name, text,"
            " created_at, likes, reposts, replies, quotes, coalesce(lang_detected, lang),"
            f" session, no_unauthenticated from posts where deleted = 0 and id in ({marks})",
            list(ids),
        )
    }
    refs = []
    for post_id in ids:
        row = found.get(post_id)
        if row is None:
            continue
        restricted = bool(row[14])
        refs.append(
            PostRef(
                id=row[0],
                platform=row[1],
                platform_id=row[2],
                url=row[3] or "",
                author_handle=row[4] or "",
                author_name=row[5] or "",
                text="" if restricted else (row[6] or ""),
                created_at=parse_iso(row[7]),
                likes=row[8],
                reposts=row[9],
                replies=row[10],
                quotes=row[11],
                lang=row[12],
                session=(session or {}).get(row[0], row[13]),
                restricted=restricted,
            )
        )
    return refs


def _post_refs(
    conn: sqlite3.Connection, rows: Sequence[Row], *, session: dict[int, str] | None = None
) -> list[PostRef]:
    return post_refs(conn, [r[ID] for r in rows], session=session)


def _rank_key(r: Row) -> tuple[int, str, int]:
    return (engagement(r), r[CREATED], r[ID])


def _top_rows(rows: Iterable[Row], n: int, include_restricted: bool) -> list[Row]:
    pool = (r for r in rows if include_restricted or not r[RESTRICTED])
    return heapq.nlargest(n, pool, key=_rank_key)


def _voices(p: Period, n: int, include_restricted: bool = False) -> Voices:
    posts: Counter[int] = Counter()
    received: Counter[int] = Counter()
    info: dict[int, Row] = {}
    restricted: set[int] = set()
    for r in p.rows:
        a = r[AUTHOR]
        if a is None:
            continue  # no known author: nobody to name
        posts[a] += 1
        received[a] += engagement(r)
        info[a] = r
        if r[RESTRICTED]:
            restricted.add(a)

    def voice(a: int) -> Voice:
        r = info[a]
        return Voice(
            r[PLATFORM], r[HANDLE] or "", r[NAME] or "", posts[a], received[a], r[FOLLOWERS]
        )

    def handle(a: int) -> str:
        return info[a][HANDLE] or ""

    # One restricted post is enough to leave an author unnamed: they asked not to be
    # shown to logged-out viewers, and a list of names is exactly that.
    authors = [a for a in info if include_restricted or a not in restricted]
    by_posts = heapq.nsmallest(n, authors, key=lambda a: (-posts[a], -received[a], handle(a)))
    by_eng = heapq.nsmallest(n, authors, key=lambda a: (-received[a], -posts[a], handle(a)))
    with_f = [a for a in authors if info[a][FOLLOWERS] is not None]
    by_f = heapq.nsmallest(n, with_f, key=lambda a: (-(info[a][FOLLOWERS] or 0), handle(a)))
    return Voices(
        [voice(a) for a in by_posts],
        [voice(a) for a in by_eng],
        [voice(a) for a in by_f],
        restricted_authors=0 if include_restricted else len(restricted),
    )


def _mentions(p: Period, n: int) -> list[MentionCount]:
    counter: Counter[str] = Counter()
    for r in p.rows:
        if r[MENTIONS] and r[MENTIONS] != "[]":
            counter.update({m.lstrip("@").casefold() for m in json.loads(r[MENTIONS])})
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [MentionCount(h, c) for h, c in ranked]


def _lang_of(r: Row) -> tuple[str, bool]:
    if r[LANG_DETECTED]:
        return r[LANG_DETECTED], True
    tag = (r[LANG] or "").lower().replace("_", "-").split("-")[0]
    return tag or "und", False


def _languages(p: Period) -> list[LanguageCount]:
    posts: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    for r in p.rows:
        lang, from_text = _lang_of(r)
        posts[lang] += 1
        detected[lang] += 1 if from_text else 0
    total = len(p.rows) or 1
    ranked = sorted(posts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [LanguageCount(lang, c, c / total, detected[lang]) for lang, c in ranked]


def _sentiment(p: Period) -> SentimentSummary:
    scored = [r for r in p.rows if r[POLARITY] is not None]
    pos = sum(1 for r in scored if r[POLARITY] > POSITIVE_ABOVE)
    neg = sum(1 for r in scored if r[POLARITY] < NEGATIVE_BELOW)
    n = len(scored)
    return SentimentSummary(
        scored=n,
        positive=pos,
        neutral=n - pos - neg,
        negative=neg,
        mean_polarity=sum(r[POLARITY] for r in scored) / n if n else None,
        mean_subjectivity=sum(r[SUBJECTIVITY] or 0.0 for r in scored) / n if n else None,
        unscored=len(p.rows) - n,
    )


def _themes(
    p: Period, rows: list[Row], previous: list[Row] | None, n: int, examples: int
) -> Themes:
    return compute_themes(
        rows,
        previous,
        keys=p.keys,
        n=n,
        examples=examples,
        to_refs=lambda chosen: _post_refs(p.conn, chosen),
    )


def _attribution(p: Period) -> dict[int, tuple[int, str]]:
    found: dict[int, tuple[int, str]] = {}
    if not p.event.sessions:
        return found
    matcher = SessionMatcher(p.event.sessions)
    parsed: dict[str, list[str]] = {"[]": []}
    for r in p.rows:
        tags, mentions = r[HASHTAGS] or "[]", r[MENTIONS] or "[]"
        if tags not in parsed:
            parsed[tags] = json.loads(tags)
        if mentions not in parsed:
            parsed[mentions] = json.loads(mentions)
        hit = matcher.match(r[CREATED], parsed[tags], parsed[mentions])
        if hit is not None:
            found[r[ID]] = hit
    return found


def _sessions(p: Period, top: int, n_themes: int, examples: int) -> list[SessionReport]:
    attributed = _attribution(p)
    if not p.event.sessions:
        return []
    by_session: dict[int, list[Row]] = defaultdict(list)
    how: dict[int, Counter[str]] = defaultdict(Counter)
    for r in p.rows:
        hit = attributed.get(r[ID])
        if hit is not None:
            by_session[hit[0]].append(r)
            how[hit[0]][hit[1]] += 1
    titles = {pid: p.event.sessions[i].title for pid, (i, _) in attributed.items()}
    reports = []
    for i, s in enumerate(p.event.sessions):
        rows = by_session.get(i, [])
        reports.append(
            SessionReport(
                title=s.title,
                start=s.start,
                end=s.end,
                room=s.room,
                speakers=s.speakers,
                hashtags=s.hashtags,
                counts=_counts(rows),
                by_hashtag=how[i][BY_HASHTAG],
                by_speaker=how[i][BY_SPEAKER],
                by_time=how[i][BY_TIME],
                themes=_themes(p, rows, None, n_themes, examples),
                top_posts=_post_refs(p.conn, _top_rows(rows, top, False), session=titles),
            )
        )
    return reports


# -- public API -----------------------------------------------------------------------


def summary(
    conn: sqlite3.Connection, event: EventConfig, start: datetime, end: datetime
) -> Summary:
    """Posts, unique authors, engagement totals and per post, estimated potential reach."""
    return _summary(Period(conn, event, start, end))


def per_platform(
    conn: sqlite3.Connection, event: EventConfig, start: datetime, end: datetime
) -> list[PlatformFigures]:
    """Counts per platform, busiest first."""
    return _per_platform(Period(conn, event, start, end))


def per_hour(
    conn: sqlite3.Connection, event: EventConfig, start: datetime, end: datetime
) -> list[HourFigures]:
    """Counts for every hour of the period in the event's timezone, empty hours included."""
    return _per_hour(Period(conn, event, start, end))


def per_day(
    conn: sqlite3.Connection, event: EventConfig, start: datetime, end: datetime
) -> list[DayFigures]:
    """Counts for every local day the period touches, empty days included."""
    return _per_day(Period(conn, event, start, end))


def top_posts(
    conn: sqlite3.Connection,
    event: EventConfig,
    start: datetime,
    end: datetime,
    n: int = 10,
    *,
    include_restricted: bool = False,
) -> list[PostRef]:
    """Most engaged posts (likes+reposts+replies+quotes; newer first on ties)."""
    p = Period(conn, event, start, end)
    return _post_refs(conn, _top_rows(p.rows, n, include_restricted))


def top_voices(
    conn: sqlite3.Connection,
    event: EventConfig,
    start: datetime,
    end: datetime,
    n: int = 10,
    *,
    include_restricted: bool = False,
) -> Voices:
    """Authors ranked by posts, by engagement received, and by followers.

    Authors with a restricted post in the period are counted in every figure but
    left out of these lists unless `include_restricted=True`.
    """
    return _voices(Period(conn, event, start, end), n, include_restricted)


def mentioned_accounts(
    conn: sqlite3.Connection, event: EventConfig, start: datetime, end: datetime, n: int = 10
) -> list[MentionCount]:
    """Accounts mentioned in the most posts."""
    return _mentions(Period(conn, event, start, end), n)


def languages(
    conn: sqlite3.Connection, event: EventConfig, start: datetime, end: datetime
) -> list[LanguageCount]:
    """Posts per language: detected from the text, else the platform's tag, else "und"."""
    return _languages(Period(conn, event, start, end))


def sentiment(
    conn: sqlite3.Connection, event: EventConfig, start: datetime, end: datetime
) -> SentimentSummary:
    """Polarity distribution of English posts; other languages are counted as unscored."""
    return _sentiment(Period(conn, event, start, end))


def themes(
    conn: sqlite3.Connection,
    event: EventConfig,
    start: datetime,
    end: datetime,
    n: int = 10,
    *,
    examples: int = 3,
) -> Themes:
    """Top noun phrases and co-occurring hashtags, with the trend against the previous period."""
    p = Period(conn, event, start, end)
    return _themes(p, p.rows, p.previous(), n, examples)


def sessions(
    conn: sqlite3.Connection,
    event: EventConfig,
    start: datetime,
    end: datetime,
    top: int = 3,
    *,
    n_themes: int = 5,
    examples: int = 2,
) -> list[SessionReport]:
    """Per agenda session: figures, themes and top posts of the period's posts attributed to it."""
    return _sessions(Period(conn, event, start, end), top, n_themes, examples)


def analyze(
    conn: sqlite3.Connection,
    event: EventConfig,
    start: datetime,
    end: datetime,
    *,
    top: int = 10,
    n_themes: int = 10,
    examples: int = 3,
    with_sessions: bool = True,
    with_growth: bool = True,
    include_restricted: bool = False,
) -> Analysis:
    """Everything for one period, from one read of its posts (and one of the period before)."""
    return analyze_period(
        Period(conn, event, start, end),
        top=top,
        n_themes=n_themes,
        examples=examples,
        with_sessions=with_sessions,
        with_growth=with_growth,
        include_restricted=include_restricted,
    )


def analyze_period(
    p: Period,
    *,
    top: int = 10,
    n_themes: int = 10,
    examples: int = 3,
    with_sessions: bool = True,
    with_growth: bool = True,
    include_restricted: bool = False,
) -> Analysis:
    """`analyze()` of a Period already loaded: for callers that also use its rows."""
    conn, event, start, end = p.conn, p.event, p.start, p.end
    return Analysis(
        summary=_summary(p),
        platforms=_per_platform(p),
        hours=_per_hour(p),
        days=_per_day(p),
        top_posts=_post_refs(conn, _top_rows(p.rows, top, include_restricted)),
        voices=_voices(p, top, include_restricted),
        mentions=_mentions(p, top),
        languages=_languages(p),
        sentiment=_sentiment(p),
        themes=_themes(p, p.rows, p.previous(), n_themes, examples),
        sessions=_sessions(p, 3, 5, 2) if with_sessions else [],
        growth=engagement_growth(conn, event, start, end) if with_growth else [],
    )
