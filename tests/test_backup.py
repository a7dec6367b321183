"""Backups: verified copies taken while collectors write, rotated, purged of deletions."""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tagwatch.errors import ConfigError, StorageError
from tagwatch.monitor import jobs
from tagwatch.monitor.cli import cli
from tagwatch.monitor.runner import Runner
from tagwatch.settings import parse_config
from tagwatch.storage.backup import list_backups, take_backup
from tagwatch.storage.db import Store
from tests.conftest import base_config_dict, make_post, write_config_toml

T0 = datetime(2016, 11, 24, 6, 0, tzinfo=UTC)


def posts_in(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("select count(*) from posts").fetchone()[0])
    finally:
        conn.close()


def test_a_backup_taken_while_a_collector_writes_is_whole_and_consistent(config, store):
    store.write_posts([make_post(n) for n in range(1, 201)])
    stop = threading.Event()
    written = [200]

    def collector() -> None:
        writer = Store.open(config.db_path)
        n = 1000
        try:
            while not stop.is_set():
                # A page and its cursor in one transaction, as collectors write them.
                writer.write_posts(
                    [make_post(n + i) for i in range(20)], cursor=("bluesky", "#t", str(n + 19))
                )
                written[0] += 20
                n += 20
        finally:
            writer.close()

    thread = threading.Thread(target=collector)
    thread.start()
    try:
        result = take_backup(config.db_path, config.backup_dir, keep=3, now=T0)
    finally:
        stop.set()
        thread.join()

    path = result.backup.path
    assert path == config.db_path.parent / "test-backups" / "test-20161124T060000Z.db"
    assert not list(path.parent.glob(".*partial"))
    assert path.stat().st_mode & 0o777 == 0o600  # the owner's alone
    assert path.parent.stat().st_mode & 0o777 == 0o700
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        posts = conn.execute("select count(*) from posts").fetchone()[0]
        cursor = conn.execute("select value from cursors").fetchone()
    finally:
        conn.close()
    assert 200 <= posts <= written[0] and posts == result.posts
    # One consistent moment: the cursor covers exactly the pages in the copy.
    if cursor is None:
        assert posts == 200  # taken before the first page committed
    else:
        assert posts == 200 + (int(cursor[0]) - 1000 + 1)


def test_backups_rotate_and_older_ones_lose_posts_deleted_since(config, store):
    secret = "Regret-this-backup-5150"
    store.write_posts([make_post(1, text=f"{secret} #HRHN2016"), make_post(2)])
    folder = config.backup_dir
    first = take_backup(config.db_path, folder, keep=2, now=T0).backup.path
    assert secret.encode() in first.read_bytes()

    store.mark_deleted("bluesky", make_post(1).platform_id)
    second = take_backup(config.db_path, folder, keep=2, now=T0 + timedelta(hours=6))
    assert second.purged_in_older == 1  # the earlier copy is purged and vacuumed
    assert secret.encode() not in first.read_bytes()
    assert secret.encode() not in second.backup.path.read_bytes()
    assert posts_in(first) == 2  # the tombstone stays, as in the database

    third = take_backup(config.db_path, folder, keep=2, now=T0 + timedelta(hours=12))
    assert third.removed == (first,) and not first.exists()
    assert [b.taken_at for b in list_backups(config.db_path, folder)] == [
        T0 + timedelta(hours=6),
        T0 + timedelta(hours=12),
    ]
    assert third.purged_in_older == 0


def test_an_unwritable_backup_folder_is_a_clear_error_and_loses_nothing(config, store, tmp_path):
    store.write_posts([make_post(1)])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(StorageError, match="Cannot create the backup folder .* backup_dir"):
        take_backup(config.db_path, blocker / "backups", keep=2)
    assert store.conn.execute("select count(*) from posts").fetchone()[0] == 1


def test_a_damaged_database_says_to_restore_a_backup(tmp_path):
    damaged = tmp_path / "tagwatch.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    with pytest.raises(StorageError) as caught:
        Store.open(damaged)
    message = str(caught.value)
    assert str(damaged) in message and "run `tagwatch restore`" in message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("backup_every_hours", -1, "storage.backup_every_hours must be 0 (no backups) or more"),
        ("backup_keep", 0, "storage.backup_keep must be at least 1"),
    ],
)
def test_backup_settings_are_checked(tmp_path: Path, key: str, value: Any, message: str):
    data = base_config_dict(tmp_path)
    data["storage"][key] = value
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(data, path=tmp_path / "config.toml")


def test_backup_dir_is_relative_to_the_config_file(tmp_path: Path):
    data = base_config_dict(tmp_path)
    data["storage"]["backup_dir"] = "copies"
    assert parse_config(data, path=tmp_path / "config.toml").backup_dir == tmp_path / "copies"


