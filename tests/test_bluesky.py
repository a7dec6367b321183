"""Bluesky collector: the real atproto client against the loopback fake, asserting on the DB."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.collectors.base import RunRecord
from tagwatch.collectors.bluesky import APP_PASSWORD_URL, BlueskyCollector, forget_sessions
from tagwatch.collectors.cursor import Cursor
from tagwatch.collectors.fakes.bluesky import FakeBluesky
from tagwatch.collectors.fakes.simulation import simulate_event
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store

HANDLE = "tagwatch.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
SEARCH = "app.bsky.feed.searchPosts"
GET_POSTS = "app.bsky.feed.getPosts"
PROFILES = "app.bsky.actor.getProfiles"
THREAD = "app.bsky.feed.getPostThread"
CREATE = "com.atproto.server.createSession"
REFRESH = "com.atproto.server.refreshSession"


class Clock:
    """Injected time: noon of the real day (the event's timezone is UTC in these tests).

    Today's date, because the atproto client checks JWT expiry on the real clock (the
    fake's tokens expire hours later, on the real clock too); noon, so that a test's
    "minutes later" is still the same day whenever the suite runs, as "today" asserts need.
    """

    def __init__(self) -> None:
        self.t = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


@pytest.fixture(autouse=True)
def _no_sessions_between_tests() -> Iterator[None]:
    forget_sessions()
    yield
    forget_sessions()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeBluesky]:
    with FakeBluesky(clock=clock, page_size=3) as server:
        server.add_account(HANDLE, PASSWORD)
        yield server


@pytest.fixture
def bsky_config(
    tmp_path: Path,
    config_dict: dict[str, Any],
    fake: FakeBluesky,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Config:
    today = clock().date()
    config_dict["event"].update(
        {"timezone": "UTC", "start": today - timedelta(days=1), "end": today + timedelta(days=1)}
    )
    config_dict["bluesky"] = {"enabled": True, "service": fake.url}
    monkeypatch.setenv("TAGWATCH_BLUESKY_HANDLE", HANDLE)
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", PASSWORD)
    return parse_config(config_dict, path=tmp_path / "config.toml")


@pytest.fixture
def db(bsky_config: Config) -> Iterator[Store]:
    store = Store.open(bsky_config.db_path)
    yield store
    store.close()


def run(config: Config, store: Store, clock: Clock, sleeps: list[float] | None = None) -> RunRecord:
    def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        clock.advance(seconds=seconds)

    return BlueskyCollector(config, store, now=clock, sleep=sleep).run_pass()


def stored(store: Store) -> dict[str, Any]:
    rows = store.conn.execute("select * from posts where platform = 'bluesky' order by created_at")
    return {r["platform_id"]: r for r in rows}


def add_posts(
    fake: FakeBluesky, clock: Clock, n: int, *, start_min: int = 1, every: int = 1, who: str = ""
) -> list[str]:
    """n posts, `every` minutes apart, the newest `start_min` minutes before now."""
    return [
        fake.add_post(
            who or f"user{i % 3}.bsky.social",
            f"Post {i} from the assembly #HRHN2016",
            created_at=clock() - timedelta(minutes=start_min + i * every),
        )
        for i in range(n)
    ]


def cursor_state(store: Store) -> Cursor:
    """The stored cursor: `newest` the high-water mark, a sweep under way its pending walk."""
    return Cursor.read(store.get_cursor("bluesky", "hrhn2016"))


# -- paging ---------------------------------------------------------------------------


def test_first_pass_pages_through_overlapping_pages_from_backfill_start(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    uris = add_posts(fake, clock, 8)
    too_old = fake.add_post(
        "old.bsky.social", "Last year's #HRHN2016", created_at=clock() - timedelta(days=5)
    )
    arrived: list[str] = []

    def new_posts_arrive(nsid: str, params: dict[str, list[str]]) -> None:
        # Two posts land while page 2 is asked for: offsets shift, pages overlap.
        if nsid == SEARCH and fake.count(SEARCH) == 1 and not arrived:
            arrived.extend(add_posts(fake, clock, 2, start_min=0, who="late.bsky.social"))

    fake.on_request = new_posts_arrive
    record = run(bsky_config, db, clock)

    assert record.status == "ok", record.error
    posts = stored(db)
    assert set(posts) == set(uris)  # each once; the late ones wait for the next pass
    assert too_old not in posts
    assert record.new_posts == 8
    searches = fake.params(SEARCH)
    assert len(searches) >= 4  # 8 posts, pages of 3, shifted by 2
    backfill = BlueskyCollector(bsky_config, db).backfill_start()
    assert backfill == datetime.combine(bsky_config.event.start, datetime.min.time(), UTC)
    assert searches[0]["since"] == [backfill.strftime("%Y-%m-%dT%H:%M:%S.000Z")]
    assert searches[0]["tag"] == ["hrhn2016"] and searches[0]["q"] == ["#hrhn2016"]
    assert searches[0]["sort"] == ["latest"] and searches[0]["limit"] == ["100"]
    assert searches[1]["cursor"] == ["3"]
    assert cursor_state(db).newest and cursor_state(db).pending == []

    fake.on_request = None
    second = run(bsky_config, db, clock)
    assert second.status == "ok"
    assert set(stored(db)) == set(uris) | set(arrived)
    assert second.new_posts == 2


def test_second_pass_fetches_only_what_is_new(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 7, every=15)  # a quiet hashtag: 7 posts over 1.5 hours
    run(bsky_config, db, clock)
    assert fake.count(SEARCH) == 3
    first = fake.counts()
    assert first[PROFILES] == 1  # 3 authors, one batch

    clock.advance(minutes=5)
    new = add_posts(fake, clock, 2, start_min=0, who="newcomer.bsky.social")
    second = run(bsky_config, db, clock)

    counts = fake.counts() - first
    assert second.status == "ok"
    assert second.new_posts == 2
    assert counts[SEARCH] == 1  # one page: the 2 new posts and the newest known one
    since = fake.params(SEARCH)[-1]["since"][0]
    assert since == (clock() - timedelta(minutes=5 + 1 + 10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert counts[PROFILES] == 1  # only the newcomer: the others were looked up today
    assert fake.params(PROFILES)[-1]["actors"] == [fake.author("newcomer.bsky.social").did]
    assert counts[CREATE] == 0  # the session is reused
    assert set(new) <= set(stored(db))


def test_post_indexed_late_below_the_mark_is_still_found(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 8)
    run(bsky_config, db, clock)
    searches = fake.count(SEARCH)
    clock.advance(minutes=5)
    new = fake.add_post("a.bsky.social", "New #HRHN2016", created_at=clock())
    # Written 6.5 minutes ago, but only indexed now: it sorts below the mark.
    late = fake.add_post(
        "b.bsky.social", "Late #HRHN2016", created_at=clock() - timedelta(minutes=6, seconds=30)
    )
    record = run(bsky_config, db, clock)
    assert {new, late} <= set(stored(db))
    assert record.details["late_posts"] == 1
    assert fake.count(SEARCH) - searches == 2  # the page with the late post, then one more


def test_pass_ended_by_page_cap_resumes_below_where_it_stopped(
    fake: FakeBluesky, bsky_config: Config, config_dict: dict[str, Any], db: Store, clock: Clock
) -> None:
    config_dict["collect"] = {"max_pages_per_pass": 2}
    config = parse_config(config_dict, path=bsky_config.path)
    uris = add_posts(fake, clock, 10, every=15)

    first = run(config, db, clock)
    assert first.status == "partial"
    assert len(stored(db)) == 6
    state = cursor_state(db)
    assert state.pending[0]["until"] and state.newest is None

    second = run(config, db, clock)
    resumed = fake.params(SEARCH)[2]
    assert resumed["until"] and "cursor" not in resumed  # below the oldest stored post
    assert second.status == "ok"
    assert set(stored(db)) == set(uris)
    assert cursor_state(db).newest and cursor_state(db).pending == []


# -- normalization ------------------------------------------------------------------------


def test_emoji_and_cyrillic_facets_are_stored_exactly(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    fake.add_author("marko.bsky.social", "Марко")
    text = (
        "Добро пожаловать 🎉🇷🇸 @marko.bsky.social! Отчёт: https://example.org/извештај "
        "#HRHN2016 #правачовека 👩🏽‍⚖️ #Beograd"
    )
    uri = fake.add_post("ana.bsky.social", text, langs=["sr"], created_at=clock())
    assert run(bsky_config, db, clock).status == "ok"

    row = stored(db)[uri]
    assert row["text"] == text
    assert json.loads(row["hashtags"]) == ["hrhn2016", "правачовека", "beograd"]
    assert json.loads(row["mentions"]) == ["marko.bsky.social"]
    assert json.loads(row["links"]) == ["https://example.org/извештај"]
    assert row["lang"] == "sr"
    tags = {r[0] for r in db.conn.execute("select tag from post_hashtags")}
    assert tags == {"hrhn2016", "правачовека", "beograd"}
    mentions = [r[0] for r in db.conn.execute("select handle from post_mentions")]
    assert mentions == ["marko.bsky.social"]
    rkey = uri.rsplit("/", 1)[-1]
    assert row["url"] == f"https://bsky.app/profile/ana.bsky.social/post/{rkey}"


def test_replies_quotes_media_and_follower_counts(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    fake.add_author("speaker.bsky.social", "Speaker", followers=1234)
    root = fake.add_post("speaker.bsky.social", "Keynote #HRHN2016", created_at=clock())
    reply = fake.add_post(
        "guest.bsky.social", "Agreed #HRHN2016", reply_to=root, created_at=clock(), images=2
    )
    quote = fake.add_post(
        "guest.bsky.social", "Worth reading #HRHN2016", quote_of=root, images=1, created_at=clock()
    )
    fake.set_engagement(root, likes=10, reposts=3, replies=1, quotes=1)
    assert run(bsky_config, db, clock).status == "ok"

    posts = stored(db)
    assert posts[reply]["reply_to"] == root and posts[reply]["media_count"] == 2
    assert posts[quote]["quote_of"] == root and posts[quote]["media_count"] == 1
    assert (posts[root]["likes"], posts[root]["reposts"], posts[root]["quotes"]) == (10, 3, 1)
    authors = {
        r["handle"]: r
        for r in db.conn.execute("select handle, display_name, followers from authors")
    }
    assert authors["speaker.bsky.social"]["followers"] == 1234
    assert authors["speaker.bsky.social"]["display_name"] == "Speaker"


def test_no_unauthenticated_label_on_post_or_author_is_kept(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    fake.add_author("private.bsky.social", labels=["!no-unauthenticated"])
    by_author = fake.add_post("private.bsky.social", "Mine #HRHN2016", created_at=clock())
    by_post = fake.add_post(
        "open.bsky.social", "Just this one #HRHN2016", self_labels=["!no-unauthenticated"]
    )
    public = fake.add_post("open.bsky.social", "Public #HRHN2016", created_at=clock())
    run(bsky_config, db, clock)
    posts = stored(db)
    assert posts[by_author]["no_unauthenticated"] == 1
    assert posts[by_post]["no_unauthenticated"] == 1
    assert posts[public]["no_unauthenticated"] == 0


def test_followers_looked_up_in_batches_of_25_once_a_day(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    fake.page_size = 100
    # The clock starts at noon, so "30 minutes later" is the same day; the next-day step
    # still crosses midnight.
    for i in range(30):
        fake.add_author(f"a{i}.bsky.social", followers=i)
        fake.add_post(f"a{i}.bsky.social", "#HRHN2016", created_at=clock() - timedelta(minutes=i))
    run(bsky_config, db, clock)
    assert [len(p["actors"]) for p in fake.params(PROFILES)] == [25, 5]
    followers = dict(db.conn.execute("select handle, followers from authors"))
    assert followers["a29.bsky.social"] == 29

    clock.advance(minutes=30)
    fake.set_followers("a3.bsky.social", 300)
    fake.add_post("a3.bsky.social", "again #HRHN2016", created_at=clock())
    run(bsky_config, db, clock)
    assert fake.count(PROFILES) == 2  # same day: cached

    clock.advance(days=1)
    fake.add_post("a3.bsky.social", "next day #HRHN2016", created_at=clock())
    run(bsky_config, db, clock)
    assert fake.count(PROFILES) == 3
    assert dict(db.conn.execute("select handle, followers from authors"))["a3.bsky.social"] == 300


# -- engagement refresh and deletions ------------------------------------------------------


def test_refresh_updates_counts_and_marks_deleted_posts(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    keep, gone = add_posts(fake, clock, 2)
    run(bsky_config, db, clock)
    assert fake.count(GET_POSTS) == 0  # just fetched: nothing to refresh yet

    clock.advance(hours=1)
    fake.set_engagement(keep, likes=42, reposts=7)
    fake.delete_post(gone)
    record = run(bsky_config, db, clock)

    assert record.status == "ok"
    assert fake.count(GET_POSTS) == 1
    posts = stored(db)
    assert (posts[keep]["likes"], posts[keep]["reposts"]) == (42, 7)
    assert posts[gone]["deleted"] == 1 and posts[gone]["text"] == "" and posts[gone]["raw"] is None
    assert record.details["deleted"] == 1
    snapshots = db.conn.execute(
        "select likes from snapshots where post_id = ? order by at", (posts[keep]["id"],)
    ).fetchall()
    assert [s[0] for s in snapshots] == [0, 42]
    # The purge was confirmed by the thread lookup's NotFound, one request for the one post.
    assert [p["uri"] for p in fake.params(THREAD)] == [[gone]]


def test_a_live_post_that_get_posts_leaves_out_is_kept(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    # getPosts omits what it does not show (a taken-down account, an AppView behind):
    # the thread lookup finds the post, so nothing is purged.
    # The older of two, half an hour apart: the newer is seen again by the overlapping
    # search, so only the older one is refreshed.
    _, post = add_posts(fake, clock, 2, every=30)
    run(bsky_config, db, clock)
    clock.advance(hours=1)
    fake.left_out_of_get_posts.add(post)
    record = run(bsky_config, db, clock)
    assert record.status == "ok" and "deleted" not in record.details
    row = stored(db)[post]
    assert row["deleted"] == 0 and row["text"] != ""
    assert fake.count(THREAD) == 1


def test_refresh_respects_budget_and_age(
    fake: FakeBluesky, bsky_config: Config, config_dict: dict[str, Any], db: Store, clock: Clock
) -> None:
    config_dict["collect"] = {"refresh_requests_per_pass": 1, "refresh_max_age_days": 1.0}
    config_dict["event"]["start"] = clock().date() - timedelta(days=3)
    config = parse_config(config_dict, path=bsky_config.path)
    fake.page_size = 100
    add_posts(fake, clock, 40)
    old = fake.add_post("old.bsky.social", "#HRHN2016", created_at=clock() - timedelta(hours=30))
    run(config, db, clock)
    assert old in stored(db)
    clock.advance(hours=1)
    run(config, db, clock)
    asked = fake.params(GET_POSTS)
    assert len(asked) == 1 and len(asked[0]["uris"]) == 25
    assert old not in asked[0]["uris"]


# -- faults ---------------------------------------------------------------------------------


def test_rate_limit_within_budget_is_waited_out(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 2)
    fake.rate_limit(SEARCH, reset_in=30)
    sleeps: list[float] = []
    record = run(bsky_config, db, clock, sleeps)
    assert record.status == "ok"
    assert sleeps == [31.0]  # until the ratelimit-reset epoch, plus a second
    assert record.details["rate_limit_waits"] == 1
    assert len(stored(db)) == 2


def test_rate_limit_beyond_budget_ends_pass_and_next_pass_resumes(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    uris = add_posts(fake, clock, 7)

    def limit_second_page(nsid: str, params: dict[str, list[str]]) -> None:
        if nsid == SEARCH and fake.count(SEARCH) == 1:
            fake.rate_limit(SEARCH, reset_in=3600)

    fake.on_request = limit_second_page
    sleeps: list[float] = []
    record = run(bsky_config, db, clock, sleeps)
    assert record.status == "rate_limited"
    assert "rate limit" in (record.error or "")
    assert sleeps == []
    assert len(stored(db)) == 3  # page 1 committed with its cursor, page 2 never read
    row = db.conn.execute("select status, error from runs order by id desc").fetchone()
    assert row["status"] == "rate_limited"

    fake.on_request = None
    clock.advance(hours=1)
    assert run(bsky_config, db, clock).status == "ok"
    assert set(stored(db)) == set(uris)


def test_server_error_then_success_is_retried(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 2)
    fake.fail(SEARCH, 500)
    sleeps: list[float] = []
    record = run(bsky_config, db, clock, sleeps)
    assert record.status == "ok"
    assert record.details["retries"] == 1 and len(sleeps) == 1
    assert len(stored(db)) == 2


def test_server_errors_beyond_retries_fail_the_pass(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 2)
    fake.fail(SEARCH, 502, times=10)
    record = run(bsky_config, db, clock, [])
    assert record.status == "failed"
    assert "Bluesky unreachable" in (record.error or "")
    assert fake.count(SEARCH) == 5  # the first try and collect.max_retries (4) retries
    assert stored(db) == {}


def test_malformed_json_fails_pass_with_nothing_half_written(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    uris = add_posts(fake, clock, 5)

    def break_second_page(nsid: str, params: dict[str, list[str]]) -> None:
        if nsid == SEARCH and fake.count(SEARCH) == 1:
            fake.malformed_json(SEARCH)

    fake.on_request = break_second_page
    record = run(bsky_config, db, clock)
    assert record.status == "failed"
    assert "app.bsky.feed.searchPosts answered with invalid JSON" in (record.error or "")
    assert len(stored(db)) == 3  # exactly page 1, whose cursor state was saved with it
    assert cursor_state(db).pending
    run_row = db.conn.execute("select status, error from runs").fetchone()
    assert run_row["status"] == "failed" and "invalid JSON" in run_row["error"]

    fake.on_request = None
    assert run(bsky_config, db, clock).status == "ok"
    assert set(stored(db)) == set(uris)


def test_schema_violation_on_first_page_stores_nothing(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 2)
    fake.schema_violation(SEARCH)
    record = run(bsky_config, db, clock)
    assert record.status == "failed"
    assert "does not match the API" in (record.error or "")
    assert stored(db) == {} and db.get_cursor("bluesky", "hrhn2016") is None
    assert db.conn.execute("select count(*) from authors").fetchone()[0] == 0


# -- login and session ---------------------------------------------------------------------------


def test_session_is_reused_across_passes_and_processes_and_kept_out_of_the_db(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 1)
    run(bsky_config, db, clock)
    run(bsky_config, db, clock)
    assert fake.count(CREATE) == 1

    forget_sessions()  # a new process: the 0600 file next to the DB carries the session
    record = run(bsky_config, db, clock)
    assert record.status == "ok" and record.details["session"] == "reused"
    assert fake.count(CREATE) == 1
    session_file = Path(str(bsky_config.db_path) + ".bluesky-session")
    assert stat.S_IMODE(os.stat(session_file).st_mode) == 0o600
    refresh_jwt = json.loads(session_file.read_text())["session"].split(":::")[3]
    db.conn.execute("pragma wal_checkpoint(full)")
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{bsky_config.db_path}{suffix}")
        data = path.read_bytes() if path.exists() else b""
        assert refresh_jwt.encode() not in data and PASSWORD.encode() not in data


def test_expired_access_token_is_refreshed_once(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 2)
    run(bsky_config, db, clock)
    fake.expire_access_tokens()
    clock.advance(minutes=1)
    add_posts(fake, clock, 1, start_min=0)
    record = run(bsky_config, db, clock)
    assert record.status == "ok", record.error
    assert record.details["session"] == "refreshed"
    assert (fake.count(REFRESH), fake.count(CREATE)) == (1, 1)
    assert len(stored(db)) == 3


def test_revoked_session_logs_in_again(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    add_posts(fake, clock, 1)
    run(bsky_config, db, clock)
    fake.revoke_sessions()
    record = run(bsky_config, db, clock)
    assert record.status == "ok", record.error
    assert (fake.count(REFRESH), fake.count(CREATE)) == (1, 2)


def test_wrong_password_gives_one_clear_error_naming_the_variable(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", "wrong-pass-word-xyz")
    record = run(bsky_config, db, clock)
    assert record.status == "failed"
    assert record.error is not None
    assert "Bluesky refused the login of tagwatch.bsky.social" in record.error
    assert "$TAGWATCH_BLUESKY_APP_PASSWORD" in record.error and APP_PASSWORD_URL in record.error
    assert "wrong-pass-word-xyz" not in record.error
    assert fake.count(CREATE) == 1 and fake.count(SEARCH) == 0


def test_missing_credentials_say_how_to_make_an_app_password(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAGWATCH_BLUESKY_APP_PASSWORD")
    record = run(bsky_config, db, clock)
    assert record.status == "failed"
    assert record.error == (
        "Bluesky needs a login to search posts (the public API refuses searches without one): "
        "set $TAGWATCH_BLUESKY_APP_PASSWORD. Use your handle (e.g. name.bsky.social) in "
        "$TAGWATCH_BLUESKY_HANDLE and an app password, not your account password, in "
        "$TAGWATCH_BLUESKY_APP_PASSWORD: create one at https://bsky.app/settings/app-passwords "
        "(Settings → Privacy and security → App passwords)."
    )
    assert fake.count() == 0


def test_simulated_event_on_a_2016_clock(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's path: a simulated event fed to the fake, collected as it unfolds."""
    # A seed whose Bluesky posts include one deleted between the two passes.
    event = simulate_event(seed=1, n_posts=400, n_authors=60)
    clock = Clock()
    clock.t = event.begins + timedelta(hours=36)
    sims = [p for p in event.by_platform("bluesky") if not p.repost_of]

    def expected_live() -> set[str]:
        return {
            p.key
            for p in sims
            if p.visible_at(clock()) and "hrhn2016" in {t.casefold() for t in p.hashtags}
        }

    with FakeBluesky(clock=clock) as fake:
        fake.add_account(HANDLE, PASSWORD)
        config_dict["bluesky"] = {"enabled": True, "service": fake.url}
        config = parse_config(config_dict, path=tmp_path / "config.toml")
        monkeypatch.setenv("TAGWATCH_BLUESKY_HANDLE", HANDLE)
        monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", PASSWORD)
        with Store.open(config.db_path) as store:
            for hours in (0, 30):
                clock.advance(hours=hours)
                keys = {uri: key for key, uri in fake.add_simulated(sims, now=clock()).items()}
                record = run(config, store, clock)
                assert record.status == "ok", record.error
                live = {keys[u] for u, row in stored(store).items() if not row["deleted"]}
                assert live == expected_live()
            assert record.details.get("deleted", 0) > 0  # the simulation deletes some posts


@pytest.mark.parametrize(
    "error, hint",
    [
        (
            "AuthFactorTokenRequired",
            "the account asks for a 2FA code: use an app password instead",
        ),
        ("AccountTakedown", "the account is unavailable (AccountTakedown)"),
    ],
)
def test_refused_login_explains_why(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock, error: str, hint: str
) -> None:
    fake.respond(CREATE, 401, {"error": error, "message": "refused"})
    record = run(bsky_config, db, clock)
    assert record.status == "failed"
    assert record.error == (
        f"Bluesky refused the login of {HANDLE} at {fake.url} (401 {error}: refused): "
        f"{hint}. App passwords are made at {APP_PASSWORD_URL}."
    )


@pytest.mark.parametrize(
    "status, body, message",
    [
        (
            403,
            {"error": "Forbidden", "message": "search is not allowed"},
            "Bluesky refused the request (403 Forbidden: search is not allowed); "
            "check the account in $TAGWATCH_BLUESKY_HANDLE",
        ),
        (
            400,
            {"error": "InvalidRequest", "message": "bad tag"},
            "Bluesky answered 400 InvalidRequest: bad tag",
        ),
        (
            400,
            {"error": "ExpiredToken", "message": "Token has expired"},
            "Bluesky rejected the session again right after logging in (400 ExpiredToken: "
            "Token has expired): check that bluesky.service (the service) is where the "
            "account lives.",
        ),
    ],
)
def test_refused_search_fails_the_pass_with_the_reason(
    fake: FakeBluesky,
    bsky_config: Config,
    db: Store,
    clock: Clock,
    status: int,
    body: dict[str, str],
    message: str,
) -> None:
    add_posts(fake, clock, 1)
    fake.respond(SEARCH, status, body, times=2)
    record = run(bsky_config, db, clock)
    assert record.status == "failed"
    assert record.error == message.replace("the service", fake.url)
    assert stored(db) == {}


def test_rate_limit_message_names_the_reset_time(
    fake: FakeBluesky, bsky_config: Config, db: Store, clock: Clock
) -> None:
    fake.rate_limit(SEARCH, reset_in=7200)
    record = run(bsky_config, db, clock)
    reset = datetime.fromtimestamp(int((clock() + timedelta(hours=2)).timestamp()), UTC)
    assert record.error == f"Bluesky rate limit reached; it resets at {reset:%H:%M:%S} UTC"
