"""The image proxy's disk cache: re-encoded pictures under the data folder, bounded in size.

Why on disk and not in memory: a wall runs for days and shows thousands of pictures; the
same few hundred come back as posts rotate, and a restart (or a second wall process on the
same database) should not fetch them all again from the platforms. Entries are keyed by a
hash of the picture's address and variant, so nothing in the folder names a post or an
account. Least-recently-used entries go first once the folder passes its size: a hit
touches the file's mtime, which is how the order survives a restart.

Every method does blocking file IO: call it from a worker thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

__all__ = ["DiskCache", "cache_key"]

SUFFIX = ".img"


def cache_key(url: str, variant: str) -> str:
    """The file name of a picture: its address and variant hashed (no URL on disk)."""
    return hashlib.sha256(f"{variant} {url}".encode()).hexdigest()


class DiskCache:
    """Files of at most `max_bytes` in all; the least recently used are evicted first."""

    def __init__(self, folder: Path, max_bytes: int):
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self.total = 0
        folder.mkdir(parents=True, exist_ok=True)
        found = []
        for entry in os.scandir(folder):
            if entry.name.endswith(".tmp"):  # a write cut short by a crash
                Path(entry.path).unlink(missing_ok=True)
                continue
            if entry.is_file() and entry.name.endswith(SUFFIX):
                st = entry.stat()
                found.append((st.st_mtime, entry.name[: -len(SUFFIX)], st.st_size))
        for _, key, size in sorted(found):
            self._sizes[key] = size
            self.total += size
        with self._lock:
            self._evict()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"

    def get(self, key: str) -> bytes | None:
        with self._lock:
            if key not in self._sizes:
                return None
            self._sizes.move_to_end(key)
        path = self._path(key)
        try:
            data = path.read_bytes()
            os.utime(path)  # the LRU order, kept across restarts
        except OSError:
            with self._lock:
                self.total -= self._sizes.pop(key, 0)
            return None
        return data

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = path.with_name(f"{key}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers see the whole picture or none
        with self._lock:
            self.total -= self._sizes.pop(key, 0)
            self._sizes[key] = len(data)
            self.total += len(data)
            self._evict()

    def _evict(self) -> None:
        while self.total > self.max_bytes and self._sizes:
            key, size = self._sizes.popitem(last=False)
            self.total -= size
            self._path(key).unlink(missing_ok=True)
