"""Writing one page of posts: a few statements per page, not a few per post.

A page is first played through in Python, post by post in page order, over the
rows it touches (read with one query per platform): that decides, exactly as
writing the posts one at a time would, which are new, updated, unchanged,
edited or tombstoned, what each row ends as, and which snapshots are taken.
Then each table gets one `executemany`. A post seen twice in a page is one row
written once with its last values (and a snapshot for each change of counts).

New rows get their ids here, from `max(id) + 1` on: that is the id SQLite
itself would give a table without AUTOINCREMENT, and the caller holds the
write lock (`BEGIN IMMEDIATE`), so no other writer can take it meanwhile.
Knowing the ids up front is what lets tags, mentions and snapshots of new posts
go in with their posts' page instead of after a lookup per post.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tagwatch.records import Post, iso, storable_text, utcnow

__all__ = ["WriteResult", "write_page", "ENGAGEMENT_FIELDS"]

ENGAGEMENT_FIELDS = ("likes", "reposts", "replies", "quotes", "views")
# Ids bound in one `in (...)`: well under SQLite's limit on parameters (999 before 3.32).
_CHUNK = 500

Counts = tuple[int | None, int | None, int | None, int | None, int | None]


@dataclass
class WriteResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_deleted: int = 0
    new_ids: list[int] = field(default_factory=list)


# One encoder for every call: `json.dumps` with options builds a new one each time,
# a tenth of the Python time of a page.
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def _raw_json(raw: dict[str, Any] | None) -> str | None:
    """The payload as stored: JSON escapes of lone surrogates become U+FFFD like in `Post`."""
    return None if raw is None else storable_text(_to_json(raw))


def _json_list(values: tuple[str, ...]) -> str:
    return _to_json(list(values)) if values else "[]"


@dataclass
class _Row:
    """A post's row as the page leaves it, and which of the page's posts it came from."""

    id: int
    stored: bool  # in the database before this page
    deleted: bool
    text: str
    counts: Counts
    first: Post | None = None  # a new row's first sighting: url, dates, thread and source
    last: Post | None = None  # the latest sighting: author, text, counts, flags
    derived: Post | None = None  # the sighting whose text tags and language come from
    raw: str | None = None  # the latest payload given
    edited: bool = False


@dataclass
class _AuthorRow:
    """An author as the page leaves it: the last sighting's names, the last known followers."""

    handle: str
    display_name: str
    updated_at: str
    followers: int | None
    checked_at: str | None
    avatar_url: str | None = None
    account_created_at: str | None = None


def _stored_rows(conn: sqlite3.Connection, page: Sequence[Post]) -> dict[tuple[str, str], _Row]:
    """The page's posts already stored, tombstones included, in one query per platform."""
    by_platform: dict[str, list[str]] = {}
    for post in page:
        by_platform.setdefault(post.platform, []).append(post.platform_id)
    rows: dict[tuple[str, str], _Row] = {}
    for platform, ids in by_platform.items():
        for chunk in _chunks(list(dict.fromkeys(ids))):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(
                "select id, platform_id, deleted, text, likes, reposts, replies, quotes, views"
                f" from posts where platform = ? and platform_id in ({marks})",
                (platform, *chunk),
            ):
                rows[(platform, r[1])] = _Row(
                    id=r[0], stored=True, deleted=bool(r[2]), text=r[3], counts=tuple(r[4:9])
                )
    return rows


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def write_page(conn: sqlite3.Connection, page: Sequence[Post], result: WriteResult) -> None:
    """Store a page of posts inside the caller's transaction, counting into `result`.

    The same guarantees as one post at a time: a tombstoned post stays deleted,
    a known post takes its new counts (unknown views keep the known ones), an
    edited one its new tags, mentions, links and language with its enrichment
    cleared, and a snapshot is taken only when counts change.
    """
    if not page:
        return
    now = iso(utcnow())
    rows = _stored_rows(conn, page)
    authors: dict[tuple[str, str], _AuthorRow] = {}
    snapshots: list[tuple[Any, ...]] = []
    next_id: int | None = None
    for post in page:
        key = (post.platform, post.platform_id)
        row = rows.get(key)
        if row is not None and row.deleted:
            result.skipped_deleted += 1
            continue
        seen_at = iso(post.collected_at)
        _note_author(authors, post, seen_at)
        counts: Counts = (post.likes, post.reposts, post.replies, post.quotes, post.views)
        raw = _raw_json(post.raw)
        if row is None:
            if next_id is None:
                next_id = conn.execute("select coalesce(max(id), 0) + 1 from posts").fetchone()[0]
            assert next_id is not None
            row = _Row(next_id, False, False, post.text, counts, post, post, post, raw)
            rows[key] = row
            next_id += 1
            snapshots.append((row.id, seen_at, *counts))
            result.new += 1
            result.new_ids.append(row.id)
            continue
        # A platform that does not report views (None) must not erase a known count.
        if counts[4] is None:
            counts = (*counts[:4], row.counts[4])
        changed = counts != row.counts
        edited = row.text != post.text
        row.last, row.counts, row.text = post, counts, post.text
        if raw is not None:
            row.raw = raw
        if edited:
            row.derived, row.edited = post, True
        if changed:
            snapshots.append((row.id, seen_at, *counts))
        if changed or edited:
            result.updated += 1
        else:
            result.unchanged += 1
    author_ids = _write_authors(conn, authors)
    _write_posts(conn, rows, author_ids, now)
    _index_tags(conn, rows)
    _write_media(conn, rows)
    conn.executemany(
        "insert into snapshots (post_id, at, likes, reposts, replies, quotes, views)"
        " values (?, ?, ?, ?, ?, ?, ?)",
        snapshots,
    )


