"""Forward-only schema migrations.

Each migration runs in one transaction together with its bookkeeping row in
`schema_migrations`, so a crash mid-migration leaves the previous version intact.
A database made by an older tagwatch opens in a newer one by running the
missing steps in order; nothing is ever dropped that holds user data.

To change the schema, append a function to MIGRATIONS; never edit a released one.
Steps name tables with `db.table(name)`, not `db[name]`, which may be a view and
so is typed as one that has no `create()`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable

import sqlite_utils

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "current_version"]


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("authors").create(
        {
            "id": int,
            "platform": str,
            "platform_id": str,
            "handle": str,
            "display_name": str,
            "followers": int,
            "followers_checked_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"platform", "platform_id", "handle"},
    )
    db.table("authors").create_index(["platform", "platform_id"], unique=True)
    db.table("authors").create_index(["platform", "handle"])
    db.table("posts").create(
        {
            "id": int,
            "platform": str,
            "platform_id": str,
            "url": str,
            "author_id": int,
            "author_handle": str,
            "author_name": str,
            "text": str,
            "created_at": str,
            "collected_at": str,
            "updated_at": str,
            "lang": str,
            "hashtags": str,
            "mentions": str,
            "links": str,
            "reply_to": str,
            "quote_of": str,
            "repost_of": str,
            "likes": int,
            "reposts": int,
            "replies": int,
            "quotes": int,
            "views": int,
            "media_count": int,
            "sensitive": int,
            "no_unauthenticated": int,
            "source": str,
            "raw": str,
            "deleted": int,
            "deleted_at": str,
        },
        pk="id",
        not_null={"platform", "platform_id", "created_at"},
        defaults={
            "likes": 0,
            "reposts": 0,
            "replies": 0,
            "quotes": 0,
            "media_count": 0,
            "sensitive": 0,
            "no_unauthenticated": 0,
            "deleted": 0,
        },
        foreign_keys=[("author_id", "authors", "id")],
    )
    db.table("posts").create_index(["platform", "platform_id"], unique=True)
    db.table("posts").create_index(["created_at"])
    db.table("posts").create_index(["author_id"])
    db.table("post_hashtags").create(
        {"post_id": int, "tag": str},
        pk=("post_id", "tag"),
        foreign_keys=[("post_id", "posts", "id")],
    )
    db.table("post_hashtags").create_index(["tag"])
    db.table("post_mentions").create(
        {"post_id": int, "handle": str},
        pk=("post_id", "handle"),
        foreign_keys=[("post_id", "posts", "id")],
    )
    db.table("post_mentions").create_index(["handle"])
    db.table("snapshots").create(
        {
            "id": int,
            "post_id": int,
            "at": str,
            "likes": int,
            "reposts": int,
            "replies": int,
            "quotes": int,
            "views": int,
        },
        pk="id",
        foreign_keys=[("post_id", "posts", "id")],
    )
    db.table("snapshots").create_index(["post_id", "at"])
    db.table("runs").create(
        {
            "id": int,
            "collector": str,
            "started_at": str,
            "ended_at": str,
            "status": str,
            "requests": int,
            "new_posts": int,
            "updated_posts": int,
            "error": str,
            "details": str,
        },
        pk="id",
    )
    db.table("runs").create_index(["collector", "started_at"])
    db.table("cursors").create(
        {"collector": str, "query": str, "value": str, "updated_at": str},
        pk=("collector", "query"),
    )


def _m002_search_and_moderation(db: sqlite_utils.Database) -> None:
    db.table("posts").enable_fts(
        ["text", "author_handle", "author_name"], create_triggers=True, tokenize="unicode61"
    )
    db.table("moderation").create(
        {"post_id": int, "state": str, "pinned": int, "updated_at": str},
        pk="post_id",
        defaults={"state": "pending", "pinned": 0},
        foreign_keys=[("post_id", "posts", "id")],
    )
    db.table("moderation").create_index(["state"])
    db.table("moderation_log").create(
        {"id": int, "at": str, "action": str, "post_id": int, "author_key": str, "detail": str},
        pk="id",
    )
    db.table("blocked_authors").create(
        {"platform": str, "author_platform_id": str, "handle": str, "at": str},
        pk=("platform", "author_platform_id"),
    )


def _m003_enrichment_and_budget(db: sqlite_utils.Database) -> None:
    posts = db.table("posts")
    for column, kind in [
        ("lang_detected", str),
        ("sentiment_polarity", float),
        ("sentiment_subjectivity", float),
        ("noun_phrases", str),
        ("session", str),
        ("enriched_at", str),
    ]:
        posts.add_column(column, kind)
    posts.create_index(["enriched_at"])
    # Posts read from a paid API, one row per post per UTC day: the unit X bills.
    db.table("paid_reads").create(
        {"platform": str, "day": str, "platform_id": str},
        pk=("platform", "day", "platform_id"),
    )
    db.table("streams").create(
        {
            "name": str,
            "state": str,
            "cursor": str,
            "last_event_at": str,
            "connected_at": str,
            "error": str,
            "updated_at": str,
        },
        pk="name",
    )


def _m004_wall_events(db: sqlite_utils.Database) -> None:
    """A monotonic log of every change that can alter what the live wall shows.

    Triggers fill it from whichever connection writes (collectors inserting or
    deleting posts, moderators acting), so the wall needs no cooperation from
    writers: it reads `wall_events` past its last id. AUTOINCREMENT keeps ids
    from ever being reused, which is what lets a browser resume from its
    Last-Event-ID without loss or repeat.
    """
    now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
    db.execute(
        "create table wall_events (id integer primary key autoincrement, at text not null,"
        " kind text not null, post_id integer, author_key text)"
    )
    watched = "text, author_handle, author_name, sensitive, no_unauthenticated, deleted, repost_of"
    changed = " or ".join(f"old.{c.strip()} is not new.{c.strip()}" for c in watched.split(","))
    statements = [
        f"create trigger wall_events_post_insert after insert on posts begin"
        f" insert into wall_events (at, kind, post_id) values ({now}, 'post', new.id); end",
        f"create trigger wall_events_post_update after update of {watched} on posts"
        f" when {changed} begin"
        f" insert into wall_events (at, kind, post_id) values ({now}, 'post', new.id); end",
    ]
    for op, row in (("insert", "new"), ("update", "new"), ("delete", "old")):
        statements.append(
            f"create trigger wall_events_moderation_{op} after {op} on moderation begin"
            f" insert into wall_events (at, kind, post_id)"
            f" values ({now}, 'moderation', {row}.post_id); end"
        )
    for op, row in (("insert", "new"), ("delete", "old")):
        statements.append(
            f"create trigger wall_events_block_{op} after {op} on blocked_authors begin"
            f" insert into wall_events (at, kind, author_key)"
            f" values ({now}, 'author', {row}.platform || ' ' || {row}.author_platform_id); end"
        )
    for sql in statements:
        db.execute(sql)


def _m005_fts_on_text_changes_only(db: sqlite_utils.Database) -> None:
    """Re-index a post's full text only when its text or author changed.

    The update trigger sqlite-utils made fires on every update of a row, so
    each engagement refresh and each enrichment re-indexed the unchanged text:
    about 30 microseconds a post, a sixth of enrichment's time per post.
    """
    columns = ("text", "author_handle", "author_name")
    changed = " or ".join(f'old."{c}" is not new."{c}"' for c in columns)
    listed = ", ".join(f'"{c}"' for c in columns)
    db.execute('drop trigger if exists "posts_au"')
    db.execute(
        f'create trigger "posts_au" after update of {listed} on "posts" when {changed} begin'
        f' insert into "posts_fts" ("posts_fts", rowid, {listed})'
        f' values (\'delete\', old.rowid, old."text", old."author_handle", old."author_name");'
        f' insert into "posts_fts" (rowid, {listed})'
        f' values (new.rowid, new."text", new."author_handle", new."author_name"); end'
    )


# A copy, not an import: a released migration must never change with later code.
_X_ESCAPED = re.compile(r"&(amp|lt|gt);")
_X_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}


def _m006_x_text_as_written(db: sqlite_utils.Database) -> None:
    """X posts stored by earlier versions still carry X's escaping: undo it, once.

    X sends & < > as &amp; &lt; &gt; and tagwatch stored that as sent, so the
    wall, digest, report and export showed "Rights &amp; freedoms". One
    substitution pass over exactly those three entities (an author's own
    "&amp;lt;" becomes "&lt;", as typed). The posts' update trigger re-indexes
    the full text; what was derived from the old text (language guess,
    sentiment, themes) is cleared so enrichment does it again, as for an edit.
    This step runs once (schema_migrations), which is what keeps it from
    decoding twice.
    """
    conn = db.conn
    rows = conn.execute(
        "select id, text from posts where platform = 'x' and text like '%&%;%'"
    ).fetchall()
    for post_id, text in rows:
        fixed = _X_ESCAPED.sub(lambda m: _X_UNESCAPED[m.group(1)], text)
        if fixed != text:
            conn.execute(
                "update posts set text = ?, lang_detected = null, sentiment_polarity = null,"
                " sentiment_subjectivity = null, noun_phrases = null, session = null,"
                " enriched_at = null where id = ?",
                (fixed, post_id),
            )


def _m007_paid_reads_by_resource(db: sqlite_utils.Database) -> None:
    """The paid-read ledger records each resource's kind (post, user, media).

    X bills users and media as well as posts, each de-duplicated per UTC day
    within its own kind, so the key becomes (platform, day, kind, id). Rows
    written before were all posts. SQLite cannot change a primary key in
    place, so the table is rebuilt; a ledger that has the column already is
    left as it is.
    """
    if "kind" in {c.name for c in db.table("paid_reads").columns}:
        return
    db.execute(
        "create table paid_reads_by_kind (platform text not null, day text not null,"
        " kind text not null default 'post', platform_id text not null,"
        " primary key (platform, day, kind, platform_id))"
    )
    db.execute(
        "insert into paid_reads_by_kind (platform, day, kind, platform_id)"
        " select platform, day, 'post', platform_id from paid_reads"
    )
    db.execute("drop table paid_reads")
    db.execute("alter table paid_reads_by_kind rename to paid_reads")


def _m008_posts_refreshed_at(db: sqlite_utils.Database) -> None:
    """When each post's counts were last read back from its platform.

    A refresh budget that re-reads the newest posts first never reaches the
    older ones, so their grown likes and their deletions go unseen; this column
    lets a collector re-read every recent post in turn, least recently read
    first. NULL: never re-read since it was collected.
    """
    if "refreshed_at" not in db.table("posts").columns_dict:
        db.table("posts").add_column("refreshed_at", str)


def _m009_meta_ledgers(db: sqlite_utils.Database) -> None:
    """Ledgers of Meta's query limits, and Instagram's hashtag ids (issue #20).

    `quota_queries`: one row per query a platform counts against a rolling
    window (Threads: each keyword search that returned posts, 2,200 per 24 h;
    Instagram: each hashtag the first time it is queried, 30 unique per 7 days).
    `hashtag_ids`: ig_hashtag_search answers, asked once per hashtag ever.
    Self-contained and idempotent, so it can be renumbered on merge.
    """
    if "quota_queries" not in db.table_names():
        db.table("quota_queries").create(
            {"id": int, "platform": str, "at": str, "query": str}, pk="id"
        )
        db.table("quota_queries").create_index(["platform", "at"])
    if "hashtag_ids" not in db.table_names():
        db.table("hashtag_ids").create(
            {"platform": str, "tag": str, "hashtag_id": str, "found_at": str},
            pk=("platform", "tag"),
        )


def _m010_alerts(db: sqlite_utils.Database) -> None:
    """Alerts raised while the event happens (issue 22), and each channel's delivery of them.

    An alert row lives from the moment its cause appears until it is back to
    normal (`resolved_at`); a cause with a row still firing raises no second
    alert. Deliveries are rows of their own so that a failed or suppressed send
    (quiet hours, the daily cap) stays on record beside the alert.
    """
    if "alerts" not in db.table_names():
        db.table("alerts").create(
            {
                "id": int,
                "kind": str,
                "cause": str,
                "target": str,
                "title": str,
                "lines": str,
                "examples": str,
                "facts": str,
                "fired_at": str,
                "resolved_at": str,
            },
            pk="id",
            not_null={"kind", "cause", "title", "fired_at"},
        )
        db.table("alerts").create_index(["cause", "resolved_at"])
        db.table("alerts").create_index(["fired_at"])
    if "alert_deliveries" not in db.table_names():
        db.table("alert_deliveries").create(
            {
                "id": int,
                "alert_id": int,
                "channel": str,
                "message": str,
                "status": str,
                "reason": str,
                "attempts": int,
                "queued_at": str,
                "sent_at": str,
                "local_day": str,
            },
            pk="id",
            not_null={"channel", "message", "status", "queued_at"},
            defaults={"attempts": 0},
            foreign_keys=[("alert_id", "alerts", "id")],
        )
        db.table("alert_deliveries").create_index(["alert_id"])
        db.table("alert_deliveries").create_index(["channel", "local_day", "status"])


def _m011_media_and_avatars(db: sqlite_utils.Database) -> None:
    """What the wall needs to show pictures (issue 21), and how old each account is.

    `post_media`: a post's attachments in the platform's order, with the addresses
    the wall's image proxy may fetch and the author's alt text. `authors.avatar_url`
    and `authors.account_created_at` (NULL: the platform did not say; a "young
    account" hold rule cannot judge it). Self-contained and idempotent.
    """
    if "post_media" not in db.table_names():
        db.table("post_media").create(
            {
                "post_id": int,
                "position": int,
                "kind": str,
                "url": str,
                "preview_url": str,
                "alt": str,
                "width": int,
                "height": int,
            },
            pk=("post_id", "position"),
            not_null={"kind"},
            foreign_keys=[("post_id", "posts", "id")],
        )
    columns = db.table("authors").columns_dict
    for name in ("avatar_url", "account_created_at"):
        if name not in columns:
            db.table("authors").add_column(name, str)


def _m013_posts_by_author_and_time(db: sqlite_utils.Database) -> None:
    """An author's posts in a time range, for the wall's reply-rate hold rule (issue 21).

    The wall re-judges batches of posts and counts each author's replies to
    speakers in the hour before each post; without this index every count
    scans all of that author's posts. Self-contained and idempotent.
    """
    db.execute(
        "create index if not exists idx_posts_author_created on posts (author_id, created_at)"
    )


Migration = Callable[[sqlite_utils.Database], None]


def _m012_moderation_log_moderator(db: sqlite_utils.Database) -> None:
    """Who took each moderation action (issue #21: moderators as a team).

    The moderator's name from `[wall] moderators` ("moderator" for the shared token,
    "cli" for commands); rows written before this are NULL: unknown, not anyone.
    """
    if "moderator" not in db.table("moderation_log").columns_dict:
        db.table("moderation_log").add_column("moderator", str)


MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "initial schema", _m001_initial),
    (2, "full-text search and wall moderation", _m002_search_and_moderation),
    (3, "enrichment columns, paid read ledger, stream state", _m003_enrichment_and_budget),
    (4, "wall events log filled by triggers", _m004_wall_events),
    (5, "full-text index updated only when text changes", _m005_fts_on_text_changes_only),
    (6, "X posts' text unescaped as their authors wrote it", _m006_x_text_as_written),
    (7, "paid read ledger by resource kind", _m007_paid_reads_by_resource),
    (8, "when each post's counts were last re-read", _m008_posts_refreshed_at),
    (9, "Threads and Instagram query ledgers, Instagram hashtag ids", _m009_meta_ledgers),
    (10, "alerts and their deliveries", _m010_alerts),
    (11, "post media and author avatars and account ages", _m011_media_and_avatars),
    (12, "who took each moderation action", _m012_moderation_log_moderator),
    (13, "posts indexed by author and time", _m013_posts_by_author_and_time),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def current_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "select 1 from sqlite_master where type='table' and name='schema_migrations'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("select max(version) from schema_migrations").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, *, target: int | None = None) -> list[int]:
    """Bring the database up to `target` (default: latest); returns versions applied."""
    from tagwatch.records import iso, utcnow

    target = SCHEMA_VERSION if target is None else target
    conn.execute(
        "create table if not exists schema_migrations "
        "(version integer primary key, name text, applied_at text)"
    )
    applied = []
    for version, name, step in MIGRATIONS:
        if version > target:
            break
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check inside the write lock: another process may have migrated meanwhile.
            if current_version(conn) >= version:
                conn.execute("ROLLBACK")
                continue
            step(sqlite_utils.Database(conn))
            conn.execute(
                "insert into schema_migrations (version, name, applied_at) values (?, ?, ?)",
                (version, name, iso(utcnow())),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied
