"""Bluesky posts' pictures, avatars and account dates: views, Jetstream records, the fake (#21)."""

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

from tagwatch.collectors.bluesky import BlueskyCollector, forget_sessions
from tagwatch.collectors.bluesky.parse import embed_view, parse_post
from tagwatch.collectors.fakes.bluesky import FakeBluesky
from tagwatch.collectors.fakes.simulation import SimMedia
from tagwatch.collectors.streams.jetstream import parse_event
from tagwatch.records import Media
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store
from tests.conftest import RECORDED, base_config_dict

AT = datetime(2026, 7, 4, 12, 0, tzinfo=UTC)


def recorded_view() -> dict[str, Any]:
    """The real postView of get_post_thread.body.json: a quote with one image."""
    body = json.loads((RECORDED / "bluesky" / "get_post_thread.body.json").read_text("utf-8"))
    return body["thread"]["post"]


def jetstream_events() -> list[dict[str, Any]]:
    lines = (RECORDED / "bluesky" / "jetstream_v1_subscribe_events.jsonl").read_text("utf-8")
    return [json.loads(line) for line in lines.splitlines() if line.strip()]


def test_the_recorded_view_gives_the_picture_avatar_and_account_date() -> None:
    view = recorded_view()
    post = parse_post(view, collected_at=AT)
    (image,) = post.media
    shown = view["embed"]["media"]["images"][0]
    assert image == Media("image", shown["fullsize"], shown["thumb"], "")
    assert post.author.avatar_url == view["author"]["avatar"]
    assert post.author.account_created_at == datetime(2023, 4, 26, 19, 5, 34, 249000, tzinfo=UTC)


def test_jetstream_records_get_the_same_addresses_the_appview_gives() -> None:
    view = recorded_view()
    did = view["author"]["did"]
    built = embed_view(view["record"]["embed"], did)
    assert built is not None
    assert built["media"]["images"] == view["embed"]["media"]["images"]


def test_a_recorded_jetstream_photo_becomes_a_cdn_picture_with_its_size() -> None:
    event = next(
        e for e in jetstream_events() if e.get("commit", {}).get("rkey") == "3mptbyo7tas2u"
    )
    post = parse_event(event, collected_at=AT)
    did = event["did"]
    cid = event["commit"]["record"]["embed"]["images"][0]["image"]["ref"]["$link"]
    assert post.media == (
        Media(
            "image",
            f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/{cid}@jpeg",
            f"https://cdn.bsky.app/img/feed_thumbnail/plain/{did}/{cid}@jpeg",
            "",
            889,
            889,
        ),
    )
    # A Jetstream event names no avatar or account date: unknown, not invented.
    assert (post.author.avatar_url, post.author.account_created_at) == (None, None)


def test_a_video_record_and_view_give_the_poster_frame() -> None:
    did = "did:plc:ynfp6wddjqpl44gordpsqkuw"
    record_embed = {
        "$type": "app.bsky.embed.video",
        "video": {"$type": "blob", "ref": {"$link": "bafkreivid"}, "mimeType": "video/mp4"},
        "alt": "Govornica za pultom",
        "aspectRatio": {"width": 1280, "height": 720},
    }
    view = recorded_view()
    view["embed"] = embed_view(record_embed, did)
    (video,) = parse_post(view, collected_at=AT).media
    base = "https://video.bsky.app/watch/did%3Aplc%3Aynfp6wddjqpl44gordpsqkuw/bafkreivid"
    assert video == Media(
        "video", f"{base}/playlist.m3u8", f"{base}/thumbnail.jpg", "Govornica za pultom", 1280, 720
    )
    assert video.picture_url == f"{base}/thumbnail.jpg"


def test_missing_addresses_and_alt_and_other_embeds() -> None:
    view = recorded_view()
    view["embed"] = {
        "$type": "app.bsky.embed.images#view",
        "images": [{"thumb": "https://cdn.bsky.app/t@jpeg", "alt": None}, "junk"],
    }
    assert parse_post(view, collected_at=AT).media == (
        Media("image", None, "https://cdn.bsky.app/t@jpeg", ""),
    )
    view["embed"] = {"$type": "app.bsky.embed.external#view", "external": {"uri": "https://a"}}
    assert parse_post(view, collected_at=AT).media == ()
    del view["author"]["avatar"], view["author"]["createdAt"]
    author = parse_post(view, collected_at=AT).author
    assert (author.avatar_url, author.account_created_at) == (None, None)


