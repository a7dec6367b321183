"""What the wall answers: its pages, its event stream and the moderation API.

Why a class over explicit state rather than closures in `create_app`: every handler reads
the same few things (the feed, the hub, the token, the clock), and naming them once in
`WallHandlers` makes each handler readable, and testable, on its own. The moderation page and
its API need the token from the environment variable named by `[wall] token_env`, compared in
constant time, and change state only by POST.

Never stalls: the wall's own routes (page, event stream, polling fallback, health) answer
from the memory the hub keeps and touch no SQLite; the moderators' routes run their
database work in a worker thread (`access.Guarded`), so a backup or a VACUUM holding the
file delays a moderator's answer (at worst a 503 "try again"), never an open wall.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from tagwatch.errors import StorageBusy, TagwatchError
from tagwatch.records import iso
from tagwatch.reports.urls import safe_url
from tagwatch.reports.wall.access import Guarded
from tagwatch.reports.wall.branding import qr_target
from tagwatch.reports.wall.feed import POST_SQL, Change, WallFeed, payload
from tagwatch.reports.wall.hub import WallHub, current_session
from tagwatch.reports.wall.rules import WallRules, visible_reason
from tagwatch.settings import Config
from tagwatch.storage.alerts import alerts_since
from tagwatch.storage.db import Store
from tagwatch.storage.moderation import ACTIONS, apply_action

__all__ = ["WallHandlers", "FailedLogins"]

log = logging.getLogger("tagwatch.wall")

HERE = Path(__file__).resolve().parent
KEEPALIVE_SECONDS = 10.0
# How long one serialised update is reused for every open wall (its `now` sets clocks).
WIRE_FRESH_SECONDS = 1.0
# Wrong moderation tokens allowed per client address in LOCKOUT_SECONDS before
# every attempt from it is refused unchecked until the window has passed.
MAX_FAILED_LOGINS = 10
LOCKOUT_SECONDS = 60.0
RETRY_MS = 2000
# The moderators' alerts panel: what fired (or was still on) in the last day.
ALERTS_WINDOW = timedelta(hours=24)
ALERTS_SHOWN = 50


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


class WallHandlers:
    """The wall's request handlers over the state they share.

    `writer` is open only when moderation is on (a token is set): it is the one path by
    which the wall writes, and only moderation decisions.
    """

    def __init__(
        self,
        config: Config,
        *,
        token: str | None,
        rules: WallRules,
        feed: WallFeed,
        hub: WallHub,
        writer: Store | None,
        clock: Callable[[], datetime],
        reader: sqlite3.Connection | None = None,
    ):
        self.config = config
        self.wall = config.wall
        self.token = token
        self.rules = rules
        self.feed = feed
        self.hub = hub
        self.writer = writer
        # The moderators' routes' connections, each used by one worker thread at a time;
        # the feed's own connection belongs to the hub's poll.
        self.writes = Guarded(writer) if writer is not None else None
        self.reads = Guarded(reader) if reader is not None else None
        self.clock = clock
        self.logins = FailedLogins()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        ev = self.config.event
        html = self.templates.get_template(name).render(
            event=ev,
            hashtag="#" + ev.hashtags[0],
            wall=self.wall,
            session=current_session(self.config, self.clock()),
            moderation_enabled=bool(self.token),
            token_env=self.wall.token_env,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    async def wall_page(self, request: Request) -> Response:
        return self.page(
            "wall.html",
            has_logo=self.config.wall_logo is not None,
            qr_url=qr_target(self.config),
        )

    async def wall_poll(self, request: Request) -> Response:
        # From memory only: a hall of phones polling must not queue on the database.
        since = request.query_params.get("since")
        last = int(since) if since is not None and since.isdigit() else None
        body = self.feed.merged_after(last)
        body["now"] = iso(self.clock())
        body["stats"] = self.hub.stats
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def wall_events(self, request: Request) -> Response:
        return StreamingResponse(
            self._stream(request, _last_event_id(request)),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def _stream(self, request: Request, last: int | None) -> AsyncIterator[str]:
        hub, feed, clock = self.hub, self.feed, self.clock
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
                        yield self._wire(change)
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

    def _wire(self, change: Change) -> str:
        """The update message for `change`, serialised once for all the open walls.

        A copy made over a second ago (a wall replaying what it missed) is made afresh: its
        `now` sets the screen's clock.
        """
        if change.wire and time.monotonic() - change.wire_at < WIRE_FRESH_SECONDS:
            return change.wire
        body = change.as_dict()
        body["now"] = iso(self.clock())
        text = _sse(body, event="update", id=change.seq)
        if not change.wire:
            change.wire, change.wire_at = text, time.monotonic()
        return text

    def denied(self, request: Request) -> Response | None:
        """The refusal for a moderation request, or None when its token is right."""
        token, logins = self.token, self.logins
        if not token:
            return JSONResponse(
                {
                    "error": f"Moderation is disabled: set the environment variable "
                    f"{self.wall.token_env} to a long random token and restart the wall."
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

    async def moderate_page(self, request: Request) -> Response:
        if not self.token:
            return self.page("disabled.html", status=403)
        return self.page("moderate.html")

    async def moderation_posts(self, request: Request) -> Response:
        if (refusal := self.denied(request)) is not None:
            return refusal
        feed = self.feed
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
        await self.hub.refresh()
        assert self.reads is not None  # a token implies the moderators' connections
        rows = await self.reads.run(
            lambda conn: conn.execute(
                f"{POST_SQL} where p.deleted = 0 and {where}"
                " order by p.created_at desc, p.id desc limit 200"
            ).fetchall()
        )
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
                    "reason": visible_reason(self.rules, r),
                }
            )
        return JSONResponse(
            {"mode": self.rules.mode, "posts": posts, "now": iso(self.clock())},
            headers={"cache-control": "no-store"},
        )

    async def moderation_log(self, request: Request) -> Response:
        if (refusal := self.denied(request)) is not None:
            return refusal
        assert self.reads is not None
        rows = await self.reads.run(
            lambda conn: conn.execute(
                "select id, at, action, post_id, author_key, detail from moderation_log"
                " order by id desc limit 100"
            ).fetchall()
        )
        return JSONResponse({"log": [dict(r) for r in rows]}, headers={"cache-control": "no-store"})

    async def moderation_alerts(self, request: Request) -> Response:
        """The last day's alerts for the moderators' panel, newest first.

        Only what the panel shows: the alert's example posts stay out (their words are the
        wall's to moderate, and a restricted author's are never stored there anyway).
        """
        if (refusal := self.denied(request)) is not None:
            return refusal
        now = self.clock()
        assert self.reads is not None
        rows = await self.reads.run(
            lambda conn: alerts_since(conn, now - ALERTS_WINDOW, limit=ALERTS_SHOWN)
        )
        alerts = [
            {
                **{k: a[k] for k in ("id", "kind", "title", "target", "fired_at", "resolved_at")},
                "deliveries": [
                    {k: d[k] for k in ("channel", "status", "reason")}
                    for d in a["deliveries"]
                    if d["message"] == "alert"
                ],
            }
            for a in rows
        ]
        return JSONResponse(
            {"alerts": alerts, "now": iso(now)}, headers={"cache-control": "no-store"}
        )

    async def moderation_action(self, request: Request) -> Response:
        if (refusal := self.denied(request)) is not None:
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
        assert self.writes is not None  # a token implies a writer
        at = self.clock()
        try:
            log_id = await self.writes.run(
                lambda store: apply_action(store, action, post_id, at=at)
            )
        except StorageBusy as exc:
            return await self.busy(request, exc)
        except TagwatchError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        try:  # every open wall hears about it now, not at the next tick
            await self.hub.refresh(stats=True)
        except StorageBusy as exc:  # stored all the same: the next poll shows it
            log.warning("wall: refreshing after a moderation action failed (%s)", exc)
        return JSONResponse(
            {"ok": True, "log_id": log_id, "on_wall": self.feed.is_visible(post_id)}
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "seq": self.hub.seq, "clients": self.hub.clients})

    async def busy(self, request: Request, exc: Exception) -> Response:
        """SQLite stayed locked past the wall's wait: nothing was written, try again."""
        return JSONResponse({"error": str(exc)}, status_code=503, headers={"retry-after": "5"})

    def close(self) -> None:
        """The wall's database connections, once it stops serving."""
        self.feed.conn.close()
        if self.reads is not None:
            self.reads.wait_idle()
            self.reads.resource.close()
        if self.writes is not None:
            self.writes.wait_idle()
        if self.writer is not None:
            self.writer.close()
