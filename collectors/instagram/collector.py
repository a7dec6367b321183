"""The Instagram pass: each hashtag's recent (and top) media, inside Meta's hashtag limit.

Meta allows an account 30 unique hashtags per rolling 7 days; querying one
again within its 7 days costs nothing. The ledger (`tagwatch.storage.quotas`) holds the
first query of each hashtag in its window, and a hashtag that would be the
31st is refused here, before any request. Hashtag ids are kept in the
database (`hashtag_ids`), so ig_hashtag_search is asked once per hashtag.

``recent_media`` reaches back 24 hours only: a gap longer than that between
two passes loses posts for good, which the pass records (`gap_hours`) and
`tagwatch status` and the digest warn about. Media come without their
author's name (the API will not give it): stored with no author.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tagwatch.collectors.cursor import Cursor, json_object
from tagwatch.collectors.instagram.client import InstagramClient
from tagwatch.collectors.instagram.parse import PLATFORM, parse_media
from tagwatch.collectors.meta.client import GraphClient
from tagwatch.collectors.meta.collector import MetaCollector
from tagwatch.errors import MalformedResponse, QuotaExhausted
from tagwatch.records import Post, iso, parse_iso
from tagwatch.settings_types import InstagramSection
from tagwatch.storage import quotas

__all__ = ["InstagramCollector", "WINDOW", "RECENT_REACH", "gap_warning"]
__all__ = ["InstagramCollector", "WINDOW", "RECENT_REACH", "gap_warning", "legacy_cursor"]
WINDOW = timedelta(days=7)
RECENT_REACH = timedelta(hours=24)


class InstagramCollector(MetaCollector):
    name = PLATFORM
    section: InstagramSection
    label = "Instagram"
    client_class = InstagramClient

    @property
    def version(self) -> str:
        return str(self.section.api_version)

    @property
    def debug_path(self) -> str:
        return f"/{self.version}/debug_token"

    def client(self) -> GraphClient:
        client = super().client()
        if isinstance(client, InstagramClient):
            client.version = self.version
        return client

    def media_path(self, media_id: str) -> str:
        return f"/{self.version}/{media_id}"

    def refresh_fields(self) -> str:
        return "id,like_count,comments_count"

    def refresh_counts(self, data: dict[str, Any]) -> dict[str, int | None] | None:
        likes, comments = data.get("like_count"), data.get("comments_count")
        return {
            "likes": likes if isinstance(likes, int) else None,
            "replies": comments if isinstance(comments, int) else None,
            "reposts": None,
            "quotes": None,
        }

    # -- the hashtag limit ------------------------------------------------------------

    def admit(self, tag: str) -> bool:
        """Enter `tag` in the 7-day ledger if it fits; False (no request made) if not."""
        conn = self.store.conn
        in_use = quotas.distinct_queries_since(conn, self.name, self.now() - WINDOW)
        if tag in in_use:
            return True
        if len(in_use) >= int(self.section.weekly_hashtag_limit):
            return False
        quotas.record_query(conn, self.name, tag, self.now())
        return True

    def collect_tags(self) -> None:
        client = self.client()
        assert isinstance(client, InstagramClient)
        user_id = str(self.section.user_id)
        details = self.record.details
        details.update(hashtag_searches=0, media_pages=0, refused=[])
        for tag in self.tags:
            if not self.admit(tag):
                details["refused"].append(tag)
                continue
            hashtag_id = quotas.hashtag_id(self.store.conn, self.name, tag)
            if hashtag_id is None:
                details["hashtag_searches"] += 1
                hashtag_id = self.call(f"#{tag} id", client.hashtag_search, user_id, tag)
                self.pace(client.last_usage)
                if hashtag_id is None:
                    continue
                quotas.save_hashtag_id(self.store.conn, self.name, tag, hashtag_id, self.now())
            self._collect_tag(client, tag, hashtag_id, user_id)
        if details["refused"]:
            used = quotas.distinct_queries_since(self.store.conn, self.name, self.now() - WINDOW)
            raise QuotaExhausted(
                f"Instagram hashtag limit reached: {len(used)} of "
                f"{int(self.section.weekly_hashtag_limit)} unique hashtags queried in the last "
                f"7 days, so #{', #'.join(details['refused'])} was not asked for. It fits once "
                "the oldest leaves the 7-day window; `tagwatch status` shows when."
            )

    def _collect_tag(
        self, client: InstagramClient, tag: str, hashtag_id: str, user_id: str
    ) -> None:
        details = self.record.details
        cursor = self.read_cursor(tag, legacy_cursor)
        state = {"newest": cursor.newest, "last_pass": cursor.last_pass}
        now = self.now()
        if state["last_pass"]:
            gap = now - parse_iso(state["last_pass"])
            if gap > RECENT_REACH:
                details["gap_hours"] = round(gap.total_seconds() / 3600, 1)
        start = self.backfill_start()
        stored = state["newest"]
        after: str | None = None
        pages = 0
        newest = stored
        while pages < int(self.collect_cfg.max_pages_per_pass) and self.time_left() > 0:
            items, after = self.call(
                f"#{tag} recent_media",
                client.media,
                "recent_media",
                hashtag_id,
                user_id,
                after=after,
            )
            self.pace(client.last_usage)
            pages += 1
            details["media_pages"] += 1
            posts = self._parse(items)
            # Recent media come newest first: stop at what is stored, or the backfill start.
            reached = any(
                p.created_at < start or (stored is not None and iso(p.created_at) <= stored)
                for p in posts
            )
            for p in posts:
                if newest is None or iso(p.created_at) > newest:
                    newest = iso(p.created_at)
            self._save(tag, posts, state)  # `newest` moves only once the walk is done
            if reached or after is None:
                break
        if self.section.top_media and self.time_left() > 0:
            items, _ = self.call(
                f"#{tag} top_media", client.media, "top_media", hashtag_id, user_id
            )  # one page: the most popular, which recent_media may have passed by
            self.pace(client.last_usage)
            details["media_pages"] += 1
            self._save(tag, self._parse(items), state)
        state.update(newest=newest, last_pass=iso(now))
        self.store.set_cursor(self.name, tag, _cursor(state).dump())

    def _parse(self, items: list[dict[str, Any]]) -> list[Post]:
        posts = []
        for item in items:
            try:
                post = parse_media(item, collected_at=self.now())
            except MalformedResponse:
                self.record.details["unparseable"] = self.record.details.get("unparseable", 0) + 1
                continue
            posts.append(post)
        return posts

    def _save(self, tag: str, posts: list[Post], state: dict[str, Any]) -> None:
        """Commit posts from the backfill start on that are not stored yet, with the cursor."""
        start = self.backfill_start()
        posts = [p for p in posts if p.created_at >= start]
        known = self.store.known_ids(self.name, [p.platform_id for p in posts])
        fresh = [p for p in posts if p.platform_id not in known]
        self.store_page(fresh, query=tag, cursor=_cursor(state))


def _cursor(state: dict[str, Any]) -> Cursor:
    """Cursor per hashtag: `newest` the ISO time of the newest post, and `last_pass`."""
    return Cursor(newest=state["newest"], last_pass=state["last_pass"])


def legacy_cursor(value: str) -> Cursor | None:
    """Instagram's cursor before #19: {"newest": ISO time, "last_pass": ISO time}."""
    data = json_object(value)
    if data is None:
        return None
    newest, last_pass = data.get("newest"), data.get("last_pass")
    return Cursor(
        newest=None if newest is None else str(newest),
        last_pass=None if last_pass is None else str(last_pass),
    )


def gap_warning(hours: float) -> str:
    return (
        f"Instagram: {hours:g} hours passed between two passes, more than the 24 hours "
        "recent_media reaches back: posts from that gap cannot be collected."
    )
