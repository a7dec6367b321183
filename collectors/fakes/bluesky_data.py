"""The data behind the fake Bluesky: accounts and posts, and the JSON views of them.

`BlueskyNetwork` is what the AppView knows (authors, posts, engagement,
labels) and renders the real lexicon shapes from it: `post_view` is an
`app.bsky.feed.defs#postView` as searchPosts/getPosts return it,
`profile_view` an `app.bsky.actor.defs#profileViewDetailed`. The HTTP side is
`tagwatch.collectors.fakes.bluesky.FakeBluesky`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from atproto_client.utils.facet_detection import detect_facets, detect_mentions

from tagwatch.collectors.bluesky.parse import CDN, VIDEO_CDN, embed_view
from tagwatch.collectors.fakes.bluesky_embeds import record_embed

if TYPE_CHECKING:
    from tagwatch.collectors.fakes.simulation import SimMedia, SimPost

__all__ = [
    "BlueskyNetwork",
    "FakeAuthor",
    "FakePost",
    "NO_UNAUTHENTICATED",
    "parse_at_datetime",
]

NO_UNAUTHENTICATED = "!no-unauthenticated"
_S32 = "234567abcdefghijklmnopqrstuvwxyz"


def _ts(dt: datetime) -> str:
    """The AT Protocol datetime form: millisecond precision, Z suffix."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_at_datetime(value: str) -> datetime:
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
    has_avatar: bool = True


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
        return parse_at_datetime(self.record["createdAt"])

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


class BlueskyNetwork:
    """Authors and posts, and their views in the real JSON shapes."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None):
        # `clock` dates new posts (and, in the server, rate-limit resets).
        self.clock = clock or (lambda: datetime.now(UTC))
        self.authors: dict[str, FakeAuthor] = {}  # by did
        self.posts: dict[str, FakePost] = {}  # by uri
        # Live posts getPosts leaves out anyway, as the AppView does for a taken-down or
        # deactivated account's posts, or one it has not caught up with.
        self.left_out_of_get_posts: set[str] = set()
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
        created_at: datetime | None = None,
        avatar: bool = True,
    ) -> FakeAuthor:
        with self._lock:
            did = _did_for(handle)
            author = self.authors.get(did)
            if author is None:
                author = FakeAuthor(did, handle, display_name, followers, labels=list(labels))
                author.has_avatar = avatar
                if created_at is not None:
                    author.created_at = created_at
                self.authors[did] = author
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
        images: int | Sequence[SimMedia] = 0,
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
        offsets), unless given explicitly. `images`: that many photos without alt
        text, or the attachments (photos, or one video) themselves.
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
            quote = self._strong_ref(quote_of) if quote_of else None
            embed = record_embed(images, quote, _cid_for)
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
        posts = sorted(posts, key=lambda p: p.created_at)
        first_day = posts[0].created_at.date() if posts else now.date()
        with self._lock:
            known = self._sim_uris
            for sim in posts:
                if sim.platform != "bluesky" or sim.repost_of or sim.created_at > now:
                    continue
                counts = sim.engagement_at(now)
                if sim.key not in known:
                    self.add_author(
                        sim.author.handle,
                        sim.author.display_name,
                        followers=sim.author.followers,
                        created_at=sim.author.account_created(first_day),
                        avatar=sim.author.has_avatar,
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
                        images=sim.media or sim.media_count,
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

    # -- views (public so parser tests can build payloads of the real shape) ------

    def media_hosts(self) -> tuple[str, str]:
        """(image CDN, video CDN) the views address pictures at: Bluesky's own here; the
        server (FakeBluesky) answers with its loopback address, where it serves them."""
        return CDN, VIDEO_CDN

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
                # profileViewBasic.avatar: `<cdn>/img/avatar/plain/<did>/<cid>@jpeg`, as in
                # the recorded get_post_thread.body.json; absent for an account without one.
                "avatar": f"{self.media_hosts()[0]}/img/avatar/plain/{a.did}/"
                f"{'bafkrei' + _cid_for(a.did)[7:]}@jpeg",
                "associated": {"chat": {"allowIncoming": "all"}},
                "viewer": {"muted": False, "blockedBy": False},
                "labels": self._labels(
                    a.did, f"at://{a.did}/app.bsky.actor.profile/self", None, a.labels
                ),
                "createdAt": _ts(a.created_at),
            }
            if not a.display_name:
                del view["displayName"]
            if not a.has_avatar:
                del view["avatar"]
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

    def _embed_view(self, post: FakePost) -> dict[str, Any] | None:
        embed = post.record.get("embed")
        if not embed:
            return None

        def images_view(media: dict[str, Any]) -> dict[str, Any]:
            # The AppView's rendering of the blobs (thumb, fullsize, alt, aspectRatio;
            # video: playlist, thumbnail), the same builder Jetstream posts go through.
            cdn, video_cdn = self.media_hosts()
            view = embed_view(media, post.author_did, cdn=cdn, video_cdn=video_cdn)
            assert view is not None
            return view

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
        if kind in ("app.bsky.embed.images", "app.bsky.embed.video"):
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
