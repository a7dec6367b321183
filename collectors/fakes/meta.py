"""Loopback fakes of Meta's Threads API and Instagram API with Facebook Login.

Real HTTP servers on 127.0.0.1 answering the few calls tagwatch makes, shaped
from Meta's published reference (each behaviour notes its source):

- Error bodies ``{"error": {"message", "type", "code", "error_subcode",
  "fbtrace_id"}}`` with HTTP 400 (Graph API guide "Handling Errors": 190 token
  expired, 4/17/32/613 throttling, 100 invalid parameter or object).
- Usage headers: ``X-App-Usage`` ``{"call_count", "total_cputime",
  "total_time"}`` (Graph API "Rate Limiting"), and on Instagram
  ``X-Business-Use-Case-Usage`` ``{"<business id>": [{"type": "instagram",
  "call_count", "total_cputime", "total_time",
  "estimated_time_to_regain_access"}]}`` (same page; minutes).
- Graph paging ``{"data": [...], "paging": {"cursors": {"before", "after"},
  "next"}}``, ``next`` only while another page follows.
- ``/debug_token?input_token=`` → ``{"data": {"type", "application",
  "expires_at", "is_valid", "issued_at", "scopes", "user_id"}}`` (Threads
  "Debug Access Token", Graph API "debug_token" reference).
- Tokens in ``Authorization: Bearer`` or ``access_token=`` (Graph API accepts
  both).

Not modelled: the error Meta returns for a 31st Instagram hashtag (the
reference does not show it; tagwatch refuses before asking), and the exact
value of Instagram's hashtag-edge ``after`` cursor (the reference says it
repeats on every page; here it encodes the offset, and tagwatch relies only on
``next``, as the reference advises).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tagwatch.collectors.fakes.graph import (
    FakeGraph,
    GraphRequest,
    graph_time,
    parse_graph_time,
)

if TYPE_CHECKING:
    from tagwatch.collectors.fakes.simulation import SimPost

__all__ = ["FakeThreads", "FakeInstagram", "GraphRequest", "graph_time"]

_TAG = re.compile(r"(?<![\w#])#(\w+)")


def _fields(spec: str | None) -> dict[str, str | None]:
    """A Graph `fields` list, with field expansion (`children{media_type,media_url}`):
    top-level name -> its nested list, or None."""
    out: dict[str, str | None] = {}
    depth, start = 0, 0
    spec = spec or "id"
    for i, c in enumerate(spec + ","):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if c == "," and depth == 0:
            item = spec[start:i].strip()
            name, _, nested = item.partition("{")
            if name:
                out[name] = nested[:-1] if nested else None
            start = i + 1
    return out


def _shape(media: dict[str, Any], spec: str | None) -> dict[str, Any]:
    """The fields asked (and `id`), as the Graph API answers; `children` is an edge of
    ids unless expanded with fields of its own."""
    fields = _fields(spec)
    out = {k: v for k, v in media.items() if k in fields or k == "id"}
    if "children" in out:
        nested = fields.get("children")
        out["children"] = {"data": [_shape(c, nested) for c in media["children"]["data"]]}
    return out


def _sim_media(base: str, sim: SimPost) -> dict[str, Any]:
    """A simulated post's pictures as Meta's media fields (IMAGE/VIDEO/CAROUSEL_ALBUM),
    addressed at the fake itself (the loopback base serves `/media/`)."""

    def one(kind: str, name: str, alt: str) -> dict[str, Any]:
        item: dict[str, Any] = {"media_type": "VIDEO" if kind == "video" else "IMAGE"}
        if kind == "video":
            item.update(
                media_url=f"{base}/media/{name}.mp4", thumbnail_url=f"{base}/media/{name}.jpg"
            )
        else:
            item["media_url"] = f"{base}/media/{name}.jpg"
        if alt:
            item["alt_text"] = alt
        return item

    items = [one(m.kind, m.name, m.alt) for m in sim.media]
    if not items:
        return {}
    if len(items) == 1:
        return items[0]
    children = [{"id": f"{sim.key}{i}", **c} for i, c in enumerate(items)]
    return {
        "media_type": "CAROUSEL_ALBUM",
        "media_url": items[0]["media_url"],
        "children": {"data": children},
    }


class FakeThreads(FakeGraph):
    """Threads: ``/v1.0/keyword_search``, ``/v1.0/me``, ``/v1.0/{media-id}``.

    Keyword search (Threads "Keyword and Topic Tag Search"): ``search_mode=TAG``
    matches the post's topic tag, ``search_type=RECENT`` newest first, ``since``
    and ``until`` in Unix seconds, ``limit`` at most 100. Without the
    ``threads_keyword_search`` approval (`approved=False`) only the token
    owner's posts are searched. Results carry no counts (media object fields).
    """

    def __init__(self, *, owner: str = "tagwatch_owner", approved: bool = True, **kw: Any):
        kw.setdefault("scopes", ("threads_basic", "threads_keyword_search") if approved else ())
        super().__init__(**kw)
        self.owner = owner
        self.approved = approved
        self.media: dict[str, dict[str, Any]] = {}
        self.counted = 0  # searches that returned posts: what Meta counts against 2,200
        self._next = 18000000000000000
        self._sim_ids: dict[str, str] = {}

    def post(
        self,
        username: str,
        text: str,
        *,
        at: datetime,
        topic_tag: str | None = None,
        media_type: str = "TEXT_POST",
        **extra: Any,
    ) -> dict[str, Any]:
        self._next += 1
        media_id = str(self._next)
        media = {
            "id": media_id,
            "media_product_type": "THREADS",
            "media_type": media_type,
            "permalink": f"https://www.threads.net/@{username}/post/C{media_id[-8:]}",
            "username": username,
            "text": text,
            "timestamp": graph_time(at),
            "shortcode": f"C{media_id[-8:]}",
            "is_quote_post": False,
            "is_reply": False,
            "has_replies": False,
            **({"topic_tag": topic_tag} if topic_tag else {}),
            **extra,
        }
        with self.lock:
            self.media[media_id] = media
        return media

    def delete(self, media_id: str) -> None:
        with self.lock:
            self.media.pop(media_id, None)

    def add_simulated(self, posts: Iterable[SimPost], *, now: datetime) -> dict[str, str]:
        """Publish a simulation's Threads posts as they stand at `now`; returns key -> media id.

        Call again with a later `now`: new posts appear, deleted ones go (and
        answer code 100 from then on). A post's first hashtag is its topic tag:
        Threads gives a post at most one ("Keyword and Topic Tag Search": TAG
        mode matches the topic tag). Replies and quotes point at their parent
        as the media object's ``replied_to``/``quoted_post`` ``{"id"}`` do.
        Nothing else changes over time: search results carry no counts.
        """
        known = self._sim_ids
        for sim in sorted(posts, key=lambda p: p.created_at):
            if sim.platform != "threads" or sim.created_at > now:
                continue
            if sim.key not in known:
                extra: dict[str, Any] = {}
                if sim.reply_to and sim.reply_to in known:
                    extra.update(is_reply=True, replied_to={"id": known[sim.reply_to]})
                if sim.quote_of and sim.quote_of in known:
                    extra.update(is_quote_post=True, quoted_post={"id": known[sim.quote_of]})
                pictures = _sim_media(self.url, sim)
                if len(sim.media) > 1:  # a Threads album's own media_url: not documented
                    pictures.pop("media_url", None)
                extra.update(pictures)
                extra.setdefault("media_type", "IMAGE" if sim.media_count else "TEXT_POST")
                media = self.post(
                    sim.author.handle,
                    sim.text,
                    at=sim.created_at,
                    topic_tag=sim.hashtags[0] if sim.hashtags else None,
                    **extra,
                )
                known[sim.key] = media["id"]
            if not sim.visible_at(now):
                self.delete(known[sim.key])
        return dict(known)

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == "/v1.0/me":
            return 200, {"id": "1000", "username": self.owner}
        if path == "/v1.0/keyword_search":
            return self.search(query)
        media_id = path.rsplit("/", 1)[-1]
        if path.startswith("/v1.0/") and media_id.isdigit():
            media = self.media.get(media_id)
            return (200, dict(media)) if media is not None else self.gone(media_id)
        return 400, self.error(100, f"Unknown path components: {path}", kind="OAuthException")

    def search(self, query: dict[str, str]) -> tuple[int, Any]:
        q = query.get("q", "").lstrip("#").casefold()
        if not q:
            return 400, self.error(100, "The parameter q is required", kind="OAuthException")
        limit = int(query.get("limit") or 25)
        if limit > 100:
            return 400, self.error(100, "(#100) limit must be at most 100", kind="OAuthException")
        since = int(query["since"]) if query.get("since") else None
        until = int(query["until"]) if query.get("until") else None
        tag_mode = query.get("search_mode", "KEYWORD") == "TAG"
        with self.lock:
            pool = list(self.media.values())
        found = []
        for m in pool:
            if not self.approved and m["username"] != self.owner:
                continue
            ts = int(parse_graph_time(m["timestamp"]).timestamp())
            if (since is not None and ts < since) or (until is not None and ts > until):
                continue
            tags = {str(m.get("topic_tag") or "").casefold()}
            if not tag_mode:
                tags |= {t.casefold() for t in _TAG.findall(m.get("text") or "")}
            if q in tags or (not tag_mode and q in (m.get("text") or "").casefold()):
                found.append(m)
        found.sort(key=lambda m: (m["timestamp"], m["id"]), reverse=True)
        shaped = [_shape(m, query.get("fields")) for m in found]
        status, body = self.page(shaped, query, limit, "/v1.0/keyword_search")
        if body.get("data"):
            self.counted += 1
        return status, body


class FakeInstagram(FakeGraph):
    """Instagram API with Facebook Login: ig_hashtag_search, hashtag edges, one media.

    From the reference: recent_media holds media of the last 24 hours, newest
    first; top_media the most popular; both at most 50 a page, ``user_id``
    required, the ``username`` field refused; media without ``like_count`` when
    their owner hides likes.
    """

    usage_header = "X-Business-Use-Case-Usage"

    def __init__(self, *, version: str = "v21.0", user_id: str = "17841400000000001", **kw: Any):
        kw.setdefault("scopes", ("instagram_basic", "pages_read_engagement"))
        super().__init__(**kw)
        self.version = version
        self.user_id = user_id
        self.hashtags: dict[str, str] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.searched: list[str] = []  # hashtags asked for through ig_hashtag_search
        self._next = 17900000000000000
        self._sim_ids: dict[str, str] = {}

    def _usage(self, percent: int) -> tuple[str, str]:
        entry = {
            "type": "instagram",
            "call_count": percent,
            "total_cputime": percent // 2,
            "total_time": percent // 2,
            "estimated_time_to_regain_access": self.regain_minutes if percent >= 100 else 0,
        }
        return self.usage_header, json.dumps({"1784140000000000": [entry]})

    def hashtag_id(self, name: str) -> str:
        key = name.casefold()
        if key not in self.hashtags:
            self.hashtags[key] = str(17843000000000000 + len(self.hashtags) + 1)
        return self.hashtags[key]

    def post(
        self,
        caption: str,
        *,
        at: datetime,
        likes: int | None = 0,
        comments: int = 0,
        media_type: str = "IMAGE",
    ) -> dict[str, Any]:
        self._next += 1
        media_id = str(self._next)
        media: dict[str, Any] = {
            "id": media_id,
            "caption": caption,
            "comments_count": comments,
            "media_type": media_type,
            # Instagram's CDN (scontent...cdninstagram.com); a started fake's own address.
            "media_url": (
                f"{self.url}/media/ig-{media_id}.jpg"
                if self._server is not None
                else f"https://scontent.cdninstagram.com/v/{media_id}.jpg"
            ),
            "permalink": f"https://www.instagram.com/p/C{media_id[-9:]}/",
            "timestamp": graph_time(at),
        }
        if likes is not None:
            media["like_count"] = likes
        with self.lock:
            self.media[media_id] = media
        return media

    def delete(self, media_id: str) -> None:
        with self.lock:
            self.media.pop(media_id, None)

    def add_simulated(self, posts: Iterable[SimPost], *, now: datetime) -> dict[str, str]:
        """Publish a simulation's Instagram posts as they stand at `now`; returns key -> media id.

        Call again with a later `now`: likes and comments grow, deleted posts
        go, new ones appear. One post in ten hides its like count, which the
        reference says leaves ``like_count`` out of the media object.
        """
        known = self._sim_ids
        for sim in sorted(posts, key=lambda p: p.created_at):
            if sim.platform != "instagram" or sim.created_at > now:
                continue
            counts = sim.engagement_at(now)
            hides_likes = int(sim.key.lstrip("p") or 0) % 10 == 3
            if sim.key not in known:
                posted = self.post(sim.text, at=sim.created_at)
                with self.lock:
                    posted.update(_sim_media(self.url, sim))
                known[sim.key] = posted["id"]
            with self.lock:
                media = self.media.get(known[sim.key])
                if media is not None:
                    media["comments_count"] = counts["replies"]
                    if hides_likes:
                        media.pop("like_count", None)
                    else:
                        media["like_count"] = counts["likes"]
            if not sim.visible_at(now):
                self.delete(known[sim.key])
        return dict(known)

    def route(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        prefix = f"/{self.version}/"
        if not path.startswith(prefix):
            return 400, self.error(100, f"Unknown path components: {path}", kind="OAuthException")
        rest = path[len(prefix) :]
        if rest == "ig_hashtag_search":
            if query.get("user_id") != self.user_id or not query.get("q"):
                return 400, self.error(100, "(#100) user_id and q are required")
            self.searched.append(query["q"].casefold())
            return 200, {"data": [{"id": self.hashtag_id(query["q"])}]}
        parts = rest.split("/")
        if len(parts) == 2 and parts[1] in ("recent_media", "top_media"):
            return self.edge(parts[0], parts[1], query, path)
        if len(parts) == 1 and parts[0].isdigit():
            media = self.media.get(parts[0])
            if media is None:
                return self.gone(parts[0])
            return 200, _shape(media, query.get("fields"))
        return 400, self.error(100, f"Unknown path components: {path}", kind="OAuthException")

    def edge(self, hashtag_id: str, edge: str, query: dict[str, str], path: str) -> tuple[int, Any]:
        if query.get("user_id") != self.user_id:
            return 400, self.error(100, "(#100) The parameter user_id is required")
        fields = _fields(query.get("fields"))
        if "username" in fields:
            return 400, self.error(100, "(#100) Tried accessing nonexisting field (username)")
        limit = int(query.get("limit") or 25)
        if limit > 50:
            return 400, self.error(100, "(#100) The parameter limit must be at most 50")
        name = next((n for n, i in self.hashtags.items() if i == hashtag_id), None)
        if name is None:
            return self.gone(hashtag_id)
        with self.lock:
            pool = [
                m
                for m in self.media.values()
                if name in {t.casefold() for t in _TAG.findall(m.get("caption") or "")}
            ]
        if edge == "recent_media":
            cutoff = self.now() - timedelta(hours=24)
            pool = [m for m in pool if parse_graph_time(m["timestamp"]) >= cutoff]
            pool.sort(key=lambda m: (m["timestamp"], m["id"]), reverse=True)
        else:
            pool.sort(key=lambda m: m.get("like_count", 0) + m["comments_count"], reverse=True)
        shaped = [_shape(m, query.get("fields")) for m in pool]
        return self.page(shaped, query, limit, path)
