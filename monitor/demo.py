"""`tagwatch demo`: the whole monitor, offline, on a simulated event.

Nothing here is a toy version of tagwatch: the demo starts the loopback fake
platforms (Bluesky, X, two Mastodon instances, Threads and Instagram), writes a config that
points the real collectors at them, and runs the real scheduler, enrichment,
wall, digest and impact report. Only the clock is simulated: it runs `speed`
times faster than real time from the first day of the event, and a feeder
publishes the simulated event's posts to the fakes as that clock reaches them
(engagement grows, authors delete posts, trolls post).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tagwatch.collectors.fakes.simulation import (
    DEFAULT_SESSIONS,
    RAID_TARGET,
    TROLL_WORDS,
    SimulatedEvent,
    simulate_event,
)
from tagwatch.errors import UsageError
from tagwatch.monitor.alerts.fakes import FakeSlackWebhook
from tagwatch.monitor.logs import remove_logging, setup_logging
from tagwatch.settings import Config, load_config

__all__ = ["SimClock", "DemoResult", "run_demo", "demo_config_text"]

EVENT_NAME = "Human Rights House Network Assembly 2016"
EVENT_START = date(2016, 11, 24)
EVENT_DAYS = 3
TIMEZONE = "Europe/Belgrade"
HASHTAG = "HRHN2016"
LANGUAGES = ["en", "sr", "pl", "hu", "hr", "az", "no"]
SESSION_TITLES = [
    ("Opening of the Assembly", "What brings you to Belgrade? Post with #HRHN2016", ""),
    (
        "Azerbaijan: released, but not free",
        "Send your message to our colleagues in Azerbaijan with #HRHN2016",
        "FreeAzerbaijan",
    ),
    ("Workshops: protecting defenders at risk", "Share what works for you: #HRHN2016", ""),
    (
        "Public discussion: resisting illiberal democracies",
        "Ask the panel from Poland, Hungary, Croatia, Azerbaijan and Serbia: #HRHN2016",
        "illiberal",
    ),
    (
        "Closing: strategies for civil society space",
        "One thing you take home from the Assembly? #HRHN2016",
        "",
    ),
]

# Environment variables the demo's config names; the values are made up on the spot.
BLUESKY_HANDLE_ENV = "TAGWATCH_DEMO_BLUESKY_HANDLE"
BLUESKY_PASSWORD_ENV = "TAGWATCH_DEMO_BLUESKY_APP_PASSWORD"
X_TOKEN_ENV = "TAGWATCH_DEMO_X_BEARER_TOKEN"
THREADS_TOKEN_ENV = "TAGWATCH_DEMO_THREADS_ACCESS_TOKEN"
INSTAGRAM_TOKEN_ENV = "TAGWATCH_DEMO_INSTAGRAM_ACCESS_TOKEN"
WALL_TOKEN_ENV = "TAGWATCH_DEMO_WALL_TOKEN"
ALERTS_WEBHOOK_ENV = "TAGWATCH_DEMO_ALERTS_WEBHOOK_URL"
DEMO_ACCOUNT = "tagwatch-demo.bsky.social"
# The Instagram Business account the demo's hashtag searches are made for.
DEMO_INSTAGRAM_USER_ID = "17841400000002016"


class SimClock:
    """Simulated UTC time: `speed` times faster than real time from `start`, capped at `end`."""

    def __init__(
        self,
        start: datetime,
        speed: float,
        end: datetime | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        t0: float | None = None,
    ):
        # `t0`: another process's starting instant; CLOCK_MONOTONIC is shared by every
        # process on the machine, so two SimClocks with one t0 read the same time.
        self.start = start
        self.speed = speed
        self.end = end
        self._monotonic = monotonic
        self.t0 = monotonic() if t0 is None else t0

    def __call__(self) -> datetime:
        at = self.start + timedelta(seconds=(self._monotonic() - self.t0) * self.speed)
        return min(at, self.end) if self.end is not None else at

    @property
    def finished(self) -> bool:
        return self.end is not None and self() >= self.end


@dataclass
class DemoResult:
    out_dir: Path
    config_path: Path
    db_path: Path
    wall_url: str
    moderation_token: str
    simulated_until: datetime
    posts_by_platform: dict[str, int] = field(default_factory=dict)
    passes: dict[str, int] = field(default_factory=dict)
    failed_passes: dict[str, int] = field(default_factory=dict)
    wall_posts_shown: int = 0
    wall_posts_hidden_by_moderator: int = 0
    digests: list[Path] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    # What the demo's loopback chat webhook received: each alert's first line.
    alerts: list[str] = field(default_factory=list)


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"


def demo_config_text(
    *,
    bluesky_url: str,
    x_url: str,
    mastodon_urls: list[str],
    wall_port: int,
    interval_minutes: float,
    speed: float = 1.0,
    threads_url: str | None = None,
    instagram_url: str | None = None,
) -> str:
    """The config a user would write for these fake platforms; the demo runs on it.

    The collectors run on the simulated clock, so their pass time budget is in
    simulated seconds too: 20 real seconds' worth at `speed`. Threads and
    Instagram get their sections when their fakes' URLs are given.
    """
    meta = ""
    if threads_url is not None:
        meta += f"""
