"""Threads and Instagram in the digest and the impact report (issue #20).

Posts reach the database through the real collectors and the loopback fakes,
so what the outputs show is what the APIs give: Instagram media without an
author, Threads posts without counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from tagwatch.collectors.fakes.meta import FakeInstagram, FakeThreads
from tagwatch.collectors.instagram import InstagramCollector
from tagwatch.collectors.threads import ThreadsCollector
from tagwatch.records import Author
from tagwatch.reports.digest import build_digest, render_html, render_markdown, render_text
from tagwatch.reports.figures import UNKNOWN_FIGURES
from tagwatch.reports.impact import build_report, make_report
from tagwatch.settings import Config
from tagwatch.storage.db import Store
from tests.conftest import make_post
from tests.test_meta import IG_TOKEN, IG_USER, NOW, THREADS_TOKEN, Clock, make_config, run

DAY = date(2026, 11, 25)  # NOW is 2026-11-25 12:00 UTC, 13:00 in Belgrade


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_THREADS_ACCESS_TOKEN", THREADS_TOKEN)
    monkeypatch.setenv("TAGWATCH_INSTAGRAM_ACCESS_TOKEN", IG_TOKEN)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def fakes(clock: Clock) -> Iterator[tuple[FakeThreads, FakeInstagram]]:
    with (
        FakeThreads(token=THREADS_TOKEN, now=clock) as threads,
        FakeInstagram(token=IG_TOKEN, now=clock, user_id=IG_USER) as instagram,
    ):
        yield threads, instagram


@pytest.fixture
def collected(
    tmp_path: Path, fakes: tuple[FakeThreads, FakeInstagram], clock: Clock
) -> tuple[Config, dict[str, str]]:
    """A Bluesky post the day before, and on DAY two Instagram and three Threads posts."""
    threads, instagram = fakes
    ig = instagram.post("Photo from the hall #HRHN2016", at=NOW - timedelta(hours=1), likes=7)
    instagram.media[ig["id"]]["comments_count"] = 2
    instagram.post("Likes hidden #HRHN2016", at=NOW - timedelta(hours=2), likes=None)
    for n, who in enumerate(("ana_b", "ana_b", "marko.p")):
        threads.post(
            who,
            f"Thread {n} #HRHN2016",
            at=NOW - timedelta(hours=3, minutes=n),
            topic_tag="HRHN2016",
        )
    config = make_config(
        tmp_path,
        threads={"enabled": True, "api_base_url": threads.url},
        instagram={"enabled": True, "api_base_url": instagram.url, "user_id": IG_USER},
    )
    with Store.open(config.db_path) as store:
        bluesky = make_post(
            1,
            author=Author("did:plc:a1", "a1.bsky.social", "Ana One", 500),
            created_at=NOW - timedelta(days=1),
            likes=3,
        )
        store.write_posts([bluesky])
        for cls in (ThreadsCollector, InstagramCollector):
            record, _ = run(cls, config, store, clock)
            assert record.status == "ok", record.error
    return config, {"instagram": ig["id"]}


def test_the_digest_says_which_figures_leave_which_platform_out(
    collected: tuple[Config, dict[str, str]],
) -> None:
    config, _ = collected
    digest = build_digest(config, DAY, now=NOW + timedelta(days=1))
    assert digest.posts == 5
    assert digest.notes == [UNKNOWN_FIGURES["threads"], UNKNOWN_FIGURES["instagram"]]
    # Two Threads authors; Instagram's posts are nobody's: no author, voice or reach.
    assert digest.headline[1].value == 2
    assert digest.reach == 0
    assert {v.platform for v in digest.voices} <= {"threads"}
    md, text, html = render_markdown(digest), render_text(digest), render_html(digest)
    for out in (text, html):
        assert UNKNOWN_FIGURES["threads"] in out.replace("&#39;", "'")
        assert "Instagram hashtag media come without their author" in out
    assert "Instagram hashtag media come without their author" in md
    # The Instagram post is shown as from "an Instagram account", with the counts it has.
    top = next(p for p in digest.top_posts if p.platform == "instagram")
    assert top.who == "an Instagram account"
    assert "- **an Instagram account** · Instagram ·" in md
    assert "7 likes · 2 replies · [open on Instagram]" in md
    assert "0 reposts" not in md and "@ ·" not in md
    assert "* an Instagram account (Instagram," in text
    threads_post = next((p for p in digest.top_posts if p.platform == "threads"), None)
    if threads_post is not None:
        assert threads_post.counts == []
        assert "no counts given by Threads" in md


def test_a_day_without_threads_or_instagram_posts_has_no_such_note(
    collected: tuple[Config, dict[str, str]],
) -> None:
    config, _ = collected
    digest = build_digest(config, DAY - timedelta(days=1), now=NOW + timedelta(days=1))
    assert digest.posts == 1
    assert digest.notes == []
    assert "come without" not in render_markdown(digest)


def test_the_digest_warns_when_an_instagram_pass_gap_exceeded_24_hours(
    collected: tuple[Config, dict[str, str]], clock: Clock
) -> None:
    config, _ = collected
    clock.at = NOW + timedelta(hours=30)  # 2026-11-26 19:00 in Belgrade
    with Store.open(config.db_path) as store:
        record, _ = run(InstagramCollector, config, store, clock)
    assert record.details["gap_hours"] == 30.0
    digest = build_digest(config, DAY + timedelta(days=1), now=clock.at + timedelta(hours=6))
    (health,) = [h for h in digest.health if h.collector == "instagram"]
    assert health.gap_hours == 30.0 and health.problem
    assert "Instagram" in digest.summary_line  # "collection problems: Instagram"
    assert "30 hours passed between two passes" in render_markdown(digest)
    assert "posts from that gap may be lost" in render_text(digest)
    # The day of the first pass had no gap: no warning there.
    first = build_digest(config, DAY, now=clock.at)
    (before,) = [h for h in first.health if h.collector == "instagram"]
    assert before.gap_hours is None and not before.problem


def _pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()
    return " ".join(text.split())


def test_the_report_leaves_unknowns_empty_and_says_so_in_html_and_pdf(
    collected: tuple[Config, dict[str, str]], tmp_path: Path
) -> None:
    config, _ = collected
    with Store.open(config.db_path) as store:
        report = build_report(store.conn, config, DAY, DAY, now=NOW + timedelta(days=1))
    per_platform = {r["platform"]: r for r in report.tables["per_platform"].rows}
    assert per_platform["instagram"]["posts"] == 2
    assert per_platform["instagram"]["authors"] == ""  # unknown, not 0
    assert per_platform["instagram"]["likes"] == 7  # the hidden count adds nothing
    assert per_platform["threads"]["authors"] == 2
    assert per_platform["threads"]["likes"] == "" and per_platform["threads"]["engagement"] == ""
    (day,) = report.tables["per_day"].rows
    assert day["authors"] == 2 and day["likes"] == 7 and day["engagement"] == 9
    assert report.summary.authors == 2 and report.summary.reach == 0
    top = next(p for p in report.top_posts if p["platform"] == "instagram" and p["likes"] == 7)
    assert top["who"] == "an Instagram account" and top["counts"] == "7 likes · 2 replies"
    threads_top = [p for p in report.top_posts if p["platform"] == "threads"]
    assert all(p["counts"] == "no counts given by the platform" for p in threads_top)
    assert top["url"].startswith("https://www.instagram.com/p/")

    out = make_report(config, DAY, DAY, tmp_path / "report", now=NOW + timedelta(days=1))
    html = " ".join(Path(out["html"]).read_text(encoding="utf-8").split())
    pdf = _pdf_text(Path(out["pdf"]))
    for sentence in (UNKNOWN_FIGURES["threads"], UNKNOWN_FIGURES["instagram"]):
        assert sentence in html
        assert sentence in pdf
    assert "an Instagram account" in html and "an Instagram account" in pdf
    assert "7 likes · 2 replies" in pdf


def test_a_report_without_threads_or_instagram_posts_says_nothing_of_them(
    collected: tuple[Config, dict[str, str]],
) -> None:
    config, _ = collected
    before = DAY - timedelta(days=1)
    with Store.open(config.db_path) as store:
        report = build_report(store.conn, config, before, before, now=NOW)
    assert report.summary.platforms == ("bluesky",)
    assert report.methodology.unknown_text() == ""
