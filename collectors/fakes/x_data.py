"""What the fake X API serves: v2 objects built like X builds them, and X's real error bodies.

Kept apart from the server (`tagwatch.collectors.fakes.x`) so the demo and tests can
build tweets and users without starting anything. Error bodies are the real
ones (see tests/fixtures/recorded/README.md and the issue threads quoted there).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tagwatch.collectors.fakes.simulation import SimPost

__all__ = [
    "XData",
    "XState",
    "make_tweet",
    "escape_text",
    "unescape_text",
    "ts",
    "parse_time",
    "make_user",
    "snowflake",
    "matches",
    "select_tweet",
    "select_user",
    "invalid",
    "TOO_MANY_REQUESTS",
    "UNAUTHORIZED",
    "CLIENT_NOT_ENROLLED",
    "SUBSET_ACCESS_453",
    "SERVER_ERROR",
]

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

_TAG = re.compile(r"(?<!\w)#(\w+)")
_MENTION = re.compile(r"(?<!\w)@(\w{1,15})")
_URL = re.compile(r"https?://\S+")


def ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_time(value: str) -> datetime:
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
    created_at: datetime | None = None,
    media_base: str = "https://pbs.twimg.com",
) -> dict[str, Any]:
    """A v2 user object with the fields tagwatch asks for.

    `profile_image_url` is the 48px "_normal" variant, as X sends it (the recorded
    brexit page: https://pbs.twimg.com/profile_images/<id>/<name>_normal.jpg);
    `created_at` the account's creation (same page: "2015-11-16T17:03:41.000Z").
    """
    return {
        "id": id,
        "username": username,
        "name": name if name is not None else username.title(),
        "verified": verified,
        "profile_image_url": f"{media_base}/profile_images/{id}/{username}_normal.jpg",
        "created_at": ts(created_at or datetime(2015, 11, 16, 17, 3, 41, tzinfo=UTC)),
        "public_metrics": {
            "followers_count": followers,
            "following_count": 10,
            "tweet_count": 100,
            "listed_count": 0,
        },
    }


SHORT_POST = 280  # characters of a long post's `text`; the rest only in `note_tweet`

# X escapes exactly & < > in a post's text, and nothing else (see the recorded
# page tests/fixtures/recorded/twitter/search_recent_tweets_hashtag_brexit_page1
# .body.json, "Debt &amp; owned", and twitter-text-js PR #75: "tweets coming from
# twitter already have & < and > escaped"). `&` first, so "&lt;" typed by an
# author arrives as "&amp;lt;", as X sends it.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPED = re.compile(r"&(amp|lt|gt);")


def escape_text(text: str) -> str:
    """An author's text as X sends it."""
    return "".join(_ESCAPES.get(c, c) for c in text)


def unescape_text(text: str) -> str:
    """What X sent → what the author wrote (one pass; the fake's own, for retweets)."""
    return _ESCAPED.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


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

    `text` is what the author wrote; the tweet carries it HTML-escaped as X
    sends it (`escape_text`), in `text` and in `note_tweet.text` alike, with
    entity start/end counted in the escaped text, as in the recorded page
    ("And @AngelaRayner &amp; #NicolaSturgeon": the tag starts at 24).
    `referenced` is a list of (type, id) with type retweeted / quoted / replied_to.
    A text longer than 280 characters is a long post: `text` holds its first
    280 characters and `note_tweet` (sent only when asked for) the whole of it.
    """
    full = text
    if len(text) > SHORT_POST:
        text = text[:SHORT_POST]  # X counts the characters people read, not the escapes
    entities = _entities(text, urls)
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
        "text": escape_text(text),
        "edit_history_tweet_ids": [id],
        "author_id": author["id"],
        "created_at": ts(created_at),
        "lang": lang,
        "conversation_id": id,
        "possibly_sensitive": sensitive,
        "public_metrics": metrics,
    }
    if entities:
        tweet["entities"] = entities
    if full != text:
        tweet["note_tweet"] = {"text": escape_text(full), "entities": _entities(full, urls)}
    if referenced:
        tweet["referenced_tweets"] = [{"type": kind, "id": ref} for kind, ref in referenced]
        for kind, ref in referenced:
            if kind == "replied_to":
                tweet["conversation_id"] = ref
    if media_keys:
        tweet["attachments"] = {"media_keys": list(media_keys)}
    if withheld is not None:
        tweet["withheld"] = withheld
    return tweet


def _escaped_offsets(text: str) -> list[int]:
    """Where each character of `text` (and its end) starts once escaped."""
    out, at = [], 0
    for c in text:
        out.append(at)
        at += len(_ESCAPES.get(c, c))
    out.append(at)
    return out


def _entities(text: str, urls: list[str] | None) -> dict[str, Any]:
    """Entities of the author's text, their start/end counted in the escaped text."""
    pos = _escaped_offsets(text)
    entities: dict[str, Any] = {}
    tags = [
        {"start": pos[m.start()], "end": pos[m.end()], "tag": m.group(1)}
        for m in _TAG.finditer(text)
    ]
    if tags:
        entities["hashtags"] = tags
    mentions = [
        {"start": pos[m.start()], "end": pos[m.end()], "username": m.group(1)}
        for m in _MENTION.finditer(text)
    ]
    if mentions:
        entities["mentions"] = mentions
    url_entities = []
    for i, m in enumerate(_URL.finditer(text)):
        expanded = (urls or [])[i] if urls and i < len(urls) else m.group(0)
        url_entities.append(
            {
                "start": pos[m.start()],
                "end": pos[m.end()],
                "url": m.group(0),
                "expanded_url": expanded,
                "display_url": expanded.split("://", 1)[-1][:25],
            }
        )
    if url_entities:
        entities["urls"] = url_entities
    return entities


def invalid(message: str, parameter: str) -> dict[str, Any]:
    """The real 400 shape: an `errors` list plus the problem title and type."""
    return {
        "errors": [{"parameters": {parameter: []}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def matches(query: str, tweet: dict[str, Any]) -> bool:
    """The part of X's query language tagwatch uses: #tags, words, -is:retweet, OR."""
    # Search reads a long post whole, not just the first 280 characters in `text`.
    whole = tweet.get("note_tweet") or tweet
    tags = {h["tag"].casefold() for h in whole.get("entities", {}).get("hashtags", [])}
    kinds = {r["type"] for r in tweet.get("referenced_tweets", [])}
    text = unescape_text(whole.get("text", "")).casefold()  # search reads what people read
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


ALWAYS_FIELDS = ("id", "text", "edit_history_tweet_ids")


def select_tweet(tweet: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
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
    return {k: v for k, v in tweet.items() if k in ALWAYS_FIELDS or k in fields}


def select_media(item: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    """A media object's default fields (media_key, type) plus those `media.fields` asks
    (docs.x.com x-api/fundamentals/data-dictionary#media; fields-and-expansions)."""
    fields = set(filter(None, params.get("media.fields", "").split(","))) | {"media_key", "type"}
    return {k: v for k, v in item.items() if k in fields}


def select_user(user: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
    fields = set(filter(None, params.get("user.fields", "").split(","))) | {
        "id",
        "name",
        "username",
    }
    return {k: v for k, v in user.items() if k in fields}


@dataclass
class XState:
    """What one fake X holds: posts, users, media, and which posts are gone or hidden."""

    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    protected: set[str] = field(default_factory=set)


class XData:
    """Writing to a fake X: users, posts, media, deletions, a simulation's posts."""

    state: XState
    _lock: threading.Lock
    _sim_ids: dict[str, str]  # simulation key -> tweet id
    _sim_users: dict[str, dict[str, Any]]  # simulation author key -> user

    def add_user(self, id: str, username: str, name: str | None = None, **kw: Any) -> dict:
        kw.setdefault("media_base", self.media_base())
        user = make_user(id, username, name, **kw)
        self.state.users[id] = user
        return user

    def add_tweet(self, tweet: dict[str, Any]) -> dict[str, Any]:
        self.state.tweets[tweet["id"]] = tweet
        return tweet

    def add_media(
        self, media_key: str, type_: str = "photo", *, alt: str = "", name: str = ""
    ) -> dict[str, Any]:
        """A media object as X holds it: a photo has `url`, a video or animated_gif a
        `preview_image_url` (its still; the recorded brexit page's includes.media), all
        `width`/`height`, and `alt_text` when the author wrote one."""
        base = self.media_base()
        name = name or media_key
        item: dict[str, Any] = {"media_key": media_key, "type": type_}
        if type_ == "photo":
            item.update(url=f"{base}/media/{name}.jpg", width=2048, height=1356)
        else:
            folder = "tweet_video_thumb" if type_ == "animated_gif" else "ext_tw_video_thumb"
            item.update(preview_image_url=f"{base}/{folder}/{name}.jpg", width=1280, height=720)
        if alt:
            item["alt_text"] = alt
        self.state.media[media_key] = item
        return item

    def media_base(self) -> str:
        """Where media and profile images are addressed: X's CDN; the server, itself."""
        return "https://pbs.twimg.com"

    def delete(self, tweet_id: str) -> None:
        """The author deleted it: gone from search, an error in lookups."""
        self.state.tweets.pop(tweet_id, None)
        self.state.deleted.add(tweet_id)

    def protect(self, tweet_id: str) -> None:
        """Its author went protected (or was suspended): lookups answer not-authorized."""
        self.state.protected.add(tweet_id)

    def add_simulated(self, posts: Iterable[SimPost], *, now: datetime) -> dict[str, str]:
        """Publish a simulation's X posts as they stand at `now`; returns key -> tweet id.

        Call again with a later `now` to let the event move on: counts grow,
        deletions happen, new posts appear. Retweets are published too (X
        search returns them unless the query says -is:retweet), as X writes
        them: "RT @author: " and the original's text, pointing at the original.
        """
        with self._lock:
            known = self._sim_ids
            for sim in sorted(posts, key=lambda p: p.created_at):
                if sim.platform != "x" or sim.created_at > now:
                    continue
                if sim.key not in known:
                    known[sim.key] = self._publish(sim, known)
                tweet = self.state.tweets.get(known[sim.key])
                if tweet is None:
                    continue
                counts = sim.engagement_at(now)
                tweet["public_metrics"] = {
                    "retweet_count": counts["reposts"],
                    "reply_count": counts["replies"],
                    "like_count": counts["likes"],
                    "quote_count": counts["quotes"],
                    "impression_count": counts["views"],
                }
                if not sim.visible_at(now):
                    self.delete(known[sim.key])
            return dict(known)

    def _publish(self, sim: SimPost, known: dict[str, str]) -> str:
        author = self._sim_users.get(sim.author.key)
        if author is None:
            author = make_user(
                str(1_000_000_000 + len(self._sim_users)),
                sim.author.handle,
                sim.author.display_name,
                followers=sim.author.followers,
                created_at=sim.author.account_created(sim.created_at.date()),
                media_base=self.media_base(),
            )
            if not sim.author.has_avatar:  # X's stand-in for "no picture set"
                author["profile_image_url"] = (
                    "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
                )
            self._sim_users[sim.author.key] = self.state.users[author["id"]] = author
        text = sim.text
        missing = [t for t in sim.hashtags if f"#{t}".casefold() not in text.casefold()]
        if missing:
            text += " " + " ".join(f"#{t}" for t in missing)
        referenced = []
        for kind, key in (
            ("replied_to", sim.reply_to),
            ("quoted", sim.quote_of),
            ("retweeted", sim.repost_of),
        ):
            if key and key in known:
                referenced.append((kind, known[key]))
        original = self.state.tweets.get(known.get(sim.repost_of or "", ""))
        if original is not None:
            by = self.state.users.get(original["author_id"], {}).get("username", "x")
            # X builds the retweet's text from what the author wrote, then escapes it once.
            text = f"RT @{by}: {unescape_text(original['text'])}"
        kinds = {"image": ("3", "photo"), "video": ("7", "video"), "gif": ("16", "animated_gif")}
        keys = []
        if sim.media:
            for i, m in enumerate(sim.media):
                prefix, type_ = kinds[m.kind]
                keys.append(f"{prefix}_{sim.key}_{i}")
                self.add_media(keys[-1], type_, alt=m.alt, name=m.name)
        else:
            keys = [f"3_{sim.key}_{i}" for i in range(sim.media_count)]
            for key in keys:
                self.add_media(key)
        tweet = make_tweet(
            snowflake(sim.created_at, len(known)),
            text,
            author,
            created_at=sim.created_at,
            lang=sim.lang,
            referenced=referenced or None,
            media_keys=keys or None,
            sensitive=sim.sensitive,
        )
        self.state.tweets[tweet["id"]] = tweet
        return tweet["id"]
