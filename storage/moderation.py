"""Moderation writes for the live wall: one transaction per action, always logged.

The wall itself only reads. A moderator's decision is a write, so it lives
here next to the other writes and goes through the `Store`'s single write
path. Each action updates the state and appends to `moderation_log` in the
same transaction, so the log can never disagree with what the wall showed.
Triggers (migration 4) turn every change into a `wall_events` row; nothing
here has to notify the wall.

Every action names its `moderator` (issue #21): the moderator's name from
`[wall] moderators`, or None when the caller is no person (a script, a test),
stored as NULL (unknown). An action may also say which state the moderator saw
(`seen`): when another moderator decided the post first, it raises
`AlreadyDecided` and changes nothing, so two people on one queue never undo
each other's decision by a click on a stale page.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tagwatch.errors import AlreadyDecided, UsageError
from tagwatch.records import iso, utcnow
from tagwatch.storage.db import Store

__all__ = [
    "ACTIONS",
    "AuthorRef",
    "apply_action",
    "set_state",
    "set_pinned",
    "block_author",
    "unblock_author",
    "author_of",
    "STATES",
    "decision_of",
    "recent_actions",
]

# Every action the moderation page can send; the wall app validates against this.
ACTIONS = ("approve", "hide", "pin", "unpin", "block", "unblock")
# What a post can be, as a moderator sees it; `seen` takes one of these.
STATES = ("pending", "approved", "hidden", "blocked")
# What the log's actions mean in "already approved by ana".
_DONE = {
    "approve": "approved",
    "hide": "hidden",
    "pin": "pinned",
    "unpin": "unpinned",
    "block": "blocked (author)",
    "unblock": "unblocked (author)",
    "reset": "put back in the queue",
}


@dataclass(frozen=True)
class AuthorRef:
    platform: str
    platform_id: str
    handle: str

    @property
    def key(self) -> str:
        """How `moderation_log.author_key` and `wall_events.author_key` name an author."""
        return f"{self.platform} {self.platform_id}"


def author_of(store: Store, post_id: int) -> AuthorRef:
    row = store.conn.execute(
        "select p.platform, a.platform_id, coalesce(a.handle, p.author_handle) as handle"
        " from posts p left join authors a on a.id = p.author_id where p.id = ?",
        (post_id,),
    ).fetchone()
    if row is None:
        raise UsageError(f"No post with id {post_id}.")
    if row["platform_id"] is None:
        raise UsageError(f"Post {post_id} has no known author (deleted upstream).")
    return AuthorRef(row["platform"], row["platform_id"], row["handle"] or "")


def _require_post(store: Store, post_id: int) -> None:
    row = store.conn.execute("select deleted from posts where id = ?", (post_id,)).fetchone()
    if row is None:
        raise UsageError(f"No post with id {post_id}.")
    if row["deleted"]:
        raise UsageError(f"Post {post_id} was deleted upstream; it is never shown.")


def _log(
    store: Store,
    action: str,
    *,
    at: datetime,
    post_id: int | None = None,
    author_key: str | None = None,
    detail: str = "",
    moderator: str | None = None,
) -> int:
    cur = store.conn.execute(
        "insert into moderation_log (at, action, post_id, author_key, detail, moderator)"
        " values (?, ?, ?, ?, ?, ?)",
        (iso(at), action, post_id, author_key, detail, moderator),
    )
    return int(cur.lastrowid or 0)


def set_state(
    store: Store,
    post_id: int,
    state: str,
    *,
    at: datetime | None = None,
    detail: str = "",
    moderator: str | None = None,
) -> int:
    """Approve or hide one post; returns the moderation_log id of the action."""
    if state not in ("approved", "hidden", "pending"):
        raise UsageError(f"Unknown moderation state {state!r}.")
    at = at or utcnow()
    action = {"approved": "approve", "hidden": "hide", "pending": "reset"}[state]
    with store.transaction():
        _require_post(store, post_id)
        store.conn.execute(
            "insert into moderation (post_id, state, pinned, updated_at) values (?, ?, 0, ?)"
            " on conflict(post_id) do update set state = excluded.state,"
            " pinned = case when excluded.state = 'approved' then moderation.pinned else 0 end,"
            " updated_at = excluded.updated_at",
            (post_id, state, iso(at)),
        )
        return _log(store, action, at=at, post_id=post_id, detail=detail, moderator=moderator)


def set_pinned(
    store: Store,
    post_id: int,
    pinned: bool,
    *,
    at: datetime | None = None,
    detail: str = "",
    moderator: str | None = None,
) -> int:
    """Pin (which also approves) or unpin a post."""
    at = at or utcnow()
    with store.transaction():
        _require_post(store, post_id)
        if pinned:
            store.conn.execute(
                "insert into moderation (post_id, state, pinned, updated_at)"
                " values (?, 'approved', 1, ?) on conflict(post_id) do update set"
                " state = 'approved', pinned = 1, updated_at = excluded.updated_at",
                (post_id, iso(at)),
            )
        else:
            store.conn.execute(
                "update moderation set pinned = 0, updated_at = ? where post_id = ?",
                (iso(at), post_id),
            )
        action = "pin" if pinned else "unpin"
        return _log(store, action, at=at, post_id=post_id, detail=detail, moderator=moderator)


def block_author(
    store: Store,
    author: AuthorRef,
    *,
    at: datetime | None = None,
    post_id: int | None = None,
    moderator: str | None = None,
) -> int:
    """Block an author: all their posts leave the wall, now and in future."""
    at = at or utcnow()
    with store.transaction():
        store.conn.execute(
            "insert into blocked_authors (platform, author_platform_id, handle, at)"
            " values (?, ?, ?, ?) on conflict(platform, author_platform_id) do update set"
            " handle = excluded.handle",
            (author.platform, author.platform_id, author.handle, iso(at)),
        )
        return _log(
            store,
            "block",
            at=at,
            post_id=post_id,
            author_key=author.key,
            detail=author.handle,
            moderator=moderator,
        )


def unblock_author(
    store: Store,
    author: AuthorRef,
    *,
    at: datetime | None = None,
    post_id: int | None = None,
    moderator: str | None = None,
) -> int:
    at = at or utcnow()
    with store.transaction():
        store.conn.execute(
            "delete from blocked_authors where platform = ? and author_platform_id = ?",
            (author.platform, author.platform_id),
        )
        return _log(
            store,
            "unblock",
            at=at,
            post_id=post_id,
            author_key=author.key,
            detail=author.handle,
            moderator=moderator,
        )


def decision_of(store: Store, post_id: int) -> tuple[str, dict[str, Any] | None]:
    """A post's state as moderators see it (one of STATES) and the log row that decided it
    (None when nobody has: a post still pending, or decided before the log named anyone)."""
    row = store.conn.execute(
        "select coalesce(m.state, 'pending') as state, b.platform is not null as blocked,"
        " a.platform || ' ' || a.platform_id as author_key"
        " from posts p left join moderation m on m.post_id = p.id"
        " left join authors a on a.id = p.author_id"
        " left join blocked_authors b"
        "   on b.platform = p.platform and b.author_platform_id = a.platform_id"
        " where p.id = ?",
        (post_id,),
    ).fetchone()
    if row is None:
        raise UsageError(f"No post with id {post_id}.")
    state = "blocked" if row["blocked"] else row["state"]
    if state == "pending":
        return state, None
    if state == "blocked":
        last = store.conn.execute(
            "select * from moderation_log where action = 'block' and author_key = ?"
            " order by id desc limit 1",
            (row["author_key"],),
        ).fetchone()
    else:
        last = store.conn.execute(
            "select * from moderation_log where post_id = ?"
            " and action in ('approve', 'hide', 'pin', 'unpin', 'reset')"
            " order by id desc limit 1",
            (post_id,),
        ).fetchone()
    return state, dict(last) if last is not None else None


def _check_seen(store: Store, post_id: int, seen: str, at: datetime) -> None:
    if seen not in STATES:
        raise UsageError(f"Unknown post state {seen!r}; use one of: {', '.join(STATES)}.")
    state, last = decision_of(store, post_id)
    if state == seen:
        return
    by = last["moderator"] if last else None
    what = _DONE.get(last["action"], state) if last else state
    when = ""
    if last:
        ago = (at - datetime.fromisoformat(last["at"])).total_seconds()
        when = f" {max(0, round(ago))} s ago"
    who = f" by {by}" if by else ""
    raise AlreadyDecided(
        f"Post {post_id} was already {what}{who}{when}; nothing changed.", state=state, by=by
    )


def apply_action(
    store: Store,
    action: str,
    post_id: int,
    *,
    at: datetime | None = None,
    detail: str = "",
    moderator: str | None = None,
    seen: str | None = None,
) -> int:
    """One moderation-page action on a post, by name; returns the log id.

    `seen`: the post's state on the moderator's screen; when it is no longer that
    (another moderator decided first), raises AlreadyDecided and changes nothing.
    """
    if action not in ACTIONS:
        raise UsageError(f"Unknown moderation action {action!r}; use one of: {', '.join(ACTIONS)}.")
    at = at or utcnow()
    with store.transaction():  # the check and the change, with no other writer between
        if seen is not None:
            _check_seen(store, post_id, seen, at)
        if action == "approve":
            return set_state(store, post_id, "approved", at=at, detail=detail, moderator=moderator)
        if action == "hide":
            return set_state(store, post_id, "hidden", at=at, detail=detail, moderator=moderator)
        if action in ("pin", "unpin"):
            return set_pinned(
                store, post_id, action == "pin", at=at, detail=detail, moderator=moderator
            )
        if action == "block":
            return block_author(
                store, author_of(store, post_id), at=at, post_id=post_id, moderator=moderator
            )
        return unblock_author(
            store, author_of(store, post_id), at=at, post_id=post_id, moderator=moderator
        )


def recent_actions(
    conn: sqlite3.Connection, *, after: int | None = None, limit: int = 20
) -> list[dict[str, Any]]:
    """The newest moderation actions, oldest first (after log id `after`, when given)."""
    rows = conn.execute(
        "select id, at, action, post_id, author_key, detail, moderator from moderation_log"
        " where id > ? order by id desc limit ?",
        (after or 0, limit),
    ).fetchall()
    return [dict(r) for r in reversed(rows)]
