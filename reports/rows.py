"""How the figures layer reads posts: a period as plain tuples, or live totals in SQL.

Tuples rather than sqlite3.Row: at 100,000 posts a day the difference is most
of the time a day's analysis takes. The live wall cannot load a period per
event, so `live_totals` and `most_engaged` count in SQL, with the same rules
as the loaded rows: authors by stable id (posts without one add none),
engagement by `figures.engagement_sql`.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import NamedTuple

from tagwatch.records import iso
from tagwatch.reports.figures import ENGAGEMENT_COUNTS, engagement_sql
from tagwatch.reports.figures import engagement as _engagement

__all__ = ["load_period", "Row", "engagement", "live_totals", "LiveTotals", "most_engaged"]

# p.author_id is the authors row of the platform's stable account id: a handle
# change keeps it; NULL when the platform does not say who posted.
_COLUMNS = (
    "p.id, p.platform, p.author_id, p.author_handle, p.author_name, p.created_at,"
    " p.likes, p.reposts, p.replies, p.quotes, p.lang, p.lang_detected, p.sentiment_polarity,"
    " p.sentiment_subjectivity, p.noun_phrases, p.hashtags, p.mentions, p.no_unauthenticated,"
    " a.followers, p.enriched_at, p.views"
)
# Column positions in a loaded row (tuples: ~3x faster than sqlite3.Row at 100k rows).
ID, PLATFORM, AUTHOR, HANDLE, NAME, CREATED, LIKES = 0, 1, 2, 3, 4, 5, 6
REPOSTS, REPLIES, QUOTES, LANG, LANG_DETECTED, POLARITY = 7, 8, 9, 10, 11, 12
SUBJECTIVITY, PHRASES, HASHTAGS, MENTIONS, RESTRICTED, FOLLOWERS, ENRICHED = (
    13,
    14,
    15,
    16,
    17,
    18,
    19,
)
VIEWS = 20

Row = tuple


# Enough for themes and engagement (trends against the previous period); the
# other positions hold NULL, so rows keep one shape.
_LIGHT_COLUMNS = (
    "p.id, null, null, null, null, p.created_at, p.likes, p.reposts, p.replies, p.quotes,"
    " null, null, null, null, p.noun_phrases, p.hashtags, null, p.no_unauthenticated, null, null,"
    " null"
)


def load_period(
    conn: sqlite3.Connection, start: datetime, end: datetime, *, light: bool = False
) -> list[Row]:
    """Live posts created in [start, end), oldest first, as tuples (column positions above).

    Oldest first so that "the author's latest handle" is the last one seen.
    """
    cur = conn.cursor()
    cur.row_factory = None
    if light:
        sql = f"select {_LIGHT_COLUMNS} from posts p"
    else:
        sql = f"select {_COLUMNS} from posts p left join authors a on a.id = p.author_id"
    cur.execute(
        sql
        + " where p.created_at >= ? and p.created_at < ? and p.deleted = 0"
        + " order by p.created_at, p.id",
        (iso(start), iso(end)),
    )
    return cur.fetchall()


def engagement(r: Row) -> int:
    """`figures.engagement` of a loaded row."""
    return _engagement(r[LIKES], r[REPOSTS], r[REPLIES], r[QUOTES])


class LiveTotals(NamedTuple):
    posts: int
    authors: int  # by stable id; posts without a known author add none
    engagement: int  # `figures.engagement`: unknown counts left out
    counts_unknown: tuple[str, ...]  # platforms whose posts lack a count, sorted


def live_totals(conn: sqlite3.Connection, start: datetime, end: datetime) -> LiveTotals:
    """The `Counts` and `Summary.counts_unknown` of [start, end), counted in SQL.

    The same figures the layer gives for a loaded period, in one indexed
    aggregate: the wall asks on every refresh of its counters.
    """
    unknown = " or ".join(f"{c} is null" for c in ENGAGEMENT_COUNTS)
    posts, authors, total, platforms = conn.execute(
        f"select count(*), count(distinct author_id), coalesce(sum({engagement_sql()}), 0),"
        f" group_concat(distinct case when {unknown} then platform end)"
        " from posts where deleted = 0 and created_at >= ? and created_at < ?",
        (iso(start), iso(end)),
    ).fetchone()
    return LiveTotals(
        int(posts),
        int(authors),
        int(total),
        tuple(sorted((platforms or "").split(",") if platforms else ())),
    )


def most_engaged(
    conn: sqlite3.Connection, start: datetime, end: datetime, limit: int
) -> list[tuple[int, int]]:
    """(post id, engagement) of the most engaged posts of [start, end) with any engagement.

    Ties go to the newer post, as in `analysis.top_posts`.
    """
    e = engagement_sql()
    return [
        (int(i), int(n))
        for i, n in conn.execute(
            f"select id, {e} as engagement from posts"
            " where deleted = 0 and created_at >= ? and created_at < ? and engagement > 0"
            " order by engagement desc, created_at desc, id desc limit ?",
            (iso(start), iso(end), limit),
        )
    ]
