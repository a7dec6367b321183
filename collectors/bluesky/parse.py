"""Bluesky parsing: pure functions of the AppView's JSON, no network.

`parse_post` turns one `app.bsky.feed.defs#postView` (what searchPosts and
getPosts return) into a `Post`. Facet byte offsets, self-labels and embeds are
dealt with here and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tagwatch.collectors.base import normalizer
from tagwatch.errors import MalformedResponse
from tagwatch.records import Author, Post, parse_iso, storable_text

__all__ = [
    "parse_post",
    "sort_at",
    "facet_entities",
    "post_url",
    "atproto_datetime",
    "lenient_datetime",
    "NO_UNAUTHENTICATED",
    "SENSITIVE_LABELS",
]

NO_UNAUTHENTICATED = "!no-unauthenticated"
SENSITIVE_LABELS = frozenset({"porn", "sexual", "nudity", "graphic-media", "gore"})
_TAG = "app.bsky.richtext.facet#tag"
_MENTION = "app.bsky.richtext.facet#mention"
_LINK = "app.bsky.richtext.facet#link"


def lenient_datetime(value: Any) -> datetime | None:
    """An AT Protocol datetime, or None for a missing or unreadable one (clients vary)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def atproto_datetime(value: datetime) -> str:
    """The lexicon's datetime form (millisecond precision, Z), which every AppView parses."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sort_at(view: dict[str, Any]) -> datetime:
    """When Bluesky files the post: the earlier of the claimed createdAt and indexedAt.

    It is what `searchPosts` sorts and filters `since`/`until` on; using it as the
    post's time also keeps a wrong device clock from dating a post in the future.
    """
    record = view.get("record") or {}
    created = lenient_datetime(record.get("createdAt"))
    indexed = lenient_datetime(view.get("indexedAt"))
    if created is None and indexed is None:
        raise MalformedResponse(
            f"Bluesky post {view.get('uri')!r} has neither a valid createdAt nor indexedAt"
        )
    return min(t for t in (created, indexed) if t is not None)


def _byte_span(data: bytes, index: Any) -> str | None:
    """The text a facet covers. Offsets count UTF-8 bytes, not characters."""
    if not isinstance(index, dict):
        return None
    start, end = index.get("byteStart"), index.get("byteEnd")
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(data):
        return None
    try:
        return data[start:end].decode("utf-8")
    except UnicodeDecodeError:  # offsets that split a character: the facet is broken
        return None


def facet_entities(
    text: str, facets: Any
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Hashtags, mentioned handles and links, exactly as the post's facets mark them.

    A mention facet carries only a DID; the handle is the text it covers, so
    the byte offsets have to be right (emoji are 4 bytes, Cyrillic letters 2).
    When they are not, the DID stands in for the handle.
    """
    data = text.encode("utf-8")
    tags: list[str] = []
    mentions: list[str] = []
    links: list[str] = []
    for facet in facets if isinstance(facets, list) else []:
        if not isinstance(facet, dict):
            continue
        span = _byte_span(data, facet.get("index"))
        for feature in facet.get("features") or []:
            if not isinstance(feature, dict):
                continue
            kind = feature.get("$type")
            if kind == _TAG and isinstance(feature.get("tag"), str):
                tags.append(feature["tag"])
            elif kind == _MENTION:
                if span and span.startswith("@") and len(span) > 1:
                    mentions.append(span[1:])
                elif isinstance(feature.get("did"), str):
                    mentions.append(feature["did"])
            elif kind == _LINK and isinstance(feature.get("uri"), str):
                links.append(feature["uri"])
    return tuple(tags), tuple(mentions), tuple(links)


def post_url(handle: str, did: str, rkey: str) -> str:
    """The bsky.app link; a handle that no longer resolves is replaced by the DID."""
    who = did if not handle or handle == "handle.invalid" else handle
    return f"https://bsky.app/profile/{who}/post/{rkey}"


