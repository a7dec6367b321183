"""The wall's picture routes: `/wall/media/<post>/<position>` and `/wall/avatar/<post>`.

Why opaque ids and not a URL parameter: the browser can only name a post the wall already
knows, so the wall is never an open proxy, and the platforms' addresses never reach the
screen. Who may see what: a post on the wall (the feed's in-memory bits, no database read
in the event loop) for anyone; any post for the moderators, whose page gets addresses
signed with a key that lives only in this process (an `<img>` cannot send the moderation
token, and the wall sets no cookies). The picture's platform address is read from the
database in a worker thread, then fetched, checked and cached by `MediaProxy`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tagwatch.reports.wall.feed import WallFeed
from tagwatch.reports.wall.media_proxy import MediaProxy
from tagwatch.storage.db import connect

__all__ = ["WallPictures"]

MEDIA_SQL = (
    "select case when kind = 'image' then coalesce(url, preview_url) else preview_url end"
    " from post_media where post_id = ? and position = ?"
)
AVATAR_SQL = "select a.avatar_url from posts p join authors a on a.id = p.author_id where p.id = ?"
# A screen keeps a picture a few minutes; a moderator's decision reaches it by the feed.
CACHE_CONTROL = "private, max-age=300"


class WallPictures:
    """The picture handlers over the feed (who may see) and the proxy (what is served)."""

    def __init__(self, feed: WallFeed, proxy: MediaProxy, db_path: Path):
        self.feed = feed
        self.proxy = proxy
        self._key = secrets.token_bytes(32)
        self._conn = connect(db_path, readonly=True)
        self._lock = threading.Lock()

    def signature(self, path: str) -> str:
        return hmac.new(self._key, path.encode(), hashlib.sha256).hexdigest()[:32]

    def for_moderators(self, post: dict[str, Any]) -> dict[str, Any]:
        """A post's payload with picture addresses the moderators' page may load."""

        def signed(src: str) -> str:
            return f"{src}?sig={self.signature(src)}"

        out = dict(post)
        out["media"] = [{**m, "src": signed(m["src"])} for m in post.get("media", [])]
        if post.get("avatar"):
            out["avatar"] = signed(post["avatar"])
        return out

    def _may_see(self, request: Request, post_id: int) -> bool:
        if self.feed.is_visible(post_id):
            return True
        given = request.query_params.get("sig", "")
        return hmac.compare_digest(given.encode(), self.signature(request.url.path).encode())

    def _lookup(self, sql: str, params: tuple[int, ...]) -> str | None:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    async def _serve(self, sql: str, params: tuple[int, ...], variant: str) -> Response:
        url = await asyncio.to_thread(self._lookup, sql, params)
        got = None if not url else await self.proxy.picture(url, variant)
        if got is None:
            return Response(status_code=404, headers={"cache-control": "no-store"})
        data, kind = got
        return Response(data, media_type=kind, headers={"cache-control": CACHE_CONTROL})

    async def media(self, request: Request) -> Response:
        post_id = int(request.path_params["post_id"])
        position = int(request.path_params["position"])
        if not self._may_see(request, post_id):
            return Response(status_code=404, headers={"cache-control": "no-store"})
        return await self._serve(MEDIA_SQL, (post_id, position), "picture")

    async def avatar(self, request: Request) -> Response:
        post_id = int(request.path_params["post_id"])
        if not self._may_see(request, post_id):
            return Response(status_code=404, headers={"cache-control": "no-store"})
        return await self._serve(AVATAR_SQL, (post_id,), "avatar")

    async def aclose(self) -> None:
        await self.proxy.aclose()
        self._conn.close()
