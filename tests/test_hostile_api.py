"""Hostile API answers: mutated and truncated real payloads never crash a parser or a pass.

Each normalizer gets the recorded response shapes (tests/fixtures/recorded)
with keys dropped, values swapped for anything JSON can carry (wrong types,
lone surrogates, 2**80, huge strings), lists cut short. It must return `Post`s
that storage accepts or raise `MalformedResponse`: never any other exception,
which the scheduler would report as an "unexpected" bug. A pass over a fake
answering such garbage fails with a recorded reason, stores no half page and
leaves its cursor where the stored posts put it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tagwatch.collectors.bluesky import BlueskyCollector, forget_sessions
from tagwatch.collectors.bluesky.parse import parse_post
from tagwatch.collectors.cursor import Cursor
from tagwatch.collectors.fakes.bluesky import FakeBluesky
from tagwatch.collectors.fakes.mastodon import FakeMastodon, Fault
from tagwatch.collectors.fakes.x import FakeX
from tagwatch.collectors.mastodon import MastodonCollector, html_to_text, parse_status
from tagwatch.collectors.x import XCollector, parse_page
from tagwatch.errors import MalformedResponse
from tagwatch.records import Post
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store
from tests.conftest import RECORDED, base_config_dict

NOW = datetime(2026, 7, 4, 15, 0, tzinfo=UTC)


def _load(path: str) -> Any:
    return json.loads((RECORDED / path).read_text(encoding="utf-8"))


BLUESKY_VIEW = _load("bluesky/get_post_thread.body.json")["thread"]["post"]
MASTODON_STATUSES = [
    *_load("mastodon/timelines_tag_hoot.exchange.json")[0]["response"]["body"],
    _load("mastodon/status_entity_docs_example.body.json"),
]
X_PAGE = _load("twitter/search_recent_tweets_hashtag_brexit_page1.body.json")

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["\ud800", "2026-13-45T99:99:99Z", "", "at://", "<script>x</script>", "x" * 5000]
    ),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


@st.composite
def mutated(draw: st.DrawFn, payload: Any) -> Any:
    """`payload` with a few random edits: drop, replace or truncate a node."""
    doc = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = draw(st.sampled_from(["drop", "replace", "truncate"]))
        if action == "drop":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(json_value)
        else:
            node = parent[key]
            if isinstance(node, list | str):
                parent[key] = node[: draw(st.integers(0, max(len(node) - 1, 0)))]
            elif isinstance(node, dict):
                parent[key] = dict(list(node.items())[: draw(st.integers(0, len(node)))])
    return doc


def _assert_storable(posts: list[Post]) -> None:
    """What a parser returns, the store takes whole, and stores the text as given."""
    store = Store.open(":memory:")
    try:
        for post in posts:
            assert isinstance(post, Post)
            store.write_posts([post])
            row = store.conn.execute(
                "select text, author_name from posts where platform = ? and platform_id = ?",
                (post.platform, post.platform_id),
            ).fetchone()
            if row is not None and row["text"]:
                assert row["text"] == post.text
    finally:
        store.close()


HOSTILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HOSTILE
@given(mutated(BLUESKY_VIEW))
def test_bluesky_parse_post_returns_a_post_or_malformed(view: Any) -> None:
    try:
        post = parse_post(view, collected_at=NOW, source="https://bsky.social")
    except MalformedResponse:
        return
    _assert_storable([post])


@HOSTILE
@given(st.sampled_from(MASTODON_STATUSES).flatmap(mutated))
def test_mastodon_parse_status_returns_posts_or_malformed(status: Any) -> None:
    try:
        posts = parse_status(status, instance="https://mastodon.social", domain="mastodon.social")
    except MalformedResponse:
        return
    _assert_storable(posts)


@settings(HOSTILE, max_examples=60)
@given(mutated(X_PAGE))
def test_x_parse_page_returns_posts_or_malformed(page: Any) -> None:
    try:
        posts = parse_page(page, collected_at=NOW, tags=["brexit"])
    except MalformedResponse:
        return
    _assert_storable(posts)


@pytest.mark.filterwarnings("ignore::bs4.MarkupResemblesLocatorWarning")
@HOSTILE
@given(
    st.one_of(
        st.text(),
        st.sampled_from([s.get("content") or "" for s in MASTODON_STATUSES]).flatmap(
            lambda html: st.integers(0, len(html)).map(lambda n: html[:n])
        ),
    )
)
def test_mastodon_html_to_text_takes_any_text(html: str) -> None:
    assert isinstance(html_to_text(html), str)


def test_lone_surrogates_are_stored_as_replacement_characters(fresh_store: Store) -> None:
    """UTF-8 cannot hold a lone surrogate: the store keeps all else and marks where it was."""
    view = copy.deepcopy(BLUESKY_VIEW)
    view["record"]["text"] = "before \ud83d after 🏳️‍🌈"
    view["author"]["displayName"] = "\udc00name"
    post = parse_post(view, collected_at=NOW)
    fresh_store.write_posts([post])
    row = fresh_store.conn.execute("select text, author_name, raw from posts").fetchone()
    assert row["text"] == "before \ufffd after 🏳️‍🌈"
    assert row["author_name"] == "\ufffdname"
    assert json.loads(row["raw"])["record"]["text"] == "before \ufffd after 🏳️‍🌈"


def test_wrong_types_are_a_malformed_response_naming_the_field() -> None:
    view = copy.deepcopy(BLUESKY_VIEW)
    view["author"]["displayName"] = ["not", "a", "name"]
    with pytest.raises(MalformedResponse, match=r"Bluesky sent a post in a shape .*display_name"):
        parse_post(view, collected_at=NOW)
    page = copy.deepcopy(X_PAGE)
    page["data"][0]["public_metrics"]["like_count"] = 2**70
    with pytest.raises(MalformedResponse, match=r"X sent a post .*likes .* beyond a 64-bit"):
        parse_page(page, collected_at=NOW)


# -- a whole pass against a fake answering garbage -------------------------------------

SEARCH = "app.bsky.feed.searchPosts"
HANDLE = "hostile.bsky.social"
PASSWORD = "host-ile0-pass-word"


def test_bluesky_pass_over_garbage_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGWATCH_BLUESKY_HANDLE", HANDLE)
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", PASSWORD)
    now = datetime.now(UTC).replace(microsecond=0)
    with FakeBluesky(page_size=4) as fake:
        fake.add_account(HANDLE, PASSWORD)
        for i in range(6):
            fake.add_post(
                "alice.bsky.social",
                f"Stored {i} #HRHN2016",
                created_at=now - timedelta(minutes=i + 1),
            )
        data = base_config_dict(tmp_path)
        data["event"].update(
            {
                "timezone": "UTC",
                "start": now.date() - timedelta(days=1),
                "end": now.date() + timedelta(days=1),
            }
        )
        data["bluesky"] = {"enabled": True, "service": fake.url}
        data["collect"] = {"max_retries": 0}
        config = parse_config(data, path=tmp_path / "config.toml")
        good_page = json.loads(
            json.dumps({"posts": [fake.post_view(u) for u in list(fake.posts)[:4]]})
        )

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(body=mutated(good_page) | st.binary(max_size=64))
        def one_pass(body: Any) -> None:
            forget_sessions()
            store = Store.open(":memory:")
            try:
                first = BlueskyCollector(config, store, now=lambda: now).run_pass()
                assert first.status == "ok", first.error
                before = store.get_cursor("bluesky", "hrhn2016")
                count = store.conn.execute("select count(*) from posts").fetchone()[0]
                added = fake.add_post("bob.bsky.social", "Later #HRHN2016", created_at=now)
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                fake.respond(SEARCH, 200, raw)
                record = BlueskyCollector(config, store, now=lambda: now).run_pass()
                fake.delete_post(added)
                row = store.conn.execute(
                    "select status, error from runs order by id desc limit 1"
                ).fetchone()
                assert row["status"] == record.status
                half = store.conn.execute(
                    "select count(*) from posts p where deleted = 0 and (not exists"
                    " (select 1 from snapshots s where s.post_id = p.id) or not exists"
                    " (select 1 from authors a where a.id = p.author_id)"
                    " or (hashtags != '[]' and not exists"
                    " (select 1 from post_hashtags h where h.post_id = p.id)))"
                ).fetchone()[0]
                assert half == 0
                if record.status == "failed":
                    assert row["error"] and not row["error"].startswith("unexpected"), row["error"]
                    assert store.get_cursor("bluesky", "hrhn2016") == before
                    stored = store.conn.execute("select count(*) from posts").fetchone()[0]
                    assert stored == count
                else:
                    assert record.status == "ok", record.error
            finally:
                store.close()
                fake.faults.clear()

        one_pass()
    forget_sessions()


def test_x_pass_over_garbage_fails_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for X: a search page that is not what X sends ends the pass, storing nothing."""
    token = "hostile-x-bearer"
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", token)
    now = datetime(2016, 11, 25, 12, 0, tzinfo=UTC)
    with FakeX(bearer_token=token, now=lambda: now) as fake:
        data = base_config_dict(tmp_path)
        data["x"] = {"enabled": True, "api_base_url": fake.url}
        data["collect"] = {"max_retries": 0}
        config = parse_config(data, path=tmp_path / "config.toml")

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(body=mutated(X_PAGE) | json_value)
        def one_pass(body: Any) -> None:
            store = Store.open(":memory:")
            try:
                fake.fail("/2/tweets/search/recent", 200, body=body)
                record = XCollector(config, store, now=lambda: now, sleep=lambda s: None).run_pass()
                fake.faults.clear()
                row = store.conn.execute("select status, error from runs").fetchone()
                assert row["status"] == record.status
                stored = {r[0] for r in store.conn.execute("select platform_id from posts")}
                for (value,) in store.conn.execute("select value from cursors"):
                    # The cursor's top is a post that was stored, never one only claimed.
                    assert Cursor.read(value).newest in stored | {None}
                if record.status == "failed":
                    assert row["error"] and not row["error"].startswith("unexpected"), row["error"]
                else:
                    assert record.status in ("ok", "partial"), record.error
            finally:
                store.close()

        one_pass()


