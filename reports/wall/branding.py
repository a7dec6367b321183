"""The wall's branding: theme stylesheet, logo and QR code, all served from the wall's origin.

The page's Content-Security-Policy allows no inline style and images only from 'self',
so the configured accent colour and font scale reach the page as a small stylesheet
route (CSS custom properties), the logo as a route reading the configured file, and the
QR code as an SVG drawn here with segno: nothing is fetched from a third party, and the
wall works offline in a hall with bad Wi-Fi.
"""

from __future__ import annotations

import io
from urllib.parse import quote, urlsplit

import segno
from starlette.requests import Request
from starlette.responses import Response

from tagwatch.settings import Config, image_type
from tagwatch.urls import safe_url

__all__ = ["Branding", "qr_target"]


# Each platform's documented "compose a post" link, whose `text` fills the composer: the
# person in the hall scans, finds the hashtag already typed, and only writes their words.
# Sources: docs.bsky.app "Action Intent Links" (bsky.app/intent/compose?text=);
# developers.facebook.com Threads "Web Intents" (threads.net/intent/post?text=); X's
# developer "Web Intents" (x.com/intent/post?text=, formerly twitter.com/intent/tweet);
# Mastodon's web app serves /share?text= on every instance (its "share" page).
COMPOSE_LINKS = {
    "bluesky": "https://bsky.app/intent/compose?text={text}",
    "x": "https://x.com/intent/post?text={text}",
    "threads": "https://www.threads.net/intent/post?text={text}",
    "mastodon": "{instance}/share?text={text}",
}


def compose_text(config: Config) -> str:
    """What a new post starts with: the event's hashtags, then a space for the words."""
    return " ".join("#" + tag for tag in config.event.hashtags) + " "


def qr_target(config: Config) -> str:
    """The link the QR code carries, or "" for none.

    `[wall] qr_link = "event"`: `[event] url` when it passes the URL guard; a platform:
    that platform's compose link with the event's hashtags already typed (Mastodon's on
    the first configured instance).
    """
    if not config.wall.qr:
        return ""
    link = config.wall.qr_link
    if link == "event":
        return safe_url(config.event.url)
    text = quote(compose_text(config), safe="")
    instance = ""
    if link == "mastodon":
        instances = config.mastodon.instances
        if not instances:
            return ""
        parts = urlsplit(instances[0] if "://" in instances[0] else "https://" + instances[0])
        instance = f"https://{parts.netloc}"
    return safe_url(COMPOSE_LINKS[link].format(text=text, instance=instance))


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
            return Response(
                "No QR code: [event] url is unset (with [wall] qr_link = 'event') or [wall] qr"
                " is off.",
                404,
            )
        return Response(self._qr, media_type="image/svg+xml")
