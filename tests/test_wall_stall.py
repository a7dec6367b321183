"""The wall never stalls: answers from memory while the database is locked, backed up, vacuumed.

Served by the real server (uvicorn in a thread, as `tagwatch wall` serves it), so a handler
that waited on SQLite inside the event loop would show as a slow or timed-out answer.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno

from tagwatch.reports.wall import app as wall_app
from tagwatch.reports.wall.access import BUSY_MESSAGE
from tagwatch.reports.wall.app import create_app
from tagwatch.reports.wall.feed import Change
from tagwatch.reports.wall.server import WallServer
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store, connect
from tests.conftest import ROOT, free_port, make_post
from tests.wall_support import caught_up

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TOKEN = "stall-token-0c4e9a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# An answer from memory takes milliseconds; this leaves room for a busy shared machine.
FAST = 0.5
# Everything a screen or a phone asks for without a token.
PUBLIC = ("/", "/api/wall", "/healthz", "/wall/theme.css", "/wall/qr.svg", "/wall/logo")


class Wall:
    """A served wall, its app (to reach its connections) and a collector's store."""

    def __init__(self, app: Any, store: Store, port: int):
        self.app, self.store = app, store
        self.url = f"http://127.0.0.1:{port}"
        self.server = WallServer(app, "127.0.0.1", port)
        self.server.start()

    def act(self, action: str, post_id: int, timeout: float = 30) -> httpx.Response:
        return httpx.post(
            self.url + "/api/moderation/action",
            json={"action": action, "post_id": post_id},
            headers=AUTH,
            timeout=timeout,
        )


@pytest.fixture
def served(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Wall]]:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    segno.make("logo").save(str(tmp_path / "logo.png"), kind="png", scale=4)
    walls: list[Wall] = []

    def make(posts: int = 3, text: str = "", **wall: Any) -> Wall:
        config_dict["event"]["url"] = "https://hrhn.example.org/2016"
        config_dict["wall"] = {"moderation": "post", "logo": "logo.png", **wall}
        config = parse_config(config_dict, path=tmp_path / "config.toml")
        store = Store.open(config.db_path)
        batch = [make_post(n, text=f"Post {n} #HRHN2016 {text}") for n in range(1, posts + 1)]
        for start in range(0, len(batch), 1000):
            store.write_posts(batch[start : start + 1000])
        w = Wall(create_app(config, poll_interval=0.1), store, free_port())
        walls.append(w)
        return w

    yield make
    for w in walls:
        assert w.server.stop(), "the wall did not stop"
        w.store.close()