def _note_author(authors: dict[tuple[str, str], _AuthorRow], post: Post, seen_at: str) -> None:
    """Fold one sighting of its author into the page's: the last names win, and followers
    only when reported, so a platform that leaves them out keeps the known count.

    `seen_at` is when the collector saw the author (its clock, not the wall clock), so
    "followers checked today" means the same day as the collector's own day check.
    """
    a = post.author
    if a is None:  # the platform does not say who wrote it (Instagram hashtag media)
        return
    known = authors.get((post.platform, a.platform_id))
    if known is None:
        authors[(post.platform, a.platform_id)] = _AuthorRow(
            a.handle,
            a.display_name,
            seen_at,
            a.followers,
            seen_at if a.followers is not None else None,
            a.avatar_url,
            None if a.account_created_at is None else iso(a.account_created_at),
        )
        return
    known.handle, known.display_name, known.updated_at = a.handle, a.display_name, seen_at
    if a.followers is not None:
        known.followers, known.checked_at = a.followers, seen_at
    if a.avatar_url is not None:
        known.avatar_url = a.avatar_url
    if a.account_created_at is not None:
        known.account_created_at = iso(a.account_created_at)


def _write_authors(
    conn: sqlite3.Connection, authors: dict[tuple[str, str], _AuthorRow]
) -> dict[tuple[str, str], int]:
    """Insert the page's new authors and update the known ones; their ids by (platform, id)."""
    ids: dict[tuple[str, str], int] = {}
    by_platform: dict[str, list[str]] = {}
    for platform, platform_id in authors:
        by_platform.setdefault(platform, []).append(platform_id)
    for platform, platform_ids in by_platform.items():
        for chunk in _chunks(platform_ids):
            marks = ",".join("?" * len(chunk))
            for r in conn.execute(
                f"select id, platform_id from authors where platform = ?"
                f" and platform_id in ({marks})",
                (platform, *chunk),
            ):
                ids[(platform, r[1])] = r[0]
    updates = [
        (
            a.handle,
            a.display_name,
            a.followers,
            a.updated_at,
            a.checked_at,
            a.avatar_url,
            a.account_created_at,
            ids[key],
        )
        for key, a in authors.items()
        if key in ids
    ]
    inserts = []
    next_id: int | None = None
    for key, a in authors.items():
        if key in ids:
            continue
        if next_id is None:
            next_id = conn.execute("select coalesce(max(id), 0) + 1 from authors").fetchone()[0]
        assert next_id is not None
        ids[key] = next_id
        inserts.append(
            (
                next_id,
                *key,
                a.handle,
                a.display_name,
                a.followers,
                a.checked_at,
                a.updated_at,
                a.avatar_url,
                a.account_created_at,
            )
        )
        next_id += 1
    conn.executemany(
        "insert into authors (id, platform, platform_id, handle, display_name, followers,"
        " followers_checked_at, updated_at, avatar_url, account_created_at)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        inserts,
    )
    conn.executemany(
        "update authors set handle = ?, display_name = ?, followers = coalesce(?, followers),"
        " updated_at = ?, followers_checked_at = coalesce(?, followers_checked_at),"
        " avatar_url = coalesce(?, avatar_url),"
        " account_created_at = coalesce(?, account_created_at) where id = ?",
        updates,
    )
    return ids


