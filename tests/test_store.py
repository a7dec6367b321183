"""The store: upsert without duplicates, engagement snapshots, deletion purge."""

from __future__ import annotations

import json

from tagwatch.storage.db import Store
from tests.conftest import make_post


def count(store: Store, sql: str, *params: object) -> int:
    return store.conn.execute(sql, params).fetchone()[0]


def test_new_post_is_stored_with_its_relations(fresh_store: Store):
    post = make_post(1, mentions=("@maja.bsky.social",), hashtags=("HRHN2016", "FreeAzerbaijan"))
    result = fresh_store.write_posts([post])
    assert (result.new, result.updated) == (1, 0)
    row = fresh_store.conn.execute("select * from posts").fetchone()
    assert row["platform_id"] == post.platform_id
    assert json.loads(row["hashtags"]) == ["hrhn2016", "freeazerbaijan"]
    tags = {r[0] for r in fresh_store.conn.execute("select tag from post_hashtags")}
    assert tags == {"hrhn2016", "freeazerbaijan"}
    assert [r[0] for r in fresh_store.conn.execute("select handle from post_mentions")] == [
        "maja.bsky.social"
    ]
    assert count(fresh_store, "select count(*) from authors") == 1
    assert count(fresh_store, "select count(*) from snapshots") == 1


def test_same_post_twice_is_stored_once_and_counts_update(fresh_store: Store):
    fresh_store.write_posts([make_post(1, likes=1)])
    result = fresh_store.write_posts([make_post(1, likes=5, reposts=2)])
    assert (result.new, result.updated) == (0, 1)
    assert count(fresh_store, "select count(*) from posts") == 1
    row = fresh_store.conn.execute("select likes, reposts from posts").fetchone()
    assert (row["likes"], row["reposts"]) == (5, 2)


def test_an_edited_post_takes_its_new_text_tags_and_is_enriched_again(fresh_store: Store):
    first = make_post(1, text="Day one #HRHN2016", hashtags=("HRHN2016",), likes=3)
    fresh_store.write_posts([first])
    with fresh_store.transaction() as conn:  # as enrichment leaves it
        conn.execute(
            "update posts set lang_detected = 'en', noun_phrases = '[\"day one\"]',"
            " sentiment_polarity = 0.1, enriched_at = '2016-11-24T10:00:00.000000Z'"
        )
    events = count(fresh_store, "select count(*) from wall_events")
    edited = make_post(
        1,
        text="Day one: free Khadija #HRHN2016 #FreeKhadija @maja.bsky.social",
        hashtags=("HRHN2016", "FreeKhadija"),
        mentions=("@maja.bsky.social",),
        likes=3,
    )
    result = fresh_store.write_posts([edited])
    assert (result.new, result.updated) == (0, 1)
    row = fresh_store.conn.execute("select * from posts").fetchone()
    assert row["text"] == edited.text
    assert json.loads(row["hashtags"]) == ["hrhn2016", "freekhadija"]
    assert {r[0] for r in fresh_store.conn.execute("select tag from post_hashtags")} == {
        "hrhn2016",
        "freekhadija",
    }
    assert [r[0] for r in fresh_store.conn.execute("select handle from post_mentions")] == [
        "maja.bsky.social"
    ]
    # Enrichment is redone on the new text; the words are searchable; walls hear of it.
    assert row["enriched_at"] is None and row["noun_phrases"] is None
    assert row["lang_detected"] is None and row["sentiment_polarity"] is None
    assert count(fresh_store, "select count(*) from posts_fts where posts_fts match 'Khadija'") == 1
    assert count(fresh_store, "select count(*) from wall_events") == events + 1
    assert count(fresh_store, "select count(*) from snapshots") == 1  # the counts did not move
    # The same version again changes nothing.
    again = fresh_store.write_posts([edited])
    assert (again.updated, again.unchanged) == (0, 1)


def test_duplicates_within_one_batch_are_stored_once(fresh_store: Store):
    result = fresh_store.write_posts([make_post(1), make_post(1), make_post(2)])
    assert result.new == 2
    assert count(fresh_store, "select count(*) from posts") == 2


def test_same_id_on_two_platforms_is_two_posts(fresh_store: Store):
    fresh_store.write_posts([make_post(1), make_post(1, platform="mastodon")])
    assert count(fresh_store, "select count(*) from posts") == 2


