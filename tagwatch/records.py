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

__all__ = ["Author", "Post", "utcnow", "to_utc", "iso", "parse_iso", "storable_text"]

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

    def __post_init__(self) -> None:
        for name in ("platform_id", "handle", "display_name"):
            object.__setattr__(self, name, _check(self, name, getattr(self, name), (str,)))
        _check(self, "followers", self.followers, (int, type(None)))


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
