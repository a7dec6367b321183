"""X's filtered stream through tweepy's `StreamingClient`, under the search collector's budget.

Plans that include the filtered stream (`GET /2/tweets/search/stream`) get
matching posts pushed within seconds; others are refused with 403, which is
reported in `tagwatch status` (the scheduled search passes go on).

Rules: one per event hashtag, its value `[x] query` with the tag filled in,
labelled `tagwatch <value>`. Before connecting, tagwatch's rules are made to
match the config (missing ones added, stale `tagwatch` ones deleted); rules
that other tools put on the same app are left alone.

Budget: X bills every resource a stream delivers, like a search result: the
post and the includes of its line (its author in `includes.users`), each once
per UTC day (docs.x.com x-api/fundamentals/post-cap, FAQ: each unique post a
filtered stream delivers counts toward usage, under the daily de-duplication).
The guard of `tagwatch.collectors.x.budget` is checked before connecting and after
every line, against the worst case of one more line (the line is billed in the
transaction that stores it); an exhausted budget closes the stream until the
budget has room again. Its text is parsed by the search's `parse_page`, so it
is unescaped the same way.

tweepy runs its own reconnect loop; here it is told to give up at the first
failure (`max_retries=0`) so that the shared loop in `tagwatch.collectors.streams.base`
decides, with the same backoff, state and gap filling as every stream. A gap
is filled by a search pass (`tagwatch.collectors.x.XCollector`) without its refresh:
its `since_id` cursor covers everything newer than what it stored.
"""

from __future__ import annotations

import json
import logging
import queue
from datetime import datetime
from typing import Any

import tweepy

from tagwatch.collectors.streams.base import END, QueuedConnection, Stream, StreamConnection
from tagwatch.collectors.x.budget import Reads, budget_state, record_resources, worst_case
from tagwatch.collectors.x.client import TWITTER_HOST, BaseURLAdapter, fields_params
from tagwatch.collectors.x.collector import XCollector
from tagwatch.collectors.x.parse import page_resources, parse_page
from tagwatch.errors import MalformedResponse, QuotaExhausted
from tagwatch.settings import Config
from tagwatch.storage.db import Store

__all__ = ["XStream", "RULE_LABEL"]

log = logging.getLogger("tagwatch.stream.x")

RULE_LABEL = "tagwatch "


class _Client(tweepy.StreamingClient):
    """tweepy's client, handing every line to a queue instead of parsing it itself."""

    def __init__(self, token: str, sink: queue.Queue[Any]):
        super().__init__(token, max_retries=0, return_type=dict, wait_on_rate_limit=False)
        self.sink = sink  # the queue of the `_Lines` connection

    def on_data(self, raw_data: bytes) -> None:
        self.sink.put(raw_data)

    def on_keep_alive(self) -> None:
        self.sink.put(None)

    def on_request_error(self, status_code: int) -> None:
        self.sink.put(ConnectionError(f"X answered {status_code} to the filtered stream"))
        self.disconnect()

    def on_connection_error(self) -> None:
        self.sink.put(ConnectionError("X's filtered stream connection failed"))
        self.disconnect()

    def on_closed(self, response: Any) -> None:
        self.disconnect()

    def on_exception(self, exception: Exception) -> None:
        self.sink.put(exception)

    def on_disconnect(self) -> None:
        self.sink.put(END)


class _Lines(QueuedConnection):
    closed_by_server = "X closed the filtered stream"

    def __init__(self, client: _Client):
        self.client = client
        self.queue = client.sink

    def close(self) -> None:
        self.client.disconnect()


class _GapSearch(XCollector):
    """The search pass without the engagement refresh: reads what the stream missed."""

    def refresh(self) -> None:
        return None


class XStream(Stream):
    platform = "x"

    def __init__(self, config: Config, store: Store, **kwargs: Any):
        super().__init__(config, store, name="x filtered stream", **kwargs)
        self.x = config.x
        self.rules_changed = 0

    def endpoints(self) -> list[str]:
        return [str(self.x.api_base_url)]

    def _client(self, sink: queue.Queue[Any]) -> _Client:
        token = self.config.secret(self.x.bearer_token_env)
        if not token:
            raise ConnectionError(
                f"no X bearer token: set the environment variable {self.x.bearer_token_env}"
            )
        client = _Client(token, sink)
        timeout = float(self.config.collect.timeout_seconds)
        adapter = BaseURLAdapter(self.x.api_base_url, timeout, client.session.trust_env)
        client.session.mount(TWITTER_HOST, adapter)
        return client

    def wanted_rules(self) -> dict[str, str]:
        """value -> tag label of the rules this config needs."""
        values = [self.x.query.replace("{tag}", tag) for tag in self.config.event.hashtags]
        return {v: RULE_LABEL + v for v in values}

    def sync_rules(self, client: _Client) -> None:
        wanted = self.wanted_rules()
        answer = client.get_rules()
        existing = [r for r in (answer.get("data") or []) if isinstance(r, dict)]
        ours = [r for r in existing if str(r.get("tag") or "").startswith(RULE_LABEL)]
        stale = [str(r["id"]) for r in ours if r.get("value") not in wanted]
        have = {r.get("value") for r in ours}
        missing = [tweepy.StreamRule(v, t) for v, t in wanted.items() if v not in have]
        if stale:
            client.delete_rules(stale)
        if missing:
            client.add_rules(missing)
        self.rules_changed += len(stale) + len(missing)

    def connect(self, endpoint: str, cursor: str | None) -> StreamConnection:
        try:
            budget_state(self.store.conn, self.config, self.now()).check(self._worst_line())
        except QuotaExhausted as exc:
            raise ConnectionError(f"X budget: {exc}") from exc
        client = self._client(queue.Queue())
        try:
            self.sync_rules(client)
        except tweepy.TweepyException as exc:
            raise ConnectionError(f"X refused the stream rules: {exc}") from exc
        client.filter(threaded=True, **fields_params(self.config.x.media))
        return _Lines(client)

    def handle(self, message: Any) -> None:
        try:
            line = json.loads(message)
            if not isinstance(line, dict) or "data" not in line:
                return  # an error object or a system message: nothing to store
            page = {"data": [line["data"]], "includes": line.get("includes") or {}}
            posts = parse_page(page, collected_at=self.now(), tags=self.tags)
        except (ValueError, MalformedResponse) as exc:
            log.info("x stream: unreadable line skipped (%s)", exc)
            return
        if posts:
            self.advance(None, max(p.created_at for p in posts))
        with self.store.transaction() as conn:
            # Billed whether or not we keep them: the post and its line's includes.
            record_resources(conn, page_resources(page), self.now())
            self.store_new(posts)
        budget_state(self.store.conn, self.config, self.now()).check(self._worst_line())

    def _worst_line(self) -> Reads:
        """What one line may bill: a post, its author, and its media when `[x] media` is on."""
        return worst_case(1, fields_params(self.config.x.media)["expansions"])

    def fill_gap(self, since: datetime, until: datetime) -> int:
        return self.fill_with(
            _GapSearch(self.config, self.store, now=self.now, sleep=self.stop.wait, stop=self.stop)
        )
