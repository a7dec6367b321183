"""The write path of enrichment: language, sentiment, noun phrases and session, stored once.

Reports read, never write; this is the one place that fills the enrichment
columns of `posts`. It is cheap to call after every collection pass: only
posts without `enriched_at` are touched, in batches, each batch one
transaction (a killed process loses at most one batch of work, never
half a post).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from datetime import datetime

from monitor.config import Config
from reports.agenda import SessionMatcher
from reports.bcms import FAMILY
from reports.text import AuthorHistory, LanguageGuesser, analyze_many
from storage.db import Store
from storage.records import iso, utcnow

__all__ = ["enrich_pending", "pending_count", "BATCH_SIZE", "HISTORY_PER_AUTHOR"]

BATCH_SIZE = 2000

_SELECT = (
    "select id, author_id, text, lang, hashtags, mentions, created_at, deleted from posts"
    " where enriched_at is null and id > ? order by id limit ?"
)
# An author's latest posts already labelled Serbian, Croatian, Bosnian or Montenegrin:
# their texts settle the author's posts whose own text does not tell the standard.
HISTORY_PER_AUTHOR = 50
_CHUNK = 500  # authors per query, well under SQLite's limit on parameters


def _author_history(store: Store) -> AuthorHistory:
    def texts_of(authors: Collection[Hashable]) -> Mapping[Hashable, Sequence[str]]:
        ids = sorted(a for a in authors if isinstance(a, int))
        out: dict[Hashable, list[str]] = {}
        family = ", ".join("?" * len(FAMILY))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            rows = store.conn.execute(
                "select author_id, text from (select author_id, text, row_number() over"
                " (partition by author_id order by id desc) as n from posts"
                f" where author_id in ({', '.join('?' * len(chunk))})"
                " and enriched_at is not null and not coalesce(deleted, 0)"
                f" and lang_detected in ({family})) where n <= ?",
                (*chunk, *FAMILY, HISTORY_PER_AUTHOR),
            )
            for row in rows:
                out.setdefault(row["author_id"], []).append(row["text"] or "")
        return out

    return texts_of


def pending_count(store: Store) -> int:
    """Posts still waiting for enrichment (deleted tombstones included)."""
    row = store.conn.execute("select count(*) from posts where enriched_at is null").fetchone()
    return int(row[0])


def enrich_pending(
    store: Store,
    config: Config,
    limit: int | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    now: Callable[[], datetime] = utcnow,
) -> int:
    """Enrich posts that have not been enriched yet; returns how many were written.

    Text is analysed outside the write transaction so the wall and other
    readers never wait on TextBlob, and collectors wait at most one batch write.
    """
    event = config.event
    guesser = LanguageGuesser(event.languages)
    tracked = tuple(event.tags)
    matcher = SessionMatcher(event.sessions)
    history = _author_history(store)
    done = 0
    last_id = 0
    while limit is None or done < limit:
        size = batch_size if limit is None else min(batch_size, limit - done)
        rows = store.conn.execute(_SELECT, (last_id, size)).fetchall()
        if not rows:
            break
        stamp = iso(now())
        # (lang, polarity, subjectivity, noun phrases, session, enriched_at, id)
        updates: list[
            tuple[str | None, float | None, float | None, str | None, str | None, str, int]
        ] = []
        live = [row for row in rows if not row["deleted"]]
        analysed = analyze_many(
            [row["text"] or "" for row in live],
            [row["lang"] for row in live],
            guesser=guesser,
            tracked=tracked,
            authors=[row["author_id"] for row in live],
            history=history,
        )
        features_of = {row["id"]: f for row, f in zip(live, analysed, strict=True)}
        for row in rows:
            last_id = row["id"]
            if row["deleted"]:
                # Nothing left to analyse; stamping keeps it out of the next pass.
                updates.append((None, None, None, None, None, stamp, row["id"]))
                continue
            features = features_of[row["id"]]
            found = None
            if event.sessions:
                hashtags = json.loads(row["hashtags"] or "[]")
                mentions = json.loads(row["mentions"] or "[]")
                found = matcher.match(row["created_at"], hashtags, mentions)
            updates.append(
                (
                    features.lang,
                    features.polarity,
                    features.subjectivity,
                    json.dumps(list(features.phrases), ensure_ascii=False),
                    event.sessions[found[0]].title if found else None,
                    stamp,
                    row["id"],
                )
            )
        with store.transaction() as conn:
            # `enriched_at is null` again: a concurrent enricher may have done these already.
            conn.executemany(
                "update posts set lang_detected = ?, sentiment_polarity = ?,"
                " sentiment_subjectivity = ?, noun_phrases = ?, session = ?, enriched_at = ?"
                " where id = ? and enriched_at is null",
                updates,
            )
        done += len(rows)
    return done