[threads]
enabled = true
api_base_url = "{threads_url}"
access_token_env = "{THREADS_TOKEN_ENV}"
interval_minutes = {interval_minutes}
"""
    if instagram_url is not None:
        meta += f"""
[instagram]
enabled = true
api_base_url = "{instagram_url}"
user_id = "{DEMO_INSTAGRAM_USER_ID}"
access_token_env = "{INSTAGRAM_TOKEN_ENV}"
interval_minutes = {interval_minutes}
"""
    sessions = []
    for (day, start_h, end_h, _), (title, prompt, tag) in zip(
        DEFAULT_SESSIONS, SESSION_TITLES, strict=True
    ):
        day_s = (EVENT_START + timedelta(days=day)).isoformat()

        def hhmm(h: float) -> str:
            return f"{int(h):02d}:{int(round((h % 1) * 60)):02d}:00"

        sessions.append(
            "[[event.sessions]]\n"
            f"title = {json.dumps(title)}\n"
            f"start = {day_s}T{hhmm(start_h)}\n"
            f"end = {day_s}T{hhmm(end_h)}\n"
            'room = "Main hall"\n'
            f"speakers = {_toml_list([RAID_TARGET] if tag == 'illiberal' else [])}\n"
            f"hashtags = {_toml_list([tag] if tag else [])}\n"
            f"prompt = {json.dumps(prompt)}\n"
        )
    end = EVENT_START + timedelta(days=EVENT_DAYS - 1)
    return f"""# Written by `tagwatch demo`: the real collectors pointed at loopback fake platforms.
# Copy the shape of this file for your own event; see README.md's config reference.

[event]
name = {json.dumps(EVENT_NAME)}
hashtags = ["{HASHTAG}"]
timezone = "{TIMEZONE}"
start = {EVENT_START.isoformat()}
end = {end.isoformat()}
languages = {_toml_list(LANGUAGES)}
call_to_post = "Follow and contribute to the discussion with #{HASHTAG}"

{chr(10).join(sessions)}
[storage]
path = "demo.db"

[collect]
refresh_requests_per_pass = 5
pass_time_budget_seconds = {max(20.0, round(20.0 * speed))}
timeout_seconds = 10.0

[bluesky]
enabled = true
service = "{bluesky_url}"
handle_env = "{BLUESKY_HANDLE_ENV}"
password_env = "{BLUESKY_PASSWORD_ENV}"
interval_minutes = {interval_minutes}

[x]
enabled = true
api_base_url = "{x_url}"
bearer_token_env = "{X_TOKEN_ENV}"
interval_minutes = {interval_minutes}

[mastodon]
enabled = true
instances = {_toml_list(mastodon_urls)}
interval_minutes = {interval_minutes}
{meta}
[schedule]
jitter_seconds = 0.5
digest_time = ""
serve_wall = true
log_file = "demo.log"

[digest]
out_dir = "digests"

[alerts]
# Alerts go to a chat webhook the demo runs on loopback, and it prints them.
enabled = true
webhook_url_env = "{ALERTS_WEBHOOK_ENV}"
# The demo's passes come hours of simulated time apart: count a pile-on over a day.
pile_on_window_minutes = 1440.0

