"""Moderators as a team (issue #21): named tokens, the log under a name, presence, the live
channel, "already decided by", and keyboard moderation.

The config, storage and API parts run through Starlette's test client; the team itself runs
in Debian's Chromium (two browser contexts, two tokens), as `test_wall_browser.py` does.
"""

from __future__ import annotations

import hmac
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tagwatch.errors import AlreadyDecided, ConfigError, UsageError
from tagwatch.monitor.check import check_wall_token
from tagwatch.records import Author
from tagwatch.reports.wall.app import create_app
from tagwatch.reports.wall.team import Presence, Team
from tagwatch.settings import Config, parse_config, wall_moderators
from tagwatch.storage import moderation as mod
from tagwatch.storage.db import Store, connect
from tagwatch.storage.migrations import migrate
from tests import test_wall_browser as shared
from tests.browser import CHROMIUM, RunningWall
from tests.conftest import free_port
from tests.test_wall_browser import ARTIFACTS, NOW, WATCH, store_post

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

ANA, BO = "ana-token-4c1d9e7f2a6b8c0d", "bo-token-7e2f1a9c3b5d6e8f"
SHARED = "shared-token-0a1b2c3d4e5f"
TEAM = {"ana": "TAGWATCH_WALL_TOKEN_ANA", "bo": "TAGWATCH_WALL_TOKEN_BO"}

browser = shared.browser  # the one Chromium per module, as the wall's own browser tests use
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def team_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN_ANA", ANA)
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN_BO", BO)
    monkeypatch.delenv("TAGWATCH_WALL_TOKEN", raising=False)


def team_config(tmp_path: Path, config_dict: dict[str, Any], **wall: Any) -> Config:
    config_dict["wall"] = {"moderators": dict(TEAM), "rotate_seconds": 30.0, **wall}
    return parse_config(config_dict, path=tmp_path / "config.toml")


@pytest.fixture
def client(
    tmp_path: Path, config_dict: dict[str, Any], team_env: None
) -> Iterator[tuple[TestClient, Store]]:
    config = team_config(tmp_path, config_dict)
    store = Store.open(config.db_path)
    with TestClient(create_app(config, now=lambda: NOW, poll_interval=0.02)) as c:
        yield c, store
    store.close()


# -- config -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moderators,says",
    [
        (
            {"Ana Maria": "TAGWATCH_WALL_TOKEN_ANA"},
            "wall.moderators has the name 'Ana Maria'; a moderator's name is a short identifier"
            " (a letter, then letters, digits, _ or -, at most 32), e.g. ana.",
        ),
        ({"a" * 33: "X_TOKEN"}, "a moderator's name is a short identifier"),
        ({"1ana": "X_TOKEN"}, "wall.moderators has the name '1ana'"),
        (
            {"moderator": "TAGWATCH_WALL_TOKEN_M"},
            "wall.moderators cannot name someone 'moderator': it is the name of the token in"
            " wall.token_env; pick the person's own name.",
        ),
        (
            {"ana": "tagwatch wall token"},
            "wall.moderators.ana must be the name of an environment variable holding ana's token,"
            " e.g. \"TAGWATCH_WALL_TOKEN_ANA\"; got 'tagwatch wall token'.",
        ),
        ({"ana": "$TAGWATCH_WALL_TOKEN_ANA"}, "must be the name of an environment variable"),
        ({"ana": ""}, "wall.moderators.ana must be the name of an environment variable"),
        ({"ana": 5}, "got 5."),
        (
            {"ana": "TAGWATCH_WALL_TOKEN_X", "bo": "TAGWATCH_WALL_TOKEN_X"},
            "wall.moderators.bo names $TAGWATCH_WALL_TOKEN_X, already used by"
            " wall.moderators.ana; give each moderator a variable of their own, so the log"
            " tells them apart.",
        ),
        (
            {"ana": "TAGWATCH_WALL_TOKEN"},
            "wall.moderators.ana names $TAGWATCH_WALL_TOKEN, already used by wall.token_env"
            " ('moderator')",
        ),
    ],
)
def test_bad_moderators_are_refused_with_what_to_do(tmp_path, config_dict, moderators, says):
    config_dict["wall"] = {"moderators": moderators}
    with pytest.raises(ConfigError) as exc:
        parse_config(config_dict, path=tmp_path / "config.toml")
    assert str(exc.value).startswith(f"{tmp_path / 'config.toml'}: ")
    assert says in str(exc.value)