def _write_posts(
    conn: sqlite3.Connection,
    rows: dict[tuple[str, str], _Row],
    author_ids: dict[tuple[str, str], int],
    now: str,
) -> None:
    inserts, updates, edits = [], [], []
    for row in rows.values():
        last = row.last
        if last is None:  # stored and not in the page, or a tombstone
            continue
        # No author (unknown to the platform's API): no author row, so author counts,
        # voices and reach leave the post out.
        author = last.author
        author_id = None if author is None else author_ids[(last.platform, author.platform_id)]
        handle, name = (None, None) if author is None else (author.handle, author.display_name)
        likes, reposts, replies, quotes, views = row.counts
        if not row.stored:
            first, derived = row.first, row.derived
            assert first is not None and derived is not None
            inserts.append(
                (
                    row.id,
                    first.platform,
                    first.platform_id,
                    first.url,
                    author_id,
                    handle,
                    name,
                    last.text,
                    iso(first.created_at),
                    iso(first.collected_at),
                    now,
                    derived.lang,
                    _json_list(derived.hashtags),
                    _json_list(derived.mentions),
                    _json_list(derived.links),
                    first.reply_to,
                    first.quote_of,
                    first.repost_of,
                    likes,
                    reposts,
                    replies,
                    quotes,
                    views,
                    first.media_count,
                    int(last.sensitive),
                    int(last.no_unauthenticated),
                    first.source,
                    row.raw,
                )
            )
            continue
        updates.append(
            (
                author_id,
                handle,
                name,
                last.text,
                now,
                likes,
                reposts,
                replies,
                quotes,
                views,
                int(last.sensitive),
                int(last.no_unauthenticated),
                row.raw,
                row.id,
            )
        )
        if row.edited:
            derived = row.derived
            assert derived is not None
            edits.append(
                (
                    derived.lang,
                    _json_list(derived.hashtags),
                    _json_list(derived.mentions),
                    _json_list(derived.links),
                    row.id,
                )
            )
    conn.executemany(
        "insert into posts (id, platform, platform_id, url, author_id, author_handle,"
        " author_name, text, created_at, collected_at, updated_at, lang, hashtags,"
        " mentions, links, reply_to, quote_of, repost_of, likes, reposts, replies,"
        " quotes, views, media_count, sensitive, no_unauthenticated, source, raw,"
        " deleted) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
        inserts,
    )
    conn.executemany(
        "update posts set author_id = ?, author_handle = ?, author_name = ?, text = ?,"
        " updated_at = ?, likes = ?, reposts = ?, replies = ?, quotes = ?, views = ?,"
        " sensitive = ?, no_unauthenticated = ?, raw = coalesce(?, raw) where id = ?",
        updates,
    )
    # An author edited the post: what is derived from its text follows the new text,
    # and the enrichment (language guess, sentiment, themes, session) is cleared so it
    # is done again on the text people now read.
    conn.executemany(
        "update posts set lang = ?, hashtags = ?, mentions = ?, links = ?,"
        " lang_detected = null, sentiment_polarity = null, sentiment_subjectivity = null,"
        " noun_phrases = null, session = null, enriched_at = null where id = ?",
        edits,
    )


def _write_media(conn: sqlite3.Connection, rows: dict[tuple[str, str], _Row]) -> None:
    """The attachments of the page's posts, as their latest sighting gives them.

    A sighting with no media leaves the known ones: a refresh that asks for counts
    only (or a platform that leaves media out of an answer) cannot tell "removed"
    from "not sent", and a post's pictures must not vanish from the wall because of it.
    """
    replaced = [row for row in rows.values() if row.last is not None and row.last.media]
    conn.executemany(
        "delete from post_media where post_id = ?", [(r.id,) for r in replaced if r.stored]
    )
    conn.executemany(
        "insert into post_media (post_id, position, kind, url, preview_url, alt, width, height)"
        " values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (r.id, i, m.kind, m.url, m.preview_url, m.alt, m.width, m.height)
            for r in replaced
            for i, m in enumerate(r.last.media if r.last is not None else ())
        ],
    )


def _index_tags(conn: sqlite3.Connection, rows: dict[tuple[str, str], _Row]) -> None:
    """Tags and mentions of new posts, and of edited ones in place of their old ones."""
    edited = [(row.id,) for row in rows.values() if row.stored and row.edited]
    conn.executemany("delete from post_hashtags where post_id = ?", edited)
    conn.executemany("delete from post_mentions where post_id = ?", edited)
    tags: list[tuple[int, str]] = []
    mentions: list[tuple[int, str]] = []
    for row in rows.values():
        if row.derived is None:  # stored and not edited: its tags stand
            continue
        tags.extend((row.id, tag) for tag in row.derived.hashtags)
        mentions.extend((row.id, m.lstrip("@").casefold()) for m in row.derived.mentions)
    conn.executemany("insert or ignore into post_hashtags (post_id, tag) values (?, ?)", tags)
    conn.executemany(
        "insert or ignore into post_mentions (post_id, handle) values (?, ?)", mentions
    )
