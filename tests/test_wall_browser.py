"""The wall in a real headless Chromium (Debian's, never a downloaded one) via Playwright.

A uvicorn server runs the wall on a free loopback port in a thread; the test
writes posts with the Store and moderates through the HTTP API, exactly as a
collector and a moderator would, and watches the page change without reload.
Screenshots land in test-artifacts/ (gitignored; CI keeps them).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.records import Author
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store
from tests.browser import CHROMIUM, CHROMIUM_ARGS, RunningWall
from tests.conftest import ROOT, free_port, make_post

ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "browser-test-token-8d2e"
# The wall's clock (injected): 14:20 in Belgrade on the first day, during a session.
# The page computes relative times against it, so the pictures never depend on the hour.
NOW = datetime(2016, 11, 24, 13, 20, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
)

# Records every text that was ever in the page, and any CSP violation or script
# error, so "never shown" means never, not just "not there at the end".
WATCH = """
window.__seen = [];
window.__violations = [];
window.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective));
window.addEventListener('error', e => window.__violations.push('error: ' + e.message));
new MutationObserver(records => {
  for (const r of records) for (const n of r.addedNodes) window.__seen.push(n.textContent || '');
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def setup(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[RunningWall, Store, Config]]]:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
    walls: list[RunningWall] = []
    stores: list[Store] = []

    def make(**wall: Any) -> tuple[RunningWall, Store, Config]:
        config_dict["event"]["call_to_post"] = "Join the conversation with #HRHN2016"
        config_dict["event"]["sessions"] = [
            {
                "title": "Azerbaijan: released, but not free",
                "start": datetime(2016, 11, 24, 14, 0),
                "end": datetime(2016, 11, 24, 15, 30),
                "prompt": "Send your message to our colleagues in Azerbaijan with #HRHN2016",
            }
        ]
        config_dict["wall"] = {"rotate_seconds": 30.0, **wall}
        config = parse_config(config_dict, path=tmp_path / "config.toml")
        store = Store.open(config.db_path)
        stores.append(store)
        running = RunningWall(config, free_port(), now=lambda: NOW, token=TOKEN)
        walls.append(running)
        return running, store, config

    yield make
    for w in walls:
        if w.thread.is_alive():
            w.stop()
    for s in stores:
        s.close()


def recent_post(n: int, minutes_ago: float = 3, **overrides: Any) -> Any:
    return make_post(n, created_at=NOW - timedelta(minutes=minutes_ago), **overrides)


def store_post(store: Store, n: int, **overrides: Any) -> int:
    return store.write_posts([recent_post(n, **overrides)]).new_ids[0]


def on_page(page: Any, post_id: int) -> Any:
    return page.locator(f'[data-post-id="{post_id}"]')


def test_wall_follows_moderation_live_and_renders_hostile_posts_as_text(browser, setup):
    wall, store, _ = setup()
    approved = store_post(store, 1, text="Solidarity with the defenders in Baku")
    pending = store_post(store, 2, text="UNAPPROVED rant that must never show")
    troll = Author("did:plc:troll", "troll.bsky.social", "Troll")
    blocked = store_post(store, 3, text="BLOCKED author insult", author=troll)
    wall.act("approve", approved)
    wall.act("block", blocked)

    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(WATCH)
    page.goto(wall.url + "/")
    page.wait_for_selector(f'[data-post-id="{approved}"]', timeout=5000)
    page.evaluate("window.__sameDocument = true")

    # A post approved while the page is open appears without reload.
    fresh = store_post(store, 4, text="Greetings from Warsaw 🇵🇱✊")
    wall.act("approve", fresh)
    page.wait_for_selector(f'[data-post-id="{fresh}"]', timeout=5000)
    assert "Greetings from Warsaw 🇵🇱✊" in page.inner_text("body")

    # A hostile post is shown as its literal text, never as markup.
    hostile = '<img src=x onerror="window.__pwned=1"><b>bold?</b>'
    evil = store_post(store, 5, text=hostile, author=Author("did:e", "e.bsky.social", "<i>E</i>"))
    wall.act("approve", evil)
    page.wait_for_selector(f'[data-post-id="{evil}"]', timeout=5000)
    texts = page.locator(f'[data-post-id="{evil}"] .text').all_inner_texts()
    assert texts and all(t == hostile for t in texts)
    assert page.locator("img").count() == 0 and page.locator(".post b").count() == 0
    assert "<i>E</i>" in page.locator(f'[data-post-id="{evil}"] .name').first.inner_text()
    assert page.evaluate("window.__pwned") is None

    # Hiding makes a post vanish from every open wall; so does blocking its author.
    second = browser.new_page(viewport={"width": 1280, "height": 720})
    second.goto(wall.url + "/")
    second.wait_for_selector(f'[data-post-id="{approved}"]', timeout=5000)
    wall.act("hide", approved)
    on_page(page, approved).first.wait_for(state="detached", timeout=5000)
    on_page(second, approved).first.wait_for(state="detached", timeout=5000)
    second.close()
    troll_later = store_post(store, 6, text="BLOCKED author again", author=troll)
    wall.act("approve", troll_later)
    wall.act("block", fresh)
    on_page(page, fresh).first.wait_for(state="detached", timeout=5000)

    time.sleep(0.5)  # a few more polls: nothing else may arrive
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    seen = "\n".join(page.evaluate("window.__seen"))
    assert "UNAPPROVED" not in seen and "BLOCKED" not in seen
    assert on_page(page, pending).count() == 0 and on_page(page, troll_later).count() == 0
    assert page.evaluate("window.__violations") == []
    page.close()


def test_wall_reconnects_by_itself_after_the_server_restarts(browser, setup):
    wall, store, config = setup()
    first = store_post(store, 1, text="Before the restart")
    wall.act("approve", first)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(wall.url + "/")
    page.wait_for_selector(f'[data-post-id="{first}"]', timeout=5000)
    page.evaluate("window.__sameDocument = true")

    wall.stop()
    page.wait_for_selector("#status:not([hidden])", timeout=5000)  # the wall noticed the drop
    later = store_post(store, 2, text="Approved while the wall was down")
    from tagwatch.storage.moderation import apply_action

    apply_action(store, "approve", later)
    apply_action(store, "hide", first)
    again = RunningWall(config, wall.port, now=lambda: NOW, token=TOKEN)
    try:
        page.wait_for_selector(f'[data-post-id="{later}"]', timeout=10000)
        on_page(page, first).first.wait_for(state="detached", timeout=5000)
        assert page.evaluate("window.__sameDocument") is True
        assert on_page(page, later).count() >= 1
    finally:
        page.close()
        again.stop()


SCREEN_POSTS = [
    ("Solidarity with all human rights defenders in Azerbaijan 🇦🇿✊ #HRHN2016", "en", {}),
    ("Пуштени, али не и слободни. Подршка колегама! #HRHN2016", "sr", {}),
    ("التضامن مع المدافعين عن حقوق الإنسان في أذربيجان #HRHN2016", "ar", {}),
    ("Long thoughts from the panel: " + "civil society space is shrinking, " * 40, "en", {}),
    ("Wolność słowa to nie przywilej 💬📣 #HRHN2016", "pl", {"pin": True}),
    ("Great to see so many young activists here in Belgrade 🙌 #HRHN2016", "en", {}),
]


@pytest.mark.parametrize("width,height", [(1920, 1080), (3840, 2160)])
def test_wall_layout_and_screenshots(browser, setup, width, height):
    wall, store, _ = setup()
    ids = []
    for n, (text, lang, extra) in enumerate(SCREEN_POSTS, start=1):
        author = Author(f"did:plc:s{n}", f"speaker{n}.bsky.social", f"Speaker {n} 🌍", 100)
        post_id = store_post(
            store, n, text=text, lang=lang, author=author, minutes_ago=40 - n * 5, likes=n * 3
        )
        wall.act("pin" if extra.get("pin") else "approve", post_id)
        ids.append(post_id)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.add_init_script(WATCH)
    page.goto(wall.url + "/")
    page.wait_for_selector(f'[data-post-id="{ids[-1]}"]', timeout=5000)
    page.wait_for_selector("#counters:not([hidden])", timeout=8000)
    page.wait_for_timeout(800)  # let the arrival animation finish before the picture

    layout = page.evaluate(
        """() => {
          const rtl = [...document.querySelectorAll('.post .text')]
            .filter(e => e.textContent.startsWith('التضامن'));
          const long = [...document.querySelectorAll('.post .text')]
            .filter(e => e.textContent.startsWith('Long thoughts'));
          return {
            scrollW: document.documentElement.scrollWidth,
            scrollH: document.documentElement.scrollHeight,
            rtl: rtl.map(e => getComputedStyle(e).direction),
            longClipped: long.map(e => e.scrollHeight > e.clientHeight + 2),
            longBottom: long.map(e => e.getBoundingClientRect().bottom),
            fontPx: parseFloat(getComputedStyle(document.querySelector('.tag')).fontSize),
            session: document.querySelector('#session-title').textContent,
            sessionHidden: document.querySelector('#session').hidden,
            posts: document.querySelector('#count-posts').textContent,
          };
        }"""
    )
    assert layout["scrollW"] <= width and layout["scrollH"] <= height  # nothing spills off screen
    assert layout["rtl"] and set(layout["rtl"]) == {"rtl"}
    assert layout["longClipped"] and all(layout["longClipped"])
    assert all(bottom <= height for bottom in layout["longBottom"])
    assert layout["fontPx"] >= width * 0.03  # the hashtag scales with the screen
    assert layout["session"] == "Azerbaijan: released, but not free"
    assert layout["sessionHidden"] is False and layout["posts"] == str(len(ids))
    assert "Join the conversation with #HRHN2016" in page.inner_text("footer")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"wall-{width}x{height}.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000

    # A new arrival takes a slot without moving or resizing anything else.
    # offset* are layout boxes: the short arrival fade-in transform does not count.
    boxes = (
        "() => [...document.querySelectorAll('.recent li, .featured')]"
        ".map(e => [e.offsetLeft, e.offsetTop, e.offsetWidth, e.offsetHeight])"
    )
    before = page.evaluate(boxes)
    newcomer = store_post(store, 99, text="A much longer newcomer " * 30, minutes_ago=1)
    wall.act("approve", newcomer)
    page.wait_for_selector(f'.recent [data-post-id="{newcomer}"]', timeout=5000)
    assert page.evaluate(boxes) == before
    assert page.evaluate("window.__violations") == []
    page.close()


def test_moderation_page_works_in_the_browser(browser, setup):
    wall, store, _ = setup()
    hostile = '<img src=x onerror="window.__pwned=1">'
    post_id = store_post(store, 1, text=hostile)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(WATCH)
    page.goto(wall.url + "/moderate")
    page.fill("#token", "wrong")
    page.click("#login button")
    page.wait_for_selector("#login-error:has-text('Wrong token.')", timeout=5000)
    page.fill("#token", TOKEN)
    page.click("#login button")
    item = page.locator(f'.item[data-post-id="{post_id}"]')
    item.wait_for(timeout=5000)
    assert item.locator(".text").inner_text() == hostile
    item.locator("button[data-action=approve]").click()
    page.wait_for_selector("#message:has-text('approve done')", timeout=5000)
    page.click("#filters button[data-show=wall]")
    page.wait_for_selector(f'.item.on-wall[data-post-id="{post_id}"]', timeout=5000)
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("window.__violations") == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "moderation.png"))
    page.close()


