"""The one wall server: the wall's app served by uvicorn, in the foreground or in a thread.

`tagwatch wall` runs it in the foreground; `tagwatch run` (with [schedule] serve_wall), the
browser tests and the benches start it in a background thread and stop it from another.
Why one class: an open wall (a browser holding its event stream) never ends its response by
itself, and uvicorn waits for open responses before it stops. So the server tells the wall's
hub to end its streams as its shutdown begins, on the server's own loop, and gives any other
response a few seconds at most; every way of serving the wall needs exactly that.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from tagwatch.errors import ConfigError
from tagwatch.reports.wall.app import create_app
from tagwatch.reports.wall.hub import WallHub
from tagwatch.settings import Config

__all__ = ["WallServer"]

log = logging.getLogger("tagwatch.wall")


class _Uvicorn(uvicorn.Server):
    """uvicorn whose shutdown first ends the wall's open event streams."""

    def __init__(self, config: uvicorn.Config, hub: WallHub | None):
        super().__init__(config)
        self.hub = hub

    async def shutdown(self, sockets: Any = None) -> None:
        if self.hub is not None:
            self.hub.close()
        await super().shutdown(sockets)


class WallServer:
    """The wall's ASGI app on `host:port`: `run()` in the foreground, or `start()`/`stop()`."""

    GRACE_SECONDS = 3

    def __init__(self, app: Starlette, host: str, port: int):
        self.server = _Uvicorn(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                # The lifespan starts the hub's polling and cancels it on shutdown.
                lifespan="on",
                timeout_graceful_shutdown=self.GRACE_SECONDS,
                server_header=False,
            ),
            getattr(app.state, "hub", None),
        )
        self.host, self.port = host, port
        self.thread = threading.Thread(target=self._serve, name="tagwatch-wall", daemon=True)

    @classmethod
    def for_config(
        cls,
        config: Config,
        host: str,
        port: int,
        *,
        db_path: str | Path | None = None,
        now: Callable[[], datetime] | None = None,
        poll_interval: float = 0.5,
    ) -> WallServer:
        """A server for the wall of `config`'s database (`host`, `port` already checked)."""
        return cls(create_app(config, db_path, now, poll_interval=poll_interval), host, port)

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    def run(self) -> None:
        """Serve in this thread until Ctrl+C (which uvicorn re-raises as KeyboardInterrupt)."""
        self.server.run()

    def _serve(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; it has logged why
            pass

    def start(self, timeout: float = 10.0, *, fix: str = "Change [wall] port.") -> None:
        """Serve in a background thread; returns once listening, or raises ConfigError."""
        self.thread.start()
        waited = 0.0
        while not self.server.started and self.thread.is_alive() and waited < timeout:
            threading.Event().wait(0.05)
            waited += 0.05
        if not self.server.started:
            raise ConfigError(
                f"The wall could not listen on {self.host}:{self.port} (in use, or not allowed). "
                + fix
            )

    def stop(self) -> bool:
        """Stop a server started by `start()`; False (and a warning) if it did not stop."""
        self.server.should_exit = True
        self.thread.join(timeout=self.GRACE_SECONDS + 5)
        if self.thread.is_alive():
            log.warning("the wall did not stop within %.0f s", self.GRACE_SECONDS + 5)
            return False
        return True
