"""Paid-read ledger and stream state: small tables collectors keep, written only here.

Collectors decide what to record (which resources X billed, what a stream's
cursor is); the SQL that records it lives in storage, the one writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

__all__ = ["record_paid_reads", "save_stream_state"]


def record_paid_reads(
    conn: sqlite3.Connection, platform: str, day: str, kind: str, ids: Sequence[str]
) -> int:
    """Enter resources read on `day` (UTC) into the ledger; returns how many were new that day.

    A resource already in the ledger for the same day and kind is not billed again
    (X bills each resource once per UTC day), so `insert or ignore` counts exactly
    what the day's bill grows by.
    """
    before = conn.total_changes
    conn.executemany(
        "insert or ignore into paid_reads (platform, day, kind, platform_id) values (?, ?, ?, ?)",
        [(platform, day, kind, i) for i in ids],
    )
    return conn.total_changes - before


def save_stream_state(
    conn: sqlite3.Connection,
    *,
    name: str,
    state: str,
    cursor: str | None,
    last_event_at: str | None,
    connected_at: str | None,
    error: str | None,
    updated_at: str,
) -> None:
    """A live stream's state, cursor and last error, as `tagwatch status` shows them."""
    conn.execute(
        "insert or replace into streams (name, state, cursor, last_event_at, connected_at,"
        " error, updated_at) values (?, ?, ?, ?, ?, ?, ?)",
        (name, state, cursor, last_event_at, connected_at, error, updated_at),
    )