def test_moderators_table_must_be_a_table(tmp_path, config_dict):
    config_dict["wall"] = {"moderators": ["ana"]}
    with pytest.raises(ConfigError, match=r"wall.moderators must be a table, got \['ana'\]"):
        parse_config(config_dict, path=tmp_path / "config.toml")


def test_every_moderator_with_the_shared_token_first(tmp_path, config_dict):
    config = team_config(tmp_path, config_dict, token_env="EVENT_WALL_TOKEN")
    assert wall_moderators(config) == {"moderator": "EVENT_WALL_TOKEN", **TEAM}


# -- storage ----------------------------------------------------------------------------


def test_actions_are_logged_under_the_moderators_name(store):
    a, b = (store_post(store, n) for n in (1, 2))
    mod.apply_action(store, "approve", a, at=NOW, moderator="ana")
    mod.apply_action(store, "block", b, at=NOW, moderator="bo")
    mod.apply_action(store, "pin", a, at=NOW)  # no person: unknown, not anyone
    rows = store.conn.execute("select action, moderator from moderation_log order by id")
    assert [tuple(r) for r in rows] == [("approve", "ana"), ("block", "bo"), ("pin", None)]


def test_a_post_decided_by_someone_else_is_left_as_they_decided(store):
    post = store_post(store, 1)
    mod.apply_action(store, "approve", post, at=NOW, moderator="ana")
    later = NOW.replace(second=5)
    for action in ("hide", "pin", "block", "approve"):
        with pytest.raises(AlreadyDecided) as exc:
            mod.apply_action(store, action, post, at=later, moderator="bo", seen="pending")
        assert (
            str(exc.value) == f"Post {post} was already approved by ana 5 s ago; nothing changed."
        )
        assert (exc.value.state, exc.value.by) == ("approved", "ana")
    assert mod.decision_of(store, post)[0] == "approved"
    assert store.conn.execute("select count(*) from moderation_log").fetchone()[0] == 1
    # Seen as it is, the action goes through: bo may hide what he sees approved.
    mod.apply_action(store, "hide", post, at=later, moderator="bo", seen="approved")
    assert mod.decision_of(store, post)[0] == "hidden"

    troll = Author("did:plc:troll", "troll.bsky.social", "Troll")
    rant = store_post(store, 2, author=troll)
    mod.apply_action(store, "block", rant, at=NOW, moderator="bo")
    with pytest.raises(AlreadyDecided, match=r"already blocked \(author\) by bo"):
        mod.apply_action(store, "approve", rant, at=NOW, moderator="ana", seen="pending")
    with pytest.raises(UsageError, match="Unknown post state 'maybe'; use one of: pending,"):
        mod.apply_action(store, "approve", post, moderator="ana", seen="maybe")


def test_old_log_rows_keep_an_unknown_moderator(tmp_path):
    conn = connect(tmp_path / "old.db")
    migrate(conn, target=10)
    conn.execute("insert into moderation_log (at, action, post_id) values ('x', 'approve', 1)")
    migrate(conn)
    assert [tuple(r) for r in conn.execute("select action, moderator from moderation_log")] == [
        ("approve", None)
    ]
    conn.close()


# -- the team ---------------------------------------------------------------------------


def test_a_token_is_compared_with_every_moderators_token(monkeypatch):
    compared: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    team = Team({"ana": ANA, "bo": BO, "cy": "cy-token-1b2c3d4e5f6a7b8c"}, {})
    monkeypatch.setattr(hmac, "compare_digest", counting)
    assert team.identify(ANA) == "ana"  # the first matches, the others are compared all the same
    assert len(compared) == 3
    assert team.identify("ana") is None and team.identify("") is None
    assert team.identify(BO) == "bo"


