"""The fake platforms the demo's collectors talk to, and the feeder that publishes the
simulated event on them as the simulated clock reaches each post.

In the demo's own process (`_Fakes`), or in a child process (`_FakesProcess`) so that a soak
run measures the monitor's memory alone. The servers are the same loopback fakes the tests
use (`tagwatch.collectors.fakes`), speaking each platform's real API.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime
from typing import Any

from tagwatch.collectors.fakes.simulation import SimulatedEvent
from tagwatch.monitor.demo.event import (
    DEMO_ACCOUNT,
    DEMO_INSTAGRAM_USER_ID,
    SimClock,
    demo_event,
)

__all__ = ["Fakes", "FakesProcess"]


class Fakes:
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
    event = demo_event(seed, n_posts)
    clock = SimClock(start, speed, end=end, t0=t0)
    fakes = Fakes(event, clock)
    fakes.start()
    conn.send(fakes.urls)
    try:
        while not conn.poll(0.5):
            fakes.publish(clock())
        fakes.publish(clock())
    finally:
        fakes.stop()


class FakesProcess:
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
