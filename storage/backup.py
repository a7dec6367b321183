"""Verified copies of the database, taken while collectors write, and kept in rotation.

An event happens once: a database lost to a disk fault or a damaged file
cannot be collected again (platforms' search windows close within days).
`take_backup` copies the file with SQLite's online backup API from a read
connection, so collectors and the wall go on while it runs and the copy is one
consistent moment; the copy is checked (`PRAGMA quick_check`) before it
replaces anything, written under a temporary name and renamed into place, so
a crash mid-copy never leaves a half backup that looks whole.

Deleted means deleted, in backups too: every backup taken earlier is purged
of the posts deleted upstream since (the same purge as the database's), and
vacuumed so their text leaves those files.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tagwatch.errors import StorageError
from tagwatch.records import utcnow
from tagwatch.storage.db import Store, connect

__all__ = ["Backup", "BackupResult", "list_backups", "restore_backup", "take_backup"]

SUFFIX = ".db"
STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Backup:
    path: Path
    taken_at: datetime
    size: int


@dataclass(frozen=True)
class BackupResult:
    backup: Backup
    posts: int
    purged_in_older: int  # posts deleted upstream since, purged from earlier backups
    removed: tuple[Path, ...]  # backups beyond `keep`, deleted


def _name(db_path: Path, at: datetime) -> str:
    return f"{db_path.stem}-{at.strftime(STAMP)}{SUFFIX}"


def list_backups(db_path: str | Path, directory: Path) -> list[Backup]:
    """This database's backups in `directory`, oldest first."""
    db = Path(db_path)
    found: list[Backup] = []
    if not directory.is_dir():
        return found
    prefix = f"{db.stem}-"
    for path in directory.glob(f"{prefix}*{SUFFIX}"):
        stamp = path.name[len(prefix) : -len(SUFFIX)]
        try:
            taken = datetime.strptime(stamp, STAMP).replace(tzinfo=utcnow().tzinfo)
        except ValueError:
            continue  # not one of ours
        found.append(Backup(path, taken, path.stat().st_size))
    return sorted(found, key=lambda b: b.taken_at)


def take_backup(
    db_path: str | Path,
    directory: Path,
    *,
    keep: int,
    now: datetime | None = None,
) -> BackupResult:
    """Copy the database into `directory`, verify it, purge older copies, keep `keep`."""
    db = Path(db_path)
    if not db.exists():
        raise StorageError(f"No database at {db} to back up: check [storage] path in the config.")
    if keep < 1:
        raise StorageError(f"[storage] backup_keep must be at least 1, got {keep}.")
    try:
        # People's posts, some by defenders at risk: the owner's alone.
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"Cannot create the backup folder {directory}: {exc.strerror or exc}. "
            "Set [storage] backup_dir to a folder tagwatch can write."
        ) from exc
    at = now or utcnow()
    final = directory / _name(db, at)
    partial = directory / f".{final.name}.partial"
    source = connect(db, readonly=True)
    try:
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(partial)
        try:
            source.backup(target)
            check = target.execute("pragma quick_check").fetchone()[0]
            posts = int(target.execute("select count(*) from posts").fetchone()[0])
        finally:
            target.close()
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise StorageError(
            f"Backing up {db} to {directory} failed: {exc}. Nothing was replaced; "
            "check the free space and permissions there."
        ) from exc
    finally:
        source.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise StorageError(
            f"The copy of {db} failed its check ({check}): the database itself may be "
            "damaged. Keep the earlier backups; see docs/running.md, Backups."
        )
    os.chmod(partial, 0o600)
    os.replace(partial, final)
    backup = Backup(final, at, final.stat().st_size)
    older = [b for b in list_backups(db, directory) if b.path != final]
    removed = tuple(b.path for b in older[: max(0, len(older) - (keep - 1))])
    for path in removed:
        path.unlink(missing_ok=True)
    kept = [b.path for b in older if b.path not in removed]
    purged = 0
    if kept:
        # The fresh copy holds every tombstone: read them once for all older copies.
        copy = connect(final, readonly=True)
        try:
            deleted = [
                (r[0], r[1])
                for r in copy.execute("select platform, platform_id from posts where deleted = 1")
            ]
        finally:
            copy.close()
        if deleted:
            purged = sum(_purge_deleted(path, deleted) for path in kept)
    return BackupResult(backup, posts, purged, removed)


def _purge_deleted(backup: Path, deleted: list[tuple[str, str]]) -> int:
    """Purge from an older backup the posts deleted upstream since it was taken."""
    store = Store.open(backup, migrate_schema=False)
    try:
        purged = 0
        for platform, platform_id in deleted:
            live = store.conn.execute(
                "select 1 from posts where platform = ? and platform_id = ? and deleted = 0",
                (platform, platform_id),
            ).fetchone()
            if live and store.mark_deleted(platform, platform_id):
                purged += 1
        if purged:
            store.vacuum()
        return purged
    finally:
        store.close()


def restore_backup(
    db_path: str | Path, backup: Path, *, now: datetime | None = None
) -> Path | None:
    """Put `backup` in the database's place; the file it replaces is moved aside, never deleted.

    The backup is checked first, and copied under a temporary name beside the
    database before the swap, so a failure at any step leaves the database as it
    was. Returns where the replaced database (and its -wal/-shm) went, if any.
    The caller makes sure no tagwatch is writing (the runner lock).
    """
    db = Path(db_path)
    if not backup.is_file():
        raise StorageError(f"No backup at {backup}: `tagwatch status` shows the folder of backups.")
    try:
        conn = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)
        try:
            check = conn.execute("pragma quick_check").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        check = str(exc)
    if check != "ok":
        raise StorageError(f"The backup {backup} failed its check ({check}); try an older one.")
    at = (now or utcnow()).strftime(STAMP)
    incoming = db.with_name(f".{db.name}.restoring")
    try:
        shutil.copyfile(backup, incoming)
        os.chmod(incoming, 0o600)
    except OSError as exc:
        incoming.unlink(missing_ok=True)
        raise StorageError(
            f"Copying {backup} beside {db} failed: {exc.strerror or exc}. "
            "Nothing was changed; check the free space there."
        ) from exc
    aside: Path | None = None
    if db.exists():
        aside = db.with_name(f"{db.name}.replaced-{at}")
        for suffix in ("", "-wal", "-shm"):
            old = Path(f"{db}{suffix}")
            if old.exists():
                os.replace(old, Path(f"{aside}{suffix}"))
    os.replace(incoming, db)
    return aside