def test_presence_lasts_while_a_page_beats():
    clock = [100.0]
    here = Presence(clock=lambda: clock[0])
    here.joined("ana")
    here.joined("bo")
    here.joined("bo")  # a second tab
    assert here.here() == ["ana", "bo"]
    clock[0] += 20
    here.beat("bo")
    clock[0] += 15  # ana's page silent for 35 s: a laptop asleep
    assert here.here() == ["bo"]
    here.left("bo")
    assert here.here() == ["bo"]  # one tab still open
    here.left("bo")
    here.left("ana")
    assert here.here() == []


# -- the API ----------------------------------------------------------------------------


def test_each_moderator_acts_under_their_own_name(client):
    c, store = client
    first, second = store_post(store, 1), store_post(store, 2)
    r = c.post(
        "/api/moderation/action", json={"action": "approve", "post_id": first}, headers=bearer(ANA)
    )
    assert r.status_code == 200 and r.json()["by"] == "ana"
    r = c.post(
        "/api/moderation/action", json={"action": "hide", "post_id": second}, headers=bearer(BO)
    )
    assert r.status_code == 200 and r.json()["by"] == "bo"
    log = c.get("/api/moderation/log", headers=bearer(BO)).json()["log"]
    assert [(e["action"], e["post_id"], e["moderator"]) for e in log] == [
        ("hide", second, "bo"),
        ("approve", first, "ana"),
    ]
    rows = store.conn.execute("select post_id, moderator from moderation_log order by id")
    assert [tuple(r) for r in rows] == [(first, "ana"), (second, "bo")]


def test_acting_on_a_post_someone_else_decided_is_answered_not_applied(client):
    c, store = client
    post = store_post(store, 1)
    body = {"action": "approve", "post_id": post, "seen": "pending"}
    assert c.post("/api/moderation/action", json=body, headers=bearer(ANA)).status_code == 200
    r = c.post("/api/moderation/action", json={**body, "action": "hide"}, headers=bearer(BO))
    assert r.status_code == 409
    assert r.json() == {
        "error": f"Post {post} was already approved by ana 0 s ago; nothing changed.",
        "already": "approved",
        "by": "ana",
    }
    assert mod.decision_of(store, post)[0] == "approved"
    r = c.post("/api/moderation/action", json={**body, "seen": "gone"}, headers=bearer(BO))
    assert r.status_code == 400
    assert r.json()["error"] == (
        "Unknown seen state 'gone'; use one of: pending, approved, hidden, blocked."
    )


def test_a_wrong_token_gets_nothing_and_names_no_moderator(client):
    c, store = client
    store_post(store, 1, text="Waiting for a moderator")
    for path in ("/api/moderation/posts", "/api/moderation/log", "/api/moderation/events"):
        r = c.get(path, headers=bearer(ANA[:-1] + "x"))
        assert r.status_code == 401
        assert r.json() == {"error": "Wrong or missing moderation token."}
    r = c.post(
        "/api/moderation/action", json={"action": "approve", "post_id": 1}, headers=bearer(SHARED)
    )
    assert r.status_code == 401 and "ana" not in r.text and "bo" not in r.text
    assert store.conn.execute("select count(*) from moderation_log").fetchone()[0] == 0
    # The lockout still counts every wrong token, whoever it was meant for.
    for _ in range(6):
        c.get("/api/moderation/posts", headers=bearer("guess"))
    assert c.get("/api/moderation/posts", headers=bearer(ANA)).status_code == 429


def test_the_queue_is_oldest_first_with_its_length(client):
    c, store = client
    ids = [store_post(store, n, minutes_ago=10 - n) for n in range(1, 5)]
    c.post(
        "/api/moderation/action", json={"action": "hide", "post_id": ids[1]}, headers=bearer(ANA)
    )
    data = c.get("/api/moderation/posts?show=pending", headers=bearer(BO)).json()
    assert [p["id"] for p in data["posts"]] == [ids[0], ids[2], ids[3]]
    assert data["count"] == 3
    data = c.get("/api/moderation/posts?show=all", headers=bearer(BO)).json()
    assert [p["id"] for p in data["posts"]] == ids[::-1] and data["count"] == 4


