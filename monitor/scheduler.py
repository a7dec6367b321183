"""`tagwatch run` and `tagwatch collect`: lock the database, log, run, stop cleanly on a signal.

Why apart from the Runner (`runner.py`): these are the process's entry points. Only they
hold the runner lock, set up logging and install signal handlers (the main thread's
business); the Runner itself is started and stopped by its callers, which is how the demo
and the tests drive it with no signal and no lock.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tagwatch.collectors import sections_hint
from tagwatch.collectors.base import Progress, RunRecord
from tagwatch.monitor.lock import RunnerLock
from tagwatch.monitor.logs import remove_logging, setup_logging
from tagwatch.monitor.runner import CollectorFactory, Runner
from tagwatch.settings import Config

__all__ = ["run_until_stopped", "collect_now"]

log = logging.getLogger("tagwatch.run")


def _stop_on_signal(event: threading.Event, *, hard: bool) -> Callable[[int, Any], None]:
    """First SIGINT/SIGTERM: stop at the next request. A second one: quit now.

    Quitting now is safe for the data: a page is one SQLite transaction, rolled
    back if it was not committed. With `hard`, the process exits at once even
    though a pass thread is stuck in a request (threads cannot be interrupted);
    its run stays 'running' until the next start marks it interrupted.
    """

    def on_signal(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if event.is_set():
            log.warning("%s received again: quitting now", name)
            if hard:
                logging.shutdown()
                os._exit(1)
            raise KeyboardInterrupt
        log.info("%s received: stopping after the passes in flight (again to quit at once)", name)
        event.set()

    return on_signal


@contextmanager
def _signals_set(handler: Callable[[int, Any], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def run_until_stopped(
    config: Config,
    *,
    factories: Mapping[str, CollectorFactory] | None = None,
    stop_event: threading.Event | None = None,
    log_stream: Any = None,
) -> int:
    """What `tagwatch run` does: lock, log, schedule, and stop cleanly on a signal.

    Returns the exit code (0: stopped on request). Raises AlreadyRunning when
    another runner holds the database.
    """
    stop_requested = stop_event or threading.Event()

    on_signal = _stop_on_signal(stop_requested, hard=True)

    with RunnerLock(config.db_path, command="run"):
        handlers = setup_logging(config, stream=log_stream)
        try:
            runner = Runner(config, factories=factories)
            if not runner.platforms():
                log.warning(
                    "no collector is enabled: set enabled = true under %s; running the digest%s"
                    " only",
                    sections_hint(),
                    " and wall" if config.schedule.serve_wall else "",
                )
            with _signals_set(on_signal):
                try:
                    runner.start()
                    while not stop_requested.wait(1.0):
                        pass
                finally:
                    runner.stop()
        finally:
            remove_logging(handlers)
    return 0


def collect_now(
    config: Config,
    platforms: list[str] | None = None,
    *,
    factories: Mapping[str, CollectorFactory] | None = None,
    progress: Progress | None = None,
    log_stream: Any = None,
) -> list[RunRecord]:
    """What `tagwatch collect` does: one pass of each collector, in turn, under the lock.

    SIGINT/SIGTERM end the pass in flight at its next request, as in `tagwatch run`.
    """
    runner = Runner(config, factories=factories, progress=progress)
    names = platforms or runner.platforms()

    on_signal = _stop_on_signal(runner.stop_event, hard=False)

    records: list[RunRecord] = []
    with RunnerLock(config.db_path, command="collect"):
        # The summary goes to stdout; stderr gets only warnings, the log file every pass.
        handlers = setup_logging(config, stream=log_stream, stream_level=logging.WARNING)
        try:
            runner.open()
            with _signals_set(on_signal):
                for name in names:
                    if runner.stop_event.is_set():
                        break
                    record = runner.collect(name)
                    if record is not None:
                        records.append(record)
        finally:
            runner.close()
            remove_logging(handlers)
    return records
