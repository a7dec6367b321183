"""Benchmark: `Store.write_posts` against a plain `sqlite3` upsert of the same posts.

    python bench/ingest.py                  # 50,000 posts in pages of 100
    python bench/ingest.py --posts 200000 --reseen 0

Both sides store the same pages of the same `Post` records, built before timing,
into their own file in /tmp, one transaction (`BEGIN IMMEDIATE` ... `COMMIT`)
per page, WAL and `synchronous = normal`. Pages alternate between the two sides
so that another process on the machine slows both alike; the ratio is
tagwatch's posts/s over the baseline's, against the issue's target (0.6).

The baseline is what a careful person would write with `sqlite3` alone, one
`executemany` of one `INSERT ... ON CONFLICT` per table per page:
  * authors: unique (platform, platform_id); handle, name, followers (kept when
    not reported), when they were checked;
  * posts: the same columns `write_posts` fills, unique (platform, platform_id),
    the author's id by subquery, an upsert that leaves deleted posts alone;
  * post_hashtags, post_mentions: primary key (post_id, value), ids by subquery;
  * snapshots: one row per post (the bench's re-seen posts always have new counts,
    so tagwatch takes one too);
  * an external-content FTS5 table over text, author handle and name, kept in
    step by insert/delete triggers and an update trigger that fires only when
    one of those changed (as tagwatch's does).
What tagwatch does that the baseline does not (so its cost counts against
tagwatch): the `wall_events` trigger on every insert, the indexes on
`created_at`, `author_id`, `enriched_at`, the tag/mention lookup indexes, the
foreign keys, lone-surrogate cleaning of the raw payload, the per-post
new/updated/unchanged counts, and, for edits, re-deriving tags and clearing the
enrichment (the bench has no edits: re-seen posts come back with new counts).
With `--same-schema` the baseline gets those indexes and the wall trigger too,
and the ratio is then the cost of tagwatch's code alone.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagwatch.records import Author, Post, iso  # noqa: E402
from tagwatch.storage.db import Store  # noqa: E402

TARGET = 0.6
WORDS = (
    "human rights defenders press freedom refugee protection civic space assembly"
    " journalists Belgrade panel today accountability torture prevention privacy"
).split()
TAGS = ["hrhn2016", "pressfreedom", "humanrights", "refugees", "media", "asylum", "privacy"]

BASELINE_SCHEMA = """
create table authors (id integer primary key, platform text not null,
  platform_id text not null, handle text not null, display_name text, followers integer,
  followers_checked_at text, updated_at text, unique (platform, platform_id));
create table posts (id integer primary key, platform text not null, platform_id text not null,
  url text, author_id integer, author_handle text, author_name text, text text,
  created_at text not null, collected_at text, updated_at text, lang text, hashtags text,
  mentions text, links text, reply_to text, quote_of text, repost_of text,
  likes integer, reposts integer, replies integer, quotes integer, views integer,
  media_count integer, sensitive integer, no_unauthenticated integer, source text, raw text,
  deleted integer not null default 0, unique (platform, platform_id));
create table post_hashtags (post_id integer, tag text, primary key (post_id, tag));
create table post_mentions (post_id integer, handle text, primary key (post_id, handle));
create table snapshots (id integer primary key, post_id integer, at text, likes integer,
  reposts integer, replies integer, quotes integer, views integer);
create virtual table posts_fts using fts5 (text, author_handle, author_name,
  content=posts, content_rowid=id, tokenize='unicode61');
create trigger posts_ai after insert on posts begin
  insert into posts_fts (rowid, text, author_handle, author_name)
  values (new.id, new.text, new.author_handle, new.author_name); end;
create trigger posts_ad after delete on posts begin
  insert into posts_fts (posts_fts, rowid, text, author_handle, author_name)
  values ('delete', old.id, old.text, old.author_handle, old.author_name); end;
create trigger posts_au after update of text, author_handle, author_name on posts
  when old.text is not new.text or old.author_handle is not new.author_handle
    or old.author_name is not new.author_name begin
  insert into posts_fts (posts_fts, rowid, text, author_handle, author_name)
  values ('delete', old.id, old.text, old.author_handle, old.author_name);
  insert into posts_fts (rowid, text, author_handle, author_name)
  values (new.id, new.text, new.author_handle, new.author_name); end;
"""

# `--same-schema`: what tagwatch's schema has beyond the baseline's, so that the ratio
# then measures tagwatch's code alone (Python and statements), not its schema.
TAGWATCH_EXTRAS = """
create index posts_created_at on posts (created_at);
create index posts_author_id on posts (author_id);
alter table posts add column enriched_at text;
create index posts_enriched_at on posts (enriched_at);
create index authors_handle on authors (platform, handle);
create index post_hashtags_tag on post_hashtags (tag);
create index post_mentions_handle on post_mentions (handle);
create index snapshots_post_at on snapshots (post_id, at);
create table wall_events (id integer primary key autoincrement, at text not null,
  kind text not null, post_id integer, author_key text);