def test_the_shared_token_still_moderates_as_moderator(
    tmp_path, config_dict, team_env, monkeypatch
):
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", SHARED)
    config = team_config(tmp_path, config_dict)
    with Store.open(config.db_path) as store, TestClient(create_app(config, now=lambda: NOW)) as c:
        post = store_post(store, 1)
        r = c.post(
            "/api/moderation/action",
            json={"action": "pin", "post_id": post},
            headers=bearer(SHARED),
        )
        assert r.status_code == 200 and r.json()["by"] == "moderator"


def test_a_moderator_without_a_token_is_reported_and_cannot_log_in(
    tmp_path, config_dict, team_env, monkeypatch, caplog
):
    monkeypatch.delenv("TAGWATCH_WALL_TOKEN_BO")
    config = team_config(tmp_path, config_dict)
    with caplog.at_level(logging.WARNING, logger="tagwatch.wall"):
        app = create_app(config, now=lambda: NOW)
    assert (
        "wall moderator bo cannot log in: the environment variable TAGWATCH_WALL_TOKEN_BO is"
        " not set" in caplog.text
    )
    with TestClient(app) as c:
        assert c.get("/api/moderation/posts", headers=bearer(BO)).status_code == 401
        assert c.get("/api/moderation/posts", headers=bearer(ANA)).status_code == 200
    result = check_wall_token(config)
    assert result.ok  # the wall is not served by `tagwatch run` here
    assert result.detail == (
        "moderators ready: ana; cannot log in: bo ($TAGWATCH_WALL_TOKEN_BO is not set)"
    )
    served = parse_config(
        {**config_dict, "schedule": {"serve_wall": True}}, path=tmp_path / "config.toml"
    )
    result = check_wall_token(served)
    assert not result.ok and "export TAGWATCH_WALL_TOKEN_BO=" in result.todo
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN_BO", "short")
    result = check_wall_token(config)
    assert not result.ok
    assert result.detail == (
        "moderator bo's token in $TAGWATCH_WALL_TOKEN_BO has 5 characters, fewer than 24"
    )


def test_without_any_token_moderation_is_off_and_says_which_variables(
    tmp_path, config_dict, team_env, monkeypatch
):
    monkeypatch.delenv("TAGWATCH_WALL_TOKEN_ANA")
    monkeypatch.delenv("TAGWATCH_WALL_TOKEN_BO")
    config = team_config(tmp_path, config_dict)
    with TestClient(create_app(config, now=lambda: NOW)) as c:
        r = c.get("/api/moderation/posts", headers=bearer(ANA))
        assert r.status_code == 403
        assert r.json()["error"] == (
            "Moderation is disabled: set the environment variable TAGWATCH_WALL_TOKEN or one of"
            " TAGWATCH_WALL_TOKEN_ANA (ana), TAGWATCH_WALL_TOKEN_BO (bo) to a long random token"
            " and restart the wall."
        )
        assert c.get("/moderate").status_code == 403


# -- in the browser: two moderators, two browsers -----------------------------------------


@pytest.fixture
def team_wall(
    tmp_path: Path, config_dict: dict[str, Any], team_env: None
) -> Iterator[Callable[..., tuple[RunningWall, Store]]]:
    walls: list[RunningWall] = []
    stores: list[Store] = []

    def make(**wall: Any) -> tuple[RunningWall, Store]:
        config = team_config(tmp_path, config_dict, **wall)
        store = Store.open(config.db_path)
        stores.append(store)
        running = RunningWall(config, free_port(), now=lambda: NOW, token=ANA)
        walls.append(running)
        return running, store

    yield make
    for w in walls:
        if w.thread.is_alive():
            w.stop()
    for s in stores:
        s.close()


