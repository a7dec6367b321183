"""The demo's event and the config it runs on: the #HRHN2016 assembly, its sessions, its
languages, the environment variables that carry the fakes' secrets, and the simulated clock.

Why apart from the run: these are the demo's fixed facts, read by the run, by the fake
servers' process (which rebuilds the same event from the same seed) and by tests that want
the demo's config or languages without starting anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from tagwatch.collectors.fakes.simulation import (
    DEFAULT_SESSIONS,
    RAID_TARGET,
    TROLL_WORDS,
    SimulatedEvent,
    simulate_event,
)

__all__ = ["SimClock", "demo_config_text", "demo_event", "LANGUAGES", "EVENT_NAME", "HASHTAG"]

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


def demo_event(seed: int, n_posts: int) -> SimulatedEvent:
    """The demo's simulated assembly. The parent and the fakes' child process each build it
    from the same seed, so this one function is what keeps the two the same event."""
    return simulate_event(
        seed=seed,
        start=EVENT_START,
        days=EVENT_DAYS,
        timezone=TIMEZONE,
        n_posts=n_posts,
        raid=True,
    )


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
# Copy the shape of this file for your own event; see docs/config.md, the config reference.

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
# Accounts made days before the event (the trolls') wait for a moderator.
hold_new_accounts_days = 7
"""
