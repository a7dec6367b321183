"""The live wall through Starlette's test client: rules, moderation API, event stream."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tagwatch.errors import ConfigError, UsageError
from tagwatch.monitor.cli import cli
from tagwatch.records import Author
from tagwatch.reports.analysis import summary
from tagwatch.reports.wall.app import CSP, bind_address, create_app
from tagwatch.reports.wall.feed import WallFeed
from tagwatch.reports.wall.rules import WallRules, WordFilter, fold
from tagwatch.settings import parse_config
from tagwatch.storage import moderation as mod
from tagwatch.storage.db import Store, connect
from tests.conftest import make_post
from tests.wall_support import caught_up

with warnings.catch_warnings():
    # Starlette 1.x nudges towards `httpx2`; the httpx client it wraps works the same here.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TOKEN = "test-token-5f1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# 14:20 in Belgrade on the first day: the Azerbaijan session is running.
NOW = datetime(2016, 11, 24, 13, 20, tzinfo=UTC)
# The wall's "today" at NOW: 24 November in Belgrade (UTC+1).
DAY_START, DAY_END = datetime(2016, 11, 23, 23, tzinfo=UTC), datetime(2016, 11, 24, 23, tzinfo=UTC)

Wall = Callable[..., tuple[TestClient, Store]]


@pytest.fixture
def wall(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Wall]:
    """Factory: a running wall app (test client) over a fresh store, with [wall] overrides."""
    opened: list[tuple[TestClient, Store]] = []

    def make(token: str | None = TOKEN, **settings: Any) -> tuple[TestClient, Store]:
        if token is None:
            monkeypatch.delenv("TAGWATCH_WALL_TOKEN", raising=False)
        else:
            monkeypatch.setenv("TAGWATCH_WALL_TOKEN", token)
        config_dict["wall"] = settings
        config_dict["event"]["sessions"] = [
            {
                "title": "Azerbaijan: released, but not free",
                "start": datetime(2016, 11, 24, 14, 0),
                "end": datetime(2016, 11, 24, 15, 30),
                "prompt": "Send your message with #HRHN2016",
            }
        ]
        config = parse_config(config_dict, path=tmp_path / "config.toml")
        store = Store.open(config.db_path)
        client = TestClient(create_app(config, now=lambda: NOW, poll_interval=0.02))
        client.__enter__()
        opened.append((client, store))
        return client, store

    yield make
    for client, store in opened:
        client.__exit__(None, None, None)
        store.close()


def shown(client: TestClient) -> dict[int, dict[str, Any]]:
    caught_up(client)
    return {p["id"]: p for p in client.get("/api/wall").json()["show"]}


def act(client: TestClient, action: str, post_id: Any) -> Any:
    return client.post(
        "/api/moderation/action", json={"action": action, "post_id": post_id}, headers=AUTH
    )


def store_post(store: Store, n: int, **overrides: Any) -> int:
    result = store.write_posts([make_post(n, **overrides)])
    return result.new_ids[0]


# -- rules --------------------------------------------------------------------------


def test_fold_ignores_case_accents_and_compatibility_forms():
    assert fold("Čačak ÉCOLE") == "cacak ecole"
    assert fold("ＳＰＡＭ") == "spam"  # full-width letters
    assert fold("  two\n words ") == "two words"


def test_word_filter_matches_whole_words_and_phrases_case_and_accent_insensitively():
    f = WordFilter(["traitor", "go home", "Šljam"])
    assert f.match("You are a TRAITOR!") == "traitor"
    assert f.match("TRAÏTOR") == "traitor"
    assert f.match("just go   Home now") == "go home"
    assert f.match("sljam") == "sljam"
    assert f.match("traitors") is None  # whole words only: no Scunthorpe problem
    assert f.match("the traitorous") is None
    assert f.match(None, "", "nothing here") is None
    assert WordFilter([]).match("anything") is None


def test_unknown_moderation_mode_is_a_config_error(config_dict, tmp_path):
    config_dict["wall"] = {"moderation": "open"}
    with pytest.raises(ConfigError, match="wall.moderation must be 'pre' or 'post'"):
        parse_config(config_dict, path=tmp_path / "config.toml")  # by the loader (#19)


# -- what reaches the wall ------------------------------------------------------------


def test_pre_moderation_shows_only_approved_posts(wall):
    client, store = wall()
    a, b = store_post(store, 1), store_post(store, 2)
    assert shown(client) == {}
    assert act(client, "approve", a).json()["on_wall"] is True
    assert set(shown(client)) == {a}
    assert b not in shown(client)


def test_hide_removes_a_post_and_the_poll_reports_the_removal(wall):
    client, store = wall()
    a = store_post(store, 1)
    act(client, "approve", a)
    caught_up(client)
    seq = client.get("/api/wall").json()["seq"]
    act(client, "hide", a)
    caught_up(client)
    update = client.get(f"/api/wall?since={seq}").json()
    assert update["reset"] is False
    assert update["remove"] == [a] and update["show"] == []
    assert update["seq"] > seq
    assert shown(client) == {}


def test_post_moderation_shows_at_once_and_upstream_deletion_removes(wall):
    client, store = wall(moderation="post")
    a = store_post(store, 1)
    assert set(shown(client)) == {a}
    caught_up(client)
    seq = client.get("/api/wall").json()["seq"]
    post = make_post(1)
    assert store.mark_deleted(post.platform, post.platform_id)
    caught_up(client)
    assert client.get(f"/api/wall?since={seq}").json()["remove"] == [a]
    assert shown(client) == {}


def test_hostile_text_is_sent_as_data_not_markup(wall):
    client, store = wall(moderation="post")
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    a = store_post(store, 1, text=hostile, author=Author("did:x", "x.bsky.social", "<b>Evil</b>"))
    post = shown(client)[a]
    assert post["text"] == hostile and post["name"] == "<b>Evil</b>"
    # The page itself carries no post data: the script fills it in with textContent.
    assert "onerror" not in client.get("/").text


def test_block_author_hides_all_their_posts_now_and_future(wall):
    client, store = wall(moderation="post")
    troll = Author("did:plc:troll", "troll.bsky.social", "Troll")
    a = store_post(store, 1, author=troll)
    b = store_post(store, 2, author=troll)
    other = store_post(store, 3)
    assert set(shown(client)) == {a, b, other}
    assert act(client, "block", a).status_code == 200
    assert set(shown(client)) == {other}
    later = store_post(store, 4, author=troll)
    assert later not in shown(client)
    act(client, "approve", later)  # even an approval does not let a blocked author back
    assert set(shown(client)) == {other}
    act(client, "unblock", a)
    assert set(shown(client)) == {a, b, other, later}


def test_blocked_words_from_config_are_never_shown(wall):
    client, store = wall(moderation="post", blocked_words=["traitor", "go home"])
    bad = store_post(store, 1, text="You are a TRAÏTOR")
    phrase = store_post(store, 2, text="Go   HOME, all of you")
    by_name = store_post(store, 3, author=Author("did:n", "n.bsky.social", "Traitor Hunter"))
    fine = store_post(store, 4, text="A traitorous climate? No, a hopeful one.")
    act(client, "approve", bad)
    assert set(shown(client)) == {fine}
    queue = client.get("/api/moderation/posts?show=approved", headers=AUTH).json()["posts"]
    assert queue[0]["id"] == bad and queue[0]["reason"] == "blocked word: traitor"
    assert {phrase, by_name}.isdisjoint(shown(client))


def test_sensitive_posts_wait_for_approval_unless_configured_otherwise(wall):
    client, store = wall(moderation="post")
    flagged = store_post(store, 1, sensitive=True, media_count=1)
    assert shown(client) == {}
    act(client, "approve", flagged)
    assert set(shown(client)) == {flagged}
    client2, store2 = wall(moderation="post", hide_sensitive=False)
    assert set(shown(client2)) == {flagged}


def test_never_shown_no_unauthenticated_reposts_and_deleted(wall):
    client, store = wall()
    private = store_post(store, 1, no_unauthenticated=True)
    repost = store_post(store, 2, repost_of="at://did:plc:x/app.bsky.feed.post/1")
    for post_id in (private, repost):
        act(client, "approve", post_id)
    assert shown(client) == {}
    post = make_post(3)
    store.write_posts([post])
    store.mark_deleted(post.platform, post.platform_id)
    deleted_id = store.conn.execute("select max(id) from posts").fetchone()[0]
    response = act(client, "approve", deleted_id)
    assert response.status_code == 404
    assert "deleted upstream" in response.json()["error"]


def test_without_a_token_the_wall_shows_nothing_and_moderation_is_off(wall):
    client, store = wall(token=None, moderation="post")
    a = store_post(store, 1)
    mod.apply_action(store, "approve", a)  # even a post approved earlier
    assert shown(client) == {}
    page = client.get("/moderate")
    assert page.status_code == 403
    assert "TAGWATCH_WALL_TOKEN" in page.text
    r = client.get("/api/moderation/posts", headers=AUTH)
    assert r.status_code == 403
    assert r.json()["error"] == (
        "Moderation is disabled: set the environment variable TAGWATCH_WALL_TOKEN "
        "to a long random token and restart the wall."
    )


def test_moderation_needs_the_right_token_and_a_post(wall):
    client, store = wall()
    a = store_post(store, 1)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = client.post(
            "/api/moderation/action", json={"action": "approve", "post_id": a}, headers=headers
        )
        assert r.status_code == 401
        assert r.json() == {"error": "Wrong or missing moderation token."}
    assert client.get("/api/moderation/posts").status_code == 401
    assert client.get("/api/moderation/action", headers=AUTH).status_code == 405
    assert shown(client) == {}
    assert client.get("/moderate").status_code == 200


def test_token_guessing_is_refused_after_ten_wrong_tokens(wall, caplog):
    client, store = wall()
    a = store_post(store, 1)
    logins = client.app.state.logins
    now = [1000.0]
    logins.clock = lambda: now[0]
    wrong = {"authorization": "Bearer guess"}
    for _ in range(10):
        assert client.get("/api/moderation/posts", headers=wrong).status_code == 401
    # Locked out: even the right token is not checked until the window has passed.
    refused = client.post(
        "/api/moderation/action", json={"action": "approve", "post_id": a}, headers=AUTH
    )
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) == 60
    assert "Too many wrong moderation tokens" in refused.json()["error"]
    assert "guess" not in caplog.text and TOKEN not in caplog.text
    assert "wrong moderation tokens from" in caplog.text
    assert store.conn.execute("select count(*) from moderation").fetchone()[0] == 0
    now[0] += 61
    assert act(client, "approve", a).status_code == 200


def test_behind_a_local_proxy_each_visitor_is_locked_out_alone(tmp_path, config_dict, monkeypatch):
    """uvicorn takes the client address from X-Forwarded-For when the peer is a proxy on this
    machine, so one guesser behind nginx does not lock every moderator out."""
    import httpx

    from tests.browser import RunningWall
    from tests.conftest import free_port

    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    wall = RunningWall(config, free_port(), now=lambda: NOW)
    try:
        url = f"{wall.url}/api/moderation/log"
        guesser = {"authorization": "Bearer guess", "x-forwarded-for": "203.0.113.7"}
        for _ in range(10):
            assert httpx.get(url, headers=guesser).status_code == 401
        assert httpx.get(url, headers=guesser).status_code == 429
        moderator = {**AUTH, "x-forwarded-for": "198.51.100.9"}
        assert httpx.get(url, headers=moderator).status_code == 200
    finally:
        wall.stop()


def test_moderation_action_errors_are_clear(wall):
    client, store = wall()
    a = store_post(store, 1)
    r = act(client, "nuke", a)
    assert r.status_code == 400
    assert r.json()["error"] == (
        "Unknown action 'nuke'; use one of: approve, hide, pin, unpin, block, unblock."
    )
    r = act(client, "approve", "1")
    assert r.status_code == 400 and r.json()["error"] == "post_id must be an integer."
    r = client.post("/api/moderation/action", content=b"not json", headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"] == 'Send JSON: {"action": "approve", "post_id": 123}.'
    r = act(client, "approve", 999)
    assert r.status_code == 404 and r.json()["error"] == "No post with id 999."
    r = client.get("/api/moderation/posts?show=weird", headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"] == (
        "Unknown filter 'weird'; use pending, approved, hidden, blocked, all."
    )


def test_every_action_is_logged_with_its_time(wall):
    client, store = wall()
    a = store_post(store, 1)
    for action in ("approve", "pin", "unpin", "hide", "block", "unblock"):
        assert act(client, action, a).status_code == 200
    log = client.get("/api/moderation/log", headers=AUTH).json()["log"]
    assert [e["action"] for e in reversed(log)] == [
        "approve",
        "pin",
        "unpin",
        "hide",
        "block",
        "unblock",
    ]
    assert {e["at"] for e in log} == {"2016-11-24T13:20:00.000000Z"}
    assert log[0]["author_key"] == "bluesky did:plc:author1"


def test_storage_moderation_errors_name_the_problem(store):
    store.mark_deleted("bluesky", "at://did:plc:gone/app.bsky.feed.post/1")
    tombstone = store.conn.execute("select max(id) from posts").fetchone()[0]
    with pytest.raises(UsageError) as exc:
        mod.apply_action(store, "block", tombstone)
    assert str(exc.value) == f"Post {tombstone} has no known author (deleted upstream)."
    with pytest.raises(UsageError) as exc:
        mod.apply_action(store, "nuke", tombstone)
    assert str(exc.value) == (
        "Unknown moderation action 'nuke'; use one of: approve, hide, pin, unpin, block, unblock."
    )
    with pytest.raises(UsageError) as exc:
        mod.set_state(store, tombstone, "maybe")
    assert str(exc.value) == "Unknown moderation state 'maybe'."
    with pytest.raises(UsageError) as exc:
        mod.apply_action(store, "approve", tombstone)
    assert str(exc.value) == f"Post {tombstone} was deleted upstream; it is never shown."
    assert store.conn.execute("select count(*) from moderation_log").fetchone()[0] == 0


def test_pin_approves_and_marks_the_post(wall):
    client, store = wall()
    a = store_post(store, 1)
    act(client, "hide", a)
    act(client, "pin", a)
    assert shown(client)[a]["pinned"] is True
    act(client, "hide", a)
    assert shown(client) == {}
    act(client, "approve", a)
    assert shown(client)[a]["pinned"] is False  # hiding drops the pin


def test_moderation_queue_lists_waiting_posts_with_reasons(wall):
    client, store = wall()
    a = store_post(store, 1)
    b = store_post(store, 2, sensitive=True)
    act(client, "approve", a)
    waiting = client.get("/api/moderation/posts", headers=AUTH).json()
    assert [p["id"] for p in waiting["posts"]] == [b]
    assert waiting["posts"][0]["reason"] == "waiting for approval"
    assert waiting["posts"][0]["sensitive"] is True
    on_wall = client.get("/api/moderation/posts?show=wall", headers=AUTH).json()["posts"]
    assert [p["id"] for p in on_wall] == [a]


def test_stats_count_the_day_and_name_the_running_session(wall):
    client, store = wall()
    a = store_post(store, 1, likes=50)
    store_post(store, 2, likes=90)  # more engaging, but not approved
    store_post(store, 3, repost_of="at://did:plc:author1/app.bsky.feed.post/1")
    act(client, "approve", a)  # recounts at once (otherwise every few seconds)
    caught_up(client)
    stats = client.get("/api/wall").json()["stats"]
    # Reposts count, as in the digest and the report: the numbers agree.
    day = summary(store.conn, client.app.state.hub.config.event, DAY_START, DAY_END)
    assert stats["posts"] == day.counts.posts == 3
    assert stats["people"] == day.counts.unique_authors == 3
    assert [p["id"] for p in stats["top"]] == [a]
    assert stats["session"] == {
        "title": "Azerbaijan: released, but not free",
        "prompt": "Send your message with #HRHN2016",
    }
    page = client.get("/").text
    assert "Azerbaijan: released, but not free" in page


# -- security headers and pages --------------------------------------------------------


def test_strict_csp_and_no_inline_script_or_third_party_assets(wall):
    client, store = wall()
    for path in ("/", "/moderate", "/api/wall", "/static/wall.js", "/static/wall.css"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["x-content-type-options"] == "nosniff"
    assert "'unsafe-inline'" not in CSP and "default-src 'self'" in CSP
    for path in ("/", "/moderate"):
        html = client.get(path).text
        assert re.findall(r"<script[^>]*>([^<]*)</script>", html) == [""], path
        assert "style=" not in html
        assert not re.search(r"(src|href)=\"(https?:)?//", html), path
    for asset in ("wall.js", "moderate.js"):
        text = client.get(f"/static/{asset}").text
        source = "\n".join(x for x in text.splitlines() if not x.strip().startswith("//"))
        assert "innerHTML" not in source and "insertAdjacentHTML" not in source
        assert "http" not in source.replace("HTTP ", "")


def test_event_name_is_escaped_in_the_page(wall, config_dict):
    config_dict["event"]["name"] = "<script>alert(1)</script> Assembly"
    client, store = wall()
    page = client.get("/").text
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Assembly" in page


# -- server-sent events -----------------------------------------------------------------


class EventReader:
    """Parses one event stream; reads can continue where the previous one stopped."""

    def __init__(self, response: Any):
        self.lines = response.iter_lines()

    def until(self, wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Events up to and including the first that satisfies `wanted`."""
        events: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        for line in self.lines:
            if line == "":
                if "data" in current:
                    current["data"] = json.loads(current["data"])
                    events.append(current)
                    if wanted(current):
                        return events
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = value
        raise AssertionError(f"stream ended before the wanted event: {events}")


