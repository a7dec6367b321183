"""Pictures on the wall in Debian's Chromium (issue 21): from the wall's own address only,
with their alt text, blurred while sensitive, within every layout, and harmless when broken.

The pictures come from a loopback picture host standing in for a platform's media CDN
(allowed as the configured [x] api_base_url); the browser must never contact it.
Screenshots land in test-artifacts/ beside the other wall tests'.
"""

# The browser fixtures are imported from test_wall_browser and named as arguments.
# ruff: noqa: F811

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tagwatch.records import Author, Media
from tagwatch.storage.db import Store
from tests.browser import CHROMIUM
from tests.picture_server import PictureServer, jpeg_with_exif, png
from tests.test_wall_browser import (
    ARTIFACTS,
    FIT,
    SCREEN_POSTS,
    TOKEN,
    WATCH,
    browser,  # noqa: F401  (a fixture)
    recent_post,
    setup,  # noqa: F401  (a fixture)
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)

ALT = 'The stage at the Belgrade assembly <img src=x onerror="window.__pwned=1">'

# Each visible picture and avatar: where it came from and whether it decoded.
IMAGES = """() => [...document.querySelectorAll('.stage .post img')]
  .filter(e => e.getBoundingClientRect().width > 0)
  .map(e => ({cls: e.className, src: e.src, w: e.naturalWidth, done: e.complete}))"""


@pytest.fixture
def pics() -> Iterator[PictureServer]:
    server = PictureServer()
    server.files["stage.jpg"] = (jpeg_with_exif(1200, 800), "image/jpeg")
    server.files["poster.png"] = (png(640, 360, (40, 40, 160)), "image/png")
    server.files["ana.png"] = (png(200, 200, (240, 180, 0)), "image/png")
    yield server
    server.stop()


@pytest.fixture
def wall_with_pictures(setup, config_dict, pics):
    def make(**wall: Any) -> tuple[Any, Store]:
        config_dict["x"] = {"api_base_url": pics.url}
        running, store, _ = setup(**wall)
        return running, store

    return make


def picture_post(
    store: Store, pics: PictureServer, n: int, *, media: tuple[Media, ...] | None = None, **kw: Any
) -> int:
    avatar = pics.url + "/ana.png"
    author = kw.pop(
        "author", Author(f"did:plc:pic{n}", f"pic{n}.bsky.social", f"Ana {n}", 0, avatar)
    )
    if media is None:
        media = (Media("image", pics.url + "/stage.jpg", alt=ALT, width=1200, height=800),)
    return store.write_posts([recent_post(n, author=author, media=media, **kw)]).new_ids[0]


def test_an_image_post_shows_its_picture_from_the_walls_own_address(
    browser,
    wall_with_pictures,
    pics,
):
    wall, store = wall_with_pictures()
    post_id = picture_post(store, pics, 1, text="Full hall this morning #HRHN2016")
    video = picture_post(
        store,
        pics,
        2,
        text="Watch the opening #HRHN2016",
        media=(
            Media("video", pics.url + "/v.mp4", pics.url + "/poster.png"),
            Media("image", pics.url + "/stage.jpg"),
            Media("image", pics.url + "/stage.jpg"),
        ),
    )
    wall.act("approve", post_id)
    wall.act("approve", video)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(WATCH)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.goto(wall.url + "/")
    page.wait_for_selector(f'.post[data-post-id="{post_id}"] .pic img', timeout=5000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.pic img, img.avatar')].every(i => i.complete)"
    )
    pic = page.locator(f'.post[data-post-id="{post_id}"] .pic img').first
    src = pic.evaluate("e => e.src")
    assert urlsplit(src)[:2] == urlsplit(wall.url)[:2]
    assert urlsplit(src).path == f"/wall/media/{post_id}/0"
    assert pic.evaluate("e => e.naturalWidth") > 0
    assert pic.get_attribute("alt") == ALT
    caption = page.locator(f'.post[data-post-id="{post_id}"] .pic .alt').first
    assert caption.inner_text() == ALT  # as text, never markup
    avatar = page.locator(f'.post[data-post-id="{post_id}"] img.avatar').first
    assert avatar.evaluate("e => e.naturalWidth > 0 && new URL(e.src).origin") == wall.url
    # A video shows its poster frame, a play mark and how many more pictures there are.
    vid = page.locator(f'.post[data-post-id="{video}"] .pic.video').first
    assert vid.locator("img").evaluate("e => e.naturalWidth") > 0
    assert vid.locator(".play").count() == 1 and vid.locator(".more").inner_text() == "+2"
    assert vid.locator(".alt").inner_text() == "no description"
    # The screen asked the wall only: never the picture host.
    assert asked and all(urlsplit(u)[:2] == urlsplit(wall.url)[:2] for u in asked)
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "wall-pictures.png"))
    page.close()


