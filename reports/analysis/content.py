"""What a period's posts say and who says it: top posts, voices, mentions, languages,
sentiment, themes and agenda sessions, all from one `Period`.

Posts of authors who asked not to be shown to logged-out viewers are counted here but
never returned, unless the caller asks for them (`include_restricted`).
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from tagwatch.records import parse_iso
from tagwatch.reports.agenda import BY_HASHTAG, BY_SPEAKER, BY_TIME, SessionMatcher
from tagwatch.reports.analysis.counts import Period, _counts
from tagwatch.reports.figures import (
    LanguageCount,
    MentionCount,
    PostRef,
    SentimentSummary,
    SessionReport,
    Themes,
    Voice,
    Voices,
)
from tagwatch.reports.rows import (
    AUTHOR,
    CREATED,
    FOLLOWERS,
    HANDLE,
    HASHTAGS,
    ID,
    LANG,
    LANG_DETECTED,
    MENTIONS,
    NAME,
    PLATFORM,
    POLARITY,
    RESTRICTED,
    SUBJECTIVITY,
    Row,
    engagement,
)
from tagwatch.reports.themes import compute_themes

__all__ = ["post_refs", "POSITIVE_ABOVE", "NEGATIVE_BELOW"]

POSITIVE_ABOVE = 0.1
NEGATIVE_BELOW = -0.1


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
