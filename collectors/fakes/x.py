"""A loopback server that answers like the X API v2, for tests and the demo.

It speaks the real paths, parameters, JSON shapes, headers and status codes
(shapes taken from the recorded responses in tests/fixtures/recorded/twitter):
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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tagwatch.collectors.fakes.faults import Fault, Faults
from tagwatch.collectors.fakes.loopback import LoopbackServer
from tagwatch.collectors.fakes.x_data import (
    CLIENT_NOT_ENROLLED,
    SERVER_ERROR,
    SUBSET_ACCESS_453,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    XData,
    XState,
    invalid,
    make_tweet,
    make_user,
    matches,
    parse_time,
    select_media,
    select_tweet,
    select_user,
    snowflake,
    ts,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "FakeX",
    "FakeRequest",
    "Fault",
    "make_tweet",
    "make_user",
    "snowflake",
    "TOO_MANY_REQUESTS",
]

RATE_LIMITS = {  # per 15-minute window, app auth (documented limits at the time of writing)
    "/2/tweets/search/recent": 450,
    "/2/tweets/search/all": 300,
    "/2/tweets": 3500,
    "/2/tweets/counts/recent": 300,
    "/2/tweets/counts/all": 300,
}
FIELD_PARAMS = {
    "expansions",
    "tweet.fields",
    "user.fields",
    "media.fields",
    "place.fields",
    "poll.fields",
}
RANGE_PARAMS = {"query", "since_id", "until_id", "start_time", "end_time", "next_token"}
SEARCH_PARAMS = FIELD_PARAMS | RANGE_PARAMS | {"max_results", "sort_order"}
COUNT_PARAMS = RANGE_PARAMS | {"granularity"}
LOOKUP_PARAMS = FIELD_PARAMS | {"ids"}


@dataclass
class FakeRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


class FakeX(XData, LoopbackServer):
    """The fake X API server. Start it (or use it as a context manager), point a client at `url`."""

    def media_base(self) -> str:
        """Pictures addressed here once started (the loopback base serves `/media/`)."""
        return f"{self.url}/media" if self._server is not None else super().media_base()

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
        self.state = XState()
        self.requests: list[FakeRequest] = []
        self.faults = Faults()
        self.denied: dict[str, dict[str, Any]] = {}  # path prefix -> 403 body
        self.remaining: dict[str, int] = dict(RATE_LIMITS)
        self._tokens: dict[str, int] = {}
        self._sim_ids: dict[str, str] = {}  # simulation key -> tweet id
        self._sim_users: dict[str, dict[str, Any]] = {}  # simulation author key -> user
        self._lock = threading.Lock()

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
        kind = "rate_limit" if status == 429 else "error"
        self.faults.add(Fault(kind, path, status, body, reset_in=reset_after, times=times))

    def deny(self, path: str, *, kind: str = "client-not-enrolled") -> None:
        """Every request under `path` is refused with 403, as for an access level without it."""
        self.denied[path] = SUBSET_ACCESS_453 if kind == "453" else CLIENT_NOT_ENROLLED

    # -- inspection -----------------------------------------------------------

    def count(self, path: str | None = None) -> int:
        """Requests made, to exactly `path` (or all of them)."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    def requests_to(self, path: str) -> list[FakeRequest]:
        return [r for r in self.requests if r.path == path]

    # -- request handling -----------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path.rstrip("/") or "/"
        status: int
        body: Any
        headers: dict[str, str]
        with self._lock:
            self.requests.append(FakeRequest(method, path, params, dict(h.headers.items())))
            if method != "GET":
                status, body, headers = 405, {"title": "Method Not Allowed"}, {}
            else:
                auth = h.headers.get("Authorization", "")
                status, body, headers = self._answer(path, params, auth)
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
        fault = self.faults.take(path)
        if fault is not None:
            headers: dict[str, str] = {}
            if fault.kind == "rate_limit":
                wait = timedelta(seconds=fault.reset_in if fault.reset_in is not None else 60)
                reset = int((fault.reset_at or self.now() + wait).timestamp())
                self.remaining[path] = 0
                headers = self._rate_headers(path, reset)
            return fault.status, fault.body, {**headers, **fault.headers}
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
                invalid(f"The query parameter [{unknown[0]}] is not one of ...", unknown[0]),
                {},
            )
        try:
            return 200, fn(path, params), headers
        except _BadRequest as exc:
            return 400, invalid(str(exc), exc.parameter), {}

    # -- endpoints ------------------------------------------------------------

    def _matching(self, params: dict[str, str]) -> list[dict[str, Any]]:
        query = params.get("query", "")
        if not query:
            raise _BadRequest("The `query` query parameter can not be empty", "query")
        since = int(params["since_id"]) if params.get("since_id") else None
        until = int(params["until_id"]) if params.get("until_id") else None
        start = parse_time(params["start_time"]) if params.get("start_time") else None
        end = parse_time(params["end_time"]) if params.get("end_time") else None
        out = []
        for tweet in self.state.tweets.values():
            tid = int(tweet["id"])
            created = parse_time(tweet["created_at"])
            if since is not None and tid <= since:
                continue
            if until is not None and tid >= until:
                continue
            if since is None and start is not None and created < start:
                continue
            if end is not None and created >= end:
                continue
            if matches(query, tweet):
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
            body["data"] = [select_tweet(t, params) for t in page]
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
        """The `includes` for the expansions asked, and only those (docs.x.com,
        x-api/fundamentals/expansions): `author_id` the authors of the posts in
        `data`; `referenced_tweets.id` the posts they reference, whose authors
        come only with `referenced_tweets.id.author_id`; `attachments.media_keys`
        the media. Each object once per response, as in the recorded page.
        """
        expansions = set(filter(None, params.get("expansions", "").split(",")))
        includes: dict[str, list[dict[str, Any]]] = {}
        user_ids: list[str] = []
        if "author_id" in expansions:
            user_ids += [t["author_id"] for t in tweets]
        referenced: list[dict[str, Any]] = []
        if "referenced_tweets.id" in expansions or "referenced_tweets.id.author_id" in expansions:
            for t in tweets:
                for ref in t.get("referenced_tweets", []):
                    if ref["id"] in self.state.tweets:
                        referenced.append(self.state.tweets[ref["id"]])
            referenced = list({t["id"]: t for t in referenced}.values())
        if referenced and "referenced_tweets.id" in expansions:
            includes["tweets"] = [select_tweet(t, params) for t in referenced]
        if "referenced_tweets.id.author_id" in expansions:
            user_ids += [t["author_id"] for t in referenced]
        users = [self.state.users[u] for u in dict.fromkeys(user_ids) if u in self.state.users]
        if users:
            includes["users"] = [select_user(u, params) for u in users]
        if "attachments.media_keys" in expansions:
            keys = [k for t in tweets for k in t.get("attachments", {}).get("media_keys", [])]
            media = [
                select_media(self.state.media[k], params)
                for k in dict.fromkeys(keys)
                if k in self.state.media
            ]
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
            body["data"] = [select_tweet(t, params) for t in found]
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
            start = parse_time(params["start_time"]) if params.get("start_time") else earliest
            if start < earliest - timedelta(seconds=10):
                raise _BadRequest(
                    "Invalid 'start_time':'"
                    + params["start_time"]
                    + "'. 'start_time' must be on or after "
                    + ts(earliest),
                    "start_time",
                )
        else:
            start = (
                parse_time(params["start_time"])
                if params.get("start_time")
                else now - timedelta(days=30)
            )
        end = (
            parse_time(params["end_time"])
            if params.get("end_time")
            else now - timedelta(seconds=10)
        )
        tweets = self._matching({**params, "start_time": ts(start), "end_time": ts(end)})
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
            n = sum(1 for t in tweets if cursor <= parse_time(t["created_at"]) < bucket_end)
            buckets.append({"end": ts(bucket_end), "start": ts(cursor), "tweet_count": n})
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