[wall]
port = {wall_port}
moderation = "post"
token_env = "{WALL_TOKEN_ENV}"
blocked_words = {_toml_list(list(TROLL_WORDS))}
hide_sensitive = true
rotate_seconds = 6.0
"""


def _get_json(url: str, token: str | None = None) -> Any:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read().decode("utf-8"))


def _post_json(url: str, body: dict[str, Any], token: str) -> Any:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read().decode("utf-8"))


class _Fakes:
    """The six fake servers and the feeder that lets the simulated event happen on them."""

    def __init__(self, event: SimulatedEvent, clock: SimClock):
        from tagwatch.collectors.fakes.bluesky import FakeBluesky
        from tagwatch.collectors.fakes.mastodon import FakeMastodon
        from tagwatch.collectors.fakes.meta import FakeInstagram, FakeThreads
        from tagwatch.collectors.fakes.x import FakeX

        self.event = event
        self.clock = clock
        self.bluesky_password = secrets.token_urlsafe(12)
        self.x_token = secrets.token_urlsafe(24)
        self.bluesky = FakeBluesky(clock=clock)
        self.x = FakeX(bearer_token=self.x_token, now=clock)
        self.mastodon = [
            # Account domains as on real instances (the web host is a loopback port).
            FakeMastodon(title=f"Fediverse {i}", now=clock, local_domain=f"fediverse{i}.example")
            for i in (1, 2)
        ]
        self.threads_token = secrets.token_urlsafe(24)
        self.instagram_token = secrets.token_urlsafe(24)
        self.threads = FakeThreads(token=self.threads_token, now=clock)
        self.instagram = FakeInstagram(
            token=self.instagram_token, now=clock, user_id=DEMO_INSTAGRAM_USER_ID
        )
        self._mastodon_known: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.bluesky.start()
        self.bluesky.add_account(DEMO_ACCOUNT, self.bluesky_password)
        self.x.start()
        for inst in self.mastodon:
            inst.start()
        self.threads.start()
        self.instagram.start()

    @property
    def urls(self) -> dict[str, Any]:
        return {
            "bluesky": self.bluesky.url,
            "x": self.x.url,
            "mastodon": [m.url for m in self.mastodon],
            "threads": self.threads.url,
            "instagram": self.instagram.url,
            "bluesky_password": self.bluesky_password,
            "x_token": self.x_token,
            "threads_token": self.threads_token,
            "instagram_token": self.instagram_token,
        }

    def stop(self) -> None:
        for server in (self.bluesky, self.x, *self.mastodon, self.threads, self.instagram):
            server.stop()

    def publish(self, now: datetime) -> None:
        """Bring every platform up to `now`: new posts, grown counts, deletions."""
        from tagwatch.collectors.fakes.mastodon import publish_simulated

        with self._lock:
            posts = self.event.posts
            self.bluesky.add_simulated(posts, now=now)
            self.x.add_simulated(posts, now=now)
            publish_simulated(self.mastodon, posts, now=now, known=self._mastodon_known)
            self.threads.add_simulated(posts, now=now)
            self.instagram.add_simulated(posts, now=now)


def _serve_fakes(
    conn: Any, seed: int, n_posts: int, start: datetime, speed: float, end: datetime, t0: float
) -> None:
    """Child process: the fake platforms and their feeder, on the parent's simulated clock.

    CLOCK_MONOTONIC is one clock for every process on the machine, so a SimClock
    built from the parent's `t0` reads the same simulated time here.
    """
    event = simulate_event(
        seed=seed,
        start=EVENT_START,
        days=EVENT_DAYS,
        timezone=TIMEZONE,
        n_posts=n_posts,
        raid=True,
    )
    clock = SimClock(start, speed, end=end, t0=t0)
    fakes = _Fakes(event, clock)
    fakes.start()
    conn.send(fakes.urls)
    try:
        while not conn.poll(0.5):
            fakes.publish(clock())
        fakes.publish(clock())
    finally:
        fakes.stop()


class _FakesProcess:
    """The fakes in their own process, so the monitor's memory can be measured alone (soak)."""

    def __init__(self, seed: int, n_posts: int, clock: SimClock):
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve_fakes,
            args=(child, seed, n_posts, clock.start, clock.speed, clock.end, clock.t0),
            daemon=True,
        )
        self.urls: dict[str, Any] = {}
        self._end = clock.end

    def start(self) -> None:
        self._proc.start()
        if not self._conn.poll(120):
            self._proc.kill()
            raise RuntimeError("the fake platforms' process did not start")
        self.urls = self._conn.recv()
        self.bluesky_password = self.urls["bluesky_password"]
        self.x_token = self.urls["x_token"]
        self.threads_token = self.urls["threads_token"]
        self.instagram_token = self.urls["instagram_token"]

    def publish(self, now: datetime) -> None:
        """The child publishes on its own copy of the clock; at the end, let its last round land."""
        if self._end is not None and now >= self._end:
            time.sleep(1.0)

    def stop(self) -> None:
        try:
            self._conn.send("stop")
        except OSError:
            pass
        self._proc.join(15)
        if self._proc.is_alive():
            self._proc.kill()