def test_cli_backup_and_status(tmp_path: Path):
    data = base_config_dict(tmp_path)
    data["storage"]["backup_keep"] = 2
    path = write_config_toml(tmp_path / "config.toml", data)
    config = parse_config(data, path=path)
    with Store.open(config.db_path) as s:
        s.write_posts([make_post(n) for n in range(1, 4)])
    runner = CliRunner()
    before = runner.invoke(cli, ["--config", str(path), "status"])
    assert before.exit_code == 0, before.output
    assert f"Backups: none yet in {config.backup_dir}" in before.output

    result = runner.invoke(cli, ["--config", str(path), "backup"])
    assert result.exit_code == 0, result.output
    assert "Backup: " in result.output and "3 posts, checked ok" in result.output
    (made,) = list_backups(config.db_path, config.backup_dir)
    assert str(made.path) in result.output
    after = runner.invoke(cli, ["--config", str(path), "status"])
    assert f"Backups: 1 in {config.backup_dir}; newest " in after.output

    elsewhere = tmp_path / "usb"
    other = runner.invoke(cli, ["--config", str(path), "backup", "--out", str(elsewhere)])
    assert other.exit_code == 0 and len(list_backups(config.db_path, elsewhere)) == 1


def test_the_runner_schedules_backups_and_survives_a_failed_one(tmp_path: Path, caplog):
    data = base_config_dict(tmp_path)
    data["storage"].update(backup_every_hours=6, backup_dir=str(tmp_path / "blocked" / "b"))
    (tmp_path / "blocked").write_text("a file, so the backup folder cannot be made")
    config = parse_config(data, path=tmp_path / "config.toml")
    runner = Runner(config, factories={})
    runner.start()
    try:
        job = runner.scheduler.get_job("backup")
        assert job is not None and job.trigger.interval == timedelta(hours=6)
        assert runner.backup() is False  # logged, not raised: the runner goes on
        assert "database backup failed: Cannot create the backup folder" in caplog.text
    finally:
        runner.stop()
    data["storage"]["backup_every_hours"] = 0
    quiet = Runner(parse_config(data, path=tmp_path / "config.toml"), factories={})
    quiet.start()
    try:
        assert quiet.scheduler.get_job("backup") is None
    finally:
        quiet.stop()


def test_the_backup_job_writes_a_verified_copy(config, store):
    store.write_posts([make_post(1)])
    result = jobs.backup(config)
    assert result.backup.path.parent == config.backup_dir and result.posts == 1


def test_restore_puts_the_newest_backup_back_and_keeps_the_damaged_file(tmp_path: Path):
    data = base_config_dict(tmp_path)
    path = write_config_toml(tmp_path / "config.toml", data)
    config = parse_config(data, path=path)
    with Store.open(config.db_path) as s:
        s.write_posts([make_post(n) for n in range(1, 6)], cursor=("bluesky", "#t", "5"))
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(path), "backup"]).exit_code == 0
    config.db_path.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)  # the disk failed

    broken = runner.invoke(cli, ["--config", str(path), "status"])
    assert broken.exit_code == 1 and "run `tagwatch restore`" in broken.output

    result = runner.invoke(cli, ["--config", str(path), "restore"])
    assert result.exit_code == 0, result.output
    assert "Restored " in result.output and "kept as " in result.output
    with Store.open(config.db_path) as s:
        assert s.conn.execute("select count(*) from posts").fetchone()[0] == 5
        assert s.get_cursor("bluesky", "#t") == "5"  # collection resumes from here
    (aside,) = [
        p for p in tmp_path.glob("test.db.replaced-*") if p.name[-4:] not in ("-wal", "-shm")
    ]
    assert aside.read_bytes().startswith(b"SQLite format 3\x00\x13")  # kept, not deleted


def test_restore_refuses_while_a_runner_writes_and_checks_the_backup(tmp_path: Path):
    from tagwatch.monitor.lock import RunnerLock

    data = base_config_dict(tmp_path)
    path = write_config_toml(tmp_path / "config.toml", data)
    config = parse_config(data, path=path)
    with Store.open(config.db_path) as s:
        s.write_posts([make_post(1)])
    runner = CliRunner()
    none_yet = runner.invoke(cli, ["--config", str(path), "restore"])
    assert none_yet.exit_code == 2 and "No backup of" in none_yet.output

    assert runner.invoke(cli, ["--config", str(path), "backup"]).exit_code == 0
    with RunnerLock(config.db_path, command="run"):
        busy = runner.invoke(cli, ["--config", str(path), "restore"])
    assert busy.exit_code == 2 and "Another tagwatch" in busy.output

    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    refused = runner.invoke(cli, ["--config", str(path), "restore", "--from", str(bad)])
    assert refused.exit_code == 1 and "failed its check" in refused.output
    with Store.open(config.db_path) as s:  # untouched
        assert s.conn.execute("select count(*) from posts").fetchone()[0] == 1
