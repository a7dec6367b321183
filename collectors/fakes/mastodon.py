"""Loopback Mastodon instances that answer like the real REST API, for tests and the demo.

Each `FakeMastodon` is a real HTTP server on 127.0.0.1 (a free port) serving
the parts of the API tagwatch reads, with the shapes, headers and paging of
Mastodon 4.x as recorded in tests/fixtures/recorded/mastodon:

- ``GET /api/v1/timelines/tag/:hashtag`` with ``limit`` (default 20, max 40),
  ``max_id``, ``since_id`` and ``min_id``, newest first, and a ``Link`` header
  (``rel="next"`` = ``max_id`` of the last status, ``rel="prev"`` = ``min_id``
  of the first; none on an empty page),
- ``GET /api/v1/statuses/:id`` (404 ``{"error": "Record not found"}``),
- ``GET /api/v1/statuses?id[]=…`` (Mastodon 4.3+, see `_statuses`): the statuses
  found, unknown or deleted ids left out; older versions answer 404 there,
- ``GET /api/v2/instance`` with this fake's `version`, and from 4.5 on
  ``configuration.timelines_access`` (see `instance_info`),
- ``X-RateLimit-Limit/Remaining/Reset`` on every answer (reset as an ISO
  timestamp), 429 ``{"error": "Too many requests"}`` when the budget runs out,
- ``Authorization: Bearer`` tokens (401 ``{"error": "The access token is invalid"}``).

Federation is modelled the way Mastodon does it: a status written on one
instance (`toot`) can be delivered to others (`federate`), where it gets a new
local ``id`` but keeps its ActivityPub ``uri`` and origin ``url``, and its
author's ``acct`` gains the origin's domain. Faults (`inject`, `go_down`) let a
test make one instance dead, slow, rate limited or talk garbage; every request
is logged (`requests`, `count`) so tests can assert on what was asked.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from tagwatch.collectors.fakes.faults import Fault, Faults, encoded
from tagwatch.collectors.fakes.loopback import LoopbackServer
from tagwatch.collectors.fakes.mastodon_data import (
    LOCAL_DOMAINS,
    MastodonStatuses,
    publish_simulated,
    snowflake_id,
)
from tagwatch.records import utcnow

if TYPE_CHECKING:
    pass

__all__ = ["FakeMastodon", "Fault", "LoggedRequest", "snowflake_id", "publish_simulated"]

MAX_LIMIT = 40
DEFAULT_LIMIT = 20
RATE_LIMIT = 300
RATE_WINDOW = timedelta(minutes=5)
# Keys Mastodon carries from a request into its Link header URLs (pagination_params).
_CARRIED_PARAMS = ("limit", "local", "remote", "only_media")


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    # Every value of a repeated key (``id[]=1&id[]=2``); `query` keeps the last one.
    multi: dict[str, list[str]] = field(default_factory=dict)


class FakeMastodon(MastodonStatuses, LoopbackServer):
    """One fake instance; usable as a context manager (`with FakeMastodon() as inst:`)."""

    def __init__(
        self,
        *,
        title: str = "Mastodon",
        tokens: Iterable[str] = (),
        require_auth: bool = False,
        links: bool = True,
        now: Callable[[], datetime] = utcnow,
        local_domain: str | None = None,
        version: str = "4.6.4",
        hashtag_feeds: str | None = None,
    ):
        self.title = title
        # `version` as /api/v2/instance gives it ("4.2.10", "4.5.0"): it decides whether
        # the batch status lookup exists (4.3.0+) and whether the instance announces
        # its timelines_access (4.5.0+).
        self.version = version
        # Mastodon 4.5's hashtag_feeds setting, for local and remote posts alike: "public",
        # "authenticated" or "disabled" (default: "authenticated" when require_auth).
        self.hashtag_feeds = hashtag_feeds or ("authenticated" if require_auth else "public")
        # Mastodon's LOCAL_DOMAIN: the domain in accounts' full acct (user@domain). It
        # can differ from the web host; by default it is the host (127.0.0.1:port).
        self.local_domain = local_domain
        self.tokens = set(tokens)
        self.require_auth = require_auth
        self.links = links  # False: like a server that speaks the API without Link headers
        self.now = now
        self.statuses: dict[int, dict[str, Any]] = {}
        # Uris the batch lookup leaves out although they exist, as a real instance does
        # for a status it will not show for a moment; the single lookup still serves them.
        self.batch_glitch: set[str] = set()
        self.requests: list[LoggedRequest] = []
        self.faults = Faults()
        self.rate_limit = RATE_LIMIT  # requests per 5-minute window, as Mastodon's default
        self.rate_remaining = RATE_LIMIT
        self._rate_window: datetime | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._accounts: dict[str, int] = {}
        self._by_uri: dict[str, int] = {}
        # Known once started (the port is free only then); kept after a stop so a
        # test can still name the instance it took down.
        self.base_url = ""
        self.domain = ""
        # Announced as configuration.urls.streaming (see fakes.mastodon_streaming).
        self.streaming_url = ""

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Self:
        self._stopping.clear()
        super().start()
        self.base_url = self.url
        host = urlsplit(self.base_url).netloc
        self.domain = self.local_domain or host
        LOCAL_DOMAINS[host] = self.domain
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes "slow" answers so shutdown is quick
        super().stop()

    def go_down(self) -> None:
        """Stop answering: the port refuses connections, as a dead instance does."""
        self.stop()

    # -- faults and the request log --------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Queue `fault` (`tagwatch.collectors.fakes.faults`); Mastodon renders it below."""
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def count(self, path_prefix: str = "/") -> int:
        return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    # -- the API ----------------------------------------------------------------

    def rate_headers(self) -> dict[str, str]:
        """The window's headers; a new 5-minute window (on the fake's clock) refills it."""
        now = self.now()
        window_end = datetime.fromtimestamp(
            (int(now.timestamp()) // int(RATE_WINDOW.total_seconds()) + 1)
            * int(RATE_WINDOW.total_seconds()),
            tz=UTC,
        )
        if window_end != self._rate_window:
            self._rate_window = window_end
            self.rate_remaining = self.rate_limit
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_remaining, 0)),
            "X-RateLimit-Reset": window_end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        multi = parse_qs(url.query)
        query = {k: v[-1] for k, v in multi.items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        status, extra, body, delay = self.answer(method, url.path, query, headers, multi)
        if delay and self._stopping.wait(delay):
            return
        try:
            handler.send_response(status)
            for key, value in {**_JSON_TYPE, **extra}.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer

    def answer(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        multi: dict[str, list[str]] | None = None,
    ) -> tuple[int, dict[str, str], bytes, float]:
        """Answer one request: (status, headers, body, delay in seconds)."""
        multi = multi or {k: [v] for k, v in query.items()}
        self.requests.append(LoggedRequest(method, path, query, headers, multi))
        fault = self.faults.take(path)
        rate = self.rate_headers()
        delay = 0.0
        if fault is not None:
            if fault.kind == "slow":
                delay = fault.delay
            elif fault.kind == "rate_limit":
                wait = timedelta(seconds=fault.reset_in if fault.reset_in is not None else 300)
                reset = fault.reset_at or self.now() + wait
                rate["X-RateLimit-Remaining"] = "0"
                rate["X-RateLimit-Reset"] = reset.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                return 429, rate, _json({"error": "Too many requests"}), 0.0
            elif fault.kind == "error":
                sent = encoded(fault.body, {"error": "Internal server error"})
                return fault.status, {**rate, **fault.headers}, sent, 0.0
            elif fault.kind == "garbage":
                html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                return 200, {**rate, "Content-Type": "text/html"}, html, 0.0
        if self.rate_remaining <= 0:  # the window is used up: 429 until it resets
            return 429, rate, _json({"error": "Too many requests"}), 0.0
        self.rate_remaining -= 1
        rate["X-RateLimit-Remaining"] = str(self.rate_remaining)
        if method != "GET":
            return 404, rate, _json({"error": "Record not found"}), delay
        auth = headers.get("authorization", "")
        if auth:
            if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                return 401, rate, _json({"error": "The access token is invalid"}), delay
        parts = [p for p in path.split("/") if p]
        if parts[:4] == ["api", "v1", "timelines", "tag"] and len(parts) == 5:
            if (self.require_auth or self.hashtag_feeds != "public") and not auth:
                # Api::V1::Timelines::TagController: require_auth! when the setting (before
                # 4.5: timeline_preview off) closes the timeline to logged-out readers.
                body = {"error": "This method requires an authenticated user"}
                return 401, rate, _json(body), delay
            if self.hashtag_feeds == "disabled":
                return 200, rate, _json([]), delay  # 4.5 "disabled": an empty list for everyone
            return self._tag_timeline(parts[4], query, rate, delay)
        if parts == ["api", "v1", "statuses"]:
            return self._statuses(multi.get("id[]", []), rate, delay)
        if parts[:3] == ["api", "v1", "statuses"] and len(parts) == 4:
            status = self.statuses.get(int(parts[3])) if parts[3].isdigit() else None
            if status is None:
                return 404, rate, _json({"error": "Record not found"}), delay
            return 200, rate, _json(status), delay
        if parts == ["api", "v2", "instance"]:
            return 200, rate, _json(self.instance_info()), delay
        return 404, rate, _json({"error": "Record not found"}), delay

    def _tag_timeline(
        self, tag: str, query: dict[str, str], rate: dict[str, str], delay: float
    ) -> tuple[int, dict[str, str], bytes, float]:
        try:
            limit = min(int(query.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        except ValueError:
            limit = DEFAULT_LIMIT
        tag = tag.lower()
        with self._lock:
            ids = sorted(
                (
                    i
                    for i, s in self.statuses.items()
                    if s["reblog"] is None and any(t["name"] == tag for t in s["tags"])
                ),
                reverse=True,
            )
        max_id, since_id, min_id = (_int(query.get(k)) for k in ("max_id", "since_id", "min_id"))
        if max_id is not None:
            ids = [i for i in ids if i < max_id]
        if since_id is not None:
            ids = [i for i in ids if i > since_id]
        if min_id is not None:
            # The page right above min_id (oldest first), served newest first.
            ids = sorted(i for i in ids if i > min_id)[:limit][::-1]
        page = ids[:limit]
        headers = dict(rate)
        if page and self.links:
            carried = {k: query[k] for k in _CARRIED_PARAMS if k in query}
            base = f"{self.base_url}/api/v1/timelines/tag/{tag}"
            nxt = urlencode(sorted({**carried, "max_id": str(page[-1])}.items()))
            prev = urlencode(sorted({**carried, "min_id": str(page[0])}.items()))
            headers["Link"] = f'<{base}?{nxt}>; rel="next", <{base}?{prev}>; rel="prev"'
        with self._lock:
            body = [self.statuses[i] for i in page]
            data = _json(body)
        return 200, headers, data, delay

    def _statuses(
        self, ids: list[str], rate: dict[str, str], delay: float
    ) -> tuple[int, dict[str, str], bytes, float]:
        """``GET /api/v1/statuses?id[]=…``: several statuses in one request.

        Sources: docs.joinmastodon.org/methods/statuses/#index ("View multiple
        statuses", ``id[]`` array, added in 4.3.0; statuses that do not exist or
        cannot be seen are left out of the array, no error); Mastodon.py
        (halcy/Mastodon.py, ``Mastodon.statuses``: ``@api_version("4.3.0")``,
        ``GET /api/v1/statuses`` with ``{"id[]": ids}``). At most 20 ids
        (DEFAULT_STATUSES_LIMIT, as the issue and the docs give it); more is a
        422 here. Before 4.3 the route does not exist: 404, as for any unknown path.
        """
        if _version(self.version) < (4, 3, 0):
            return 404, rate, _json({"error": "Record not found"}), delay
        if len(ids) > 20:
            return 422, rate, _json({"error": "Too many ids requested (max 20)"}), delay
        with self._lock:
            found = [
                self.statuses[int(i)]
                for i in dict.fromkeys(ids)
                if i.isdigit()
                and int(i) in self.statuses
                and self.statuses[int(i)]["uri"] not in self.batch_glitch
            ]
            return 200, rate, _json(found), delay

    def instance_info(self) -> dict[str, Any]:
        """The /api/v2/instance body recorded from Mastodon 4.6.4, for this domain and version.

        ``configuration.timelines_access`` (live_feeds / hashtag_feeds /
        trending_link_feeds → local / remote → public / authenticated /
        disabled) was added in Mastodon 4.5 (the recorded 4.6.4 body has it;
        Mastodon.py 2.x reads ``hashtag_feeds`` from it): an older version
        leaves it out, and closes a timeline only by answering 401.
        """
        template = _fixture_instance()
        text = json.dumps(template).replace("http://localhost:3000", self.base_url)
        info = json.loads(text.replace("localhost:3000", self.domain))
        info["title"] = self.title
        info["version"] = self.version
        access = "authenticated" if self.require_auth else "public"
        tags = self.hashtag_feeds
        configuration = info.setdefault("configuration", {})
        configuration["timelines_access"] = {
            "live_feeds": {"local": access, "remote": access},
            "hashtag_feeds": {"local": tags, "remote": tags},
            "trending_link_feeds": {"local": access, "remote": access},
        }
        if _version(self.version) < (4, 5, 0):
            del configuration["timelines_access"]
        if self.streaming_url:
            info["configuration"].setdefault("urls", {})["streaming"] = self.streaming_url
        return info


def _version(text: str) -> tuple[int, int, int]:
    """ "4.5.0", "4.3.0-beta.1", "4.2.10+glitch" → (major, minor, patch)."""
    numbers = [int(n) for n in re.findall(r"\d+", text.split("-")[0].split("+")[0])[:3]]
    return (*numbers, 0, 0, 0)[:3]  # type: ignore[return-value]


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


_JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}
_INSTANCE_CACHE: dict[str, Any] = {}


def _fixture_instance() -> dict[str, Any]:
    if not _INSTANCE_CACHE:
        path = Path(__file__).with_name("mastodon_instance_v2.json")
        _INSTANCE_CACHE.update(json.loads(path.read_text(encoding="utf-8")))
    return copy.deepcopy(_INSTANCE_CACHE)
