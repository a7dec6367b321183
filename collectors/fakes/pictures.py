"""Small real pictures the fakes serve at their own ``/media/<name>`` addresses.

Every fake platform's media addresses point back at the fake itself (loopback), so
the demo and the wall's image proxy tests fetch real JPEG/PNG bytes without ever
leaving the machine. The picture is drawn from its name (a colour and a band), so
the same address always gives the same bytes, as a CDN would.
"""

from __future__ import annotations

import io
import zlib
from functools import lru_cache

__all__ = ["picture", "MEDIA_PREFIX"]

MEDIA_PREFIX = "/media/"

_TYPES = {
    "jpg": ("JPEG", "image/jpeg"),
    "jpeg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
}


@lru_cache(maxsize=256)
def picture(name: str) -> tuple[str, bytes] | None:
    """(content type, bytes) of the picture called `name` (``x.jpg``, ``x.png``, ``x@jpeg``).

    Anything not ending in a raster extension (a video's ``.mp4``) is not served:
    a screen only ever fetches the poster frame, never the video file.
    """
    # Bluesky's CDN names the format after an "@" (`<cid>@jpeg`), others after a dot.
    last = name.rsplit("/", 1)[-1]
    stem, _, ext = name.rpartition("@" if "@" in last else ".")
    kind = _TYPES.get(ext.lower())
    if not stem or kind is None:
        return None
    from PIL import Image, ImageDraw  # imported here: only a fake serving media needs it

    seed = zlib.crc32(stem.encode())
    colour = (seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF)
    img = Image.new("RGB", (160, 120), colour)
    draw = ImageDraw.Draw(img)
    band = (seed >> 24) % 80
    draw.rectangle((0, band, 159, band + 30), fill=tuple(255 - c for c in colour))
    out = io.BytesIO()
    img.save(out, kind[0])
    return kind[1], out.getvalue()
