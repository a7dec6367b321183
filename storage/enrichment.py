"""The enrichment columns' SQL: which posts wait, and the one write that fills them.

Deciding what a post's language, sentiment and session are is the application's
job (`monitor/enrichment.py`, which needs the reports' text analysis and agenda);
storage only reads the waiting rows and writes the results, so the layers run
one way and this stays the only place that writes those columns.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence

from tagwatch.storage.db import Store

__all__ = [
    "pending_count",
    "pending_batch",
    "write_enrichment",
    "latest_texts_by_author",
    "EnrichmentRow",
]

# (lang, polarity, subjectivity, noun phrases as JSON, session, enriched_at, id)
EnrichmentRow = tuple[str | None, float | None, float | None, str | None, str | None, str, int]

_SELECT = (
    "select id, author_id, text, lang, hashtags, mentions, created_at, deleted from posts"
    " where enriched_at is null and id > ? order by id limit ?"
)
_CHUNK = 500  # authors per query, well under SQLite's limit on parameters


def latest_texts_by_author(
    store: Store, authors: Collection[int], languages: Sequence[str], per_author: int
) -> dict[int, list[str]]:
    """Each author's latest `per_author` enriched, live posts detected in one of `languages`.

    Language detection asks for them when a post's own text does not tell
    Serbian from Croatian: the author's other posts settle it.
    """
    ids = sorted(a for a in authors if isinstance(a, int))
    out: dict[int, list[str]] = {}
    langs = ", ".join("?" * len(languages))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = store.conn.execute(
            "select author_id, text from (select author_id, text, row_number() over"
            " (partition by author_id order by id desc) as n from posts"
            f" where author_id in ({', '.join('?' * len(chunk))})"
            " and enriched_at is not null and not coalesce(deleted, 0)"
            f" and lang_detected in ({langs})) where n <= ?",
            (*chunk, *languages, per_author),
        )
        for row in rows:
            out.setdefault(row["author_id"], []).append(row["text"] or "")
    return out


def pending_count(store: Store) -> int:
    """Posts still waiting for enrichment (deleted tombstones included)."""
    row = store.conn.execute("select count(*) from posts where enriched_at is null").fetchone()
    return int(row[0])


def pending_batch(store: Store, after_id: int, size: int) -> list[sqlite3.Row]:
    """The next `size` posts without `enriched_at`, by id, after `after_id`."""
    return store.conn.execute(_SELECT, (after_id, size)).fetchall()


def write_enrichment(store: Store, rows: Sequence[EnrichmentRow]) -> None:
    """One batch in one transaction: a killed process loses at most this batch."""
    with store.transaction() as conn:
        # `enriched_at is null` again: a concurrent enricher may have done these already.
        conn.executemany(
            "update posts set lang_detected = ?, sentiment_polarity = ?,"
            " sentiment_subjectivity = ?, noun_phrases = ?, session = ?, enriched_at = ?"
            " where id = ? and enriched_at is null",
            rows,
        )
