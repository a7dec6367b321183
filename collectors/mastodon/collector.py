"""Mastodon: public hashtag timelines of several instances, stored once per status.

Four modules, so each can be tested on its own:

- `parse` (`parse_status` / `html_to_text`): pure functions, Status JSON → `Post`.
- `client` (`MastodonClient`): a small REST client on httpx (tag timeline,
  one status, instance info) that reads `Link` and `X-RateLimit-*` headers;
  it knows nothing of tagwatch.
- `refresh`: re-reads recent posts' counts and deletions on their origin.
- `collector` (`MastodonCollector`, here): the pass. For each instance and hashtag it pages the
  timeline (a first run newest-first with ``max_id`` down to the backfill
  start, later runs upward with ``min_id`` from a cursor kept per instance and
  hashtag), then refreshes engagement of recent posts on their origin.

Federation: every instance gives a status its own local ``id``, but the
ActivityPub ``uri`` is the same everywhere, so it is the `Post.platform_id`.
Whichever instance delivers a status first stores it; later copies (whose
counts are only that instance's partial view) are skipped, and the counts are
corrected by the refresh, which asks the origin instance.

Boosts: a boost is not a new text. When one is delivered (Mastodon's own tag
timelines never list boosts, but servers speaking its API may), the boosted
original is stored as a post, and the boost itself as a relation row: empty
text, no hashtags, `repost_of` = the original's uri, author = who boosted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from tagwatch.collectors.base import Collector
from tagwatch.collectors.cursor import Cursor, json_object
from tagwatch.collectors.mastodon.client import (
    TIMELINE_LIMIT,
    MastodonAPIError,
    MastodonClient,
    MastodonGarbage,
    Page,
    server_version,
)
from tagwatch.collectors.mastodon.parse import host as _host
from tagwatch.collectors.mastodon.parse import parse_status
from tagwatch.collectors.mastodon.refresh import Refresh
from tagwatch.errors import AuthError, MalformedResponse, PlatformError, RateLimited
from tagwatch.records import Post
from tagwatch.settings import Config

__all__ = ["MastodonCollector", "closed_timeline_message", "token_env_for", "legacy_cursor"]


# -- the collector ----------------------------------------------------------------------


def _normalize_instance(url: str) -> str:
    return url.strip().rstrip("/")


def token_env_for(table: Mapping[str, str], instance: str) -> str | None:
    """The environment variable named for `instance` in mastodon.access_token_envs.

    Keys may be the instance's URL or its host name (``"mastodon.social"``).
    """
    base = _normalize_instance(instance).lower()
    for key, env in (table or {}).items():
        k = _normalize_instance(key).lower()
        if k == base or k == _host(base):
            return env
    return None


class MastodonCollector(Collector):
    """One pass over every configured instance; one failing instance never stops the others."""

    name = "mastodon"

    def __init__(self, config: Config, store: Any, **kwargs: Any):
        super().__init__(config, store, **kwargs)
        self.mastodon_cfg = config.mastodon
        self.instances = list(
            dict.fromkeys(_normalize_instance(u) for u in self.mastodon_cfg.instances)
        )
        self._clients: dict[str, MastodonClient] = {}
        # Instance URL → Mastodon version from /api/v2/instance (None: unknown or not
        # Mastodon), read once per pass; the refresh batches on 4.3+.
        self.server_versions: dict[str, tuple[int, int, int] | None] = {}
        # Instance URL → the hashtag_feeds modes it announces (Mastodon 4.5+; empty:
        # not announced, so only a timeline request could tell).
        self.hashtag_access: dict[str, set[str]] = {}

    # -- secrets and errors ---------------------------------------------------------

    def _token_env(self, instance: str) -> str | None:
        return token_env_for(self.mastodon_cfg.access_token_envs, instance)

    def token(self, instance: str) -> str | None:
        env = self._token_env(instance)
        return self.config.secret(env) if env else None

    def secrets(self) -> Iterable[str]:
        return [t for t in (self.token(i) for i in self.instances) if t]

    def translate_error(self, exc: Exception) -> PlatformError | None:
        if isinstance(exc, PlatformError):
            return exc
        if isinstance(exc, MastodonAPIError):
            if exc.status == 429:
                when = exc.reset_at.isoformat() if exc.reset_at else "an unknown time"
                return RateLimited(
                    f"{exc.base_url} is rate limiting us (429) until {when}", reset_at=exc.reset_at
                )
            if exc.status in (401, 403, 422):
                return AuthError(
                    f"{exc.base_url} refused the request ({exc.status}: {exc.message}). "
                    + self._auth_hint(exc.base_url),
                    status=exc.status,
                )
            return PlatformError(str(exc), status=exc.status, retryable=exc.status >= 500)
        if isinstance(exc, MastodonGarbage):
            return MalformedResponse(str(exc))
        if isinstance(exc, httpx.TimeoutException):
            return PlatformError(
                f"{_request_base(exc)} did not answer within "
                f"{self.collect_cfg.timeout_seconds:g}s (collect.timeout_seconds)",
                retryable=True,
            )
        if isinstance(exc, httpx.TransportError):
            return PlatformError(f"cannot reach {_request_base(exc)}: {exc}", retryable=True)
        return None

    def _auth_hint(self, instance: str) -> str:
        env = self._token_env(instance)
        if env is None:
            return (
                "This instance needs an access token: create one in its settings "
                "(Development → New application, read scope), put it in an environment "
                "variable and name that variable in mastodon.access_token_envs."
            )
        if self.token(instance) is None:
            return f"The environment variable {env} (mastodon.access_token_envs) is not set."
        return f"Check the access token in the environment variable {env}."

    # -- the pass ---------------------------------------------------------------------

    def client(self, instance: str) -> MastodonClient:
        if instance not in self._clients:
            self._clients[instance] = MastodonClient(
                instance,
                token=self.token(instance),
                timeout=float(self.collect_cfg.timeout_seconds),
            )
        return self._clients[instance]

    def collect(self) -> None:
        if not self.instances:
            raise PlatformError("No Mastodon instances to read: list some in mastodon.instances.")
        failures: dict[str, PlatformError] = {}
        per_instance: dict[str, dict[str, Any]] = {}
        self.record.details["instances"] = per_instance
        try:
            for instance in self.instances:
                info: dict[str, Any] = {"status": "ok", "new_posts": 0, "already_stored": 0}
                per_instance[instance] = info
                requests_before = self.record.requests
                try:
                    self._collect_instance(instance, info)
                except PlatformError as exc:
                    failures[instance] = exc
                    info["status"] = _failure_kind(exc)
                    info["error"] = self.redact(str(exc))
                    if isinstance(exc, RateLimited) and exc.reset_at is not None:
                        info["reset_at"] = exc.reset_at.isoformat()
                info["requests"] = self.record.requests - requests_before
            self.refresh()
        finally:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        if not failures:
            return
        summary = "; ".join(f"{i}: {self.redact(str(e))}" for i, e in failures.items())
        if len(failures) < len(self.instances):
            self.record.status = "partial"
            self.record.error = f"{len(failures)} of {len(self.instances)} instances skipped: "
            self.record.error += summary
            return
        errors = list(failures.values())
        if all(isinstance(e, RateLimited) for e in errors):
            resets = [e.reset_at for e in errors if isinstance(e, RateLimited) and e.reset_at]
            raise RateLimited(summary, reset_at=min(resets) if resets else None)
        if all(isinstance(e, AuthError) for e in errors):
            raise AuthError(summary)
        raise PlatformError(f"every Mastodon instance failed: {summary}")

    def _collect_instance(self, instance: str, info: dict[str, Any]) -> None:
        client = self.client(instance)
        domain = self._instance_domain(instance, client)
        info["domain"] = domain
        for tag in self.tags:
            self._collect_tag(instance, domain, client, tag, info)

    def _instance_domain(self, instance: str, client: MastodonClient) -> str:
        """The domain in local accounts' full acct, and whether hashtag timelines are open.

        It is the instance's LOCAL_DOMAIN, which can differ from the web host
        (an instance at social.example.org may call its users @me@example.org).
        """
        try:
            data = self.call(f"{instance} instance", client.instance)
        except PlatformError as exc:
            if exc.status == 404:  # before Mastodon 4.0 there is no v2; the host will do
                self.server_versions[instance] = None
                return _host(instance)
            raise
        self.server_versions[instance] = server_version(str(data.get("version") or ""))
        # Mastodon 4.5+: configuration.timelines_access.hashtag_feeds.{local,remote} is
        # "public", "authenticated" or "disabled" (older versions leave it out and
        # answer 401 on the timeline instead: see _collect_tag).
        access = ((data.get("configuration") or {}).get("timelines_access") or {}).get(
            "hashtag_feeds"
        ) or {}
        modes = {access.get("local"), access.get("remote")} - {None}
        self.hashtag_access[instance] = {str(m) for m in modes}
        if modes == {"disabled"}:
            raise PlatformError(
                f"hashtag timeline turned off on {_host(instance)}, even for logged-in readers: "
                "remove it from mastodon.instances."
            )
        if modes & {"authenticated", "disabled"} and not self.token(instance):
            # Either side closed is enough: without local=/remote= the timeline mixes
            # both, and Mastodon then asks a logged-out reader to log in (401).
            raise AuthError(closed_timeline_message(instance, self._token_hint(instance)))
        return str(data.get("domain") or _host(instance))

    def check_instance(self, instance: str) -> set[str]:
        """`/api/v2/instance` alone, for `tagwatch check`: no timeline, so no post read.

        Raises as a pass would (down, closed without a token, turned off); returns
        the hashtag_feeds modes the instance announces (empty: it does not say).
        """
        self._instance_domain(instance, self.client(instance))
        return self.hashtag_access.get(instance, set())

    def close_clients(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _token_hint(self, instance: str) -> str:
        """What to do to give `instance` a token, short enough for a status line."""
        env = self._token_env(instance)
        if env is None:
            return (
                "create one in its settings, Development → New application, read scope; "
                "name its environment variable in mastodon.access_token_envs"
            )
        return f"the environment variable {env} named in mastodon.access_token_envs is not set"

    def _collect_tag(
        self, instance: str, domain: str, client: MastodonClient, tag: str, info: dict[str, Any]
    ) -> None:
        query = f"{instance}/tags/{tag}"
        state = self.read_cursor(query, legacy_cursor)
        pages = 0
        max_pages = int(self.collect_cfg.max_pages_per_pass)
        start = self.backfill_start()

        def fetch(what: str, **params: str | None) -> Page:
            nonlocal pages
            pages += 1
            try:
                return self.call(f"{query} {what}", client.tag_timeline, tag, **params)
            except AuthError as exc:
                if exc.status == 401 and not self.token(instance):
                    # Closed without saying so in its configuration (before 4.5, or
                    # timeline_preview off): name it, never a silent zero.
                    raise AuthError(
                        closed_timeline_message(instance, self._token_hint(instance)),
                        status=401,
                    ) from exc
                raise

        def parse(page: Page) -> tuple[list[Post], bool]:
            """The page's posts from backfill_start() on, and whether it reached back past it."""
            posts: dict[str, Post] = {}
            reached_start = False
            for status in page.statuses:
                try:
                    parsed = parse_status(
                        status, instance=instance, domain=domain, collected_at=self.now()
                    )
                except MalformedResponse:
                    info["unparseable"] = info.get("unparseable", 0) + 1
                    continue
                for post in parsed:
                    if post.created_at < start:
                        reached_start = True
                    else:
                        posts.setdefault(post.platform_id, post)
            return list(posts.values()), reached_start

        def save(posts: list[Post]) -> None:
            """Commit posts no instance delivered before, with the cursor that covers them."""
            known = self.store.known_ids(self.name, [p.platform_id for p in posts])
            fresh = [p for p in posts if p.platform_id not in known]
            info["already_stored"] += len(posts) - len(fresh)
            result = self.store_page(fresh, query=query, cursor=state)
            info["new_posts"] += result.new

        def budget_left() -> bool:
            if pages >= max_pages or self.time_left() <= 0:
                info["stopped_early"] = "page or time budget of the pass reached"
                return False
            return True

        if state.newest is not None:
            # Newer statuses: page upward from the cursor, oldest page first, so the
            # cursor saved with each page never skips anything.
            min_id = state.newest
            while budget_left():
                page = fetch(f"min_id={min_id}", min_id=min_id)
                if not page.statuses:
                    break
                state.newest = page.prev_min_id or str(page.statuses[0]["id"])
                save(parse(page)[0])
                # A short page is the top of the timeline: no need to ask again.
                if page.prev_min_id is None or len(page.statuses) < TIMELINE_LIMIT:
                    break
                min_id = page.prev_min_id
            if not _backfill(state):
                return
        # Backfill: newest first with max_id, down to backfill_start().
        max_id = _backfill(state)
        while budget_left():
            page = fetch(f"max_id={max_id}" if max_id else "newest", max_id=max_id)
            if state.newest is None:
                if not page.statuses:
                    return  # nothing tagged yet: the next pass starts from the top again
                state.newest = str(page.statuses[0]["id"])
            posts, reached_start = parse(page)
            done = reached_start or not page.statuses or page.next_max_id is None
            state.pending = [] if done else [{"max_id": page.next_max_id}]
            save(posts)
            if done:
                return
            max_id = _backfill(state)

    # -- refresh (tagwatch.collectors.mastodon.refresh) ------------------------------------------

    def refresh(self) -> None:
        """Re-read recent posts' counts, edits and deletions on their origin instance."""
        Refresh(self).run()

    def edited_version(self, status: dict[str, Any], origin: str, row: Any) -> Post | None:
        """The new version of a post its author edited since it was stored, else None.

        Mastodon lets authors edit (`edited_at` changes); the wall, the themes
        and the digest should read what people now see, not the first draft.
        """
        edited_at = status.get("edited_at")
        try:
            stored = json.loads(row["raw"]) if row["raw"] else {}
        except ValueError:
            stored = {}
        if not edited_at or (isinstance(stored, dict) and stored.get("edited_at") == edited_at):
            return None
        # The author is local to the origin: their stored handle carries its domain.
        handle = row["author_handle"] or ""
        domain = handle.partition("@")[2] or _host(origin)
        try:
            posts = parse_status(status, instance=origin, domain=domain, collected_at=self.now())
        except MalformedResponse:
            return None  # counts are still refreshed; the edit waits for a readable answer
        post = posts[0] if posts else None
        return post if post is not None and post.platform_id == row["platform_id"] else None


