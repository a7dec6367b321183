"""Bluesky parsing: a pure function of recorded payloads (no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tagwatch.collectors.bluesky.parse import facet_entities, parse_post, sort_at
from tagwatch.errors import MalformedResponse
from tests.conftest import RECORDED

BLUESKY = RECORDED / "bluesky"
NOW = datetime(2026, 7, 4, 15, 0, tzinfo=UTC)


def recorded_post_view() -> dict[str, Any]:
    return json.loads((BLUESKY / "get_post_thread.body.json").read_text())["thread"]["post"]


def jetstream_view(rkey: str) -> dict[str, Any]:
    """A postView around a record the firehose delivered (no recorded searchPosts exists)."""
    for line in (BLUESKY / "jetstream_v1_subscribe_events.jsonl").read_text().splitlines():
        event = json.loads(line)
        commit = event.get("commit") or {}
        if commit.get("rkey") == rkey:
            indexed = datetime.fromtimestamp(event["time_us"] / 1e6, UTC)
            return {
                "uri": f"at://{event['did']}/app.bsky.feed.post/{rkey}",
                "cid": commit["cid"],
                "author": {"did": event["did"], "handle": "someone.bsky.social", "labels": []},
                "record": commit["record"],
                "indexedAt": indexed.isoformat().replace("+00:00", "Z"),
                "likeCount": 0,
                "labels": [],
            }
    raise LookupError(rkey)


def byte_facet(text: str, fragment: str, feature: dict[str, Any]) -> dict[str, Any]:
    start = len(text[: text.index(fragment)].encode())
    return {
        "features": [feature],
        "index": {"byteStart": start, "byteEnd": start + len(fragment.encode())},
    }


def test_recorded_post_view_with_quote_and_image() -> None:
    view = recorded_post_view()
    post = parse_post(view, collected_at=NOW, source="https://bsky.social")
    assert (
        post.platform_id == "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kaheyt6vpc22"
    )
    assert post.url == "https://bsky.app/profile/test.marshal.dev/post/3kaheyt6vpc22"
    assert (post.author.handle, post.author.display_name) == ("test.marshal.dev", "Python SDK")
    assert post.created_at == datetime(2023, 9, 28, 12, 49, 36, 735000, tzinfo=UTC)
    assert post.quote_of == "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kahesw26il2z"
    assert post.media_count == 1 and post.lang == "en"
    assert post.reply_to is None and post.likes == 0
    assert not post.no_unauthenticated and not post.sensitive
    assert post.raw is view and post.source == "https://bsky.social"


def test_recorded_tag_facets_with_emoji_in_the_text() -> None:
    post = parse_post(jetstream_view("3mptbypfywk2v"), collected_at=NOW)
    assert post.hashtags == ("howtotellaitoshutup", "indierebellion")
    assert post.lang == "de"


def test_recorded_link_facet_gives_the_full_url_not_the_shortened_text() -> None:
    post = parse_post(jetstream_view("3mptbyo7tas2u"), collected_at=NOW)
    assert "www.tumblr.com/tempo-tales/..." in post.text
    assert post.links == (
        "https://www.tumblr.com/tempo-tales/765681292369166336/"
        "behind-them-timmi-and-wankyu-follow-silently-but?source=share",
    )
    assert post.hashtags == ("talesatwonderworld", "balanwonderworldoc")
    assert post.media_count == 1


def test_recorded_link_card_counts_as_a_link() -> None:
    post = parse_post(jetstream_view("3mptbyoeyc22k"), collected_at=NOW)
    assert post.links and post.links[-1].startswith("https://")


def test_mentions_are_cut_at_utf8_byte_offsets_after_emoji_and_cyrillic() -> None:
    text = "Здраво 👋🏽 @marko.bsky.social и 🇷🇸 @ana.bsky.social: #ЉудскаПрава"
    facets = [
        byte_facet(
            text,
            "@marko.bsky.social",
            {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:m"},
        ),
        byte_facet(
            text,
            "@ana.bsky.social",
            {"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:a"},
        ),
        byte_facet(
            text, "#ЉудскаПрава", {"$type": "app.bsky.richtext.facet#tag", "tag": "ЉудскаПрава"}
        ),
    ]
    tags, mentions, links = facet_entities(text, facets)
    assert mentions == ("marko.bsky.social", "ana.bsky.social")
    assert tags == ("ЉудскаПрава",) and links == ()
    # Read as character offsets, the same numbers would cut the wrong text.
    start, end = facets[0]["index"]["byteStart"], facets[0]["index"]["byteEnd"]
    assert text[start:end] != "@marko.bsky.social"


def test_broken_offsets_fall_back_to_the_did() -> None:
    text = "Ћао @marko.bsky.social"
    split_letter = {"byteStart": 1, "byteEnd": 9}  # cuts the two-byte "Ћ" in half
    beyond = {"byteStart": 5, "byteEnd": 500}
    facets = [
        {
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:m"}],
            "index": split_letter,
        },
        {
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:n"}],
            "index": beyond,
        },
    ]
    assert facet_entities(text, facets)[1] == ("did:plc:m", "did:plc:n")


def test_self_labels_and_author_labels_set_the_consent_flag() -> None:
    view = jetstream_view("3mptbypfywk2v")
    assert not parse_post(view, collected_at=NOW).no_unauthenticated
    view["record"]["labels"] = {
        "$type": "com.atproto.label.defs#selfLabels",
        "values": [{"val": "!no-unauthenticated"}],
    }
    assert parse_post(view, collected_at=NOW).no_unauthenticated
    view = jetstream_view("3mptbypfywk2v")
    view["author"]["labels"] = [
        {
            "src": "did:plc:x",
            "uri": "at://did:plc:x/app.bsky.actor.profile/self",
            "val": "!no-unauthenticated",
            "cts": "2024-01-01T00:00:00Z",
        }
    ]
    assert parse_post(view, collected_at=NOW).no_unauthenticated
    view["labels"] = [
        {"src": "did:plc:labeler", "uri": view["uri"], "val": "porn", "cts": "2024-01-01T00:00:00Z"}
    ]
    assert parse_post(view, collected_at=NOW).sensitive


def test_record_tags_and_reply_parent() -> None:
    view = jetstream_view("3mptbypfywk2v")
    view["record"]["tags"] = ["HRHN2016"]
    view["record"]["reply"] = {
        "root": {"uri": "at://did:plc:r/app.bsky.feed.post/1", "cid": "bafyreia"},
        "parent": {"uri": "at://did:plc:p/app.bsky.feed.post/2", "cid": "bafyreib"},
    }
    post = parse_post(view, collected_at=NOW)
    assert "hrhn2016" in post.hashtags
    assert post.reply_to == "at://did:plc:p/app.bsky.feed.post/2"


def test_invalid_handle_links_by_did() -> None:
    view = jetstream_view("3mptbypfywk2v")
    view["author"]["handle"] = "handle.invalid"
    post = parse_post(view, collected_at=NOW)
    assert post.url == f"https://bsky.app/profile/{view['author']['did']}/post/3mptbypfywk2v"


def test_future_created_at_is_filed_at_indexed_at() -> None:
    view = jetstream_view("3mptbypfywk2v")
    view["record"]["createdAt"] = "2031-01-01T00:00:00.000Z"
    assert sort_at(view) == parse_post(view, collected_at=NOW).created_at
    assert parse_post(view, collected_at=NOW).created_at.year == 2026
    view["record"]["createdAt"] = "not a date"
    assert parse_post(view, collected_at=NOW).created_at.year == 2026


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda v: v.pop("author"), "lacks 'author'"),
        (lambda v: v.update(uri=None), "no valid AT URI"),
        (lambda v: (v["record"].pop("createdAt"), v.pop("indexedAt")), "neither a valid createdAt"),
    ],
)
def test_schema_violations_raise_malformed_response(breakage: Any, message: str) -> None:
    view = jetstream_view("3mptbypfywk2v")
    breakage(view)
    with pytest.raises(MalformedResponse, match=message):
        parse_post(view, collected_at=NOW)
