"""Bluesky: hashtag search through the AT Protocol (client, parse, collector)."""

from __future__ import annotations

from tagwatch.collectors.bluesky.client import forget_sessions
from tagwatch.collectors.bluesky.collector import APP_PASSWORD_URL, BlueskyCollector
from tagwatch.collectors.bluesky.parse import (
    NO_UNAUTHENTICATED,
    atproto_datetime,
    facet_entities,
    parse_post,
    post_url,
    sort_at,
)

__all__ = [
    "BlueskyCollector",
    "parse_post",
    "sort_at",
    "atproto_datetime",
    "facet_entities",
    "post_url",
    "forget_sessions",
    "NO_UNAUTHENTICATED",
    "APP_PASSWORD_URL",
]
