"""The statuses a fake Mastodon instance holds, and a simulation published onto several.

Split from `tagwatch.collectors.fakes.mastodon` (the server and its API): this is
what a test writes (`toot`, `federate`, `boost`, `edit`, `delete`) and what the
demo publishes (`publish_simulated`); the shapes are Mastodon's Status and
Account entities as the recorded answers in tests/fixtures/recorded/mastodon show.
"""

from __future__ import annotations

import copy
import html
import threading
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from tagwatch.collectors.fakes.mastodon import FakeMastodon
    from tagwatch.collectors.fakes.simulation import SimMedia, SimPost

__all__ = ["MastodonStatuses", "snowflake_id", "iso_ms", "publish_simulated", "LOCAL_DOMAINS"]

# Web host (127.0.0.1:port) → the account domain of the fake instance serving there,
# so a status federated elsewhere names its author with the origin's domain.
LOCAL_DOMAINS: dict[str, str] = {}


def snowflake_id(at: datetime, salt: str = "") -> int:
    """A Mastodon-style id: milliseconds since the epoch in the high bits, a sequence below.

    Ids grow with time, as on a real instance; the salt makes the low bits
    differ between instances, so one status has a different id on each.
    """
    ms = int(at.timestamp() * 1000)
    return (ms << 16) | (zlib.crc32(salt.encode()) & 0xFFFF)


def iso_ms(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}Z"
    )


class MastodonStatuses:
    """The statuses and accounts of one fake instance (the server adds the API on top)."""

    base_url: str
    domain: str
    statuses: dict[int, dict[str, Any]]
    _accounts: dict[str, int]
    _by_uri: dict[str, int]
    _lock: threading.Lock

    def _account(self, username: str, **fields: Any) -> dict[str, Any]:
        if not self.base_url:
            raise RuntimeError("start() the fake instance first: its domain is its port")
        with self._lock:
            acc_id = self._accounts.setdefault(
                username, 110_000_000_000_000_000 + len(self._accounts)
            )
        # Account.created_at; Mastodon 3.4+ sends it rounded to midnight UTC of the day.
        created = fields.pop("created_at", None) or "2016-03-16T00:00:00.000Z"
        # No picture of one's own: the instance's default, /avatars/original/missing.png
        # (app/models/concerns/account/avatar.rb default_url). With one: the fake's own file.
        avatar = (
            f"{self.base_url}/media/avatar-{username}.png"
            if fields.pop("has_avatar", False)
            else f"{self.base_url}/avatars/original/missing.png"
        )
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
            "avatar": avatar,
            "avatar_static": avatar,
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
        media: int | Sequence[SimMedia] = 0,
        emojis: Iterable[str] = (),
        in_reply_to_id: str | None = None,
        followers: int = 0,
        display_name: str | None = None,
        noindex: bool = False,
        avatar: bool = False,
        account_created: datetime | None = None,
    ) -> dict[str, Any]:
        """Write a public status on this instance (its origin); returns it as served here.

        `content` is the HTML Mastodon would render; `mentions` are accts as seen
        from here (``bob`` for a local account, ``bob@other.example`` otherwise).
        `media`: that many photos without alt text, or the attachments themselves.
        """
        extra: dict[str, Any] = {"followers_count": followers, "noindex": noindex}
        extra["has_avatar"] = avatar
        if account_created is not None:
            extra["created_at"] = account_created.astimezone(UTC).strftime("%Y-%m-%dT00:00:00.000Z")
        if display_name is not None:
            extra["display_name"] = display_name
        account = self._account(username, **extra)
        local_id = snowflake_id(created_at, self.domain)
        uri = f"{self.base_url}/users/{username}/statuses/{local_id}"
        status: dict[str, Any] = {
            "id": str(local_id),
            "created_at": iso_ms(created_at),
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
                self._attachment(str(local_id + i + 1), kind, name, alt)
                for i, (kind, name, alt) in enumerate(_attachments(media, local_id))
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

    def _attachment(self, media_id: str, kind: str, name: str, alt: str) -> dict[str, Any]:
        """A MediaAttachment entity (docs.joinmastodon.org/entities/MediaAttachment/).

        Images: `url` the original, `preview_url` the "small" rendition, `meta.original`
        and `meta.small` their sizes. A video or gifv: `url` the mp4 and `preview_url` a
        still frame (Mastodon makes it from the video); `meta.original` adds frame_rate
        and duration. `description` is the alt text, null when the author wrote none.
        """
        base = f"{self.base_url}/media/{name}"
        original: dict[str, Any] = {"width": 1280, "height": 960, "size": "1280x960"}
        original["aspect"] = 1280 / 960
        if kind != "image":
            original.update({"frame_rate": "30/1", "duration": 12.5, "bitrate": 900_000})
        return {
            "id": media_id,
            "type": "gifv" if kind == "gif" else kind,
            "url": f"{base}.mp4" if kind != "image" else f"{base}.jpg",
            "preview_url": f"{base}-small.jpg",
            "remote_url": None,
            "preview_remote_url": None,
            "text_url": None,
            "meta": {
                "original": original,
                "small": {"width": 640, "height": 480, "size": "640x480", "aspect": 4 / 3},
                "focus": {"x": 0.0, "y": 0.0},
            },
            "description": alt or None,
            "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
        }

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
        origin = LOCAL_DOMAINS.get(host, host)
        here = copy.deepcopy(status)
        local_id = snowflake_id(datetime.fromisoformat(status["created_at"]), self.domain)
        here["id"] = str(local_id)
        here["account"]["acct"] = self._acct_from(here["account"]["acct"], origin)
        for m in here["mentions"]:
            m["acct"] = self._acct_from(m["acct"], origin)
        for tag in here["tags"]:
            tag["url"] = f"{self.base_url}/tags/{tag['name']}"
        origin_base = status["uri"].split("/users/", 1)[0]
        for media in here["media_attachments"]:
            # A remote file as the instance caches it: `url` its own copy, `remote_url`
            # (and preview_remote_url) the origin's.
            media["remote_url"], media["preview_remote_url"] = media["url"], media["preview_url"]
            for key in ("url", "preview_url"):
                media[key] = media[key].replace(origin_base, self.base_url, 1)
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
            "created_at": iso_ms(at),
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
            edited_at=iso_ms(at),
        )

    def delete(self, status: dict[str, Any]) -> None:
        found = self.find(status["uri"])
        if found is not None:
            with self._lock:
                del self.statuses[int(found["id"])]
                del self._by_uri[found["uri"]]


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
    first_day = min((p.created_at for p in posts), default=now).date()
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
                media=sim.media or sim.media_count,
                avatar=sim.author.has_avatar,
                account_created=sim.author.account_created(first_day),
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


def _attachments(media: int | Sequence[SimMedia], local_id: int) -> list[tuple[str, str, str]]:
    if isinstance(media, int):
        return [("image", f"{local_id}-{i}", "") for i in range(media)]
    return [(m.kind, m.name, m.alt) for m in media]


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
