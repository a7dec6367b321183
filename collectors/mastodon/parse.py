"""Mastodon parsing: pure functions of a Status JSON, no network.

`parse_status` turns one Status (as an instance delivers it) into `Post`s;
`html_to_text` reads Mastodon's status HTML as its author meant the text.
Mastodon's HTML, accounts without a domain and boosts are dealt with here
and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from tagwatch.collectors.base import normalizer
from tagwatch.records import Author, Media, Post, lenient_iso, parse_iso

__all__ = ["parse_status", "html_to_text", "host"]


# -- HTML → text ----------------------------------------------------------------

_BLOCKS = frozenset(
    {"p", "div", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre"}
)


def html_to_text(html: str) -> str:
    """Mastodon's status HTML as plain text: paragraphs apart, line breaks kept.

    Entities are decoded by the parser; a link becomes its text, which for
    Mastodon is the whole URL (the "invisible" spans hold its hidden parts),
    ``#<span>tag</span>`` becomes ``#tag``. Whitespace inside text collapses
    as a browser would show it.
    """
    soup = BeautifulSoup(html or "", "html.parser")
    out: list[str] = []

    def walk(node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                raw = str(child)
                words = " ".join(raw.split())
                if raw[:1].isspace():
                    words = " " + words
                if raw[-1:].isspace() and words.strip():
                    words += " "
                out.append(words)
            elif isinstance(child, Tag):
                name = child.name.lower()
                # "quote-inline" is the "RE: <link>" fallback for clients without quote
                # posts; the quote itself is kept as `quote_of`.
                if name in ("script", "style") or "quote-inline" in (child.get("class") or ()):
                    continue
                if name == "br":
                    out.append("\n")
                elif name in _BLOCKS:
                    out.append("\n\n")
                    walk(child)
                    out.append("\n\n")
                else:
                    walk(child)

    walk(soup)
    lines = [" ".join(line.split()) for line in "".join(out).split("\n")]
    # Collapse runs of blank lines into one paragraph break.
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()


def _links(html: str) -> list[str]:
    """Hrefs of real links; mentions and hashtags are links too but carry a 'mention' class."""
    soup = BeautifulSoup(html or "", "html.parser")
    links: list[str] = []
    for a in soup.find_all("a", href=True):
        classes: list[str] = list(a.get("class") or [])
        rel: list[str] = list(a.get("rel") or [])
        if "mention" in classes or "hashtag" in classes or "tag" in rel:
            continue
        links.append(str(a["href"]))
    return links


# -- Status JSON → Post ------------------------------------------------------------


def host(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _full_acct(acct: str, domain: str) -> str:
    """Local accounts come back as bare ``user``: give them the instance's domain."""
    return acct if "@" in acct else f"{acct}@{domain}"