def _label_values(labels: Any) -> set[str]:
    if isinstance(labels, dict):  # a record's self-labels: {"values": [{"val": ...}]}
        labels = labels.get("values")
    if not isinstance(labels, list):
        return set()
    return {
        lab["val"] for lab in labels if isinstance(lab, dict) and isinstance(lab.get("val"), str)
    }


def _embed_parts(embed: Any) -> tuple[str | None, int, str | None]:
    """(quoted post URI, number of media items, link card URI) of a record's embed."""
    if not isinstance(embed, dict):
        return None, 0, None
    kind = embed.get("$type", "")
    quote, media, external = None, 0, None
    if kind == "app.bsky.embed.recordWithMedia":
        quote = _embed_parts(embed.get("record"))[0]
        _, media, external = _embed_parts(embed.get("media"))
    elif kind == "app.bsky.embed.record":
        uri = (embed.get("record") or {}).get("uri")
        # Quotes of feeds, lists or starter packs are embeds too; only posts count.
        if isinstance(uri, str) and "/app.bsky.feed.post/" in uri:
            quote = uri
    elif kind == "app.bsky.embed.images":
        media = len(embed.get("images") or [])
    elif kind == "app.bsky.embed.video":
        media = 1
    elif kind == "app.bsky.embed.external":
        uri = (embed.get("external") or {}).get("uri")
        external = uri if isinstance(uri, str) else None
    return quote, media, external


@normalizer("Bluesky")
def parse_post(view: dict[str, Any], *, collected_at: datetime, source: str = "") -> Post:
    """One `app.bsky.feed.defs#postView` (searchPosts/getPosts) → a `Post`."""
    try:
        uri = view["uri"]
        author = view["author"]
        did, handle = author["did"], author["handle"]
        record = view["record"]
    except (KeyError, TypeError) as exc:
        raise MalformedResponse(f"Bluesky post view lacks {exc}: {str(view)[:120]}") from exc
    if not isinstance(uri, str) or not uri.startswith("at://") or not isinstance(record, dict):
        raise MalformedResponse(f"Bluesky post view has no valid AT URI or record: {uri!r}")
    raw_text = record.get("text")
    # Facet offsets count UTF-8 bytes: a lone surrogate (which UTF-8 cannot hold) is
    # replaced first, as storage would, so the rest of the post is still read.
    text = storable_text(raw_text) if isinstance(raw_text, str) else ""
    tags, mentions, links = facet_entities(text, record.get("facets"))
    raw_tags = record.get("tags")
    extra_tags: list[Any] = raw_tags if isinstance(raw_tags, list) else []
    quote, media, external = _embed_parts(record.get("embed"))
    parent = ((record.get("reply") or {}).get("parent") or {}).get("uri")
    post_labels = _label_values(record.get("labels")) | _label_values(view.get("labels"))
    author_labels = _label_values(author.get("labels"))
    langs = record.get("langs")
    return Post(
        platform="bluesky",
        platform_id=uri,
        url=post_url(handle, did, uri.rsplit("/", 1)[-1]),
        author=Author(did, handle, author.get("displayName") or ""),
        text=text,
        created_at=sort_at(view),
        collected_at=collected_at,
        lang=langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None,
        hashtags=tags + tuple(t for t in extra_tags if isinstance(t, str)),
        mentions=mentions,
        links=links + ((external,) if external else ()),
        reply_to=parent if isinstance(parent, str) else None,
        quote_of=quote,
        likes=int(view.get("likeCount") or 0),
        reposts=int(view.get("repostCount") or 0),
        replies=int(view.get("replyCount") or 0),
        quotes=int(view.get("quoteCount") or 0),
        media_count=media,
        sensitive=bool((post_labels | author_labels) & SENSITIVE_LABELS),
        no_unauthenticated=NO_UNAUTHENTICATED in (post_labels | author_labels),
        source=source,
        raw=view,
    )
