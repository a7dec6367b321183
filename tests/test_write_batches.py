"""Pages written in batches end exactly as the same posts written one at a time (#19)."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

import pytest

from tagwatch.records import Author, Post
from tagwatch.storage.db import Store, WriteResult
from tests.conftest import make_post


@pytest.fixture
def twin() -> Iterator[Store]:
    store = Store.open(":memory:")
    yield store
    store.close()


def count(store: Store, sql: str, *params: object) -> int:
    return int(store.conn.execute(sql, params).fetchone()[0])


def state(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Everything a page writes, but the wall clock's `updated_at` of posts and the wall log."""
    posts = store.conn.execute("select * from posts order by id").fetchall()
    return {
        "posts": [tuple(r[k] for k in r.keys() if k != "updated_at") for r in posts],
        "authors": [tuple(r) for r in store.conn.execute("select * from authors order by id")],
        "tags": [tuple(r) for r in store.conn.execute("select * from post_hashtags order by 1, 2")],
        "mentions": [
            tuple(r) for r in store.conn.execute("select * from post_mentions order by 1, 2")
        ],
        "snapshots": [tuple(r) for r in store.conn.execute("select * from snapshots order by id")],
    }


def one_at_a_time(store: Store, page: list[Post]) -> WriteResult:
    """The page written a post per transaction, which is how writes worked before #19."""
    total = WriteResult()
    for post in page:
        r = store.write_posts([post])
        total.new += r.new
        total.updated += r.updated
        total.unchanged += r.unchanged
        total.skipped_deleted += r.skipped_deleted
        total.new_ids += r.new_ids
    return total


def random_post(rng: random.Random, at: datetime) -> Post:
    n = rng.randrange(6)
    version = rng.randrange(2)
    who = rng.randrange(3)
    return make_post(
        n,
        author=Author(
            f"did:plc:a{who}",
            f"a{who}.bsky.social",
            rng.choice(["Maja", "Maja P.", ""]),
            rng.choice([None, 100, 250]),
        ),
        text=f"Post {n} version {version} #HRHN2016" + (" #Free" if version else ""),
        hashtags=("HRHN2016", "Free") if version else ("HRHN2016",),
        mentions=(f"@A{rng.randrange(3)}.bsky.social",) if version else (),
        links=("https://example.org",) if version else (),
        lang=rng.choice(["en", "sr"]),
        likes=rng.randrange(3),
        views=rng.choice([None, 10, 20]),
        sensitive=rng.random() < 0.2,
        raw=rng.choice([None, {"n": n, "v": version}]),
        collected_at=at,
    )


@pytest.mark.parametrize("seed", range(40))
def test_a_page_ends_as_its_posts_written_one_at_a_time(seed: int, fresh_store: Store, twin):
    rng = random.Random(seed)
    at = datetime(2016, 11, 24, 9, tzinfo=UTC)

    def page(n: int) -> list[Post]:
        nonlocal at
        posts = []
        for _ in range(n):
            at += timedelta(seconds=rng.randrange(1, 90))
            posts.append(random_post(rng, at))
        return posts

    before = page(rng.randrange(0, 6))
    gone = [make_post(rng.randrange(8)) for _ in range(rng.randrange(3))]
    for store in (fresh_store, twin):
        one_at_a_time(store, before)
        for post in gone:
            store.mark_deleted(post.platform, post.platform_id, at=at)
        # as enrichment leaves posts, so that clearing it on an edit shows
        store.conn.execute("update posts set session = 'Opening', enriched_at = 'then'")
    tested = page(rng.randrange(1, 14))
    batched = fresh_store.write_posts(tested)
    single = one_at_a_time(twin, tested)
    assert asdict(batched) == asdict(single)
    assert state(fresh_store) == state(twin)
    fresh_store.conn.execute("insert into posts_fts (posts_fts) values ('integrity-check')")


