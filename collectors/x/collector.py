"""X (Twitter) collector: recent search per hashtag through tweepy, within a paid budget.

Reading X costs money per post, so every request first asks the budget guard
(`tagwatch.collectors.x.budget`) whether a page still fits, and every answer is entered
in the ledger before it is parsed. Parsing is a pure function of one v2
response page (`data` + `includes`) into `Post`s (`tagwatch.collectors.x.parse`);
the network code is separate: `XCollector` (here) talks to X through the real
tweepy client, whose hard-coded https://api.twitter.com is redirected to
`x.api_base_url` (`tagwatch.collectors.x.client`).

Cursor per query (`tagwatch.collectors.cursor`): `newest` is the newest post
read (the next pass asks for `since_id` = it); `pending` are id ranges
(``since_id``/``until_id``) still to read because a pass stopped part way
(budget, page limit, rate limit). The cursor is saved with each page, so a
crash loses nothing and re-reads little.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import tweepy

from tagwatch.collectors.base import Collector
from tagwatch.collectors.cursor import Bounds, Cursor, json_object
from tagwatch.collectors.x.budget import Prices, Reads, budget_state, record_resources, worst_case
from tagwatch.collectors.x.client import (
    fields_params,
    make_client,
    translate_tweepy_error,
)
from tagwatch.collectors.x.parse import lookup_errors, page_resources, parse_page
from tagwatch.errors import MalformedResponse, PlatformError
from tagwatch.settings import Config

__all__ = ["XCollector", "RECENT_WINDOW", "snowflake_time", "legacy_cursor"]

log = logging.getLogger("tagwatch.collect.x")

PAGE_SIZE = 100  # the most recent search returns in one page
MIN_PAGE = 10  # and the least it accepts as max_results
RECENT_WINDOW = timedelta(days=7) - timedelta(minutes=5)  # margin for clock skew


def legacy_cursor(value: str) -> Cursor | None:
    """X's cursor before #19: {"newest_id", "gaps": [[since_id, until_id], ...]}, or a bare id."""
    data = json_object(value)
    if data is None:
        return Cursor(newest=value) if value.isdigit() else None
    try:
        gaps = [list(g) for g in data.get("gaps", [])]
        pending = [_gap(since_id, until_id) for since_id, until_id in gaps]
    except (TypeError, ValueError):
        return None
    newest = data.get("newest_id")
    return Cursor(newest=None if newest is None else str(newest), pending=pending)


def _gap(since_id: str | None, until_id: str | None) -> Bounds:
    """An id range a pass left unread: above `since_id`, below `until_id` (None: open)."""
    return {"since_id": since_id, "until_id": until_id}


def snowflake_time(post_id: str) -> datetime:
    """When a post id was minted: X ids carry their creation time in milliseconds."""
    return datetime.fromtimestamp(((int(post_id) >> 22) + 1288834974657) / 1000, UTC)


