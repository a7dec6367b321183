"""Moderation writes for the live wall: one transaction per action, always logged.

The wall itself only reads. A moderator's decision is a write, so it lives
here next to the other writes and goes through the `Store`'s single write
path. Each action updates the state and appends to `moderation_log` in the
same transaction, so the log can never disagree with what the wall showed.
Triggers (migration 4) turn every change into a `wall_events` row; nothing
here has to notify the wall.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tagwatch.errors import UsageError
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
]

# Every action the moderation page can send; the wall app validates against this.
ACTIONS = ("approve", "hide", "pin", "unpin", "block", "unblock")


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
) -> int:
    cur = store.conn.execute(
        "insert into moderation_log (at, action, post_id, author_key, detail)"
        " values (?, ?, ?, ?, ?)",
        (iso(at), action, post_id, author_key, detail),
    )
    return int(cur.lastrowid or 0)


def set_state(
    store: Store, post_id: int, state: str, *, at: datetime | None = None, detail: str = ""
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
        return _log(store, action, at=at, post_id=post_id, detail=detail)


def set_pinned(
    store: Store, post_id: int, pinned: bool, *, at: datetime | None = None, detail: str = ""
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
        return _log(store, "pin" if pinned else "unpin", at=at, post_id=post_id, detail=detail)


def block_author(
    store: Store, author: AuthorRef, *, at: datetime | None = None, post_id: int | None = None
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
            store, "block", at=at, post_id=post_id, author_key=author.key, detail=author.handle
        )


def unblock_author(
    store: Store, author: AuthorRef, *, at: datetime | None = None, post_id: int | None = None
) -> int:
    at = at or utcnow()
    with store.transaction():
        store.conn.execute(
            "delete from blocked_authors where platform = ? and author_platform_id = ?",
            (author.platform, author.platform_id),
        )
        return _log(
            store, "unblock", at=at, post_id=post_id, author_key=author.key, detail=author.handle
        )


def apply_action(
    store: Store, action: str, post_id: int, *, at: datetime | None = None, detail: str = ""
) -> int:
    """One moderation-page action on a post, by name; returns the log id."""
    if action == "approve":
        return set_state(store, post_id, "approved", at=at, detail=detail)
    if action == "hide":
        return set_state(store, post_id, "hidden", at=at, detail=detail)
    if action in ("pin", "unpin"):
        return set_pinned(store, post_id, action == "pin", at=at, detail=detail)
    if action == "block":
        return block_author(store, author_of(store, post_id), at=at, post_id=post_id)
    if action == "unblock":
        return unblock_author(store, author_of(store, post_id), at=at, post_id=post_id)
    raise UsageError(f"Unknown moderation action {action!r}; use one of: {', '.join(ACTIONS)}.")
