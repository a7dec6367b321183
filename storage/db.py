"""The one place that opens the database: schema, writes and the queries collectors need.

Design: one writer, many readers. Collectors write through a `Store` (each
write an explicit `BEGIN IMMEDIATE` transaction, so a killed process leaves
either all of a page or none of it); the wall and reports open their own
read connections. WAL mode lets readers go on while a writer commits, and a
busy timeout turns brief lock contention into a short wait instead of a
"database is locked" error.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from monitor.errors import StorageError
from storage.migrations import SCHEMA_VERSION, current_version, migrate
from storage.records import Author, Post, iso, storable_text, utcnow

__all__ = ["Store", "WriteResult", "connect", "ENGAGEMENT_FIELDS"]

ENGAGEMENT_FIELDS = ("likes", "reposts", "replies", "quotes", "views")
BUSY_TIMEOUT_MS = 30_000


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with tagwatch's pragmas; autocommit mode, transactions are explicit."""
    path = str(path)
    try:
        if readonly and path != ":memory:":
            uri = Path(path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            conn.execute("pragma journal_mode = wal")
            conn.execute("pragma synchronous = normal")
        conn.execute("pragma foreign_keys = on")
    except sqlite3.DatabaseError as exc:
        raise StorageError(
            f"Cannot open database {path}: {exc}. Check [storage] path in the config "
            f"and that the file is a tagwatch SQLite database.{_damaged_hint(exc)}"
        ) from exc
    conn.row_factory = sqlite3.Row
    return conn


def _damaged_hint(exc: sqlite3.Error) -> str:
    """What to do when SQLite says the file is damaged, rather than merely busy."""
    text = str(exc).lower()
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return (
            " The file looks damaged: stop tagwatch and run `tagwatch restore`, which keeps"
            " it aside and copies the newest backup in its place (README: Backups)."
        )
    return ""


@dataclass
class WriteResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_deleted: int = 0
    new_ids: list[int] = field(default_factory=list)


def _raw_json(raw: dict[str, Any] | None) -> str | None:
    """The payload as stored: JSON escapes of lone surrogates become U+FFFD like in `Post`."""
    return None if raw is None else storable_text(json.dumps(raw, ensure_ascii=False))


def _counts(post: Post) -> dict[str, int | None]:
    """The counts as stored: None (a count the platform does not give) stays NULL."""
    return {
        "likes": post.likes,
        "reposts": post.reposts,
        "replies": post.replies,
        "quotes": post.quotes,
        "views": post.views,
    }


# Wall events always kept by `prune_wall_events`, however old.
WALL_EVENTS_KEPT = 10_000


class Store:
    """Read/write access to one tagwatch database."""

    def __init__(self, conn: sqlite3.Connection, path: str = ":memory:"):
        self.conn = conn
        self.path = path
        self.db = sqlite_utils.Database(conn)
        self.purged = 0  # live posts purged through this store (mark_deleted)

    @classmethod
    def open(cls, path: str | Path, *, migrate_schema: bool = True) -> Store:
        path = str(path)
        if path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.exists():
                raise StorageError(
                    f"Directory {parent} for the database does not exist: create it or "
                    "change [storage] path in the config."
                )
        conn = connect(path)
        try:
            version = current_version(conn)
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"Database {path} has schema version {version}, newer than this tagwatch "
                    f"understands ({SCHEMA_VERSION}). Upgrade tagwatch: pip install -U tagwatch."
                )
            if migrate_schema:
                migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            hint = _damaged_hint(exc)
            raise StorageError(f"Database {path} is not usable: {exc}.{hint}") from exc
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; nested use joins the outer one."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- posts ----------------------------------------------------------------

    def write_posts(
        self,
        posts: Iterable[Post],
        *,
        cursor: tuple[str, str, str] | None = None,
    ) -> WriteResult:
        """Insert new posts and update known ones, in one transaction.

        `cursor` (collector, query, value) is saved in the same transaction, so a
        cursor can never move past posts that were not committed.
        A post already marked deleted stays deleted: a stale copy from another
        instance or an old page must not bring purged text back.
        """
        result = WriteResult()
        with self.transaction() as conn:
            for post in posts:
                self._write_post(conn, post, result)
            if cursor is not None:
                self._set_cursor(conn, *cursor)
        return result

    def _upsert_author(
        self, conn: sqlite3.Connection, platform: str, author: Author, at: datetime
    ) -> int:
        # `at` is when the collector saw the author (its clock, not the wall clock), so
        # "followers checked today" means the same day as the collector's own day check.
        now = iso(at)
        row = conn.execute(
            "select id, followers from authors where platform = ? and platform_id = ?",
            (platform, author.platform_id),
        ).fetchone()
        if row is None:
            cur = conn.execute(
                "insert into authors (platform, platform_id, handle, display_name, followers,"
                " followers_checked_at, updated_at) values (?, ?, ?, ?, ?, ?, ?)",
                (
                    platform,
                    author.platform_id,
                    author.handle,
                    author.display_name,
                    author.followers,
                    now if author.followers is not None else None,
                    now,
                ),
            )
            return int(cur.lastrowid or 0)
        followers = author.followers if author.followers is not None else row["followers"]
        conn.execute(
            "update authors set handle = ?, display_name = ?, followers = ?, updated_at = ?,"
            " followers_checked_at = coalesce(?, followers_checked_at) where id = ?",
            (
                author.handle,
                author.display_name,
                followers,
                now,
                now if author.followers is not None else None,
                row["id"],
            ),
        )
        return int(row["id"])

    def _write_post(self, conn: sqlite3.Connection, post: Post, result: WriteResult) -> None:
        existing = conn.execute(
            "select id, deleted, text, likes, reposts, replies, quotes, views from posts"
            " where platform = ? and platform_id = ?",
            (post.platform, post.platform_id),
        ).fetchone()
        if existing is not None and existing["deleted"]:
            result.skipped_deleted += 1
            return
        author = post.author
        author_id = (
            None
            if author is None
            else self._upsert_author(conn, post.platform, author, post.collected_at)
        )
        handle, name = (None, None) if author is None else (author.handle, author.display_name)
        counts = _counts(post)
        now = iso(utcnow())
        if existing is None:
            cur = conn.execute(
                "insert into posts (platform, platform_id, url, author_id, author_handle,"
                " author_name, text, created_at, collected_at, updated_at, lang, hashtags,"
                " mentions, links, reply_to, quote_of, repost_of, likes, reposts, replies,"
                " quotes, views, media_count, sensitive, no_unauthenticated, source, raw,"
                " deleted) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
                (
                    post.platform,
                    post.platform_id,
                    post.url,
                    author_id,
                    handle,
                    name,
                    post.text,
                    iso(post.created_at),
                    iso(post.collected_at),
                    now,
                    post.lang,
                    json.dumps(list(post.hashtags), ensure_ascii=False),
                    json.dumps(list(post.mentions), ensure_ascii=False),
                    json.dumps(list(post.links), ensure_ascii=False),
                    post.reply_to,
                    post.quote_of,
                    post.repost_of,
                    post.likes,
                    post.reposts,
                    post.replies,
                    post.quotes,
                    post.views,
                    post.media_count,
                    int(post.sensitive),
                    int(post.no_unauthenticated),
                    post.source,
                    _raw_json(post.raw),
                ),
            )
            post_id = int(cur.lastrowid or 0)
            self._index_tags(conn, post_id, post)
            self._snapshot(conn, post_id, counts, post.collected_at)
            result.new += 1
            result.new_ids.append(post_id)
            return
        post_id = int(existing["id"])
        # A platform that does not report views (None) must not erase a known count.
        if counts["views"] is None:
            counts["views"] = existing["views"]
        changed = any(existing[k] != counts[k] for k in ENGAGEMENT_FIELDS)
        conn.execute(
            "update posts set author_id = ?, author_handle = ?, author_name = ?, text = ?,"
            " updated_at = ?, likes = ?, reposts = ?, replies = ?, quotes = ?, views = ?,"
            " sensitive = ?, no_unauthenticated = ?, raw = coalesce(?, raw) where id = ?",
            (
                author_id,
                handle,
                name,
                post.text,
                now,
                counts["likes"],
                counts["reposts"],
                counts["replies"],
                counts["quotes"],
                counts["views"],
                int(post.sensitive),
                int(post.no_unauthenticated),
                _raw_json(post.raw),
                post_id,
            ),
        )
        edited = existing["text"] != post.text
        if edited:
            self._edited(conn, post_id, post)
        if changed:
            self._snapshot(conn, post_id, counts, post.collected_at)
        if changed or edited:
            result.updated += 1
        else:
            result.unchanged += 1

    def _edited(self, conn: sqlite3.Connection, post_id: int, post: Post) -> None:
        """An author edited the post: what is derived from its text follows the new text.

        Tags, mentions, links and language come with the new version; the
        enrichment (language guess, sentiment, themes, session) is cleared so it
        is done again on the text people now read.
        """
        conn.execute(
            "update posts set lang = ?, hashtags = ?, mentions = ?, links = ?,"
            " lang_detected = null, sentiment_polarity = null, sentiment_subjectivity = null,"
            " noun_phrases = null, session = null, enriched_at = null where id = ?",
            (
                post.lang,
                json.dumps(list(post.hashtags), ensure_ascii=False),
                json.dumps(list(post.mentions), ensure_ascii=False),
                json.dumps(list(post.links), ensure_ascii=False),
                post_id,
            ),
        )
        conn.execute("delete from post_hashtags where post_id = ?", (post_id,))
        conn.execute("delete from post_mentions where post_id = ?", (post_id,))
        self._index_tags(conn, post_id, post)

    def _index_tags(self, conn: sqlite3.Connection, post_id: int, post: Post) -> None:
        conn.executemany(
            "insert or ignore into post_hashtags (post_id, tag) values (?, ?)",
            [(post_id, tag) for tag in post.hashtags],
        )
        conn.executemany(
            "insert or ignore into post_mentions (post_id, handle) values (?, ?)",
            [(post_id, m.lstrip("@").casefold()) for m in post.mentions],
        )

    def _snapshot(
        self, conn: sqlite3.Connection, post_id: int, counts: dict[str, Any], at: datetime
    ) -> None:
        conn.execute(
            "insert into snapshots (post_id, at, likes, reposts, replies, quotes, views)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            (post_id, iso(at), *(counts[k] for k in ENGAGEMENT_FIELDS)),
        )

    def update_engagement(
        self,
        platform: str,
        platform_id: str,
        *,
        likes: int | None,
        reposts: int | None,
        replies: int | None,
        quotes: int | None,
        views: int | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Refresh one post's counts; returns True when they changed (and a snapshot was taken)."""
        at = at or utcnow()
        with self.transaction() as conn:
            row = conn.execute(
                "select id, deleted, likes, reposts, replies, quotes, views from posts"
                " where platform = ? and platform_id = ?",
                (platform, platform_id),
            ).fetchone()
            if row is None or row["deleted"]:
                return False
            counts = {
                "likes": likes,
                "reposts": reposts,
                "replies": replies,
                "quotes": quotes,
                "views": views if views is not None else row["views"],
            }
            if all(row[k] == counts[k] for k in ENGAGEMENT_FIELDS):
                # Checked and unchanged: move it to the back of posts_to_refresh's queue
                # (same clock as write_posts), or a refresh budget would re-check it forever.
                conn.execute(
                    "update posts set updated_at = ? where id = ?", (iso(utcnow()), row["id"])
                )
                return False
            conn.execute(
                "update posts set likes = ?, reposts = ?, replies = ?, quotes = ?, views = ?,"
                " updated_at = ? where id = ?",
                (*(counts[k] for k in ENGAGEMENT_FIELDS), iso(at), row["id"]),
            )
            self._snapshot(conn, int(row["id"]), counts, at)
            return True

    def mark_deleted(self, platform: str, platform_id: str, *, at: datetime | None = None) -> bool:
        """Honour an upstream deletion: keep the row (so it is never re-added) but purge content.

        Text, links, mentions, media and raw JSON go; the row remains only as a
        tombstone that says a post existed and was removed. Returns True when a
        live post was purged.
        """
        at = at or utcnow()
        with self.transaction() as conn:
            row = conn.execute(
                "select id, deleted from posts where platform = ? and platform_id = ?",
                (platform, platform_id),
            ).fetchone()
            if row is None:
                # Remember the deletion so a late copy of the post is not stored.
                conn.execute(
                    "insert into posts (platform, platform_id, url, text, created_at,"
                    " collected_at, updated_at, hashtags, mentions, links, deleted, deleted_at)"
                    " values (?, ?, '', '', ?, ?, ?, '[]', '[]', '[]', 1, ?)",
                    (platform, platform_id, iso(at), iso(at), iso(at), iso(at)),
                )
                return False
            if row["deleted"]:
                return False
            post_id = row["id"]
            conn.execute(
                "update posts set text = '', url = '', links = '[]', mentions = '[]', raw = NULL,"
                " media_count = 0, deleted = 1, deleted_at = ?, updated_at = ?,"
                " noun_phrases = NULL where id = ?",
                (iso(at), iso(at), post_id),
            )
            conn.execute("delete from post_mentions where post_id = ?", (post_id,))
            self.purged += 1
            conn.execute("delete from moderation where post_id = ?", (post_id,))
            return True

    def _ids_matching(
        self, sql: str, params: Sequence[Any], platform_ids: Sequence[str]
    ) -> set[str]:
        """Run `sql ... and platform_id in (...)` over the ids in chunks of 500.

        SQLite caps the number of bound parameters, and a page of posts or a
        batch of authors can exceed it.
        """
        found: set[str] = set()
        ids = list(platform_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(f"{sql} and platform_id in ({marks})", (*params, *chunk))
            found.update(r[0] for r in rows)
        return found

    def known_ids(self, platform: str, platform_ids: Sequence[str]) -> set[str]:
        """Which of these platform ids are already stored (deleted ones included)."""
        return self._ids_matching(
            "select platform_id from posts where platform = ?", (platform,), platform_ids
        )

    def authors_checked_since(
        self, platform: str, platform_ids: Sequence[str], since: datetime
    ) -> set[str]:
        """Which of these authors had their follower count stored at or after `since`.

        Lets a collector that pays a request per profile (Bluesky) look each
        author up at most once a day.
        """
        return self._ids_matching(
            "select platform_id from authors where platform = ? and followers_checked_at >= ?",
            (platform, iso(since)),
            platform_ids,
        )

    def posts_to_refresh(
        self, platform: str, *, since: datetime, limit: int | None = None
    ) -> list[sqlite3.Row]:
        """Live posts created after `since`, least recently updated first."""
        sql = (
            "select id, platform_id, url, source, raw, author_handle, created_at, updated_at"
            " from posts where platform = ? and deleted = 0 and created_at >= ?"
            " order by updated_at asc"
        )
        params: list[Any] = [platform, iso(since)]
        if limit is not None:
            sql += " limit ?"
            params.append(limit)
        return list(self.conn.execute(sql, params))

    # -- cursors --------------------------------------------------------------

    def get_cursor(self, collector: str, query: str) -> str | None:
        row = self.conn.execute(
            "select value from cursors where collector = ? and query = ?", (collector, query)
        ).fetchone()
        return None if row is None else row[0]

    def set_cursor(self, collector: str, query: str, value: str) -> None:
        with self.transaction() as conn:
            self._set_cursor(conn, collector, query, value)

    def _set_cursor(self, conn: sqlite3.Connection, collector: str, query: str, value: str) -> None:
        conn.execute(
            "insert into cursors (collector, query, value, updated_at) values (?, ?, ?, ?)"
            " on conflict(collector, query) do update set value = excluded.value,"
            " updated_at = excluded.updated_at",
            (collector, query, value, iso(utcnow())),
        )

    # -- runs -------------------------------------------------------------------

    def start_run(self, collector: str, *, at: datetime | None = None) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "insert into runs (collector, started_at, status, requests, new_posts,"
                " updated_posts) values (?, ?, 'running', 0, 0, 0)",
                (collector, iso(at or utcnow())),
            )
            return int(cur.lastrowid or 0)

    def finish_run(
        self,
        run_id: int,
        *,
        status: str,
        requests: int,
        new_posts: int,
        updated_posts: int,
        error: str | None = None,
        details: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "update runs set ended_at = ?, status = ?, requests = ?, new_posts = ?,"
                " updated_posts = ?, error = ?, details = ? where id = ?",
                (
                    iso(at or utcnow()),
                    status,
                    requests,
                    new_posts,
                    updated_posts,
                    error,
                    json.dumps(details or {}, ensure_ascii=False, default=str),
                    run_id,
                ),
            )

    # -- maintenance ------------------------------------------------------------

    def prune_wall_events(self, *, older_than: datetime, keep_last: int | None = None) -> int:
        """Forget wall events older than `older_than`, always keeping the newest `keep_last`
        (default WALL_EVENTS_KEPT).

        Walls read the log within a second of each write, and one that was down
        that long starts from a full reload anyway: old events only grow the
        file. The newest row stays, so the id sequence never goes backwards
        (which a wall would read as a replaced database).
        """
        with self.transaction() as conn:
            cursor = conn.execute(
                "delete from wall_events where at < ?"
                " and id <= (select max(id) from wall_events) - ?",
                (iso(older_than), max(1, WALL_EVENTS_KEPT if keep_last is None else keep_last)),
            )
        return cursor.rowcount

    def vacuum(self) -> None:
        """Rewrite the file so purged text no longer lingers in free pages."""
        self.conn.execute("insert into posts_fts(posts_fts) values ('rebuild')")
        self.conn.execute("VACUUM")
        # In WAL mode the old pages can still sit in the -wal file: fold it back and empty it.
        self.conn.execute("pragma wal_checkpoint(TRUNCATE)")
