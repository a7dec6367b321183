"""Post media, avatars and account ages as storage keeps them (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tagwatch.records import Author, Media, Post
from tagwatch.storage.db import Store

T0 = datetime(2026, 5, 20, 9, 0, tzinfo=UTC)


def _post(pid: str = "1", media: tuple[Media, ...] = (), **author: object) -> Post:
    return Post(
        platform="mastodon",
        platform_id=f"https://example.social/users/ana/statuses/{pid}",
        url=f"https://example.social/@ana/{pid}",
        author=Author("ana@example.social", "ana@example.social", "Ana", **author),  # type: ignore[arg-type]
        text="A picture from the hall #HRHN2016",
        created_at=T0,
        media=media,
    )


def _media(store: Store) -> list[tuple]:
    return [
        tuple(r)
        for r in store.conn.execute(
            "select position, kind, url, preview_url, alt from post_media"
            " order by post_id, position"
        )
    ]


def test_media_are_stored_in_order_and_counted(tmp_path):
    store = Store.open(tmp_path / "t.db")
    pic = Media("image", "https://files.example.social/a.jpg", None, "The stage", 1200, 800)
    vid = Media("video", "https://files.example.social/v.mp4", "https://files.example.social/v.png")
    store.write_posts([_post(media=(pic, vid))])
    assert _media(store) == [
        (0, "image", "https://files.example.social/a.jpg", None, "The stage"),
        (
            1,
            "video",
            "https://files.example.social/v.mp4",
            "https://files.example.social/v.png",
            "",
        ),
    ]
    assert store.conn.execute("select media_count from posts").fetchone()[0] == 2
    assert pic.picture_url == "https://files.example.social/a.jpg"
    assert vid.picture_url == "https://files.example.social/v.png"


def test_a_sighting_without_media_keeps_the_known_ones_and_a_new_one_replaces_them(tmp_path):
    store = Store.open(tmp_path / "t.db")
    first = Media("image", "https://files.example.social/a.jpg", alt="old alt")
    store.write_posts([_post(media=(first,))])
    store.write_posts([_post()])  # a refresh that sends no media
    assert [r[4] for r in _media(store)] == ["old alt"]
    store.write_posts(
        [_post(media=(Media("image", "https://files.example.social/b.jpg", alt="new"),))]
    )
    assert [(r[2], r[4]) for r in _media(store)] == [("https://files.example.social/b.jpg", "new")]


def test_deleting_a_post_upstream_purges_its_media(tmp_path):
    store = Store.open(tmp_path / "t.db")
    post = _post(media=(Media("image", "https://files.example.social/a.jpg", alt="x"),))
    store.write_posts([post])
    assert store.mark_deleted(post.platform, post.platform_id)
    assert _media(store) == []


def test_avatar_and_account_age_are_kept_when_a_later_sighting_leaves_them_out(tmp_path):
    store = Store.open(tmp_path / "t.db")
    joined = datetime(2026, 5, 18, tzinfo=UTC)
    store.write_posts(
        [_post("1", avatar_url="https://files.example.social/ana.png", account_created_at=joined)]
    )
    store.write_posts([_post("2")])
    row = store.conn.execute("select avatar_url, account_created_at from authors").fetchone()
    assert row[0] == "https://files.example.social/ana.png"
    assert row[1].startswith("2026-05-18T00:00:00")


def test_unknown_avatar_and_account_age_stay_unknown(tmp_path):
    store = Store.open(tmp_path / "t.db")
    store.write_posts([_post()])
    row = store.conn.execute("select avatar_url, account_created_at from authors").fetchone()
    assert tuple(row) == (None, None)


def test_bad_media_are_refused_before_anything_is_stored():
    with pytest.raises(ValueError, match="Media.kind"):
        Media("svg", "https://x/a.svg")
    with pytest.raises(TypeError, match="Post.media"):
        Post(  # type: ignore[arg-type]
            platform="x",
            platform_id="1",
            url="",
            author=None,
            text="",
            created_at=T0,
            media=("https://x/a.jpg",),
        )
