"""Exceptions tagwatch raises, and the exit codes the CLI maps them to.

    TagwatchError              anything tagwatch reports to a user (exit 1)
    ├── ConfigError            bad or missing config (exit 2)
    ├── UsageError             bad command-line input (exit 2)
    │   └── AlreadyDecided     another moderator decided that post first: nothing changed
    ├── StorageError           database cannot be opened or migrated (exit 1)
    │   └── StorageBusy        locked past the wait (a backup or VACUUM running): retry
    ├── AlreadyRunning         another runner holds the database lock (exit 2)
    ├── DeliveryError          the digest or an alert could not be mailed or posted (exit 1)
    │   └── DeliveryRateLimited  a chat server said "too many": carries how long to wait
    └── PlatformError          a platform answered badly or not at all (exit 1)
        ├── AuthError          credentials missing or refused
        ├── RateLimited        429; carries when the window resets
        ├── QuotaExhausted     the configured spending budget is reached
        ├── MalformedResponse  an answer that does not match the API's shape
        └── MediaRefused       a picture the wall's image proxy will not fetch or serve

Only the CLI turns these into messages and exit codes; library code raises them
with a message that names the problem and what to do about it.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "TagwatchError",
    "ConfigError",
    "UsageError",
    "AlreadyDecided",
    "StorageError",
    "StorageBusy",
    "AlreadyRunning",
    "DeliveryError",
    "DeliveryRateLimited",
    "PlatformError",
    "AuthError",
    "RateLimited",
    "QuotaExhausted",
    "MalformedResponse",
    "MediaRefused",
]


class TagwatchError(Exception):
    exit_code = 1


class ConfigError(TagwatchError):
    exit_code = 2


class UsageError(TagwatchError):
    exit_code = 2


class AlreadyDecided(UsageError):
    """A moderator acted on a post as they saw it, but another had decided it meanwhile.

    Carries what happened instead, so the page can say "already approved by ana".
    """

    def __init__(self, message: str, *, state: str, by: str | None):
        super().__init__(message)
        self.state = state
        self.by = by


class StorageError(TagwatchError):
    exit_code = 1


class StorageBusy(StorageError):
    """SQLite stayed locked past the wait (a VACUUM, a backup): nothing was written."""


class AlreadyRunning(TagwatchError):
    exit_code = 2


class DeliveryError(TagwatchError):
    """SMTP or the chat webhook refused or failed; the digest files are written already."""

    exit_code = 1


class DeliveryRateLimited(DeliveryError):
    """429 from a chat webhook or Matrix: `retry_after` seconds, as the server asked."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PlatformError(TagwatchError):
    """A platform failed; `retryable` says whether the same request may succeed later."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class AuthError(PlatformError):
    pass


class RateLimited(PlatformError):
    def __init__(self, message: str, *, reset_at: datetime | None = None):
        super().__init__(message, status=429, retryable=True)
        self.reset_at = reset_at


class QuotaExhausted(PlatformError):
    pass


class MalformedResponse(PlatformError):
    pass


class MediaRefused(PlatformError):
    """A picture the wall's image proxy will not fetch or serve (its host, address, type,
    size or time); the screen gets a 404 and shows the post without it."""
