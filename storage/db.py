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
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from tagwatch.errors import StorageError
from tagwatch.records import Post, iso, utcnow
from tagwatch.storage.migrations import SCHEMA_VERSION, current_version, migrate
from tagwatch.storage.writes import ENGAGEMENT_FIELDS, WriteResult, write_page

__all__ = ["Store", "WriteResult", "connect", "require_database_folder", "ENGAGEMENT_FIELDS"]

BUSY_TIMEOUT_MS = 30_000


def connect(
    path: str | Path, *, readonly: bool = False, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> sqlite3.Connection:
    """A connection with tagwatch's pragmas; autocommit mode, transactions are explicit.

    `busy_timeout_ms`: how long a statement waits on another connection's lock before
    "database is locked"; the wall waits less than a collector (it must answer people).
    """
    path = str(path)
    try:
        if readonly and path != ":memory:":
            uri = Path(path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"pragma busy_timeout = {int(busy_timeout_ms)}")
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
            " it aside and copies the newest backup in its place (docs/running.md: Backups)."
        )
    return ""


# Wall events always kept by `prune_wall_events`, however old.
WALL_EVENTS_KEPT = 10_000


def require_database_folder(path: str | Path) -> None:
    """The database's folder must exist: tagwatch never creates it, so a typo in
    `[storage] path` is named instead of silently starting a new, empty event."""
    parent = Path(path).expanduser().resolve().parent
    if not parent.exists():
        raise StorageError(
            f"Directory {parent} for the database does not exist: create it or "
            "change [storage] path in the config."
        )


class Store:
    """Read/write access to one tagwatch database."""

    def __init__(self, conn: sqlite3.Connection, path: str = ":memory:"):
        self.conn = conn
        self.path = path
        self.purged = 0  # live posts purged through this store (mark_deleted)

    @classmethod
    def open(
        cls, path: str | Path, *, migrate_schema: bool = True, busy_timeout_ms: int | None = None
    ) -> Store:
        path = str(path)
        if path != ":memory:":
            require_database_folder(path)
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
        if busy_timeout_ms is not None:  # after migrating, which may wait for the full timeout
            conn.execute(f"pragma busy_timeout = {int(busy_timeout_ms)}")
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
        instance or an old page must not bring purged text back. The page goes in
        with one statement per table (`storage/writes.py`), not a few per post:
        that per-post work was most of what ingest cost beyond SQLite's own (#19).
        """
        result = WriteResult()
        with self.transaction() as conn:
            write_page(conn, list(posts), result)
            if cursor is not None:
                self._set_cursor(conn, *cursor)
        return result

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
                    "update posts set updated_at = ?, refreshed_at = ? where id = ?",
                    (iso(utcnow()), iso(at), row["id"]),
                )
                return False
            conn.execute(
                "update posts set likes = ?, reposts = ?, replies = ?, quotes = ?, views = ?,"
                " updated_at = ?, refreshed_at = ? where id = ?",
                (*(counts[k] for k in ENGAGEMENT_FIELDS), iso(at), iso(at), row["id"]),
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
            # An older backup being purged may predate the media table (migration 11).
            if conn.execute(
                "select 1 from sqlite_master where type = 'table' and name = 'post_media'"
            ).fetchone():
                conn.execute("delete from post_media where post_id = ?", (post_id,))
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

    def mark_refreshed(self, platform: str, platform_ids: Sequence[str], *, at: datetime) -> None:
        """Record that these posts were read back from their platform at `at`.

        For reads that did not go through `update_engagement` (an edit written
        with `write_posts`, an answer that could not be used): the post still
        goes to the back of the refresh queue instead of being asked again first.
        """
        with self.transaction() as conn:
            conn.executemany(
                "update posts set refreshed_at = ? where platform = ? and platform_id = ?",
                [(iso(at), platform, pid) for pid in platform_ids],
            )

    def posts_to_refresh(
        self,
        platform: str,
        *,
        since: datetime,
        limit: int | None = None,
        order: Literal["updated", "refreshed"] = "updated",
    ) -> list[sqlite3.Row]:
        """Live posts created after `since`, least recently updated first.

        order="refreshed": least recently read back first (`refreshed_at`, or
        when collected for a post never re-read), among equals one never re-read
        first, then the oldest stored, so a budget smaller than the backlog still reaches every post
        in turn. The collector's own clock sets both times.
        """
        key = (
            "coalesce(refreshed_at, collected_at) asc, refreshed_at is not null, id asc"
            if order == "refreshed"
            else "updated_at asc"
        )
        sql = (
            "select id, platform_id, url, source, raw, author_handle, created_at, updated_at,"
            " refreshed_at from posts where platform = ? and deleted = 0 and created_at >= ?"
            f" order by {key}"
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

    def close_stale_runs(self, *, at: datetime) -> int:
        """Mark runs left 'running' by a process that died as interrupted; how many.

        Call only while holding the runner lock, or a live pass would be marked too.
        """
        with self.transaction() as conn:
            return conn.execute(
                "update runs set status = 'interrupted', ended_at = coalesce(ended_at, ?),"
                " error = coalesce(error, 'the process stopped before the pass finished')"
                " where status = 'running'",
                (iso(at),),
            ).rowcount

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
