"""Mastodon's hashtag stream: server-sent events, one connection per instance and hashtag.

`GET /api/v1/streaming/hashtag?tag=NAME` on the instance's streaming server
(announced in `/api/v2/instance` as `configuration.urls.streaming`; the
instance itself otherwise) sends `update` events with a Status and `delete`
events with a status id. Statuses are parsed by the Mastodon collector's
`parse_status`, so a streamed post is the same record a pass would store.

Mastodon cannot replay a stream. After a drop (or a runner restart) the gap
is filled through the tag timeline by the Mastodon collector itself, bounded
to this instance and hashtag: its cursor pages upward from the newest status
it stored, so everything missed is read, once. An instance that shows its
hashtag stream only to logged-in users uses the token of
`[mastodon] access_token_envs`; one that refuses it is reported in status.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import httpx

from tagwatch.collectors.mastodon.client import USER_AGENT
from tagwatch.collectors.mastodon.collector import MastodonCollector, _normalize_instance
from tagwatch.collectors.mastodon.parse import parse_status
from tagwatch.collectors.streams.base import END, QueuedConnection, Stream, StreamConnection
from tagwatch.errors import MalformedResponse
from tagwatch.settings import Config
from tagwatch.storage.db import Store

__all__ = ["MastodonStream", "sse_events"]

log = logging.getLogger("tagwatch.stream.mastodon")


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str | None, str | None]]:
    """(event, data) pairs of a text/event-stream; a comment (heartbeat) gives (None, None)."""
    event: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or event:
                yield event or "message", "\n".join(data)
            event, data = None, []
        elif line.startswith(":"):
            yield None, None
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)


class _EventSource(QueuedConnection):
    """Reads the SSE body in a thread so `recv` can wait with a timeout."""

    def __init__(self, client: httpx.Client, response: httpx.Response):
        super().__init__()
        self.client, self.response = client, response
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event, data in sse_events(self.response.iter_lines()):
                # A heartbeat (None): alive, but no event.
                self.queue.put(None if event is None else (event, data))
        except Exception as exc:  # noqa: BLE001 - handed to recv, which raises it
            self.queue.put(exc)
        self.queue.put(END)

    def close(self) -> None:
        self.response.close()
        self.client.close()


class _GapTimeline(MastodonCollector):
    """The Mastodon pass narrowed to one instance and one hashtag, without the refresh."""

    def __init__(self, config: Config, store: Store, *, instance: str, tag: str, **kw: Any):
        super().__init__(config, store, **kw)
        self.instances = [instance]
        self._tag = tag

    @property
    def tags(self) -> tuple[str, ...]:
        return (self._tag,)

    def refresh(self) -> None:
        return None


class MastodonStream(Stream):
    platform = "mastodon"

    def __init__(self, config: Config, store: Store, *, instance: str, tag: str, **kwargs: Any):
        host = instance.split("://", 1)[-1]
        super().__init__(config, store, name=f"mastodon {host} #{tag}", **kwargs)
        self.instance, self.tag = instance, tag
        self._helper = MastodonCollector(config, store)
        self._domain = host
        self._streaming: str | None = None

    @classmethod
    def instances(cls, config: Config) -> list[dict[str, Any]]:
        hosts = dict.fromkeys(_normalize_instance(u) for u in config.mastodon.instances)
        return [{"instance": i, "tag": t} for i in hosts for t in sorted(config.event.tags)]

    def endpoints(self) -> list[str]:
        return [self.instance]

    def _discover(self) -> str:
        """The streaming server's URL and the instance's account domain (one request, kept)."""
        if self._streaming is None:
            client = self._helper.client(self.instance)
            try:
                info = client.instance()
            finally:
                client.close()
                self._helper._clients.clear()
            urls = (info.get("configuration") or {}).get("urls") or {}
            stream = str(urls.get("streaming") or self.instance)
            self._streaming = stream.replace("wss://", "https://").replace("ws://", "http://")
            self._domain = str(info.get("domain") or self._domain)
        return self._streaming.rstrip("/")

    def connect(self, endpoint: str, cursor: str | None) -> StreamConnection:
        base = self._discover()
        headers = {"User-Agent": USER_AGENT, "Accept": "text/event-stream"}
        token = self._helper.token(self.instance)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = float(self.config.collect.timeout_seconds)
        client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, read=None))
        try:
            request = client.build_request(
                "GET", f"{base}/api/v1/streaming/hashtag", params={"tag": self.tag}
            )
            response = client.send(request, stream=True)
            if response.status_code != 200:
                response.read()
                try:
                    message = str(response.json().get("error"))
                except ValueError:
                    message = response.reason_phrase
                hint = (
                    "" if token else " (the instance may stream hashtags to logged-in users only)"
                )
                raise ConnectionError(f"{base} answered {response.status_code}: {message}{hint}")
        except BaseException:
            client.close()
            raise
        return _EventSource(client, response)

    def handle(self, message: Any) -> None:
        event, data = message
        if event == "delete":
            self._delete_local(data.strip())
            return
        if event not in ("update", "status.update"):
            return
        try:
            status = json.loads(data)
            posts = parse_status(
                status, instance=self.instance, domain=self._domain, collected_at=self.now()
            )
        except (ValueError, MalformedResponse) as exc:
            log.info("%s: unreadable status skipped (%s)", self.name, exc)
            return
        if posts:
            self.advance(None, posts[-1].created_at)
        self.store_new(posts)

    def _delete_local(self, status_id: str) -> None:
        """A delete names the instance's local id; find the post this instance delivered."""
        row = self.store.conn.execute(
            "select platform_id from posts where platform = 'mastodon' and source = ?"
            " and deleted = 0 and json_extract(raw, '$.id') = ?",
            (self.instance, status_id),
        ).fetchone()
        if row is not None:
            self.delete(row["platform_id"])

    def fill_gap(self, since: datetime, until: datetime) -> int:
        return self.fill_with(
            _GapTimeline(
                self.config,
                self.store,
                instance=self.instance,
                tag=self.tag,
                now=self.now,
                sleep=self.stop.wait,
                stop=self.stop,
            )
        )