def test_wall_falls_back_to_polling_when_event_streams_are_refused(browser, setup):
    wall, store, _ = setup()
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    # As behind a proxy that refuses streaming responses.
    page.route("**/api/wall/events*", lambda route: route.fulfill(status=503, body="no"))
    page.goto(wall.url + "/")
    post_id = store_post(store, 1, text="Arrives by polling")
    wall.act("approve", post_id)
    page.wait_for_selector(f'[data-post-id="{post_id}"]', timeout=8000)
    wall.act("hide", post_id)
    on_page(page, post_id).first.wait_for(state="detached", timeout=8000)
    page.close()


def test_moderation_page_lists_the_last_days_alerts_live(browser, setup):
    from tests.test_wall_alerts import add_alert

    wall, store, _ = setup()
    long_title = "Pile-on against @marija.bsky.social: 12 posts from 9 accounts " + "x" * 200
    add_alert(store, long_title, NOW - timedelta(hours=1), kind="pile_on", target="marija")
    add_alert(
        store, "Over yesterday", NOW - timedelta(hours=30), resolved=NOW - timedelta(hours=29)
    )
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(WATCH)
    page.clock.install()
    page.goto(wall.url + "/moderate")
    assert page.locator("#alerts").is_hidden()  # nothing before the token is given
    page.fill("#token", TOKEN)
    page.click("#login button")
    first = page.locator("#alert-list .alert .alert-title")
    first.first.wait_for(timeout=5000)
    assert first.all_inner_texts() == [long_title]
    assert "Over yesterday" not in page.inner_text("#alerts")
    flags = page.inner_text("#alert-list .alert .flags")
    assert "pile_on" in flags and "still on" in flags
    assert "webhook sent" in flags and "matrix held back (quiet hours (00:30-06:30))" in flags

    # An alert raised while the page is open appears at the next poll (15 s), as text.
    hostile = '<img src=x onerror="window.__pwned=1"> Surge on bluesky'
    add_alert(store, hostile, NOW - timedelta(minutes=1))
    page.clock.run_for(16_000)
    page.locator("#alert-list .alert").nth(1).wait_for(timeout=5000)
    assert first.all_inner_texts() == [hostile, long_title]  # newest first
    assert page.locator("#alerts img").count() == 0 and page.evaluate("window.__pwned") is None

    layout = page.evaluate(
        """() => ({
          scrollW: document.documentElement.scrollWidth,
          panelOver: [...document.querySelectorAll('#alerts, #alerts li')]
            .some(e => e.scrollWidth > e.clientWidth + 1),
        })"""
    )
    assert layout["scrollW"] <= 1920 and layout["panelOver"] is False
    assert page.evaluate("window.__violations") == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "moderation-alerts.png"))
    page.close()


