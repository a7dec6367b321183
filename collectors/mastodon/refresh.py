"""Mastodon's engagement refresh: re-read recent posts on their origin, every one in turn.

Counts grow and authors delete for days after a post, and only the origin
instance knows the real figures. The refresh budget
(`collect.refresh_requests_per_pass`) counts requests, so the refresh makes
each one count:

- **Batches.** An origin on Mastodon 4.3+ (version from ``/api/v2/instance``)
  answers ``GET /api/v1/statuses?id[]=…`` for up to 20 statuses in one request;
  older ones and servers that only speak the API are asked one status at a time.
- **In turn.** Posts come least recently read back first (`refreshed_at`,
  kept by storage), so a budget smaller than the backlog still reaches every
  post younger than `collect.refresh_max_age_days`, not only the newest.
- **Confirmed gone.** A batch leaves out deleted statuses, but also ones it
  will not show for a moment (a glitch, a moderation hold): a missing status
  is asked for alone, and only a 404 or 410 there purges it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tagwatch.collectors.mastodon.client import BATCH_SINCE, STATUSES_BATCH, server_version
from tagwatch.errors import MalformedResponse, PlatformError

if TYPE_CHECKING:
    from tagwatch.collectors.mastodon.collector import MastodonCollector

__all__ = ["Refresh", "refresh_target"]


@dataclass
class _Item:
    row: sqlite3.Row
    origin: str
    status_id: str


def refresh_target(
    platform_id: str, source: str | None, raw: str | None, instances: Iterable[str]
) -> tuple[str, str] | None:
    """Where to ask for a post's current counts: (instance URL, status id there).

    Mastodon uris end in ``/statuses/<id>``, the id on the origin, whose counts
    are the real ones. Other servers' uris do not say it, so the instance that
    delivered the post is asked for its copy instead. Plain-http origins are
    only used when configured, so a crafted uri cannot point us at a local
    network address.
    """
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if isinstance(data, dict) and data.get("reblog"):
        return None  # a boost row: its counts live on the original
    parts = urlsplit(platform_id)
    segments = [s for s in parts.path.split("/") if s]
    origin = f"{parts.scheme}://{parts.netloc}"
    if (
        len(segments) >= 2
        and segments[-2] == "statuses"
        and segments[-1].isdigit()
        and (parts.scheme == "https" or origin in set(instances))
    ):
        return origin, segments[-1]
    if source and isinstance(data, dict) and data.get("id"):
        return source, str(data["id"])
    return None


class Refresh:
    """One refresh (`MastodonCollector.refresh`); its figures go to the run's details["refresh"]."""

    def __init__(self, collector: MastodonCollector):
        self.c = collector
        self.budget = int(collector.collect_cfg.refresh_requests_per_pass)
        self.start = collector.record.requests
        self.failed: dict[str, str] = {}
        self.report: dict[str, Any] = {
            "requests": 0,
            "batch_requests": 0,
            "updated": 0,
            "edited": 0,
            "deleted": 0,
        }

    def spent(self) -> int:
        return self.c.record.requests - self.start

    def can_ask(self) -> bool:
        return self.spent() < self.budget and self.c.time_left() > 0

    def run(self) -> None:
        c = self.c
        c.record.details["refresh"] = self.report
        if self.budget <= 0:
            return
        since = c.now() - timedelta(days=float(c.collect_cfg.refresh_max_age_days))
        # Room for rows skipped (boosts, origins that fail) without loading every post.
        rows = c.store.posts_to_refresh(
            c.name, since=since, limit=self.budget * STATUSES_BATCH * 2, order="refreshed"
        )
        queue: list[_Item] = []
        for row in rows:
            target = refresh_target(row["platform_id"], row["source"], row["raw"], c.instances)
            if target is not None:
                queue.append(_Item(row, *target))
        while queue and self.can_ask():
            head = queue[0]
            if head.origin in self.failed:
                queue = [i for i in queue if i.origin != head.origin]
                continue
            if not self.batches(head.origin):
                queue.pop(0)
                self.read_one(head)
                continue
            if not self.can_ask():  # asking for the version used the last request
                break
            # The least recently read posts of this origin, in queue order.
            batch = [i for i in queue if i.origin == head.origin][:STATUSES_BATCH]
            taken = {id(i) for i in batch}
            queue = [i for i in queue if id(i) not in taken]
            back = self.read_batch(head.origin, batch)
            queue[:0] = back  # the origin turned out not to batch: ask them one by one
        self.report["requests"] = self.spent()
        if self.failed:
            self.report["failed_origins"] = self.failed

    def batches(self, origin: str) -> bool:
        """Whether `origin` answers the batch lookup; asks its version once per pass."""
        versions = self.c.server_versions
        if origin not in versions:
            try:
                info = self.c.call(f"{origin} instance", self.c.client(origin).instance)
                versions[origin] = server_version(str(info.get("version") or ""))
            except PlatformError:
                versions[origin] = None  # the single lookups will say what is wrong
        version = versions[origin]
        return version is not None and version >= BATCH_SINCE

    def read_batch(self, origin: str, items: list[_Item]) -> list[_Item]:
        """Refresh up to 20 statuses in one request; returns items to ask one by one."""
        c = self.c
        try:
            answer = c.call(
                f"refresh {len(items)} statuses on {origin}",
                c.client(origin).statuses,
                [i.status_id for i in items],
            )
        except PlatformError as exc:
            if exc.status in (404, 422) or isinstance(exc, MalformedResponse):
                # Says 4.3+ but has no batch lookup (a fork, a proxy): one by one, as before.
                c.server_versions[origin] = None
                return items
            self.failed[origin] = c.redact(str(exc))
            return []
        finally:
            self.report["batch_requests"] += 1
        by_id = {str(s["id"]): s for s in answer}
        for item in items:
            status = by_id.get(item.status_id)
            if status is not None:
                self.apply(item, status)
            elif self.can_ask() and origin not in self.failed:
                self.read_one(item)  # left out: deleted, or only hidden for now?
            # else: not read this pass, so it stays first in the queue for the next one
        return []

    def read_one(self, item: _Item) -> None:
        c = self.c
        try:
            status = c.call(
                f"refresh {item.row['platform_id']}",
                c.client(item.origin).status,
                item.status_id,
            )
        except PlatformError as exc:
            if exc.status in (404, 410):
                if c.store.mark_deleted(c.name, item.row["platform_id"], at=c.now()):
                    self.report["deleted"] += 1
            else:
                self.failed[item.origin] = c.redact(str(exc))
            return
        self.apply(item, status)

    def apply(self, item: _Item, status: dict[str, Any]) -> None:
        c, row = self.c, item.row
        if status.get("uri") != row["platform_id"]:
            # The local id now names another status: do not mix them up.
            c.store.mark_refreshed(c.name, [row["platform_id"]], at=c.now())
            return
        edit = c.edited_version(status, item.origin, row)
        if edit is not None:
            written = c.store.write_posts([edit])
            c.store.mark_refreshed(c.name, [row["platform_id"]], at=c.now())
            self.report["edited"] += 1
            c.record.updated_posts += written.updated
            return
        changed = c.store.update_engagement(
            c.name,
            row["platform_id"],
            likes=int(status.get("favourites_count") or 0),
            reposts=int(status.get("reblogs_count") or 0),
            replies=int(status.get("replies_count") or 0),
            quotes=int(status.get("quotes_count") or 0),
            at=c.now(),
        )
        self.report["updated"] += int(changed)
        c.record.updated_posts += int(changed)
