"""How tests and bench scripts start Debian's Chromium for Playwright (never a downloaded one),
and the wall server the browser looks at.

The flags keep a headless Chromium from reaching for Google's services, which this
machine's closed network would refuse many times a second.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tagwatch.reports.wall.server import WallServer
from tagwatch.settings import Config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class RunningWall:
    """The wall served by uvicorn in a thread, as `tagwatch wall` serves it."""

    def __init__(
        self,
        config: Config,
        port: int,
        *,
        now: Callable[[], datetime] | None = None,
        token: str = "",
    ):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.token = token
        self.server = WallServer.for_config(config, "127.0.0.1", port, now=now, poll_interval=0.1)
        self.server.start()
        self.thread = self.server.thread

    def stop(self) -> None:
        assert self.server.stop(), "wall server did not stop"

    def act(self, action: str, post_id: int) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/api/moderation/action",
            data=json.dumps({"action": action, "post_id": post_id}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            return dict(json.loads(r.read()))
