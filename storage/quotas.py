"""Ledgers of query limits counted over a rolling window (Meta's Threads and Instagram).

Meta counts queries, not posts: Threads allows 2,200 keyword searches per user
per rolling 24 hours (searches that return nothing do not count), Instagram 30
unique hashtags per account per rolling 7 days (a hashtag queried again within
its 7 days costs nothing and does not restart them). Both are kept in one table,
`quota_queries`, one row per counted query; collectors ask here *before* a
request and record after it, so a pass stops before the platform would refuse.

Read helpers take a plain connection (read-only is fine), so `tagwatch status`
can show the use without a writer. The SQL lives only here.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from tagwatch.records import iso, parse_iso

__all__ = [
    "has_ledger",
    "record_query",
    "queries_since",
    "distinct_queries_since",
    "first_counted_at",
    "oldest_since",
    "hashtag_id",
    "save_hashtag_id",
    "last_run",
    "last_success",
]


def has_ledger(conn: sqlite3.Connection) -> bool:
    return bool(
        conn.execute(
            "select 1 from sqlite_master where type = 'table' and name = 'quota_queries'"
        ).fetchone()
    )


def record_query(conn: sqlite3.Connection, platform: str, query: str, at: datetime) -> None:
    """Enter one counted query (its own transaction unless the caller holds one)."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "insert into quota_queries (platform, at, query) values (?, ?, ?)",
            (platform, iso(at), query),
        )
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")


def queries_since(conn: sqlite3.Connection, platform: str, since: datetime) -> int:
    """Counted queries at or after `since`."""
    row = conn.execute(
        "select count(*) from quota_queries where platform = ? and at >= ?",
        (platform, iso(since)),
    ).fetchone()
    return int(row[0])


def distinct_queries_since(conn: sqlite3.Connection, platform: str, since: datetime) -> list[str]:
    """The different queries counted at or after `since` (Instagram: the hashtags in use)."""
    rows = conn.execute(
        "select query from quota_queries where platform = ? and at >= ?"
        " group by query order by min(at)",
        (platform, iso(since)),
    )
    return [r[0] for r in rows]


def first_counted_at(
    conn: sqlite3.Connection, platform: str, query: str, since: datetime
) -> datetime | None:
    """When `query` was first counted within the window starting at `since` (None: not)."""
    row = conn.execute(
        "select min(at) from quota_queries where platform = ? and query = ? and at >= ?",
        (platform, query, iso(since)),
    ).fetchone()
    return parse_iso(row[0]) if row and row[0] else None


def oldest_since(conn: sqlite3.Connection, platform: str, since: datetime) -> datetime | None:
    """The oldest counted query in the window: when it leaves, one more query fits."""
    row = conn.execute(
        "select min(at) from quota_queries where platform = ? and at >= ?",
        (platform, iso(since)),
    ).fetchone()
    return parse_iso(row[0]) if row and row[0] else None


def hashtag_id(conn: sqlite3.Connection, platform: str, tag: str) -> str | None:
    row = conn.execute(
        "select hashtag_id from hashtag_ids where platform = ? and tag = ?", (platform, tag)
    ).fetchone()
    return None if row is None else str(row[0])


def save_hashtag_id(
    conn: sqlite3.Connection, platform: str, tag: str, value: str, at: datetime
) -> None:
    """Keep a hashtag's id: Meta says hashtag ids are static and global, so ask once."""
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "insert into hashtag_ids (platform, tag, hashtag_id, found_at) values (?, ?, ?, ?)"
            " on conflict(platform, tag) do update set hashtag_id = excluded.hashtag_id,"
            " found_at = excluded.found_at",
            (platform, tag, value, iso(at)),
        )
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    if own:
        conn.execute("COMMIT")


def last_run(conn: sqlite3.Connection, collector: str) -> tuple[str | None, dict[str, Any]]:
    """The newest finished pass of `collector`: its end time and details ({} if none)."""
    row = conn.execute(
        "select ended_at, details from runs where collector = ? and ended_at is not null"
        " order by id desc limit 1",
        (collector,),
    ).fetchone()
    if row is None:
        return None, {}
    try:
        details = json.loads(row[1]) if row[1] else {}
    except ValueError:
        details = {}
    return row[0], details if isinstance(details, dict) else {}


def last_success(conn: sqlite3.Connection, collector: str) -> datetime | None:
    row = conn.execute(
        "select max(ended_at) from runs where collector = ? and status in ('ok', 'partial')",
        (collector,),
    ).fetchone()
    return parse_iso(row[0]) if row and row[0] else None
