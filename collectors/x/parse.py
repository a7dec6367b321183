"""X parsing: pure functions of a v2 response page, no network.

`parse_page` joins a page's `includes.users` to its posts and gives `Post`s;
`page_resources` lists what X bills a page for; `lookup_errors` reads which
posts a lookup could not return. X's escaped text and its expansions are dealt
with here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tagwatch.collectors.base import normalizer
from tagwatch.errors import MalformedResponse
from tagwatch.records import Author, Media, Post, lenient_iso, parse_iso

__all__ = [
    "parse_page",
    "parse_tweet",
    "page_resources",
    "lookup_errors",
    "unescape_text",
    "GONE",
]

GONE = {
    "https://api.twitter.com/2/problems/resource-not-found": "deleted",
    "https://api.twitter.com/2/problems/not-authorized-for-resource": "not authorized",
}

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
        avatar_url=_avatar(user.get("profile_image_url")),
        account_created_at=lenient_iso(user.get("created_at")),
    )


def _avatar(url: Any) -> str | None:
    """The 73×73 "bigger" variant of X's 48×48 "normal" profile image.

    X sends `profile_image_url` as the "normal" variant; the documented variants
    differ by a suffix only (developer.x.com/en/docs/accounts-and-users/
    user-profile-images-and-banners: _normal 48px, _bigger 73px, _mini 24px, none
    for the original, which can be any size).
    """
    # No picture set: X's default egg/silhouette (abs.twimg.com/sticky/default_profile_images).
    if not isinstance(url, str) or not url or "/default_profile_images/" in url:
        return None
    return re.sub(r"_normal(\.\w+)$", r"_bigger\1", url)


# Media object `type` (data-dictionary#media): photo, video, animated_gif.
_KINDS = {"photo": "image", "video": "video", "animated_gif": "gif"}


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _media(tweet: dict[str, Any], media: dict[str, dict[str, Any]]) -> tuple[Media, ...]:
    """The post's media objects from `includes.media`, in its `attachments.media_keys` order.

    Only there when `[x] media` asked for them (`expansions=attachments.media_keys`);
    `url` is given for photos only, `preview_image_url` (the still) for videos and
    GIFs; the video file itself would need `variants`, which a screen never plays.
    """
    keys = (tweet.get("attachments") or {}).get("media_keys") or []
    out = []
    for key in keys if isinstance(keys, list) else ():
        item = media.get(str(key))
        kind = _KINDS.get(str(item.get("type"))) if item else None
        if item is None or kind is None:
            continue
        url, preview = item.get("url"), item.get("preview_image_url")
        alt = item.get("alt_text")
        out.append(
            Media(
                kind,
                url if isinstance(url, str) and url else None,
                preview if isinstance(preview, str) and preview else None,
                alt if isinstance(alt, str) else "",
                _size(item.get("width")),
                _size(item.get("height")),
            )
        )
    return tuple(out)


@normalizer("X")
def parse_tweet(
    tweet: dict[str, Any],
    users: dict[str, dict[str, Any]],
    *,
    collected_at: datetime,
    source: str = "x",
    media: dict[str, dict[str, Any]] | None = None,
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
        media=_media(tweet, media or {}),
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
    media = {
        str(m["media_key"]): m
        for m in includes.get("media") or []
        if isinstance(m, dict) and "media_key" in m
    }
    posts = [
        parse_tweet(t, users, collected_at=collected_at, source=source, media=media)
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
            posts.append(
                parse_tweet(tweet, users, collected_at=collected_at, source=source, media=media)
            )
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
