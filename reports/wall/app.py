"""The live wall as an ASGI app: a full-screen page fed by server-sent events.

One `WallHub` per app polls the database for wall events (~0.5 s) and wakes
every open stream; a new stream, or one that reconnects with
`Last-Event-ID`, gets the missed messages or a reset (see `feed.py`). The
moderation page and its API need the token from the environment variable
named by `[wall] token_env`, compared in constant time, and change state only
by POST. Every response carries a strict Content-Security-Policy: the pages
load only their own script and style, and post text reaches the DOM only
through `textContent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagwatch.errors import TagwatchError, UsageError
from tagwatch.records import iso, utcnow
from tagwatch.reports.urls import safe_url
from tagwatch.reports.wall.feed import POST_SQL, WallFeed, payload
from tagwatch.reports.wall.rules import WallRules, visible_reason
from tagwatch.settings import AgendaSession, Config
from tagwatch.storage.db import Store, connect
from tagwatch.storage.moderation import ACTIONS, apply_action

__all__ = ["create_app", "make_server", "bind_address", "current_session", "CSP"]

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
KEEPALIVE_SECONDS = 10.0
# Wrong moderation tokens allowed per client address in LOCKOUT_SECONDS before
# every attempt from it is refused unchecked until the window has passed.
MAX_FAILED_LOGINS = 10
LOCKOUT_SECONDS = 60.0
STATS_SECONDS = 5.0
RETRY_MS = 2000


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


def current_session(config: Config, now: datetime) -> AgendaSession | None:
    """The agenda session running at `now`, if any."""
    for session in config.event.sessions:
        if session.start <= now < session.end:
            return session
    return None


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


class FailedLogins:
    """Slows guessing of the moderation token: after MAX_FAILED_LOGINS wrong tokens
    from one address within LOCKOUT_SECONDS, that address is refused (429) without
    its token being checked, so guessing cannot go on at full speed."""

    def __init__(
        self,
        limit: int = MAX_FAILED_LOGINS,
        window: float = LOCKOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, list[float]] = {}

    def _recent(self, who: str) -> list[float]:
        cutoff = self.clock() - self.window
        times = [t for t in self._failures.get(who, ()) if t > cutoff]
        if times:
            self._failures[who] = times
        else:
            self._failures.pop(who, None)
        return times

    def locked_for(self, who: str) -> float:
        """Seconds until `who` may try again (0 when not locked out)."""
        times = self._recent(who)
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[-self.limit] + self.window - self.clock())

    def failed(self, who: str) -> None:
        if len(self._failures) > 10_000:  # a flood of addresses: forget the oldest
            for key in list(self._failures)[:5_000]:
                del self._failures[key]
        self._recent(who)
        self._failures.setdefault(who, []).append(self.clock())


class WallHub:
    """Keeps the feed current and wakes the open event streams."""

    def __init__(
        self,
        feed: WallFeed,
        config: Config,
        now: Callable[[], datetime],
        poll_interval: float,
    ):
        self.feed = feed
        self.config = config
        self.now = now
        self.poll_interval = poll_interval
        self.closed = False
        self.clients = 0
        self.stats: dict[str, Any] = {}
        self.stats_version = 0
        self._stats_at = 0.0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def waiter(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    def _notify(self) -> None:
        old, self._wake = self._wake, asyncio.Event()
        if old is not None:
            old.set()

    def refresh(self, *, stats: bool = False) -> None:
        """One poll of the database; wakes the streams when the wall changed."""
        changed = self.feed.poll() is not None
        if changed or stats or time.monotonic() - self._stats_at >= STATS_SECONDS:
            self.stats = self.compute_stats()
            self.stats_version += 1
            self._stats_at = time.monotonic()
            changed = True
        if changed:
            self._notify()

    def compute_stats(self) -> dict[str, Any]:
        now = self.now()
        ev = self.config.event
        start, end = ev.day_bounds(now.astimezone(ev.tz).date())
        stats = self.feed.stats(start, end)
        session = current_session(self.config, now)
        stats["session"] = (
            None if session is None else {"title": session.title, "prompt": session.prompt}
        )
        stats["now"] = iso(now)
        return stats

    async def run(self) -> None:
        while not self.closed:
            try:
                self.refresh()
            except Exception:  # a locked or replaced file must not kill the wall
                log.exception("wall: polling the database failed")
            await asyncio.sleep(self.poll_interval)

    def start(self) -> None:
        """Start polling on the running loop (idempotent).

        Called from the lifespan, and also by the first request, so the wall
        works under a server run with `lifespan="off"` too.
        """
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._wake = asyncio.Event()
        self.closed = False
        self._task = loop.create_task(self.run())

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def close(self) -> None:
        """End every open stream (server shutdown); call from the server's loop."""
        self.closed = True
        self._notify()

    def close_from_thread(self) -> None:
        """`close()` for code running in another thread (e.g. a scheduler stopping the server).

        Open event streams never end by themselves, and uvicorn waits for open
        responses before it stops: call this first, then set `should_exit`.
        """
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.close)


