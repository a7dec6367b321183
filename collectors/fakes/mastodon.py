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
import html
import json
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

from tagwatch.collectors.fakes.faults import Fault, Faults, encoded
from tagwatch.collectors.fakes.loopback import LoopbackServer
from tagwatch.records import utcnow

if TYPE_CHECKING:
    from tagwatch.collectors.fakes.simulation import SimPost

__all__ = ["FakeMastodon", "Fault", "LoggedRequest", "snowflake_id", "publish_simulated"]

MAX_LIMIT = 40
DEFAULT_LIMIT = 20
RATE_LIMIT = 300
RATE_WINDOW = timedelta(minutes=5)
# Keys Mastodon carries from a request into its Link header URLs (pagination_params).
_CARRIED_PARAMS = ("limit", "local", "remote", "only_media")


def snowflake_id(at: datetime, salt: str = "") -> int:
    """A Mastodon-style id: milliseconds since the epoch in the high bits, a sequence below.

    Ids grow with time, as on a real instance; the salt makes the low bits
    differ between instances, so one status has a different id on each.
    """
    ms = int(at.timestamp() * 1000)
    return (ms << 16) | (zlib.crc32(salt.encode()) & 0xFFFF)


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    # Every value of a repeated key (``id[]=1&id[]=2``); `query` keeps the last one.
    multi: dict[str, list[str]] = field(default_factory=dict)


