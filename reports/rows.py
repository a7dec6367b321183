"""How the analysis loads a period's posts: one query, rows as plain tuples.

Tuples rather than sqlite3.Row: at 100,000 posts a day the difference is most
of the time a day's analysis takes.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from storage.records import iso

__all__ = ["load_period", "Row", "engagement", "UNKNOWN_AUTHOR"]

# AUTHOR of a post whose platform does not say who wrote it (Instagram hashtag
# media): counted as a post, never as an author, a voice or reach.
UNKNOWN_AUTHOR = -1

_COLUMNS = (
    "p.id, p.platform, coalesce(p.author_id, -1), p.author_handle, p.author_name, p.created_at,"
    " p.likes, p.reposts, p.replies, p.quotes, p.lang, p.lang_detected, p.sentiment_polarity,"
    " p.sentiment_subjectivity, p.noun_phrases, p.hashtags, p.mentions, p.no_unauthenticated,"
    " a.followers, p.enriched_at"
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

Row = tuple


# Enough for themes and engagement (trends against the previous period); the
# other positions hold NULL, so rows keep one shape.
_LIGHT_COLUMNS = (
    "p.id, null, null, null, null, p.created_at, p.likes, p.reposts, p.replies, p.quotes,"
    " null, null, null, null, p.noun_phrases, p.hashtags, null, p.no_unauthenticated, null, null"
)


def load_period(
    conn: sqlite3.Connection, start: datetime, end: datetime, *, light: bool = False
) -> list[Row]:
    """Live posts created in [start, end) as tuples (see the column positions above)."""
    cur = conn.cursor()
    cur.row_factory = None
    if light:
        sql = f"select {_LIGHT_COLUMNS} from posts p"
    else:
        sql = f"select {_COLUMNS} from posts p left join authors a on a.id = p.author_id"
    cur.execute(
        sql + " where p.created_at >= ? and p.created_at < ? and p.deleted = 0",
        (iso(start), iso(end)),
    )
    return cur.fetchall()


def engagement(r: Row) -> int:
    return (r[LIKES] or 0) + (r[REPOSTS] or 0) + (r[REPLIES] or 0) + (r[QUOTES] or 0)
