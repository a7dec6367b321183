"""Crash safety: `tagwatch collect` killed with SIGKILL mid-backfill loses nothing.

The fake Bluesky runs in this (the parent) process, so it and the posts it
holds survive every kill; each child is a real `tagwatch collect` process with
its own interpreter, database connection, session file and runner lock. The
kernel gives no warning to SIGKILL: no `finally`, no atexit, no ROLLBACK. What
must hold anyway: the file passes `PRAGMA integrity_check`, no post is stored
twice, the lock is free for the next process, and the next pass finishes the
backfill with every post the fake holds.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.collectors.fakes.bluesky import FakeBluesky
from tagwatch.monitor.lock import RunnerLock
from tests.conftest import ROOT, base_config_dict, write_config_toml

HANDLE = "crash.bsky.social"
PASSWORD = "crsh-test-pass-word"
SEARCH = "app.bsky.feed.searchPosts"
POSTS = 2500
PAGE = 20
KILLS = 20


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky(page_size=PAGE) as server:
        server.add_account(HANDLE, PASSWORD)
        now = datetime.now(UTC).replace(microsecond=0)
        for i in range(POSTS):
            server.add_post(
                f"voice{i % 40}.bsky.social",
                f"Backfill post {i} from the assembly #HRHN2016",
                created_at=now - timedelta(minutes=1, seconds=20 * i),
            )
        yield server


def _config(tmp_path: Path, fake: FakeBluesky) -> Path:
    data: dict[str, Any] = base_config_dict(tmp_path)
    today = datetime.now(UTC).date()
    data["event"].update(
        {"timezone": "UTC", "start": today - timedelta(days=1), "end": today + timedelta(days=1)}
    )
    data["bluesky"] = {"enabled": True, "service": fake.url}
    data["collect"] = {"max_pages_per_pass": 10_000, "refresh_requests_per_pass": 1}
    return write_config_toml(tmp_path / "config.toml", data)


def _collect(config: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TAGWATCH_BLUESKY_HANDLE": HANDLE,
        "TAGWATCH_BLUESKY_APP_PASSWORD": PASSWORD,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tagwatch.monitor.cli", "--config", str(config), "collect"],
        env=env,
        cwd=str(config.parent),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _check_db(db: Path) -> set[str]:
    """Integrity, no duplicates; returns the stored post ids."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("pragma foreign_key_check").fetchall() == []
        dup_ids = conn.execute(
            "select platform, platform_id from posts group by 1, 2 having count(*) > 1"
        ).fetchall()
        assert dup_ids == []
        dup_text = conn.execute(
            "select text from posts where deleted = 0 group by text having count(*) > 1"
        ).fetchall()
        assert dup_text == []
        # Every stored post is whole: its hashtags and first snapshot came in the same commit.
        half = conn.execute(
            "select count(*) from posts p where deleted = 0 and (text = '' or not exists"
            " (select 1 from post_hashtags h where h.post_id = p.id) or not exists"
            " (select 1 from snapshots s where s.post_id = p.id))"
        ).fetchone()[0]
        assert half == 0
        return {r[0] for r in conn.execute("select platform_id from posts where deleted = 0")}
    finally:
        conn.close()


def test_sigkill_mid_backfill_loses_nothing(tmp_path: Path, fake: FakeBluesky) -> None:
    config = _config(tmp_path, fake)
    db = tmp_path / "test.db"
    rng = random.Random(int(os.environ.get("TAGWATCH_CRASH_SEED", "12")))
    expected = {p.uri for p in fake.posts.values()}
    progressed = threading.Condition()

    def on_request(nsid: str, params: dict[str, list[str]]) -> None:
        with progressed:
            progressed.notify_all()

    fake.on_request = on_request
    stored_before = 0
    mid_backfill = 0
    for _ in range(KILLS):
        start = fake.count(SEARCH)
        pages = rng.randint(0, 6)  # 0: die while starting up or logging in
        child = _collect(config)
        deadline = time.monotonic() + 30
        with progressed:
            while fake.count(SEARCH) < start + pages and child.poll() is None:
                assert time.monotonic() < deadline, "the child made no progress"
                progressed.wait(0.05)
        time.sleep(rng.uniform(0, 0.03))  # land anywhere inside the page's work
        child.send_signal(signal.SIGKILL)
        child.wait()
        if db.exists():
            stored = _check_db(db)
            assert stored <= expected
            assert len(stored) >= stored_before  # nothing committed is ever lost
            mid_backfill += 0 < len(stored) < len(expected)
            stored_before = len(stored)
        # The kernel freed the lock with the process: the next runner may start.
        RunnerLock(db).acquire().release()
    assert mid_backfill >= KILLS // 2, "the kills should land in the middle of the backfill"

    final = _collect(config)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err.decode()
    assert _check_db(db) == expected
    # Each killed pass is on record as interrupted (status shows it), none stays 'running'.
    conn = sqlite3.connect(db)
    statuses = [r[0] for r in conn.execute("select status from runs")]
    conn.close()
    assert "running" not in statuses
    assert statuses.count("interrupted") >= KILLS // 2  # kills during start-up precede any run