BLUR = "e => getComputedStyle(e).filter"


def test_a_sensitive_picture_is_blurred_until_a_moderator_approves_it(
    browser,
    wall_with_pictures,
    pics,
):
    # Post-moderation with hide_sensitive off: shown at once, blurred until approved.
    wall, store = wall_with_pictures(moderation="post", hide_sensitive=False)
    post_id = picture_post(store, pics, 1, sensitive=True, text="Graphic photo #HRHN2016")
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(WATCH)
    page.goto(wall.url + "/")
    img = page.locator(f'.post[data-post-id="{post_id}"] .pic img').first
    img.wait_for(timeout=5000)
    assert "blur(" in img.evaluate(BLUR)
    wall.act("approve", post_id)
    page.wait_for_function(
        f"""() => {{
          const i = document.querySelector('.post[data-post-id="{post_id}"] .pic img');
          return i && getComputedStyle(i).filter === 'none';
        }}""",
        timeout=5000,
    )

    # The moderators see every picture, a sensitive one blurred until hovered.
    flagged = picture_post(store, pics, 2, sensitive=True, text="Another graphic one")
    mod = browser.new_page(viewport={"width": 1280, "height": 900})
    mod.add_init_script(WATCH)
    mod.goto(wall.url + "/moderate")
    mod.fill("#token", TOKEN)
    mod.click("#login button")
    thumb = mod.locator(f'.item[data-post-id="{flagged}"] .pics img').first
    thumb.wait_for(timeout=5000)
    mod.wait_for_function(
        f"() => document.querySelector('.item[data-post-id=\"{flagged}\"] .pics img')"
        ".naturalWidth > 0"
    )
    assert "blur(" in thumb.evaluate(BLUR)
    thumb.hover()
    mod.wait_for_function(
        f"() => getComputedStyle(document.querySelector("
        f"'.item[data-post-id=\"{flagged}\"] .pics img'))"
        ".filter === 'none'"
    )
    assert mod.locator(f'.item[data-post-id="{flagged}"] .pics .alt').first.inner_text() == ALT
    assert page.evaluate("window.__violations") == mod.evaluate("window.__violations") == []
    ARTIFACTS.mkdir(exist_ok=True)
    mod.screenshot(path=str(ARTIFACTS / "moderation-pictures.png"))
    mod.close()
    page.close()


def test_with_hide_sensitive_a_sensitive_post_waits_for_approval(
    browser,
    wall_with_pictures,
    pics,
):
    wall, store = wall_with_pictures(moderation="post", hide_sensitive=True)
    post_id = picture_post(store, pics, 1, sensitive=True, text="SENSITIVE-PHOTO")
    plain = picture_post(store, pics, 2, text="A plain photo")
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(WATCH)
    page.goto(wall.url + "/")
    page.wait_for_selector(f'[data-post-id="{plain}"]', timeout=5000)
    page.wait_for_timeout(500)
    assert page.locator(f'[data-post-id="{post_id}"]').count() == 0
    assert "SENSITIVE-PHOTO" not in "\n".join(page.evaluate("window.__seen"))
    wall.act("approve", post_id)
    img = page.locator(f'.post[data-post-id="{post_id}"] .pic img').first
    img.wait_for(timeout=5000)
    assert img.evaluate(BLUR) == "none"  # approved: clear
    page.close()