# Layouts and branding (issue 21): every layout fills both screens without scrolling,
# its text large enough for the back of a hall, and the QR code on it scans.
EVENT_URL = "https://hrhn.example.org/2016/belgrade?from=wall"
ZBARIMG = shutil.which("zbarimg")

# Every rendered element's box, and what the page would scroll by; the QR code's box.
FIT = """() => {
  const W = window.innerWidth, H = window.innerHeight;
  const out = [...document.body.querySelectorAll('*')].filter(e => {
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return false;
    return r.left < -1 || r.top < -1 || r.right > W + 1 || r.bottom > H + 1;
  }).map(e => e.tagName + '.' + e.className);
  const sizes = [...document.querySelectorAll('.post .text')]
    .filter(e => e.getBoundingClientRect().width > 0)
    .map(e => parseFloat(getComputedStyle(e).fontSize));
  const feat = document.querySelector('#featured').getBoundingClientRect();
  return {
    scrollW: document.documentElement.scrollWidth, scrollH: document.documentElement.scrollHeight,
    bodyScrollW: document.body.scrollWidth, bodyScrollH: document.body.scrollHeight,
    outside: out, textSizes: sizes, cards: document.querySelectorAll('.recent li').length,
    featuredTop: feat.top, featuredHeight: feat.height,
    background: getComputedStyle(document.body).backgroundColor,
    qr: (document.querySelector('#qr') || {getBoundingClientRect: () => ({width: 0})})
      .getBoundingClientRect().width,
  };
}"""