def log_in(chromium: Any, url: str, token: str) -> tuple[Any, Any]:
    """A moderator's own browser (a separate context: own storage, own session)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.add_init_script(WATCH)
    page.goto(url + "/moderate")
    page.fill("#token", token)
    page.click("#login button")
    page.wait_for_selector("#queue-length:not([hidden])", timeout=5000)
    return context, page


def queue_item(page: Any, post_id: int) -> Any:
    return page.locator(f'#queue .item[data-post-id="{post_id}"]')


@needs_chromium
def test_two_moderators_see_each_other_and_each_others_decisions(browser, team_wall):
    wall, store = team_wall()
    first = store_post(store, 1, text="Solidarity from Novi Sad", minutes_ago=5)
    second = store_post(store, 2, text="Greetings from Skopje", minutes_ago=4)
    third = store_post(store, 3, text="Still waiting: a question for the panel", minutes_ago=3)
    ana_ctx, ana = log_in(browser, wall.url, ANA)
    bo_ctx, bo = log_in(browser, wall.url, BO)
    try:
        for page in (ana, bo):
            page.wait_for_selector('#here [data-name="ana"]', timeout=5000)
            page.wait_for_selector('#here [data-name="bo"]', timeout=5000)
            queue_item(page, first).wait_for(timeout=5000)
        assert ana.inner_text("#here") == "ana (you), bo"
        assert bo.inner_text("#here") == "ana, bo (you)"
        assert bo.inner_text("#queue-length") == "3 posts waiting"

        screen = browser.new_page(viewport={"width": 1920, "height": 1080})
        screen.goto(wall.url + "/")
        queue_item(ana, first).locator("button[data-action=approve]").click()
        started = time.monotonic()
        queue_item(bo, first).wait_for(state="detached", timeout=3000)
        left_after = time.monotonic() - started
        assert left_after < 1.5, f"left bo's queue after {left_after:.2f} s"
        assert bo.inner_text("#queue-length") == "2 posts waiting"
        screen.wait_for_selector(f'[data-post-id="{first}"]', timeout=5000)
        bo.wait_for_selector(f"#recent li:has-text('ana approved #{first}')", timeout=3000)
        assert "s ago" in bo.locator("#recent li").first.inner_text()
        row = store.conn.execute(
            "select action, moderator from moderation_log where post_id = ?", (first,)
        ).fetchone()
        assert tuple(row) == ("approve", "ana")

        # bo's click on a post ana decided a moment ago (before his page heard of it).
        wall.act("hide", second)  # as ana, through the API
        bo.evaluate(
            """id => fetch('/api/moderation/action', {method: 'POST', headers: {
                 'Authorization': 'Bearer ' + sessionStorage.getItem('tagwatch-moderation-token'),
                 'Content-Type': 'application/json'},
               body: JSON.stringify({action: 'approve', post_id: id, seen: 'pending'})})
               .then(r => r.json()).then(d => { window.__answer = d.error; })""",
            second,
        )
        bo.wait_for_function("window.__answer !== undefined", timeout=3000)
        assert bo.evaluate("window.__answer") == (
            f"Post {second} was already hidden by ana 0 s ago; nothing changed."
        )
        queue_item(bo, second).wait_for(state="detached", timeout=3000)
        assert bo.inner_text("#queue-length") == "1 post waiting"
        queue_item(bo, third).wait_for(timeout=3000)
        bo.wait_for_selector("#log li:has-text('ana  hide')", timeout=5000)
        ARTIFACTS.mkdir(exist_ok=True)
        bo.screenshot(path=str(ARTIFACTS / "moderation-two-moderators.png"), full_page=True)

        ana_ctx.close()  # ana leaves: bo sees it
        bo.wait_for_selector('#here [data-name="ana"]', state="detached", timeout=15000)
        assert bo.evaluate("window.__violations") == []
        screen.close()
    finally:
        for ctx in (ana_ctx, bo_ctx):
            ctx.close()


@needs_chromium
def test_keyboard_only_moderation_of_ten_posts(browser, team_wall):
    wall, store = team_wall()
    troll = Author("did:plc:troll", "troll.bsky.social", "Troll")
    ids = [store_post(store, n, text=f"Post number {n}", minutes_ago=30 - n) for n in range(9)]
    ids.append(store_post(store, 9, text="Post number 9", minutes_ago=21, author=troll))
    ctx, page = log_in(browser, wall.url, ANA)
    try:
        queue_item(page, ids[9]).wait_for(timeout=5000)

        def selected() -> int:
            return int(page.locator("#queue .item.selected").get_attribute("data-post-id"))

        def length() -> str:
            return page.inner_text("#queue-length")

        assert length() == "10 posts waiting" and selected() == ids[0]  # oldest first
        page.keyboard.press("?")
        assert page.locator("#keys").is_visible()
        page.keyboard.press("Escape")
        assert not page.locator("#keys").is_visible()
        waiting = 10
        decided: dict[int, str] = {}
        for key, n, state in [
            ("a", 0, "approved"),
            ("h", 1, "hidden"),
            ("p", 2, "pinned"),
        ]:
            assert selected() == ids[n]
            page.keyboard.press(key)
            waiting -= 1
            decided[n] = state
            page.wait_for_selector(
                f"#queue-length:has-text('{waiting} posts waiting')", timeout=3000
            )
        assert selected() == ids[3]
        page.keyboard.press("j")
        page.keyboard.press("ArrowDown")
        assert selected() == ids[5]
        page.keyboard.press("ArrowUp")
        assert selected() == ids[4]
        page.keyboard.press("a")
        decided[4] = "approved"
        waiting -= 1
        page.wait_for_selector(f"#queue-length:has-text('{waiting} posts waiting')", timeout=3000)
        assert selected() == ids[5]  # the next one took its place
        page.keyboard.press("k")
        assert selected() == ids[3]
        page.keyboard.press("h")
        decided[3] = "hidden"
        waiting -= 1
        page.wait_for_selector(f"#queue-length:has-text('{waiting} posts waiting')", timeout=3000)
        # b asks first; Esc cancels; b twice blocks the author (post 9's troll).
        for _ in range(4):
            page.keyboard.press("j")
        assert selected() == ids[9]
        in_view = """(() => { const r = document.querySelector('#queue .item.selected')
          .getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()"""
        assert page.evaluate(in_view)
        page.keyboard.press("b")
        assert "Press b again or Enter to block" in page.inner_text("#message")
        page.keyboard.press("Escape")
        page.keyboard.press("b")
        assert page.locator(f"#queue-length:has-text('{waiting} posts waiting')").count() == 1
        page.keyboard.press("b")
        decided[9] = "blocked"
        waiting -= 1
        page.wait_for_selector(f"#queue-length:has-text('{waiting} posts waiting')", timeout=3000)
        assert selected() == ids[8]  # the last post went: the one before it is selected
        page.keyboard.press("p")
        decided[8] = "pinned"
        waiting -= 1
        page.wait_for_selector(f"#queue-length:has-text('{waiting} posts waiting')", timeout=3000)
        is_focused = "document.activeElement.classList.contains('selected')"
        assert page.evaluate(is_focused)
        assert page.locator("#queue-length").get_attribute("aria-live") == "polite"
        page.wait_for_selector("#message:has-text('pin done')", timeout=3000)

        time.sleep(0.3)  # the last answers land
        for n, post in enumerate(ids):
            state, _ = mod.decision_of(store, post)
            pinned = store.conn.execute(
                "select pinned from moderation where post_id = ?", (post,)
            ).fetchone()
            want = decided.get(n, "pending")
            if want == "pinned":
                assert (state, pinned[0]) == ("approved", 1), n
            else:
                assert state == want, n
        moderators = {r[0] for r in store.conn.execute("select moderator from moderation_log")}
        assert moderators == {"ana"}
        shown = {p["id"] for p in wall_show(wall)}
        assert shown == {ids[0], ids[2], ids[4], ids[8]}
        assert length() == "3 posts waiting"
        assert page.evaluate("window.__violations") == []
    finally:
        ctx.close()


def wall_show(wall: RunningWall) -> list[dict[str, Any]]:
    import json
    import urllib.request

    with urllib.request.urlopen(wall.url + "/api/wall", timeout=5) as r:
        return list(json.loads(r.read())["show"])
