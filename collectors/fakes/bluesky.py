"""A loopback Bluesky (AT Protocol XRPC) server for tests and the demo.

It speaks the part of the real API tagwatch uses, with the real paths,
parameters, JSON shapes, status codes and headers, so the real `atproto`
client can be pointed at it:

    com.atproto.server.createSession / refreshSession / getSession
    app.bsky.feed.searchPosts   (q, tag, sort, since, until, cursor, limit)
    app.bsky.feed.getPosts      (uris, at most 25)
    app.bsky.actor.getProfiles  (actors, at most 25)

Shapes follow the recorded PostView/ProfileView in
/work/shared/fixtures/real/bluesky. Behaviour the collector must cope with is
reproduced, not simplified away: access tokens are JWTs that expire (400
ExpiredToken), refresh tokens rotate (the old one is revoked), search cursors
are offsets into a list that shifts when new posts arrive (so pages overlap),
`since`/`until` filter on sortAt = min(createdAt, indexedAt), and every answer
carries the `ratelimit-*` headers.

It is data-driven (`add_post`, `delete_post`, `set_engagement`, ...), counts
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
import itertools
import json
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from atproto_client.utils.facet_detection import detect_facets, detect_mentions

from collectors.fakes.loopback import LoopbackServer

if TYPE_CHECKING:
    from collectors.fakes.simulation import SimPost

__all__ = ["FakeBluesky", "FakeAuthor", "FakePost", "NO_UNAUTHENTICATED"]

NO_UNAUTHENTICATED = "!no-unauthenticated"
ACCESS_TTL = timedelta(hours=2)  # what bsky.social issues
REFRESH_TTL = timedelta(days=90)
RATE_LIMIT = 3000  # per 5 minutes, as bsky.social announces
_S32 = "234567abcdefghijklmnopqrstuvwxyz"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _ts(dt: datetime) -> str:
    """The AT Protocol datetime form: millisecond precision, Z suffix."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse_dt(value: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    if len(text) == 10:  # a bare date is allowed by the lexicon
        text += "T00:00:00+00:00"
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _did_for(handle: str) -> str:
    digest = hashlib.sha256(handle.casefold().encode()).digest()
    return "did:plc:" + base64.b32encode(digest).decode().lower()[:24]


