"""Bluesky parsing: pure functions of the AppView's JSON, no network.

`parse_post` turns one `app.bsky.feed.defs#postView` (what searchPosts and
getPosts return) into a `Post`. Facet byte offsets, self-labels and embeds are
dealt with here and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tagwatch.collectors.base import normalizer
from tagwatch.errors import MalformedResponse
from tagwatch.records import Author, Media, Post, lenient_iso, storable_text

__all__ = [
    "parse_post",
    "sort_at",
    "facet_entities",
    "post_url",
    "atproto_datetime",
    "lenient_datetime",
    "NO_UNAUTHENTICATED",
    "SENSITIVE_LABELS",
    "embed_view",
    "CDN",
    "VIDEO_CDN",
]

NO_UNAUTHENTICATED = "!no-unauthenticated"
# Where the AppView addresses a post's pictures and videos. Its image URLs are
# `<cdn>/img/<preset>/plain/<did>/<cid>@jpeg` (bluesky-social/atproto, the AppView's
# ImageUriBuilder with the cdnUrlPattern "https://cdn.bsky.app/img/%s/plain/%s/%s@jpeg";
# the recorded get_post_thread.body.json shows the same form), its video URLs
# `<video>/watch/<did, URL-encoded>/<cid>/playlist.m3u8` and `.../thumbnail.jpg`
# (VideoUriBuilder). Jetstream sends records with blob CIDs only: these build the rest.
CDN = "https://cdn.bsky.app"
VIDEO_CDN = "https://video.bsky.app"
# Labels that make a post (or its media) sensitive: the AppView's self-labels and the
# moderation service's (porn, sexual, nudity, graphic-media; gore is the older name).
SENSITIVE_LABELS = frozenset({"porn", "sexual", "nudity", "graphic-media", "gore"})
_TAG = "app.bsky.richtext.facet#tag"
_MENTION = "app.bsky.richtext.facet#mention"
_LINK = "app.bsky.richtext.facet#link"


# Kept under this name for the collector and streams: the one lenient parse.
lenient_datetime = lenient_iso


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


def _image_url(cdn: str, preset: str, did: str, cid: str) -> str:
    return f"{cdn}/img/{preset}/plain/{did}/{cid}@jpeg"


def _blob_cid(blob: Any) -> str | None:
    """A blob's CID: `{"ref": {"$link": cid}}`, or the legacy `{"cid": ...}` form."""
    if not isinstance(blob, dict):
        return None
    ref = blob.get("ref")
    cid = ref.get("$link") if isinstance(ref, dict) else blob.get("cid")
    return cid if isinstance(cid, str) and cid else None


def embed_view(
    embed: Any, did: str, *, cdn: str = CDN, video_cdn: str = VIDEO_CDN
) -> dict[str, Any] | None:
    """The media part of a record's embed as the AppView would render it (for Jetstream).

    Only images and video: a quote needs the quoted post, which a record does not hold.
    """
    if not isinstance(embed, dict):
        return None
    kind = embed.get("$type")
    if kind == "app.bsky.embed.recordWithMedia":
        media = embed_view(embed.get("media"), did, cdn=cdn, video_cdn=video_cdn)
        return None if media is None else {"$type": f"{kind}#view", "media": media}
    if kind == "app.bsky.embed.images":
        images = []
        for img in embed.get("images") or ():
            cid = _blob_cid(img.get("image")) if isinstance(img, dict) else None
            if cid is None:
                continue
            view = {
                "thumb": _image_url(cdn, "feed_thumbnail", did, cid),
                "fullsize": _image_url(cdn, "feed_fullsize", did, cid),
                "alt": img.get("alt") or "",
            }
            if isinstance(img.get("aspectRatio"), dict):
                view["aspectRatio"] = img["aspectRatio"]
            images.append(view)
        return {"$type": f"{kind}#view", "images": images}
    if kind == "app.bsky.embed.video":
        cid = _blob_cid(embed.get("video"))
        if cid is None:
            return None
        base = f"{video_cdn}/watch/{quote(did, safe='')}/{cid}"
        view = {
            "$type": f"{kind}#view",
            "cid": cid,
            "playlist": f"{base}/playlist.m3u8",
            "thumbnail": f"{base}/thumbnail.jpg",
            "alt": embed.get("alt") or "",
        }
        if isinstance(embed.get("aspectRatio"), dict):
            view["aspectRatio"] = embed["aspectRatio"]
        return view
    return None


def _size(ratio: Any) -> tuple[int | None, int | None]:
    """An `aspectRatio` ({width, height}): the proportions the author's client measured."""
    if not isinstance(ratio, dict):
        return None, None
    w, h = ratio.get("width"), ratio.get("height")
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h))
    return (w, h) if ok else (None, None)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _media(view: Any) -> tuple[Media, ...]:
    """A post view's `embed` → Media (app.bsky.embed.images#view, video#view, and the
    media half of recordWithMedia#view; lexicons app/bsky/embed/*.json)."""
    if not isinstance(view, dict):
        return ()
    kind = view.get("$type")
    if kind == "app.bsky.embed.recordWithMedia#view":
        return _media(view.get("media"))
    if kind == "app.bsky.embed.images#view":
        out = []
        for img in view.get("images") or ():
            if not isinstance(img, dict):
                continue
            w, h = _size(img.get("aspectRatio"))
            # images#viewImage: fullsize "a large version", thumb "a thumbnail", alt required.
            out.append(
                Media(
                    "image",
                    _str(img.get("fullsize")),
                    _str(img.get("thumb")),
                    _str(img.get("alt")) or "",
                    w,
                    h,
                )
            )
        return tuple(out)
    if kind == "app.bsky.embed.video#view":
        w, h = _size(view.get("aspectRatio"))
        # video#view: playlist (HLS, never fetched by the wall), thumbnail (the poster).
        return (
            Media(
                "video",
                _str(view.get("playlist")),
                _str(view.get("thumbnail")),
                _str(view.get("alt")) or "",
                w,
                h,
            ),
        )
    return ()


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
        author=Author(
            did,
            handle,
            author.get("displayName") or "",
            # profileViewBasic.avatar: absent when the account has none.
            avatar_url=_str(author.get("avatar")),
            # profileViewBasic.createdAt (lexicon app.bsky.actor.defs; older AppViews and
            # Jetstream's synthetic author leave it out: unknown).
            account_created_at=lenient_datetime(author.get("createdAt")),
        ),
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
        media=_media(view.get("embed")),
        sensitive=bool((post_labels | author_labels) & SENSITIVE_LABELS),
        no_unauthenticated=NO_UNAUTHENTICATED in (post_labels | author_labels),
        source=source,
        raw=view,
    )
