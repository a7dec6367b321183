"""Alerts as `tagwatch status` (text and `--json`) and the digest list them.

Plain data first (JSON-ready), lines for people second, like the rest of status.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from tagwatch.storage import alerts as db

__all__ = ["alerts_status", "alerts_text", "alerts_between"]

SHOWN = 10


def alerts_status(conn: sqlite3.Connection, *, enabled: bool, now: datetime) -> dict[str, Any]:
    """`alerts.enabled`, `alerts.open` (still on) and `alerts.last_24h` (newest first)."""
    if not db.has_alerts(conn):
        return {"enabled": enabled, "open": [], "last_24h": []}
    return {
        "enabled": enabled,
        "open": [db.with_deliveries(conn, a) for a in db.open_alerts(conn)][:SHOWN],
        "last_24h": db.alerts_since(conn, now - timedelta(hours=24), limit=SHOWN),
    }


# The digest (a report) reads through storage directly; kept here for callers of the monitor.
alerts_between = db.alerts_between


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
