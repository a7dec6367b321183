"""X posts' pictures (paid, behind `[x] media`), avatars and account dates (#21)."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tagwatch.collectors.fakes.x import FakeX, make_tweet, snowflake
from tagwatch.collectors.x import XCollector
from tagwatch.collectors.x.budget import budget_state
from tagwatch.collectors.x.parse import parse_page
from tagwatch.errors import ConfigError
from tagwatch.records import Media
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store
from tests.conftest import RECORDED

TOKEN = "media-bearer-21"
SEARCH = "/2/tweets/search/recent"
NOW = datetime(2016, 11, 25, 12, 0, tzinfo=UTC)
AT = datetime(2021, 9, 22, tzinfo=UTC)


def brexit_page() -> dict[str, Any]:
    path = RECORDED / "twitter" / "search_recent_tweets_hashtag_brexit_page1.body.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_recorded_page_gives_photos_gifs_avatars_and_account_dates() -> None:
    page = brexit_page()
    posts = {p.platform_id: p for p in parse_page(page, collected_at=AT)}
    media = {m["media_key"]: m for m in page["includes"]["media"]}
    gif_post = posts["1440716745577140229"]  # attachments: 16_1440716736051830786
    (gif,) = gif_post.media
    item = media["16_1440716736051830786"]
    assert gif == Media("gif", None, item["preview_image_url"], "", 320, 200)
    assert gif.picture_url == "https://pbs.twimg.com/tweet_video_thumb/E_50PPpUYAIE3uX.jpg"
    photos = [m for p in posts.values() for m in p.media if m.kind == "image"]
    assert photos and all(
        m.url and m.url.startswith("https://pbs.twimg.com/media/") for m in photos
    )
    assert all(m.width and m.height for m in photos)
    users = {u["id"]: u for u in page["includes"]["users"]}
    author = gif_post.author
    recorded = users[author.platform_id]["profile_image_url"]
    assert recorded.endswith("_normal.jpg")
    assert author.avatar_url == recorded.replace("_normal.jpg", "_bigger.jpg")
    assert author.account_created_at == datetime.fromisoformat(
        users[author.platform_id]["created_at"].replace("Z", "+00:00")
    )


def test_alt_text_video_a_missing_media_object_and_the_default_avatar() -> None:
    page = copy.deepcopy(brexit_page())
    tweet = next(t for t in page["data"] if t["id"] == "1440716745577140229")
    tweet["attachments"]["media_keys"] = ["7_1", "16_1440716736051830786", "3_not_sent"]
    page["includes"]["media"].append(
        {
            "media_key": "7_1",
            "type": "video",
            "preview_image_url": "https://pbs.twimg.com/ext_tw_video_thumb/1/pu/img/a.jpg",
            "alt_text": "Govornica za pultom",
            "width": 1280,
            "height": 720,
        }
    )
    user = next(u for u in page["includes"]["users"] if u["id"] == tweet["author_id"])
    user["profile_image_url"] = (
        "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
    )
    del user["created_at"]
    post = next(p for p in parse_page(page, collected_at=AT) if p.platform_id == tweet["id"])
    assert [(m.kind, m.url, m.alt) for m in post.media] == [
        ("video", None, "Govornica za pultom"),
        ("gif", None, ""),
    ]
    assert post.media_count == 3  # the post says three; X sent two of them
    assert (post.author.avatar_url, post.author.account_created_at) == (None, None)


# -- through tweepy and the fake --------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeX]:
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", TOKEN)
    with FakeX(bearer_token=TOKEN, now=clock) as server:
        yield server


def make_config(config_dict: dict[str, Any], tmp_path: Path, fake: FakeX, **x: Any) -> Config:
    config_dict["x"] = {"enabled": True, "api_base_url": fake.url, "refresh_budget_share": 0, **x}
    return parse_config(config_dict, path=tmp_path / "config.toml")


def publish_with_pictures(fake: FakeX, clock: Clock) -> None:
    joined = NOW - timedelta(days=2)
    ana = fake.add_user("501", "ana", "Ana", created_at=joined)
    fake.add_media("3_1", "photo", alt="Panelisti na bini", name="stage")
    fake.add_media("3_2", "photo", name="hall")
    fake.add_media("7_3", "video", name="talk")
    at = clock() - timedelta(minutes=10)
    fake.add_tweet(
        make_tweet(
            snowflake(at, 1),
            "Panel #HRHN2016",
            ana,
            created_at=at,
            media_keys=["3_1", "3_2"],
            sensitive=True,
        )
    )
    at2 = at + timedelta(minutes=1)
    fake.add_tweet(
        make_tweet(snowflake(at2, 2), "Talk #HRHN2016", ana, created_at=at2, media_keys=["7_3"])
    )


def stored_media(store: Store) -> list[tuple]:
    return [
        tuple(r)
        for r in store.conn.execute(
            "select p.text, m.position, m.kind, m.url, m.preview_url, m.alt, p.sensitive"
            " from post_media m join posts p on p.id = m.post_id order by p.created_at, m.position"
        )
    ]


def ledger(store: Store) -> dict[str, int]:
    rows = store.conn.execute("select kind, count(*) from paid_reads group by kind")
    return {str(k): int(n) for k, n in rows}


def run(config: Config, store: Store, clock: Clock) -> Any:
    return XCollector(config, store, now=clock, sleep=lambda s: None).run_pass()


def test_media_off_asks_for_none_bills_none_and_still_gets_avatars(
    config_dict, tmp_path, fake, clock, store
) -> None:
    config = make_config(config_dict, tmp_path, fake)
    assert config.x.media is False
    publish_with_pictures(fake, clock)
    assert run(config, store, clock).status == "ok"
    (request,) = fake.requests_to(SEARCH)
    assert request.params["expansions"] == "author_id"
    assert "media.fields" not in request.params
    assert "profile_image_url" in request.params["user.fields"].split(",")
    assert stored_media(store) == []
    assert [
        r[0] for r in store.conn.execute("select media_count from posts order by created_at")
    ] == [2, 1]
    assert ledger(store) == {"post": 2, "user": 1}
    row = store.conn.execute("select avatar_url, account_created_at from authors").fetchone()
    assert row[0] == f"{fake.url}/media/profile_images/501/ana_bigger.jpg"
    assert row[1].startswith("2016-11-23T12:00:00")


def test_media_on_asks_for_them_bills_each_and_stores_them(
    config_dict, tmp_path, fake, clock, store
) -> None:
    config = make_config(config_dict, tmp_path, fake, media=True)
    publish_with_pictures(fake, clock)
    record = run(config, store, clock)
    assert record.status == "ok"
    (request,) = fake.requests_to(SEARCH)
    assert request.params["expansions"].split(",") == ["author_id", "attachments.media_keys"]
    assert request.params["media.fields"] == "type,url,preview_image_url,alt_text,width,height"
    assert ledger(store) == {"post": 2, "user": 1, "media": 3}
    assert record.details["media_reads"] == 3
    assert budget_state(store.conn, config, clock()).spent_usd == pytest.approx(
        2 * 0.005 + 0.010 + 3 * 0.005
    )
    base = f"{fake.url}/media"
    assert stored_media(store) == [
        ("Panel #HRHN2016", 0, "image", f"{base}/media/stage.jpg", None, "Panelisti na bini", 1),
        ("Panel #HRHN2016", 1, "image", f"{base}/media/hall.jpg", None, "", 1),
        ("Talk #HRHN2016", 0, "video", None, f"{base}/ext_tw_video_thumb/talk.jpg", "", 0),
    ]
    avatar = store.conn.execute("select avatar_url from authors").fetchone()[0]
    for url in (f"{base}/media/stage.jpg", f"{base}/ext_tw_video_thumb/talk.jpg", avatar):
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert Image.open(io.BytesIO(answer.content)).format == "JPEG"


def test_with_media_on_a_page_is_sized_for_four_media_a_post(
    config_dict, tmp_path, fake, clock, store
) -> None:
    config = make_config(
        config_dict, tmp_path, fake, media=True, monthly_post_budget=0, budget_usd=1.0
    )
    authors = [fake.add_user(str(600 + a), f"author{a}") for a in range(60)]
    for i in range(60):
        at = clock() - timedelta(minutes=120 - i)
        fake.add_tweet(
            make_tweet(snowflake(at, i), f"Post {i} #HRHN2016", authors[i], created_at=at)
        )
    run(config, store, clock)
    sizes = [int(r.params["max_results"]) for r in fake.requests_to(SEARCH)]
    # A post $0.005 + its author $0.010 + four media 4 x $0.005 = $0.035: $1.00 pays 28.
    assert sizes[0] == 28


def test_x_media_must_be_true_or_false(config_dict, tmp_path) -> None:
    config_dict["x"] = {"enabled": True, "media": "yes"}
    with pytest.raises(ConfigError, match=r"x\.media"):
        parse_config(config_dict, path=tmp_path / "config.toml")