def decode_qr(png: Path) -> str:
    assert ZBARIMG is not None
    run = subprocess.run(
        [ZBARIMG, "--raw", "-q", str(png)], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


@pytest.mark.parametrize("layout", ["featured", "grid", "ticker"])
@pytest.mark.parametrize("width,height", [(1920, 1080), (3840, 2160)])
def test_each_layout_fills_the_screen_without_overflow_and_its_qr_code_scans(
    browser, setup, config_dict, tmp_path, layout, width, height
):
    import segno

    config_dict["event"]["url"] = EVENT_URL
    segno.make("HRHN").save(str(tmp_path / "logo.png"), kind="png", scale=8)
    wall, store, _ = setup(layout=layout, logo="logo.png", accent_color="#e4002b")
    ids = []
    for n, (text, lang, extra) in enumerate(SCREEN_POSTS * 2, start=1):
        author = Author(f"did:plc:s{n}", f"speaker{n}.bsky.social", f"Speaker {n} 🌍", 100)
        post_id = store_post(store, n, text=text, lang=lang, author=author, minutes_ago=60 - n)
        wall.act("pin" if extra.get("pin") else "approve", post_id)
        ids.append(post_id)
    page = browser.new_page(viewport={"width": width, "height": height})
    page.add_init_script(WATCH)
    page.goto(wall.url + "/")
    page.wait_for_selector(f'.post[data-post-id="{ids[-1]}"] >> visible=true', timeout=5000)
    page.wait_for_function(
        "document.querySelector('#qr') && document.querySelector('#qr').complete"
    )
    page.wait_for_timeout(800)  # the arrival animation ends before the measure and the picture

    fit = page.evaluate(FIT)
    assert fit["outside"] == []
    assert fit["scrollW"] <= width and fit["scrollH"] <= height
    assert fit["bodyScrollW"] <= width and fit["bodyScrollH"] <= height
    # Readable from the back: post text at least 1.2% of the screen's width (23 px on 1080p).
    assert fit["textSizes"] and min(fit["textSizes"]) >= width * 0.012
    assert fit["qr"] >= height * 0.1
    if layout == "grid":
        assert fit["cards"] == 8 and fit["featuredHeight"] == 0
    elif layout == "ticker":
        assert fit["background"] == "rgba(0, 0, 0, 0)"  # the livestream shows through
        assert fit["featuredTop"] > height * 0.6 and fit["cards"] == 0
    else:
        assert fit["cards"] == 4 and fit["featuredHeight"] > height * 0.5
    if layout != "ticker":
        logo = page.locator("img.logo")
        assert logo.evaluate("e => e.complete && e.naturalWidth > 0") is True
    assert page.evaluate("window.__violations") == []

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"wall-{layout}-{width}x{height}.png"
    page.screenshot(path=str(shot), omit_background=layout == "ticker")
    assert shot.stat().st_size > 10_000
    if ZBARIMG is None:
        page.close()
        pytest.skip("zbarimg (Debian's zbar-tools) is missing: the QR code was not decoded")
    qr_shot = tmp_path / f"qr-{layout}-{width}.png"
    page.locator("#qr").screenshot(path=str(qr_shot))
    assert decode_qr(qr_shot) == EVENT_URL
    page.close()


@pytest.mark.parametrize("layout", ["featured", "grid", "ticker"])
def test_the_largest_font_scale_still_fits_every_layout(browser, setup, layout):
    wall, store, _ = setup(layout=layout, font_scale=3.0)
    ids = []
    for n, (text, lang, _extra) in enumerate(SCREEN_POSTS * 2, start=1):
        ids.append(store_post(store, n, text=text, lang=lang, minutes_ago=60 - n))
        wall.act("approve", ids[-1])
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(wall.url + "/")
    page.wait_for_selector(f'.post[data-post-id="{ids[-1]}"] >> visible=true', timeout=5000)
    page.wait_for_timeout(800)
    fit = page.evaluate(FIT)
    assert fit["outside"] == [] and fit["scrollW"] <= 1920 and fit["scrollH"] <= 1080
    # Three times the usual size: post text at least 3.5% of the width (67 px on 1080p)
    # where the layout has room for it; the side cards keep at least their usual size.
    assert max(fit["textSizes"]) >= 1920 * 0.035
    assert min(fit["textSizes"]) >= 1920 * 0.012
    # Whole lines only: each post's text box is a whole number of lines, none cut in half.
    cut = page.evaluate(
        """() => [...document.querySelectorAll('.stage .post .text')]
          .filter(t => t.getBoundingClientRect().height > 0)
          .map(t => t.clientHeight / parseFloat(getComputedStyle(t).lineHeight))
          .filter(n => n < 0.95 || Math.abs(n - Math.round(n)) > 0.05)"""
    )
    assert cut == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"wall-{layout}-scale3.png"))
    page.close()


