"""What `tagwatch status` shows of Threads and Instagram: ledger use, token and gap warnings.

`status_data` gives plain data for the JSON status (``platforms.threads``,
``platforms.instagram``); `status_lines` the same as text. Both read through a
read-only connection, so status needs no writer.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from tagwatch.collectors.instagram.collector import RECENT_REACH, gap_warning
from tagwatch.collectors.instagram.collector import WINDOW as IG_WINDOW
from tagwatch.collectors.meta.client import TOKEN_WARN_DAYS
from tagwatch.collectors.meta.collector import RENEW_HINT, expires_soon
from tagwatch.collectors.threads.collector import OWN_POSTS_ONLY
from tagwatch.collectors.threads.collector import WINDOW as THREADS_WINDOW
from tagwatch.records import iso
from tagwatch.settings import Config
from tagwatch.storage import quotas

__all__ = ["status_data", "status_lines"]


def _token_warning(
    config: Config, name: str, label: str, details: dict[str, Any], now: datetime
) -> str | None:
    when = expires_soon(details.get("token_expires_at"), now, TOKEN_WARN_DAYS)
    if when is None:
        return None
    env = (config.threads if name == "threads" else config.instagram).access_token_env
    verb = "expired" if when <= now else "expires"
    return f"the {label} token in {env} {verb} {when:%Y-%m-%d %H:%M} UTC. " + RENEW_HINT.format(
        label=label
    )


def _threads(conn: sqlite3.Connection, config: Config, now: datetime) -> dict[str, Any]:
    section = config.threads
    limit, reserve = int(section.daily_query_limit), int(section.query_reserve)
    since = now - THREADS_WINDOW
    used = quotas.queries_since(conn, "threads", since)
    oldest = quotas.oldest_since(conn, "threads", since)
    _, details = quotas.last_run(conn, "threads")
    warnings = []
    if details.get("own_posts_only"):
        warnings.append(OWN_POSTS_ONLY.format(owner=details.get("owner") or "?"))
    token = _token_warning(config, "threads", "Threads", details, now)
    if token:
        warnings.append(token)
    return {
        "queries_used_24h": used,
        "query_limit_24h": limit,
        "query_reserve": reserve,
        "queries_left": max(0, limit - reserve - used),
        "next_query_frees_at": iso(oldest + THREADS_WINDOW) if oldest else None,
        "own_posts_only": bool(details.get("own_posts_only")),
        "token_expires_at": details.get("token_expires_at"),
        "warnings": warnings,
    }


def _instagram(conn: sqlite3.Connection, config: Config, now: datetime) -> dict[str, Any]:
    section = config.instagram
    limit = int(section.weekly_hashtag_limit)
    since = now - IG_WINDOW
    used = quotas.distinct_queries_since(conn, "instagram", since)
    oldest = quotas.oldest_since(conn, "instagram", since)
    _, details = quotas.last_run(conn, "instagram")
    warnings = []
    if details.get("gap_hours"):
        warnings.append(gap_warning(float(details["gap_hours"])))
    success = quotas.last_success(conn, "instagram")
    if success is not None and now - success > RECENT_REACH:
        hours = (now - success).total_seconds() / 3600
        warnings.append(
            f"Instagram: the last successful pass was {hours:.0f} hours ago; recent_media "
            "reaches back 24 hours, so posts older than that are being lost: run a pass now."
        )
    token = _token_warning(config, "instagram", "Instagram", details, now)
    if token:
        warnings.append(token)
    return {
        "hashtags_used": len(used),
        "hashtag_limit": limit,
        "hashtags_left": max(0, limit - len(used)),
        "hashtags": used,
        "next_hashtag_frees_at": iso(oldest + IG_WINDOW) if oldest else None,
        "token_expires_at": details.get("token_expires_at"),
        "warnings": warnings,
    }


def status_data(config: Config, now: datetime) -> dict[str, dict[str, Any]]:
    """``{"threads": {...}, "instagram": {...}}`` for the enabled ones with a database."""
    from tagwatch.storage.db import connect

    enabled = [p for p in ("threads", "instagram") if config.platform(p).enabled]
    if not enabled or not config.db_path.exists():
        return {}
    conn = connect(config.db_path, readonly=True)
    try:
        if not quotas.has_ledger(conn):
            return {}
        out = {}
        if "threads" in enabled:
            out["threads"] = _threads(conn, config, now)
        if "instagram" in enabled:
            out["instagram"] = _instagram(conn, config, now)
        return out
    finally:
        conn.close()


def status_lines(config: Config, now: datetime) -> list[str]:
    return status_text(status_data(config, now))


def status_text(data: dict[str, dict[str, Any]]) -> list[str]:
    """`status_data` as `tagwatch status` prints it: ledger use and warnings."""
    lines = []
    t = data.get("threads")
    if t is not None:
        line = (
            f"Threads queries: {t['queries_used_24h']:,} of "
            f"{t['query_limit_24h'] - t['query_reserve']:,} usable in the last 24 hours "
            f"({t['query_limit_24h']:,} allowed, {t['query_reserve']:,} kept in reserve)"
        )
        if t["queries_left"] == 0 and t["next_query_frees_at"]:
            line += f"; the next fits at {t['next_query_frees_at']}"
        lines.append(line)
        lines += [f"  WARNING: {w}" for w in t["warnings"]]
    g = data.get("instagram")
    if g is not None:
        line = (
            f"Instagram hashtags: {g['hashtags_used']} of {g['hashtag_limit']} unique in the "
            f"last 7 days ({g['hashtags_left']} left)"
        )
        if g["hashtags_left"] == 0 and g["next_hashtag_frees_at"]:
            line += f"; one frees at {g['next_hashtag_frees_at']}"
        lines.append(line)
        lines += [f"  WARNING: {w}" for w in g["warnings"]]
    return lines
