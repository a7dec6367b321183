"""Alerts as `tagwatch status` (text and `--json`) and the digest list them.

Plain data first (JSON-ready), lines for people second, like the rest of status.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from tagwatch.records import iso
from tagwatch.storage import alerts as db

__all__ = ["alerts_status", "alerts_text", "alerts_between"]

SHOWN = 10


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "select 1 from sqlite_master where type = 'table' and name = 'alerts'"
    ).fetchone()
    return row is not None


def _with_deliveries(conn: sqlite3.Connection, alert: db.AlertRow) -> dict[str, Any]:
    out = alert.as_dict()
    out["deliveries"] = [
        {k: d[k] for k in ("channel", "message", "status", "reason", "sent_at")}
        for d in db.deliveries_of(conn, alert.id)
    ]
    return out


def alerts_status(conn: sqlite3.Connection, *, enabled: bool, now: datetime) -> dict[str, Any]:
    """`alerts.enabled`, `alerts.open` (still on) and `alerts.last_24h` (newest first)."""
    if not _has_tables(conn):
        return {"enabled": enabled, "open": [], "last_24h": []}
    recent = db.recent_alerts(conn, since=now - timedelta(hours=24), limit=SHOWN)
    return {
        "enabled": enabled,
        "open": [_with_deliveries(conn, a) for a in db.open_alerts(conn)][:SHOWN],
        "last_24h": [_with_deliveries(conn, a) for a in recent],
    }


def alerts_between(
    conn: sqlite3.Connection, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Alerts fired in [start, end), oldest first: the digest's summary of the day."""
    if not _has_tables(conn):
        return []
    rows = db.recent_alerts(conn, since=start, limit=500)
    return [
        _with_deliveries(conn, a) for a in reversed(rows) if iso(start) <= a.fired_at < iso(end)
    ]


def _line(a: dict[str, Any]) -> str:
    sent = [d for d in a["deliveries"] if d["message"] == "alert"]
    how = ", ".join(
        f"{d['channel']} {d['status']}" + (f" ({d['reason']})" if d["reason"] else "") for d in sent
    )
    state = "ON" if a["resolved_at"] is None else f"back to normal {a['resolved_at'][11:16]}"
    return f"  {a['fired_at'][:16].replace('T', ' ')} UTC  {a['title']}  [{state}]" + (
        f"; {how}" if how else ""
    )


def alerts_text(data: dict[str, Any]) -> list[str]:
    if not data["enabled"] and not data["last_24h"]:
        return []
    if not data["last_24h"]:
        return ["Alerts: none in the last 24 h"]
    lines = [f"Alerts in the last 24 h ({len(data['last_24h'])} shown, newest first):"]
    return lines + [_line(a) for a in data["last_24h"]]
