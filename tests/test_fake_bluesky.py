"""The loopback Bluesky fake behaves like the real service where the collector depends on it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from atproto import Client
from atproto_client.exceptions import BadRequestError, UnauthorizedError

from tagwatch.collectors.fakes.bluesky import FakeBluesky

T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    with FakeBluesky(page_size=2) as server:
        server.add_account("me.bsky.social", "pw-pw-pw-pw")
        yield server


def logged_in(fake: FakeBluesky) -> Client:
    client = Client(base_url=fake.url)
    client.login("me.bsky.social", "pw-pw-pw-pw", fetch_bsky_profile=False)
    return client


def test_search_pages_newest_first_within_since_and_until(fake: FakeBluesky) -> None:
    uris = [
        fake.add_post("a.bsky.social", f"#HRHN2016 n{i}", created_at=T0 - timedelta(hours=i))
        for i in range(6)
    ]
    fake.add_post("a.bsky.social", "no tag here", created_at=T0)
    client = logged_in(fake)
    params = {
        "q": "#HRHN2016",
        "tag": ["hrhn2016"],
        "since": (T0 - timedelta(hours=4)).isoformat(),
        "until": (T0 - timedelta(minutes=30)).isoformat(),
        "limit": 100,
    }
    seen, cursor = [], None
    while True:
        page = client.app.bsky.feed.search_posts({**params, "cursor": cursor})
        seen += [p.uri for p in page.posts]
        if not page.cursor:
            break
        cursor = page.cursor
    assert seen == uris[1:5]  # until is exclusive, since inclusive; pages of 2


def test_search_needs_a_session_and_q(fake: FakeBluesky) -> None:
    with pytest.raises(UnauthorizedError) as info:
        Client(base_url=fake.url).app.bsky.feed.search_posts({"q": "#x"})
    assert info.value.response.content.error == "AuthMissing"
    client = logged_in(fake)
    token = client.export_session_string().split(":::")[2]
    answer = httpx.get(
        f"{fake.url}/xrpc/app.bsky.feed.searchPosts",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "InvalidRequest"
    assert answer.headers["ratelimit-policy"] == "3000;w=300"


def test_refresh_tokens_rotate(fake: FakeBluesky) -> None:
    client = logged_in(fake)
    refresh = client.export_session_string().split(":::")[3]
    headers = {"Authorization": f"Bearer {refresh}"}
    first = client.com.atproto.server.refresh_session(headers=headers, ignore_session_check=True)
    assert first.refresh_jwt != refresh
    with pytest.raises(BadRequestError) as info:
        client.com.atproto.server.refresh_session(headers=headers, ignore_session_check=True)
    assert info.value.response.content.message == "Token has been revoked"


def test_get_posts_leaves_out_deleted_posts_and_profiles_count_followers(
    fake: FakeBluesky,
) -> None:
    fake.add_author("b.bsky.social", "B", followers=7)
    kept = fake.add_post("b.bsky.social", "stays")
    gone = fake.add_post("b.bsky.social", "goes")
    fake.delete_post(gone)
    client = logged_in(fake)
    assert [p.uri for p in client.app.bsky.feed.get_posts({"uris": [kept, gone]}).posts] == [kept]
    profile = client.app.bsky.actor.get_profiles({"actors": ["b.bsky.social"]}).profiles[0]
    assert (profile.followers_count, profile.posts_count) == (7, 1)
