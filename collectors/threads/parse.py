"""A Threads media object (keyword search result) → `Post`: a pure function.

Fields as Meta's Threads media object reference names them: ``id``, ``text``,
``username``, ``permalink``, ``timestamp`` (``2024-07-01T12:00:00+0000``),
``media_type`` (TEXT_POST, IMAGE, VIDEO, CAROUSEL_ALBUM, AUDIO, REPOST_FACADE),
``alt_text``, ``is_reply``, ``is_quote_post``, ``quoted_post``,
``reposted_post``, ``replied_to``, ``topic_tag``, ``link_attachment_url``,
``children``. Search results carry no like, reply, repost or quote counts and
no follower count: they are stored as unknown (None), never as 0.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tagwatch.collectors.base import normalizer
from tagwatch.records import Author, Media, Post, to_utc

__all__ = ["parse_media", "FIELDS", "PLATFORM"]

PLATFORM = "threads"
FIELDS = (
    "id,text,username,permalink,timestamp,media_type,media_url,thumbnail_url,alt_text,is_reply,"
    "is_quote_post,quoted_post,reposted_post,replied_to,topic_tag,link_attachment_url,children"
)
_TAG = re.compile(r"(?<![\w#])#(\w+)")
_MENTION = re.compile(r"(?<![\w@])@([\w.]+)")
_URL = re.compile(r"https?://[^\s<>\"']+")
_MEDIA = {"IMAGE": 1, "VIDEO": 1, "AUDIO": 1}


def _ref(value: Any) -> str | None:
    """The id of a quoted/reposted/replied-to post, given as ``{"id": ...}``."""
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _pictures(media: dict[str, Any]) -> tuple[Media, ...]:
    """What a screen can show of a media object (Media Retrieval reference: `media_url`,
    `thumbnail_url` "for video posts", `alt_text`; keyword search takes the same fields).

    TEXT_POST, AUDIO and REPOST_FACADE have no picture. A CAROUSEL_ALBUM's `children`
    come as ids only (a further request each, not made): its items stay unknown
    beyond their number, unless an answer already carries their fields.
    """
    kind = str(media.get("media_type") or "")
    alt = _str(media.get("alt_text")) or ""
    if kind == "IMAGE":
        return (Media("image", _str(media.get("media_url")), None, alt),)
    if kind == "VIDEO":
        return (
            Media("video", _str(media.get("media_url")), _str(media.get("thumbnail_url")), alt),
        )
    if kind == "CAROUSEL_ALBUM":
        children = (media.get("children") or {}).get("data") or []
        return tuple(
            m
            for child in children
            if isinstance(child, dict) and child.get("media_type") in ("IMAGE", "VIDEO")
            for m in _pictures(child)
        )
    return ()


@normalizer("Threads")
def parse_media(media: dict[str, Any], *, collected_at: datetime | None = None) -> Post:
    text = media.get("text") or ""
    if not isinstance(text, str):
        raise TypeError("text is not a string")
    username = media["username"]
    if not isinstance(username, str) or not username:
        raise ValueError("username missing")
    tags = list(_TAG.findall(text))
    topic = media.get("topic_tag")
    if isinstance(topic, str) and topic:
        tags.insert(0, topic)
    links = _URL.findall(text)
    if media.get("link_attachment_url"):
        links.append(str(media["link_attachment_url"]))
    kind = str(media.get("media_type") or "")
    children = (media.get("children") or {}).get("data") or []
    media_count = len(children) if kind == "CAROUSEL_ALBUM" else _MEDIA.get(kind, 0)
    extra: dict[str, Any] = {} if collected_at is None else {"collected_at": collected_at}
    return Post(
        platform=PLATFORM,
        platform_id=str(media["id"]),
        url=str(media.get("permalink") or f"https://www.threads.net/@{username}"),
        # Search results name the author only by username; it is also the stable key
        # Threads gives (no user id on another user's media). No avatar or account
        # date either: the media object has no such field, and a profile lookup of
        # another user is not in the API (unknown, not guessed).
        author=Author(platform_id=username, handle=username, display_name="", followers=None),
        text=text,
        created_at=to_utc(datetime.fromisoformat(str(media["timestamp"]))),
        hashtags=tuple(tags),
        mentions=tuple(_MENTION.findall(text)),
        links=tuple(links),
        reply_to=_ref(media.get("replied_to")) if media.get("is_reply") else None,
        quote_of=_ref(media.get("quoted_post")) if media.get("is_quote_post") else None,
        repost_of=_ref(media.get("reposted_post")),
        likes=None,
        reposts=None,
        replies=None,
        quotes=None,
        views=None,
        media_count=media_count,
        media=tuple(m for m in _pictures(media) if m.url or m.preview_url),
        source="threads",
        raw=media,
        **extra,
    )