def test_x_cursor_follows_the_posts_not_what_meta_claims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a page whose `meta` names ids its `data` lacks moved the cursor past them."""
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", "x-meta-token")
    now = datetime(2016, 11, 25, 12, 0, tzinfo=UTC)
    with FakeX(bearer_token="x-meta-token", now=lambda: now) as fake:
        data = base_config_dict(tmp_path)
        data["x"] = {"enabled": True, "api_base_url": fake.url}
        config = parse_config(data, path=tmp_path / "config.toml")
        meta = {"newest_id": "801797467362549760", "oldest_id": "801797467362549700"}
        fake.fail("/2/tweets/search/recent", 200, body={"meta": {**meta, "result_count": 3}})
        store = Store.open(":memory:")
        XCollector(config, store, now=lambda: now, sleep=lambda s: None).run_pass()
        cursor = Cursor.read(store.get_cursor("x", "#HRHN2016 -is:retweet"))
        assert cursor.newest is None
        store.close()


HALF_POSTS = (
    "select count(*) from posts p where deleted = 0 and (not exists"
    " (select 1 from snapshots s where s.post_id = p.id) or not exists"
    " (select 1 from authors a where a.id = p.author_id))"
)


def test_mastodon_pass_over_garbage_never_crashes(tmp_path: Path) -> None:
    """Mastodon skips a status it cannot read (counted as unparseable) but never crashes."""
    with FakeMastodon() as fake:
        data = base_config_dict(tmp_path)
        data["mastodon"] = {"enabled": True, "instances": [fake.base_url]}
        data["collect"] = {"max_retries": 0}
        config = parse_config(data, path=tmp_path / "config.toml")

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            body=st.lists(st.sampled_from(MASTODON_STATUSES).flatmap(mutated), max_size=3)
            | json_value
        )
        def one_pass(body: Any) -> None:
            store = Store.open(":memory:")
            try:
                path = "/api/v1/timelines/tag"
                fake.inject(Fault("error", path=path, status=200, body=json.dumps(body)))
                record = MastodonCollector(config, store, sleep=lambda s: None).run_pass()
                fake.clear_faults()
                row = store.conn.execute("select status, error from runs").fetchone()
                assert row["status"] == record.status
                assert not (row["error"] or "").startswith("unexpected"), row["error"]
                assert store.conn.execute(HALF_POSTS).fetchone()[0] == 0
            finally:
                store.close()

        one_pass()


def test_x_page_with_a_null_post_fails_the_pass_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: `data: [null]` crashed the billing ledger ("unexpected AttributeError")."""
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", "x-null-token")
    now = datetime(2016, 11, 25, 12, 0, tzinfo=UTC)
    with FakeX(bearer_token="x-null-token", now=lambda: now) as fake:
        data = base_config_dict(tmp_path)
        data["x"] = {"enabled": True, "api_base_url": fake.url}
        config = parse_config(data, path=tmp_path / "config.toml")
        fake.fail("/2/tweets/search/recent", 200, body={"data": [None], "meta": {}})
        store = Store.open(":memory:")
        record = XCollector(config, store, now=lambda: now, sleep=lambda s: None).run_pass()
        store.close()
    assert record.status == "failed"
    # Parsing comes before billing now; either way the pass names what X sent wrong.
    assert record.error is not None
    assert record.error.startswith("X returned a post without a usable id")
