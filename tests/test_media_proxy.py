"""The wall's image proxy against a loopback picture host (issue 21, "Pictures").

What it must serve (a picture without its EXIF, upright, scaled) and what it must refuse
without fetching, or without reading it whole: other hosts, non-public addresses, SVG,
50 MB, a host too slow, a redirect elsewhere, a decompression bomb.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tagwatch.errors import MediaRefused
from tagwatch.records import Author, Media
from tagwatch.reports.wall.media_cache import DiskCache, cache_key
from tagwatch.reports.wall.media_proxy import MediaPolicy, MediaProxy, render
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store
from tests.conftest import make_post
from tests.picture_server import SVG, PictureServer, bomb_png, jpeg_with_exif, png


@pytest.fixture
def pics() -> Iterator[PictureServer]:
    server = PictureServer()
    server.files["exif.jpg"] = (jpeg_with_exif(), "image/jpeg")
    server.files["fake.png"] = (SVG, "image/png")
    server.files["a.png"] = (png(), "image/png")
    server.files["bomb.png"] = (bomb_png(), "image/png")
    yield server
    server.stop()


def make_proxy(
    tmp_path: Path, config_dict: dict[str, Any], server: PictureServer, **kw: Any
) -> MediaProxy:
    # The picture host stands in for a platform: allowed as a configured base URL.
    config_dict["x"] = {"api_base_url": server.url}
    config_dict.setdefault("wall", {})
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    return MediaProxy(MediaPolicy.from_config(config), DiskCache(tmp_path / "cache", 10**7), **kw)


def fetch(proxy: MediaProxy, url: str, variant: str = "picture") -> tuple[bytes, str] | None:
    async def go() -> tuple[bytes, str] | None:
        try:
            return await proxy.picture(url, variant)
        finally:
            await proxy.aclose()

    return asyncio.run(go())


def test_a_picture_is_served_upright_scaled_and_without_its_exif(tmp_path, config_dict, pics):
    proxy = make_proxy(tmp_path, config_dict, pics)
    got = fetch(proxy, pics.url + "/exif.jpg")
    assert got is not None
    data, kind = got
    assert kind == "image/jpeg"
    im = Image.open(io.BytesIO(data))
    assert dict(im.getexif()) == {} and "exif" not in im.info
    assert b"Secret Camera" not in data and b"Exif" not in data
    # Orientation 6 applied: the 240×120 original is shown 120×240, its green half on top.
    assert im.size == (120, 240)
    top, bottom = im.getpixel((60, 10)), im.getpixel((60, 230))
    assert top[1] > 150 > top[0] and bottom[0] > 150 > bottom[1]
    # Cached on disk: a second proxy (a restarted wall) serves it without the host.
    pics.stop()
    again = make_proxy(tmp_path, config_dict, pics)
    assert fetch(again, pics.url + "/exif.jpg") == got


def test_avatars_and_large_pictures_are_scaled_down(tmp_path, config_dict, pics):
    pics.files["big.png"] = (png(3000, 1500), "image/png")
    proxy = make_proxy(tmp_path, config_dict, pics)
    big = fetch(proxy, pics.url + "/big.png")
    assert big is not None and Image.open(io.BytesIO(big[0])).size == (1600, 800)
    avatar = fetch(make_proxy(tmp_path, config_dict, pics), pics.url + "/a.png", "avatar")
    assert avatar is not None and Image.open(io.BytesIO(avatar[0])).size == (64, 64)


@pytest.mark.parametrize(
    "url, says",
    [
        ("https://evil.example.net/x.jpg", "evil.example.net is not a platform's media host"),
        ("ftp://pbs.twimg.com/x.jpg", "only http(s) pictures"),
        ("https://user:pw@pbs.twimg.com/x.jpg", "credentials"),
        ("https://pbs.twimg.com.evil.net/x.jpg", "is not a platform's media host"),
        ("https://twimg.com/x.jpg", "twimg.com is not a platform's media host"),
    ],
)
def test_the_policy_refuses_what_is_not_a_platforms_picture(config_dict, tmp_path, url, says):
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    with pytest.raises(MediaRefused, match=says.replace("(", r"\(").replace(")", r"\)")):
        MediaPolicy.from_config(config).check(url)


def test_the_policy_allows_media_hosts_instances_and_configured_base_urls(config_dict, tmp_path):
    config_dict["mastodon"] = {"instances": ["https://hr.social"]}
    config_dict["threads"] = {"api_base_url": "http://127.0.0.1:9123"}
    config_dict["wall"] = {"media_hosts": ["*.s3.example-cloud.com", "cdn.hr.example"]}
    policy = MediaPolicy.from_config(parse_config(config_dict, path=tmp_path / "config.toml"))
    for url in [
        "https://pbs.twimg.com/media/a.jpg",
        "https://cdn.bsky.app/img/feed_fullsize/plain/did:plc:x/bafy@jpeg",
        "https://video.bsky.app/watch/did/cid/thumbnail.jpg",
        "https://scontent-fra5-1.cdninstagram.com/v/t51/a.jpg",
        "https://scontent.xx.fbcdn.net/v/a.jpg",
        "https://files.hr.social/media_attachments/a.png",
        "https://hr.social/system/a.png",
        "https://bucket.s3.example-cloud.com/a.png",
        "https://cdn.hr.example/a.png",
    ]:
        host, _port, trusted = policy.check(url)
        # Only a configured base URL (here the instance itself) may be a private address.
        assert trusted is (host == "hr.social"), url
    assert policy.check("http://127.0.0.1:9123/media/x.jpg") == ("127.0.0.1", 9123, True)
    with pytest.raises(MediaRefused):  # the base URL's host and port only
        policy.check("http://127.0.0.1:9124/media/x.jpg")


def test_a_private_address_is_refused_before_any_request(tmp_path, config_dict, pics):
    # Allowed by name, but "localhost" resolves to loopback: a tampered address cannot
    # reach the wall's own machine or its LAN.
    config_dict["wall"] = {"media_hosts": ["localhost", "10.1.2.3"]}
    proxy = make_proxy(tmp_path, config_dict, pics)
    assert fetch(proxy, f"http://localhost:{pics.port}/exif.jpg") is None
    assert fetch(make_proxy(tmp_path, config_dict, pics), "http://10.1.2.3/x.jpg") is None
    assert pics.requests == []


def test_a_public_host_is_fetched_at_the_address_that_was_checked(
    tmp_path, config_dict, pics, monkeypatch
):
    # DNS is asked once, in the check; the connection goes to that address, with the
    # host's name in the Host header, so a second answer (DNS rebinding) cannot swap in
    # a LAN address. Here "DNS" answers the picture host's loopback address, as if public.
    config_dict["wall"] = {"media_hosts": ["pictures.example.org"]}
    proxy = make_proxy(tmp_path, config_dict, pics)
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> str:
        asked.append((host, port))
        return "127.0.0.1"

    monkeypatch.setattr(proxy, "_resolve", resolve)
    assert fetch(proxy, f"http://pictures.example.org:{pics.port}/a.png") is not None
    assert asked == [("pictures.example.org", pics.port)]
    assert pics.hosts == [f"pictures.example.org:{pics.port}"]


def test_an_svg_is_refused_even_served_as_png(tmp_path, config_dict, pics):
    assert fetch(make_proxy(tmp_path, config_dict, pics), pics.url + "/fake.png") is None
    assert pics.requests == ["/fake.png"]
    with pytest.raises(MediaRefused, match="not a JPEG, PNG, GIF or WebP"):
        render(SVG, 1600)


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path, config_dict, pics):
    assert len(pics.files["bomb.png"][0]) < 200_000  # small on the wire...
    with pytest.raises(MediaRefused, match="pixels"):
        render(pics.files["bomb.png"][0], 1600)  # ...400 million pixels decoded
    assert fetch(make_proxy(tmp_path, config_dict, pics), pics.url + "/bomb.png") is None


def test_a_50_mb_image_is_refused_quickly_without_being_read_whole(tmp_path, config_dict, pics):
    proxy = make_proxy(tmp_path, config_dict, pics)
    tracemalloc.start()
    started = time.monotonic()
    try:
        assert fetch(proxy, pics.url + "/huge.jpg") is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    took = time.monotonic() - started
    print(f"50 MB refused in {took:.2f} s, peak {peak / 2**20:.1f} MiB, sent {pics.sent_huge}")
    assert took < 3.0
    assert peak < 30 * 2**20  # 10 MB limit (plus a copy), never 50 MB
    time.sleep(0.2)
    assert pics.sent_huge < 20 * 2**20  # the proxy hung up early


def test_a_redirect_to_another_host_is_refused(tmp_path, config_dict, pics):
    proxy = make_proxy(tmp_path, config_dict, pics)
    assert fetch(proxy, pics.url + "/redirect?to=https://evil.example.net/x.jpg") is None
    assert fetch(proxy, pics.url + "/redirect?to=http://10.0.0.7/x.jpg") is None
    # A redirect within the allowed host is followed.
    ok = make_proxy(tmp_path, config_dict, pics)
    assert fetch(ok, pics.url + f"/redirect?to={pics.url}/a.png") is not None


def test_a_slow_host_is_refused_after_the_time_limit_and_failures_are_remembered(
    tmp_path, config_dict, pics
):
    proxy = make_proxy(tmp_path, config_dict, pics, time_limit=1.0)

    async def go() -> tuple[float, float, Any, Any]:
        try:
            t0 = time.monotonic()
            slow = asyncio.create_task(proxy.picture(pics.url + "/slow.jpg", "picture"))
            fast = await proxy.picture(pics.url + "/a.png", "picture")  # not held up
            t_fast = time.monotonic() - t0
            assert await slow is None
            t_slow = time.monotonic() - t0
            t1 = time.monotonic()
            assert await proxy.picture(pics.url + "/slow.jpg", "picture") is None  # remembered
            return t_fast, t_slow, time.monotonic() - t1, fast
        finally:
            await proxy.aclose()

    t_fast, t_slow, t_again, fast = asyncio.run(go())
    print(f"fast picture {t_fast:.3f} s beside a slow host; slow refused at {t_slow:.2f} s")
    assert fast is not None and t_fast < 0.5
    assert 0.9 < t_slow < 2.0
    assert t_again < 0.05 and pics.requests.count("/slow.jpg") == 1


def test_one_fetch_per_address_however_many_screens_ask(tmp_path, config_dict, pics):
    proxy = make_proxy(tmp_path, config_dict, pics)

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(
                *(proxy.picture(pics.url + "/exif.jpg", "picture") for _ in range(10))
            )
        finally:
            await proxy.aclose()

    results = asyncio.run(go())
    assert all(r is not None for r in results) and pics.requests == ["/exif.jpg"]


def test_the_disk_cache_evicts_the_least_recently_used_and_survives_restarts(tmp_path):
    cache = DiskCache(tmp_path / "c", max_bytes=250)
    for name in "abc":
        cache.put(cache_key(name, "picture"), name.encode() * 100)
    assert cache.get(cache_key("a", "picture")) is None  # 300 bytes > 250: "a" went
    time.sleep(0.01)
    assert cache.get(cache_key("b", "picture")) == b"b" * 100  # "b" now the newest used
    reopened = DiskCache(tmp_path / "c", max_bytes=150)
    assert reopened.get(cache_key("b", "picture")) is not None
    assert reopened.get(cache_key("c", "picture")) is None
    assert reopened.total == 100
    assert not any("http" in p.name for p in (tmp_path / "c").iterdir())


# -- through the wall's routes -----------------------------------------------------------

TOKEN = "pictures-test-token-41c9"


@pytest.fixture
def running(
    tmp_path: Path, config_dict: dict[str, Any], pics: PictureServer, monkeypatch
) -> Iterator[Any]:
    from tests.browser import RunningWall
    from tests.conftest import free_port

    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    config_dict["x"] = {"api_base_url": pics.url}
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    store = Store.open(config.db_path)
    wall = RunningWall(config, free_port(), token=TOKEN)
    yield wall, store
    wall.stop()
    store.close()


def picture_post(store: Store, n: int, url: str, avatar: str | None = None) -> int:
    author = Author(f"did:plc:p{n}", f"p{n}.bsky.social", f"P {n}", avatar_url=avatar)
    media = (Media("image", url, alt=f"Picture {n}"),)
    return store.write_posts([make_post(n, author=author, media=media)]).new_ids[0]


def until(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_the_wall_serves_a_picture_only_for_a_post_on_it_or_to_moderators(running, pics):
    wall, store = running
    post_id = picture_post(store, 1, pics.url + "/exif.jpg", avatar=pics.url + "/a.png")
    media = f"{wall.url}/wall/media/{post_id}/0"
    with httpx.Client(timeout=10) as http:
        assert http.get(media).status_code == 404  # waiting for approval: not public
        assert http.get(media + "?sig=0123456789abcdef0123456789abcdef").status_code == 404
        assert pics.requests == []
        queue = http.get(
            f"{wall.url}/api/moderation/posts", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()["posts"]
        (mine,) = [p for p in queue if p["id"] == post_id]
        assert mine["media"][0]["alt"] == "Picture 1" and "127.0.0.1" not in json.dumps(mine)
        signed = http.get(wall.url + mine["media"][0]["src"])
        assert signed.status_code == 200 and signed.headers["content-type"] == "image/jpeg"
        assert "img-src 'self'" in signed.headers["content-security-policy"]
        assert dict(Image.open(io.BytesIO(signed.content)).getexif()) == {}

        wall.act("approve", post_id)
        until(lambda: http.get(media).status_code == 200)
        shown = http.get(f"{wall.url}/api/wall").json()["show"]
        assert shown[0]["media"] == [
            {"kind": "image", "alt": "Picture 1", "src": f"/wall/media/{post_id}/0"}
        ]
        assert shown[0]["avatar"] == f"/wall/avatar/{post_id}" and shown[0]["blur"] is False
        avatar = http.get(f"{wall.url}/wall/avatar/{post_id}")
        assert avatar.status_code == 200
        assert Image.open(io.BytesIO(avatar.content)).size == (64, 64)
        assert http.get(f"{wall.url}/wall/media/{post_id}/1").status_code == 404
        assert http.get(f"{wall.url}/wall/media/999999/0").status_code == 404

        wall.act("hide", post_id)
        until(lambda: http.get(media).status_code == 404)


def test_a_slow_picture_host_never_slows_the_wall(running, pics):
    wall, store = running
    slow = picture_post(store, 1, pics.url + "/slow.jpg")
    fast = picture_post(store, 2, pics.url + "/a.png")
    wall.act("approve", slow)
    wall.act("approve", fast)
    with httpx.Client(timeout=20) as http:
        until(lambda: http.get(f"{wall.url}/wall/media/{fast}/0").status_code == 200)
        outcome: dict[str, Any] = {}

        def ask_slow() -> None:
            t0 = time.monotonic()
            with httpx.Client(timeout=20) as other:
                outcome["status"] = other.get(f"{wall.url}/wall/media/{slow}/0").status_code
            outcome["seconds"] = time.monotonic() - t0

        thread = threading.Thread(target=ask_slow)
        thread.start()
        time.sleep(0.3)  # the slow fetch is under way
        latencies = []
        for path in ["/healthz", "/api/wall", f"/wall/media/{fast}/0", "/"] * 10:
            t0 = time.monotonic()
            assert http.get(wall.url + path).status_code == 200
            latencies.append(time.monotonic() - t0)
        thread.join()
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(
        f"beside a slow picture host: {len(latencies)} wall requests, p95 {p95 * 1000:.0f} ms,"
        f" max {latencies[-1] * 1000:.0f} ms; slow picture refused after {outcome['seconds']:.1f} s"
    )
    assert latencies[-1] < 0.5
    assert outcome["status"] == 404 and 4.5 < outcome["seconds"] < 7.0
