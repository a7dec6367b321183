"""What Threads and Instagram share: the Graph API client and the pass steps on top of it.

`client` (GraphClient, errors, usage headers), `collector` (MetaCollector: token,
pacing, refresh), `status` (what `tagwatch status` shows of both platforms).
`status` is not re-exported here: it reads the Threads and Instagram collectors,
which import this package, so importing it from here would import them half-made.
"""

from __future__ import annotations

from tagwatch.collectors.meta.client import (
    SLOW_DOWN_AT,
    THROTTLE_CODES,
    TOKEN_WARN_DAYS,
    GraphAPIError,
    GraphClient,
    GraphGarbage,
    Usage,
    parse_usage,
    translate,
)
from tagwatch.collectors.meta.collector import RENEW_HINT, MetaCollector, expires_soon

__all__ = [
    "GraphAPIError",
    "GraphGarbage",
    "GraphClient",
    "Usage",
    "parse_usage",
    "translate",
    "THROTTLE_CODES",
    "SLOW_DOWN_AT",
    "TOKEN_WARN_DAYS",
    "MetaCollector",
    "RENEW_HINT",
    "expires_soon",
]
