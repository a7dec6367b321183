"""The runner's enrichment thread: after a pass that stored posts, never in its way.

Why a thread of its own: enrichment (language, sentiment, phrases, session) of a big page
takes seconds, and the language models take seconds more to load; a collector's next pass
must wait for neither. Passes only say that enrichment is wanted; wakes that come during a
run fold into one more run. The same object enriches in the caller's thread for
`tagwatch collect`, which has no scheduler. What enrichment does is `monitor/enrichment.py`.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from time import monotonic

from tagwatch.monitor import jobs
from tagwatch.monitor.memory import release_free_memory
from tagwatch.records import utcnow
from tagwatch.settings import Config
from tagwatch.storage.db import Store

__all__ = ["Enricher", "PRUNE_EVERY_SECONDS"]

log = logging.getLogger("tagwatch.run")

PRUNE_EVERY_SECONDS = 3600.0


class Enricher:
    """Enrichment for one runner: `run_once` here and now, or `start()` its thread and `want()`."""

    def __init__(self, config: Config, stop_event: threading.Event):
        self.config = config
        self.stop_event = stop_event
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._pruned_at = -PRUNE_EVERY_SECONDS  # the first enrichment run prunes

    def want(self) -> None:
        """A pass stored posts: enrich them on the thread, soon."""
        self._wanted.set()

    def run_once(self, store: Store) -> None:
        with self._lock:
            try:
                done = jobs.enrich_after_pass(self.config, store)
                if done:
                    log.info("enriched %d posts", done)
            except Exception:  # noqa: BLE001 - enrichment must never stop collection
                log.exception("enrichment failed")
            self._prune(store)
            # An enrichment batch is the runner's biggest burst of allocations: hand what
            # it freed back, so memory stays flat over days (see monitor/memory.py).
            release_free_memory()

    def _prune(self, store: Store) -> None:
        """At most hourly: drop the wall's change log older than a day, so the file
        does not grow by it for the whole event (walls read it within a second)."""
        if monotonic() - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = monotonic()
        try:
            # `wall_events.at` is written by SQLite's own clock: compare with the real one.
            gone = store.prune_wall_events(older_than=utcnow() - timedelta(days=1))
            if gone:
                log.info("pruned %d wall events older than a day", gone)
        except Exception:  # noqa: BLE001 - housekeeping must never stop collection
            log.exception("pruning wall events failed")

    def start(self) -> None:
        self.thread = threading.Thread(target=self._work, name="tagwatch-enrich", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        """Enrich after the passes that stored posts, one run at a time, in its own thread.

        The language models load first, at start: lingua holds the GIL while it
        loads them (seconds), so that pause comes once, as the runner starts,
        not in the middle of some later pass.
        """
        store = Store.open(self.config.db_path)
        try:
            try:
                jobs.warm_enrichment(self.config)
            except Exception:  # noqa: BLE001 - enrichment loads them itself when it runs
                log.exception("loading the language models failed")
            while True:
                self._wanted.wait()
                if self.stop_event.is_set():
                    return
                self._wanted.clear()
                self.run_once(store)
        finally:
            store.close()

    def stop(self) -> None:
        """Wake the thread so it sees the stop event; wait for a run in progress (60 s at most)."""
        if self.thread is None:
            return
        self._wanted.set()
        self.thread.join(timeout=60)
        if self.thread.is_alive():
            log.warning("enrichment did not finish within 60 s; the rest is enriched next time")
        self.thread = None
