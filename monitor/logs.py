"""Logging for a monitor that runs for days: stderr plus a rotating file, no secrets ever.

A runner left alone during an event is judged afterwards by its log, so every
pass writes one line with its figures (see `tagwatch.collectors.base`). The log file
rotates so it cannot fill the disk, and a filter scrubs the value of every
secret the config names (tokens, app passwords) from messages and tracebacks:
client libraries like to put request headers and URLs into their exceptions.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from tagwatch.errors import ConfigError
from tagwatch.settings import SETTINGS, Config

__all__ = [
    "RedactSecrets",
    "secret_values",
    "setup_logging",
    "remove_logging",
    "log_file_path",
    "FORMAT",
]

HANDLER_NAME = "tagwatch"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Shorter values would redact ordinary words; no real token or password is this short.
MIN_SECRET_LENGTH = 6


def secret_values(config: Config) -> list[str]:
    """The current values of every environment variable the config marks as secret."""
    values = []
    for spec in SETTINGS:
        if not spec.secret_env or spec.section not in config.sections:
            continue
        named = config.sections[spec.section].get(spec.key)
        # One variable, or a table of them (mastodon.access_token_envs: instance -> variable).
        for env_name in named.values() if isinstance(named, Mapping) else [named]:
            value = os.environ.get(env_name, "") if isinstance(env_name, str) and env_name else ""
            if len(value) >= MIN_SECRET_LENGTH:
                values.append(value)
    # Longest first, so a secret containing another is replaced whole.
    return sorted(set(values), key=len, reverse=True)


class RedactSecrets(logging.Filter):
    """Replaces secret values in a record's message and traceback with [redacted]."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def log_file_path(config: Config) -> Path | None:
    name = config.schedule.log_file
    if not name:
        return None
    p = Path(name).expanduser()
    return p if p.is_absolute() else config.path.parent / p


def setup_logging(
    config: Config,
    *,
    stream: TextIO | None = None,
    level: int = logging.INFO,
    stream_level: int = logging.NOTSET,
) -> list[logging.Handler]:
    """Send tagwatch's logs (and other libraries' warnings) to stderr and the rotating file.

    The handlers go on the root logger, so a warning from a client library also
    passes the secret filter instead of reaching Python's unfiltered last-resort
    handler. Returns the handlers installed (see `remove_logging`); calling it
    again replaces the ones it installed before.
    """
    redact = RedactSecrets(secret_values(config))
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    handlers[0].setLevel(stream_level)
    path = log_file_path(config)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    path,
                    maxBytes=config.schedule.log_max_bytes,
                    backupCount=config.schedule.log_backups,
                    encoding="utf-8",
                )
            )
        except OSError as exc:
            raise ConfigError(
                f"Cannot write the log file {path}: {exc.strerror or exc}. Set [schedule] "
                'log_file to a writable path, or to "" to log to stderr only.'
            ) from exc
    root = logging.getLogger()
    remove_logging([h for h in root.handlers if h.get_name() == HANDLER_NAME])
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redact)
        handler.set_name(HANDLER_NAME)
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("tagwatch").setLevel(level)
    return handlers


def remove_logging(handlers: Iterable[logging.Handler]) -> None:
    root = logging.getLogger()
    for handler in handlers:
        root.removeHandler(handler)
        handler.close()
