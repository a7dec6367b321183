"""The normalized records every collector produces and only storage writes.

A `Post` is the one shape shared by all platforms: each collector turns its
platform's payload into a `Post` inside its own module, so nothing downstream
ever sees a facet byte offset, Mastodon HTML or an X expansion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "Author",
    "Media",
    "MEDIA_KINDS",
    "Post",
    "utcnow",
    "to_utc",
    "iso",
    "parse_iso",
    "lenient_iso",
    "storable_text",
]

# A str can hold a lone UTF-16 surrogate (JSON's "\ud800" decodes to one), but
# UTF-8, and so SQLite, cannot: binding it raises UnicodeEncodeError and one such
# post would stop its page from ever being stored. Pairs are already joined by
# the JSON decoder, so every surrogate left is a lone one.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable_text(value: str) -> str:
    """`value` with each lone surrogate replaced by U+FFFD: all else is kept exactly."""
    return _LONE_SURROGATE.sub("\ufffd", value)


def _check(record: object, name: str, value: Any, kinds: tuple[type, ...]) -> Any:
    """The field's value made storable, or TypeError naming it (a parser read a bad payload)."""
    if not isinstance(value, kinds):
        wanted = " or ".join("None" if k is type(None) else k.__name__ for k in kinds)
        raise TypeError(
            f"{type(record).__name__}.{name} must be {wanted}, not {type(value).__name__}"
        )
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError(f"{type(record).__name__}.{name} = {value} is beyond a 64-bit integer")
    return storable_text(value) if isinstance(value, str) else value


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """Fixed-width UTC text, so that string order in SQLite is time order."""
    return to_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def lenient_iso(value: Any) -> datetime | None:
    """A time from a platform's payload, or None for a missing or unreadable one.

    For fields a post can do without (an account's creation date, a cursor's bound):
    unknown, never a reason to drop the post or the pass.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def to_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Author:
    platform_id: str
    handle: str
    display_name: str = ""
    followers: int | None = None
    # The platform's address of the author's picture, as sent (the wall fetches it
    # through its own proxy, never the screen). None: not given.
    avatar_url: str | None = None
    # When the account was created, where the platform says (X user.created_at,
    # Mastodon account.created_at, Bluesky profile createdAt). None: unknown, and a
    # "young account" rule cannot judge it.
    account_created_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("platform_id", "handle", "display_name"):
            object.__setattr__(self, name, _check(self, name, getattr(self, name), (str,)))
        _check(self, "followers", self.followers, (int, type(None)))
        object.__setattr__(
            self, "avatar_url", _check(self, "avatar_url", self.avatar_url, _OPTIONAL_STR)
        )
        created = _check(self, "account_created_at", self.account_created_at, _OPTIONAL_DATETIME)
        object.__setattr__(self, "account_created_at", None if created is None else to_utc(created))


# What a post's attachment is: a still picture, a video (shown by its poster frame), or
# an animated GIF (X and Mastodon send these as short looping videos; shown by its preview).
MEDIA_KINDS = ("image", "video", "gif")


@dataclass(frozen=True)
class Media:
    """One attachment of a post, in the platform's order.

    `url` is the full picture for an image, the video file for a video or GIF (never
    fetched by the wall); `preview_url` is the platform's smaller picture or poster
    frame. Either may be None when the platform does not give it (X gives no url for a
    video, Threads none for a carousel's children without a further request). `alt` is
    the author's description of it ("" when none).
    """

    kind: str
    url: str | None = None
    preview_url: str | None = None
    alt: str = ""
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in MEDIA_KINDS:
            raise ValueError(
                f"Media.kind must be one of {', '.join(MEDIA_KINDS)}, not {self.kind!r}"
            )
        for name in ("url", "preview_url"):
            object.__setattr__(self, name, _check(self, name, getattr(self, name), _OPTIONAL_STR))
        object.__setattr__(self, "alt", _check(self, "alt", self.alt, (str,)))
        for name in ("width", "height"):
            _check(self, name, getattr(self, name), (int, type(None)))

    @property
    def picture_url(self) -> str | None:
        """The still picture a screen shows: the image itself, else the poster/preview."""
        if self.kind == "image":
            return self.url or self.preview_url
        return self.preview_url


@dataclass(frozen=True)
class Post:
    """One post as tagwatch keeps it, whatever platform it came from.

    `platform_id` is the platform's stable identity for the post (an AT URI on
    Bluesky, the tweet id on X, the ActivityPub `uri` on Mastodon) so the same
    post delivered twice, or by two Mastodon instances, is stored once.
    """

    platform: str
    platform_id: str
    url: str
    # None: the platform does not say who wrote it (Instagram hashtag media). Stored
    # with no author row, so author counts, voices and reach leave the post out.
    author: Author | None
    text: str
    created_at: datetime
    collected_at: datetime = field(default_factory=utcnow)
    lang: str | None = None
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    reply_to: str | None = None
    quote_of: str | None = None
    repost_of: str | None = None
    # None: the platform does not give this count (Threads search gives none): unknown,
    # stored as NULL, never as a zero that would read as "nobody liked it".
    likes: int | None = 0
    reposts: int | None = 0
    replies: int | None = 0
    quotes: int | None = 0
    views: int | None = None
    media_count: int = 0
    # The attachments with what a screen needs to show them; a platform (or a request)
    # that gives none leaves this empty, and storage keeps the media already known.
    media: tuple[Media, ...] = ()
    sensitive: bool = False
    no_unauthenticated: bool = False
    source: str = ""
    raw: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Check and normalize here once so every collector gets the same rules for free:
        # a parser fed a hostile payload fails here, before anything is stored.
        for f in fields(self):
            kinds = _FIELD_KINDS.get(f.name)
            if kinds is not None:
                object.__setattr__(self, f.name, _check(self, f.name, getattr(self, f.name), kinds))
        if not isinstance(self.media, tuple | list) or not all(
            isinstance(m, Media) for m in self.media
        ):
            raise TypeError("Post.media must be a tuple of Media")
        object.__setattr__(self, "media", tuple(self.media))
        object.__setattr__(self, "media_count", max(self.media_count, len(self.media)))
        for name in ("hashtags", "mentions", "links"):
            values = getattr(self, name)
            if not isinstance(values, tuple | list):
                raise TypeError(f"Post.{name} must be a tuple of str, not {type(values).__name__}")
            object.__setattr__(self, name, tuple(_check(self, name, v, (str,)) for v in values))
        object.__setattr__(self, "created_at", to_utc(self.created_at))
        object.__setattr__(self, "collected_at", to_utc(self.collected_at))
        tags = tuple(dict.fromkeys(t.lstrip("#").casefold() for t in self.hashtags if t))
        object.__setattr__(self, "hashtags", tags)
        object.__setattr__(self, "mentions", tuple(dict.fromkeys(m for m in self.mentions if m)))
        object.__setattr__(self, "links", tuple(dict.fromkeys(u for u in self.links if u)))


_OPTIONAL_STR = (str, type(None))
_OPTIONAL_DATETIME = (datetime, type(None))
_FIELD_KINDS: dict[str, tuple[type, ...]] = {
    "platform": (str,),
    "platform_id": (str,),
    "url": (str,),
    "author": (Author, type(None)),
    "text": (str,),
    "created_at": (datetime,),
    "collected_at": (datetime,),
    "lang": _OPTIONAL_STR,
    "reply_to": _OPTIONAL_STR,
    "quote_of": _OPTIONAL_STR,
    "repost_of": _OPTIONAL_STR,
    "likes": (int, type(None)),
    "reposts": (int, type(None)),
    "replies": (int, type(None)),
    "quotes": (int, type(None)),
    "views": (int, type(None)),
    "media_count": (int,),
    "sensitive": (bool, int),
    "no_unauthenticated": (bool, int),
    "source": (str,),
    "raw": (dict, type(None)),
}