def closed_timeline_message(instance: str, hint: str) -> str:
    """What status and the run log say when an instance hides its hashtag timelines.

    Mastodon 4.5 lets an instance close hashtag timelines to logged-out readers
    (it then answers 401, or an empty list); a pass that read nothing there
    must say why instead of reporting zero posts.
    """
    return (
        f"hashtag timeline closed to logged-out readers on {_host(instance)}: "
        f"add an access token ({hint})"
    )


def legacy_cursor(value: str) -> Cursor | None:
    """Mastodon's cursor before #19: {"newest": id, "backfill": id or null}, or a bare id.

    `newest` is the newest local id stored; `backfill`, while set, is where the
    first run's walk back to the backfill start goes on (now a pending ``max_id``).
    """
    data = json_object(value)
    if data is None:
        try:
            other = json.loads(value)
        except ValueError:
            return Cursor(newest=value)
        return Cursor(newest=None if other is None else str(other))
    newest, backfill = data.get("newest"), data.get("backfill")
    return Cursor(
        newest=None if newest is None else str(newest),
        pending=[{"max_id": str(backfill)}] if backfill else [],
    )


def _backfill(state: Cursor) -> str | None:
    """Where the first run's walk back to the backfill start goes on, while it is unfinished."""
    return state.pending[0].get("max_id") if state.pending else None


def _failure_kind(exc: PlatformError) -> str:
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, AuthError):
        return "auth"
    if isinstance(exc, MalformedResponse):
        return "garbage"
    return "unreachable" if exc.status is None else "error"


def _request_base(exc: httpx.RequestError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:
        return "the instance"
    return f"{url.scheme}://{url.netloc.decode()}"
