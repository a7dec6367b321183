"""Mastodon: public hashtag timelines of several instances (client, parse, collector, refresh)."""

from __future__ import annotations

from tagwatch.collectors.mastodon.client import (
    TIMELINE_LIMIT,
    MastodonAPIError,
    MastodonClient,
    MastodonGarbage,
    Page,
    server_version,
)
from tagwatch.collectors.mastodon.collector import (
    MastodonCollector,
    closed_timeline_message,
    token_env_for,
)
from tagwatch.collectors.mastodon.parse import html_to_text, parse_status
from tagwatch.collectors.mastodon.refresh import refresh_target

__all__ = [
    "MastodonCollector",
    "MastodonClient",
    "MastodonAPIError",
    "MastodonGarbage",
    "Page",
    "parse_status",
    "html_to_text",
    "refresh_target",
    "closed_timeline_message",
    "token_env_for",
    "server_version",
    "TIMELINE_LIMIT",
]
