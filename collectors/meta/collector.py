"""The pass steps Threads and Instagram share: token, usage headers, refresh and purge.

Each platform's collector (`tagwatch.collectors.threads`, `tagwatch.collectors.instagram`)
supplies its client, its searches and its parser; this base reads the token
from the environment variable its section names, checks when the token
expires (debug_token), slows down as Meta's usage headers near their limit,
and refreshes recent posts, purging those Meta says are gone (code 100).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from tagwatch.collectors.base import Collector
from tagwatch.collectors.meta.client import (
    SLOW_DOWN_AT,
    GraphClient,
    Usage,
    object_gone,
    token_expiry,
    translate,
)
from tagwatch.errors import AuthError, PlatformError, RateLimited
from tagwatch.records import iso
from tagwatch.settings import Config
from tagwatch.settings_types import InstagramSection, ThreadsSection

__all__ = ["MetaCollector", "RENEW_HINT", "expires_soon"]

log = logging.getLogger("tagwatch.collect")

RENEW_HINT = (
    "A long-lived token lasts 60 days: exchange a fresh short-lived one for a long-lived "
    "token (or refresh it before it expires) as Meta's {label} access token guide shows."
)


class MetaCollector(Collector):
    """Shared steps; subclasses set `label`, `debug_path` and implement `collect_tags`."""

    label: ClassVar[str]
    client_class: ClassVar[type[GraphClient]] = GraphClient

    @property
    def debug_path(self) -> str:
        return "/debug_token"

    def __init__(self, config: Config, store: Any, **kwargs: Any):
        super().__init__(config, store, **kwargs)
        self.section: ThreadsSection | InstagramSection = (
            config.threads if self.name == "threads" else config.instagram
        )
        self._client: GraphClient | None = None

    # -- token and errors -------------------------------------------------------------

    @property
    def token_env(self) -> str:
        return str(self.section.access_token_env)

    def token(self) -> str | None:
        return self.config.secret(self.token_env)

    def secrets(self) -> Iterable[str]:
        token = self.token()
        return [token] if token else []

    def translate_error(self, exc: Exception) -> PlatformError | None:
        return translate(
            exc,
            label=self.label,
            token_env=self.token_env,
            renew=RENEW_HINT.format(label=self.label),
            now=self.now(),
        )

    @property
    def base_url(self) -> str:
        return str(self.section.api_base_url)

    def client(self) -> GraphClient:
        if self._client is None:
            self._client = self.client_class(
                self.base_url, self.token(), timeout=float(self.collect_cfg.timeout_seconds)
            )
        return self._client

    # -- the pass ---------------------------------------------------------------------

    def collect(self) -> None:
        if not self.token():
            raise AuthError(
                f"{self.label} needs an access token: put it in the environment variable "
                f"{self.token_env} ([{self.name}] access_token_env)."
            )
        try:
            self.check_token()
            self.collect_tags()
            self.refresh()
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    def collect_tags(self) -> None:
        raise NotImplementedError

    def check_token(self) -> None:
        """Record when the token expires (debug_token), so status warns 7 days ahead.

        A failed check is no reason to stop the pass: the searches say soon enough
        if the token is refused.
        """
        try:
            info = self.call("debug_token", self.client().debug_token, self.debug_path)
        except AuthError:
            raise
        except PlatformError as exc:
            log.info("%s: token check failed: %s", self.name, self.redact(str(exc)))
            return
        expires = token_expiry(info)
        self.record.details["token_expires_at"] = iso(expires) if expires else None
        scopes = info.get("scopes")
        if isinstance(scopes, list):
            self.record.details["token_scopes"] = [str(s) for s in scopes]
        if info.get("is_valid") is False:
            raise AuthError(
                f"{self.label} says the token in {self.token_env} is not valid. "
                + RENEW_HINT.format(label=self.label)
            )

    def get(self, what: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        data = self.call(what, self.client().get, path, params)
        self.pace(self.client().last_usage)
        return data

    def page(
        self, what: str, path: str, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]:
        result = self.call(what, self.client().page, path, params)
        self.pace(self.client().last_usage)
        return result

    def pace(self, usage: Usage | None) -> None:
        """Slow down as a usage header nears 100 %, rather than be throttled for hours.

        From SLOW_DOWN_AT the pass pauses a little more at each percent; at 100 % it
        waits out the announced time to regain access if the pass's budget holds
        it, else ends the pass as rate limited.
        """
        if usage is None:
            return
        peak = max(usage.percent, int(self.record.details.get("usage_percent", 0)))
        self.record.details["usage_percent"] = peak
        if usage.percent < SLOW_DOWN_AT:
            return
        if usage.percent >= 100:
            reset = usage.regain_at(self.now()) or self.now() + timedelta(minutes=1)
            wait = (reset - self.now()).total_seconds()
            if wait > self.time_left():
                raise RateLimited(
                    f"{self.label} usage is at {usage.percent} %; access returns at "
                    f"{reset.isoformat()}, after this pass's time budget",
                    reset_at=reset,
                )
            self.sleep(wait)
            return
        self.record.details["slowed"] = self.record.details.get("slowed", 0) + 1
        self.sleep(min(2.0 * (usage.percent - SLOW_DOWN_AT + 1), max(self.time_left(), 0)))

    # -- refresh ----------------------------------------------------------------------

    def refresh_fields(self) -> str:
        raise NotImplementedError

    def refresh_counts(self, data: dict[str, Any]) -> dict[str, int | None] | None:
        """Counts of a re-read post (None: the platform gives none, only check it exists)."""
        raise NotImplementedError

    def media_path(self, media_id: str) -> str:
        raise NotImplementedError

    def refresh(self) -> None:
        """Re-read recent posts: new counts, and a purge of those Meta says are gone."""
        budget = int(self.collect_cfg.refresh_requests_per_pass)
        report: dict[str, Any] = {"requests": 0, "updated": 0, "deleted": 0}
        self.record.details["refresh"] = report
        if budget <= 0:
            return
        since = self.now() - timedelta(days=float(self.collect_cfg.refresh_max_age_days))
        start = self.record.requests
        for row in self.store.posts_to_refresh(self.name, since=since, limit=budget):
            if self.time_left() <= 0:
                break
            media_id = row["platform_id"]
            try:
                data = self.get(
                    f"refresh {media_id}",
                    self.media_path(media_id),
                    {"fields": self.refresh_fields()},
                )
            except RateLimited:
                break
            except PlatformError as exc:
                if object_gone(exc):
                    if self.store.mark_deleted(self.name, media_id, at=self.now()):
                        report["deleted"] += 1
                continue
            counts = self.refresh_counts(data)
            if counts is None:
                continue
            changed = self.store.update_engagement(self.name, media_id, at=self.now(), **counts)
            report["updated"] += int(changed)
            self.record.updated_posts += int(changed)
        report["requests"] = self.record.requests - start


def expires_soon(expires_at: str | None, now: datetime, days: int) -> datetime | None:
    """The expiry when it falls within `days` of `now` (or has passed), else None."""
    if not expires_at:
        return None
    from tagwatch.records import parse_iso

    when = parse_iso(expires_at)
    return when if when - now <= timedelta(days=days) else None
