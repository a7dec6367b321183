"""Concurrent access: the wall, reports, export and status read while a collector writes flat out.

One writer commits pages of posts as fast as SQLite takes them (with
engagement updates, upstream deletions and a VACUUM in between); readers in
other threads and the CLI in this one read all the while. No reader may see
"database is locked", and none may see half a page: every page is one
transaction, so the number of posts any reader counts is always a whole
number of pages, and every post it sees has its author and first snapshot.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tagwatch.monitor.cli import cli
from tagwatch.records import Author, Post
from tagwatch.reports import analysis
from tagwatch.reports.export import export_rows
from tagwatch.reports.wall.app import create_app
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store, connect
from tagwatch.storage.status import read_status
from tests.conftest import write_config_toml

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

PAGE = 25
SECONDS = 3.0
START = datetime(2016, 11, 24, 9, 0, tzinfo=UTC)


def _page(n: int) -> list[Post]:
    return [
        Post(
            platform="bluesky",
            platform_id=f"at://did:plc:w{i % 50}/app.bsky.feed.post/{n}-{i}",
            url=f"https://bsky.app/profile/w{i % 50}/post/{n}-{i}",
            author=Author(f"did:plc:w{i % 50}", f"w{i % 50}.bsky.social", f"Writer {i % 50}"),
            text=f"Page {n} post {i} on the assembly floor #HRHN2016 " + "words " * (i % 30),
            created_at=START + timedelta(seconds=n * PAGE + i),
            hashtags=("HRHN2016",),
            likes=i,
        )
        for i in range(PAGE)
    ]


def test_readers_never_see_locks_or_half_pages(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", "concurrency-token")
    config_dict["wall"] = {"moderation": "post"}
    config_path = write_config_toml(tmp_path / "config.toml", config_dict)
    config = parse_config(config_dict, path=config_path)
    writer = Store.open(config.db_path)
    writer.write_posts(_page(0))
    stop = threading.Event()
    errors: list[str] = []
    reads: dict[str, int] = {}
    pages = [1]

    def write() -> None:
        n = 1
        while not stop.is_set():
            writer.write_posts(_page(n))
            writer.update_engagement(
                "bluesky", _page(n - 1)[0].platform_id, likes=n, reposts=1, replies=0, quotes=0
            )
            if n % 40 == 0:
                writer.mark_deleted("bluesky", _page(n - 1)[1].platform_id)
            if n == 60:
                writer.vacuum()
            n += 1
            pages[0] = n

    def consistent() -> None:
        conn = connect(config.db_path, readonly=True)
        conn.execute("begin")  # one snapshot for both counts
        try:
            total = conn.execute("select count(*) from posts").fetchone()[0]
            half = conn.execute(
                "select count(*) from posts p where deleted = 0 and (not exists"
                " (select 1 from snapshots s where s.post_id = p.id) or not exists"
                " (select 1 from post_hashtags h where h.post_id = p.id) or not exists"
                " (select 1 from authors a where a.id = p.author_id))"
            ).fetchone()[0]
        finally:
            conn.execute("commit")
            conn.close()
        assert total % PAGE == 0, f"a reader saw {total} posts: part of a page"
        assert half == 0, f"{half} posts seen without their hashtags, snapshot or author"

    def report() -> None:
        conn = connect(config.db_path, readonly=True)
        try:
            end = START + timedelta(days=2)
            analysis.summary(conn, config.event, START, end)
            analysis.top_posts(conn, config.event, START, end, n=5)
            sum(1 for _ in export_rows(conn))
            read_status(conn, config.db_path)
        finally:
            conn.close()

    def loop(name: str, fn: Callable[[], None]) -> None:
        while not stop.is_set():
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - collected and asserted on below
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                return
            reads[name] = reads.get(name, 0) + 1

    with TestClient(create_app(config, poll_interval=0.01)) as wall:

        def poll_wall() -> None:
            response = wall.get("/api/wall")
            assert response.status_code == 200, response.text

        threads = [
            threading.Thread(target=loop, args=("writer", write)),
            threading.Thread(target=loop, args=("consistency", consistent)),
            threading.Thread(target=loop, args=("reports", report)),
            threading.Thread(target=loop, args=("wall", poll_wall)),
        ]
        for t in threads:
            t.start()
        runner = CliRunner()
        outputs = []
        deadline = time.monotonic() + SECONDS
        try:
            while time.monotonic() < deadline and not errors:
                for args in (["status"], ["export", "--format", "csv"]):
                    result = runner.invoke(cli, ["--config", str(config_path), *args])
                    outputs.append(result.output + str(result.exception or ""))
                    assert result.exit_code == 0, (args, result.output, result.exception)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
    writer.close()
    assert errors == []
    assert not any("locked" in out for out in outputs)
    assert pages[0] > 60, "the writer should have written (and vacuumed) during the reads"
    assert all(reads.get(name, 0) > 3 for name in ("consistency", "reports", "wall")), reads
