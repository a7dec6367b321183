"""X (Twitter) collector: recent search per hashtag through tweepy, within a paid budget.

Reading X costs money per post, so every request first asks the budget guard
(`tagwatch.collectors.x_budget`) whether a page still fits, and every answer is entered
in the ledger before it is parsed. Parsing is a pure function of one v2
response page (`data` + `includes`) into `Post`s (`parse_page`); the network
code (`XCollector`) is separate and talks to X through the real tweepy client,
whose hard-coded https://api.twitter.com is redirected to `x.api_base_url` by a
transport adapter mounted on the client's requests session.

Cursor per query: JSON {"newest_id", "gaps"}. `newest_id` is the newest post
read (the next pass asks for `since_id` = it); `gaps` are id ranges still to
read because a pass stopped part way (budget, page limit, rate limit). The
cursor is saved with each page, so a crash loses nothing and re-reads little.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from tagwatch.collectors.base import Collector, normalizer
from tagwatch.collectors.x_budget import Prices, Reads, budget_state, record_resources, worst_case
from tagwatch.errors import AuthError, MalformedResponse, PlatformError, RateLimited
from tagwatch.records import Author, Post, parse_iso
from tagwatch.settings import Config

__all__ = [
    "XCollector",
    "parse_page",
    "parse_tweet",
    "make_client",
    "lookup_errors",
    "page_resources",
    "unescape_text",
    "TWEET_FIELDS",
    "USER_FIELDS",
    "EXPANSIONS",
]

log = logging.getLogger("tagwatch.collect.x")

TWITTER_HOST = "https://api.twitter.com"
# Only what tagwatch uses, because X bills every object a page returns (see
# tagwatch.collectors.x_budget). The authors (`author_id`: a user each) name the posts and
# carry their followers. Referenced posts are not expanded: the `referenced_tweets`
# field already gives what a post replies to, quotes or reposts, and a tagged
# original inside the period is found by the search itself; expanding them would
# bill up to two more posts per post. Media are not expanded either: the
# `attachments` field carries their keys, which is all `media_count` needs.
EXPANSIONS = ["author_id"]
TWEET_FIELDS = [
    "created_at",
    "lang",
    "public_metrics",
    "entities",
    "referenced_tweets",
    "attachments",
    "possibly_sensitive",
    "author_id",
    "note_tweet",  # the whole text of posts longer than 280 characters
]
USER_FIELDS = ["username", "name", "public_metrics"]
PAGE_SIZE = 100  # the most recent search returns in one page
MIN_PAGE = 10  # and the least it accepts as max_results
RECENT_WINDOW = timedelta(days=7) - timedelta(minutes=5)  # margin for clock skew
GONE = {
    "https://api.twitter.com/2/problems/resource-not-found": "deleted",
    "https://api.twitter.com/2/problems/not-authorized-for-resource": "not authorized",
}


# -- parsing: pure functions of a v2 payload ------------------------------------

# X sends a post's text with exactly three characters HTML-escaped: & < > become
# &amp; &lt; &gt; (nothing else: a typed "&quot;" or "&#39;" arrives as typed).
# Seen in the recorded page tests/fixtures/recorded/twitter/
# search_recent_tweets_hashtag_brexit_page1.body.json ("Debt &amp; owned"), and
# documented by client libraries that had to undo it (twitter-text-js PR #75:
# "tweets coming from twitter already have & < and > escaped"; tweepy #451,
# twitter-to-sqlite #21). Entity start/end indices count the *escaped* text (in
# that page "And @AngelaRayner &amp; #NicolaSturgeon" has the tag at 24; Twitter4J
# #349 hit the same with display_text_range), so tagwatch never slices text by
# them: tags, mentions and links are taken from the entities' values.
_ESCAPED = re.compile(r"&(amp|lt|gt);")
_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}


def unescape_text(text: str) -> str:
    """X's escaped text → the text its author wrote, in one pass.

    One substitution over the three entities X makes, so "&amp;lt;" (an author
    who typed "&lt;") becomes "&lt;" and stops there; sequential replaces or
    `html.unescape` would decode it twice, or decode entities X never made.
    """
    return _ESCAPED.sub(lambda m: _UNESCAPED[m.group(1)], text)


def _author(user: dict[str, Any] | None, author_id: str) -> Author:
    if user is None:
        # The expansion can miss a user (suspended meanwhile); keep the post, name by id.
        return Author(platform_id=author_id, handle=author_id)
    metrics = user.get("public_metrics") or {}
    return Author(
        platform_id=str(user["id"]),
        handle=user.get("username") or author_id,
        display_name=user.get("name") or "",
        followers=metrics.get("followers_count"),
    )


@normalizer("X")
def parse_tweet(
    tweet: dict[str, Any],
    users: dict[str, dict[str, Any]],
    *,
    collected_at: datetime,
    source: str = "x",
) -> Post:
    """One v2 tweet (with the page's users by id) → `Post`.

    A retweet becomes a relation (`repost_of`) with no text of its own: its
    text is only a truncated copy ("RT @a: ...") of the original. Quotes keep
    their text and point at the quoted post (`quote_of`).
    """
    try:
        tweet_id = str(tweet["id"])
        created_at = parse_iso(tweet["created_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(
            f"X returned a post without a usable id or created_at ({exc!r}); "
            "is x.api_base_url an X API v2 server?"
        ) from exc
    author_id = str(tweet.get("author_id") or "")
    user = users.get(author_id)
    author = _author(user, author_id)
    refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or []}
    text = unescape_text(str(tweet.get("text") or ""))
    entities = tweet.get("entities") or {}
    note = tweet.get("note_tweet")
    if isinstance(note, dict) and isinstance(note.get("text"), str) and note["text"]:
        # A long post: `text` is only its first 280 characters; the note is the whole
        # post, with entities (tags past the cut included) of its own.
        text = unescape_text(note["text"])  # escaped like `text`
        entities = note.get("entities") or entities
    metrics = tweet.get("public_metrics") or {}
    links = [
        u.get("unwound_url") or u.get("expanded_url") or u.get("url")
        for u in entities.get("urls") or []
        if not u.get("media_key")  # pic.x.com links stand for attached media, not a link
    ]
    retweet_of = refs.get("retweeted")
    lang = tweet.get("lang")
    handle = user.get("username") if user else None
    url = (
        f"https://x.com/{handle}/status/{tweet_id}"
        if handle
        else f"https://x.com/i/status/{tweet_id}"
    )
    raw = dict(tweet)
    if user is not None:
        raw["author"] = user
    return Post(
        platform="x",
        platform_id=tweet_id,
        url=url,
        author=author,
        text="" if retweet_of else text,
        created_at=created_at,
        collected_at=collected_at,
        lang=None if lang in (None, "und", "zxx", "qme", "qht") else lang,
        hashtags=tuple(h.get("tag", "") for h in entities.get("hashtags") or []),
        mentions=tuple(m.get("username", "") for m in entities.get("mentions") or []),
        links=tuple(u for u in links if u),
        reply_to=refs.get("replied_to"),
        quote_of=refs.get("quoted"),
        repost_of=retweet_of,
        likes=int(metrics.get("like_count") or 0),
        reposts=int(metrics.get("retweet_count") or 0),
        replies=int(metrics.get("reply_count") or 0),
        quotes=int(metrics.get("quote_count") or 0),
        views=metrics.get("impression_count"),
        media_count=len((tweet.get("attachments") or {}).get("media_keys") or []),
        sensitive=bool(tweet.get("possibly_sensitive")),
        source=source,
        raw=raw,
    )


@normalizer("X")
def parse_page(
    page: dict[str, Any],
    *,
    collected_at: datetime,
    tags: Iterable[str] = (),
    source: str = "x",
) -> list[Post]:
    """One v2 response page → `Post`s, joining `includes.users` to each post.

    Originals that arrive only in `includes.tweets` (the post a retweet or quote
    points at) are kept too when they carry one of `tags`: they are part of the
    conversation, and already paid for.
    """
    if not isinstance(page, dict):
        raise MalformedResponse(f"X returned {type(page).__name__} where a JSON object belongs.")
    includes = page.get("includes") or {}
    users = {str(u["id"]): u for u in includes.get("users") or [] if "id" in u}
    posts = [
        parse_tweet(t, users, collected_at=collected_at, source=source)
        for t in page.get("data") or []
    ]
    wanted = {t.casefold() for t in tags}
    seen = {p.platform_id for p in posts}
    for tweet in includes.get("tweets") or []:
        if str(tweet.get("id")) in seen or not wanted:
            continue
        tweet_tags = {
            h.get("tag", "").casefold() for h in (tweet.get("entities") or {}).get("hashtags") or []
        }
        if tweet_tags & wanted and "created_at" in tweet:
            posts.append(parse_tweet(tweet, users, collected_at=collected_at, source=source))
    return posts


@normalizer("X")
def page_resources(page: dict[str, Any]) -> dict[str, list[str]]:
    """Every resource a response returned, by kind: what X bills for.

    Posts in `data` and in `includes.tweets` are posts alike; authors and
    other users come in `includes.users`, media items in `includes.media`.
    """
    includes = page.get("includes") or {}

    def ids(items: Any, key: str) -> list[str]:
        out = [str(i.get(key)) for i in items or [] if isinstance(i, dict)]
        return [i for i in out if i and i != "None"]

    return {
        "post": ids(page.get("data"), "id") + ids(includes.get("tweets"), "id"),
        "user": ids(includes.get("users"), "id"),
        "media": ids(includes.get("media"), "media_key"),
    }


@normalizer("X")
def lookup_errors(page: dict[str, Any]) -> dict[str, str]:
    """Post ids a lookup could not return → why ("deleted" / "not authorized")."""
    out = {}
    for err in page.get("errors") or []:
        if err.get("parameter") != "ids" or err.get("type") not in GONE:
            continue
        post_id = str(err.get("resource_id") or err.get("value") or "")
        if post_id:
            out[post_id] = GONE[err["type"]]
    return out


# -- network --------------------------------------------------------------------


class _BaseURLAdapter(HTTPAdapter):
    """Sends tweepy's requests for https://api.twitter.com to `base_url`, with a timeout.

    tweepy builds every URL from a hard-coded host; mounting this adapter on the
    client's session for that prefix redirects them without forking tweepy.
    """

    def __init__(self, base_url: str, timeout: float, trust_env: bool = True):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.trust_env = trust_env

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        if self.base_url != TWITTER_HOST and url.startswith(TWITTER_HOST):
            request.url = self.base_url + url[len(TWITTER_HOST) :]
            # Proxies were chosen for api.twitter.com; choose again for the real target.
            kwargs["proxies"] = (
                requests.utils.get_environ_proxies(request.url) if self.trust_env else {}
            )
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def make_client(config: Config) -> tweepy.Client:
    """A tweepy client on the configured base URL; raises AuthError if the token is missing."""
    section = config.x
    token = config.secret(section.bearer_token_env)
    if not token:
        raise AuthError(
            f"No X bearer token: set the environment variable {section.bearer_token_env} "
            "(or name another one in x.bearer_token_env)."
        )
    # return_type=dict: the parser works on the raw v2 JSON, exactly as recorded.
    client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
    adapter = _BaseURLAdapter(
        section.api_base_url, config.collect.timeout_seconds, client.session.trust_env
    )
    client.session.mount(TWITTER_HOST, adapter)
    return client


def translate_tweepy_error(exc: Exception, token_env: str) -> PlatformError | None:
    """tweepy's and requests' exceptions → tagwatch's, with messages that say what to do."""
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, tweepy.TooManyRequests):
        reset = datetime.fromtimestamp(exc.reset_time, UTC) if exc.reset_time is not None else None
        when = f" until {reset:%H:%M:%S} UTC" if reset else ""
        return RateLimited(f"X rate limit reached{when} (429 Too Many Requests).", reset_at=reset)
    if isinstance(exc, tweepy.Unauthorized):
        return AuthError(
            f"X refused the bearer token in {token_env} (401 Unauthorized): it is wrong, revoked "
            "or expired. Generate a new one in the X developer console and export it again."
        )
    if isinstance(exc, tweepy.Forbidden):
        path = urlsplit(getattr(exc.response, "url", "") or "").path
        try:
            body = exc.response.json()
        except ValueError:
            body = {}
        said = body.get("detail") or "; ".join(exc.api_messages) or "Forbidden"
        tier = body.get("reason") == "client-not-enrolled" or 453 in exc.api_codes
        if not tier:
            return PlatformError(
                f"X refused {path} (403 Forbidden): {said}. Check the app's permissions "
                "in the X developer console.",
                status=403,
            )
        if path.endswith("/all"):
            what = "full-archive search"
            fix = "Set x.full_archive = false, or upgrade the X API access level."
        else:
            what = "search" if "/search/" in path or "/counts/" in path else path
            fix = (
                "Upgrade the X API access level of the app's project (the Free tier cannot search)."
            )
        return PlatformError(
            f"X refused {path} (403 Forbidden): this app's access level does not include "
            f"{what}. {fix} X said: {said}",
            status=403,
        )
    if isinstance(exc, tweepy.TwitterServerError):
        return PlatformError(
            f"X server error: {exc}", status=exc.response.status_code, retryable=True
        )
    if isinstance(exc, tweepy.BadRequest):
        return PlatformError(f"X rejected the request (400): {'; '.join(exc.api_messages) or exc}")
    if isinstance(exc, tweepy.HTTPException):
        return PlatformError(f"X answered {exc}", status=exc.response.status_code)
    if isinstance(exc, requests.JSONDecodeError):
        return MalformedResponse(f"X answered with something that is not JSON: {exc}")
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return PlatformError(f"Cannot reach X: {exc}", retryable=True)
    return None