def kind(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["event"] == name


def test_stream_starts_with_a_reset_then_pushes_approvals_and_removals(wall):
    client, store = wall()
    a = store_post(store, 1)
    act(client, "approve", a)
    b = store_post(store, 2)
    with client.stream("GET", "/api/wall/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = EventReader(r)
        first = events.until(kind("reset"))[-1]
        assert [p["id"] for p in first["data"]["show"]] == [a]
        assert int(first["id"]) == first["data"]["seq"]
        mod.apply_action(store, "approve", b)  # a moderator elsewhere; the hub polls
        update = events.until(kind("update"))[-1]
        assert [p["id"] for p in update["data"]["show"]] == [b]
        assert int(update["id"]) > int(first["id"])
        mod.apply_action(store, "hide", a)
        removal = events.until(kind("update"))[-1]
        assert removal["data"]["remove"] == [a]
        assert int(removal["id"]) > int(update["id"])


def test_reconnect_with_last_event_id_resumes_without_loss_or_repeat(wall):
    client, store = wall(moderation="post")
    a = store_post(store, 1)
    assert set(shown(client)) == {a}
    with client.stream("GET", "/api/wall/events") as r:
        reset = EventReader(r).until(kind("reset"))[-1]
    assert [p["id"] for p in reset["data"]["show"]] == [a]
    last = reset["id"]
    # While the wall was away: one post arrives, the shown one is hidden.
    b = store_post(store, 2)
    mod.apply_action(store, "hide", a)
    caught_up(client)  # before reconnecting
    with client.stream("GET", "/api/wall/events", headers={"Last-Event-ID": last}) as r:
        events = EventReader(r).until(kind("stats"))
    updates = [e for e in events if e["event"] != "stats"]
    assert {e["event"] for e in updates} == {"update"}
    assert [p["id"] for e in updates for p in e["data"]["show"]] == [b]
    assert [i for e in updates for i in e["data"]["remove"]] == [a]
    ids = [int(e["id"]) for e in updates]
    assert ids == sorted(set(ids)) and ids[0] > int(last)
    # Up to date: reconnecting from the newest id replays nothing.
    newest = updates[-1]["id"]
    with client.stream("GET", "/api/wall/events", headers={"Last-Event-ID": newest}) as r:
        events = EventReader(r).until(kind("stats"))
    assert [e["event"] for e in events] == ["stats"]


def test_stream_works_without_lifespan_events(config_dict, tmp_path, monkeypatch):
    """`tagwatch run` serves the app with lifespan off: the first request starts polling."""
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    store = Store.open(config.db_path)
    app = create_app(config, poll_interval=0.02)
    client = TestClient(app)  # not entered: no lifespan
    with client.stream("GET", "/api/wall/events") as r:
        events = EventReader(r)
        events.until(kind("reset"))
        a = store_post(store, 1)
        mod.apply_action(store, "approve", a)
        update = events.until(kind("update"))[-1]
    assert [p["id"] for p in update["data"]["show"]] == [a]
    store.close()


@pytest.mark.parametrize("last", ["not-a-number", "999999"])
def test_unknown_last_event_id_gets_a_full_reset(wall, last):
    client, store = wall(moderation="post")
    a = store_post(store, 1)
    caught_up(client)
    with client.stream("GET", "/api/wall/events", headers={"Last-Event-ID": last}) as r:
        reset = EventReader(r).until(kind("reset"))[-1]
    assert [p["id"] for p in reset["data"]["show"]] == [a]


def test_feed_falls_back_to_reset_when_its_memory_is_exceeded(config, store, monkeypatch):
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    rules = WallRules(mode="post", open=True)
    feed = WallFeed(connect(config.db_path, readonly=True), rules, memory=2)
    start = feed.seq
    for n in range(1, 4):
        store_post(store, n)
    for n in range(4, 7):
        store_post(store, n)
        feed.poll()
    assert feed.changes_after(start) is None  # too old: the client must reset
    assert feed.merged_after(start)["reset"] is True
    assert len(feed.merged_after(feed.seq - 1)["show"]) == 1


def test_feed_memory_is_counted_in_posts_not_messages(config, store, monkeypatch):
    """One poll during a burst carries many posts: the replay memory is bounded by size."""
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    rules = WallRules(mode="post", open=True)
    feed = WallFeed(connect(config.db_path, readonly=True), rules, memory=5)
    start = feed.seq
    for n in range(1, 5):
        store_post(store, n)
    burst = feed.poll()
    assert burst is not None and len(burst.show) == 4
    assert feed.changes_after(start) == [burst]  # 4 posts held: within memory
    store_post(store, 5)
    store_post(store, 6)
    feed.poll()
    assert feed.changes_after(start) is None  # 6 posts: the burst was dropped
    assert sum(len(c.show) for c in feed.changes_after(burst.seq)) == 2
    for n in range(7, 20):  # one message bigger than the memory is still kept
        store_post(store, n)
    big = feed.poll()
    assert feed.changes_after(big.seq - 1) == [big] and len(feed.changes) == 1


def test_feed_memory_is_bounded_yet_old_posts_are_still_judged(config, store, monkeypatch):
    """Only the last `window` payloads are kept; every visible post keeps its bit, so
    hiding, deleting or pinning a post sent long ago still reaches the screens."""
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    feed = WallFeed(
        connect(config.db_path, readonly=True),
        WallRules(mode="post", open=True),
        max_posts=3,
        window=5,
    )
    ids = []
    for n in range(1, 41):
        ids.append(store_post(store, n, created_at=datetime(2016, 11, 24, 10, 0, n, tzinfo=UTC)))
        feed.poll()
    assert len(feed.shown) == 5 and set(feed.shown) == set(ids[-5:])
    assert feed.visible.count == 40 and all(feed.is_visible(i) for i in ids)
    assert [p["id"] for p in feed.recent()] == ids[-3:]

    oldest = ids[0]
    # An edit of an old post does not bring it back to the screens as if new...
    store.write_posts(
        [
            make_post(
                1, text="Post 1, edited", created_at=datetime(2016, 11, 24, 10, 0, 1, tzinfo=UTC)
            )
        ]
    )
    assert feed.poll() is None
    # ...but hiding it is still sent (a screen may hold it), and so is a deletion.
    mod.apply_action(store, "hide", oldest, at=NOW)
    change = feed.poll()
    assert change is not None and change.remove == [oldest] and not change.show
    assert not feed.is_visible(oldest) and feed.visible.count == 39
    store.mark_deleted("bluesky", "at://did:plc:author2/app.bsky.feed.post/2")
    change = feed.poll()
    assert change is not None and change.remove == [ids[1]]
    # Un-hiding or pinning an old post shows it again.
    mod.apply_action(store, "approve", oldest, at=NOW)
    change = feed.poll()
    assert change is not None and [p["id"] for p in change.show] == [oldest]
    mod.apply_action(store, "pin", ids[2], at=NOW)
    change = feed.poll()
    assert change is not None and [p["id"] for p in change.show] == [ids[2]]
    assert ids[2] in [p["id"] for p in feed.recent()]  # pinned posts stay on screen
    assert feed.stats(datetime(2016, 11, 24, tzinfo=UTC), NOW)["on_wall"] == 39

    # A fresh feed (a restarted wall) agrees, holding no more than its window.
    again = WallFeed(
        connect(config.db_path, readonly=True),
        WallRules(mode="post", open=True),
        max_posts=3,
        window=5,
    )
    assert again.visible.count == 39 and len(again.shown) == 6  # 5 newest + the pinned one
    assert {p["id"] for p in again.recent()} == {p["id"] for p in feed.recent()}


def test_a_burst_sends_screens_only_the_posts_they_keep_and_every_removal(
    config, store, monkeypatch
):
    """A screen keeps its newest max_posts (and the pinned): older posts of a burst would be
    dropped on arrival, so they are not sent to every phone in the hall."""
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    feed = WallFeed(
        connect(config.db_path, readonly=True), WallRules(mode="post", open=True), max_posts=5
    )
    first = store_post(store, 1, created_at=datetime(2016, 11, 24, 9, 0, tzinfo=UTC))
    feed.poll()
    mod.apply_action(store, "pin", first, at=NOW)
    mod.apply_action(store, "hide", first, at=NOW)  # removed in the same burst: still sent
    burst = [
        store_post(store, n, created_at=datetime(2016, 11, 24, 10, 0, n, tzinfo=UTC))
        for n in range(2, 42)
    ]
    pinned_new = store_post(store, 42, created_at=datetime(2016, 11, 24, 9, 30, tzinfo=UTC))
    mod.apply_action(store, "pin", pinned_new, at=NOW)
    change = feed.poll()
    assert change is not None
    assert [p["id"] for p in change.show] == [pinned_new, *burst[-5:]]
    assert change.remove == [first]
    # Every post of the burst is on the wall all the same (counters, later hides).
    assert all(feed.is_visible(i) for i in burst)


def test_highlights_include_engaging_posts_long_off_the_screens(config, store, monkeypatch):
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    feed = WallFeed(
        connect(config.db_path, readonly=True),
        WallRules(mode="post", open=True),
        max_posts=3,
        window=3,
    )
    star = store_post(store, 1, likes=500)
    for n in range(2, 12):
        store_post(store, n, likes=0)
    feed.poll()
    assert star not in feed.shown
    top = feed.stats(datetime(2016, 11, 24, tzinfo=UTC), NOW)["top"]
    assert [(p["id"], p["engagement"]) for p in top] == [(star, 500)]
    mod.apply_action(store, "hide", star, at=NOW)
    feed.poll()
    assert feed.stats(datetime(2016, 11, 24, tzinfo=UTC), NOW)["top"] == []


def test_old_wall_events_are_pruned_without_disturbing_a_running_wall(config, store, monkeypatch):
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    feed = WallFeed(connect(config.db_path, readonly=True), WallRules(mode="post", open=True))
    for n in range(1, 8):
        store_post(store, n)
    feed.poll()
    with store.transaction() as conn:  # five of the seven events are two days old
        conn.execute("update wall_events set at = '2016-11-22T10:00:00.000Z' where id <= 5")
    last = store.conn.execute("select max(id) from wall_events").fetchone()[0]

    gone = store.prune_wall_events(older_than=datetime(2016, 11, 23, tzinfo=UTC), keep_last=3)
    assert gone == 4  # ids 1-4: old, and not among the newest three (5, 6, 7)
    left = [r[0] for r in store.conn.execute("select id from wall_events order by id")]
    assert left == [last - 2, last - 1, last]
    # Everything old: the newest event stays, so ids never go backwards.
    assert store.prune_wall_events(older_than=datetime(2030, 1, 1, tzinfo=UTC), keep_last=0) == 2
    assert [r[0] for r in store.conn.execute("select id from wall_events")] == [last]

    assert feed.poll() is None and feed.seq == last  # no reload, nothing lost
    new = store_post(store, 8)
    change = feed.poll()
    assert change is not None and [p["id"] for p in change.show] == [new]
    assert change.seq == last + 1


def test_engagement_refresh_makes_no_wall_event(store):
    post = make_post(1)
    store.write_posts([post])
    before = store.conn.execute("select count(*) from wall_events").fetchone()[0]
    store.update_engagement(
        post.platform, post.platform_id, likes=9, reposts=1, replies=0, quotes=0
    )
    store.write_posts([make_post(1, likes=12)])
    after = store.conn.execute("select count(*) from wall_events").fetchone()[0]
    assert after == before
    store.write_posts([make_post(1, text="edited")])
    assert store.conn.execute("select count(*) from wall_events").fetchone()[0] == after + 1


# -- command line -------------------------------------------------------------------------


def test_bind_address_refuses_public_hosts_unless_configured(config_dict, tmp_path):
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    assert bind_address(config, None, None) == ("127.0.0.1", 8080)
    assert bind_address(config, "::1", 9000) == ("::1", 9000)
    with pytest.raises(UsageError, match="Refusing to serve the wall on 0.0.0.0"):
        bind_address(config, "0.0.0.0", None)
    config_dict["wall"] = {"host": "0.0.0.0", "public": True}
    public = parse_config(config_dict, path=tmp_path / "config.toml")
    assert bind_address(public, None, None) == ("0.0.0.0", 8080)


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[event]\nname = "T"\nhashtags = ["HRHN2016"]\nstart = 2016-11-24\nend = 2016-11-26\n'
        f'[storage]\npath = "t.db"\n{extra}',
        encoding="utf-8",
    )
    return path


def test_cli_wall_refuses_a_public_host(tmp_path):
    result = CliRunner().invoke(
        cli, ["--config", str(write_config(tmp_path)), "wall", "--host", "0.0.0.0"]
    )
    assert result.exit_code == 2
    assert result.output.startswith(
        "Error: Refusing to serve the wall on 0.0.0.0: not a loopback address, so anyone on "
        "the network could open it. Set public = true in the [wall] section of the config"
    )


def test_cli_wall_rejects_a_bad_port_and_a_bad_mode(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(write_config(tmp_path)), "wall", "--port", "0"])
    assert result.exit_code == 2
    assert "Error: Port 0 is not a TCP port; use 1-65535 (e.g. --port 8080)." in result.output
    config = write_config(tmp_path, '[wall]\nmoderation = "none"\n')
    result = runner.invoke(cli, ["--config", str(config), "wall"])
    assert result.exit_code == 2
    assert "wall.moderation must be 'pre' or 'post', got 'none'." in result.output


