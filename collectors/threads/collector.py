"""The Threads pass: keyword search by topic tag per hashtag, inside Meta's query limit.

Meta allows 2,200 searches per user per rolling 24 hours, across apps; a
search that returns nothing does not count. The ledger (`tagwatch.storage.quotas`)
holds each counted search; before every request the collector checks the
window (minus `query_reserve`, left for the user's other apps) and this
pass's share of it (the room spread over the passes of a day), so a long
backfill goes on over several passes instead of spending the day at once.

Without Meta's approval for ``threads_keyword_search`` a search covers only
the token owner's own posts. That would look like a quiet hashtag; the pass
detects it (the scopes of the token, or answers that hold only the owner's
posts) and says so in its record, which `tagwatch status` shows.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from tagwatch.collectors.cursor import Cursor, json_object
from tagwatch.collectors.meta.collector import MetaCollector
from tagwatch.collectors.threads.client import THREADS_EPOCH, VERSION, ThreadsClient
from tagwatch.collectors.threads.parse import PLATFORM, parse_media
from tagwatch.errors import MalformedResponse, QuotaExhausted
from tagwatch.records import Post, iso, parse_iso
from tagwatch.settings_types import ThreadsSection
from tagwatch.storage import quotas

__all__ = ["ThreadsCollector", "WINDOW", "OWN_POSTS_ONLY", "pass_allowance", "legacy_cursor"]

WINDOW = timedelta(hours=24)
OWN_POSTS_ONLY = (
    "Threads searched only the token owner's own posts (@{owner}): the app lacks Meta's "
    "approval for threads_keyword_search, so public posts with the hashtag are not seen "
    "and a quiet hashtag here means nothing. Request threads_keyword_search in App Review."
)


def pass_allowance(room: int, interval_minutes: float, tags: int) -> int:
    """Searches one pass may spend: the day's room spread over a day of passes."""
    passes_a_day = max(1.0, 1440.0 / max(interval_minutes, 1e-6))
    return max(tags, math.floor(room / passes_a_day))