def test_theme_and_font_scale_change_the_page(browser, setup):
    looks = {}
    for theme, scale in (("dark", 1.0), ("light", 1.5)):
        wall, _, _ = setup(theme=theme, font_scale=scale, accent_color="#0057b8")
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(wall.url + "/")
        looks[theme] = page.evaluate(
            """() => ({
              bg: getComputedStyle(document.body).backgroundColor,
              tag: getComputedStyle(document.querySelector('.tag')).color,
              size: parseFloat(getComputedStyle(document.querySelector('.tag')).fontSize),
            })"""
        )
        page.close()
    assert looks["dark"]["bg"] == "rgb(10, 10, 15)"
    assert looks["light"]["bg"] == "rgb(242, 242, 245)"
    assert looks["dark"]["tag"] == looks["light"]["tag"] == "rgb(0, 87, 184)"  # the accent
    assert looks["light"]["size"] == pytest.approx(looks["dark"]["size"] * 1.5, rel=0.01)


def test_an_empty_grid_shows_the_invitation_then_the_cards(browser, setup):
    wall, store, _ = setup(layout="grid")
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(wall.url + "/")
    page.wait_for_selector("#empty >> visible=true", timeout=5000)
    assert "Join the conversation with #HRHN2016" in page.locator("#empty").inner_text()
    post_id = store_post(store, 1, text="First post of the day")
    wall.act("approve", post_id)
    page.wait_for_selector(f'.recent [data-post-id="{post_id}"] >> visible=true', timeout=5000)
    assert page.locator("#featured").is_visible() is False
    page.close()