def test_cli_wall_serves_until_interrupted_and_warns_without_a_token(tmp_path):
    """The real command in a subprocess: serves, says moderation is off, stops on Ctrl+C
    even with an event stream open (the shutdown ends open streams)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "TAGWATCH_WALL_TOKEN"}
    cmd = [sys.executable, "-m", "tagwatch.monitor.cli", "--config", str(write_config(tmp_path))]
    proc = subprocess.Popen(
        [*cmd, "wall", "--port", str(port)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                assert httpx.get(url + "/healthz").json()["ok"] is True
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "tagwatch wall did not start"
                time.sleep(0.1)
        with httpx.stream("GET", url + "/api/wall/events", timeout=10) as r:
            events = EventReader(r)
            reset = events.until(kind("reset"))[-1]
            assert reset["data"]["show"] == []
            proc.send_signal(signal.SIGINT)
            started = time.monotonic()
            for _ in events.lines:  # the server ends the stream as it shuts down
                pass
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 2.5, time.monotonic() - started
        err = proc.stderr.read() if proc.stderr else ""
        assert f"Wall: {url}/   moderation: {url}/moderate" in err
        assert (
            "Moderation is off: set TAGWATCH_WALL_TOKEN to a long random token. "
            "Until then the wall shows no posts."
        ) in err
        assert err.rstrip().endswith("Wall stopped.")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
