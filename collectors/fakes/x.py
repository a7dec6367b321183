"""A loopback server that answers like the X API v2, for tests and the demo.

It speaks the real paths, parameters, JSON shapes, headers and status codes
(shapes taken from the recorded responses in shared/fixtures/real/twitter):
recent and full-archive search with `next_token` paging, `since_id`/`until_id`
and `start_time`/`end_time`; tweet lookup by ids with the real `errors` array
for deleted or protected posts; the counts endpoints; `x-rate-limit-*` headers
on every answer. It is data-driven (it holds tweets, users and media) and can
inject the faults a paid API really produces: 429 with `x-rate-limit-reset`,
401, the 403 bodies for an access level without search, 5xx and malformed JSON.
Every request is recorded so tests can assert how many were made.

    with FakeX(bearer_token="t") as fake:
        user = fake.add_user("1", "alice")
        fake.add_tweet(make_tweet("100", "hello #HRHN2016", user, created_at=...))
        client = tweepy.Client("t")  # pointed at fake.url
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "FakeX",
    "FakeRequest",
    "Fault",
    "make_tweet",
    "make_user",
    "snowflake",
    "TOO_MANY_REQUESTS",
]

# Real bodies, as X sends them (see shared/fixtures/real/README.md and the issues quoted there).
TOO_MANY_REQUESTS = {
    "title": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
    "detail": "Too Many Requests",
}
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
CLIENT_NOT_ENROLLED = {
    "client_id": "27512824",
    "detail": (
        "When authenticating requests to the Twitter API v2 endpoints, you must use keys and "
        "tokens from a Twitter developer App that is attached to a Project. You can create a "
        "project via the developer portal."
    ),
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
SUBSET_ACCESS_453 = {
    "errors": [
        {
            "message": (
                "You currently have access to a subset of Twitter API v2 endpoints and limited "
                "v1.1 endpoints (e.g. media post, oauth) only. If you need access to this "
                "endpoint, you may need a different access level. You can learn more here: "
                "https://developer.twitter.com/en/portal/product"
            ),
            "code": 453,
        }
    ]
}
SERVER_ERROR = {"errors": [{"message": "Internal error", "code": 131}]}

RATE_LIMITS = {  # per 15-minute window, app auth (documented limits at the time of writing)
    "/2/tweets/search/recent": 450,
    "/2/tweets/search/all": 300,
    "/2/tweets": 3500,
    "/2/tweets/counts/recent": 300,
    "/2/tweets/counts/all": 300,
}
SEARCH_PARAMS = {
    "query",
    "since_id",
    "until_id",
    "start_time",
    "end_time",
    "max_results",
    "next_token",
    "expansions",
    "tweet.fields",
    "user.fields",
    "media.fields",
    "place.fields",
    "poll.fields",
    "sort_order",
}
COUNT_PARAMS = {
    "query",
    "since_id",
    "until_id",
    "start_time",
    "end_time",
    "granularity",
    "next_token",
}
LOOKUP_PARAMS = {
    "ids",
    "expansions",
    "tweet.fields",
    "user.fields",
    "media.fields",
    "place.fields",
    "poll.fields",
}
_TAG = re.compile(r"(?<!\w)#(\w+)")
_MENTION = re.compile(r"(?<!\w)@(\w{1,15})")
_URL = re.compile(r"https?://\S+")


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def snowflake(created_at: datetime, seq: int = 0) -> str:
    """A real-looking X id for a post made at `created_at` (ids encode their time)."""
    ms = int(created_at.timestamp() * 1000) - 1288834974657
    return str((ms << 22) | (seq & 0x3FFFFF))


def make_user(
    id: str,
    username: str,
    name: str | None = None,
    *,
    followers: int = 0,
    verified: bool = False,
) -> dict[str, Any]:
    """A v2 user object with the fields tagwatch asks for."""
    return {
        "id": id,
        "username": username,
        "name": name if name is not None else username.title(),
        "verified": verified,
        "public_metrics": {
            "followers_count": followers,
            "following_count": 10,
            "tweet_count": 100,
            "listed_count": 0,
        },
    }


def make_tweet(
    id: str,
    text: str,
    author: dict[str, Any],
    *,
    created_at: datetime,
    lang: str = "en",
    likes: int = 0,
    retweets: int = 0,
    replies: int = 0,
    quotes: int = 0,
    impressions: int | None = None,
    urls: list[str] | None = None,
    referenced: list[tuple[str, str]] | None = None,
    media_keys: list[str] | None = None,
    sensitive: bool = False,
    withheld: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A v2 tweet object with entities computed from its text, as X computes them.

    `referenced` is a list of (type, id) with type retweeted / quoted / replied_to.
    """
    entities: dict[str, Any] = {}
    tags = [{"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in _TAG.finditer(text)]
    if tags:
        entities["hashtags"] = tags
    mentions = [
        {"start": m.start(), "end": m.end(), "username": m.group(1)}
        for m in _MENTION.finditer(text)
    ]
    if mentions:
        entities["mentions"] = mentions
    url_entities = []
    for i, m in enumerate(_URL.finditer(text)):
        expanded = (urls or [])[i] if urls and i < len(urls) else m.group(0)
        url_entities.append(
            {
                "start": m.start(),
                "end": m.end(),
                "url": m.group(0),
                "expanded_url": expanded,
                "display_url": expanded.split("://", 1)[-1][:25],
            }
        )
    if url_entities:
        entities["urls"] = url_entities
    metrics: dict[str, int] = {
        "retweet_count": retweets,
        "reply_count": replies,
        "like_count": likes,
        "quote_count": quotes,
    }
    if impressions is not None:
        metrics["impression_count"] = impressions
    tweet: dict[str, Any] = {
        "id": id,
        "text": text,
        "edit_history_tweet_ids": [id],
        "author_id": author["id"],
        "created_at": _ts(created_at),
        "lang": lang,
        "conversation_id": id,
        "possibly_sensitive": sensitive,
        "public_metrics": metrics,
    }
    if entities:
        tweet["entities"] = entities
    if referenced:
        tweet["referenced_tweets"] = [{"type": t, "id": i} for t, i in referenced]
        for t, i in referenced:
            if t == "replied_to":
                tweet["conversation_id"] = i
    if media_keys:
        tweet["attachments"] = {"media_keys": list(media_keys)}
    if withheld is not None:
        tweet["withheld"] = withheld
    return tweet


@dataclass
class FakeRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class Fault:
    """An injected failure for requests whose path starts with `path`."""

    path: str
    status: int
    body: Any = None  # dict -> JSON; str -> sent as is (malformed JSON)
    times: int = 1
    reset_after: float = 60.0  # 429: seconds from the fake's clock to x-rate-limit-reset


@dataclass
class _State:
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    protected: set[str] = field(default_factory=set)


class FakeX:
    """The fake X API server. Start it (or use it as a context manager), point a client at `url`."""

    def __init__(
        self,
        *,
        bearer_token: str = "fake-bearer-token",
        now: Callable[[], datetime] | None = None,
        page_size_cap: int = 100,
    ):
        self.bearer_token = bearer_token
        self.now = now or (lambda: datetime.now(UTC))
        self.page_size_cap = page_size_cap
        self.state = _State()
        self.requests: list[FakeRequest] = []
        self.faults: list[Fault] = []
        self.denied: dict[str, dict[str, Any]] = {}  # path prefix -> 403 body
        self.remaining: dict[str, int] = dict(RATE_LIMITS)
        self._tokens: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- data -----------------------------------------------------------------

    def add_user(self, id: str, username: str, name: str | None = None, **kw: Any) -> dict:
        user = make_user(id, username, name, **kw)
        self.state.users[id] = user
        return user

    def add_tweet(self, tweet: dict[str, Any]) -> dict[str, Any]:
        self.state.tweets[tweet["id"]] = tweet
        return tweet

    def add_media(self, media_key: str, type_: str = "photo") -> dict[str, Any]:
        item = {"media_key": media_key, "type": type_}
        self.state.media[media_key] = item
        return item

    def delete(self, tweet_id: str) -> None:
        """The author deleted it: gone from search, an error in lookups."""
        self.state.tweets.pop(tweet_id, None)
        self.state.deleted.add(tweet_id)

    def protect(self, tweet_id: str) -> None:
        """Its author went protected (or was suspended): lookups answer not-authorized."""
        self.state.protected.add(tweet_id)

    # -- faults ---------------------------------------------------------------

    def fail(
        self,
        path: str,
        status: int,
        *,
        body: Any = None,
        times: int = 1,
        reset_after: float = 60.0,
    ) -> None:
        """The next `times` requests under `path` answer `status` (with the real body for it)."""
        if body is None:
            body = {429: TOO_MANY_REQUESTS, 401: UNAUTHORIZED, 403: CLIENT_NOT_ENROLLED}.get(
                status, SERVER_ERROR
            )
        self.faults.append(Fault(path, status, body, times, reset_after))

    def deny(self, path: str, *, kind: str = "client-not-enrolled") -> None:
        """Every request under `path` is refused with 403, as for an access level without it."""
        self.denied[path] = SUBSET_ACCESS_453 if kind == "453" else CLIENT_NOT_ENROLLED

    # -- inspection -----------------------------------------------------------

    def count(self, path: str | None = None) -> int:
        """Requests made, to exactly `path` (or all of them)."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    def requests_to(self, path: str) -> list[FakeRequest]:
        return [r for r in self.requests if r.path == path]

    # -- server ---------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeX:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeX:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling -----------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path.rstrip("/") or "/"
        with self._lock:
            self.requests.append(FakeRequest("GET", path, params, dict(h.headers.items())))
            status, body, headers = self._answer(path, params, h.headers.get("Authorization", ""))
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json; charset=utf-8")
        h.send_header("content-length", str(len(payload)))
        h.send_header("api-version", "2.52")
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    def _rate_headers(self, path: str, reset: int | None = None) -> dict[str, str]:
        limit = RATE_LIMITS.get(path, 300)
        if reset is None:
            reset = int((self.now() + timedelta(minutes=15)).timestamp())
        return {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(self.remaining.get(path, limit), 0)),
            "x-rate-limit-reset": str(reset),
        }

    def _answer(self, path: str, params: dict[str, str], auth: str) -> tuple[int, Any, dict]:
        if auth != f"Bearer {self.bearer_token}":
            return 401, UNAUTHORIZED, {}
        for prefix, body in self.denied.items():
            if path.startswith(prefix):
                return 403, body, {}
        for fault in self.faults:
            if fault.times > 0 and path.startswith(fault.path):
                fault.times -= 1
                headers: dict[str, str] = {}
                if fault.status == 429:
                    reset = int((self.now() + timedelta(seconds=fault.reset_after)).timestamp())
                    self.remaining[path] = 0
                    headers = self._rate_headers(path, reset)
                return fault.status, fault.body, headers
        if path in RATE_LIMITS:
            self.remaining[path] = max(self.remaining.get(path, RATE_LIMITS[path]) - 1, 0)
        headers = self._rate_headers(path)
        if path in ("/2/tweets/search/recent", "/2/tweets/search/all"):
            return self._checked(path, params, SEARCH_PARAMS, self._search, headers)
        if path in ("/2/tweets/counts/recent", "/2/tweets/counts/all"):
            return self._checked(path, params, COUNT_PARAMS, self._counts, headers)
        if path == "/2/tweets":
            return self._checked(path, params, LOOKUP_PARAMS, self._lookup, headers)
        return 404, {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]}, {}

    def _checked(
        self,
        path: str,
        params: dict[str, str],
        allowed: set[str],
        fn: Callable[[str, dict[str, str]], Any],
        headers: dict[str, str],
    ) -> tuple[int, Any, dict]:
        unknown = sorted(set(params) - allowed)
        if unknown:
            return (
                400,
                _invalid(f"The query parameter [{unknown[0]}] is not one of ...", unknown[0]),
                {},
            )
        try:
            return 200, fn(path, params), headers
        except _BadRequest as exc:
            return 400, _invalid(str(exc), exc.parameter), {}

    # -- endpoints ------------------------------------------------------------

    def _matching(self, params: dict[str, str]) -> list[dict[str, Any]]:
        query = params.get("query", "")
        if not query:
            raise _BadRequest("The `query` query parameter can not be empty", "query")
        since = int(params["since_id"]) if params.get("since_id") else None
        until = int(params["until_id"]) if params.get("until_id") else None
        start = _parse_time(params["start_time"]) if params.get("start_time") else None
        end = _parse_time(params["end_time"]) if params.get("end_time") else None
        out = []
        for tweet in self.state.tweets.values():
            tid = int(tweet["id"])
            created = _parse_time(tweet["created_at"])
            if since is not None and tid <= since:
                continue
            if until is not None and tid >= until:
                continue
            if since is None and start is not None and created < start:
                continue
            if end is not None and created >= end:
                continue
            if _matches(query, tweet):
                out.append(tweet)
        out.sort(key=lambda t: int(t["id"]), reverse=True)
        return out

    def _search(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        cap = 500 if path.endswith("/all") else 100
        max_results = int(params.get("max_results", "10"))
        if not 10 <= max_results <= cap:
            raise _BadRequest(
                f"The `max_results` query parameter value [{max_results}] is not between 10 and "
                f"{cap}",
                "max_results",
            )
        max_results = min(max_results, self.page_size_cap)
        matches = self._matching(params)
        offset = 0
        if params.get("next_token"):
            if params["next_token"] not in self._tokens:
                raise _BadRequest("The `next_token` query parameter value is invalid", "next_token")
            offset = self._tokens[params["next_token"]]
        page = matches[offset : offset + max_results]
        body: dict[str, Any] = {}
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            body["data"] = [_select(t, params) for t in page]
            includes = self._includes(page, params)
            if includes:
                body["includes"] = includes
            meta["newest_id"] = page[0]["id"]
            meta["oldest_id"] = page[-1]["id"]
        if offset + max_results < len(matches):
            token = f"b26v89c19zqg8o3fo{len(self._tokens):06d}{offset + max_results:06d}"
            self._tokens[token] = offset + max_results
            meta["next_token"] = token
        body["meta"] = meta
        return body

    def _includes(self, tweets: list[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
        expansions = set(filter(None, params.get("expansions", "").split(",")))
        includes: dict[str, list[dict[str, Any]]] = {}
        user_ids: list[str] = []
        if "author_id" in expansions:
            user_ids += [t["author_id"] for t in tweets]
        if "referenced_tweets.id" in expansions:
            referenced = []
            for t in tweets:
                for ref in t.get("referenced_tweets", []):
                    if ref["id"] in self.state.tweets:
                        referenced.append(self.state.tweets[ref["id"]])
            referenced = list({t["id"]: t for t in referenced}.values())
            if referenced:
                includes["tweets"] = [_select(t, params) for t in referenced]
            if "referenced_tweets.id.author_id" in expansions or "author_id" in expansions:
                user_ids += [t["author_id"] for t in referenced]
        users = [self.state.users[u] for u in dict.fromkeys(user_ids) if u in self.state.users]
        if users:
            includes["users"] = [_select_user(u, params) for u in users]
        if "attachments.media_keys" in expansions:
            keys = [k for t in tweets for k in t.get("attachments", {}).get("media_keys", [])]
            media = [self.state.media[k] for k in dict.fromkeys(keys) if k in self.state.media]
            if media:
                includes["media"] = media
        return includes

    def _lookup(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        ids = [i for i in params.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            raise _BadRequest(
                f"The number of values in the `ids` query parameter list [{len(ids)}] is not "
                "between 1 and 100",
                "ids",
            )
        found, errors = [], []
        for i in ids:
            if i in self.state.protected and i in self.state.tweets:
                errors.append(
                    {
                        "value": i,
                        "detail": (
                            f"Sorry, you are not authorized to see the Tweet with ids: [{i}]."
                        ),
                        "title": "Authorization Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": i,
                        "type": "https://api.twitter.com/2/problems/not-authorized-for-resource",
                    }
                )
            elif i in self.state.tweets:
                found.append(self.state.tweets[i])
            else:
                errors.append(
                    {
                        "value": i,
                        "detail": f"Could not find tweet with ids: [{i}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": i,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                )
        body: dict[str, Any] = {}
        if found:
            body["data"] = [_select(t, params) for t in found]
            includes = self._includes(found, params)
            if includes:
                body["includes"] = includes
        if errors:
            body["errors"] = errors
        return body

    def _counts(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        granularity = params.get("granularity", "hour")
        step = {
            "minute": timedelta(minutes=1),
            "hour": timedelta(hours=1),
            "day": timedelta(days=1),
        }
        if granularity not in step:
            raise _BadRequest(
                f"The `granularity` query parameter value [{granularity}] is not one of "
                "[minute,hour,day]",
                "granularity",
            )
        now = self.now().astimezone(UTC)
        if path.endswith("/recent"):
            earliest = now - timedelta(days=7)
            start = _parse_time(params["start_time"]) if params.get("start_time") else earliest
            if start < earliest - timedelta(seconds=10):
                raise _BadRequest(
                    "Invalid 'start_time':'"
                    + params["start_time"]
                    + "'. 'start_time' must be on or after "
                    + _ts(earliest),
                    "start_time",
                )
        else:
            start = (
                _parse_time(params["start_time"])
                if params.get("start_time")
                else now - timedelta(days=30)
            )
        end = (
            _parse_time(params["end_time"])
            if params.get("end_time")
            else now - timedelta(seconds=10)
        )
        tweets = self._matching({**params, "start_time": _ts(start), "end_time": _ts(end)})
        buckets: list[dict[str, Any]] = []
        cursor = start
        if granularity == "day":
            first = cursor.replace(hour=0, minute=0, second=0, microsecond=0)
        elif granularity == "hour":
            first = cursor.replace(minute=0, second=0, microsecond=0)
        else:
            first = cursor.replace(second=0, microsecond=0)
        boundary = first + step[granularity]
        while cursor < end:
            bucket_end = min(boundary, end)
            n = sum(1 for t in tweets if cursor <= _parse_time(t["created_at"]) < bucket_end)
            buckets.append({"end": _ts(bucket_end), "start": _ts(cursor), "tweet_count": n})
            cursor, boundary = bucket_end, boundary + step[granularity]
        # Full-archive counts page through 31 buckets at a time, like the real endpoint.
        offset = self._tokens.get(params.get("next_token", ""), 0) if path.endswith("/all") else 0
        per_page = 31 if path.endswith("/all") else len(buckets)
        page = buckets[offset : offset + per_page]
        meta: dict[str, Any] = {"total_tweet_count": sum(b["tweet_count"] for b in page)}
        if offset + per_page < len(buckets):
            token = f"1jzu9lk96gu5npw{len(self._tokens):06d}{offset + per_page:06d}"
            self._tokens[token] = offset + per_page
            meta["next_token"] = token
        return {"data": page, "meta": meta}


class _BadRequest(Exception):
    def __init__(self, message: str, parameter: str):
        super().__init__(message)
        self.parameter = parameter


def _invalid(message: str, parameter: str) -> dict[str, Any]:
    """The real 400 shape: an `errors` list plus the problem title and type."""
    return {
        "errors": [{"parameters": {parameter: []}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def _matches(query: str, tweet: dict[str, Any]) -> bool:
    """The part of X's query language tagwatch uses: #tags, words, -is:retweet, OR."""
    tags = {h["tag"].casefold() for h in tweet.get("entities", {}).get("hashtags", [])}
    kinds = {r["type"] for r in tweet.get("referenced_tweets", [])}
    text = tweet.get("text", "").casefold()
    alternatives = re.split(r"\s+OR\s+", query.replace("(", " ").replace(")", " "))
    positives_ok = False
    negatives: list[str] = []
    for alt in alternatives:
        terms = alt.split()
        negatives += [t[1:] for t in terms if t.startswith("-")]
        wanted = [t for t in terms if not t.startswith("-")]
        if all(_term(t, tags, kinds, text) for t in wanted):
            positives_ok = True
    return positives_ok and not any(_term(t, tags, kinds, text) for t in negatives)


def _term(term: str, tags: set[str], kinds: set[str], text: str) -> bool:
    if term.startswith("#"):
        return term[1:].casefold() in tags
    if term == "is:retweet":
        return "retweeted" in kinds
    if term == "is:quote":
        return "quoted" in kinds
    if term == "is:reply":
        return "replied_to" in kinds
    return term.casefold() in text


_ALWAYS = ("id", "text", "edit_history_tweet_ids")


def _select(tweet: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """Only the fields asked for (plus the defaults), like the real API."""
    fields = set(filter(None, params.get("tweet.fields", "").split(",")))
    expansions = set(filter(None, params.get("expansions", "").split(",")))
    if "author_id" in expansions:
        fields.add("author_id")
    if "referenced_tweets.id" in expansions:
        fields.add("referenced_tweets")
    if "attachments.media_keys" in expansions:
        fields.add("attachments")
    fields.add("withheld")  # X always says when a post is withheld
    return {k: v for k, v in tweet.items() if k in _ALWAYS or k in fields}


def _select_user(user: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    fields = set(filter(None, params.get("user.fields", "").split(","))) | {
        "id",
        "name",
        "username",
    }
    return {k: v for k, v in user.items() if k in fields}
