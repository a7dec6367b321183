"""End to end: the real scheduler and real collectors against the loopback fakes.

Nothing of ours is replaced here: `tagwatch run` and `tagwatch collect` run as
subprocesses with the registry's BlueskyCollector and the real atproto client,
pointed at `tagwatch.collectors.fakes.bluesky.FakeBluesky` in this process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.collectors.bluesky import forget_sessions
from tagwatch.collectors.fakes.bluesky import FakeBluesky
from tagwatch.monitor.runner import Runner
from tagwatch.settings import load_config
from tagwatch.storage.db import connect

ROOT = Path(__file__).resolve().parent.parent
HANDLE = "tagwatch.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
SEARCH = "app.bsky.feed.searchPosts"
CREATE = "com.atproto.server.createSession"
TOTAL = 30
PAGE = 3


def slow_search(nsid: str, _params: dict[str, list[str]]) -> None:
    """A slow platform, so a pass is still paging when the signal comes."""
    if nsid == SEARCH:
        time.sleep(0.25)


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    forget_sessions()
    with FakeBluesky(page_size=PAGE) as server:
        server.add_account(HANDLE, PASSWORD)
        now = datetime.now(UTC)
        for i in range(TOTAL):
            server.add_post(
                f"user{i % 4}.bsky.social",
                f"Post {i} from the assembly #HRHN2016",
                created_at=now - timedelta(minutes=TOTAL - i),
            )
        yield server
    forget_sessions()


def config_text(fake: FakeBluesky, interval_minutes: float) -> str:
    today = datetime.now(UTC).date()
    return textwrap.dedent(
        f"""\
        [event]
        name = "Test Assembly"
        hashtags = ["HRHN2016"]
        timezone = "UTC"
        start = {today - timedelta(days=1)}
        end = {today + timedelta(days=1)}

        [storage]
        path = "test.db"

        [bluesky]
        enabled = true
        service = "{fake.url}"
        interval_minutes = {interval_minutes}

        [schedule]
        jitter_seconds = 0.0
        log_file = "run.log"
        """
    )


def tagwatch(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TAGWATCH_BLUESKY_HANDLE": HANDLE,
        "TAGWATCH_BLUESKY_APP_PASSWORD": PASSWORD,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tagwatch.monitor.cli", "--config", str(config), *args],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def count(db: Path, sql: str) -> Any:
    if not db.exists():
        return 0
    conn = connect(db, readonly=True)
    try:
        return conn.execute(sql).fetchone()[0]
    except Exception:  # noqa: BLE001 - schema not there yet
        return 0
    finally:
        conn.close()


def test_sigterm_mid_pass_then_resume_against_the_fake(tmp_path: Path, fake: FakeBluesky) -> None:
    config = tmp_path / "config.toml"
    config.write_text(config_text(fake, interval_minutes=60), encoding="utf-8")
    db = tmp_path / "test.db"
    fake.on_request = slow_search
    runner = tagwatch(config, "run")
    try:
        deadline = time.monotonic() + 30
        while count(db, "select count(*) from posts") < 2 * PAGE:
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "no posts stored"
            time.sleep(0.05)
        runner.send_signal(signal.SIGTERM)
        _, err = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
    assert runner.returncode == 0, err
    conn = connect(db, readonly=True)
    first = conn.execute("select * from runs").fetchall()
    stored = conn.execute("select count(*) from posts").fetchone()[0]
    conn.close()
    assert [(r["status"], r["error"]) for r in first] == [
        ("interrupted", "stopped before the pass finished")
    ]
    assert first[0]["new_posts"] == stored < TOTAL

    fake.on_request = None
    searches_before = fake.count(SEARCH)
    again = tagwatch(config, "collect")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    conn = connect(db, readonly=True)
    runs = conn.execute("select * from runs order by id").fetchall()
    uris = {r[0] for r in conn.execute("select platform_id from posts")}
    conn.close()
    # No gap: every post of the platform is stored; no duplicate: each counted once.
    assert uris == set(fake.posts) and len(uris) == TOTAL
    assert sum(r["new_posts"] for r in runs) == TOTAL
    assert out.startswith(f"bluesky: ok, {TOTAL - stored} new")
    # Resumed where it stopped instead of reading everything again.
    assert fake.count(SEARCH) - searches_before < TOTAL // PAGE
    # The login was reused across the two processes.
    assert fake.count(CREATE) == 1


def test_runner_keeps_collecting_new_posts_with_one_login(
    tmp_path: Path, fake: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGWATCH_BLUESKY_HANDLE", HANDLE)
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", PASSWORD)
    # A first pass of ten slow pages outlasts the 0.4 s interval several times over.
    fake.on_request = lambda nsid, _params: time.sleep(0.1) if nsid == SEARCH else None
    (tmp_path / "config.toml").write_text(config_text(fake, interval_minutes=0.4 / 60))
    config = load_config(tmp_path / "config.toml")
    runner = Runner(config)
    runner.start()
    try:
        db = config.db_path

        def wait_for_posts(n: int) -> None:
            deadline = time.monotonic() + 20
            while count(db, "select count(*) from posts") < n:
                assert time.monotonic() < deadline, f"never reached {n} posts"
                time.sleep(0.05)

        wait_for_posts(TOTAL)
        for i in range(4):
            fake.add_post("late.bsky.social", f"Late post {i} #HRHN2016")
        wait_for_posts(TOTAL + 4)
        passes_before = count(db, "select count(*) from runs where status = 'ok'")
        deadline = time.monotonic() + 10
        while count(db, "select count(*) from runs where status = 'ok'") < passes_before + 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        runner.stop()
    assert count(db, "select count(*) from posts") == TOTAL + 4
    assert count(db, "select sum(new_posts) from runs") == TOTAL + 4
    # stop() may land during a pass, which is then recorded as interrupted; nothing else may fail
    assert count(db, "select count(*) from runs where status not in ('ok', 'interrupted')") == 0
    assert fake.count(CREATE) == 1, "a pass logged in again instead of reusing the session"
    conn = connect(db, readonly=True)
    runs = conn.execute("select started_at, ended_at from runs order by id").fetchall()
    conn.close()
    assert runs[0]["ended_at"] > runs[0]["started_at"]
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later["started_at"] >= earlier["ended_at"], "two passes of bluesky overlapped"


def test_a_dead_mastodon_instance_does_not_stop_bluesky(
    tmp_path: Path, fake: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tagwatch.collectors.fakes.mastodon import FakeMastodon

    monkeypatch.setenv("TAGWATCH_BLUESKY_HANDLE", HANDLE)
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", PASSWORD)
    dead = FakeMastodon().start()
    dead.go_down()  # the port now refuses connections
    interval = 0.4 / 60
    (tmp_path / "config.toml").write_text(
        config_text(fake, interval_minutes=interval)
        + f'\n[mastodon]\nenabled = true\ninstances = ["{dead.base_url}"]\n'
        f"interval_minutes = {interval}\n\n[collect]\nmax_retries = 0\n"
    )
    config = load_config(tmp_path / "config.toml")
    runner = Runner(config)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while runner.failures.get("mastodon", 0) < 3 or len(runner.records.get("bluesky", ())) < 3:
            assert time.monotonic() < deadline, (runner.failures, runner.records)
            time.sleep(0.05)
    finally:
        runner.stop()
    db = config.db_path
    assert count(db, "select count(*) from posts where platform = 'bluesky'") == TOTAL
    # stop() may land during a bluesky pass, which is then recorded as interrupted; it never failed
    assert (
        count(
            db,
            "select count(*) from runs where collector = 'bluesky'"
            " and status not in ('ok', 'interrupted')",
        )
        == 0
    )
    assert (
        count(db, "select count(*) from runs where collector = 'mastodon' and status = 'ok'") == 0
    )
    # Every failed pass names the dead instance (one that stop() interrupted says so instead).
    errors = {r.error for r in runner.records["mastodon"] if r.status != "interrupted"}
    assert errors and all(e and dead.domain in e for e in errors), errors
