"""`tagwatch demo`: the whole monitor, offline, on a simulated event.

Nothing here is a toy version of tagwatch: the demo starts the loopback fake
platforms (Bluesky, X, two Mastodon instances, Threads and Instagram), writes a config that
points the real collectors at them, and runs the real scheduler, enrichment,
wall, digest and impact report. Only the clock is simulated: it runs `speed`
times faster than real time from the first day of the event, and a feeder
publishes the simulated event's posts to the fakes as that clock reaches them
(engagement grows, authors delete posts, trolls post).

    event.py     the event, its languages and sessions, the config text, the simulated clock
    servers.py   the fake platforms and their feeder (in this process or a child one)
    run.py       `run_demo`: everything above, the runner, the moderator, the outputs
"""

from __future__ import annotations

from tagwatch.monitor.demo.event import LANGUAGES, SimClock, demo_config_text
from tagwatch.monitor.demo.run import DemoResult, describe, run_demo

__all__ = ["LANGUAGES", "DemoResult", "SimClock", "demo_config_text", "describe", "run_demo"]
