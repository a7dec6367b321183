"""The Threads API calls tagwatch makes: keyword search by topic tag, me, one media object.

Paths and parameters from Meta's Threads reference ("Keyword and Topic Tag
Search"): ``GET /v1.0/keyword_search`` with ``q``, ``search_type`` (TOP or
RECENT), ``search_mode`` (KEYWORD or TAG), ``since``/``until`` (Unix seconds,
not before 1688540400, the day Threads opened), ``limit`` (up to 100),
``fields`` and the ``after`` cursor of Graph paging.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tagwatch.collectors.meta.client import GraphClient
from tagwatch.collectors.threads.parse import FIELDS

__all__ = ["ThreadsClient", "VERSION", "SEARCH_LIMIT", "THREADS_EPOCH"]

VERSION = "v1.0"
SEARCH_LIMIT = 100
THREADS_EPOCH = 1688540400  # the earliest `since` the API takes


class ThreadsClient(GraphClient):
    def keyword_search(
        self,
        tag: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> tuple[list[dict[str, Any]], str | None]:
        start = int(since.timestamp()) if since is not None else None
        params: dict[str, Any] = {
            "q": tag,
            "search_type": "RECENT",
            "search_mode": "TAG",
            "fields": FIELDS,
            "limit": limit,
            # An event older than Threads: ask without `since` and filter the answer.
            "since": start if start is not None and start >= THREADS_EPOCH else None,
            "until": int(until.timestamp()) if until is not None else None,
            "after": after,
        }
        return self.page(f"/{VERSION}/keyword_search", params)

    def me(self) -> dict[str, Any]:
        return self.get(f"/{VERSION}/me", {"fields": "id,username"})
