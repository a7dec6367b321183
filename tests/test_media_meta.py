"""Threads and Instagram posts' pictures, parsed and collected from the Graph fakes (#21)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tagwatch.collectors.fakes.meta import FakeInstagram, FakeThreads
from tagwatch.collectors.instagram import InstagramCollector
from tagwatch.collectors.instagram.parse import FIELDS as IG_FIELDS
from tagwatch.collectors.instagram.parse import parse_media as parse_ig
from tagwatch.collectors.threads import ThreadsCollector
from tagwatch.collectors.threads.parse import FIELDS as THREADS_FIELDS
from tagwatch.collectors.threads.parse import parse_media as parse_threads
from tagwatch.records import Media
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store
from tests.conftest import base_config_dict

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
AT = "2026-11-25T10:00:00+0000"


def threads_obj(**fields: Any) -> dict[str, Any]:
    return {"id": "1", "username": "ana", "text": "#HRHN2016", "timestamp": AT, **fields}


def test_threads_image_video_carousel_and_text_posts() -> None:
    image = parse_threads(
        threads_obj(media_type="IMAGE", media_url="https://scontent.cdn/a.jpg", alt_text="Bina")
    )
    assert image.media == (Media("image", "https://scontent.cdn/a.jpg", None, "Bina"),)
    video = parse_threads(
        threads_obj(
            media_type="VIDEO",
            media_url="https://scontent.cdn/v.mp4",
            thumbnail_url="https://scontent.cdn/v.jpg",
        )
    )
    assert video.media == (
        Media("video", "https://scontent.cdn/v.mp4", "https://scontent.cdn/v.jpg", ""),
    )
    # An album's children come as ids: the count is known, the pictures are not.
    album = parse_threads(
        threads_obj(media_type="CAROUSEL_ALBUM", children={"data": [{"id": "2"}, {"id": "3"}]})
    )
    assert (album.media_count, album.media) == (2, ())
    for kind in ("TEXT_POST", "AUDIO", "REPOST_FACADE"):
        assert parse_threads(threads_obj(media_type=kind)).media == ()
    assert parse_threads(threads_obj(media_type="IMAGE")).media == ()  # no address: nothing
    assert image.author.avatar_url is None and image.author.account_created_at is None
    assert "thumbnail_url" in THREADS_FIELDS.split(",")


def ig_obj(**fields: Any) -> dict[str, Any]:
    return {"id": "9", "caption": "#HRHN2016", "timestamp": AT, "permalink": "", **fields}


def test_instagram_image_video_album_and_copyrighted_media() -> None:
    assert parse_ig(ig_obj(media_type="IMAGE", media_url="https://cdn/a.jpg")).media == (
        Media("image", "https://cdn/a.jpg"),
    )
    assert parse_ig(ig_obj(media_type="VIDEO", media_url="https://cdn/v.mp4")).media == (
        Media("video", "https://cdn/v.mp4"),
    )
    album = ig_obj(
        media_type="CAROUSEL_ALBUM",
        media_url="https://cdn/1.jpg",
        children={
            "data": [
                {"id": "1", "media_type": "IMAGE", "media_url": "https://cdn/1.jpg"},
                {"id": "2", "media_type": "IMAGE"},  # copyrighted: no media_url
                {"id": "3", "media_type": "VIDEO", "media_url": "https://cdn/3.mp4"},
            ]
        },
    )
    post = parse_ig(album)
    assert [(m.kind, m.url) for m in post.media] == [
        ("image", "https://cdn/1.jpg"),
        ("video", "https://cdn/3.mp4"),
    ]
    assert post.media_count == 3
    assert parse_ig(ig_obj(media_type="IMAGE")).media == ()  # copyrighted: not returned
    assert IG_FIELDS.endswith("children{media_type,media_url}")


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Any:
    data = base_config_dict(tmp_path)
    data["event"].update(start=date(2026, 11, 24), end=date(2026, 11, 26))
    data["collect"] = {"refresh_requests_per_pass": 0, "max_retries": 1}
    data.update(sections)
    return parse_config(data, path=tmp_path / "config.toml")


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_THREADS_ACCESS_TOKEN", "threads-t")
    monkeypatch.setenv("TAGWATCH_INSTAGRAM_ACCESS_TOKEN", "ig-t")


def stored(store: Store) -> list[tuple]:
    return [
        tuple(r)
        for r in store.conn.execute(
            "select m.kind, m.url, m.preview_url, m.alt from post_media m order by m.position"
        )
    ]


def assert_real_picture(url: str) -> None:
    answer = httpx.get(url)
    assert answer.status_code == 200
    assert Image.open(io.BytesIO(answer.content)).format == "JPEG"


def test_threads_pictures_are_asked_for_and_stored(tmp_path: Path) -> None:
    with FakeThreads(
        token="threads-t", now=lambda: NOW, expires_at=NOW + timedelta(days=50)
    ) as fake:
        base = f"{fake.url}/media"
        fake.post(
            "ana",
            "Panel #HRHN2016",
            at=NOW - timedelta(hours=1),
            topic_tag="HRHN2016",
            media_type="VIDEO",
            media_url=f"{base}/talk.mp4",
            thumbnail_url=f"{base}/talk.jpg",
            alt_text="Govornica",
        )
        config = make_config(tmp_path, threads={"enabled": True, "api_base_url": fake.url})
        with Store.open(config.db_path) as store:
            record = ThreadsCollector(
                config, store, now=lambda: NOW, sleep=lambda s: None
            ).run_pass()
            assert record.status == "ok", record.error
            searches = [r for r in fake.requests if r.path.endswith("/keyword_search")]
            assert "thumbnail_url" in searches[0].query["fields"].split(",")
            assert stored(store) == [("video", f"{base}/talk.mp4", f"{base}/talk.jpg", "Govornica")]
        assert_real_picture(f"{base}/talk.jpg")


def test_instagram_album_pictures_come_in_the_same_request(tmp_path: Path) -> None:
    with FakeInstagram(token="ig-t", now=lambda: NOW, user_id="17841400000000001") as fake:
        posted = fake.post("Album #HRHN2016", at=NOW - timedelta(hours=1))
        base = f"{fake.url}/media"
        posted.update(
            media_type="CAROUSEL_ALBUM",
            children={
                "data": [
                    {"id": "71", "media_type": "IMAGE", "media_url": f"{base}/a.jpg"},
                    {"id": "72", "media_type": "IMAGE", "media_url": f"{base}/b.jpg"},
                ]
            },
        )
        ig = {"enabled": True, "api_base_url": fake.url, "user_id": "17841400000000001"}
        config = make_config(tmp_path, instagram=ig)
        with Store.open(config.db_path) as store:
            record = InstagramCollector(
                config, store, now=lambda: NOW, sleep=lambda s: None
            ).run_pass()
            assert record.status == "ok", record.error
            assert stored(store) == [
                ("image", f"{base}/a.jpg", None, ""),
                ("image", f"{base}/b.jpg", None, ""),
            ]
            edges = [r for r in fake.requests if r.path.endswith("/recent_media")]
            assert "children{media_type,media_url}" in edges[0].query["fields"]
        assert_real_picture(f"{base}/b.jpg")
