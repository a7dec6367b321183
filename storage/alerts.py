"""Alerts and their deliveries, and the bounded reads the alert rules make (issue 22).

Why here: storage is the only code that writes SQL, and the rules run after
every stored page, so every read they make is written once, here, where its
cost can be seen: each one is a range on an index (`posts.created_at`,
`post_mentions.handle`, `posts(platform, platform_id)`) over a window of
minutes, or a `limit`, never a scan of the whole table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tagwatch.records import iso
from tagwatch.storage.db import Store

__all__ = [
    "AlertRow",
    "StoredExample",
    "open_alert",
    "last_resolved",
    "insert_alert",
    "resolve_alert",
    "open_alerts",
    "recent_alerts",
    "has_alerts",
    "with_deliveries",
    "alerts_between",
    "alerts_since",
    "add_delivery",
    "finish_delivery",
    "queued_deliveries",
    "deliveries_of",
    "sent_on_day",
    "window_counts",
    "first_post_at",
    "window_examples",
    "aimed_posts",
    "authors_seen_before",
    "recent_engagement",
    "ENGAGEMENT_SQL",
]

# Unknown counts (NULL) add nothing: the same definition as the figures layer.
ENGAGEMENT_SQL = (
    "coalesce(p.likes, 0) + coalesce(p.reposts, 0) + coalesce(p.replies, 0) + coalesce(p.quotes, 0)"
)


@dataclass(frozen=True)
class StoredExample:
    """A post an alert links to. `text` is None for an author who restricts logged-out
    viewing (`no_unauthenticated`): their words are never quoted, only linked."""

    url: str
    author: str
    platform: str
    text: str | None
    engagement: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "author": self.author,
            "platform": self.platform,
            "text": self.text,
            "engagement": self.engagement,
        }


@dataclass(frozen=True)
class AlertRow:
    id: int
    kind: str
    cause: str
    target: str
    title: str
    lines: tuple[str, ...]
    examples: tuple[StoredExample, ...]
    facts: dict[str, Any]
    fired_at: str
    resolved_at: str | None

    @classmethod
    def of(cls, row: sqlite3.Row) -> AlertRow:
        return cls(
            id=row["id"],
            kind=row["kind"],
            cause=row["cause"],
            target=row["target"] or "",
            title=row["title"],
            lines=tuple(json.loads(row["lines"] or "[]")),
            examples=tuple(StoredExample(**e) for e in json.loads(row["examples"] or "[]")),
            facts=json.loads(row["facts"] or "{}"),
            fired_at=row["fired_at"],
            resolved_at=row["resolved_at"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "cause": self.cause,
            "target": self.target,
            "title": self.title,
            "lines": list(self.lines),
            "examples": [e.as_dict() for e in self.examples],
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
        }


# -- alerts ---------------------------------------------------------------------


def open_alert(conn: sqlite3.Connection, cause: str) -> AlertRow | None:
    row = conn.execute(
        "select * from alerts where cause = ? and resolved_at is null order by id desc limit 1",
        (cause,),
    ).fetchone()
    return AlertRow.of(row) if row else None


def open_alerts(conn: sqlite3.Connection, kinds: Iterable[str] | None = None) -> list[AlertRow]:
    rows = conn.execute("select * from alerts where resolved_at is null order by id").fetchall()
    wanted = set(kinds) if kinds is not None else None
    return [AlertRow.of(r) for r in rows if wanted is None or r["kind"] in wanted]


def last_resolved(conn: sqlite3.Connection, cause: str) -> str | None:
    """When the cause was last back to normal (for the cooldown), or None."""
    row = conn.execute(
        "select max(resolved_at) from alerts where cause = ? and resolved_at is not null",
        (cause,),
    ).fetchone()
    return row[0] if row else None


def last_fired(conn: sqlite3.Connection, kind: str) -> str | None:
    """When the newest alert of this kind fired (UTC ISO text), or None."""
    row = conn.execute("select max(fired_at) from alerts where kind = ?", (kind,)).fetchone()
    return row[0] if row and row[0] else None


def insert_alert(
    store: Store,
    *,
    kind: str,
    cause: str,
    target: str,
    title: str,
    lines: Sequence[str],
    examples: Sequence[StoredExample],
    facts: dict[str, Any],
    at: datetime,
) -> int:
    with store.transaction() as conn:
        cur = conn.execute(
            "insert into alerts (kind, cause, target, title, lines, examples, facts, fired_at)"
            " values (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind,
                cause,
                target,
                title,
                json.dumps(list(lines), ensure_ascii=False),
                json.dumps([e.as_dict() for e in examples], ensure_ascii=False),
                json.dumps(facts, ensure_ascii=False, default=str),
                iso(at),
            ),
        )
        return int(cur.lastrowid or 0)


def resolve_alert(store: Store, alert_id: int, *, at: datetime) -> None:
    with store.transaction() as conn:
        conn.execute(
            "update alerts set resolved_at = ? where id = ? and resolved_at is null",
            (iso(at), alert_id),
        )


def recent_alerts(
    conn: sqlite3.Connection, *, since: datetime | None = None, limit: int = 20
) -> list[AlertRow]:
    """Newest first; `since` keeps those fired or still on since then."""
    if since is None:
        rows = conn.execute("select * from alerts order by id desc limit ?", (limit,))
    else:
        rows = conn.execute(
            "select * from alerts where fired_at >= ? or resolved_at is null or resolved_at >= ?"
            " order by id desc limit ?",
            (iso(since), iso(since), limit),
        )
    return [AlertRow.of(r) for r in rows]


def has_alerts(conn: sqlite3.Connection) -> bool:
    """Whether the alert tables exist: a reader on a file no writer has migrated yet."""
    row = conn.execute(
        "select 1 from sqlite_master where type = 'table' and name = 'alerts'"
    ).fetchone()
    return row is not None


def with_deliveries(conn: sqlite3.Connection, alert: AlertRow) -> dict[str, Any]:
    """The alert as plain data, with what became of each message sent about it."""
    out = alert.as_dict()
    out["deliveries"] = [
        {k: d[k] for k in ("channel", "message", "status", "reason", "sent_at")}
        for d in deliveries_of(conn, alert.id)
    ]
    return out


def alerts_between(
    conn: sqlite3.Connection, start: datetime, end: datetime, *, limit: int = 200
) -> list[dict[str, Any]]:
    """Alerts fired in [start, end), newest first, with their deliveries: the digest's day.

    A range on the `fired_at` index; [] when the alert tables do not exist yet.
    """
    if not has_alerts(conn):
        return []
    rows = conn.execute(
        "select * from alerts where fired_at >= ? and fired_at < ? order by fired_at desc, id desc"
        " limit ?",
        (iso(start), iso(end), limit),
    ).fetchall()
    return [with_deliveries(conn, AlertRow.of(r)) for r in rows]


def alerts_since(
    conn: sqlite3.Connection, since: datetime, *, limit: int = 20
) -> list[dict[str, Any]]:
    """Alerts fired, or still on, since `since`, newest first, with their deliveries."""
    if not has_alerts(conn):
        return []
    return [with_deliveries(conn, a) for a in recent_alerts(conn, since=since, limit=limit)]


# -- deliveries -----------------------------------------------------------------


def add_delivery(
    store: Store,
    *,
    alert_id: int | None,
    channel: str,
    message: str,
    status: str,
    local_day: str,
    at: datetime,
    reason: str | None = None,
) -> int:
    with store.transaction() as conn:
        cur = conn.execute(
            "insert into alert_deliveries (alert_id, channel, message, status, reason,"
            " queued_at, local_day) values (?, ?, ?, ?, ?, ?, ?)",
            (alert_id, channel, message, status, reason, iso(at), local_day),
        )
        return int(cur.lastrowid or 0)


def finish_delivery(
    store: Store,
    delivery_id: int,
    *,
    status: str,
    attempts: int,
    at: datetime,
    reason: str | None = None,
) -> None:
    with store.transaction() as conn:
        conn.execute(
            "update alert_deliveries set status = ?, attempts = ?, reason = ?,"
            " sent_at = case when ? = 'sent' then ? else sent_at end where id = ?",
            (status, attempts, reason, status, iso(at), delivery_id),
        )


def queued_deliveries(conn: sqlite3.Connection) -> list[int]:
    """Deliveries a stopped runner left unsent: the next one sends them."""
    return [
        r[0]
        for r in conn.execute("select id from alert_deliveries where status = 'queued' order by id")
    ]


def deliveries_of(conn: sqlite3.Connection, alert_id: int) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in conn.execute(
            "select * from alert_deliveries where alert_id = ? order by id", (alert_id,)
        )
    ]


def delivery(conn: sqlite3.Connection, delivery_id: int) -> dict[str, Any] | None:
    row = conn.execute("select * from alert_deliveries where id = ?", (delivery_id,)).fetchone()
    return dict(row) if row else None


def alert_by_id(conn: sqlite3.Connection, alert_id: int) -> AlertRow | None:
    row = conn.execute("select * from alerts where id = ?", (alert_id,)).fetchone()
    return AlertRow.of(row) if row else None


def sent_on_day(conn: sqlite3.Connection, channel: str, local_day: str) -> int:
    """Deliveries counted against the daily cap: sent, or queued to be sent."""
    row = conn.execute(
        "select count(*) from alert_deliveries where channel = ? and local_day = ?"
        " and status in ('sent', 'queued') and message != 'test'",
        (channel, local_day),
    ).fetchone()
    return int(row[0])


# -- the rules' reads -------------------------------------------------------------


def window_counts(conn: sqlite3.Connection, since: datetime, until: datetime) -> dict[str, int]:
    """Posts per platform created in [since, until): a range of the created_at index."""
    rows = conn.execute(
        "select platform, count(*) from posts where created_at >= ? and created_at < ?"
        " and deleted = 0 group by platform",
        (iso(since), iso(until)),
    )
    return {r[0]: int(r[1]) for r in rows}


def first_post_at(conn: sqlite3.Connection, platform: str) -> str | None:
    """The platform's first stored post: before it, the event has no history to compare."""
    row = conn.execute(
        "select min(created_at) from posts where platform = ?", (platform,)
    ).fetchone()
    return row[0] if row else None


