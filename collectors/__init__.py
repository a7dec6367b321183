"""Collectors: one module per platform on the shared base in `collectors.base`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collectors.base import Collector
    from monitor.config import Config

__all__ = ["PLATFORMS", "collector_class", "enabled_platforms"]

# platform name -> "module:Class"; imported lazily so one platform's missing
# dependency or bug never stops the others from loading.
PLATFORMS: dict[str, str] = {
    "bluesky": "collectors.bluesky:BlueskyCollector",
    "x": "collectors.x:XCollector",
    "mastodon": "collectors.mastodon:MastodonCollector",
}


def collector_class(platform: str) -> type[Collector]:
    module_name, _, cls = PLATFORMS[platform].partition(":")
    return getattr(importlib.import_module(module_name), cls)


def enabled_platforms(config: Config) -> list[str]:
    return [p for p in PLATFORMS if config.sections[p].enabled]
