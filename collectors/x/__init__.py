"""X (Twitter): recent search per hashtag through tweepy, within a paid budget.

client (tweepy on the configured host), parse, collector, budget (the ledger and
its guard) and estimate (`tagwatch estimate-x`).
"""

from __future__ import annotations

from tagwatch.collectors.x.client import (
    EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    make_client,
    translate_tweepy_error,
)
from tagwatch.collectors.x.collector import RECENT_WINDOW, XCollector, snowflake_time
from tagwatch.collectors.x.parse import (
    lookup_errors,
    page_resources,
    parse_page,
    parse_tweet,
    unescape_text,
)

__all__ = [
    "XCollector",
    "parse_page",
    "parse_tweet",
    "make_client",
    "translate_tweepy_error",
    "lookup_errors",
    "page_resources",
    "unescape_text",
    "TWEET_FIELDS",
    "USER_FIELDS",
    "EXPANSIONS",
    "RECENT_WINDOW",
    "snowflake_time",
]