def test_a_page_mixing_new_updated_edited_unchanged_and_tombstoned_posts(fresh_store: Store):
    fresh_store.write_posts([make_post(1), make_post(2), make_post(3), make_post(4)])
    fresh_store.mark_deleted("bluesky", make_post(4).platform_id)
    fresh_store.mark_deleted("bluesky", make_post(9).platform_id)  # deleted before first sight
    events = count(fresh_store, "select count(*) from wall_events")
    result = fresh_store.write_posts(
        [
            make_post(1),  # unchanged
            make_post(2, likes=7),  # updated
            make_post(3, text="Third, edited #Belgrade", hashtags=("Belgrade",)),  # edited
            make_post(4),  # purged: stays deleted
            make_post(5),  # new
            make_post(9),  # deleted before it was seen: never stored
        ]
    )
    assert (result.new, result.updated, result.unchanged, result.skipped_deleted) == (1, 2, 1, 2)
    assert result.new_ids == [count(fresh_store, "select id from posts where likes = 5")]
    rows = {r["likes"]: r for r in fresh_store.conn.execute("select * from posts")}
    assert rows[7]["text"] == "Post 2 about #HRHN2016"
    assert rows[3]["text"] == "Third, edited #Belgrade"
    assert json.loads(rows[3]["hashtags"]) == ["belgrade"]
    tags = fresh_store.conn.execute(
        "select tag from post_hashtags where post_id = ?", (rows[3]["id"],)
    ).fetchall()
    assert [t[0] for t in tags] == ["belgrade"]
    assert count(fresh_store, "select count(*) from posts where deleted = 1 and text = ''") == 2
    assert count(fresh_store, "select count(*) from posts where deleted = 0") == 4
    # the first page's 4 snapshots, then one for the changed counts of 2 and one for the new post
    assert count(fresh_store, "select count(*) from snapshots") == 6
    # the edit and the new post reach the wall; unchanged and updated counts do not
    assert count(fresh_store, "select count(*) from wall_events") == events + 2
    hits = "select count(*) from posts_fts where posts_fts match ?"
    assert count(fresh_store, hits, "Belgrade") == 1
    assert count(fresh_store, hits, "Post") == 3  # the tombstone and the edit are out


def test_a_post_twice_in_a_page_is_one_row_with_its_last_counts(fresh_store: Store):
    result = fresh_store.write_posts(
        [make_post(1, likes=1), make_post(1, likes=4, views=None), make_post(1, likes=4)]
    )
    assert (result.new, result.updated, result.unchanged) == (1, 1, 1)
    assert count(fresh_store, "select count(*) from posts") == 1
    assert count(fresh_store, "select likes from posts") == 4
    snaps = fresh_store.conn.execute("select likes from snapshots order by id").fetchall()
    assert [s[0] for s in snaps] == [1, 4]
    assert count(fresh_store, "select count(*) from post_hashtags") == 1


def test_an_author_in_several_posts_of_a_page_keeps_the_last_name_and_known_followers(
    fresh_store: Store,
):
    def by(name: str, followers: int | None, n: int) -> Post:
        return make_post(n, author=Author("did:plc:maja", "maja.bsky.social", name, followers))

    fresh_store.write_posts([by("Maja", 10, 1), by("Maja P.", 30, 2), by("Maja Petrović", None, 3)])
    author = fresh_store.conn.execute("select * from authors").fetchone()
    assert count(fresh_store, "select count(*) from authors") == 1
    assert (author["display_name"], author["followers"]) == ("Maja Petrović", 30)
    names = fresh_store.conn.execute("select distinct author_name, author_id from posts")
    assert [tuple(r) for r in names] == [
        ("Maja", author["id"]),
        ("Maja P.", author["id"]),
        (
            "Maja Petrović",
            author["id"],
        ),
    ]


def test_a_page_that_fails_halfway_leaves_nothing(fresh_store: Store):
    fresh_store.write_posts([make_post(1)])
    before = state(fresh_store)
    # The last statement of a page fails: every earlier one of the page must go with it.
    fresh_store.conn.execute(
        "create temp trigger no_snapshots before insert on snapshots"
        " begin select raise(abort, 'disk full, say'); end"
    )
    with pytest.raises(sqlite3.IntegrityError):
        fresh_store.write_posts(
            [make_post(1, likes=9, text="edited"), make_post(2)],
            cursor=("bluesky", "hrhn2016", "c9"),
        )
    assert state(fresh_store) == before
    assert fresh_store.get_cursor("bluesky", "hrhn2016") is None
    assert count(fresh_store, "select count(*) from posts_fts where posts_fts match 'edited'") == 0
    assert not fresh_store.conn.in_transaction


def test_a_page_larger_than_one_lookup_is_stored_whole(fresh_store: Store):
    # More ids than one `in (...)` binds, so the lookups of stored rows go in chunks.
    fresh_store.write_posts([make_post(n) for n in range(0, 1200, 2)])
    result = fresh_store.write_posts([make_post(n) for n in range(1200)])
    assert (result.new, result.unchanged) == (600, 600)
    assert count(fresh_store, "select count(*) from posts") == 1200
