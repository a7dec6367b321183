"""The wall's image proxy: the server fetches a post's pictures so the screen never does.

Why a proxy: a wall that loaded pictures straight from the platforms would tell every
platform (and any host a post's author controls) who is watching, and would need a
Content-Security-Policy open to the world. Instead the screen asks only the wall, by opaque
ids (`/wall/media/<post>/<position>`, `/wall/avatar/<post>`), and the wall fetches the
address the collector stored, under rules that make it useless as an open proxy:

- only the platforms' media hosts (`BUILTIN_MEDIA_HOSTS`), each configured Mastodon instance
  and its subdomains, the exact host and port of each configured platform base URL (how the
  loopback fakes of the demo and tests are reached) and `[wall] media_hosts`;
- http(s) only, no credentials in the address, at most `MAX_REDIRECTS` redirects, each
  checked like the first;
- the host's addresses must all be public unless it is a configured base URL, and the
  request goes to the address that was checked (DNS cannot swap in a LAN address between
  the check and the connection);
- raster pictures only (JPEG, PNG, GIF, WebP), recognised by their bytes, never by the
  Content-Type: an SVG is refused whatever it claims to be;
- at most `MAX_DOWNLOAD` bytes (reading stops there), `TIME_LIMIT` seconds in all, at most
  `MAX_PIXELS` pixels (a decompression bomb is refused before it is decoded);
- re-encoded with Pillow after applying the EXIF orientation, so no metadata (GPS position,
  camera serial) reaches the screen, and scaled down to what a screen shows.

Fetches are asynchronous and bounded (`CONCURRENCY` at once, `PER_HOST` per host, one in
flight per address); decoding and disk IO run in worker threads, so a slow host delays only
its own pictures. A failure is remembered for `NEGATIVE_SECONDS` and answered at once.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import socket
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from PIL import Image, ImageOps

from tagwatch.errors import MediaRefused
from tagwatch.reports.wall.media_cache import DiskCache, cache_key
from tagwatch.settings import Config, image_type

__all__ = [
    "BUILTIN_MEDIA_HOSTS",
    "MediaPolicy",
    "MediaProxy",
    "render",
    "SIDES",
]

log = logging.getLogger("tagwatch.wall")

# The platforms' own media hosts, where the addresses collectors store point to.
BUILTIN_MEDIA_HOSTS = (
    # X: media.url and preview_image_url (video posters) and profile_image_url are on
    # pbs.twimg.com; default profile pictures on abs.twimg.com (X API v2 media and user
    # objects; tests/fixtures/recorded has both).
    "pbs.twimg.com",
    "abs.twimg.com",
    # Bluesky: app.bsky.embed.images#viewImage thumb/fullsize and avatars are
    # https://cdn.bsky.app/img/<preset>/plain/<did>/<cid>@jpeg; app.bsky.embed.video#view
    # thumbnail is https://video.bsky.app/watch/<did>/<cid>/thumbnail.jpg.
    "cdn.bsky.app",
    "video.bsky.app",
    # Instagram and Threads (Graph API media_url, thumbnail_url, profile_picture_url): Meta's
    # CDN, scontent-<pop>.cdninstagram.com and scontent-<pop>.xx.fbcdn.net.
    "*.cdninstagram.com",
    "*.fbcdn.net",
)
SIDES = {"picture": 1600, "avatar": 128}  # longest side of what the screen gets, in pixels
MAX_DOWNLOAD = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
TIME_LIMIT = 5.0
MAX_REDIRECTS = 3
CONCURRENCY = 8
PER_HOST = 2
NEGATIVE_SECONDS = 60.0
_NEGATIVE_MAX = 5000
_REDIRECTS = {301, 302, 303, 307, 308}
_PIL_FORMATS = ["JPEG", "PNG", "GIF", "WEBP"]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in _DEFAULT_PORTS:
        return None
    return host.rstrip(".").lower(), port or _DEFAULT_PORTS[parts.scheme]


@dataclass(frozen=True)
class MediaPolicy:
    """Which addresses the proxy may fetch: host patterns (public addresses only) and the
    exact (host, port) of configured platform base URLs (any address, loopback included)."""

    patterns: tuple[str, ...]
    trusted: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def from_config(cls, config: Config) -> MediaPolicy:
        bases = [
            config.x.api_base_url,
            config.threads.api_base_url,
            config.instagram.api_base_url,
            config.bluesky.service,
            *config.mastodon.instances,
        ]
        trusted = frozenset(hp for hp in map(_host_port, bases) if hp is not None)
        patterns = list(BUILTIN_MEDIA_HOSTS)
        for url in config.mastodon.instances:
            hp = _host_port(url if "://" in url else f"https://{url}")
            if hp is not None:
                # An instance's media are often on files.<host> or media.<host>.
                patterns += [hp[0], f"*.{hp[0]}"]
        patterns += [h.lower() for h in config.wall.media_hosts]
        return cls(tuple(dict.fromkeys(patterns)), trusted)

    def host_allowed(self, host: str) -> bool:
        for p in self.patterns:
            if host == p or (p.startswith("*.") and host.endswith(p[1:])):
                return True
        return False

    def check(self, url: str) -> tuple[str, int, bool]:
        """(host, port, trusted) of an address the proxy may fetch; raises MediaRefused."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise MediaRefused(f"not a valid address: {exc}") from exc
        if parts.scheme not in _DEFAULT_PORTS:
            raise MediaRefused(f"only http(s) pictures are fetched, not {parts.scheme!r}")
        if parts.username is not None or parts.password is not None:
            raise MediaRefused("an address with credentials in it is never fetched")
        if not parts.hostname:
            raise MediaRefused("the address has no host")
        host = parts.hostname.rstrip(".").lower()
        port = port or _DEFAULT_PORTS[parts.scheme]
        trusted = (host, port) in self.trusted
        if not trusted and not self.host_allowed(host):
            raise MediaRefused(
                f"{host} is not a platform's media host; add it to [wall] media_hosts"
                " if its pictures belong on the wall"
            )
        return host, port, trusted


