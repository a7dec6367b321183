"""`tagwatch demo`'s run: start the fakes, write the config, run the real runner on the
simulated clock, moderate the wall as the hall's moderator would, then write the outputs.

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
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tagwatch.errors import UsageError
from tagwatch.monitor.alerts.fakes import FakeSlackWebhook
from tagwatch.monitor.demo.event import (
    ALERTS_WEBHOOK_ENV,
    BLUESKY_HANDLE_ENV,
    BLUESKY_PASSWORD_ENV,
    DEMO_ACCOUNT,
    EVENT_DAYS,
    EVENT_NAME,
    HASHTAG,
    INSTAGRAM_TOKEN_ENV,
    THREADS_TOKEN_ENV,
    WALL_TOKEN_ENV,
    X_TOKEN_ENV,
    SimClock,
    demo_config_text,
    demo_event,
)
from tagwatch.monitor.demo.servers import Fakes, FakesProcess
from tagwatch.monitor.logs import remove_logging, setup_logging
from tagwatch.settings import Config, load_config

__all__ = ["DemoResult", "run_demo", "describe"]


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
    # Posts a hold rule sent to the moderators' queue, and one of the reasons shown.
    wall_posts_held: int = 0
    wall_held_example: str = ""
    digests: list[Path] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    # What the demo's loopback chat webhook received: each alert's first line.
    alerts: list[str] = field(default_factory=list)


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

    event = demo_event(seed, n_posts)
    span = (event.ends - event.begins).total_seconds()
    if speed is None:
        # The whole event in 90% of the time; the rest is for digests and the report.
        speed = span / (minutes * 60 * 0.9)
    clock = SimClock(event.begins, speed, end=event.ends)
    # Collect about 30 times over the run, at least every 2 real seconds apart.
    interval_minutes = round(max(2.0, minutes * 60 / 30) / 60, 4)

    fakes: Fakes | FakesProcess
    if fakes_process:
        fakes = FakesProcess(seed, n_posts, clock)
    else:
        fakes = Fakes(event, clock)
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
            queue = _get_json(f"{wall_url}/api/moderation/posts?show=pending", token)
            held = [
                p["reason"]
                for p in (queue.get("posts", []) if isinstance(queue, dict) else [])
                if str(p.get("reason") or "").startswith("held:")
            ]
            result.wall_posts_held = len(held)
            result.wall_held_example = held[0] if held else ""
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
        f"{result.wall_posts_hidden_by_moderator} troll author(s) blocked by the moderator; "
        f"{result.wall_posts_held} post(s) held for review"
        + (f" ({result.wall_held_example})" if result.wall_held_example else "")
        + ".",
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