class Screen:
    """One open wall: reads the event stream in a thread, noting when each post arrives."""

    def __init__(self, url: str):
        self.url = url
        self.arrived: dict[int, float] = {}
        self.removed: dict[int, float] = {}
        self.events: list[str] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            timeout = httpx.Timeout(5.0, read=30.0)
            with httpx.stream("GET", self.url + "/api/wall/events", timeout=timeout) as r:
                event = ""
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                        self.events.append(event)
                    elif line.startswith("data: ") and event in ("reset", "update"):
                        data = json.loads(line[6:])
                        now = time.monotonic()
                        for p in data["show"]:
                            self.arrived.setdefault(p["id"], now)
                        for i in data["remove"]:
                            self.removed.setdefault(i, now)
        except BaseException as exc:  # noqa: BLE001 - asserted on by the test
            self.error = exc

    def wait_for(self, check: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def timed_get(client: httpx.Client, path: str, **kw: Any) -> tuple[float, httpx.Response]:
    start = time.monotonic()
    r = client.get(path, **kw)
    return time.monotonic() - start, r


def test_unauthenticated_requests_are_answered_from_memory_with_the_database_blocked(served):
    """Every connection of the wall blocks on its next statement: the public routes still
    answer at once (so none of them touches SQLite), the blocked poll only delays the next
    update, and a moderator's query waits in a worker thread, not in the event loop."""
    wall = served()
    h = wall.app.state.handlers
    release = threading.Event()
    blocked_in: set[str] = set()

    def gate() -> int:
        blocked_in.add(threading.current_thread().name)
        release.wait(20)
        return 0

    with httpx.Client(base_url=wall.url, timeout=3) as c:
        caught_up(c, wall.app.state.db_path)
        seq = c.get("/api/wall").json()["seq"]
        hub = wall.app.state.hub
        deadline = time.monotonic() + 5
        while not hub.stats and time.monotonic() < deadline:  # the first count is made
            time.sleep(0.01)
        for conn in (wall.app.state.feed.conn, hub.stats_conn, h.reads.resource, h.writer.conn):
            conn.set_progress_handler(gate, 1)
        late = wall.store.write_posts([make_post(50)]).new_ids[0]
        deadline = time.monotonic() + 5
        while not blocked_in and time.monotonic() < deadline:
            time.sleep(0.01)
        assert blocked_in, "the hub's poll should be stuck on the blocked connection"
        # A moderator's query, stuck on the database, in the background.
        log: dict[str, Any] = {}
        moderator = threading.Thread(
            target=lambda: log.update(r=httpx.get(wall.url + "/api/moderation/log", headers=AUTH))
        )
        moderator.start()
        try:
            for path in PUBLIC + (f"/api/wall?since={seq}", "/static/wall.js"):
                took, r = timed_get(c, path)
                assert r.status_code == 200, (path, r.text)
                assert took < FAST, f"{path} took {took:.2f} s with the database blocked"
            assert late not in {p["id"] for p in c.get("/api/wall").json()["show"]}
            for headers in ({}, {"Last-Event-ID": str(seq)}):
                start = time.monotonic()
                with c.stream("GET", "/api/wall/events", headers=headers) as r:
                    kinds = []
                    for line in r.iter_lines():
                        if line.startswith("event: "):
                            kinds.append(line[7:])
                        if "stats" in kinds:
                            break
                assert time.monotonic() - start < FAST, "the event stream waited"
                assert kinds[-1] == "stats" and set(kinds) <= {"reset", "update", "stats"}
            assert moderator.is_alive(), "the moderator's query should be waiting on the database"
        finally:
            release.set()
        # The loop never ran a statement itself: every blocked one was in a worker thread.
        assert "tagwatch-wall" not in blocked_in, blocked_in
        moderator.join(10)
        assert log["r"].status_code == 200
        caught_up(c, wall.app.state.db_path)
        assert late in {p["id"] for p in c.get("/api/wall").json()["show"]}


def test_a_moderation_write_on_a_locked_database_answers_503_and_loses_nothing(
    config_dict, tmp_path, monkeypatch
):
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    monkeypatch.setattr(wall_app, "WAIT_MS", 200)  # the wall gives up after 0.2 s here
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    store = Store.open(config.db_path)
    post_id = store.write_posts([make_post(1)]).new_ids[0]
    vacuum = connect(config.db_path)  # holds the write lock as a VACUUM does
    with TestClient(create_app(config, poll_interval=0.02)) as client:
        vacuum.execute("BEGIN EXCLUSIVE")
        try:
            start = time.monotonic()
            r = client.post(
                "/api/moderation/action",
                json={"action": "approve", "post_id": post_id},
                headers=AUTH,
            )
            assert time.monotonic() - start < 5
            assert r.status_code == 503
            assert r.json() == {"error": BUSY_MESSAGE}
            assert r.headers["retry-after"] == "5"
            # Unauthenticated polls go on meanwhile.
            assert client.get("/api/wall").status_code == 200
        finally:
            vacuum.execute("COMMIT")
        assert store.conn.execute("select count(*) from moderation_log").fetchone()[0] == 0
        assert store.conn.execute("select count(*) from moderation").fetchone()[0] == 0
        # Try again, as the message says: it goes through, once.
        r = client.post(
            "/api/moderation/action", json={"action": "approve", "post_id": post_id}, headers=AUTH
        )
        assert r.status_code == 200 and r.json()["on_wall"] is True
        logged = store.conn.execute("select action, post_id from moderation_log").fetchall()
        assert [tuple(row) for row in logged] == [("approve", post_id)]
    vacuum.close()
    store.close()


BACKUP_AND_VACUUM = """
import sys, time
from pathlib import Path
from tagwatch.storage.backup import take_backup
from tagwatch.storage.db import Store
db, out = Path(sys.argv[1]), Path(sys.argv[2])
start = time.monotonic()
result = take_backup(db, out, keep=2)
print(f"backup {time.monotonic() - start:.2f} s {result.posts} posts")
store = Store.open(db)
start = time.monotonic()
store.vacuum()
print(f"vacuum {time.monotonic() - start:.2f} s")
store.close()
"""


def test_a_wall_stays_live_while_the_database_runs_a_backup_and_a_vacuum(served, tmp_path):
    wall = served(posts=10_000, text="lorem ipsum dolor sit amet " * 40)
    db = wall.app.state.db_path
    screen = Screen(wall.url)
    assert screen.wait_for(lambda: "reset" in screen.events)
    stop = threading.Event()
    answers: list[tuple[str, float, int]] = []

    def probe() -> None:
        with httpx.Client(base_url=wall.url, timeout=5) as c:
            while not stop.is_set():
                for path in PUBLIC:
                    took, r = timed_get(c, path)
                    answers.append((path, took, r.status_code))
                time.sleep(0.02)

    stored: dict[int, float] = {}

    def collect() -> None:
        # A collector at its own pace, through its own store: waits on the locks itself.
        collector = Store.open(db)
        n = 20_000
        while not stop.is_set():
            n += 1
            post_id = collector.write_posts([make_post(n)]).new_ids[0]
            stored[post_id] = time.monotonic()
            time.sleep(0.1)
        collector.close()

    threads = [threading.Thread(target=probe), threading.Thread(target=collect)]
    for t in threads:
        t.start()
    try:
        # 1. A lock held for 3 s, as a long VACUUM holds it; a moderator acts meanwhile.
        locker = connect(db)
        locker.execute("BEGIN EXCLUSIVE")
        moderation: dict[str, Any] = {}
        acting = threading.Thread(target=lambda: moderation.update(r=wall.act("hide", 1)))
        acting.start()
        time.sleep(3)
        locker.execute("COMMIT")
        locker.close()
        acting.join(30)
        during_lock = len(answers)
        # 2. The real backup and a real VACUUM, from another process.
        done = subprocess.run(
            [sys.executable, "-c", BACKUP_AND_VACUUM, str(db), str(tmp_path / "backups")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert during_lock >= 10, "too few answers to judge the wall by"
    slow = [(path, round(took, 2)) for path, took, _ in answers if took >= FAST]
    assert not slow, f"answers slower than {FAST} s: {slow}"
    assert {status for _, _, status in answers} == {200}
    # The moderator's action went through once the lock was gone (or was refused, then
    # it is tried again): either way it is applied once and nothing is lost.
    r = moderation["r"]
    assert r.status_code in (200, 503), r.text
    if r.status_code == 503:
        assert wall.act("hide", 1).status_code == 200
    log = wall.store.conn.execute("select action, post_id from moderation_log").fetchall()
    assert [tuple(row) for row in log] == [("hide", 1)]
    # The wall caught up with every post stored during and after the lock, and the hide.
    assert screen.wait_for(lambda: set(stored) <= set(screen.arrived) and 1 in screen.removed)
    late = [screen.arrived[i] - t for i, t in stored.items()]
    assert len(stored) >= 5 and screen.error is None
    assert "backup" in done.stdout and "vacuum" in done.stdout
    print(
        done.stdout,
        f"{len(answers)} answers, slowest {max(a[1] for a in answers):.3f} s,"
        f" stored -> screen max {max(late):.2f} s",
    )


def test_an_update_is_serialised_once_for_all_walls_and_afresh_for_a_late_replay(config, store):
    """200 phones get the same bytes (one json.dumps a burst, not 200); a wall replaying
    it later gets the current `now`, which sets its clock."""
    clock = [datetime(2016, 11, 24, 13, 0, tzinfo=UTC)]
    app = create_app(config, now=lambda: clock[0])
    h = app.state.handlers
    change = Change(7, show=[{"id": 1, "text": "hi"}])
    first = h._wire(change)
    clock[0] += timedelta(minutes=5)
    assert h._wire(change) is first  # the same message for every open wall
    assert json.loads(first.split("data: ", 1)[1])["now"] == "2016-11-24T13:00:00.000000Z"
    change.wire_at -= 2  # sent two seconds ago: a replay gets today's clock
    late = h._wire(change)
    assert json.loads(late.split("data: ", 1)[1])["now"] == "2016-11-24T13:05:00.000000Z"
    assert late.startswith("id: 7\nevent: update\n")
    h.close()


def test_a_poll_meeting_a_lock_is_retried_and_the_moderators_queue_says_try_again(
    config_dict, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    config_dict["wall"] = {"moderation": "post"}
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    store = Store.open(config.db_path)
    with TestClient(create_app(config, poll_interval=0.02)) as client:
        feed = client.app.state.feed

        def locked() -> None:
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(feed, "fetch", locked)
        r = client.get("/api/moderation/posts", headers=AUTH)
        assert r.status_code == 503 and r.json() == {"error": BUSY_MESSAGE}
        assert client.get("/api/wall").status_code == 200
        deadline = time.monotonic() + 5
        while "the database is busy" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "the screens update once it is free" in caplog.text
        monkeypatch.undo()
        post_id = store.write_posts([make_post(1)]).new_ids[0]
        caught_up(client)  # the hub kept polling and caught up
        assert [p["id"] for p in client.get("/api/wall").json()["show"]] == [post_id]
        assert client.get("/api/moderation/posts", headers=AUTH).status_code == 200
    store.close()