def _count_posts(config: Config) -> dict[str, int]:
    from tagwatch.storage.db import connect

    conn = connect(config.db_path, readonly=True)
    try:
        return {
            row[0]: row[1]
            for row in conn.execute(
                "select platform, count(*) from posts where deleted = 0 group by platform"
            )
        }
    finally:
        conn.close()


def _moderate(wall_url: str, token: str, echo: Callable[[str], None]) -> int:
    """Act as the hall's moderator once: hide what slipped past the blocked words."""
    hidden = 0
    try:
        queue = _get_json(f"{wall_url}/api/moderation/posts?show=wall", token)
    except OSError as exc:
        echo(f"  moderator: wall not reachable ({exc})")
        return 0
    posts = queue.get("posts", []) if isinstance(queue, dict) else []
    for post in posts:
        text = (post.get("text") or "").casefold()
        if "spam.example" in text or "nobody cares" in text:
            try:
                _post_json(
                    f"{wall_url}/api/moderation/action",
                    {"action": "block", "post_id": post["id"]},
                    token,
                )
                hidden += 1
            except OSError:
                pass
    return hidden


def run_demo(
    out_dir: Path,
    *,
    minutes: float = 1.0,
    speed: float | None = None,
    port: int = 8080,
    seed: int = 2016,
    n_posts: int = 3000,
    echo: Callable[[str], None] = print,
    fakes_process: bool = False,
) -> DemoResult:
    """Run the simulated event through the real monitor; returns where everything is.

    `fakes_process` hosts the fake platforms in a child process (the soak test
    measures the monitor's own memory that way; the fakes keep every post).
    """
    from tagwatch.monitor.runner import Runner
    from tagwatch.storage.db import Store

    if minutes <= 0:
        raise UsageError("--minutes must be greater than 0.")
    if speed is not None and speed <= 0:
        raise UsageError("--speed must be greater than 0.")
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("demo.db", "demo.db-wal", "demo.db-shm"):
        (out_dir / stale).unlink(missing_ok=True)

    event = simulate_event(
        seed=seed,
        start=EVENT_START,
        days=EVENT_DAYS,
        timezone=TIMEZONE,
        n_posts=n_posts,
        raid=True,
    )
    span = (event.ends - event.begins).total_seconds()
    if speed is None:
        # The whole event in 90% of the time; the rest is for digests and the report.
        speed = span / (minutes * 60 * 0.9)
    clock = SimClock(event.begins, speed, end=event.ends)
    # Collect about 30 times over the run, at least every 2 real seconds apart.
    interval_minutes = round(max(2.0, minutes * 60 / 30) / 60, 4)

    fakes: _Fakes | _FakesProcess
    if fakes_process:
        fakes = _FakesProcess(seed, n_posts, clock)
    else:
        fakes = _Fakes(event, clock)
    fakes.start()
    urls = fakes.urls
    token = secrets.token_urlsafe(18)
    # A chat webhook on loopback that answers like Slack's: the alerts land there.
    chat = FakeSlackWebhook().start()
    env = {
        BLUESKY_HANDLE_ENV: DEMO_ACCOUNT,
        BLUESKY_PASSWORD_ENV: fakes.bluesky_password,
        X_TOKEN_ENV: fakes.x_token,
        THREADS_TOKEN_ENV: fakes.threads_token,
        INSTAGRAM_TOKEN_ENV: fakes.instagram_token,
        WALL_TOKEN_ENV: token,
        ALERTS_WEBHOOK_ENV: chat.webhook_url,
    }
    saved_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    runner = None
    try:
        config_path = out_dir / "config.toml"
        config_path.write_text(
            demo_config_text(
                bluesky_url=urls["bluesky"],
                x_url=urls["x"],
                mastodon_urls=list(urls["mastodon"]),
                wall_port=port,
                interval_minutes=interval_minutes,
                speed=speed,
                threads_url=urls["threads"],
                instagram_url=urls["instagram"],
            ),
            encoding="utf-8",
        )
        config = load_config(config_path)
        wall_url = f"http://127.0.0.1:{port}"
        result = DemoResult(
            out_dir=out_dir,
            config_path=config_path,
            db_path=config.db_path,
            wall_url=wall_url,
            moderation_token=token,
            simulated_until=event.begins,
        )
        echo(
            f"Simulating {EVENT_NAME} (#{HASHTAG}): {len(event.posts)} posts over "
            f"{EVENT_DAYS} days, {speed:.0f}x real time, about {minutes:g} minute(s)."
        )
        echo(f"Live wall:  {wall_url}/")
        echo(f"Moderation: {wall_url}/moderate   token: {token}")
        fakes.publish(clock())
        with Store.open(config.db_path):
            pass  # create and migrate before the runner and the wall open it
        # Warnings to the terminal, every pass to demo.log, as `tagwatch run` does.
        log_handlers = setup_logging(config, stream_level=logging.WARNING)
        # Passes every 2 s overlap by design here; APScheduler's skip notices are noise.
        apscheduler_log = logging.getLogger("apscheduler")
        apscheduler_level = apscheduler_log.level
        apscheduler_log.setLevel(logging.ERROR)
        runner = Runner(config, now=clock)
        runner.start()
        if runner.alerts is not None:
            runner.alerts.on_sent = lambda channel, message: echo(
                f"  ALERT to the chat webhook: {message.subject}"
            )
        deadline = time.monotonic() + minutes * 60 * 0.9
        next_line = 0.0
        while time.monotonic() < deadline and not clock.finished:
            fakes.publish(clock())
            if time.monotonic() >= next_line:
                counts = _count_posts(config)
                local = clock().astimezone(config.event.tz)
                echo(
                    f"  {local:%a %d %b %H:%M}  stored: "
                    + ", ".join(f"{p} {n}" for p, n in sorted(counts.items()))
                )
                next_line = time.monotonic() + max(5.0, minutes * 60 / 12)
                result.wall_posts_hidden_by_moderator += _moderate(wall_url, token, lambda _: None)
            time.sleep(0.5)
        result.simulated_until = clock()
        fakes.publish(result.simulated_until)
        runner.scheduler.pause()
        # One last pass of each collector, so the end of the event is in the database.
        for name in runner.platforms():
            runner.collect(name)
        result.wall_posts_hidden_by_moderator += _moderate(wall_url, token, echo)
        try:
            wall = _get_json(f"{wall_url}/api/wall")
            result.wall_posts_shown = len(wall.get("posts") or wall.get("show") or [])
        except OSError as exc:
            echo(f"  the wall did not answer: {exc}")
        for name, records in runner.records.items():
            result.passes[name] = len(records)
            result.failed_passes[name] = sum(1 for r in records if r.status == "failed")
    finally:
        if runner is not None:
            runner.stop()
            runner.close()
            remove_logging(log_handlers)
            apscheduler_log.setLevel(apscheduler_level)
        fakes.stop()
        chat.stop()
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    result.alerts = [text.splitlines()[0].strip("*") for text in chat.texts()]
    result.posts_by_platform = _count_posts(config)
    _write_outputs(config, result)
    return result


