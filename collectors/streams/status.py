"""What `tagwatch status` says about the live streams: state, lag, last event, last error."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from storage.records import parse_iso

__all__ = ["status_lines"]


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def status_lines(conn: sqlite3.Connection, now: datetime, *, alive: bool = True) -> list[str]:
    """One line per stream (and its last error); nothing when no stream ever ran.

    `alive`: whether a runner holds the database; without one a stream that
    says "connected" is only the last thing a killed runner wrote.
    """
    rows = list(conn.execute("select * from streams order by name"))
    if not rows:
        return []
    lines = ["Streams:"]
    for row in rows:
        state = row["state"] or "-"
        if not alive and state not in ("stopped", "new"):
            state = f"{state} (no runner)"
        line = f"  {row['name']:<18} {state}"
        if row["connected_at"]:
            line += f" since {row['connected_at']}"
        if row["last_event_at"]:
            lag = (now - parse_iso(row["last_event_at"])).total_seconds()
            line += f"; last event {row['last_event_at']} (lag {_ago(max(lag, 0.0))})"
        else:
            line += "; no event yet"
        lines.append(line)
        if row["error"]:
            lines.append(f"      last error: {row['error']}")
    return lines
