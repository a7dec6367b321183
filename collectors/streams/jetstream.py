"""Bluesky through Jetstream: every post on the network within a second, matched here.

Jetstream (github.com/bluesky-social/jetstream) serves the network's commits
as JSON over a websocket, with no login. It cannot filter by hashtag, so the
client subscribes to `app.bsky.feed.post` and matches each record's tag
facets and `tags` field against the event's hashtags itself: a cheap text
test first (most posts carry no tag at all), then the full parse.

A Jetstream record has no handle and no counts. The post is built as the
AppView would show it (`bluesky.parse.parse_post` on a synthetic post view),
with the handle looked up through `app.bsky.actor.getProfiles` on a public
AppView (cached per author; the DID stands in when that fails) and counts
left at zero; stream writes never overwrite a stored post, so the counts of
the scheduled passes stay. Deletes of stored posts purge them at once.

The public AppView answers 403 to some addresses. Then handles are looked up
through the `[bluesky]` login when its credentials are set; without them the
DID stands in and `tagwatch status` says why (the stream's error).

Resuming: the cursor is the `time_us` of the last event handled. Within
`[streams] replay_window_minutes` Jetstream replays from it; beyond, the
missed interval is filled with `searchPosts` through the Bluesky collector.
"""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from atproto_client import Client, models
from atproto_client.exceptions import UnauthorizedError
from atproto_client.request import Request
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from tagwatch.collectors.bluesky import BlueskyCollector
from tagwatch.collectors.bluesky.parse import (
    CDN,
    VIDEO_CDN,
    atproto_datetime,
    embed_view,
    parse_post,
)
from tagwatch.collectors.streams.base import Stream, StreamConnection
from tagwatch.errors import AuthError, PlatformError
from tagwatch.records import Post
from tagwatch.settings import Config
from tagwatch.storage.db import Store

__all__ = ["JetstreamStream", "parse_event", "event_time", "POST_COLLECTION"]

log = logging.getLogger("tagwatch.stream.jetstream")
# Authors' handles remembered; the oldest half is forgotten beyond this.
HANDLES_KEPT = 20_000

POST_COLLECTION = "app.bsky.feed.post"
_TAG_FACET = "app.bsky.richtext.facet#tag"
PROFILE_BATCH = 25


def event_time(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1_000_000, UTC)


def record_tags(record: dict[str, Any]) -> set[str]:
    """The hashtags a post record carries: tag facets plus the `tags` field, case-folded."""
    tags = {t.casefold() for t in record.get("tags") or () if isinstance(t, str)}
    for facet in record.get("facets") or ():
        for feature in facet.get("features") or () if isinstance(facet, dict) else ():
            if isinstance(feature, dict) and feature.get("$type") == _TAG_FACET:
                tag = feature.get("tag")
                if isinstance(tag, str):
                    tags.add(tag.lstrip("#").casefold())
    return tags


def parse_event(
    event: dict[str, Any],
    *,
    handle: str = "",
    collected_at: datetime,
    source: str = "",
    cdn: str = CDN,
    video_cdn: str = VIDEO_CDN,
) -> Post:
    """A Jetstream post-create event → `Post`, through the same parser as searchPosts.

    The record holds only its pictures' blob CIDs; their addresses are built as the
    AppView builds them (`cdn`, `video_cdn`). The author's avatar and account date are
    not in the event: unknown here, filled by a later search pass of the same author.
    """
    did = event["did"]
    commit = event["commit"]
    uri = f"at://{did}/{commit['collection']}/{commit['rkey']}"
    view = {
        "uri": uri,
        "cid": commit.get("cid", ""),
        "author": {"did": did, "handle": handle or did},
        "record": commit["record"],
        # Jetstream's time is when the network saw the commit, the AppView's indexedAt.
        "indexedAt": atproto_datetime(event_time(int(event["time_us"]))),
    }
    embed = embed_view(commit["record"].get("embed"), did, cdn=cdn, video_cdn=video_cdn)
    if embed is not None:
        view["embed"] = embed
    return parse_post(view, collected_at=collected_at, source=source)