def _write_outputs(config: Config, result: DemoResult) -> None:
    from tagwatch.reports.digest import send_daily_digest
    from tagwatch.reports.impact import make_report

    last_day = result.simulated_until.astimezone(config.event.tz).date()
    for day in config.event.days():
        if day > last_day:
            break
        digest = send_daily_digest(config, day, send=False, now=result.simulated_until)
        result.digests.append(digest.paths["html"])
    result.report = make_report(
        config,
        config.event.start,
        min(config.event.end, last_day),
        result.out_dir / "report",
        now=result.simulated_until,
    )


def describe(result: DemoResult) -> list[str]:
    """The closing lines `tagwatch demo` prints: what happened and where everything is."""
    total = sum(result.posts_by_platform.values())
    lines = [
        "",
        f"Done: {total} posts stored ("
        + ", ".join(f"{p} {n}" for p, n in sorted(result.posts_by_platform.items()))
        + f"), simulated up to {result.simulated_until:%Y-%m-%d %H:%M} UTC.",
        "Collector passes: "
        + ", ".join(
            f"{p} {n}"
            + (f" ({result.failed_passes.get(p)} failed)" if result.failed_passes.get(p) else "")
            for p, n in sorted(result.passes.items())
        ),
        f"Wall: {result.wall_posts_shown} posts on screen at the end; "
        f"{result.wall_posts_hidden_by_moderator} troll author(s) blocked by the moderator.",
        f"Alerts sent to the chat webhook: {len(result.alerts)}"
        + "".join(f"\n  {title}" for title in result.alerts[:8]),
        f"Config:   {result.config_path}",
        f"Database: {result.db_path}",
    ]
    for path in result.digests:
        lines.append(f"Digest:   {path}")
    report = result.report
    if report:
        lines.append(f"Report:   {report.get('html')}")
        lines.append(f"PDF:      {report.get('pdf')}")
    lines.append(
        f"Next: tagwatch --config {result.config_path} status   "
        "(or write your own config.toml and run `tagwatch run`)"
    )
    return lines


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
