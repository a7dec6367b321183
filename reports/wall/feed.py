"""The wall's view of the database: which posts are on screen, and what changed.

`WallFeed` reads `wall_events` (filled by triggers from every writer) past the
last id it has seen, re-judges the posts those events touch, and turns the
difference into numbered messages: posts to show and post ids to remove. The
message number is the `wall_events` id, so it is monotonic across restarts;
a browser that reconnects with `Last-Event-ID: n` gets the messages after
`n` replayed from memory, or a full reset when `n` is older than that memory
(or from a previous database). Either way nothing is lost or shown twice.

Reports read, never write: the feed uses its own read-only connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tagwatch.reports.figures import UNKNOWN_AUTHOR_LABELS, engagement_sql
from tagwatch.reports.rows import live_totals, most_engaged
from tagwatch.reports.wall.rules import PostRow, WallRules, awaits_moderator, judge

__all__ = ["POST_SQL", "WallFeed", "Change", "post_rows"]


# Characters of a post sent to the wall: enough for any real post, bounded for hostile ones.
MAX_TEXT = 1000
# Pictures of a post a screen gets (the first is shown, the others counted), and the
# characters of each one's alt text (Mastodon allows 1500; the screen shows a line or two).
MAX_PICTURES = 4
MAX_ALT = 400

POST_SQL = f"""
select p.id, p.platform, p.platform_id, p.url, p.author_handle, p.author_name, p.text,
  p.created_at, p.lang, p.sensitive, p.no_unauthenticated, p.deleted, p.repost_of,
  p.media_count, {engagement_sql("p.")} as engagement,
  m.state, coalesce(m.pinned, 0) as pinned, m.updated_at as moderated_at,
  case when b.platform is null then 0 else 1 end as blocked,
  a.avatar_url is not null as has_avatar,
  (select json_group_array(json_array(pm.position, pm.kind, pm.alt,
     (case when pm.kind = 'image' then coalesce(pm.url, pm.preview_url)
      else pm.preview_url end) is not null))
   from post_media pm where pm.post_id = p.id) as media_json,
  p.author_id, a.account_created_at, p.links, p.mentions, p.reply_to,
  pp.author_handle as parent_handle
