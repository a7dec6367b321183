"""Moderators as a team: who holds which token, who is moderating now, and their live channel.

Why apart from the handlers: the tokens, the presence list and the channel outlive any
request and are shared by every moderator's page; the handlers only ask "who is this?",
"who is here?" and "wake the other pages".

Tokens come only from the environment (`[wall] token_env`, the shared one, acting as the
moderator named "moderator", and `[wall] moderators`: name -> variable); a moderator whose
variable is unset cannot log in and is listed in `missing`. A token is compared in constant
time against every configured token, whatever matches first, so the time an answer takes
does not tell which name a guess came close to.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tagwatch.settings import SHARED_MODERATOR, Config, wall_moderators

__all__ = ["Team", "Presence", "PRESENCE_SECONDS"]

log = logging.getLogger("tagwatch.wall")

# A moderator whose page has not been heard from for this long is no longer "here".
PRESENCE_SECONDS = 30.0


@dataclass
class Presence:
    """Which moderators have a moderation page open: one heartbeat per open page.

    `clock` is injectable (monotonic seconds) so tests control "30 s later".
    """

    clock: Callable[[], float] = time.monotonic
    window: float = PRESENCE_SECONDS
    _open: dict[str, int] = field(default_factory=dict)
    _seen: dict[str, float] = field(default_factory=dict)

    def joined(self, name: str) -> None:
        self._open[name] = self._open.get(name, 0) + 1
        self._seen[name] = self.clock()

    def beat(self, name: str) -> None:
        self._seen[name] = self.clock()

    def left(self, name: str) -> None:
        count = self._open.get(name, 0) - 1
        if count > 0:
            self._open[name] = count
        else:
            self._open.pop(name, None)
            self._seen.pop(name, None)

    def here(self) -> list[str]:
        """Names with an open page heard from within the window, sorted."""
        cutoff = self.clock() - self.window
        return sorted(n for n in self._open if self._seen.get(n, 0.0) > cutoff)


class Team:
    """The configured moderators, their presence, and a wake-up for their pages."""

    def __init__(
        self, tokens: dict[str, str], missing: dict[str, str], presence: Presence | None = None
    ):
        self._tokens = [(name, token.encode()) for name, token in tokens.items()]
        self.names = list(tokens)
        self.missing = missing  # name -> environment variable that is not set
        self.presence = presence or Presence()
        self.version = 0
        self._wake: asyncio.Event | None = None

    @classmethod
    def from_config(cls, config: Config) -> Team:
        tokens: dict[str, str] = {}
        missing: dict[str, str] = {}
        for name, env in wall_moderators(config).items():
            token = config.secret(env)
            if token:
                tokens[name] = token
            elif name != SHARED_MODERATOR:
                # The shared token is optional once people have their own.
                missing[name] = env
        return cls(tokens, missing)

    @property
    def enabled(self) -> bool:
        """Moderation is on when at least one moderator has a token."""
        return bool(self._tokens)

    def warn_missing(self) -> None:
        for name, env in self.missing.items():
            log.warning(
                "wall moderator %s cannot log in: the environment variable %s is not set",
                name,
                env,
            )

    def identify(self, given: str) -> str | None:
        """The moderator whose token this is, or None.

        Every configured token is compared (no early exit on a match), each in constant time.
        """
        raw = given.encode()
        found: str | None = None
        for name, token in self._tokens:
            if hmac.compare_digest(raw, token) and found is None:
                found = name
        return found

    # -- the moderators' live channel: the hub's wake-up pattern, for their pages only --

    def waiter(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    def notify(self) -> None:
        """Wake every open moderation page (an action was taken, someone came or went)."""
        self.version += 1
        old, self._wake = self._wake, asyncio.Event()
        if old is not None:
            old.set()