def _public(addresses: Iterable[str]) -> str:
    """The first of a host's addresses, once all are known to be public."""
    first = None
    for raw in addresses:
        ip = ipaddress.ip_address(raw.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise MediaRefused(f"the host resolves to a non-public address ({ip})")
        first = first or str(ip)
    if first is None:
        raise MediaRefused("the host has no address")
    return first


def render(data: bytes, side: int, *, max_pixels: int = MAX_PIXELS) -> tuple[bytes, str]:
    """The picture re-encoded for a screen: upright, at most `side` pixels, no metadata.

    JPEG for opaque pictures, PNG where there is transparency (an avatar's round corners);
    an animated GIF or WebP becomes its first frame. Runs in a worker thread.
    """
    if image_type(data[:16]) is None:
        raise MediaRefused("not a JPEG, PNG, GIF or WebP picture (by its bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
        with im:
            width, height = im.size
            if width * height > max_pixels:
                raise MediaRefused(f"{width}×{height} pixels is more than a wall shows")
            im.draft("RGB", (side, side))  # JPEG: decode at a fraction of the size
            upright = ImageOps.exif_transpose(im)
            upright.thumbnail((side, side), Image.Resampling.LANCZOS)
            alpha = upright.mode in ("RGBA", "LA", "PA") or (
                upright.mode == "P" and "transparency" in upright.info
            )
            out = io.BytesIO()
            if alpha:
                upright.convert("RGBA").save(out, "PNG")
                return out.getvalue(), "image/png"
            upright.convert("RGB").save(out, "JPEG", quality=85, optimize=True)
            return out.getvalue(), "image/jpeg"
    except MediaRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRefused(f"too many pixels: {exc}") from exc
    except Exception as exc:  # Pillow raises many kinds on a damaged or hostile file
        raise MediaRefused(f"the picture cannot be decoded ({type(exc).__name__})") from exc


class MediaProxy:
    """Fetches, checks, re-encodes and caches pictures; `picture()` is all a handler needs."""

    def __init__(
        self,
        policy: MediaPolicy,
        cache: DiskCache,
        *,
        time_limit: float = TIME_LIMIT,
        max_download: int = MAX_DOWNLOAD,
        max_pixels: int = MAX_PIXELS,
        concurrency: int = CONCURRENCY,
        per_host: int = PER_HOST,
        negative_seconds: float = NEGATIVE_SECONDS,
    ):
        self.policy = policy
        self.cache = cache
        self.time_limit = time_limit
        self.max_download = max_download
        self.max_pixels = max_pixels
        self.per_host = per_host
        self.negative_seconds = negative_seconds
        self._slots: asyncio.Semaphore | None = None
        self._concurrency = concurrency
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._inflight: dict[str, asyncio.Task[tuple[bytes, str] | None]] = {}
        self._failed: dict[str, float] = {}
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def for_config(cls, config: Config, db_path: Path) -> MediaProxy:
        """The proxy of a wall, its cache beside the database (`<db>-media/`)."""
        folder = db_path.parent / f"{db_path.stem}-media"
        cache = DiskCache(folder, config.wall.media_cache_mb * 1024 * 1024)
        return cls(MediaPolicy.from_config(config), cache)

    async def picture(self, url: str, variant: str) -> tuple[bytes, str] | None:
        """The screen-ready picture at `url`, or None when it is refused or failed."""
        side = SIDES[variant]
        key = cache_key(url, variant)
        hit = await asyncio.to_thread(self.cache.get, key)
        if hit is not None:
            kind = image_type(hit[:16])
            return hit, kind or "application/octet-stream"
        until = self._failed.get(key)
        if until is not None:
            if until > time.monotonic():
                return None
            del self._failed[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fill(key, url, side))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        # A screen that goes away must not cancel a fetch other screens are waiting for.
        return await asyncio.shield(task)

    async def _fill(self, key: str, url: str, side: int) -> tuple[bytes, str] | None:
        started = time.monotonic()
        try:
            host = urlsplit(url).hostname or ""
            async with asyncio.timeout(self.time_limit):
                async with self._global_slots(), self._host_slots(host):
                    data = await self._download(url)
            out = await asyncio.to_thread(render, data, side, max_pixels=self.max_pixels)
            await asyncio.to_thread(self.cache.put, key, out[0])
            return out
        except MediaRefused as exc:
            log.info("wall picture refused: %s", exc)
        except TimeoutError:
            log.info(
                "wall picture refused: no whole answer within %.0f s (%.1f s)",
                self.time_limit,
                time.monotonic() - started,
            )
        except (httpx.HTTPError, OSError, ValueError) as exc:
            log.info("wall picture failed: %s", type(exc).__name__)
        if len(self._failed) >= _NEGATIVE_MAX:
            now = time.monotonic()
            self._failed = {k: t for k, t in self._failed.items() if t > now}
            if len(self._failed) >= _NEGATIVE_MAX:
                self._failed.clear()
        self._failed[key] = time.monotonic() + self.negative_seconds
        return None

    def _global_slots(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        return self._slots

    def _host_slots(self, host: str) -> asyncio.Semaphore:
        if host not in self._hosts:
            if len(self._hosts) > 1000:
                self._hosts = {h: s for h, s in self._hosts.items() if s.locked()}
            self._hosts[host] = asyncio.Semaphore(self.per_host)
        return self._hosts[host]

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,  # each hop is checked here
                trust_env=False,  # no proxy from the environment: it would skip the checks
                timeout=httpx.Timeout(self.time_limit),
                headers={"user-agent": "tagwatch-wall", "accept-encoding": "identity"},
            )
        return self._client

    async def _resolve(self, host: str, port: int) -> str:
        try:
            return _public([host])
        except ValueError:
            pass
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return _public(str(info[4][0]) for info in infos)

    async def _download(self, url: str) -> bytes:
        for _hop in range(MAX_REDIRECTS + 1):
            host, port, trusted = self.policy.check(url)
            parts = urlsplit(url)
            target, extensions = url, {}
            if not trusted:
                # Connect to the address just checked; Host and TLS name stay the host's.
                ip = await self._resolve(host, port)
                netloc = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
                target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
                extensions = {"sni_hostname": host}
            headers = {"host": parts.netloc.rsplit("@", 1)[-1]}
            request = self._http().build_request(
                "GET", target, headers=headers, extensions=extensions
            )
            response = await self._http().send(request, stream=True)
            try:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise MediaRefused("a redirect without a location")
                    url = urljoin(url, location)
                    continue
                if response.status_code != 200:
                    raise MediaRefused(f"the host answered HTTP {response.status_code}")
                return await self._read(response)
            finally:
                await response.aclose()
        raise MediaRefused(f"more than {MAX_REDIRECTS} redirects")

    async def _read(self, response: httpx.Response) -> bytes:
        encoding = response.headers.get("content-encoding", "identity").lower()
        if encoding not in ("identity", ""):
            # Compressed pictures could inflate past every limit before being counted.
            raise MediaRefused(f"a compressed answer ({encoding}) is not read")
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_download:
            raise MediaRefused(f"{int(length)} bytes is more than {self.max_download}")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > self.max_download:
                raise MediaRefused(f"more than {self.max_download} bytes")
        return bytes(body)

    async def aclose(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
