"""The Instagram API with Facebook Login calls tagwatch makes (hashtag search).

From Meta's reference: ``GET /ig_hashtag_search?user_id=&q=`` gives a
hashtag's id (static and global, so asked once and kept); ``GET
/{hashtag-id}/recent_media`` (media of the last 24 hours) and ``top_media``
take ``user_id``, ``fields`` and ``limit`` (at most 50) and page by the
``after`` cursor, which these edges repeat on every page while ``next`` says
whether another follows.
"""

from __future__ import annotations

from typing import Any

from tagwatch.collectors.instagram.parse import FIELDS
from tagwatch.collectors.meta.client import GraphClient, GraphGarbage

__all__ = ["InstagramClient", "PAGE_LIMIT"]

PAGE_LIMIT = 50


class InstagramClient(GraphClient):
    version = "v21.0"

    def hashtag_search(self, user_id: str, tag: str) -> str | None:
        data = self.get(f"/{self.version}/ig_hashtag_search", {"user_id": user_id, "q": tag})
        items = data.get("data")
        if not isinstance(items, list):
            raise GraphGarbage("ig_hashtag_search answered without a data list")
        for item in items:
            if isinstance(item, dict) and item.get("id"):
                return str(item["id"])
        return None

    def media(
        self, edge: str, hashtag_id: str, user_id: str, *, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        params = {"user_id": user_id, "fields": FIELDS, "limit": PAGE_LIMIT, "after": after}
        return self.page(f"/{self.version}/{hashtag_id}/{edge}", params)