class ThreadsCollector(MetaCollector):
    name = PLATFORM
    section: ThreadsSection
    label = "Threads"
    client_class = ThreadsClient

    @property
    def debug_path(self) -> str:
        return f"/{VERSION}/debug_token"

    def media_path(self, media_id: str) -> str:
        return f"/{VERSION}/{media_id}"

    def refresh_fields(self) -> str:
        return "id,timestamp"

    def refresh_counts(self, data: dict[str, Any]) -> dict[str, int | None] | None:
        return None  # Threads gives no counts to an app without insights: only existence

    @property
    def room(self) -> int:
        return max(0, int(self.section.daily_query_limit) - int(self.section.query_reserve))

    def collect_tags(self) -> None:
        client = self.client()
        assert isinstance(client, ThreadsClient)
        details = self.record.details
        scopes = details.get("token_scopes")
        owner = str(self.call("me", client.me).get("username") or "")
        details["owner"] = owner
        if isinstance(scopes, list) and "threads_keyword_search" not in scopes:
            details["own_posts_only"] = True
        used_before = quotas.queries_since(self.store.conn, self.name, self.now() - WINDOW)
        allowance = pass_allowance(self.room, float(self.section.interval_minutes), len(self.tags))
        details.update(searches=0, counted=0, allowance=allowance, window_used=used_before)
        owner_only_pages = other_pages = 0
        for tag in self.tags:
            state = _state(self.read_cursor(tag, legacy_cursor))
            start = self.backfill_start()
            if state["window"] is None:
                since = parse_iso(state["newest"]) if state["newest"] else start
                state["window"] = {
                    "since": iso(since),
                    "until": iso(self.now()),
                    "after": None,
                    # Where to stop when `since` cannot be sent: what was stored before.
                    "stop_at": None if since.timestamp() >= THREADS_EPOCH else state["newest"],
                }
            pages = 0
            while state["window"] is not None:
                if details["searches"] >= allowance or pages >= self.collect_cfg.max_pages_per_pass:
                    details["stopped_early"] = "this pass's share of the Threads query limit"
                    break
                if self.time_left() <= 0:
                    details["stopped_early"] = "the pass's time budget"
                    break
                self._check_room()
                window = state["window"]
                items, after = self.call(
                    f"search #{tag}",
                    client.keyword_search,
                    tag,
                    since=parse_iso(window["since"]),
                    until=parse_iso(window["until"]),
                    after=window["after"],
                )
                self.pace(client.last_usage)
                pages += 1
                details["searches"] += 1
                if items:  # Meta counts only searches that return something
                    quotas.record_query(self.store.conn, self.name, tag, self.now())
                    details["counted"] += 1
                    if all(i.get("username") == owner for i in items):
                        owner_only_pages += 1
                    else:
                        other_pages += 1
                posts = self._parse(items, start)
                # Before Threads opened no `since` is sent (client.THREADS_EPOCH): stop
                # at what is stored instead of reading the whole hashtag again.
                stored = window.get("stop_at")
                reached = stored is not None and any(iso(p.created_at) <= stored for p in posts)
                for post in posts:
                    if state["newest"] is None or iso(post.created_at) > state["newest"]:
                        state["newest"] = iso(post.created_at)
                window["after"] = after
                if after is None or reached:
                    state["window"] = None
                known = self.store.known_ids(self.name, [p.platform_id for p in posts])
                fresh = [p for p in posts if p.platform_id not in known]
                self.store_page(fresh, query=tag, cursor=_cursor(state))
        if owner_only_pages and not other_pages:
            details["own_posts_only"] = True
        if details.get("own_posts_only"):
            self.record.status = "partial"
            self.record.error = OWN_POSTS_ONLY.format(owner=owner)

    def _parse(self, items: list[dict[str, Any]], start: datetime) -> list[Post]:
        posts = []
        for item in items:
            try:
                post = parse_media(item, collected_at=self.now())
            except MalformedResponse:
                self.record.details["unparseable"] = self.record.details.get("unparseable", 0) + 1
                continue
            if post.created_at >= start:
                posts.append(post)
        return posts

    def _check_room(self) -> None:
        """Refuse a search the rolling 24-hour limit would not hold, before asking."""
        conn = self.store.conn
        since = self.now() - WINDOW
        used = quotas.queries_since(conn, self.name, since)
        if used < self.room:
            return
        oldest = quotas.oldest_since(conn, self.name, since)
        when = iso(oldest + WINDOW) if oldest else "within 24 hours"
        raise QuotaExhausted(
            f"Threads query limit reached: {used:,} searches in the last 24 hours of the "
            f"{int(self.section.daily_query_limit):,} Meta allows "
            f"({int(self.section.query_reserve):,} kept in reserve); the next fits at {when}."
        )


def _state(cursor: Cursor) -> dict[str, Any]:
    """The pass's working state per hashtag: {"newest": ISO time, "window": ...}.

    `newest` is the time of the newest post stored; `window`, while set, is a
    search not yet paged to its end: its since/until and the `after` cursor of
    the next page (stored as the cursor's one pending walk), so the next pass
    resumes it.
    """
    return {"newest": cursor.newest, "window": dict(cursor.pending[0]) if cursor.pending else None}


def _cursor(state: dict[str, Any]) -> Cursor:
    window = state["window"]
    return Cursor(newest=state["newest"], pending=[dict(window)] if window else [])


def legacy_cursor(value: str) -> Cursor | None:
    """Threads' cursor before #19: {"newest": ISO time, "window": {since, until, after, ...}}."""
    data = json_object(value)
    if data is None:
        return None
    newest, window = data.get("newest"), data.get("window")
    return Cursor(
        newest=None if newest is None else str(newest),
        pending=[dict(window)] if isinstance(window, dict) else [],
    )
