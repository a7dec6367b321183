"""What `tagwatch status` shows: read-only figures about the store and its collectors."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["StoreStatus", "CollectorHealth", "read_status"]


@dataclass
class CollectorHealth:
    collector: str
    last_status: str | None = None
    last_started: str | None = None
    last_ended: str | None = None
    last_error: str | None = None
    last_success: str | None = None
    consecutive_failures: int = 0
    last_new: int = 0
    last_requests: int = 0


@dataclass
class StoreStatus:
    path: str
    size_bytes: int
    posts_by_platform: dict[str, int] = field(default_factory=dict)
    deleted_by_platform: dict[str, int] = field(default_factory=dict)
    authors: int = 0
    first_post: str | None = None
    last_post: str | None = None
    collectors: list[CollectorHealth] = field(default_factory=list)


FAILED = ("failed", "error", "quota", "rate_limited")


def collector_health(conn: sqlite3.Connection) -> list[CollectorHealth]:
    names = [r[0] for r in conn.execute("select distinct collector from runs order by collector")]
    out = []
    for name in names:
        runs: list[Any] = list(
            conn.execute(
                "select * from runs where collector = ? and status != 'running'"
                " order by id desc limit 200",
                (name,),
            )
        )
        health = CollectorHealth(collector=name)
        if runs:
            last = runs[0]
            health.last_status = last["status"]
            health.last_started = last["started_at"]
            health.last_ended = last["ended_at"]
            health.last_error = last["error"]
            health.last_new = last["new_posts"] or 0
            health.last_requests = last["requests"] or 0
        for run in runs:
            if run["status"] in FAILED:
                health.consecutive_failures += 1
            else:
                break
        ok = conn.execute(
            "select max(ended_at) from runs where collector = ? and status in ('ok', 'partial')",
            (name,),
        ).fetchone()
        health.last_success = ok[0]
        out.append(health)
    return out


def read_status(conn: sqlite3.Connection, path: str | Path) -> StoreStatus:
    p = Path(path)
    size = sum(f.stat().st_size for f in (p, Path(f"{p}-wal"), Path(f"{p}-shm")) if f.exists())
    status = StoreStatus(path=str(p), size_bytes=size)
    for row in conn.execute(
        "select platform, sum(deleted = 0), sum(deleted = 1) from posts group by platform"
    ):
        status.posts_by_platform[row[0]] = row[1] or 0
        status.deleted_by_platform[row[0]] = row[2] or 0
    status.authors = conn.execute("select count(*) from authors").fetchone()[0]
    first, last = conn.execute(
        "select min(created_at), max(created_at) from posts where deleted = 0"
    ).fetchone()
    status.first_post, status.last_post = first, last
    status.collectors = collector_health(conn)
    return status
