"""Collectors: one module per platform on the shared base in `tagwatch.collectors.base`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tagwatch.collectors.base import Collector
    from tagwatch.settings import Config

__all__ = ["PLATFORMS", "collector_class", "enabled_platforms", "sections_hint"]

# platform name -> "module:Class"; imported lazily so one platform's missing
# dependency or bug never stops the others from loading.
PLATFORMS: dict[str, str] = {
    "bluesky": "tagwatch.collectors.bluesky:BlueskyCollector",
    "x": "tagwatch.collectors.x:XCollector",
    "mastodon": "tagwatch.collectors.mastodon:MastodonCollector",
    "threads": "tagwatch.collectors.threads:ThreadsCollector",
    "instagram": "tagwatch.collectors.instagram:InstagramCollector",
}


def collector_class(platform: str) -> type[Collector]:
    module_name, _, cls = PLATFORMS[platform].partition(":")
    return getattr(importlib.import_module(module_name), cls)


def enabled_platforms(config: Config) -> list[str]:
    return [p for p in PLATFORMS if config.platform(p).enabled]


def sections_hint() -> str:
    """ "[bluesky], [x], ... or [instagram]": where to enable a collector, for messages.

    Derived from PLATFORMS so a new platform is named the day it is added.
    """
    names = [f"[{p}]" for p in PLATFORMS]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