def _max_id(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    return a if int(a) >= int(b) else b


class XCollector(Collector):
    name = "x"

    def __init__(self, config: Config, store: Any, **kwargs: Any):
        super().__init__(config, store, **kwargs)
        self.x = config.x  # query, prices and budgets checked by the loader
        self._client: tweepy.Client | None = None
        self._read_this_pass: set[str] = set()

    # -- base hooks -----------------------------------------------------------

    def secrets(self) -> Iterable[str]:
        token = self.config.secret(self.x.bearer_token_env)
        return (token,) if token else ()

    def translate_error(self, exc: Exception) -> PlatformError | None:
        return translate_tweepy_error(exc, self.x.bearer_token_env)

    @property
    def client(self) -> tweepy.Client:
        if self._client is None:
            self._client = make_client(self.config)
        return self._client

    # -- budget ---------------------------------------------------------------

    def _bill(self, page: dict[str, Any], *, refresh: bool = False) -> Reads:
        resources = page_resources(page)
        self._read_this_pass.update(resources["post"])
        with self.store.transaction() as conn:
            new = record_resources(conn, resources, self.now())
        details = self.record.details
        key = "refresh_reads" if refresh else "search_reads"  # posts, as before
        details[key] = details.get(key, 0) + new.posts
        for kind, n in (("user_reads", new.users), ("media_reads", new.media)):
            if n:
                details[kind] = details.get(kind, 0) + n
        prices = Prices.of(self.x)
        details["billed_usd"] = round(details.get("billed_usd", 0.0) + new.cost(prices), 6)
        return new

    # -- the pass ---------------------------------------------------------------

    def collect(self) -> None:
        self.client  # noqa: B018 - fail early (AuthError) when the token is missing
        for tag in self.config.event.hashtags:
            self._collect_tag(tag)
        self.refresh()

    def _collect_tag(self, tag: str) -> None:
        """Read everything new for one hashtag's query, then any gaps an earlier pass left."""
        query = self.x.query.replace("{tag}", tag)
        cursor = self.read_cursor(query, legacy_cursor)
        work = [_gap(cursor.newest, None), *cursor.pending]
        cursor.pending = []
        pages = 0
        for i, gap in enumerate(work):
            since_id, until_id = gap.get("since_id"), gap.get("until_id")
            rest = work[i + 1 :]
            floor = until_id  # below here, nothing of this range is stored yet
            for page, next_token in self._pages(query, since_id, until_id):
                pages += 1
                posts = parse_page(page, collected_at=self.now(), tags=self.tags)
                # The cursor moves only as far as the posts this page holds. `meta`'s
                # newest_id/oldest_id summarize them, but a bad answer can disagree with
                # its data, and the cursor must never pass posts that were not stored.
                ids = [str(t["id"]) for t in page.get("data") or [] if str(t["id"]).isdigit()]
                if ids:
                    cursor.newest = _max_id(cursor.newest, max(ids, key=int))
                    floor = min(ids, key=int)
                cursor.pending = ([_gap(since_id, floor)] if next_token else []) + rest
                self.store_page(posts, query=query, cursor=cursor)
                if next_token and pages >= self.collect_cfg.max_pages_per_pass:
                    log.info("x: %s: page limit reached, the rest waits for the next pass", query)
                    self.record.status = "partial"
                    return
            cursor.pending = list(rest)

    def _plan(
        self, since_id: str | None, until_id: str | None
    ) -> tuple[Any, str, dict[str, Any]] | None:
        """Which search to call, and with what bounds; None when the range is out of reach.

        Recent search reaches back 7 days only; older ranges need full-archive
        search (x.full_archive). Without it, an older since_id is replaced by the
        start of the window (the posts in between are lost, and logged), and a
        gap that ends before the window is dropped.
        """
        window = self.now() - RECENT_WINDOW
        old = False
        params: dict[str, Any] = {}
        if since_id is not None:
            if snowflake_time(since_id) >= window or self.x.full_archive:
                params["since_id"] = since_id
                old = snowflake_time(since_id) < window
            else:
                log.warning("x: last pass is older than 7 days; posts in between are not read")
                self.record.details["missed_older_than_7_days"] = True
                params["start_time"] = window
        else:
            start = self.backfill_start()
            if start < window and not self.x.full_archive:
                start = window
            old = start < window
            params["start_time"] = start
        if until_id is not None:
            if snowflake_time(until_id) < window:
                if not self.x.full_archive:
                    self.record.details["gaps_dropped"] = (
                        self.record.details.get("gaps_dropped", 0) + 1
                    )
                    return None
                old = True
            params["until_id"] = until_id
        if old:
            return self.client.search_all_tweets, "full-archive search", params
        return self.client.search_recent_tweets, "recent search", params

    def _pages(
        self, query: str, since_id: str | None, until_id: str | None
    ) -> Iterator[tuple[dict[str, Any], str | None]]:
        plan = self._plan(since_id, until_id)
        if plan is None:
            return
        search, what, params = plan
        fields = fields_params(self.x.media)
        params.update(fields)
        expansions = fields["expansions"]
        while True:
            state = budget_state(self.store.conn, self.config, self.now())
            # Before every request: the page it may return, at its worst (every post
            # bringing all the includes its expansions can), must fit what is left.
            # Stop when even the smallest page X accepts would not.
            # With `[x] media` on, up to four media items a post are in that worst case.
            state.check(worst_case(MIN_PAGE, expansions))
            fits = state.affordable(worst_case(1, expansions))
            size = PAGE_SIZE if fits is None else max(MIN_PAGE, min(PAGE_SIZE, fits))
            page = self.call(f"{what} {query}", search, query, max_results=size, **params)
            if not isinstance(page, dict):
                raise MalformedResponse("X answered a search with something other than an object.")
            self._bill(page)
            next_token = (page.get("meta") or {}).get("next_token")
            yield page, next_token
            if not next_token:
                return
            params["next_token"] = next_token

    # -- engagement refresh -------------------------------------------------------

    def refresh(self) -> None:
        """Re-read counts of recent posts, 100 ids a request, within the refresh share."""
        requests_left = self.collect_cfg.refresh_requests_per_pass
        if requests_left <= 0 or self.x.refresh_budget_share <= 0:
            return
        since = self.now() - timedelta(days=self.collect_cfg.refresh_max_age_days)
        rows = self.store.posts_to_refresh("x", since=since, limit=requests_left * 100)
        # Posts this pass has just read are fresh already.
        rows = [r for r in rows if r["platform_id"] not in self._read_this_pass]
        ids = [r["platform_id"] for r in rows]
        refreshed = gone = 0
        for start in range(0, len(ids), 100):
            if requests_left <= 0:
                break
            state = budget_state(self.store.conn, self.config, self.now())
            # A lookup asks for no expansions: it bills one post per id at most.
            room = state.affordable(Reads(posts=1))
            if state.refresh_limit is not None:
                # This run's refresh reads are not in the runs table until it ends.
                used = state.refresh_this_month + self.record.details.get("refresh_reads", 0)
                left = max(state.refresh_limit - used, 0)
                room = left if room is None else min(room, left)
            chunk = ids[start : start + 100]
            if room is not None and room < len(chunk):
                chunk = chunk[:room]
            if not chunk:
                self.record.details["refresh_stopped"] = "budget for refreshes used"
                break
            requests_left -= 1
            page = self.call(
                "tweet lookup",
                self.client.get_tweets,
                chunk,
                tweet_fields=["public_metrics"],
            )
            self._bill(page, refresh=True)
            at = self.now()
            for tweet in page.get("data") or []:
                m = tweet.get("public_metrics") or {}
                refreshed += self.store.update_engagement(
                    "x",
                    str(tweet["id"]),
                    likes=int(m.get("like_count") or 0),
                    reposts=int(m.get("retweet_count") or 0),
                    replies=int(m.get("reply_count") or 0),
                    quotes=int(m.get("quote_count") or 0),
                    views=m.get("impression_count"),
                    at=at,
                )
            for post_id in lookup_errors(page):
                # Deleted, or no longer visible (protected, suspended): stop showing it.
                gone += self.store.mark_deleted("x", post_id, at=at)
        self.record.updated_posts += refreshed
        if gone:
            self.record.details["deleted_upstream"] = gone