def _iso_ms(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


class FakeMastodon(LoopbackServer):
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
        _LOCAL_DOMAINS[host] = self.domain
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes "slow" answers so shutdown is quick
        super().stop()

    def go_down(self) -> None:
        """Stop answering: the port refuses connections, as a dead instance does."""
        self.stop()

    # -- data -----------------------------------------------------------------

    def _account(self, username: str, **fields: Any) -> dict[str, Any]:
        if not self.base_url:
            raise RuntimeError("start() the fake instance first: its domain is its port")
        with self._lock:
            acc_id = self._accounts.setdefault(
                username, 110_000_000_000_000_000 + len(self._accounts)
            )
        created = "2016-03-16T14:34:26.392Z"
        account = {
            "id": str(acc_id),
            "username": username,
            "acct": username,
            "display_name": fields.pop("display_name", username.title()),
            "locked": False,
            "bot": False,
            "discoverable": True,
            "indexable": True,
            "group": False,
            "created_at": created,
            "note": "",
            "url": f"{self.base_url}/@{username}",
            "uri": f"{self.base_url}/users/{username}",
            "avatar": f"{self.base_url}/avatars/original/missing.png",
            "avatar_static": f"{self.base_url}/avatars/original/missing.png",
            "header": f"{self.base_url}/headers/original/missing.png",
            "header_static": f"{self.base_url}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 1,
            "last_status_at": "2016-11-24",
            "noindex": False,
            "emojis": [],
            "roles": [],
            "fields": [],
        }
        account.update(fields)
        return account

    def toot(
        self,
        username: str,
        content: str,
        *,
        created_at: datetime,
        tags: Iterable[str] = (),
        mentions: Iterable[str] = (),
        language: str | None = "en",
        favourites: int = 0,
        reblogs: int = 0,
        replies: int = 0,
        spoiler_text: str = "",
        sensitive: bool = False,
        media: int = 0,
        emojis: Iterable[str] = (),
        in_reply_to_id: str | None = None,
        followers: int = 0,
        display_name: str | None = None,
        noindex: bool = False,
    ) -> dict[str, Any]:
        """Write a public status on this instance (its origin); returns it as served here.

        `content` is the HTML Mastodon would render; `mentions` are accts as seen
        from here (``bob`` for a local account, ``bob@other.example`` otherwise).
        """
        extra: dict[str, Any] = {"followers_count": followers, "noindex": noindex}
        if display_name is not None:
            extra["display_name"] = display_name
        account = self._account(username, **extra)
        local_id = snowflake_id(created_at, self.domain)
        uri = f"{self.base_url}/users/{username}/statuses/{local_id}"
        status: dict[str, Any] = {
            "id": str(local_id),
            "created_at": _iso_ms(created_at),
            "in_reply_to_id": in_reply_to_id,
            "in_reply_to_account_id": None,
            "sensitive": sensitive,
            "spoiler_text": spoiler_text,
            "visibility": "public",
            "language": language,
            "uri": uri,
            "url": f"{self.base_url}/@{username}/{local_id}",
            "replies_count": replies,
            "reblogs_count": reblogs,
            "favourites_count": favourites,
            "quotes_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": content,
            "filtered": [],
            "reblog": None,
            "application": {"name": "Web", "website": None},
            "account": account,
            "media_attachments": [
                {
                    "id": str(local_id + i + 1),
                    "type": "image",
                    "url": f"{self.base_url}/media/{local_id}-{i}.png",
                    "description": None,
                }
                for i in range(media)
            ],
            "mentions": [self._mention(acct) for acct in mentions],
            "tags": [{"name": t.lower(), "url": f"{self.base_url}/tags/{t.lower()}"} for t in tags],
            "emojis": [
                {
                    "shortcode": code,
                    "url": f"{self.base_url}/emoji/{code}.png",
                    "static_url": f"{self.base_url}/emoji/{code}.png",
                    "visible_in_picker": True,
                }
                for code in emojis
            ],
            "quote": None,
            "card": None,
            "poll": None,
        }
        with self._lock:
            self.statuses[local_id] = status
            self._by_uri[status["uri"]] = local_id
        return copy.deepcopy(status)

    def _mention(self, acct: str) -> dict[str, Any]:
        username, _, domain = acct.partition("@")
        base = f"http://{domain}" if domain else self.base_url
        return {"id": "1", "username": username, "url": f"{base}/@{username}", "acct": acct}

    def federate(self, status: dict[str, Any], **counts: int) -> dict[str, Any]:
        """Deliver another instance's status here: new local id, same `uri` and origin `url`.

        Accts local to the origin gain its domain; accts local to this instance
        lose theirs. `counts` (favourites_count=…) set this instance's own,
        possibly stale, view of the engagement.
        """
        host = urlsplit(status["uri"]).netloc
        origin = _LOCAL_DOMAINS.get(host, host)
        here = copy.deepcopy(status)
        local_id = snowflake_id(datetime.fromisoformat(status["created_at"]), self.domain)
        here["id"] = str(local_id)
        here["account"]["acct"] = self._acct_from(here["account"]["acct"], origin)
        for m in here["mentions"]:
            m["acct"] = self._acct_from(m["acct"], origin)
        for tag in here["tags"]:
            tag["url"] = f"{self.base_url}/tags/{tag['name']}"
        here.update(counts)
        with self._lock:
            self.statuses[local_id] = here
            self._by_uri[here["uri"]] = local_id
        return copy.deepcopy(here)

    def _acct_from(self, acct: str, origin: str) -> str:
        username, _, domain = acct.partition("@")
        domain = domain or origin
        return username if domain == self.domain else f"{username}@{domain}"

    def boost(self, username: str, status: dict[str, Any], *, at: datetime) -> dict[str, Any]:
        """A reblog by a local account; like real Mastodon, tag timelines never list it."""
        account = self._account(username)
        local_id = snowflake_id(at, self.domain + status["uri"])
        original = self.find(status["uri"]) or status
        boost = {
            **{k: v for k, v in original.items() if k not in ("account", "reblog")},
            "id": str(local_id),
            "created_at": _iso_ms(at),
            "uri": f"{self.base_url}/users/{username}/statuses/{local_id}/activity",
            "url": None,
            "content": "",
            "language": None,
            "mentions": [],
            "tags": [],
            "emojis": [],
            "media_attachments": [],
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "account": account,
            "reblog": copy.deepcopy(original),
        }
        with self._lock:
            self.statuses[local_id] = boost
            self._by_uri[boost["uri"]] = local_id
        return copy.deepcopy(boost)

    def find(self, uri: str) -> dict[str, Any] | None:
        """This instance's copy of the status with that ActivityPub uri."""
        with self._lock:
            local_id = self._by_uri.get(uri)
            return None if local_id is None else self.statuses.get(local_id)

    def update(self, status: dict[str, Any], **fields: Any) -> None:
        """Change this instance's copy (counts, content…) of a status, found by uri."""
        found = self.find(status["uri"])
        if found is None:
            raise KeyError(status["uri"])
        with self._lock:
            found.update(fields)

    def edit(
        self, status: dict[str, Any], content: str, *, tags: Iterable[str], at: datetime
    ) -> None:
        """The author edits the status here (its origin), as Mastodon 3.5+ allows:
        new content and tags, and `edited_at` set to the time of the edit."""
        self.update(
            status,
            content=content,
            tags=[{"name": t.lower(), "url": f"{self.base_url}/tags/{t.lower()}"} for t in tags],
            edited_at=_iso_ms(at),
        )

    def delete(self, status: dict[str, Any]) -> None:
        found = self.find(status["uri"])
        if found is not None:
            with self._lock:
                del self.statuses[int(found["id"])]
                del self._by_uri[found["uri"]]

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


# Web host (127.0.0.1:port) → the account domain of the fake instance serving there,
# so a status federated elsewhere names its author with the origin's domain.
_LOCAL_DOMAINS: dict[str, str] = {}


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


def publish_simulated(
    instances: Sequence[FakeMastodon],
    posts: Iterable[SimPost],
    *,
    now: datetime,
    known: dict[str, str] | None = None,
) -> dict[str, str]:
    """Publish a simulation's Mastodon posts as they stand at `now`, federated everywhere.

    The simulation's home instances are mapped in order onto `instances`; each
    post is written on its author's home and delivered to the others, whose
    counts lag behind the origin's (half of them), as on the real fediverse.
    Returns sim key -> uri; pass it back as `known` with a later `now` to let
    the event move on (counts grow, deletions happen, new posts appear).
    Boosts are left out: hashtag timelines never list them.
    """
    from tagwatch.collectors.fakes.simulation import MASTODON_INSTANCES

    known = {} if known is None else known
    home = {name: instances[i % len(instances)] for i, name in enumerate(MASTODON_INSTANCES)}
    for sim in sorted(posts, key=lambda p: p.created_at):
        if sim.platform != "mastodon" or sim.repost_of or sim.created_at > now:
            continue
        origin = home.get(sim.author.instance, instances[0])
        counts = sim.engagement_at(now)
        if sim.key not in known:
            parent = origin.find(known.get(sim.reply_to or "", ""))
            status = origin.toot(
                sim.author.handle.partition("@")[0],
                _sim_html(sim.text),
                created_at=sim.created_at,
                tags=sim.hashtags,
                mentions=[_sim_acct(h, origin, home) for h in sim.mentions],
                language=sim.lang,
                sensitive=sim.sensitive,
                media=sim.media_count,
                in_reply_to_id=parent["id"] if parent else None,
                followers=sim.author.followers,
                display_name=sim.author.display_name,
            )
            for other in instances:
                if other is not origin:
                    other.federate(status)
            known[sim.key] = status["uri"]
        uri = known[sim.key]
        for inst in instances:
            copy_here = inst.find(uri)
            if copy_here is None:
                continue
            if not sim.visible_at(now):
                inst.delete(copy_here)
                continue
            share = 1 if inst is origin else 2
            inst.update(
                copy_here,
                favourites_count=counts["likes"] // share,
                reblogs_count=counts["reposts"] // share,
                replies_count=counts["replies"] // share,
            )
    return known


def _sim_html(text: str) -> str:
    """Plain text as Mastodon renders it: escaped, paragraphs and line breaks as tags."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(
        "<p>" + "<br>".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def _sim_acct(handle: str, origin: FakeMastodon, home: dict[str, FakeMastodon]) -> str:
    user, _, instance = handle.partition("@")
    target = home.get(instance)
    if target is None:
        return handle
    return user if target is origin else f"{user}@{target.domain}"
