"""A database made by an older tagwatch opens in a newer one without loss."""

from __future__ import annotations

import sqlite3

import pytest

from tagwatch.errors import StorageError
from tagwatch.storage.db import Store, connect
from tagwatch.storage.migrations import SCHEMA_VERSION, current_version, migrate


def test_fresh_database_is_at_latest_version(tmp_path):
    with Store.open(tmp_path / "a.db") as store:
        assert current_version(store.conn) == SCHEMA_VERSION


def test_version_1_database_upgrades_without_loss(tmp_path):
    path = tmp_path / "old.db"
    conn = connect(path)
    migrate(conn, target=1)
    # a post as version 1 wrote it (no FTS, no moderation, no enrichment columns)
    conn.execute(
        "insert into posts (platform, platform_id, url, text, created_at, hashtags, mentions,"
        " links, likes) values ('bluesky', 'at://x/1', 'https://bsky.app/x', "
        "'Stara objava о слободи', '2016-11-24T10:00:00.000000Z', '[\"hrhn2016\"]', '[]', '[]', 4)"
    )
    conn.close()
    with Store.open(path) as store:
        assert current_version(store.conn) == SCHEMA_VERSION
        row = store.conn.execute("select text, likes, deleted from posts").fetchone()
        assert tuple(row) == ("Stara objava о слободи", 4, 0)
        # the new version's features work on the old data
        assert (
            store.conn.execute(
                "select count(*) from posts_fts where posts_fts match 'слободи'"
            ).fetchone()[0]
            == 1
        )
        versions = [r[0] for r in store.conn.execute("select version from schema_migrations")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_reopening_does_not_migrate_twice(tmp_path):
    path = tmp_path / "b.db"
    Store.open(path).close()
    conn = connect(path)
    assert migrate(conn) == []
    conn.close()


def test_failed_migration_leaves_previous_version(tmp_path, monkeypatch):
    from tagwatch.storage import migrations

    path = tmp_path / "c.db"
    conn = connect(path)
    migrate(conn, target=1)

    def broken(db):
        db.execute("create table half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations, "MIGRATIONS", [migrations.MIGRATIONS[0], (2, "broken", broken)])
    with pytest.raises(RuntimeError):
        migrations.migrate(conn)
    assert current_version(conn) == 1
    assert (
        conn.execute("select count(*) from sqlite_master where name = 'half_done'").fetchone()[0]
        == 0
    )
    conn.close()


def test_database_from_a_newer_tagwatch_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("insert into schema_migrations values (999, 'future', '')")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer than this tagwatch"):
        Store.open(path)


def test_not_a_database_gives_clear_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not usable|Cannot open"):
        Store.open(path)


def test_missing_directory_gives_clear_error(tmp_path):
    with pytest.raises(StorageError, match="does not exist"):
        Store.open(tmp_path / "nope" / "x.db")
