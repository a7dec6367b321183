"""Helpers for tests of the live wall.

The wall answers its polls from memory and its hub polls the database in a worker thread
(`reports/wall/hub.py`), so a post stored by a test reaches `/api/wall` at the hub's next
tick, not at once. `caught_up` waits for that tick instead of sleeping a guessed time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tagwatch.storage.db import connect

__all__ = ["caught_up"]


def caught_up(client: Any, db_path: str | Path | None = None, timeout: float = 10.0) -> None:
    """Wait until the wall (a TestClient, or an httpx client on its URL with `db_path`) has
    in memory every wall event in its database: `/healthz` seq reaches the newest event."""
    conn = connect(db_path or client.app.state.db_path, readonly=True)
    try:
        newest = int(conn.execute("select coalesce(max(id), 0) from wall_events").fetchone()[0])
    finally:
        conn.close()
    deadline = time.monotonic() + timeout
    while client.get("/healthz").json()["seq"] < newest:
        if time.monotonic() > deadline:
            raise AssertionError(f"the wall did not catch up with wall event {newest}")
        time.sleep(0.01)
