"""A loopback Bluesky (AT Protocol XRPC) server for tests and the demo.

It speaks the part of the real API tagwatch uses, with the real paths,
parameters, JSON shapes, status codes and headers, so the real `atproto`
client can be pointed at it:

    com.atproto.server.createSession / refreshSession / getSession
    app.bsky.feed.searchPosts   (q, tag, sort, since, until, cursor, limit)
    app.bsky.feed.getPosts      (uris, at most 25)
    app.bsky.feed.getPostThread (uri, depth, parentHeight)
    app.bsky.actor.getProfiles  (actors, at most 25)

Shapes follow the recorded PostView/ProfileView in
tests/fixtures/recorded/bluesky. Behaviour the collector must cope with is
reproduced, not simplified away: access tokens are JWTs that expire (400
ExpiredToken), refresh tokens rotate (the old one is revoked), search cursors
are offsets into a list that shifts when new posts arrive (so pages overlap),
`since`/`until` filter on sortAt = min(createdAt, indexedAt), and every answer
carries the `ratelimit-*` headers.

It is data-driven (`add_post`, `delete_post`, `set_engagement`, `add_simulated`;
the data and its JSON views live in `tagwatch.collectors.fakes.bluesky_data`), counts
requests per method (`count`), and injects faults (`fail`, `rate_limit`,
`malformed_json`, `schema_violation`, `expire_access_tokens`).

    with FakeBluesky() as fake:
        fake.add_account("me.bsky.social", "app-pass-word")
        uri = fake.add_post("alice.bsky.social", "Opening #HRHN2016 🎉")
        client = atproto.Client(base_url=fake.url)
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tagwatch.collectors.fakes.bluesky_data import (
    NO_UNAUTHENTICATED,
    BlueskyNetwork,
    FakeAuthor,
    FakePost,
    parse_at_datetime,
)
from tagwatch.collectors.fakes.faults import Fault, Faults, encoded
from tagwatch.collectors.fakes.loopback import LoopbackServer

__all__ = [
    "FakeBluesky",
    "FakeAuthor",
    "FakePost",
    "NO_UNAUTHENTICATED",
]

ACCESS_TTL = timedelta(hours=2)  # what bsky.social issues
# public.api.bsky.app's refusal: an HTML page, not XRPC JSON ("403 Forbidden / Request
# forbidden by administrative rules.": bluesky-social/atproto issue #2838; an HTML page
# with no JSON error: mvanhorn/last30days-skill PR #398, which saw it on some client
# addresses only). Unauthenticated searchPosts was switched off in January 2025
# (bluesky-social/atproto issue #3423).
_REFUSED = (
    b"<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>"
    b"<p>Request forbidden by administrative rules.</p></body></html>"
)
REFRESH_TTL = timedelta(days=90)
RATE_LIMIT = 3000  # per 5 minutes, as bsky.social announces


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class _Token:
    kind: str  # "access" | "refresh"
    did: str
    exp: datetime  # real time
    revoked: bool = False
    expired: bool = False


class FakeBluesky(BlueskyNetwork, LoopbackServer):
    """A Bluesky PDS + AppView on 127.0.0.1; see the module docstring."""

    def media_hosts(self) -> tuple[str, str]:
        """The views' picture addresses point here (the loopback base serves `/media/`)."""
        if self._server is None:
            return super().media_hosts()
        return f"{self.url}/media/cdn", f"{self.url}/media/video"

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        page_size: int | None = None,
        require_auth: bool = True,
    ):
        # `clock` dates new posts and rate-limit resets; tests and the demo pass the
        # clock they give the collector. Tokens expire on the real clock instead,
        # because the atproto client checks their `exp` against it: a simulated
        # 2016 would otherwise make it refresh before every request.
        super().__init__(clock=clock)
        self.page_size = page_size  # cap on a search page below the client's `limit`
        self.require_auth = require_auth
        # Like public.api.bsky.app to some addresses: every app.bsky.* call without a
        # login gets 403 (see _REFUSED); logged-in calls are answered as usual.
        self.refuse_unauthenticated = False
        self.passwords: dict[str, str] = {}  # did -> app password
        self.calls: list[tuple[str, dict[str, list[str]]]] = []
        self.on_request: Callable[[str, dict[str, list[str]]], None] | None = None
        self._tokens: dict[str, _Token] = {}
        self.faults = Faults()

    def add_account(self, handle: str, password: str) -> FakeAuthor:
        """An account that can log in with `password` (an app password)."""
        author = self.add_author(handle)
        self.passwords[author.did] = password
        return author

    # -- faults and counts ------------------------------------------------------

    def respond(
        self,
        nsid: str,
        status: int,
        body: bytes | dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `nsid` (or "*" for any) with this instead."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = {"content-type": "application/json; charset=utf-8", **(headers or {})}
        self.faults.add(Fault("error", nsid, status, raw, hdrs, times=times))

    def fail(self, nsid: str, status: int = 500, *, times: int = 1) -> None:
        error = {500: "InternalServerError", 502: "UpstreamFailure", 503: "NotEnoughResources"}
        body = {
            "error": error.get(status, "InternalServerError"),
            "message": "Internal Server Error",
        }
        self.respond(nsid, status, body, times=times)

    def rate_limit(self, nsid: str, *, reset_in: float = 60.0, times: int = 1) -> None:
        """429 with the `ratelimit-reset` header (epoch seconds) bsky.social sends."""
        reset = int((self.clock() + timedelta(seconds=reset_in)).timestamp())
        headers = {
            "ratelimit-limit": str(RATE_LIMIT),
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(reset),
            "ratelimit-policy": f"{RATE_LIMIT};w=300",
        }
        body = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
        self.respond(nsid, 429, body, headers=headers, times=times)

    def malformed_json(self, nsid: str, *, times: int = 1) -> None:
        """A 200 whose body is cut off mid-way (a proxy dropping the connection)."""
        self.respond(nsid, 200, b'{"posts": [{"uri": "at://did:plc:x/app.bsky.feed.po', times=times)

    def schema_violation(self, nsid: str, *, times: int = 1) -> None:
        """Valid JSON that breaks the lexicon: a post view without author, cid or record."""
        key = {"app.bsky.actor.getProfiles": "profiles"}.get(nsid, "posts")
        body = {key: [{"uri": "at://did:plc:x/app.bsky.feed.post/3k", "likeCount": "many"}]}
        self.respond(nsid, 200, body, times=times)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far now answers 400 ExpiredToken."""
        with self._lock:
            for token in self._tokens.values():
                if token.kind == "access":
                    token.expired = True

    def revoke_sessions(self) -> None:
        """Every token issued so far is revoked (a password change, a logout elsewhere)."""
        with self._lock:
            for token in self._tokens.values():
                token.revoked = True

    def count(self, nsid: str | None = None) -> int:
        with self._lock:
            if nsid is None:
                return len(self.calls)
            return sum(1 for name, _ in self.calls if name == nsid)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(name for name, _ in self.calls)

    def params(self, nsid: str) -> list[dict[str, list[str]]]:
        """The query parameters of every call of `nsid`, in order."""
        with self._lock:
            return [p for name, p in self.calls if name == nsid]

    # -- the protocol ----------------------------------------------------------------

    def _jwt(self, kind: str, did: str) -> str:
        now = datetime.now(UTC)
        exp = now + (ACCESS_TTL if kind == "access" else REFRESH_TTL)
        header = {"typ": "at+jwt" if kind == "access" else "refresh+jwt", "alg": "ES256K"}
        payload: dict[str, Any] = {
            "scope": "com.atproto.appPass" if kind == "access" else "com.atproto.refresh",
            "sub": did,
            "iat": int(now.timestamp()),
            "exp": int(exp.timestamp()),
            "aud": "did:web:bsky.social",
        }
        if kind == "refresh":
            payload["jti"] = _b64url(
                hashlib.sha256(f"{did}{next(self._clock_ids)}".encode()).digest()
            )
        sig = hashlib.sha512(f"{header}{payload}{next(self._clock_ids)}".encode()).digest()
        token = ".".join(
            [
                _b64url(json.dumps(header).encode()),
                _b64url(json.dumps(payload).encode()),
                _b64url(sig),
            ]
        )
        self._tokens[token] = _Token(kind, did, exp)
        return token

    def _session_body(self, did: str) -> dict[str, Any]:
        author = self.authors[did]
        return {
            "did": did,
            "handle": author.handle,
            "accessJwt": self._jwt("access", did),
            "refreshJwt": self._jwt("refresh", did),
            "active": True,
        }

    def _check_token(
        self, handler: BaseHTTPRequestHandler, kind: str
    ) -> tuple[int, dict[str, Any]] | str:
        """The caller's DID, or the (status, error body) the PDS answers."""
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return 401, {"error": "AuthMissing", "message": "Authentication Required"}
        token = self._tokens.get(auth[len("Bearer ") :])
        if token is None:
            return 400, {"error": "InvalidToken", "message": "Token could not be verified"}
        if token.kind != kind:
            return 400, {"error": "InvalidToken", "message": "Invalid token type"}
        if token.revoked:
            return 400, {"error": "ExpiredToken", "message": "Token has been revoked"}
        if token.expired or token.exp <= datetime.now(UTC):
            return 400, {"error": "ExpiredToken", "message": "Token has expired"}
        return token.did

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        nsid = parts.path.removeprefix("/xrpc/")
        params = parse_qs(parts.query)
        body: dict[str, Any] = {}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if self.on_request is not None:
            self.on_request(nsid, params)
        with self._lock:
            self.calls.append((nsid, params))
        fault = self.faults.take(nsid)
        if fault is not None:
            self._send(handler, fault.status, encoded(fault.body, b""), fault.headers)
            return
        if (
            self.refuse_unauthenticated
            and nsid.startswith("app.bsky.")
            and not handler.headers.get("Authorization")
        ):
            self._send(handler, 403, _REFUSED, {"content-type": "text/html"})
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send_json(handler, 400, {"error": "InvalidRequest", "message": "Invalid JSON"})
            return
        routes: dict[tuple[str, str], Callable[..., tuple[int, dict[str, Any]]]] = {
            ("POST", "com.atproto.server.createSession"): self._create_session,
            ("POST", "com.atproto.server.refreshSession"): self._refresh_session,
            ("GET", "com.atproto.server.getSession"): self._get_session,
            ("GET", "app.bsky.feed.searchPosts"): self._search_posts,
            ("GET", "app.bsky.feed.getPosts"): self._get_posts,
            ("GET", "app.bsky.feed.getPostThread"): self._get_post_thread,
            ("GET", "app.bsky.actor.getProfiles"): self._get_profiles,
        }
        route = routes.get((method, nsid))
        if route is None:
            self._send_json(
                handler, 501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"}
            )
            return
        with self._lock:
            if nsid.startswith("app.bsky.") and self.require_auth:
                checked = self._check_token(handler, "access")
                if not isinstance(checked, str):
                    self._send_json(handler, *checked)
                    return
            status, out = route(handler=handler, params=params, body=body)
        self._send_json(handler, status, out)

    def _send_json(
        self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]
    ) -> None:
        self._send(
            handler,
            status,
            json.dumps(body, ensure_ascii=False).encode(),
            {"content-type": "application/json; charset=utf-8"},
        )

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        reset = int((self.clock() + timedelta(seconds=300)).timestamp())
        base = {
            "ratelimit-limit": str(RATE_LIMIT),
            "ratelimit-remaining": str(RATE_LIMIT - 1),
            "ratelimit-reset": str(reset),
            "ratelimit-policy": f"{RATE_LIMIT};w=300",
        }
        handler.send_response(status)
        for name, value in {**base, **headers, "content-length": str(len(body))}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    # -- routes -------------------------------------------------------------------

    def _create_session(self, *, body: dict[str, Any], **_: Any) -> tuple[int, dict[str, Any]]:
        identifier, password = body.get("identifier"), body.get("password")
        if not isinstance(identifier, str) or not isinstance(password, str):
            return 400, {
                "error": "InvalidRequest",
                "message": 'Input must have the property "identifier"',
            }
        try:
            author = self.author(identifier)
        except KeyError:
            author = None
        if author is None or self.passwords.get(author.did) != password:
            return 401, {
                "error": "AuthenticationRequired",
                "message": "Invalid identifier or password",
            }
        return 200, self._session_body(author.did)

    def _refresh_session(
        self, *, handler: BaseHTTPRequestHandler, **_: Any
    ) -> tuple[int, dict[str, Any]]:
        checked = self._check_token(handler, "refresh")
        if not isinstance(checked, str):
            return checked
        token = handler.headers["Authorization"][len("Bearer ") :]
        self._tokens[token].revoked = True  # refresh tokens rotate
        return 200, self._session_body(checked)

    def _get_session(
        self, *, handler: BaseHTTPRequestHandler, **_: Any
    ) -> tuple[int, dict[str, Any]]:
        checked = self._check_token(handler, "access")
        if not isinstance(checked, str):
            return checked
        return 200, {"did": checked, "handle": self.authors[checked].handle, "active": True}

    def _search_posts(
        self, *, params: dict[str, list[str]], **_: Any
    ) -> tuple[int, dict[str, Any]]:
        q = (params.get("q") or [""])[0]
        if not q:
            return 400, {
                "error": "InvalidRequest",
                "message": 'Error: Params must have the property "q"',
            }
        try:
            limit = int((params.get("limit") or ["25"])[0])
            offset = int((params.get("cursor") or ["0"])[0])
            since = parse_at_datetime(params["since"][0]) if "since" in params else None
            until = parse_at_datetime(params["until"][0]) if "until" in params else None
        except ValueError as exc:
            return 400, {"error": "InvalidRequest", "message": f"Error: {exc}"}
        if not 1 <= limit <= 100:
            return 400, {"error": "InvalidRequest", "message": "Error: limit must be <= 100"}
        tags = {t.casefold() for t in params.get("tag", [])}
        words = q.split()
        hits = []
        for post in self.posts.values():
            if post.deleted or not tags <= post.tags:
                continue
            if since is not None and post.sort_at < since:
                continue
            if until is not None and post.sort_at >= until:
                continue
            text = post.record.get("text", "").casefold()
            if all(
                (w[1:].casefold() in post.tags) if w.startswith("#") else (w.casefold() in text)
                for w in words
            ):
                hits.append(post)
        if (params.get("sort") or ["latest"])[0] == "top":
            hits.sort(key=lambda p: (p.likes + p.reposts, p.sort_at), reverse=True)
        else:
            hits.sort(key=lambda p: (p.sort_at, p.uri), reverse=True)
        size = min(limit, self.page_size or limit)
        page = hits[offset : offset + size]
        out: dict[str, Any] = {
            "posts": [self.post_view(p.uri) for p in page],
            "hitsTotal": len(hits),
        }
        if offset + size < len(hits):
            out["cursor"] = str(offset + size)
        return 200, out

    def _get_posts(self, *, params: dict[str, list[str]], **_: Any) -> tuple[int, dict[str, Any]]:
        uris = params.get("uris", [])
        if len(uris) > 25:
            return 400, {
                "error": "InvalidRequest",
                "message": "Error: uris must not have more than 25 elements",
            }
        found = [
            u
            for u in uris
            if u in self.posts and not self.posts[u].deleted and u not in self.left_out_of_get_posts
        ]
        return 200, {"posts": [self.post_view(u) for u in found]}

    def _get_post_thread(
        self, *, params: dict[str, list[str]], **_: Any
    ) -> tuple[int, dict[str, Any]]:
        # Lexicon app/bsky/feed/getPostThread.json: output {thread: threadViewPost |
        # notFoundPost | blockedPost}; its one declared error is NotFound, which the
        # AppView sends as XRPC 400 {"error": "NotFound", "message": "Post not found: <uri>"}.
        uri = (params.get("uri") or [""])[0]
        post = self.posts.get(uri)
        if post is None or post.deleted:
            return 400, {"error": "NotFound", "message": f"Post not found: {uri}"}
        return 200, {
            "thread": {"$type": "app.bsky.feed.defs#threadViewPost", "post": self.post_view(uri)}
        }

    def _get_profiles(
        self, *, params: dict[str, list[str]], **_: Any
    ) -> tuple[int, dict[str, Any]]:
        actors = params.get("actors", [])
        if len(actors) > 25:
            return 400, {
                "error": "InvalidRequest",
                "message": "Error: actors must not have more than 25 elements",
            }
        profiles = []
        for actor in actors:
            try:
                profiles.append(self.profile_view(self.author(actor).did))
            except KeyError:
                continue
        return 200, {"profiles": profiles}