@pytest.mark.parametrize("layout", ["featured", "grid", "ticker"])
@pytest.mark.parametrize("width,height", [(1920, 1080), (3840, 2160)])
def test_each_layout_with_pictures_stays_within_the_screen(
    browser,
    wall_with_pictures,
    pics,
    layout,
    width,
    height,
):
    wall, store = wall_with_pictures(layout=layout)
    kinds = [
        (Media("image", pics.url + "/stage.jpg", alt=ALT),),
        (Media("video", None, pics.url + "/poster.png"), Media("image", pics.url + "/stage.jpg")),
        (),
        (Media("image", pics.url + "/poster.png", alt="Signs in the hall " * 20),),
    ]
    ids = []
    for n, (text, lang, _extra) in enumerate(SCREEN_POSTS * 2, start=1):
        post_id = picture_post(
            store, pics, n, media=kinds[n % len(kinds)], text=text, lang=lang, minutes_ago=60 - n
        )
        wall.act("approve", post_id)
        ids.append(post_id)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.add_init_script(WATCH)
    page.goto(wall.url + "/")
    page.wait_for_selector(f'.post[data-post-id="{ids[-1]}"] >> visible=true', timeout=5000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.stage img')].every(i => i.complete)", timeout=10000
    )
    page.wait_for_timeout(800)  # the arrival animation ends before the measure
    fit = page.evaluate(FIT)
    assert fit["outside"] == []
    assert fit["scrollW"] <= width and fit["scrollH"] <= height
    assert fit["bodyScrollW"] <= width and fit["bodyScrollH"] <= height
    images = page.evaluate(IMAGES)
    assert any("avatar" not in i["cls"] for i in images)  # pictures are on screen
    assert all(i["w"] > 0 for i in images)
    assert all(i["src"].startswith(wall.url + "/wall/") for i in images)
    assert min(fit["textSizes"]) >= width * 0.012  # still readable from the back
    # Text never runs under a picture or out of its box.
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('.stage .post')]
          .filter(p => p.getBoundingClientRect().height > 0)
          .filter(p => {
            const box = p.closest('li, .featured').getBoundingClientRect();
            return [...p.querySelectorAll('.text, .meta, .pic')].some(e => {
              const r = e.getBoundingClientRect();
              return r.height > 0 && (r.bottom > box.bottom + 1 || r.right > box.right + 1);
            }) || (() => {
              // nor under its meta line (a squeezed meta once let the text run over it)
              const t = p.querySelector('.text'), m = p.querySelector('.meta');
              return t && m && t.getBoundingClientRect().bottom > m.getBoundingClientRect().top + 1;
            })();
          }).map(p => p.dataset.postId)"""
    )
    assert clipped == []
    assert page.evaluate("window.__violations") == []
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"wall-pictures-{layout}-{width}x{height}.png"
    page.screenshot(path=str(shot), omit_background=layout == "ticker")
    assert shot.stat().st_size > 10_000
    page.close()


@pytest.mark.parametrize("layout", ["featured", "grid"])
def test_a_broken_picture_leaves_the_layout_intact(
    browser,
    wall_with_pictures,
    pics,
    layout,
):
    wall, store = wall_with_pictures(layout=layout)
    pics.files["svg.png"] = (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png")
    broken_author = Author("did:plc:b", "b.bsky.social", "Šárka", avatar_url=pics.url + "/gone.png")
    broken = picture_post(
        store,
        pics,
        1,
        author=broken_author,
        media=(Media("image", pics.url + "/svg.png", alt="never shown"),),
        text="A post whose picture fails",
    )
    fine = picture_post(store, pics, 2, text="A post whose picture works")
    wall.act("approve", broken)
    wall.act("approve", fine)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(WATCH)
    page.goto(wall.url + "/")
    page.wait_for_selector(f'.post[data-post-id="{fine}"] .pic img >> visible=true', timeout=5000)
    page.wait_for_function(
        f"""() => {{
          const posts = document.querySelectorAll('.post[data-post-id="{broken}"]');
          return posts.length > 0 && [...posts].every(p =>
            !p.querySelector('.pic') && p.querySelector('.avatar.initial'));
        }}""",
        timeout=8000,
    )
    node = page.locator(f'.post[data-post-id="{broken}"] >> visible=true').first
    assert node.locator(".text").inner_text() == "A post whose picture fails"
    assert node.locator(".avatar.initial").inner_text() == "Š"
    assert "never shown" not in page.inner_text("body")
    fit = page.evaluate(FIT)
    assert fit["outside"] == [] and fit["scrollH"] <= 1080
    assert page.evaluate("window.__violations") == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"wall-pictures-broken-{layout}.png"))
    page.close()


@pytest.mark.parametrize("layout", ["featured", "grid", "ticker"])
def test_pictures_leave_whole_lines_of_text_at_the_largest_font_scale(
    browser, wall_with_pictures, pics, layout
):
    wall, store = wall_with_pictures(layout=layout, font_scale=3.0)
    ids = []
    for n, (text, lang, _extra) in enumerate(SCREEN_POSTS * 2, start=1):
        ids.append(picture_post(store, pics, n, text=text, lang=lang, minutes_ago=60 - n))
        wall.act("approve", ids[-1])
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(wall.url + "/")
    page.wait_for_selector(f'.post[data-post-id="{ids[-1]}"] >> visible=true', timeout=5000)
    page.wait_for_timeout(800)
    fit = page.evaluate(FIT)
    assert fit["outside"] == [] and fit["scrollW"] <= 1920 and fit["scrollH"] <= 1080
    # Every post keeps at least one whole line of text beside or under its picture.
    lines = page.evaluate(
        """() => [...document.querySelectorAll('.stage .post.has-pic .text')]
          .filter(t => t.getBoundingClientRect().height > 0)
          .map(t => {
            const box = t.closest('li, .featured').getBoundingClientRect();
            const r = t.getBoundingClientRect();
            return Math.min(r.bottom, box.bottom) - r.top
              >= 0.95 * parseFloat(getComputedStyle(t).lineHeight);
          })"""
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"wall-pictures-{layout}-scale3.png"))
    assert lines and all(lines)
    page.close()
