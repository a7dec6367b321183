"""An IG Media object from a hashtag edge → `Post`: a pure function.

Fields as Meta's "IG Hashtag Recent Media" / "Top Media" reference gives them:
``id``, ``caption``, ``comments_count``, ``like_count``, ``media_type``
(IMAGE, VIDEO, CAROUSEL_ALBUM), ``media_url``, ``permalink``, ``timestamp``
(``2017-08-31T18:10:00+0000``), ``children``. The reference says the
``username`` field cannot be requested on these edges, so the author is
unknown (None): never guessed, never scraped. ``like_count`` is left out when
the owner hides likes: unknown, not 0. Instagram has no reposts or quotes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tagwatch.collectors.base import normalizer
from tagwatch.records import Media, Post, to_utc

__all__ = ["parse_media", "FIELDS", "PLATFORM"]

PLATFORM = "instagram"
# children{...}: Graph API field expansion on the `children` edge the hashtag media
# reference lists, so an album's pictures come in the same request.
FIELDS = (
    "id,caption,comments_count,like_count,media_type,media_url,permalink,timestamp,"
    "children{media_type,media_url}"
)
_TAG = re.compile(r"(?<![\w#])#(\w+)")
_MENTION = re.compile(r"(?<![\w@])@([\w.]+)")


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a count is {type(value).__name__}, not an integer")
    return value


_KINDS = {"IMAGE": "image", "VIDEO": "video"}


def _pictures(media: dict[str, Any]) -> tuple[Media, ...]:
    """IMAGE and VIDEO give their `media_url` (for a video, the video file: the hashtag
    edges offer no `thumbnail_url`); a CAROUSEL_ALBUM its children's. `media_url` is
    "not returned for media that contain copyrighted material": then nothing to show.
    The hashtag edges give no author, so no avatar or account date either.
    """
    kind = str(media.get("media_type") or "")
    if kind == "CAROUSEL_ALBUM":
        children = (media.get("children") or {}).get("data") or []
        return tuple(m for c in children if isinstance(c, dict) for m in _pictures(c))
    url = media.get("media_url")
    if kind not in _KINDS or not isinstance(url, str) or not url:
        return ()
    return (Media(_KINDS[kind], url),)


@normalizer("Instagram")
def parse_media(media: dict[str, Any], *, collected_at: datetime | None = None) -> Post:
    caption = media.get("caption") or ""
    if not isinstance(caption, str):
        raise TypeError("caption is not a string")
    kind = str(media.get("media_type") or "")
    children = (media.get("children") or {}).get("data") or []
    extra: dict[str, Any] = {} if collected_at is None else {"collected_at": collected_at}
    return Post(
        platform=PLATFORM,
        platform_id=str(media["id"]),
        url=str(media.get("permalink") or ""),
        author=None,
        text=caption,
        created_at=to_utc(datetime.fromisoformat(str(media["timestamp"]))),
        hashtags=tuple(_TAG.findall(caption)),
        mentions=tuple(_MENTION.findall(caption)),
        likes=_count(media.get("like_count")),
        replies=_count(media.get("comments_count")),
        reposts=None,
        quotes=None,
        views=None,
        media_count=len(children) if kind == "CAROUSEL_ALBUM" else 1,
        media=_pictures(media),
        source="instagram",
        raw=media,
        **extra,
    )
