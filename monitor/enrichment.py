"""Enrichment: language, sentiment, noun phrases and session, worked out once per post.

This is application work, not storage: it runs the reports' text analysis
(`tagwatch.reports.text`) and agenda matching (`tagwatch.reports.agenda`) and hands the results
to `storage/enrichment.py`, the one place that writes the enrichment columns.
It is cheap to call after every collection pass: only posts without
`enriched_at` are touched, in batches, each batch one transaction (a killed
process loses at most one batch of work, never half a post).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from datetime import datetime

from tagwatch.records import iso, utcnow
from tagwatch.reports.agenda import SessionMatcher
from tagwatch.reports.languages import FAMILY, AuthorHistory, LanguageGuesser
from tagwatch.reports.text import analyze_many
from tagwatch.settings import Config
from tagwatch.storage.db import Store
from tagwatch.storage.enrichment import (
    EnrichmentRow,
    latest_texts_by_author,
    pending_batch,
    write_enrichment,
)

__all__ = ["enrich_pending", "BATCH_SIZE", "HISTORY_PER_AUTHOR"]

BATCH_SIZE = 2000
# An author's latest posts already labelled Serbian, Croatian, Bosnian or Montenegrin:
# their texts settle the author's posts whose own text does not tell the standard.
HISTORY_PER_AUTHOR = 50


def _author_history(store: Store) -> AuthorHistory:
    def texts_of(authors: Collection[Hashable]) -> Mapping[Hashable, Sequence[str]]:
        ids = [a for a in authors if isinstance(a, int)]
        found = latest_texts_by_author(store, ids, FAMILY, HISTORY_PER_AUTHOR)
        return {author: texts for author, texts in found.items()}

    return texts_of


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
        rows = pending_batch(store, last_id, size)
        if not rows:
            break
        stamp = iso(now())
        updates: list[EnrichmentRow] = []
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
        write_enrichment(store, updates)
        done += len(rows)
    return done
