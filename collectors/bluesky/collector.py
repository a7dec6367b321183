"""Bluesky: hashtag search through the AT Protocol, with the `atproto` client.

Three modules, kept apart so each can be tested on its own terms:

* `tagwatch.collectors.bluesky.parse.parse_post` is a pure function of one
  `app.bsky.feed.defs#postView` (the JSON the AppView returns) to a `Post`;
  facet byte offsets, self-labels and embeds never leave the Bluesky modules.
* `BlueskyCollector` does the network part: log in, search each hashtag,
  look up follower counts, refresh engagement; everything through
  `Collector.call`, so retries and rate-limit waits are the shared ones.
* `tagwatch.collectors.bluesky.client` keeps the session between passes
  (memory and a 0600 file, never the database) and reads the library's errors.

Paging. `searchPosts` with `sort=latest` pages from the newest post down, and
its cursor is an offset that shifts whenever new posts arrive, so it cannot be
resumed in a later pass. What is stored per hashtag instead is a *high-water
mark* (the cursor's `newest`): every post whose sortAt lies between the backfill start and
`hwm` is collected. A pass sweeps from the newest post down with
`since = hwm - overlap` and stops at the first page that reaches `hwm`, that
is, posts already stored; if that page also shows posts below the mark that
were not stored (indexed late, with an earlier sortAt), it reads on while
pages do. While a sweep is under way, the state after each committed page
also records the sweep's top and the oldest post reached (`pending`), so a pass
that ends early (rate limit, page cap, crash) is resumed with `until` next
time instead of leaving a hole. The state is saved with the page it covers,
in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from atproto_client import Client, models
from atproto_client.client.session import Session, SessionEvent
from atproto_client.exceptions import (
    BadRequestError,
    LoginRequiredError,
    ModelError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.utils import get_or_create
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from tagwatch.collectors.base import Collector
from tagwatch.collectors.bluesky.client import (
    SESSIONS,
    SessionExpired,
    SessionFile,
    chunks,
    first_line,
    xrpc_error,
)
from tagwatch.collectors.bluesky.parse import (
    atproto_datetime,
    lenient_datetime,
    parse_post,
)
from tagwatch.collectors.cursor import Bounds, Cursor, json_object
from tagwatch.errors import AuthError, MalformedResponse, PlatformError, RateLimited
from tagwatch.records import Post, iso
from tagwatch.settings import Config
from tagwatch.storage.db import Store

__all__ = ["BlueskyCollector", "APP_PASSWORD_URL", "legacy_cursor"]

log = logging.getLogger("tagwatch.collect.bluesky")
T = TypeVar("T")

APP_PASSWORD_URL = "https://bsky.app/settings/app-passwords"
NOT_FOUND_POST = "app.bsky.feed.defs#notFoundPost"
BATCH = 25  # getPosts and getProfiles take at most 25 at a time
PAGE_LIMIT = 100  # searchPosts' maximum
# A new sweep starts a little below the high-water mark: posts indexed late or
# with a slightly skewed clock are still found; known ones are just updated.
OVERLAP = timedelta(minutes=10)
_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthMissing"})


# -- the collector ----------------------------------------------------------------


class BlueskyCollector(Collector):
    """One pass over Bluesky: search each hashtag, then refresh recent engagement."""

    name = "bluesky"

    def __init__(self, config: Config, store: Store, **kwargs: Any):
        super().__init__(config, store, **kwargs)
        self.cfg = config.bluesky
        self.service = str(self.cfg.service).rstrip("/")
        self.handle_env = self.cfg.handle_env
        self.password_env = self.cfg.password_env
        self.client: Client | None = None
        self._handle = ""
        self._password = ""
        self._session_file = SessionFile(str(store.path))
        self._seen: set[str] = set()
        self._followers: dict[str, int | None] = {}

    # -- errors -------------------------------------------------------------------

    def secrets(self) -> Iterable[str]:
        session = SESSIONS.get((self.service, self._handle), "")
        return [self._password, *session.split(":::")[2:4]]

    def translate_error(self, exc: Exception) -> PlatformError | None:
        if isinstance(exc, PlatformError):
            return exc
        if isinstance(exc, RateLimitExceededError):
            reset = exc.reset_at
            when = f"; it resets at {reset:%H:%M:%S} UTC" if reset else ""
            return RateLimited(f"Bluesky rate limit reached{when}", reset_at=reset)
        if isinstance(exc, LoginRequiredError):
            return SessionExpired("Bluesky session missing")
        if (
            isinstance(exc, BadRequestError | UnauthorizedError)
            and xrpc_error(exc) in _TOKEN_ERRORS
        ):
            return SessionExpired(f"Bluesky session no longer accepted ({exc})")
        if isinstance(exc, UnauthorizedError):
            return AuthError(
                f"Bluesky refused the request ({exc}); check the account in ${self.handle_env}"
            )
        if isinstance(exc, NetworkError):  # timeouts, connection errors, 502
            return PlatformError(
                f"Bluesky unreachable: {exc or type(exc).__name__}", retryable=True
            )
        if isinstance(exc, RequestErrorBase) and exc.response is not None:
            status = exc.response.status_code
            return PlatformError(f"Bluesky answered {exc}", status=status, retryable=status >= 500)
        if isinstance(exc, ModelError):
            return MalformedResponse(f"Bluesky answer does not match the API: {first_line(exc)}")
        if isinstance(exc, AtProtocolError):
            return PlatformError(f"Bluesky client error: {first_line(exc)}")
        return None

    # -- session ------------------------------------------------------------------

    def _credentials(self) -> None:
        handle = (self.config.secret(self.handle_env) or "").strip().lstrip("@")
        password = self.config.secret(self.password_env) or ""
        missing = [
            env
            for env, value in ((self.handle_env, handle), (self.password_env, password))
            if not value
        ]
        if missing:
            raise AuthError(
                "Bluesky needs a login to search posts (the public API refuses searches "
                f"without one): set {' and '.join('$' + m for m in missing)}. Use your handle "
                f"(e.g. name.bsky.social) in ${self.handle_env} and an app password, not your "
                f"account password, in ${self.password_env}: create one at {APP_PASSWORD_URL} "
                "(Settings → Privacy and security → App passwords)."
            )
        self._handle, self._password = handle, password

    def _remember(self, event: SessionEvent, session: Session) -> None:
        encoded = session.encode()
        key = (self.service, self._handle)
        if SESSIONS.get(key) != encoded:
            SESSIONS[key] = encoded
            self._session_file.save(self.service, self._handle, encoded)

    def _login(self) -> None:
        self._credentials()
        timeout = float(self.collect_cfg.timeout_seconds)
        self.client = Client(base_url=self.service, request=Request(timeout=timeout))
        self.client.on_session_change(self._remember)
        key = (self.service, self._handle)
        saved = SESSIONS.get(key) or self._session_file.load(self.service, self._handle)
        if saved:
            try:  # no request: the session is checked by the first real call
                self.client.login(session_string=saved, fetch_bsky_profile=False)
                self.record.details["session"] = "reused"
                return
            except (ValueError, AtProtocolError):
                log.info("bluesky: saved session unusable, logging in again")
        self._create_session()

    def check_login(self) -> str:
        """Log in afresh (one createSession), as `tagwatch check` proves the app password.

        A saved session would prove nothing about the password, so none is reused;
        the new session is kept as a pass would keep it, saving the next pass a login.
        """
        self._credentials()
        timeout = float(self.collect_cfg.timeout_seconds)
        self.client = Client(base_url=self.service, request=Request(timeout=timeout))
        self.client.on_session_change(self._remember)
        self._create_session()
        return self._handle

    def _create_session(self) -> None:
        assert self.client is not None

        def login() -> None:
            assert self.client is not None
            try:
                self.client.login(self._handle, self._password, fetch_bsky_profile=False)
            except (UnauthorizedError, BadRequestError) as exc:
                error = xrpc_error(exc)
                if error == "AuthFactorTokenRequired":
                    hint = "the account asks for a 2FA code: use an app password instead"
                elif error in ("AccountTakedown", "AccountDeactivated"):
                    hint = f"the account is unavailable ({error})"
                else:
                    hint = f"check ${self.handle_env} and ${self.password_env}"
                raise AuthError(
                    f"Bluesky refused the login of {self._handle} at {self.service} ({exc}): "
                    f"{hint}. App passwords are made at {APP_PASSWORD_URL}."
                ) from exc

        SESSIONS.pop((self.service, self._handle), None)
        self.call("createSession", login)
        self.record.details["session"] = "created"

    def _reauth(self) -> None:
        """Refresh the session once; if the refresh token is dead too, log in again."""
        assert self.client is not None
        saved = SESSIONS.get((self.service, self._handle))
        if saved:
            old = Session.decode(saved)

            def refresh() -> None:
                assert self.client is not None
                answer = self.client.com.atproto.server.refresh_session(
                    headers={"Authorization": f"Bearer {old.refresh_jwt}"},
                    ignore_session_check=True,
                )
                fresh = Session(
                    answer.handle,
                    answer.did,
                    answer.access_jwt,
                    answer.refresh_jwt,
                    old.pds_endpoint,
                )
                self.client.login(session_string=fresh.encode(), fetch_bsky_profile=False)

            try:
                self.call("refreshSession", refresh)
                self.record.details["session"] = "refreshed"
                return
            except SessionExpired:
                log.info("bluesky: refresh token no longer accepted, logging in again")
        self._session_file.clear()
        self._create_session()

    def _request(self, what: str, fn: Callable[[], T]) -> T:
        """`call`, plus one re-login when the server says the session has expired."""
        try:
            return self.call(what, fn)
        except SessionExpired:
            self._reauth()
        try:
            return self.call(what, fn)
        except SessionExpired as exc:
            reason = exc.__cause__ or exc
            raise AuthError(
                f"Bluesky rejected the session again right after logging in ({reason}): "
                f"check that bluesky.service ({self.service}) is where the account lives."
            ) from exc

    def _query(self, nsid: str, params: Any, response_model: Any) -> dict[str, Any]:
        """One XRPC query; the raw JSON, checked against the lexicon before anything uses it."""

        def fn() -> dict[str, Any]:
            assert self.client is not None
            try:
                answer = self.client.invoke_query(nsid, params=params)
            except AtProtocolError:
                raise
            except ValueError as exc:  # the JSON parser, on a cut-off or garbled body
                raise MalformedResponse(
                    f"Bluesky {nsid} answered with invalid JSON ({first_line(exc, 80)})"
                ) from exc
            if not isinstance(answer.content, dict):
                raise MalformedResponse(f"Bluesky {nsid} answered without a JSON object")
            try:
                get_or_create(answer.content, response_model, strict=True)
            except (ModelError, ValueError) as exc:
                raise MalformedResponse(
                    f"Bluesky {nsid} answer does not match the API: {first_line(exc)}"
                ) from exc
            return answer.content

        return self._request(nsid, fn)

    # -- the pass -----------------------------------------------------------------

    def collect(self) -> None:
        self._seen.clear()
        self._followers.clear()
        self._login()
        try:
            for tag in self.tags:
                self._collect_tag(tag)
            self.refresh()
        finally:
            if self.client is not None:
                self.client.request.close()

    def _collect_tag(self, tag: str) -> None:
        state = self.read_cursor(tag, legacy_cursor)
        sweep = state.pending[0] if state.pending else {}
        stopped = lenient_datetime(sweep.get("until"))
        top = lenient_datetime(sweep.get("top"))
        if stopped is not None and top is not None:
            # Finish the sweep a previous pass left: posts below where it stopped
            # (`until` is exclusive; the boundary post comes again and is just updated).
            until = stopped + timedelta(milliseconds=1)
            state = self._sweep(tag, state, until=until, top=top)
            if state.pending:
                return  # still unfinished (page cap): newer posts wait for the next pass
        self._sweep(tag, state, until=None, top=None)

    def _sweep(
        self, tag: str, state: Cursor, *, until: datetime | None, top: datetime | None
    ) -> Cursor:
        """Page down from `until` (or the newest post) to the high-water mark; returns the state."""
        hwm = lenient_datetime(state.newest)
        since = hwm - OVERLAP if hwm else self.backfill_start()
        oldest: datetime | None = None
        cursor: str | None = None
        pages = 0
        while True:
            if pages >= self.collect_cfg.max_pages_per_pass:
                self.record.details["page_cap_reached"] = True
                if self.record.status == "ok":
                    self.record.status = "partial"
                return state
            params = models.AppBskyFeedSearchPosts.Params(
                q=f"#{tag}",
                tag=[tag],
                sort="latest",
                since=atproto_datetime(since),
                until=atproto_datetime(until) if until else None,
                cursor=cursor,
                limit=PAGE_LIMIT,
            )
            answer = self._query(
                "app.bsky.feed.searchPosts", params, models.AppBskyFeedSearchPosts.Response
            )
            pages += 1
            posts = [self._parse(view) for view in answer["posts"]]
            next_cursor = answer.get("cursor")
            if posts:
                times = [p.created_at for p in posts]
                top = max([top, *times] if top else times)
                oldest = min([oldest, *times] if oldest else times)
            reached = self._reached_known(posts, hwm, since)
            done = not posts or reached or not next_cursor
            if done:
                new_hwm = max(t for t in (hwm, top) if t is not None) if (hwm or top) else None
                state = Cursor(newest=iso(new_hwm) if new_hwm else None)
            else:
                # Not done: this page had posts, so both are set.
                sweep: Bounds = {
                    "top": iso(top) if top else None,
                    "until": iso(oldest) if oldest else None,
                }
                state = Cursor(newest=iso(hwm) if hwm else None, pending=[sweep])
            posts = self._with_followers(posts)
            self.store_page(posts, query=tag, cursor=state)
            self._seen.update(p.platform_id for p in posts)
            if done:
                return state
            cursor = next_cursor

    def _reached_known(self, posts: list[Post], hwm: datetime | None, since: datetime) -> bool:
        """Whether this page ends the sweep: it reaches the posts already stored.

        A page reaching the high-water mark normally does. But if its posts
        below the mark include some not stored yet (indexed late, with an
        earlier sortAt), more may follow: go on down through the overlap.
        """
        if not posts:
            return True
        if min(p.created_at for p in posts) <= since:
            return True
        below = [p.platform_id for p in posts if hwm is not None and p.created_at <= hwm]
        if not below:
            return False
        late = len(below) - len(self.store.known_ids(self.name, below))
        if late:
            self.record.details["late_posts"] = self.record.details.get("late_posts", 0) + late
        return not late

    def _parse(self, view: dict[str, Any]) -> Post:
        return parse_post(view, collected_at=self.now(), source=self.service)

    def _with_followers(self, posts: list[Post]) -> list[Post]:
        """Fill in follower counts, asking getProfiles only for authors not checked today."""
        dids = list(dict.fromkeys(p.author.platform_id for p in posts if p.author))
        local_now = self.now().astimezone(self.config.event.tz)
        day_start, _ = self.config.event.day_bounds(local_now.date())
        fresh = self.store.authors_checked_since(self.name, dids, day_start)
        wanted = [d for d in dids if d not in fresh and d not in self._followers]
        for batch in chunks(wanted, BATCH):
            answer = self._query(
                "app.bsky.actor.getProfiles",
                models.AppBskyActorGetProfiles.Params(actors=batch),
                models.AppBskyActorGetProfiles.Response,
            )
            counts = {p["did"]: p.get("followersCount") for p in answer["profiles"]}
            for did in batch:
                count = counts.get(did)
                self._followers[did] = count if isinstance(count, int) else None
        out = []
        for post in posts:
            author = post.author  # Bluesky always names the author
            count = self._followers.get(author.platform_id) if author else None
            if author and count is not None and author.platform_id not in fresh:
                post = replace(post, author=replace(author, followers=count))
            out.append(post)
        return out

    def _gone(self, uri: str) -> bool:
        """Whether a post that getPosts left out is really gone from Bluesky.

        getPosts silently leaves out whatever it does not show: a deleted post, but also
        one by a taken-down or deactivated account, or one the AppView has not caught up
        with. A purge is for good (text, links and media go), so only the thread lookup's
        answer counts: `app.bsky.feed.getPostThread` declares one error, `NotFound`
        (lexicon app/bsky/feed/getPostThread.json; an XRPC 400 with that error name), and
        may answer a `#notFoundPost` thread. A blocked post, or any other answer, is kept.
        """

        def fn() -> bool:
            assert self.client is not None
            params = models.AppBskyFeedGetPostThread.Params(uri=uri, depth=0, parent_height=0)
            try:
                answer = self.client.invoke_query("app.bsky.feed.getPostThread", params=params)
            except BadRequestError as exc:
                if xrpc_error(exc) == "NotFound":
                    return True
                raise
            except ValueError as exc:  # the JSON parser, on a cut-off or garbled body
                raise MalformedResponse(
                    f"Bluesky getPostThread answered with invalid JSON ({first_line(exc, 80)})"
                ) from exc
            content = answer.content if isinstance(answer.content, dict) else {}
            thread = content.get("thread")
            return isinstance(thread, dict) and thread.get("$type") == NOT_FOUND_POST

        return self._request("app.bsky.feed.getPostThread", fn)

    def refresh(self) -> None:
        """Recount likes/reposts/replies/quotes of recent posts; mark vanished ones deleted."""
        budget = int(self.collect_cfg.refresh_requests_per_pass)
        if budget <= 0:
            return
        since = self.now() - timedelta(days=float(self.collect_cfg.refresh_max_age_days))
        rows = self.store.posts_to_refresh(
            self.name, since=since, limit=budget * BATCH + len(self._seen)
        )
        uris = [r["platform_id"] for r in rows if r["platform_id"] not in self._seen]
        deleted = 0
        for batch in list(chunks(uris, BATCH))[:budget]:
            answer = self._query(
                "app.bsky.feed.getPosts",
                models.AppBskyFeedGetPosts.Params(uris=batch),
                models.AppBskyFeedGetPosts.Response,
            )
            posts = [self._parse(view) for view in answer["posts"]]
            self.store_page(posts)
            returned = {p.platform_id for p in posts}
            for uri in batch:
                if uri in returned or not self._gone(uri):
                    continue
                if self.store.mark_deleted(self.name, uri, at=self.now()):
                    deleted += 1
        if deleted:
            self.record.details["deleted"] = self.record.details.get("deleted", 0) + deleted


def legacy_cursor(value: str) -> Cursor | None:
    """Bluesky's cursor before #19: {"hwm": ISO time, "sweep": {"top", "until"}}."""
    data = json_object(value)
    if data is None:
        return None
    hwm, sweep = data.get("hwm"), data.get("sweep")
    pending: list[Bounds] = []
    if isinstance(sweep, dict):
        pending.append({k: v if isinstance(v, str) else None for k, v in sweep.items()})
    return Cursor(newest=hwm if isinstance(hwm, str) else None, pending=pending)
