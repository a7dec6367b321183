"""The wall's layouts and branding (issue 21), in-process: settings, routes, page, CSP.

The browser side (no overflow at 1920x1080 and 3840x2160, the QR code decoding, the
theme's computed colours) is in test_wall_browser_layouts.py.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import segno

from tagwatch.errors import ConfigError
from tagwatch.reports.wall.app import CSP, create_app
from tagwatch.reports.wall.branding import qr_target
from tagwatch.settings import Config, image_type, parse_config

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

EVENT_URL = "https://hrhn.example.org/2016/belgrade"


def write_png(path: Path) -> bytes:
    """A real PNG (segno draws one), so the logo route serves a genuine image."""
    segno.make("logo").save(str(path), kind="png", scale=4)
    return path.read_bytes()


@pytest.fixture
def load(tmp_path: Path, config_dict: dict[str, Any]) -> Callable[..., Config]:
    def make(url: str = EVENT_URL, **wall: Any) -> Config:
        config_dict["event"]["url"] = url
        config_dict["wall"] = wall
        return parse_config(config_dict, path=tmp_path / "config.toml")

    return make


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Config], TestClient]]:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", "branding-token-77")
    opened: list[TestClient] = []

    def make(config: Config) -> TestClient:
        c = TestClient(create_app(config, poll_interval=0.02))
        c.__enter__()
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.__exit__(None, None, None)


def test_defaults_are_the_featured_dark_wall_with_a_qr_code_when_the_url_is_set(load):
    wall = load().wall
    assert (wall.layout, wall.theme, wall.font_scale, wall.qr) == ("featured", "dark", 1.0, True)
    assert wall.accent_color == "#ffd23f" and wall.logo == ""


@pytest.mark.parametrize(
    "key,value,says",
    [
        ("layout", "carousel", "wall.layout must be 'featured', 'grid' or 'ticker'"),
        ("accent_color", "yellow", "wall.accent_color 'yellow' is not a colour; write it as"),
        ("accent_color", "#ffd23", "wall.accent_color '#ffd23' is not a colour"),
        ("theme", "blue", "wall.theme must be 'dark' or 'light'"),
        ("font_scale", 4.0, "wall.font_scale must be between 0.5 and 3, got 4.0"),
        ("font_scale", 0.2, "wall.font_scale must be between 0.5 and 3"),
        ("logo", "logo.svg", "wall.logo 'logo.svg' is an SVG; export the logo as PNG"),
    ],
)
def test_bad_branding_is_refused_at_load_naming_the_key(load, key, value, says):
    with pytest.raises(ConfigError) as err:
        load(**{key: value})
    assert says in str(err.value) and "config.toml" in str(err.value)


def test_a_missing_logo_is_refused_at_load_with_where_it_was_looked_for(load, tmp_path):
    with pytest.raises(ConfigError) as err:
        load(logo="brand/logo.png")
    message = str(err.value)
    assert "wall.logo 'brand/logo.png': cannot read" in message
    assert str(tmp_path / "brand" / "logo.png") in message and "relative to the config" in message


def test_a_logo_that_is_not_a_raster_image_is_refused_whatever_its_name(load, tmp_path):
    (tmp_path / "logo.png").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    with pytest.raises(ConfigError, match=r"wall.logo 'logo.png' is not a PNG, JPEG, WebP or GIF"):
        load(logo="logo.png")


def test_image_types_are_read_from_the_bytes():
    assert image_type(b"\x89PNG\r\n\x1a\n" + b"\0" * 8) == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0" + b"\0" * 12) == "image/jpeg"
    assert image_type(b"GIF89a" + b"\0" * 10) == "image/gif"
    assert image_type(b"RIFF\x10\0\0\0WEBPVP8 ") == "image/webp"
    assert image_type(b"<svg xmlns=") is None and image_type(b"") is None


def test_logo_is_served_from_the_configured_file_with_its_type(load, client, tmp_path):
    data = write_png(tmp_path / "logo.png")
    c = client(load(logo="logo.png"))
    r = c.get("/wall/logo")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == data
    assert r.headers["content-security-policy"] == CSP
    assert '<img class="logo" src="/wall/logo"' in c.get("/").text


def test_without_a_logo_the_page_has_none_and_the_route_says_why(load, client):
    c = client(load())
    assert 'class="logo"' not in c.get("/").text
    r = c.get("/wall/logo")
    assert r.status_code == 404 and "[wall] logo" in r.text


def test_qr_code_is_an_svg_from_the_wall_itself_and_carries_the_event_url(load, client):
    c = client(load())
    page = c.get("/").text
    assert '<img id="qr" src="/wall/qr.svg"' in page and EVENT_URL in page
    r = c.get("/wall/qr.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert r.text.startswith("<svg") and "<path" in r.text
    # Version and size follow the URL: a longer link needs a bigger symbol.
    longer = client(load(url=EVENT_URL + "/programme/day-one/sessions")).get("/wall/qr.svg")
    assert longer.status_code == 200 and longer.text != r.text


@pytest.mark.parametrize(
    "url,wall", [("", {}), (EVENT_URL, {"qr": False}), ("javascript:alert(1)", {})]
)
def test_no_qr_code_without_a_safe_url_or_when_turned_off(load, client, url, wall):
    # A javascript: link never becomes a QR code: it does not pass the URL guard.
    c = client(load(url=url, **wall))
    assert 'id="qr"' not in c.get("/").text
    r = c.get("/wall/qr.svg")
    assert r.status_code == 404 and "[event] url" in r.text


def test_theme_stylesheet_carries_accent_and_scale_and_the_page_its_classes(load, client):
    c = client(load(accent_color="#E4002B", font_scale=1.5, theme="light", layout="grid"))
    css = c.get("/wall/theme.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "--accent: #E4002B;" in css.text and "--scale: 1.5;" in css.text
    page = c.get("/")
    assert page.headers["content-security-policy"] == CSP
    body = re.search(r"<body [^>]*>", page.text)
    assert body and "layout-grid" in body[0] and "theme-light" in body[0]
    assert 'data-layout="grid"' in body[0]
    assert '<link rel="stylesheet" href="/wall/theme.css">' in page.text
    assert "style=" not in page.text  # the CSP forbids inline style: none is written


@pytest.mark.parametrize(
    "link,expected",
    [
        ("bluesky", "https://bsky.app/intent/compose?text=%23HRHN2016%20"),
        ("x", "https://x.com/intent/post?text=%23HRHN2016%20"),
        ("threads", "https://www.threads.net/intent/post?text=%23HRHN2016%20"),
        ("mastodon", "https://mastodon.social/share?text=%23HRHN2016%20"),
    ],
)
def test_qr_code_can_open_a_new_post_with_the_hashtag_typed(load, client, link, expected):
    # No [event] url needed: the compose link is made from the event's hashtags.
    config = load(url="", qr_link=link)
    assert qr_target(config) == expected
    c = client(config)
    assert f'alt="QR code: {expected}"' in c.get("/").text.replace("&amp;", "&")
    svg = c.get("/wall/qr.svg")
    assert (
        svg.status_code == 200
        and svg.text != client(load(qr_link="event")).get("/wall/qr.svg").text
    )


def test_an_unknown_qr_link_is_refused_with_the_choices(load):
    with pytest.raises(ConfigError, match=r"qr_link must be one of 'event', 'bluesky'.*'tiktok'"):
        load(qr_link="tiktok")