def _example(row: sqlite3.Row) -> StoredExample:
    restricted = bool(row["no_unauthenticated"])
    return StoredExample(
        url=row["url"] or "",
        author=row["author_handle"] or "",
        platform=row["platform"],
        text=None if restricted else (row["text"] or ""),
        engagement=int(row["engagement"] or 0),
    )


def window_examples(
    conn: sqlite3.Connection, platform: str, since: datetime, until: datetime, *, limit: int = 3
) -> list[StoredExample]:
    """The most engaged-with posts of the window (reposts left out): what drives a surge."""
    rows = conn.execute(
        f"select p.url, p.author_handle, p.platform, p.text, p.no_unauthenticated,"
        f" {ENGAGEMENT_SQL} as engagement from posts p"
        " where p.created_at >= ? and p.created_at < ? and p.platform = ? and p.deleted = 0"
        " and p.repost_of is null order by engagement desc, p.created_at desc limit ?",
        (iso(since), iso(until), platform, limit),
    )
    return [_example(r) for r in rows]


def aimed_posts(
    conn: sqlite3.Connection, since: datetime, until: datetime, handles: Sequence[str]
) -> list[dict[str, Any]]:
    """Posts of the window that mention, or reply to a post of, one of `handles`.

    Each row has `target` (the handle aimed at, as listed), the post's text,
    author, url, tone (NULL until enriched) and whether its author restricts
    logged-out viewing. Handles compare case-folded, without '@'.
    """
    if not handles:
        return []
    wanted = {h.casefold().lstrip("@"): h for h in handles}
    marks = ",".join("?" * len(wanted))
    columns = (
        "p.id, p.platform, p.url, p.author_id, p.author_handle, p.text, p.created_at,"
        " p.sentiment_polarity, p.no_unauthenticated, p.lang"
    )
    window = "p.created_at >= ? and p.created_at < ? and p.deleted = 0 and p.repost_of is null"
    args = (iso(since), iso(until))
    out: dict[tuple[int, str], dict[str, Any]] = {}
    # Mentions (stored case-folded, without '@'): the post_mentions(handle) index
    # narrows to the listed accounts first.
    for r in conn.execute(
        f"select {columns}, m.handle as target from post_mentions m"
        f" join posts p on p.id = m.post_id where m.handle in ({marks}) and {window}",
        (*wanted, *args),
    ):
        out[(r["id"], r["target"])] = dict(r)
    # Replies: the window's replies, their parents found through (platform, platform_id).
    for r in conn.execute(
        f"select {columns}, lower(q.author_handle) as target from posts p"
        " join posts q on q.platform = p.platform and q.platform_id = p.reply_to"
        f" where p.reply_to is not null and {window} and lower(q.author_handle) in ({marks})",
        (*args, *wanted),
    ):
        out.setdefault((r["id"], r["target"]), dict(r))
    rows = []
    for row in out.values():
        row["target"] = wanted.get(row["target"], row["target"])
        if (row["author_handle"] or "").casefold().lstrip("@") != row["target"].casefold():
            rows.append(row)  # an account talking about itself piles onto nobody
    return rows


def authors_seen_before(
    conn: sqlite3.Connection, author_ids: Iterable[int], before: datetime
) -> set[int]:
    """Of these authors, those with a stored post older than `before` (the author_id index)."""
    ids = sorted({a for a in author_ids if a is not None})
    seen: set[int] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        seen |= {
            r[0]
            for r in conn.execute(
                f"select distinct author_id from posts where author_id in ({marks})"
                " and created_at < ?",
                (*chunk, iso(before)),
            )
        }
    return seen


def recent_engagement(
    conn: sqlite3.Connection, since: datetime, *, limit: int
) -> list[dict[str, Any]]:
    """The newest `limit` posts since `since` with their engagement: the typical post's sample.

    Newest first along the created_at index, so the cost is `limit` rows
    whatever the size of the table.
    """
    return [
        dict(r)
        for r in conn.execute(
            f"select p.id, p.platform, p.platform_id, p.url, p.author_handle, p.text,"
            f" p.no_unauthenticated, p.created_at, {ENGAGEMENT_SQL} as engagement from posts p"
            " where p.created_at >= ? and p.deleted = 0 and p.repost_of is null"
            " order by p.created_at desc limit ?",
            (iso(since), limit),
        )
    ]
