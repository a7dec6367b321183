"""Mastodon posts' pictures, avatars and account dates, parsed and collected (#21)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tagwatch.collectors.fakes.mastodon import FakeMastodon
from tagwatch.collectors.fakes.simulation import SimMedia
from tagwatch.collectors.mastodon import MastodonCollector, parse_status
from tagwatch.records import Media
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store
from tests.conftest import RECORDED, base_config_dict

T0 = datetime(2016, 11, 24, 9, 0, tzinfo=UTC)
NOW = datetime(2016, 11, 25, 12, 0, tzinfo=UTC)

# MediaAttachment examples of docs.joinmastodon.org/entities/MediaAttachment/ (image,
# gifv, video, audio; "unknown" for a remote file the instance did not process: url
# null, remote_url the origin's), trimmed to the fields tagwatch reads.
ATTACHMENTS: list[dict[str, Any]] = [
    {
        "id": "22345792",
        "type": "image",
        "url": "https://files.mastodon.social/media_attachments/files/022/345/792/original/57859aede991da25.jpeg",
        "preview_url": "https://files.mastodon.social/media_attachments/files/022/345/792/small/57859aede991da25.jpeg",
        "remote_url": None,
        "meta": {
            "original": {"width": 640, "height": 480, "size": "640x480", "aspect": 1.3333},
            "small": {"width": 461, "height": 346, "size": "461x346", "aspect": 1.3323},
        },
        "description": "test media description",
    },
    {
        "id": "21130559",
        "type": "gifv",
        "url": "https://files.mastodon.social/media_attachments/files/021/130/559/original/bc84838f77991326.mp4",
        "preview_url": "https://files.mastodon.social/media_attachments/files/021/130/559/small/bc84838f77991326.png",
        "meta": {"original": {"width": 400, "height": 400, "frame_rate": "15/1"}},
        "description": None,
    },
    {
        "id": "22546306",
        "type": "video",
        "url": "https://files.mastodon.social/media_attachments/files/022/546/306/original/dab9a597f68b9745.mp4",
        "preview_url": "https://files.mastodon.social/media_attachments/files/022/546/306/small/dab9a597f68b9745.png",
        "meta": {"small": {"width": 400, "height": 224}},
        "description": "",
    },
    {
        "id": "21165404",
        "type": "audio",
        "url": "https://files.mastodon.social/media_attachments/files/021/165/404/original/a52207b6d5d8a85a.mp3",
        "preview_url": "https://files.mastodon.social/media_attachments/files/021/165/404/small/a52207b6d5d8a85a.png",
        "description": "a song",
    },
    {
        "id": "4",
        "type": "unknown",
        "url": None,
        "preview_url": None,
        "remote_url": "https://other.example/system/file.bin",
        "description": None,
    },
]


def docs_status(**changes: Any) -> dict[str, Any]:
    status = json.loads(
        (RECORDED / "mastodon" / "status_entity_docs_example.body.json").read_text()
    )
    status.update(changes)
    return status


def test_attachments_become_media_in_order_and_audio_and_unknown_are_left_out() -> None:
    (post,) = parse_status(
        docs_status(media_attachments=ATTACHMENTS),
        instance="https://mastodon.social",
        domain="mastodon.social",
    )
    image, gif, video = post.media
    assert image == Media(
        "image",
        ATTACHMENTS[0]["url"],
        ATTACHMENTS[0]["preview_url"],
        "test media description",
        640,
        480,
    )
    assert (gif.kind, gif.url, gif.alt, gif.width) == ("gif", ATTACHMENTS[1]["url"], "", 400)
    assert gif.picture_url == ATTACHMENTS[1]["preview_url"]  # the still, never the mp4
    # meta.small where the original's size is not given; "" alt is no alt.
    assert (video.kind, video.width, video.height, video.alt) == ("video", 400, 224, "")
    assert post.media_count == 5  # the audio and the unknown file are still attachments


def test_a_remote_file_without_a_local_copy_keeps_the_origins_address() -> None:
    remote = {"id": "9", "type": "image", "url": None, "remote_url": "https://o.example/a.jpg"}
    (post,) = parse_status(
        docs_status(media_attachments=[remote]), instance="https://m.example", domain="m.example"
    )
    assert post.media == (Media("image", "https://o.example/a.jpg"),)


def test_the_recorded_account_gives_its_still_avatar_and_creation_date() -> None:
    status = docs_status()
    status["account"]["avatar"] = "https://files.mastodon.social/animated.gif"
    (post,) = parse_status(status, instance="https://mastodon.social", domain="mastodon.social")
    assert post.author.avatar_url == status["account"]["avatar_static"]
    assert post.author.account_created_at == datetime(2016, 3, 16, 14, 34, 26, 392000, tzinfo=UTC)


@pytest.mark.parametrize(
    "account",
    [
        {"avatar": "https://m.example/avatars/original/missing.png", "created_at": "garbage"},
        {"avatar_static": None, "avatar": None, "created_at": None},
        {},
    ],
)
def test_no_avatar_of_ones_own_and_an_unreadable_date_are_unknown(account: dict) -> None:
    status = docs_status()
    for key in ("avatar", "avatar_static", "created_at"):
        status["account"].pop(key, None)
    status["account"]["avatar_static"] = account.get("avatar")
    status["account"].update(account)
    (post,) = parse_status(status, instance="https://m.example", domain="m.example")
    assert (post.author.avatar_url, post.author.account_created_at) == (None, None)


@pytest.fixture
def inst() -> Iterator[FakeMastodon]:
    with FakeMastodon(now=lambda: NOW) as fake:
        yield fake


def test_collected_pictures_reach_post_media_and_the_author_row(
    tmp_path: Path, inst: FakeMastodon
) -> None:
    photo = SimMedia("image", "stage", "Panelisti na bini")
    poster = SimMedia("video", "talk")
    joined = T0 - timedelta(days=3)
    inst.toot(
        "ana",
        "<p>#HRHN2016</p>",
        created_at=T0,
        tags=["hrhn2016"],
        media=[photo, poster],
        sensitive=True,
        avatar=True,
        account_created=joined,
    )
    inst.toot(
        "bo", "<p>#HRHN2016 words</p>", created_at=T0 + timedelta(minutes=1), tags=["hrhn2016"]
    )
    data = base_config_dict(tmp_path)
    data["mastodon"] = {"enabled": True, "instances": [inst.base_url]}
    data["collect"] = {"refresh_requests_per_pass": 0, "max_retries": 1}
    config = parse_config(data, path=tmp_path / "config.toml")
    with Store.open(config.db_path) as store:
        record = MastodonCollector(config, store, now=lambda: NOW, sleep=lambda s: None).run_pass()
        assert record.status == "ok"
        media = [
            tuple(r)
            for r in store.conn.execute(
                "select m.position, m.kind, m.url, m.preview_url, m.alt, m.width, p.sensitive"
                " from post_media m join posts p on p.id = m.post_id order by m.position"
            )
        ]
        authors = {
            r[0]: (r[1], r[2])
            for r in store.conn.execute(
                "select handle, avatar_url, account_created_at from authors"
            )
        }
    base = f"{inst.base_url}/media"
    assert media == [
        (0, "image", f"{base}/stage.jpg", f"{base}/stage-small.jpg", "Panelisti na bini", 1280, 1),
        (1, "video", f"{base}/talk.mp4", f"{base}/talk-small.jpg", "", 1280, 1),
    ]
    ana = authors[f"ana@{inst.domain}"]
    assert ana[0] == f"{base}/avatar-ana.png"
    assert ana[1].startswith("2016-11-21T00:00:00")  # rounded to the day, as Mastodon sends
    assert authors[f"bo@{inst.domain}"] == (None, "2016-03-16T00:00:00.000000Z")
    # The fake serves real pictures at those addresses (the wall's proxy fetches them).
    for url in (f"{base}/stage.jpg", f"{base}/talk-small.jpg", ana[0]):
        answer = httpx.get(url)
        assert answer.status_code == 200
        assert Image.open(io.BytesIO(answer.content)).format in ("JPEG", "PNG")
    assert httpx.get(f"{base}/talk.mp4").status_code == 404  # never a video file