@normalizer("Mastodon")
def parse_status(
    status: dict[str, Any],
    *,
    instance: str,
    domain: str,
    collected_at: datetime | None = None,
) -> list[Post]:
    """One Status as delivered by `instance` (whose accounts live on `domain`) → Posts.

    A plain status gives one Post. A boost gives two: the boosted original
    and the relation row (see `tagwatch.collectors.mastodon.collector`). Raises MalformedResponse
    on a status that lacks required fields or has them in the wrong type.
    """
    extra: dict[str, Any] = {} if collected_at is None else {"collected_at": collected_at}
    original = status.get("reblog")
    if original:
        booster = status["account"]
        inner = parse_status(original, instance=instance, domain=domain, collected_at=collected_at)
        relation = Post(
            platform="mastodon",
            platform_id=status["uri"],
            url=status.get("url") or original.get("url") or original["uri"],
            author=_author(booster, domain),
            text="",
            created_at=parse_iso(status["created_at"]),
            repost_of=original["uri"],
            source=instance,
            raw=status,
            **extra,
        )
        return [*inner, relation]
    account = status["account"]
    body = html_to_text(status.get("content") or "")
    spoiler = (status.get("spoiler_text") or "").strip()
    text = f"CW: {spoiler}\n\n{body}".strip() if spoiler else body
    links = _links(status.get("content") or "")
    card = status.get("card") or {}
    if card.get("url"):
        links.append(card["url"])
    quote = status.get("quote") or {}
    quoted = quote.get("quoted_status") if isinstance(quote, dict) else None
    reply_to = status.get("in_reply_to_id")
    return [
        Post(
            platform="mastodon",
            platform_id=status["uri"],
            url=status.get("url") or status["uri"],
            author=_author(account, domain),
            text=text,
            created_at=parse_iso(status["created_at"]),
            lang=status.get("language") or None,
            hashtags=tuple(t["name"] for t in status.get("tags") or ()),
            mentions=tuple(_full_acct(m["acct"], domain) for m in status.get("mentions") or ()),
            links=tuple(links),
            # Mastodon gives only the parent's local id: keep an address that resolves to it.
            reply_to=f"{instance}/api/v1/statuses/{reply_to}" if reply_to else None,
            quote_of=quoted.get("uri") if isinstance(quoted, dict) else None,
            likes=int(status.get("favourites_count") or 0),
            reposts=int(status.get("reblogs_count") or 0),
            replies=int(status.get("replies_count") or 0),
            quotes=int(status.get("quotes_count") or 0),
            media_count=len(status.get("media_attachments") or ()),
            media=_media(status.get("media_attachments") or ()),
            sensitive=bool(status.get("sensitive")) or bool(spoiler),
            # `noindex`: the author asked not to be shown to search engines and strangers.
            no_unauthenticated=bool(account.get("noindex")),
            source=instance,
            raw=status,
            **extra,
        )
    ]


def _author(account: dict[str, Any], domain: str) -> Author:
    followers = account.get("followers_count")
    return Author(
        platform_id=account.get("uri") or account["url"],
        handle=_full_acct(account["acct"], domain),
        display_name=account.get("display_name") or "",
        followers=int(followers) if followers is not None else None,
        # `avatar_static` is the still version of an animated avatar (Account entity,
        # docs.joinmastodon.org/entities/Account/#avatar_static); `avatar` is the fallback.
        avatar_url=_avatar(account),
        # Account.created_at: "When the account was created" (since 0.1.0); Mastodon 3.4+
        # rounds it to midnight of that day, which is precise enough for "account age".
        account_created_at=lenient_iso(account.get("created_at")),
    )


# MediaAttachment.type (docs.joinmastodon.org/entities/MediaAttachment/#type): image,
# gifv ("looping, soundless animation"), video, audio, unknown. Audio and unknown (a
# remote file the instance could not process) have no picture a screen could show.
_KINDS = {"image": "image", "gifv": "gif", "video": "video"}


def _media(attachments: Any) -> tuple[Media, ...]:
    """MediaAttachment entities → Media, in the author's order; audio/unknown left out."""
    out: list[Media] = []
    for a in attachments if isinstance(attachments, list) else ():
        kind = _KINDS.get(str(a.get("type"))) if isinstance(a, dict) else None
        if kind is None:
            continue
        # meta.original: the file's own size; meta.small: the preview's (all the
        # instance knows of some remote files). Both are "Metadata returned by Paperclip".
        meta = a.get("meta") if isinstance(a.get("meta"), dict) else {}
        size = meta.get("original") or meta.get("small") or {}
        out.append(
            Media(
                kind=kind,
                # `url`: the file on this instance (for a remote file it has not fetched,
                # null; `remote_url` is then the origin's copy).
                url=_text(a.get("url")) or _text(a.get("remote_url")),
                preview_url=_text(a.get("preview_url")),
                alt=_text(a.get("description")) or "",  # "Alternate text that describes..."
                width=_int(size.get("width")) if isinstance(size, dict) else None,
                height=_int(size.get("height")) if isinstance(size, dict) else None,
            )
        )
    return tuple(out)


def _avatar(account: dict[str, Any]) -> str | None:
    """The author's own picture; None for the instance's stand-in for "none set".

    An account without a picture is sent `/avatars/original/missing.png` (Mastodon's
    app/models/concerns/account/avatar.rb default_url): a grey silhouette the wall
    can draw itself rather than fetch.
    """
    url = _text(account.get("avatar_static")) or _text(account.get("avatar"))
    return None if url is None or url.endswith("/avatars/original/missing.png") else url


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