def _cid_for(data: Any) -> str:
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def _tid(dt: datetime, clock_id: int) -> str:
    """A record key in TID form (13 sortable base32 characters), as real clients make."""
    value = (int(dt.timestamp() * 1_000_000) << 10) | (clock_id & 0x3FF)
    return "".join(_S32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


@dataclass
class FakeAuthor:
    did: str
    handle: str
    display_name: str = ""
    followers: int = 0
    follows: int = 0
    labels: list[str] = field(default_factory=list)  # e.g. "!no-unauthenticated"
    created_at: datetime = field(default_factory=lambda: datetime(2023, 4, 26, tzinfo=UTC))


@dataclass
class FakePost:
    uri: str
    cid: str
    author_did: str
    record: dict[str, Any]
    indexed_at: datetime
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    labels: list[str] = field(default_factory=list)  # labels applied by a labeler
    deleted: bool = False

    @property
    def created_at(self) -> datetime:
        return _parse_dt(self.record["createdAt"])

    @property
    def sort_at(self) -> datetime:
        # The AppView sorts and filters search on the earlier of the two, so a
        # post cannot jump the queue by claiming a future createdAt.
        return min(self.created_at, self.indexed_at)

    @property
    def tags(self) -> set[str]:
        tags = {t.casefold() for t in self.record.get("tags", [])}
        for facet in self.record.get("facets", []):
            for feature in facet.get("features", []):
                if feature.get("$type") == "app.bsky.richtext.facet#tag":
                    tags.add(feature["tag"].casefold())
        return tags


@dataclass
class _Fault:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class _Token:
    kind: str  # "access" | "refresh"
    did: str
    exp: datetime  # real time
    revoked: bool = False
    expired: bool = False


class FakeBluesky(LoopbackServer):
    """A Bluesky PDS + AppView on 127.0.0.1; see the module docstring."""

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
        self.clock = clock or (lambda: datetime.now(UTC))
        self.page_size = page_size  # cap on a search page below the client's `limit`
        self.require_auth = require_auth
        self.authors: dict[str, FakeAuthor] = {}  # by did
        self.posts: dict[str, FakePost] = {}  # by uri
        self.passwords: dict[str, str] = {}  # did -> app password
        self.calls: list[tuple[str, dict[str, list[str]]]] = []
        self.on_request: Callable[[str, dict[str, list[str]]], None] | None = None
        self._tokens: dict[str, _Token] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._clock_ids = itertools.count()
        self._sim_uris: dict[str, str] = {}
        self._lock = threading.RLock()

    # -- data -------------------------------------------------------------------

    def add_author(
        self,
        handle: str,
        display_name: str = "",
        *,
        followers: int = 0,
        labels: Iterable[str] = (),
    ) -> FakeAuthor:
        with self._lock:
            did = _did_for(handle)
            author = self.authors.get(did)
            if author is None:
                author = FakeAuthor(did, handle, display_name, followers, labels=list(labels))
                self.authors[did] = author
            return author

    def add_account(self, handle: str, password: str) -> FakeAuthor:
        """An account that can log in with `password` (an app password)."""
        author = self.add_author(handle)
        self.passwords[author.did] = password
        return author

    def author(self, handle_or_did: str) -> FakeAuthor:
        with self._lock:
            if handle_or_did in self.authors:
                return self.authors[handle_or_did]
            for author in self.authors.values():
                if author.handle.casefold() == handle_or_did.lstrip("@").casefold():
                    return author
            raise KeyError(handle_or_did)

    def add_post(
        self,
        author: str,
        text: str,
        *,
        created_at: datetime | None = None,
        indexed_at: datetime | None = None,
        langs: Iterable[str] = ("en",),
        reply_to: str | None = None,
        quote_of: str | None = None,
        images: int = 0,
        self_labels: Iterable[str] = (),
        labels: Iterable[str] = (),
        tags: Iterable[str] = (),
        facets: list[dict[str, Any]] | None = None,
        likes: int = 0,
        reposts: int = 0,
        replies: int = 0,
        quotes: int = 0,
    ) -> str:
        """Publish a post by `author` (a handle; created if new); returns its AT URI.

        Facets are detected from the text as the official clients do (UTF-8 byte
        offsets), unless given explicitly.
        """
        with self._lock:
            who = self.add_author(author) if "did:" not in author else self.author(author)
            created = created_at or self.clock()
            record: dict[str, Any] = {
                "$type": "app.bsky.feed.post",
                "createdAt": _ts(created),
                "langs": list(langs),
                "text": text,
            }
            record["facets"] = self._facets(text) if facets is None else facets
            if not record["facets"]:
                del record["facets"]
            if tags:
                record["tags"] = list(tags)
            if reply_to:
                parent = self._strong_ref(reply_to)
                root = self.posts[reply_to].record.get("reply", {}).get("root", parent)
                record["reply"] = {"root": root, "parent": parent}
            embed = self._record_embed(images, quote_of)
            if embed:
                record["embed"] = embed
            if self_labels:
                record["labels"] = {
                    "$type": "com.atproto.label.defs#selfLabels",
                    "values": [{"val": v} for v in self_labels],
                }
            rkey = _tid(created, next(self._clock_ids))
            uri = f"at://{who.did}/app.bsky.feed.post/{rkey}"
            post = FakePost(
                uri=uri,
                cid=_cid_for(record),
                author_did=who.did,
                record=record,
                indexed_at=indexed_at or max(created, self.clock()),
                likes=likes,
                reposts=reposts,
                replies=replies,
                quotes=quotes,
                labels=list(labels),
            )
            self.posts[uri] = post
            return uri

    def delete_post(self, uri: str) -> None:
        with self._lock:
            self.posts[uri].deleted = True

    def set_engagement(
        self,
        uri: str,
        *,
        likes: int | None = None,
        reposts: int | None = None,
        replies: int | None = None,
        quotes: int | None = None,
    ) -> None:
        with self._lock:
            post = self.posts[uri]
            for name, value in (
                ("likes", likes),
                ("reposts", reposts),
                ("replies", replies),
                ("quotes", quotes),
            ):
                if value is not None:
                    setattr(post, name, value)

    def set_followers(self, handle: str, followers: int) -> None:
        with self._lock:
            self.author(handle).followers = followers

    def label_author(self, handle: str, value: str = NO_UNAUTHENTICATED) -> None:
        with self._lock:
            self.author(handle).labels.append(value)

    def add_simulated(self, posts: Iterable[SimPost], *, now: datetime) -> dict[str, str]:
        """Publish a simulation's Bluesky posts as they stand at `now`; returns key -> AT URI.

        Call again with a later `now` (same fake) to let the event move on: posts
        already published get their engagement and deletions updated, new ones
        appear. Reposts are left out, as search never returns them.
        """
        with self._lock:
            known = self._sim_uris
            for sim in sorted(posts, key=lambda p: p.created_at):
                if sim.platform != "bluesky" or sim.repost_of or sim.created_at > now:
                    continue
                counts = sim.engagement_at(now)
                if sim.key not in known:
                    self.add_author(
                        sim.author.handle, sim.author.display_name, followers=sim.author.followers
                    )
                    missing = [
                        t for t in sim.hashtags if f"#{t}".casefold() not in sim.text.casefold()
                    ]
                    known[sim.key] = self.add_post(
                        sim.author.handle,
                        sim.text,
                        created_at=sim.created_at,
                        indexed_at=sim.created_at,
                        langs=[sim.lang],
                        reply_to=known.get(sim.reply_to or ""),
                        quote_of=known.get(sim.quote_of or ""),
                        images=sim.media_count,
                        labels=["graphic-media"] if sim.sensitive else [],
                        tags=missing,
                    )
                uri = known[sim.key]
                self.set_engagement(
                    uri,
                    likes=counts["likes"],
                    reposts=counts["reposts"],
                    replies=counts["replies"],
                    quotes=counts["quotes"],
                )
                if not sim.visible_at(now):
                    self.delete_post(uri)
            return dict(known)

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
        with self._lock:
            queue = self._faults.setdefault(nsid, deque())
            queue.extend(_Fault(status, raw, hdrs) for _ in range(times))

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

    # -- views (public so parser tests can build payloads of the real shape) ------

    def post_view(self, uri: str) -> dict[str, Any]:
        with self._lock:
            post = self.posts[uri]
            author = self.authors[post.author_did]
            view: dict[str, Any] = {
                "uri": post.uri,
                "cid": post.cid,
                "author": self.profile_view(author.did, detailed=False),
                "record": post.record,
                "bookmarkCount": 0,
                "replyCount": post.replies,
                "repostCount": post.reposts,
                "likeCount": post.likes,
                "quoteCount": post.quotes,
                "indexedAt": _ts(post.indexed_at),
                "viewer": {"threadMuted": False, "embeddingDisabled": False},
                "labels": self._labels(
                    author.did,
                    post.uri,
                    post.cid,
                    [v["val"] for v in post.record.get("labels", {}).get("values", [])]
                    + post.labels,
                ),
            }
            embed = self._embed_view(post)
            if embed:
                view["embed"] = embed
            return view

    def profile_view(self, did: str, *, detailed: bool = True) -> dict[str, Any]:
        with self._lock:
            a = self.authors[did]
            view: dict[str, Any] = {
                "did": a.did,
                "handle": a.handle,
                "displayName": a.display_name,
                "avatar": f"https://cdn.bsky.app/img/avatar/plain/{a.did}/{_cid_for(a.did)}@jpeg",
                "associated": {"chat": {"allowIncoming": "all"}},
                "viewer": {"muted": False, "blockedBy": False},
                "labels": self._labels(
                    a.did, f"at://{a.did}/app.bsky.actor.profile/self", None, a.labels
                ),
                "createdAt": _ts(a.created_at),
            }
            if not a.display_name:
                del view["displayName"]
            if detailed:
                view.update(
                    {
                        "description": "",
                        "indexedAt": _ts(a.created_at),
                        "followersCount": a.followers,
                        "followsCount": a.follows,
                        "postsCount": sum(
                            1 for p in self.posts.values() if p.author_did == did and not p.deleted
                        ),
                    }
                )
                view["associated"].update({"lists": 0, "feedgens": 0, "starterPacks": 0})
            return view

    # -- internals --------------------------------------------------------------

    def _labels(
        self, src: str, uri: str, cid: str | None, values: Iterable[str]
    ) -> list[dict[str, Any]]:
        out = []
        for value in values:
            label: dict[str, Any] = {
                "src": src,
                "uri": uri,
                "val": value,
                "cts": "2023-04-26T19:05:34.249Z",
            }
            if cid:
                label["cid"] = cid
            out.append(label)
        return out

    def _facets(self, text: str) -> list[dict[str, Any]]:
        facets: list[dict[str, Any]] = []
        for facet in detect_facets(text):
            feature = facet.features[0]
            if feature.py_type == "app.bsky.richtext.facet#tag":
                feat: dict[str, Any] = {"$type": feature.py_type, "tag": feature.tag}
            else:
                feat = {"$type": feature.py_type, "uri": feature.uri}
            facets.append(
                {
                    "features": [feat],
                    "index": {"byteStart": facet.index.byte_start, "byteEnd": facet.index.byte_end},
                }
            )
        for mention in detect_mentions(text):
            try:
                did = self.author(mention.handle).did
            except KeyError:
                did = _did_for(mention.handle)
            facets.append(
                {
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}],
                    "index": {"byteStart": mention.byte_start, "byteEnd": mention.byte_end},
                }
            )
        return sorted(facets, key=lambda f: f["index"]["byteStart"])

    def _strong_ref(self, uri: str) -> dict[str, str]:
        post = self.posts.get(uri)
        return {"cid": post.cid if post else _cid_for(uri), "uri": uri}

    def _record_embed(self, images: int, quote_of: str | None) -> dict[str, Any] | None:
        media = None
        if images:
            media = {
                "$type": "app.bsky.embed.images",
                "images": [
                    {
                        "alt": "",
                        "image": {
                            "$type": "blob",
                            "ref": {"$link": "bafkrei" + _cid_for(i)[7:]},
                            "mimeType": "image/jpeg",
                            "size": 474482,
                        },
                    }
                    for i in range(images)
                ],
            }
        if quote_of is None:
            return media
        quote = {"$type": "app.bsky.embed.record", "record": self._strong_ref(quote_of)}
        if media is None:
            return quote
        return {"$type": "app.bsky.embed.recordWithMedia", "media": media, "record": quote}

    def _embed_view(self, post: FakePost) -> dict[str, Any] | None:
        embed = post.record.get("embed")
        if not embed:
            return None

        def images_view(media: dict[str, Any]) -> dict[str, Any]:
            did = post.author_did
            return {
                "$type": "app.bsky.embed.images#view",
                "images": [
                    {
                        "thumb": f"https://cdn.bsky.app/img/feed_thumbnail/plain/{did}/"
                        f"{img['image']['ref']['$link']}@jpeg",
                        "fullsize": f"https://cdn.bsky.app/img/feed_fullsize/plain/{did}/"
                        f"{img['image']['ref']['$link']}@jpeg",
                        "alt": img["alt"],
                    }
                    for img in media["images"]
                ],
            }

        def record_view(ref: dict[str, str]) -> dict[str, Any]:
            quoted = self.posts.get(ref["uri"])
            if quoted is None or quoted.deleted:
                return {
                    "$type": "app.bsky.embed.record#viewNotFound",
                    "uri": ref["uri"],
                    "notFound": True,
                }
            return {
                "$type": "app.bsky.embed.record#viewRecord",
                "uri": quoted.uri,
                "cid": quoted.cid,
                "author": self.profile_view(quoted.author_did, detailed=False),
                "value": quoted.record,
                "labels": [],
                "likeCount": quoted.likes,
                "replyCount": quoted.replies,
                "repostCount": quoted.reposts,
                "quoteCount": quoted.quotes,
                "indexedAt": _ts(quoted.indexed_at),
                "embeds": [],
            }

        kind = embed["$type"]
        if kind == "app.bsky.embed.images":
            return images_view(embed)
        if kind == "app.bsky.embed.record":
            return {"$type": "app.bsky.embed.record#view", "record": record_view(embed["record"])}
        if kind == "app.bsky.embed.recordWithMedia":
            return {
                "$type": "app.bsky.embed.recordWithMedia#view",
                "media": images_view(embed["media"]),
                "record": {
                    "$type": "app.bsky.embed.record#view",
                    "record": record_view(embed["record"]["record"]),
                },
            }
        return None

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
            queue = self._faults.get(nsid) or self._faults.get("*")
            fault = queue.popleft() if queue else None
        if fault is not None:
            self._send(handler, fault.status, fault.body, fault.headers)
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
            since = _parse_dt(params["since"][0]) if "since" in params else None
            until = _parse_dt(params["until"][0]) if "until" in params else None
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
        found = [u for u in uris if u in self.posts and not self.posts[u].deleted]
        return 200, {"posts": [self.post_view(u) for u in found]}

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


def iter_post_views(fake: FakeBluesky) -> Iterator[dict[str, Any]]:
    """Every live post's view, newest first (for parser tests and the demo)."""
    for post in sorted(fake.posts.values(), key=lambda p: p.sort_at, reverse=True):
        if not post.deleted:
            yield fake.post_view(post.uri)
