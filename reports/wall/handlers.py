"""What the wall answers: its pages, its event stream and the moderation API.

Why a class over explicit state rather than closures in `create_app`: every handler reads
the same few things (the feed, the hub, the token, the clock), and naming them once in
`WallHandlers` makes each handler readable, and testable, on its own. The moderation page and
its API need a moderator's token (`[wall] token_env` or one of `[wall] moderators`, see
`team.py`), and change state only by POST; every action is logged under the moderator's name
and pushed to the other moderators' pages through their live channel
(`/api/moderation/events`).

Never stalls: the wall's own routes (page, event stream, polling fallback, health) answer
from the memory the hub keeps and touch no SQLite; the moderators' routes run their
database work in a worker thread (`access.Guarded`), so a backup or a VACUUM holding the
file delays a moderator's answer (at worst a 503 "try again"), never an open wall.
"""

from __future__ import annotations

import asyncio
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

from tagwatch.errors import AlreadyDecided, StorageBusy, TagwatchError
from tagwatch.records import iso
from tagwatch.reports.urls import safe_url
from tagwatch.reports.wall.access import Guarded
from tagwatch.reports.wall.branding import qr_target
from tagwatch.reports.wall.feed import POST_SQL, Change, WallFeed, payload
from tagwatch.reports.wall.hub import WallHub, current_session
from tagwatch.reports.wall.rules import WallRules, awaits_moderator, judge
from tagwatch.reports.wall.team import Team
from tagwatch.settings import Config
from tagwatch.storage.alerts import alerts_since
from tagwatch.storage.db import Store
from tagwatch.storage.moderation import ACTIONS, STATES, apply_action, recent_actions

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
# The moderators' "recent actions" list: what a page gets when it opens.
RECENT_ACTIONS = 20


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


