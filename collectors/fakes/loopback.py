"""What every fake platform shares: a threaded HTTP server on 127.0.0.1, on a free port.

A fake subclasses `LoopbackServer` and implements `handle(handler, method)`;
starting, stopping, `with` and `url` come from here, so tests start and stop
every fake the same way. Every fake also serves small real pictures under
``/media/`` (its posts' media addresses point there).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from tagwatch.collectors.fakes.pictures import MEDIA_PREFIX, picture

__all__ = ["LoopbackServer"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith(MEDIA_PREFIX):
            self._picture()
            return
        self.server.owner.handle(self, "GET")

    def _picture(self) -> None:
        """The fakes' media addresses (see `pictures`): not logged as API requests."""
        found = picture(self.path[len(MEDIA_PREFIX) :].split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        content_type, body = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        self.server.owner.handle(self, "POST")

    def do_PUT(self) -> None:  # noqa: N802 - Matrix sends messages with PUT
        self.server.owner.handle(self, "PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer


class LoopbackServer:
    """Start/stop/`with`/`url` for a fake; subclasses answer requests in `handle`."""

    _server: _Server | None = None

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        # A short poll interval keeps stop() (and so each test) fast.
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"
