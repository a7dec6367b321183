"""The live wall as an ASGI app: a full-screen page fed by server-sent events.

This module only wires: it opens the wall's state (a read-only feed, a writer when
moderation is on, the hub that polls) and routes each URL to its handler in `handlers.py`.
One `WallHub` per app polls the database for wall events (~0.5 s) and wakes every open
stream (`hub.py`); a new stream, or one that reconnects with `Last-Event-ID`, gets the
missed messages or a reset (see `feed.py`). Every response carries a strict
Content-Security-Policy: the pages load only their own script and style, and post text
reaches the DOM only through `textContent`. `server.py` serves the app with uvicorn.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagwatch.errors import StorageBusy, UsageError
from tagwatch.records import utcnow
from tagwatch.reports.wall.access import WAIT_MS
from tagwatch.reports.wall.branding import Branding
from tagwatch.reports.wall.feed import WallFeed
from tagwatch.reports.wall.handlers import WallHandlers
from tagwatch.reports.wall.hub import WallHub, current_session
from tagwatch.reports.wall.media_proxy import MediaProxy
from tagwatch.reports.wall.pictures import WallPictures
from tagwatch.reports.wall.rules import WallRules
from tagwatch.reports.wall.team import Team
from tagwatch.settings import Config
from tagwatch.storage.db import Store, connect

__all__ = ["create_app", "bind_address", "current_session", "CSP"]

log = logging.getLogger("tagwatch.wall")

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI middleware (it must not buffer the event stream).

    It also starts the hub on the first request when the server runs without
    lifespan events.
    """

    def __init__(self, app: ASGIApp, hub: WallHub):
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.hub.closed:
            self.hub.start()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def bind_address(config: Config, host: str | None, port: int | None) -> tuple[str, int]:
    """Where to listen; refuses a non-loopback address unless the config allows it."""
    host = host or config.wall.host
    port = config.wall.port if port is None else port
    if not 0 < port < 65536:
        raise UsageError(f"Port {port} is not a TCP port; use 1-65535 (e.g. --port 8080).")
    if not _is_loopback(host) and not config.wall.public:
        raise UsageError(
            f"Refusing to serve the wall on {host}: not a loopback address, so anyone on the "
            "network could open it. Set public = true in the [wall] section of the config "
            "to allow it."
        )
    return host, port


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(
    config: Config,
    db_path: str | Path | None = None,
    now: Callable[[], datetime] | None = None,
    *,
    poll_interval: float = 0.5,
) -> Starlette:
    """The wall app; `now` is injectable so tests control relative times and the agenda."""
    db_path = Path(db_path) if db_path is not None else config.db_path
    clock = now or utcnow
    team = Team.from_config(config)
    team.warn_missing()
    rules = WallRules.from_config(config, token="set" if team.enabled else None)
    if rules.preset_missing:
        log.warning(
            "wall: no preset word list for %s ([event] languages); hold_words and"
            " blocked_words still apply (docs/wall.md says how to add a list)",
            ", ".join(rules.preset_missing),
        )
    # Opening the store migrates the schema (the wall may start before any collector);
    # it stays open only to write moderation decisions.
    store = Store.open(db_path, busy_timeout_ms=WAIT_MS)
    writer: Store | None = store
    reader: sqlite3.Connection | None = None
    if team.enabled:
        reader = connect(db_path, readonly=True, busy_timeout_ms=WAIT_MS)
    else:
        store.close()
        writer = None
    # The hub's poll has this connection to itself (see hub.py, access.py).
    feed = WallFeed(
        connect(db_path, readonly=True, busy_timeout_ms=WAIT_MS),
        rules,
        max_posts=config.wall.max_posts,
    )
    hub = WallHub(
        feed,
        config,
        clock,
        poll_interval,
        stats_conn=connect(db_path, readonly=True, busy_timeout_ms=WAIT_MS),
    )
    h = WallHandlers(
        config,
        team=team,
        rules=rules,
        feed=feed,
        hub=hub,
        writer=writer,
        clock=clock,
        reader=reader,
    )

    brand = Branding(config)
    # Pictures through the wall's own image proxy (CSP img-src 'self'; docs/wall.md).
    pics = WallPictures(feed, MediaProxy.for_config(config, db_path), db_path)
    h.sign_media = pics.for_moderators

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await pics.aclose()
            h.close()

    app = Starlette(
        routes=[
            Route("/", h.wall_page),
            Route("/api/wall", h.wall_poll),
            Route("/api/wall/events", h.wall_events),
            Route("/moderate", h.moderate_page),
            Route("/api/moderation/posts", h.moderation_posts),
            Route("/api/moderation/log", h.moderation_log),
            Route("/api/moderation/alerts", h.moderation_alerts),
            Route("/api/moderation/action", h.moderation_action, methods=["POST"]),
            Route("/api/moderation/events", h.moderation_events),
            Route("/healthz", h.health),
            Route("/wall/theme.css", brand.theme_css),
            Route("/wall/logo", brand.logo),
            Route("/wall/qr.svg", brand.qr),
            Route("/wall/media/{post_id:int}/{position:int}", pics.media),
            Route("/wall/avatar/{post_id:int}", pics.avatar),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        lifespan=lifespan,
        exception_handlers={StorageBusy: h.busy},
    )
    app.add_middleware(SecurityHeaders, hub=hub)
    app.state.hub = hub
    app.state.db_path = db_path
    app.state.handlers = h
    app.state.feed = feed
    app.state.logins = h.logins
    app.state.team = team
    app.state.pictures = pics
    return app
