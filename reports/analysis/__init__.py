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

import sqlite3
from datetime import datetime

from tagwatch.reports.analysis.content import (
    NEGATIVE_BELOW,
    POSITIVE_ABOVE,
    _languages,
    _mentions,
    _post_refs,
    _sentiment,
    _sessions,
    _themes,
    _top_rows,
    _voices,
    post_refs,
)
from tagwatch.reports.analysis.counts import (
    Period,
    _per_day,
    _per_hour,
    _per_platform,
    _summary,
)
from tagwatch.reports.figures import (
    Analysis,
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
    Voices,
)
from tagwatch.reports.growth import engagement_growth
from tagwatch.reports.rows import (
    load_period,
)
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