def test_a_compose_qr_code_scans_to_a_new_post_with_the_hashtag(browser, setup, tmp_path):
    # [wall] qr_link = "bluesky": a phone in the hall opens Bluesky's composer with the
    # event's hashtag already typed (no [event] url needed).
    wall, store, _ = setup(qr_link="bluesky")
    wall.act("approve", store_post(store, 1))
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(wall.url + "/")
    page.wait_for_function(
        "document.querySelector('#qr') && document.querySelector('#qr').complete"
    )
    if ZBARIMG is None:
        page.close()
        pytest.skip("zbarimg (Debian's zbar-tools) is missing: the QR code was not decoded")
    shot = tmp_path / "qr-compose.png"
    page.locator("#qr").screenshot(path=str(shot))
    assert decode_qr(shot) == "https://bsky.app/intent/compose?text=%23HRHN2016%20"
    page.close()


# Counts, on every change of the featured box, how many posts it shows at once.
MOST_FEATURED = """
window.__mostFeatured = 0;
new MutationObserver(() => {
  const box = document.getElementById('featured');
  if (!box) return;
  const shown = box.querySelectorAll('.post:not([hidden])').length;
  window.__mostFeatured = Math.max(window.__mostFeatured, shown);
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def test_updates_during_the_featured_cross_fade_never_show_two_featured_posts(browser, setup):
    # The featured post cross-fades every rotate_seconds; posts arriving during the fade
    # once left the old and the new node both on screen, one above the other.
    wall, store, _ = setup(rotate_seconds=3.0, moderation="post")
    for n in range(1, 4):
        store_post(store, n, minutes_ago=30 - n)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(MOST_FEATURED)
    page.goto(wall.url + "/")
    page.wait_for_selector(".featured .post", timeout=5000)
    # Eight seconds of arrivals every 0.2 s: at least two rotations meet an update.
    for n in range(4, 44):
        store_post(store, n, minutes_ago=10 - n * 0.1)
        time.sleep(0.2)
    page.wait_for_timeout(1000)
    assert page.evaluate("window.__mostFeatured") == 1
    assert page.locator(".featured .post").count() == 1
    page.close()


def test_an_event_name_too_long_for_the_bar_ends_with_an_ellipsis(browser, setup, config_dict):
    # Outside a session the bar shows the event's name beside the counters; a long name
    # is cut with "…" (text-overflow), never mid-letter.
    config_dict["event"]["name"] = "Human Rights House Network Assembly 2016: " * 3
    wall, store, _ = setup()
    wall.act("approve", store_post(store, 1, minutes_ago=600))
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    # 13:20 on the 24th is inside the fixture's session: show the name as outside one.
    page.goto(wall.url + "/")
    page.wait_for_selector("#session >> visible=true")
    # Measured in the same task as it is shown, before a stats update hides it again.
    style = page.locator("#event-name").evaluate(
        """e => {
          document.getElementById('session').hidden = true;
          e.hidden = false;
          const cs = getComputedStyle(e);
          return [cs.display, cs.textOverflow, e.scrollWidth > e.clientWidth];
        }"""
    )
    assert style == ["block", "ellipsis", True]
    page.close()
