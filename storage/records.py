"""The normalized records every collector produces and only storage writes.

A `Post` is the one shape shared by all platforms: each collector turns its
platform's payload into a `Post` inside its own module, so nothing downstream
ever sees a facet byte offset, Mastodon HTML or an X expansion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Author", "Post", "utcnow", "to_utc", "iso", "parse_iso"]


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
    author: Author
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
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    views: int | None = None
    media_count: int = 0
    sensitive: bool = False
    no_unauthenticated: bool = False
    source: str = ""
    raw: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # Normalize here once so every collector gets the same rules for free.
        object.__setattr__(self, "created_at", to_utc(self.created_at))
        object.__setattr__(self, "collected_at", to_utc(self.collected_at))
        tags = tuple(dict.fromkeys(t.lstrip("#").casefold() for t in self.hashtags if t))
        object.__setattr__(self, "hashtags", tags)
        object.__setattr__(self, "mentions", tuple(dict.fromkeys(m for m in self.mentions if m)))
        object.__setattr__(self, "links", tuple(dict.fromkeys(u for u in self.links if u)))

    @property
    def engagement(self) -> int:
        return self.likes + self.reposts + self.replies + self.quotes