def test_snapshot_only_when_counts_change(fresh_store: Store):
    fresh_store.write_posts([make_post(1, likes=1)])
    fresh_store.write_posts([make_post(1, likes=1)])  # unchanged: no new snapshot
    fresh_store.write_posts([make_post(1, likes=3)])
    fresh_store.update_engagement(
        make_post(1).platform, make_post(1).platform_id, likes=3, reposts=0, replies=0, quotes=0
    )  # unchanged
    fresh_store.update_engagement(
        make_post(1).platform, make_post(1).platform_id, likes=4, reposts=1, replies=0, quotes=0
    )
    likes = [r[0] for r in fresh_store.conn.execute("select likes from snapshots order by id")]
    assert likes == [1, 3, 4]


def test_unknown_views_do_not_erase_known_views(fresh_store: Store):
    fresh_store.write_posts([make_post(1, platform="x", views=120)])
    fresh_store.write_posts([make_post(1, platform="x", views=None, likes=9)])
    assert count(fresh_store, "select views from posts") == 120


def test_deletion_purges_content_and_stays_deleted(fresh_store: Store):
    post = make_post(
        1,
        text="private words",
        links=("https://example.org",),
        mentions=("@someone",),
        raw={"secret": "payload"},
    )
    fresh_store.write_posts([post])
    assert fresh_store.mark_deleted(post.platform, post.platform_id) is True
    row = fresh_store.conn.execute("select * from posts").fetchone()
    assert row["deleted"] == 1 and row["deleted_at"]
    assert row["text"] == "" and row["raw"] is None and row["links"] == "[]"
    assert count(fresh_store, "select count(*) from post_mentions") == 0
    # full-text search no longer finds the purged words
    hits = fresh_store.conn.execute(
        "select count(*) from posts_fts where posts_fts match 'private'"
    ).fetchone()[0]
    assert hits == 0
    # a stale copy seen again later must not bring the text back
    result = fresh_store.write_posts([post])
    assert result.skipped_deleted == 1
    assert fresh_store.conn.execute("select text, deleted from posts").fetchone()[:] == ("", 1)


def test_deletion_before_first_sight_blocks_later_copy(fresh_store: Store):
    post = make_post(7)
    assert fresh_store.mark_deleted(post.platform, post.platform_id) is False
    fresh_store.write_posts([post])
    assert count(fresh_store, "select count(*) from posts where deleted = 0") == 0


def test_cursor_saved_with_the_posts_it_covers(fresh_store: Store):
    fresh_store.write_posts([make_post(1)], cursor=("bluesky", "hrhn2016", "c1"))
    assert fresh_store.get_cursor("bluesky", "hrhn2016") == "c1"


def test_failed_write_rolls_back_posts_and_cursor(fresh_store: Store):
    class Boom(Exception):
        pass

    def posts():
        yield make_post(1)
        raise Boom()

    try:
        fresh_store.write_posts(posts(), cursor=("bluesky", "hrhn2016", "c2"))
    except Boom:
        pass
    assert count(fresh_store, "select count(*) from posts") == 0
    assert fresh_store.get_cursor("bluesky", "hrhn2016") is None


def test_full_text_search_finds_unicode(fresh_store: Store):
    fresh_store.write_posts([make_post(1, text="Слобода окупљања у Београду #HRHN2016")])
    hits = fresh_store.conn.execute(
        "select count(*) from posts_fts where posts_fts match 'окупљања'"
    ).fetchone()[0]
    assert hits == 1


def test_runs_are_recorded(fresh_store: Store):
    run_id = fresh_store.start_run("bluesky")
    fresh_store.finish_run(
        run_id, status="failed", requests=3, new_posts=0, updated_posts=0, error="HTTP 500"
    )
    row = fresh_store.conn.execute("select * from runs").fetchone()
    assert (row["status"], row["requests"], row["error"]) == ("failed", 3, "HTTP 500")
    assert row["ended_at"] >= row["started_at"]


def test_author_followers_kept_when_not_reported(fresh_store: Store):
    from tagwatch.records import Author

    fresh_store.write_posts([make_post(1)])  # followers 100
    fresh_store.write_posts(
        [make_post(2, author=Author("did:plc:author1", "renamed.bsky.social", "Renamed", None))]
    )
    row = fresh_store.conn.execute("select handle, followers from authors").fetchone()
    assert (row["handle"], row["followers"]) == ("renamed.bsky.social", 100)


def test_wal_mode_lets_a_reader_read_while_a_writer_holds_a_transaction(tmp_path):
    from tagwatch.storage.db import connect

    path = tmp_path / "w.db"
    writer = Store.open(path)
    writer.write_posts([make_post(1)])
    reader = connect(path, readonly=True)
    with writer.transaction():
        writer.write_posts([make_post(2)])
        # the reader sees the committed state, not the half-done transaction, and is not blocked
        assert reader.execute("select count(*) from posts").fetchone()[0] == 1
    assert reader.execute("select count(*) from posts").fetchone()[0] == 2
    assert writer.conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    reader.close()
    writer.close()