def _sse(data: dict[str, Any], *, event: str, id: int | None = None) -> str:
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("after")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


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
    wall = config.wall
    token = config.secret(wall.token_env)
    rules = WallRules.from_config(config, token=token)
    # Opening the store migrates the schema (the wall may start before any collector);
    # it stays open only to write moderation decisions.
    store = Store.open(db_path)
    writer: Store | None = store
    if not token:
        store.close()
        writer = None
    feed = WallFeed(connect(db_path, readonly=True), rules, max_posts=wall.max_posts)
    hub = WallHub(feed, config, clock, poll_interval)
    logins = FailedLogins()
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        ev = config.event
        html = templates.get_template(name).render(
            event=ev,
            hashtag="#" + ev.hashtags[0],
            wall=wall,
            session=current_session(config, clock()),
            moderation_enabled=bool(token),
            token_env=wall.token_env,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    async def wall_page(request: Request) -> Response:
        return page("wall.html")

    async def wall_poll(request: Request) -> Response:
        hub.refresh()
        since = request.query_params.get("since")
        last = int(since) if since is not None and since.isdigit() else None
        body = feed.merged_after(last)
        body["now"] = iso(clock())
        body["stats"] = hub.stats
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def wall_events(request: Request) -> Response:
        last = _last_event_id(request)

        async def stream() -> AsyncIterator[str]:
            hub.clients += 1
            try:
                yield f"retry: {RETRY_MS}\n\n"
                cursor: int | None = last
                stats_sent = -1
                while True:
                    wake = hub.waiter()
                    missed = feed.changes_after(cursor)
                    if missed is None:
                        snap = feed.snapshot()
                        snap["now"] = iso(clock())
                        yield _sse(snap, event="reset", id=snap["seq"])
                    else:
                        for change in missed:
                            body = change.as_dict()
                            body["now"] = iso(clock())
                            yield _sse(body, event="update", id=change.seq)
                    cursor = feed.seq
                    if hub.stats_version != stats_sent and hub.stats:
                        stats_sent = hub.stats_version
                        yield _sse(hub.stats, event="stats")
                    if hub.closed:
                        return
                    try:
                        await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keepalive\n\n"
            finally:
                hub.clients -= 1

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    def denied(request: Request) -> Response | None:
        if not token:
            return JSONResponse(
                {
                    "error": f"Moderation is disabled: set the environment variable "
                    f"{wall.token_env} to a long random token and restart the wall."
                },
                status_code=403,
            )
        who = request.client.host if request.client else "?"
        wait = math.ceil(logins.locked_for(who))
        if wait:
            return JSONResponse(
                {"error": f"Too many wrong moderation tokens from {who}; try again in {wait} s."},
                status_code=429,
                headers={"retry-after": str(wait)},
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            logins.failed(who)
            if logins.locked_for(who):
                log.warning(
                    "%d wrong moderation tokens from %s within %d s: refusing it for now",
                    logins.limit,
                    who,
                    int(logins.window),
                )
            return JSONResponse({"error": "Wrong or missing moderation token."}, status_code=401)
        return None

    async def moderate_page(request: Request) -> Response:
        if not token:
            return page("disabled.html", status=403)
        return page("moderate.html")

    async def moderation_posts(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        show = request.query_params.get("show", "pending")
        where = {
            "pending": "coalesce(m.state, 'pending') = 'pending' and b.platform is null",
            "approved": "m.state = 'approved'",
            "hidden": "m.state = 'hidden'",
            "blocked": "b.platform is not null",
            "wall": "1",
            "all": "1",
        }.get(show)
        if where is None:
            return JSONResponse(
                {"error": f"Unknown filter {show!r}; use pending, approved, hidden, blocked, all."},
                status_code=400,
            )
        hub.refresh()
        rows = feed.conn.execute(
            f"{POST_SQL} where p.deleted = 0 and {where}"
            " order by p.created_at desc, p.id desc limit 200"
        ).fetchall()
        posts = []
        for r in rows:
            if show == "wall" and not feed.is_visible(r["id"]):
                continue
            posts.append(
                {
                    **payload(r),
                    # The moderators' page may link it: the one guard, as in every output.
                    "url": safe_url(r["url"]),
                    "state": r["state"] or "pending",
                    "sensitive": bool(r["sensitive"]),
                    "media_count": r["media_count"],
                    "blocked": bool(r["blocked"]),
                    "on_wall": feed.is_visible(r["id"]),
                    "reason": visible_reason(rules, r),
                }
            )
        return JSONResponse(
            {"mode": rules.mode, "posts": posts, "now": iso(clock())},
            headers={"cache-control": "no-store"},
        )

    async def moderation_log(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        rows = feed.conn.execute(
            "select id, at, action, post_id, author_key, detail from moderation_log"
            " order by id desc limit 100"
        ).fetchall()
        return JSONResponse({"log": [dict(r) for r in rows]}, headers={"cache-control": "no-store"})

    async def moderation_action(request: Request) -> Response:
        if (refusal := denied(request)) is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse(
                {"error": 'Send JSON: {"action": "approve", "post_id": 123}.'}, status_code=400
            )
        action, post_id = body.get("action"), body.get("post_id")
        if action not in ACTIONS:
            return JSONResponse(
                {"error": f"Unknown action {action!r}; use one of: {', '.join(ACTIONS)}."},
                status_code=400,
            )
        if not isinstance(post_id, int) or isinstance(post_id, bool):
            return JSONResponse({"error": "post_id must be an integer."}, status_code=400)
        assert writer is not None  # a token implies a writer
        try:
            log_id = apply_action(writer, action, post_id, at=clock())
        except TagwatchError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        hub.refresh(stats=True)  # every open wall hears about it now, not at the next tick
        return JSONResponse({"ok": True, "log_id": log_id, "on_wall": feed.is_visible(post_id)})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "seq": feed.seq, "clients": hub.clients})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.start()
        try:
            yield
        finally:
            await hub.stop()
            close()

    def close() -> None:
        """The wall's database connections, once it stops serving."""
        feed.conn.close()
        if writer is not None:
            writer.close()

    app = Starlette(
        routes=[
            Route("/", wall_page),
            Route("/api/wall", wall_poll),
            Route("/api/wall/events", wall_events),
            Route("/moderate", moderate_page),
            Route("/api/moderation/posts", moderation_posts),
            Route("/api/moderation/log", moderation_log),
            Route("/api/moderation/action", moderation_action, methods=["POST"]),
            Route("/healthz", health),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(SecurityHeaders, hub=hub)
    app.state.hub = hub
    app.state.feed = feed
    app.state.logins = logins
    return app


def make_server(
    config: Config,
    host: str,
    port: int,
    *,
    db_path: str | Path | None = None,
    now: Callable[[], datetime] | None = None,
    poll_interval: float = 0.5,
) -> Any:
    """A uvicorn server for the wall whose shutdown also ends the open event streams."""
    import uvicorn

    app = create_app(config, db_path, now, poll_interval=poll_interval)
    hub: WallHub = app.state.hub

    class WallServer(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            hub.close()
            await super().shutdown(sockets)

    return WallServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=3,
            server_header=False,
        )
    )
