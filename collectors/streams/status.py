"""What `tagwatch status` says about the live streams: state, lag, last event, last error."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from tagwatch.records import parse_iso

__all__ = ["status_lines", "stream_states", "stream_text"]


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def stream_states(
    conn: sqlite3.Connection, now: datetime, *, alive: bool = True
) -> dict[str, dict[str, Any]]:
    """Each stream as plain data (name -> state, since, last event, lag, last error).

    `alive`: whether a runner holds the database; without one a stream that
    says "connected" is only the last thing a killed runner wrote (`stale`).
    """
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute("select * from streams order by name"):
        state = row["state"] or None
        lag = None
        if row["last_event_at"]:
            lag = max((now - parse_iso(row["last_event_at"])).total_seconds(), 0.0)
        out[row["name"]] = {
            "state": state,
            "stale": not alive and (state or "-") not in ("stopped", "new"),
            "connected_at": row["connected_at"] or None,
            "last_event_at": row["last_event_at"] or None,
            "lag_seconds": lag,
            "last_error": row["error"] or None,
        }
    return out


def stream_text(streams: dict[str, dict[str, Any]]) -> list[str]:
    """One line per stream (and its last error); nothing when no stream ever ran."""
    if not streams:
        return []
    lines = ["Streams:"]
    for name, s in streams.items():
        state = s["state"] or "-"
        if s["stale"]:
            state = f"{state} (no runner)"
        line = f"  {name:<18} {state}"
        if s["connected_at"]:
            line += f" since {s['connected_at']}"
        if s["last_event_at"]:
            line += f"; last event {s['last_event_at']} (lag {_ago(s['lag_seconds'])})"
        else:
            line += "; no event yet"
        lines.append(line)
        if s["last_error"]:
            lines.append(f"      last error: {s['last_error']}")
    return lines


def status_lines(conn: sqlite3.Connection, now: datetime, *, alive: bool = True) -> list[str]:
    """`tagwatch status`'s lines about the live streams."""
    return stream_text(stream_states(conn, now, alive=alive))
