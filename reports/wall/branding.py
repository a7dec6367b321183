"""The wall's branding: theme stylesheet, logo and QR code, all served from the wall's origin.

The page's Content-Security-Policy allows no inline style and images only from 'self',
so the configured accent colour and font scale reach the page as a small stylesheet
route (CSS custom properties), the logo as a route reading the configured file, and the
QR code as an SVG drawn here with segno: nothing is fetched from a third party, and the
wall works offline in a hall with bad Wi-Fi.
"""

from __future__ import annotations

import io

import segno
from starlette.requests import Request
from starlette.responses import Response

from tagwatch.settings import Config, image_type
from tagwatch.urls import safe_url

__all__ = ["Branding", "qr_target"]


def qr_target(config: Config) -> str:
    """The link the QR code carries: `[event] url` when it passes the URL guard, else ""."""
    if not config.wall.qr:
        return ""
    return safe_url(config.event.url)


def qr_svg(url: str) -> bytes:
    """The QR code of `url` as SVG: error correction M, black on white with a quiet zone.

    Dark on light whatever the theme: phone scanners read that best, and the quiet zone
    (4 modules, the standard's minimum) lets them find the code on a busy wall.
    """
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        out, kind="svg", scale=10, border=4, dark="#000", light="#fff", xmldecl=False
    )
    return out.getvalue()


class Branding:
    """The three branding routes, over values fixed when the wall starts."""

    def __init__(self, config: Config):
        wall = config.wall
        self.qr_url = qr_target(config)
        self.logo_path = config.wall_logo
        # The config loader checked the colour's form; a scale is a plain number.
        self.css = (
            f":root {{ --accent: {wall.accent_color}; --scale: {wall.font_scale:g}; }}\n"
        ).encode()
        self._qr = qr_svg(self.qr_url) if self.qr_url else b""

    async def theme_css(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css", headers={"cache-control": "no-cache"})

    async def logo(self, request: Request) -> Response:
        # Read at each request so a replaced file shows after a reload, and its type
        # is taken from its bytes (the loader refused anything but a raster image).
        if self.logo_path is None:
            return Response("No logo is configured ([wall] logo).", status_code=404)
        try:
            data = self.logo_path.read_bytes()
        except OSError:
            return Response("The logo file cannot be read.", status_code=404)
        kind = image_type(data[:16])
        if kind is None:
            return Response("The logo file is not a PNG, JPEG, WebP or GIF.", status_code=404)
        return Response(data, media_type=kind, headers={"cache-control": "no-cache"})

    async def qr(self, request: Request) -> Response:
        if not self._qr:
            return Response("No QR code: [event] url is unset or [wall] qr is off.", 404)
        return Response(self._qr, media_type="image/svg+xml")