create trigger wall_events_post_insert after insert on posts begin
  insert into wall_events (at, kind, post_id)
  values (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'post', new.id); end;
"""

UPSERT_AUTHOR = (
    "insert into authors (platform, platform_id, handle, display_name, followers,"
    " followers_checked_at, updated_at) values (?, ?, ?, ?, ?, ?, ?)"
    " on conflict (platform, platform_id) do update set handle = excluded.handle,"
    " display_name = excluded.display_name,"
    " followers = coalesce(excluded.followers, followers),"
    " followers_checked_at = coalesce(excluded.followers_checked_at, followers_checked_at),"
    " updated_at = excluded.updated_at"
)
UPSERT_POST = (
    "insert into posts (platform, platform_id, url, author_id, author_handle, author_name,"
    " text, created_at, collected_at, updated_at, lang, hashtags, mentions, links, reply_to,"
    " quote_of, repost_of, likes, reposts, replies, quotes, views, media_count, sensitive,"
    " no_unauthenticated, source, raw) values (?, ?, ?,"
    " (select id from authors where platform = ? and platform_id = ?),"
    " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " on conflict (platform, platform_id) do update set author_id = excluded.author_id,"
    " author_handle = excluded.author_handle, author_name = excluded.author_name,"
    " text = excluded.text, updated_at = excluded.updated_at, likes = excluded.likes,"
    " reposts = excluded.reposts, replies = excluded.replies, quotes = excluded.quotes,"
    " views = coalesce(excluded.views, views), sensitive = excluded.sensitive,"
    " no_unauthenticated = excluded.no_unauthenticated, raw = coalesce(excluded.raw, raw)"
    " where deleted = 0"
)
BY_KEY = "from posts where platform = ? and platform_id = ?"
INSERT_TAG = f"insert or ignore into post_hashtags (post_id, tag) select id, ? {BY_KEY}"
INSERT_MENTION = f"insert or ignore into post_mentions (post_id, handle) select id, ? {BY_KEY}"
INSERT_SNAPSHOT = (
    "insert into snapshots (post_id, at, likes, reposts, replies, quotes, views)"
    f" select id, ?, ?, ?, ?, ?, ? {BY_KEY}"
)


def baseline_page(conn: sqlite3.Connection, page: list[Post]) -> None:
    """One page the plain way: rows built from the posts, one executemany per table."""
    now = iso(datetime.now(UTC))
    authors, posts, tags, mentions, snapshots = [], [], [], [], []
    for p in page:
        a, at = p.author, iso(p.collected_at)
        authors.append(
            (
                p.platform,
                a.platform_id,
                a.handle,
                a.display_name,
                a.followers,
                at if a.followers is not None else None,
                at,
            )
        )
        posts.append(
            (
                p.platform,
                p.platform_id,
                p.url,
                p.platform,
                a.platform_id,
                a.handle,
                a.display_name,
                p.text,
                iso(p.created_at),
                at,
                now,
                p.lang,
                json.dumps(list(p.hashtags), ensure_ascii=False),
                json.dumps(list(p.mentions), ensure_ascii=False),
                json.dumps(list(p.links), ensure_ascii=False),
                p.reply_to,
                p.quote_of,
                p.repost_of,
                p.likes,
                p.reposts,
                p.replies,
                p.quotes,
                p.views,
                p.media_count,
                int(p.sensitive),
                int(p.no_unauthenticated),
                p.source,
                None if p.raw is None else json.dumps(p.raw, ensure_ascii=False),
            )
        )
        key = (p.platform, p.platform_id)
        tags.extend((t, *key) for t in p.hashtags)
        mentions.extend((m.lstrip("@").casefold(), *key) for m in p.mentions)
        snapshots.append((at, p.likes, p.reposts, p.replies, p.quotes, p.views, *key))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(UPSERT_AUTHOR, authors)
    conn.executemany(UPSERT_POST, posts)
    conn.executemany(INSERT_TAG, tags)
    conn.executemany(INSERT_MENTION, mentions)
    conn.executemany(INSERT_SNAPSHOT, snapshots)
    conn.execute("COMMIT")


def make_pages(n: int, page_size: int, reseen: float, seed: int) -> list[list[Post]]:
    """`n` post sightings in pages: mostly new posts, a share of earlier ones seen again
    with higher counts (search pages overlap), authors shared as at an event."""
    rng = random.Random(seed)
    start = datetime(2016, 11, 24, 8, tzinfo=UTC)
    n_authors = max(1, n // 8)
    authors = [
        Author(
            f"did:plc:bench{i}",
            f"user{i}.bsky.social",
            f"User {i}",
            rng.randrange(10, 5000) if rng.random() < 0.7 else None,
        )
        for i in range(n_authors)
    ]
    made: list[Post] = []
    pages: list[list[Post]] = []
    page: list[Post] = []
    for i in range(n):
        collected = start + timedelta(seconds=i)
        if made and rng.random() < reseen:
            old = made[rng.randrange(len(made))]
            post = Post(
                **{
                    **{f: getattr(old, f) for f in old.__dataclass_fields__},
                    "collected_at": collected,
                    "likes": old.likes + 1 + rng.randrange(5),
                    "reposts": old.reposts + rng.randrange(2),
                }
            )
        else:
            n_post = len(made)
            author = authors[rng.randrange(n_authors)]
            tags = rng.sample(TAGS, rng.randrange(1, 4))
            mentioned = [f"@user{rng.randrange(n_authors)}.bsky.social"] * rng.randrange(0, 2)
            text = " ".join(rng.choices(WORDS, k=rng.randrange(8, 30)))
            text += " " + " ".join(f"#{t}" for t in tags)
            raw: dict[str, Any] = {
                "uri": f"at://{author.platform_id}/app.bsky.feed.post/{n_post}",
                "record": {"text": text, "langs": ["en"], "createdAt": iso(collected)},
                "likeCount": 0,
                "repostCount": 0,
            }
            post = Post(
                platform="bluesky",
                platform_id=raw["uri"],
                url=f"https://bsky.app/profile/{author.handle}/post/{n_post}",
                author=author,
                text=text,
                created_at=collected - timedelta(seconds=rng.randrange(600)),
                collected_at=collected,
                lang="en",
                hashtags=tuple(tags),
                mentions=tuple(mentioned),
                links=("https://example.org/report",) if rng.random() < 0.2 else (),
                likes=rng.randrange(20),
                reposts=rng.randrange(5),
                source="search",
                raw=raw,
            )
            made.append(post)
        page.append(post)
        if len(page) == page_size:
            pages.append(page)
            page = []
    if page:
        pages.append(page)
    return pages


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=50_000, help="post sightings (default 50,000)")
    ap.add_argument("--page", type=int, default=100, help="posts per page (default 100)")
    ap.add_argument(
        "--reseen", type=float, default=0.15, help="share of sightings of earlier posts"
    )
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument(
        "--same-schema",
        action="store_true",
        help="give the baseline tagwatch's other indexes and wall_events trigger too",
    )
    args = ap.parse_args()
    pages = make_pages(args.posts, args.page, args.reseen, args.seed)
    sightings = sum(len(p) for p in pages)
    with tempfile.TemporaryDirectory(prefix="tagwatch-ingest-") as tmp:
        store = Store.open(Path(tmp) / "tagwatch.db")
        base = sqlite3.connect(Path(tmp) / "baseline.db", isolation_level=None)
        base.execute("pragma journal_mode = wal")
        base.execute("pragma synchronous = normal")
        base.executescript(BASELINE_SCHEMA + (TAGWATCH_EXTRAS if args.same_schema else ""))
        ours = plain = 0.0
        new = updated = 0
        for page in pages:
            t0 = time.perf_counter()
            result = store.write_posts(page)
            t1 = time.perf_counter()
            baseline_page(base, page)
            t2 = time.perf_counter()
            ours += t1 - t0
            plain += t2 - t1
            new += result.new
            updated += result.updated
        stored = store.conn.execute("select count(*) from posts").fetchone()[0]
        check = base.execute("select count(*) from posts").fetchone()[0]
        store.close()
        base.close()
    if stored != check:
        print(f"the two sides stored different posts: {stored} vs {check}")
        return 1
    rate, base_rate = sightings / ours, sightings / plain
    print(
        f"{sightings:,} posts in {len(pages):,} pages of {args.page}"
        f" ({new:,} new, {updated:,} updated, {stored:,} stored)"
    )
    print(f"Store.write_posts    {rate:9,.0f} posts/s  ({ours:.2f} s)")
    schema = ", with tagwatch's indexes and wall trigger" if args.same_schema else ""
    print(f"plain sqlite3 upsert {base_rate:9,.0f} posts/s  ({plain:.2f} s{schema})")
    verdict = "meets" if rate / base_rate >= TARGET else "below"
    print(f"ratio {rate / base_rate:.2f} (target >= {TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