@dataclass
class _Cursor:
    newest_id: str | None = None
    gaps: list[list[str | None]] = field(default_factory=list)  # [since_id, until_id]

    @classmethod
    def load(cls, value: str | None) -> _Cursor:
        if not value:
            return cls()
        try:
            data = json.loads(value)
            return cls(data.get("newest_id"), [list(g) for g in data.get("gaps", [])])
        except (ValueError, AttributeError, TypeError):
            return cls(newest_id=value if value.isdigit() else None)

    def dump(self) -> str:
        return json.dumps({"newest_id": self.newest_id, "gaps": self.gaps})


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
            self.collect_query(self.x.query.replace("{tag}", tag))
        self.refresh()

    def collect_query(self, query: str) -> None:
        """Read everything new for one query, then any gaps an earlier pass left."""
        cursor = _Cursor.load(self.get_cursor(query))
        work: list[list[str | None]] = [[cursor.newest_id, None], *cursor.gaps]
        cursor.gaps = []
        pages = 0
        for i, (since_id, until_id) in enumerate(work):
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
                    cursor.newest_id = _max_id(cursor.newest_id, max(ids, key=int))
                    floor = min(ids, key=int)
                cursor.gaps = ([[since_id, floor]] if next_token else []) + rest
                self.store_page(posts, query=query, cursor=cursor.dump())
                if next_token and pages >= self.collect_cfg.max_pages_per_pass:
                    log.info("x: %s: page limit reached, the rest waits for the next pass", query)
                    self.record.status = "partial"
                    return
            cursor.gaps = list(rest)

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
        params.update(expansions=EXPANSIONS, tweet_fields=TWEET_FIELDS, user_fields=USER_FIELDS)
        while True:
            state = budget_state(self.store.conn, self.config, self.now())
            # Before every request: the page it may return, at its worst (every post
            # bringing all the includes its expansions can), must fit what is left.
            # Stop when even the smallest page X accepts would not.
            state.check(worst_case(MIN_PAGE, EXPANSIONS))
            fits = state.affordable(worst_case(1, EXPANSIONS))
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
