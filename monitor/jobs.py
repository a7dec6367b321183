"""The runner's non-collection jobs, reached through soft seams.

The digest (issue #8), enrichment (issue #7) and the wall (issue #9) are built
alongside the scheduler. The runner must work whether or not they are
installed yet, and must not break when their signatures grow: each seam looks
for a function by module and name, and passes only the keyword arguments the
function declares. A missing piece is one log line, not a crash.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from monitor.config import Config
from storage.db import Store

__all__ = [
    "find_hook",
    "call_with_known_args",
    "daily_digest",
    "enrich_after_pass",
    "wall_app",
    "wall_address",
    "DIGEST_HOOKS",
    "ENRICH_HOOKS",
    "WALL_HOOKS",
]

log = logging.getLogger("tagwatch.run")

DIGEST_HOOKS = (
    "reports.digest:send_daily_digest",
    "reports.digest:daily_digest",
    "reports.digest:send_digest",
    "reports.digest:build_and_send",
)
ENRICH_HOOKS = (
    "storage.enrichment:enrich_pending",
    "reports.enrich:enrich_pending",
    "reports.analysis:enrich_pending",
)
WALL_HOOKS = ("reports.wall.app:create_app", "reports.wall:create_app")
WALL_ADDRESS_HOOKS = ("reports.wall.app:bind_address",)


def find_hook(candidates: Sequence[str]) -> Callable[..., Any] | None:
    """The first `module:function` of `candidates` that can be imported, or None."""
    for spec in candidates:
        module_name, _, attr = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only "this piece is not built yet" is skipped; a broken import inside
            # an existing module is a bug that must be seen.
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        fn = getattr(module, attr, None)
        if callable(fn):
            return fn
    return None


def call_with_known_args(fn: Callable[..., Any], **available: Any) -> Any:
    """Call `fn` with those of `available` that its signature names."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return fn(**available)
    kwargs = {k: v for k, v in available.items() if k in params}
    return fn(**kwargs)


def daily_digest(
    config: Config, day: date, *, store: Store, hooks: Sequence[str] | None = None
) -> bool:
    """Build and send the digest of `day`; False when no digest module is installed."""
    fn = find_hook(hooks or DIGEST_HOOKS)
    if fn is None:
        log.warning("digest for %s skipped: the digest is not built yet (issue #8)", day)
        return False
    call_with_known_args(fn, config=config, day=day, store=store, conn=store.conn, send=True)
    log.info("digest for %s sent", day)
    return True


def enrich_after_pass(
    config: Config, store: Store, *, hooks: Sequence[str] | None = None
) -> int | None:
    """Enrich what the last pass stored; None when enrichment is not installed."""
    fn = find_hook(hooks or ENRICH_HOOKS)
    if fn is None:
        return None
    done = call_with_known_args(fn, store=store, conn=store.conn, config=config)
    return done if isinstance(done, int) else None


def wall_app(
    config: Config,
    *,
    hooks: Sequence[str] | None = None,
    now: Callable[[], Any] | None = None,
) -> Any | None:
    """The wall's ASGI app, or None when the wall is not installed.

    `now` is the runner's clock when it is simulated (the demo), so relative
    times and the session now running follow the simulated event.
    """
    fn = find_hook(hooks or WALL_HOOKS)
    if fn is None:
        return None
    return call_with_known_args(fn, config=config, db_path=config.db_path, now=now)


def wall_address(config: Config) -> tuple[str, int]:
    """Where the wall listens: the wall's own check (loopback unless public), or the defaults."""
    fn = find_hook(WALL_ADDRESS_HOOKS)
    if fn is not None:
        host, port = fn(config, None, None)
        return str(host), int(port)
    wall = config.sections.get("wall")
    if wall is None:
        return "127.0.0.1", 8080
    return str(wall.host), int(wall.port)
