"""The runner's non-collection jobs: the daily digest, enrichment and the wall.

Thin, typed calls into the modules that own each job (issues #7, #8, #9), with
the arguments the runner has: its own store, and its clock when simulated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from starlette.applications import Starlette

from tagwatch.monitor.enrichment import enrich_pending
from tagwatch.reports.digest import send_daily_digest
from tagwatch.reports.languages import LanguageGuesser
from tagwatch.reports.text import analyze_many
from tagwatch.reports.wall.app import bind_address, create_app
from tagwatch.settings import Config
from tagwatch.storage.backup import BackupResult, take_backup
from tagwatch.storage.db import Store

__all__ = [
    "daily_digest",
    "enrich_after_pass",
    "warm_enrichment",
    "wall_app",
    "wall_address",
]

log = logging.getLogger("tagwatch.run")

# A Latin and a Cyrillic sentence: lingua loads the models of the languages a text's
# script allows, so both scripts load every configured language's models.
_WARM_TEXTS = (
    "Human rights are universal: the conference opens its doors today.",
    "Права человека универсальны: конференция открывается сегодня.",
)


def daily_digest(config: Config, day: date, *, store: Store) -> None:
    """Build, write and send the digest of `day`, reading through the runner's connection."""
    send_daily_digest(config, day, conn=store.conn, send=True)
    log.info("digest for %s sent", day)


def enrich_after_pass(config: Config, store: Store) -> int:
    """Enrich what the passes stored; the number of posts enriched."""
    return enrich_pending(store, config)


def warm_enrichment(config: Config) -> None:
    """Load the language models for the event's languages now, not on the first enrichment.

    lingua loads them once per process (seconds, holding the GIL) and keeps them;
    a detector built later for the same languages reuses them. The English
    tagger and sentiment lexicon load on the way.
    """
    guesser = LanguageGuesser(config.event.languages)
    analyze_many(list(_WARM_TEXTS), [None] * len(_WARM_TEXTS), guesser=guesser)


def wall_app(config: Config, *, now: Callable[[], datetime] | None = None) -> Starlette:
    """The wall's ASGI app over the config's database.

    `now` is the runner's clock when it is simulated (the demo), so relative
    times and the session now running follow the simulated event.
    """
    return create_app(config, config.db_path, now)


def wall_address(config: Config) -> tuple[str, int]:
    """Where the wall listens: [wall] host and port, loopback unless `public` allows more."""
    return bind_address(config, None, None)


def backup(config: Config, *, directory: Path | None = None) -> BackupResult:
    """A verified copy of the database in [storage] backup_dir (or `directory`)."""
    return take_backup(
        config.db_path, directory or config.backup_dir, keep=config.storage.backup_keep
    )