from posts p
left join authors a on a.id = p.author_id
left join posts pp on pp.platform = p.platform and pp.platform_id = p.reply_to
left join moderation m on m.post_id = p.id
left join blocked_authors b on b.platform = p.platform and b.author_platform_id = a.platform_id
"""


def post_rows(conn: sqlite3.Connection, ids: Iterable[int]) -> list[sqlite3.Row]:
    ids = list(ids)
    rows: list[sqlite3.Row] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows.extend(conn.execute(f"{POST_SQL} where p.id in ({marks})", chunk))
    return rows


def payload(row: PostRow) -> dict[str, Any]:
    """What the browser gets for one post: only what the wall displays."""
    text = row["text"] or ""
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return {
        "id": row["id"],
        "platform": row["platform"],
        # A platform that does not name the author (Instagram hashtag media) gets a
        # neutral label, never a guess.
        "name": row["author_name"]
        or ("" if row["author_handle"] else UNKNOWN_AUTHOR_LABELS.get(row["platform"], "")),
        "handle": row["author_handle"] or "",
        "text": text,
        "created_at": row["created_at"],
        "lang": row["lang"] or "",
        "pinned": bool(row["pinned"]),
        **pictures(row),
    }


def pictures(row: PostRow) -> dict[str, Any]:
    """What a screen needs to show a post's pictures: the wall's own addresses only.

    The platforms' addresses never reach the browser; `/wall/media/<post>/<position>` and
    `/wall/avatar/<post>` are answered by the image proxy (`media_proxy.py`). `blur`: the
    post is flagged sensitive and no moderator has approved it yet.
    """
    media = sorted(json.loads(row["media_json"] or "[]"))
    shown = [
        {"kind": kind, "alt": (alt or "")[:MAX_ALT], "src": f"/wall/media/{row['id']}/{pos}"}
        for pos, kind, alt, has_picture in media
        if has_picture
    ][:MAX_PICTURES]
    return {
        "media": shown,
        "media_count": max(int(row["media_count"] or 0), len(media)),
        "avatar": f"/wall/avatar/{row['id']}" if row["has_avatar"] else None,
        "blur": bool(row["sensitive"]) and row["state"] != "approved",
    }


@dataclass
class Change:
    """One numbered message: posts to show (new or updated) and ids to remove."""

    seq: int
    show: list[dict[str, Any]] = field(default_factory=list)
    remove: list[int] = field(default_factory=list)
    # The message as sent on the event stream, made once for every open wall (a hall of
    # 200 phones would otherwise serialise each burst 200 times); see `WallHandlers`.
    wire: str = field(default="", compare=False, repr=False)
    wire_at: float = field(default=0.0, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "show": self.show, "remove": self.remove}


@dataclass
class _Fetched:
    """What one poll read: the newest event id, and each touched post judged (its
    payload when the rules let it onto the wall, None when they do not)."""

    seq: int
    judged: list[tuple[int, dict[str, Any] | None]]
    # Of the touched posts, those a moderator should decide (held, waiting, sensitive).
    waiting: set[int] = field(default_factory=set)
    settled: set[int] = field(default_factory=set)


class _Bits:
    """A growable bit per post id: which posts the rules let onto the wall.

    One bit a post (125 KB for a million posts) instead of a payload per post,
    so the wall's memory stays flat however long the event runs.
    """

    def __init__(self) -> None:
        self._bits = bytearray()
        self.count = 0

    def __contains__(self, i: int) -> bool:
        byte = i >> 3
        return byte < len(self._bits) and bool(self._bits[byte] >> (i & 7) & 1)

    def add(self, i: int) -> None:
        byte = i >> 3
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + len(self._bits) // 2))
        if not self._bits[byte] >> (i & 7) & 1:
            self._bits[byte] |= 1 << (i & 7)
            self.count += 1

    def discard(self, i: int) -> None:
        if i in self:
            self._bits[i >> 3] &= ~(1 << (i & 7)) & 0xFF
            self.count -= 1


@dataclass
class _Loaded:
    """A whole new state, read afresh (at start, or after the database was replaced)."""

    seq: int
    visible: _Bits
    shown: dict[int, dict[str, Any]]
    waiting: set[int] = field(default_factory=set)


class WallFeed:
    """Which posts are on the wall, kept in step with the database by `poll()`.

    Two memories, both bounded: `visible` has a bit for every post the rules
    let through (for removals and counters), and `shown` keeps the payloads
    of the pinned posts and of the last `window` posts sent to the walls, in
    the order they were sent. A browser keeps the newest `max_posts` it was
    sent, in the same order, so `shown` holds everything a screen can show.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        rules: WallRules,
        *,
        max_posts: int = 30,
        memory: int = 2000,
        window: int | None = None,
    ):
        self.conn = conn
        self.rules = rules
        self.max_posts = max_posts
        self.window = window if window is not None else max(10 * max_posts, 300)
        self.seq = 0
        self.base = 0  # messages in `changes` cover ids in (base, seq]
        self.visible = _Bits()
        self.shown: dict[int, dict[str, Any]] = {}
        # Posts the rules keep off the wall until a moderator decides (a hold rule, or
        # waiting for approval): in post-moderation these, not every undecided post, are
        # the moderators' queue.
        self.waiting: set[int] = set()
        # Messages kept for browsers that reconnect: up to `memory` posts and removals
        # in all (by size, not count: one poll during a burst can carry hundreds).
        self.changes: deque[Change] = deque()
        self._held = 0
        self.memory = memory
        self.load()

    # -- reading ---------------------------------------------------------------

    def _last_event_id(self) -> int:
        return int(self.conn.execute("select coalesce(max(id), 0) from wall_events").fetchone()[0])

    def is_visible(self, post_id: int) -> bool:
        """Whether the rules let this post onto the wall (as of the last poll)."""
        return post_id in self.visible

    def load(self) -> None:
        """Judge every post afresh (at start, or when the database was replaced)."""
        self._install(self._read_all())

    def _read_all(self) -> _Loaded:
        """Every visible post's bit, and the payloads of the newest `window`; touches no
        state of the feed, so it can run in a worker thread while clients are answered."""
        seq = self._last_event_id()
        rows = self.conn.execute(
            f"{POST_SQL} where {self.rules.sql_filter()} order by p.created_at desc, p.id desc"
        )
        visible = _Bits()
        waiting: set[int] = set()
        newest: list[dict[str, Any]] = []
        pinned: list[dict[str, Any]] = []
        # In batches: the reply-rate hold rule counts replies once per batch, and memory
        # holds one batch of rows, not the whole event.
        while batch := rows.fetchmany(5000):
            for r, reason in zip(batch, judge(self.rules, self.conn, batch), strict=True):
                if reason is not None:
                    if awaits_moderator(reason):
                        waiting.add(int(r["id"]))
                    continue
                visible.add(int(r["id"]))
                if r["pinned"]:
                    pinned.append(payload(r))
                elif len(newest) < self.window:
                    newest.append(payload(r))
        return _Loaded(
            seq, visible, {p["id"]: p for p in reversed(pinned + newest)}, waiting=waiting
        )

    def _install(self, loaded: _Loaded) -> None:
        self.visible = loaded.visible
        self.shown = loaded.shown
        self.waiting = loaded.waiting
        self.seq = self.base = loaded.seq
        self.changes.clear()
        self._held = 0

    def _remember(self, post: dict[str, Any]) -> None:
        self.shown[post["id"]] = post
        unpinned = sum(1 for p in self.shown.values() if not p["pinned"])
        if unpinned > self.window:
            for post_id in [i for i, p in self.shown.items() if not p["pinned"]]:
                if unpinned <= self.window:
                    break
                del self.shown[post_id]
                unpinned -= 1

    def poll(self) -> Change | None:
        """Apply events written since the last poll; returns the change, if any is visible."""
        return self.apply(self.fetch())

    def fetch(self) -> _Fetched | _Loaded | None:
        """The database half of a poll: read the events past `seq` and judge the posts they
        touch. It changes nothing in the feed, so the hub runs it in a worker thread (a
        database locked by a VACUUM delays the next update, never an answer) and then
        `apply()`s the result on the event loop, where clients read the feed."""
        events = self.conn.execute(
            "select id, post_id, author_key from wall_events where id > ? order by id limit 10000",
            (self.seq,),
        ).fetchall()
        if not events:
            if self._last_event_id() < self.seq:
                return self._read_all()  # a different (or restored) database: start over
            return None
        ids: set[int] = set()
        for ev in events:
            if ev["post_id"] is not None:
                ids.add(int(ev["post_id"]))
            elif ev["author_key"]:
                platform, _, author_id = ev["author_key"].partition(" ")
                ids.update(
                    r[0]
                    for r in self.conn.execute(
                        "select p.id from posts p join authors a on a.id = p.author_id"
                        " where p.platform = ? and a.platform_id = ?",
                        (platform, author_id),
                    )
                )
        batch = post_rows(self.conn, ids)
        found = {r["id"]: r for r in batch}
        reasons = dict(zip(found, judge(self.rules, self.conn, batch), strict=True))
        judged: list[tuple[int, dict[str, Any] | None]] = []
        waiting: set[int] = set()
        for post_id in sorted(ids):
            row = found.get(post_id)
            visible = row is not None and reasons[post_id] is None
            judged.append((post_id, payload(row) if visible and row is not None else None))
            if row is not None and awaits_moderator(reasons[post_id]):
                waiting.add(post_id)
        return _Fetched(int(events[-1]["id"]), judged, waiting, set(ids) - waiting)

    def apply(self, fetched: _Fetched | _Loaded | None) -> Change | None:
        """The memory half of a poll (no database): what `fetch()` read becomes a change."""
        if fetched is None:
            return None
        if isinstance(fetched, _Loaded):
            self._install(fetched)
            return None
        change = Change(fetched.seq)
        # A new set, not an in-place change: the moderators' queue reads it from a worker
        # thread, and a set changed while another thread iterates it raises.
        self.waiting = (self.waiting - fetched.settled) | fetched.waiting
        for post_id, new in fetched.judged:
            if new is None:
                if post_id in self.visible:
                    # Removed even when no longer in `shown`: a screen may still hold it.
                    self.visible.discard(post_id)
                    self.shown.pop(post_id, None)
                    change.remove.append(post_id)
                continue
            old = self.shown.get(post_id)
            if old is None and post_id in self.visible and not new["pinned"]:
                # Visible long ago and off every screen by now: an edit does not bring
                # an old post back as if it were new.
                continue
            self.visible.add(post_id)
            if new != old:
                self._remember(new)
                change.show.append(new)
        self.seq = fetched.seq
        if not change.show and not change.remove:
            return None
        change.show.sort(key=lambda p: (p["created_at"], p["id"]))
        # A screen keeps only its newest `max_posts` (wall.js, at least 4) besides the
        # pinned ones: older posts of a burst would be dropped on arrival, so they are not
        # sent to every phone in the hall at all. Removals always go out whole.
        keep = max(4, self.max_posts)
        unpinned = [p["id"] for p in change.show if not p["pinned"]]
        if len(unpinned) > keep:
            stale = set(unpinned[: len(unpinned) - keep])
            change.show = [p for p in change.show if p["id"] not in stale]
        self.changes.append(change)
        self._held += len(change.show) + len(change.remove)
        while self._held > self.memory and len(self.changes) > 1:
            dropped = self.changes.popleft()
            self._held -= len(dropped.show) + len(dropped.remove)
            self.base = dropped.seq
        return change

    # -- answering clients ---------------------------------------------------------

    def recent(self) -> list[dict[str, Any]]:
        """Pinned posts plus the newest `max_posts`, oldest first (the order they arrive in)."""
        posts = sorted(self.shown.values(), key=lambda p: (p["created_at"], p["id"]), reverse=True)
        keep = posts[: self.max_posts] + [p for p in posts[self.max_posts :] if p["pinned"]]
        return list(reversed(keep))

    def snapshot(self) -> dict[str, Any]:
        return {"seq": self.seq, "reset": True, "show": self.recent(), "remove": []}

    def changes_after(self, last: int | None) -> list[Change] | None:
        """Messages a client that saw up to `last` has missed; None means "send a reset"."""
        if last is None or last < self.base or last > self.seq:
            return None
        return [c for c in self.changes if c.seq > last]

    def merged_after(self, last: int | None) -> dict[str, Any]:
        """The poll endpoint's answer: everything since `last` folded into one message."""
        missed = self.changes_after(last)
        if missed is None:
            return self.snapshot()
        show: dict[int, dict[str, Any]] = {}
        remove: set[int] = set()
        for c in missed:
            for p in c.show:
                show[p["id"]] = p
                remove.discard(p["id"])
            for i in c.remove:
                show.pop(i, None)
                remove.add(i)
        return {
            "seq": self.seq,
            "reset": False,
            "show": list(show.values()),
            "remove": sorted(remove),
        }

    # -- counters and highlights ---------------------------------------------------

    def stats(
        self,
        start: datetime,
        end: datetime,
        *,
        top: int = 5,
        conn: sqlite3.Connection | None = None,
    ) -> dict[str, Any]:
        """Live counters for a period, and its most engaging posts that are on the wall.

        Counters count every collected post (numbers reveal no content), reposts
        included, with the figures layer's rules (`tagwatch.reports.rows.live_totals`), so
        the wall, the morning digest and the impact report agree; the highlights
        come only from posts the rules let onto the wall. `conn`: the hub counts on a
        connection of its own, so a long count never holds up the next poll.
        """
        conn = conn or self.conn
        # The figures layer's own SQL: the digest's and the report's counting rules
        # (authors by stable id, one engagement), without loading the period.
        totals = live_totals(conn, start, end)
        highlights: list[dict[str, Any]] = []
        if self.visible.count:
            candidates = [
                (post_id, n)
                for post_id, n in most_engaged(conn, start, end, top * 20)
                if post_id in self.visible
            ][:top]
            rows = {r["id"]: r for r in post_rows(conn, [i for i, _ in candidates])}
            for post_id, n in candidates:
                p = self.shown.get(post_id) or (payload(rows[post_id]) if post_id in rows else None)
                if p is not None:
                    highlights.append({**p, "engagement": n})
        return {
            "posts": totals.posts,
            "people": totals.authors,
            "engagement": totals.engagement,
            # Platforms whose counts are unknown: left out of "engagement", not 0.
            "engagement_leaves_out": list(totals.counts_unknown),
            "on_wall": self.visible.count,
            "top": highlights,
        }
