"""Bluesky's session and the client library's errors: what the pass needs besides requests.

The session (access and refresh tokens) is reused across passes: in memory for
this process, and in a 0600 file beside the database for the next one, never
in the database. Requests themselves go through `atproto`'s `Client`, driven by
`BlueskyCollector` so that retries and rate-limit waits are the shared ones.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from atproto_client.exceptions import RequestErrorBase
from atproto_client.models.common import XrpcError

from tagwatch.errors import AuthError

__all__ = [
    "SESSIONS",
    "SessionFile",
    "SessionExpired",
    "forget_sessions",
    "xrpc_error",
    "chunks",
    "first_line",
]

log = logging.getLogger("tagwatch.collect.bluesky")
T = TypeVar("T")


# Process-wide: the scheduler makes a new collector every pass, and createSession
# is rate limited per account (30 per 5 minutes, 300 a day).
SESSIONS: dict[tuple[str, str], str] = {}


def forget_sessions() -> None:
    """Drop the sessions kept in memory (tests; a changed app password)."""
    SESSIONS.clear()


class SessionFile:
    """The session string in a 0600 file next to the database, for the next process.

    It holds a refresh token, a secret as strong as the app password, so it is
    never written to the database (which gets exported and shared) nor logged.
    """

    def __init__(self, db_path: str):
        self.path = None if db_path == ":memory:" else Path(db_path + ".bluesky-session")

    def load(self, service: str, handle: str) -> str | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            if self.path.stat().st_mode & 0o077:
                log.warning("%s was readable by others; made it private (0600)", self.path)
                self.path.chmod(0o600)
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("service") != service or data.get("handle") != handle:
            return None
        session = data.get("session")
        return session if isinstance(session, str) else None

    def save(self, service: str, handle: str, session: str) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"service": service, "handle": handle, "session": session}, fh)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:  # the in-memory copy still serves this process
            log.warning("could not save the Bluesky session to %s: %s", self.path, exc.strerror)

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class SessionExpired(AuthError):
    """The server no longer accepts the session's token; log in again once."""


def xrpc_error(exc: RequestErrorBase) -> str:
    content = exc.response.content if exc.response is not None else None
    return content.error if isinstance(content, XrpcError) else ""


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def first_line(exc: Exception, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", str(exc)).strip()
    return text[:limit] + ("…" if len(text) > limit else "")