class _WebSocket(StreamConnection):
    def __init__(self, stack: ExitStack, ws: ClientConnection):
        self.stack, self.ws = stack, ws

    def recv(self, timeout: float) -> Any:
        try:
            return self.ws.recv(timeout=timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.stack.close()


class _GapSearch(BlueskyCollector):
    """searchPosts between two times for every hashtag: the Bluesky pass, bounded."""

    def __init__(
        self, config: Config, store: Store, *, since: datetime, until: datetime, **kw: Any
    ):
        super().__init__(config, store, **kw)
        self.since, self.until = since, until

    def collect(self) -> None:
        self._login()
        try:
            for tag in self.tags:
                cursor: str | None = None
                while True:
                    params = models.AppBskyFeedSearchPosts.Params(
                        q=f"#{tag}",
                        tag=[tag],
                        sort="latest",
                        since=atproto_datetime(self.since),
                        until=atproto_datetime(self.until),
                        cursor=cursor,
                        limit=100,
                    )
                    answer = self._query(
                        "app.bsky.feed.searchPosts", params, models.AppBskyFeedSearchPosts.Response
                    )
                    posts = self._with_followers([self._parse(v) for v in answer["posts"]])
                    self.store_page(posts)
                    cursor = answer.get("cursor")
                    if not posts or not cursor:
                        break
        finally:
            if self.client is not None:
                self.client.request.close()


class _SessionProfiles(BlueskyCollector):
    """getProfiles through the `[bluesky]` login, for when the public AppView refuses us."""

    def handles(self, dids: list[str]) -> dict[str, str]:
        if self.client is None:
            self._login()
        answer = self._query(
            "app.bsky.actor.getProfiles",
            models.AppBskyActorGetProfiles.Params(actors=dids),
            models.AppBskyActorGetProfiles.Response,
        )
        return {p["did"]: str(p.get("handle") or "") for p in answer["profiles"]}

    def close(self) -> None:
        if self.client is not None:
            self.client.request.close()


class JetstreamStream(Stream):
    platform = "bluesky"
    always_busy = True  # the whole network: minutes of silence means a dead connection

    def __init__(self, config: Config, store: Store, **kwargs: Any):
        super().__init__(config, store, name="jetstream", **kwargs)
        self.replay_window = timedelta(minutes=float(self.cfg.replay_window_minutes))
        self._endpoint = ""
        self._handles: dict[str, str] = {}
        self._profiles: Client | None = None
        service = str(self.cfg.jetstream_profiles_service).rstrip("/")
        self._profiles_host = urlsplit(service).netloc or service
        # Set once the public AppView answered 403: from then on the login asks instead.
        self._public_refused = False
        self._session: _SessionProfiles | None = None
        self._session_failed = False
        if service:
            # Short: the lookup runs in the stream's thread, and a DID will do meanwhile.
            timeout = min(5.0, float(config.collect.timeout_seconds))
            self._profiles = Client(base_url=service, request=Request(timeout=timeout))
        # A tracked tag always appears as "#tag" in the text or in the `tags` field.
        self._needles = tuple(self.tags)

    def endpoints(self) -> list[str]:
        return [str(e) for e in self.cfg.jetstream_endpoints]

    def connect(self, endpoint: str, cursor: str | None) -> StreamConnection:
        params: list[tuple[str, str]] = [("wantedCollections", POST_COLLECTION)]
        if cursor:
            params.append(("cursor", cursor))
        sep = "&" if "?" in endpoint else "?"
        stack = ExitStack()
        ws = stack.enter_context(
            ws_connect(
                f"{endpoint}{sep}{urlencode(params)}",
                open_timeout=float(self.config.collect.timeout_seconds),
                max_size=2**22,
                compression=None,
                proxy=None,
            )
        )
        self._endpoint = endpoint
        return _WebSocket(stack, ws)

    def handle(self, message: Any) -> None:
        event = json.loads(message)
        time_us = event.get("time_us")
        if not isinstance(time_us, int):
            return
        self.advance(str(time_us), event_time(time_us))
        commit = event.get("commit")
        if event.get("kind") != "commit" or not isinstance(commit, dict):
            return
        if commit.get("collection") != POST_COLLECTION:
            return
        op = commit.get("operation")
        if op == "delete":
            self.delete(f"at://{event.get('did')}/{POST_COLLECTION}/{commit.get('rkey')}")
            return
        if op != "create" or not isinstance(commit.get("record"), dict):
            return
        lowered = message.casefold() if isinstance(message, str) else ""
        if not any(n in lowered for n in self._needles):
            return  # cheap: the tag is nowhere in the event
        if not self.tags.intersection(record_tags(commit["record"])):
            return
        try:
            post = parse_event(
                event,
                handle=self.handle_of(str(event.get("did"))),
                collected_at=self.now(),
                source=self._endpoint,
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.info("jetstream: unreadable post event skipped (%s)", exc)
            return
        self.store_new([post])

    def handle_of(self, did: str) -> str:
        """The author's handle from a public AppView, cached; the DID when unknown."""
        if did in self._handles:
            return self._handles[did]
        handle = ""
        if self._profiles is not None and not self._public_refused:
            try:
                answer = self._profiles.app.bsky.actor.get_profiles({"actors": [did]})
                handle = next((p.handle for p in answer.profiles if p.did == did), "")
            except UnauthorizedError as exc:
                if exc.response is not None and exc.response.status_code == 403:
                    self._public_refused = True
                else:
                    log.info("jetstream: no handle for %s (%s)", did, exc)
            except Exception as exc:  # noqa: BLE001 - the post is stored with its DID instead
                log.info("jetstream: no handle for %s (%s)", did, exc)
        if self._public_refused:
            handle = self._session_handle(did)
        if len(self._handles) >= HANDLES_KEPT:  # bounded: the stream runs for days
            for old in list(self._handles)[: HANDLES_KEPT // 2]:
                del self._handles[old]
        self._handles[did] = handle if handle and handle != "handle.invalid" else ""
        return self._handles[did]

    def _session_handle(self, did: str) -> str:
        """The handle through the `[bluesky]` login; "" (and status says why) without one."""
        if self._session_failed:
            return ""
        bluesky = self.config.bluesky
        missing = [
            env for env in (bluesky.handle_env, bluesky.password_env) if not self.config.secret(env)
        ]
        if missing:
            self._session_failed = True
            self.report(
                f"{self._profiles_host} refused profile lookups (403): authors are shown by "
                f"their DID. Set {' and '.join('$' + m for m in missing)} (the [bluesky] login) "
                "to look up their handles through it."
            )
            return ""
        try:
            if self._session is None:
                self._session = _SessionProfiles(
                    self.config, self.store, now=self.now, sleep=self.stop.wait, stop=self.stop
                )
            return self._session.handles([did]).get(did, "")
        except AuthError as exc:
            self._session_failed = True
            self.report(
                f"{self._profiles_host} refused profile lookups (403) and the [bluesky] login "
                f"failed too: authors are shown by their DID. {exc}"
            )
        except PlatformError as exc:
            log.info("jetstream: no handle for %s through the login (%s)", did, exc)
        return ""

    def fill_gap(self, since: datetime, until: datetime) -> int:
        return self.fill_with(
            _GapSearch(
                self.config,
                self.store,
                since=since,
                until=until,
                now=self.now,
                sleep=self.stop.wait,
                stop=self.stop,
            )
        )

    def close(self) -> None:
        if self._profiles is not None:
            self._profiles.request.close()
        if self._session is not None:
            self._session.close()