# Held posts listed at most in post-moderation's queue (the oldest first, as always).
QUEUE_WAITING_MAX = 5000
QUEUE_FILTERS = {
    "pending": "coalesce(m.state, 'pending') = 'pending' and b.platform is null",
    "approved": "m.state = 'approved'",
    "hidden": "m.state = 'hidden'",
    "blocked": "b.platform is not null",
    "wall": "1",
    "all": "1",
}


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

    `writer` is open only when moderation is on (a moderator's token is set): it is the one
    path by which the wall writes, and only moderation decisions.
    """

    def __init__(
        self,
        config: Config,
        *,
        team: Team,
        rules: WallRules,
        feed: WallFeed,
        hub: WallHub,
        writer: Store | None,
        clock: Callable[[], datetime],
        reader: sqlite3.Connection | None = None,
    ):
        self.config = config
        self.wall = config.wall
        self.team = team
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
        # Gives the moderators' page picture addresses it may load (set by the app to
        # `WallPictures.for_moderators`; identity when pictures are not served).
        self.sign_media: Callable[[dict[str, Any]], dict[str, Any]] = lambda post: post
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
            moderation_enabled=self.team.enabled,
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

    def login(self, request: Request) -> str | Response:
        """The moderator's name for a moderation request, or the refusal to send.

        A refusal never names a moderator: a wrong token learns nothing about who exists.
        """
        team, logins = self.team, self.logins
        if not team.enabled:
            missing = ", ".join(f"{env} ({name})" for name, env in team.missing.items())
            envs = f"{self.wall.token_env}" + (f" or one of {missing}" if missing else "")
            return JSONResponse(
                {
                    "error": f"Moderation is disabled: set the environment variable {envs}"
                    " to a long random token and restart the wall."
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
        name = team.identify(given.strip()) if scheme.lower() == "bearer" else None
        if name is None:
            logins.failed(who)
            if logins.locked_for(who):
                log.warning(
                    "%d wrong moderation tokens from %s within %d s: refusing it for now",
                    logins.limit,
                    who,
                    int(logins.window),
                )
            return JSONResponse({"error": "Wrong or missing moderation token."}, status_code=401)
        return name

    def denied(self, request: Request) -> Response | None:
        """The refusal for a moderation request, or None when its token is right."""
        answer = self.login(request)
        return answer if isinstance(answer, Response) else None

    async def moderate_page(self, request: Request) -> Response:
        if not self.team.enabled:
            return self.page("disabled.html", status=403)
        return self.page("moderate.html")

    async def moderation_posts(self, request: Request) -> Response:
        if (refusal := self.denied(request)) is not None:
            return refusal
        show = request.query_params.get("show", "pending")
        if show not in QUEUE_FILTERS:
            return JSONResponse(
                {"error": f"Unknown filter {show!r}; use pending, approved, hidden, blocked, all."},
                status_code=400,
            )
        await self.hub.refresh()
        assert self.reads is not None  # a token implies the moderators' connections
        queue = await self.reads.run(lambda conn: self.queue(show, conn))
        return JSONResponse(queue, headers={"cache-control": "no-store"})

    def queue(self, show: str, conn: sqlite3.Connection) -> dict[str, Any]:
        """The posts one filter of the moderation page lists, and how many there are.

        The waiting queue is oldest first (the order to decide them in, so nobody waits
        longest); the other filters newest first. `count` is the whole filter's length,
        which may exceed the 200 listed. Runs in a worker thread on `conn`, the moderators'
        own connection (never the hub's).
        """
        feed = self.feed
        where = QUEUE_FILTERS[show]
        if show == "pending" and self.rules.mode == "post":
            # Post-moderation: what waits for a decision is what the rules hold back (a
            # hold rule, a sensitive post), not every post nobody has looked at yet, which
            # is on the wall already. The feed keeps those ids as it judges each post.
            # A sensitive post waits too: hidden until approved, or (hide_sensitive off)
            # shown blurred until approved.
            waiting = ",".join(str(i) for i in sorted(feed.waiting)[:QUEUE_WAITING_MAX])
            where = f"{where} and (p.id in ({waiting or 'null'}) or p.sensitive = 1)"
        order = "asc" if show == "pending" else "desc"
        base = f"{POST_SQL} where p.deleted = 0 and {where}"
        rows = conn.execute(
            f"{base} order by p.created_at {order}, p.id {order} limit 200"
        ).fetchall()
        posts = []
        decide_only = show == "pending" and self.rules.mode == "post"
        for r, reason in zip(rows, judge(self.rules, conn, rows), strict=True):
            if show == "wall" and not feed.is_visible(r["id"]):
                continue
            blurred = reason is None and bool(r["sensitive"])  # on the wall, blurred
            if decide_only and not (awaits_moderator(reason) or blurred):
                continue  # a sensitive post a blocked word hides anyway: nothing to decide
            posts.append(
                {
                    **self.sign_media(payload(r)),
                    # The moderators' page may link it: the one guard, as in every output.
                    "url": safe_url(r["url"]),
                    "state": r["state"] or "pending",
                    "sensitive": bool(r["sensitive"]),
                    "media_count": r["media_count"],
                    "blocked": bool(r["blocked"]),
                    "on_wall": feed.is_visible(r["id"]),
                    # "held: …" when a hold rule queued it (issue 21), shown to moderators.
                    "reason": reason,
                }
            )
        if show == "wall" or len(rows) < 200:
            count = len(posts)
        elif decide_only:  # the feed's held posts, or what is listed when more
            count = max(len(posts), len(feed.waiting))
        else:
            count = conn.execute(f"select count(*) from ({base})").fetchone()[0]
        return {"mode": self.rules.mode, "posts": posts, "count": count, "now": iso(self.clock())}

    async def moderation_log(self, request: Request) -> Response:
        if (refusal := self.denied(request)) is not None:
            return refusal
        assert self.reads is not None
        rows = await self.reads.run(
            lambda conn: conn.execute(
                "select id, at, action, post_id, author_key, detail, moderator"
                " from moderation_log order by id desc limit 100"
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
        name = self.login(request)
        if isinstance(name, Response):
            return name
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse(
                {"error": 'Send JSON: {"action": "approve", "post_id": 123}.'}, status_code=400
            )
        action, post_id, seen = body.get("action"), body.get("post_id"), body.get("seen")
        if action not in ACTIONS:
            return JSONResponse(
                {"error": f"Unknown action {action!r}; use one of: {', '.join(ACTIONS)}."},
                status_code=400,
            )
        if not isinstance(post_id, int) or isinstance(post_id, bool):
            return JSONResponse({"error": "post_id must be an integer."}, status_code=400)
        if seen is not None and seen not in STATES:
            return JSONResponse(
                {"error": f"Unknown seen state {seen!r}; use one of: {', '.join(STATES)}."},
                status_code=400,
            )
        assert self.writes is not None  # a token implies a writer
        at = self.clock()
        try:
            log_id = await self.writes.run(
                lambda store: self.decide(store, action, post_id, moderator=name, seen=seen, at=at)
            )
        except StorageBusy as exc:
            return await self.busy(request, exc)
        except AlreadyDecided as exc:
            # Not an error of the moderator's: someone was quicker. Nothing changed.
            return JSONResponse(
                {"error": str(exc), "already": exc.state, "by": exc.by}, status_code=409
            )
        except TagwatchError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        try:  # every open wall hears about it now, not at the next tick
            await self.hub.refresh(stats=True)
        except StorageBusy as exc:  # stored all the same: the next poll shows it
            log.warning("wall: refreshing after a moderation action failed (%s)", exc)
        self.team.notify()  # and every moderator's page
        return JSONResponse(
            {"ok": True, "log_id": log_id, "on_wall": self.feed.is_visible(post_id), "by": name}
        )

    @staticmethod
    def decide(
        store: Store,
        action: str,
        post_id: int,
        *,
        moderator: str,
        seen: str | None,
        at: datetime,
    ) -> int:
        """The moderation write itself: plain and synchronous, run in a worker thread on the
        wall's one writer (`self.writes` lets one thread at a time use it)."""
        return apply_action(store, action, post_id, at=at, moderator=moderator, seen=seen)

    async def moderation_events(self, request: Request) -> Response:
        """The moderators' live channel: who is here, and every action as it is taken.

        Server-sent events over a fetch the page makes with its Bearer header (an
        EventSource cannot send one, and a token in the URL would land in logs). An open
        stream is its page's heartbeat: the moderator is "here" while it stays open.
        """
        name = self.login(request)
        if isinstance(name, Response):
            return name
        return StreamingResponse(
            self._moderator_stream(request, name),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def actions_after(
        self, after: int | None, limit: int = RECENT_ACTIONS
    ) -> list[dict[str, Any]]:
        """Moderation log rows after id `after` with each post's state now (read in a worker
        thread on the moderators' connection)."""
        assert self.reads is not None  # a moderator's stream implies the connections
        actions = await self.reads.run(lambda conn: recent_actions(conn, after=after, limit=limit))
        for a in actions:
            a["on_wall"] = a["post_id"] is not None and self.feed.is_visible(a["post_id"])
        return actions

    async def _moderator_stream(self, request: Request, name: str) -> AsyncIterator[str]:
        team, hub, presence = self.team, self.hub, self.team.presence
        presence.joined(name)
        team.notify()
        try:
            yield f"retry: {RETRY_MS}\n\n"
            actions = await self.actions_after(None)
            cursor = actions[-1]["id"] if actions else None
            here = presence.here()
            yield _sse(
                {"you": name, "here": here, "actions": actions, "now": iso(self.clock())},
                event="hello",
            )
            while not hub.closed:
                team_wake, hub_wake = team.waiter(), hub.waiter()
                waits = [asyncio.ensure_future(e.wait()) for e in (team_wake, hub_wake)]
                try:
                    await asyncio.wait(
                        waits, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    for w in waits:
                        w.cancel()
                if not team_wake.is_set() and not hub_wake.is_set():
                    if await request.is_disconnected():
                        return
                    presence.beat(name)
                    yield ": keepalive\n\n"
                try:
                    fresh = await self.actions_after(cursor, limit=200)
                except StorageBusy:  # a backup or VACUUM holds the file: at the next wake
                    fresh = []
                if fresh:
                    cursor = fresh[-1]["id"]
                    yield _sse({"actions": fresh, "now": iso(self.clock())}, event="actions")
                if presence.here() != here:
                    here = presence.here()
                    yield _sse({"here": here}, event="presence")
        finally:
            presence.left(name)
            team.notify()

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