@pytest.mark.parametrize("label", ["porn", "sexual", "nudity", "graphic-media"])
def test_adult_and_graphic_labels_mark_the_post_and_its_media_sensitive(label: str) -> None:
    view = recorded_view()
    assert parse_post(view, collected_at=AT).sensitive is False
    labelled = copy.deepcopy(view)
    labelled["labels"] = [{"src": view["author"]["did"], "uri": view["uri"], "val": label}]
    assert parse_post(labelled, collected_at=AT).sensitive is True
    self_labelled = copy.deepcopy(view)
    self_labelled["record"]["labels"] = {
        "$type": "com.atproto.label.defs#selfLabels",
        "values": [{"val": label}],
    }
    assert parse_post(self_labelled, collected_at=AT).sensitive is True


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    forget_sessions()
    with FakeBluesky() as server:
        server.add_account("tagwatch.bsky.social", "abcd-efgh-ijkl-mnop")
        yield server
    forget_sessions()


def test_collected_pictures_reach_post_media_and_the_author_row(
    tmp_path: Path, fake: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    joined = now - timedelta(days=3)
    fake.add_author("ana.bsky.social", "Ana", created_at=joined)
    fake.add_author("bo.bsky.social", "Bo", avatar=False)
    fake.add_post(
        "ana.bsky.social",
        "Panel #HRHN2016",
        created_at=now - timedelta(minutes=5),
        images=[SimMedia("image", "stage", "Panelisti na bini"), SimMedia("image", "hall")],
        labels=["graphic-media"],
    )
    fake.add_post(
        "bo.bsky.social",
        "Talk #HRHN2016",
        created_at=now - timedelta(minutes=4),
        images=[SimMedia("video", "talk", "A talk")],
    )
    data = base_config_dict(tmp_path)
    day = timedelta(days=1)
    data["event"].update({"timezone": "UTC", "start": now.date() - day, "end": now.date() + day})
    data["bluesky"] = {"enabled": True, "service": fake.url}
    monkeypatch.setenv("TAGWATCH_BLUESKY_HANDLE", "tagwatch.bsky.social")
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", "abcd-efgh-ijkl-mnop")
    config = parse_config(data, path=tmp_path / "config.toml")
    store = Store.open(config.db_path)
    try:
        record = BlueskyCollector(config, store, now=lambda: now, sleep=lambda s: None).run_pass()
        assert record.status == "ok", record.error
        media = [
            tuple(r)
            for r in store.conn.execute(
                "select a.handle, m.position, m.kind, m.url, m.preview_url, m.alt, m.width,"
                " p.sensitive from post_media m join posts p on p.id = m.post_id"
                " join authors a on a.id = p.author_id order by a.handle, m.position"
            )
        ]
        authors = {
            r[0]: (r[1], r[2])
            for r in store.conn.execute(
                "select handle, avatar_url, account_created_at from authors"
            )
        }
    finally:
        store.close()
    assert [m[:3] + m[5:] for m in media] == [
        ("ana.bsky.social", 0, "image", "Panelisti na bini", 4000, 1),
        ("ana.bsky.social", 1, "image", "", 4000, 1),
        ("bo.bsky.social", 0, "video", "A talk", 1280, 0),
    ]
    assert all(m[3].startswith(f"{fake.url}/media/") for m in media)
    assert "/img/feed_fullsize/plain/" in media[0][3] and media[0][3].endswith("@jpeg")
    assert media[2][4].endswith("/thumbnail.jpg")
    ana, bo = authors["ana.bsky.social"], authors["bo.bsky.social"]
    assert ana[0] is not None and ana[0].startswith(f"{fake.url}/media/cdn/img/avatar/plain/")
    assert ana[1].startswith(joined.strftime("%Y-%m-%dT%H:%M:%S"))
    assert bo[0] is None  # no picture of their own: no avatar in the view
    # Real pictures at every picture address (the wall's proxy fetches them).
    for url in (media[0][3], media[0][4], media[2][4], ana[0]):
        answer = httpx.get(url)
        assert answer.status_code == 200, url
        assert Image.open(io.BytesIO(answer.content)).format == "JPEG"
