"""One runner per database: an OS file lock that dies with the process holding it.

Two runners writing into one database would fetch everything twice and race on
cursors. A pid file alone is not enough: a runner killed with SIGKILL (or a
machine that lost power) leaves it behind, and someone has to delete it by hand
in the middle of an event. `flock` is released by the kernel when the process
ends, however it ends, so a crashed runner never leaves the database stuck. The
holder's pid, host and start time are written into the file only so the
refusal message can say who holds it.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from tagwatch.errors import AlreadyRunning, StorageError
from tagwatch.records import iso, utcnow

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunnerLock", "lock_path", "lock_holder"]


def lock_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.lock")


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if fcntl is None:  # pragma: no cover - Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


def _read_info(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_holder(db_path: str | Path) -> dict[str, Any] | None:
    """Who runs on this database right now (pid, host, command, since), or None.

    Probes the lock without keeping it, so `tagwatch status` can tell a live
    runner's schedule from the leftovers of one that has stopped.
    """
    path = lock_path(db_path)
    if not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if _try_lock(fd):
            _unlock(fd)
            return None
        return _read_info(path)
    finally:
        os.close(fd)


class RunnerLock:
    """Held for the life of `tagwatch run` (or one `tagwatch collect`) on a database."""

    def __init__(self, db_path: str | Path, *, command: str = "run"):
        self.db_path = str(db_path)
        self.path = lock_path(db_path)
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> RunnerLock:
        if self.db_path == ":memory:":
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            raise StorageError(
                f"Directory {self.path.parent} for the database does not exist: create it or "
                "change [storage] path in the config."
            ) from None
        if not _try_lock(fd):
            os.close(fd)
            info = _read_info(self.path)
            who = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
            what = info.get("command", "run")
            since = info.get("since")
            raise AlreadyRunning(
                f"Another tagwatch ({what}, {who}"
                + (f", since {since}" if since else "")
                + f") is already collecting into {self.db_path}. Stop it first (it stops "
                "cleanly on Ctrl-C or SIGTERM), or point this one at another [storage] path. "
                f"The lock ({self.path}) is released by the system when that process ends."
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": iso(utcnow()),
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            _unlock(fd)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunnerLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
