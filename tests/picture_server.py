"""A loopback picture host for the wall's image proxy tests: good pictures and hostile ones.

It stands in for a platform's media CDN (pbs.twimg.com, cdn.bsky.app, files.<instance>):
a plain HTTP server on 127.0.0.1 with a free port, started and stopped by the test. It
counts the bytes it managed to send, so a test can tell a refused download was cut short.
"""

from __future__ import annotations

import functools
import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

__all__ = ["PictureServer", "jpeg_with_exif", "png", "SVG"]

SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(1)</script></svg>"
)
GPS_IFD = 0x8825
ORIENTATION = 0x0112


def jpeg_with_exif(width: int = 240, height: int = 120) -> bytes:
    """A JPEG with a GPS position, a camera model and orientation 6 (rotate 90° to show)."""
    im = Image.new("RGB", (width, height), (200, 30, 30))
    for x in range(width // 2):  # the left half green, so the rotation can be checked
        for y in range(height):
            im.putpixel((x, y), (30, 200, 30))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x0110] = "Secret Camera 3000"  # Model
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (44.0, 49.0, 0.0), 3: "E", 4: (20.0, 27.0, 0.0)})
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def png(width: int = 64, height: int = 64, color: tuple[int, ...] = (20, 90, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


@functools.cache
def bomb_png(side: int = 20_000) -> bytes:
    """A small file that decodes to side² pixels (a decompression bomb)."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG", optimize=True)
    return out.getvalue()


class PictureServer:
    """Routes: /<name> from `files`, /slow.jpg (answers after `slow_seconds`), /huge.jpg
    (50 MB without a Content-Length), /redirect?to=<url> (302)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.sent_huge = 0
        self.requests: list[str] = []
        self.hosts: list[str] = []  # the Host header of each request
        self.slow_seconds = 8.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                server.requests.append(path)
                server.hosts.append(self.headers.get("host", ""))
                if path == "/slow.jpg":
                    time.sleep(server.slow_seconds)
                    self._send(jpeg_with_exif(), "image/jpeg")
                elif path == "/huge.jpg":
                    self.send_response(200)
                    self.send_header("content-type", "image/jpeg")
                    self.end_headers()
                    chunk = b"\xff\xd8\xff" + bytes(64 * 1024 - 3)
                    try:
                        for _ in range(50 * 16):  # 50 MB
                            self.wfile.write(chunk)
                            server.sent_huge += len(chunk)
                    except OSError:
                        pass  # the proxy hung up: what the test wants
                elif path == "/redirect":
                    self.send_response(302)
                    self.send_header("location", query.removeprefix("to="))
                    self.end_headers()
                elif path.lstrip("/") in server.files:
                    self._send(*server.files[path.lstrip("/")])
                else:
                    self.send_error(404)

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
