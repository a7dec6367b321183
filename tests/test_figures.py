"""One figures layer: the impact report, the digest and the wall's counters agree.

The cases that made them disagree (issue #19): an author who changes handle
mid-event, a post whose author the platform does not give (Instagram hashtag
media), and counts a platform does not give (Threads).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tagwatch.records import Author
from tagwatch.reports import analysis
from tagwatch.reports.digest import build_digest
from tagwatch.reports.figures import UNKNOWN_FIGURES, engagement
from tagwatch.reports.impact import build_report
from tagwatch.reports.wall.feed import WallFeed
from tagwatch.reports.wall.rules import WallRules
from tagwatch.settings import Config
from tagwatch.storage.db import Store, connect
from tests.conftest import make_post

NOW = datetime(2016, 11, 28, 9, 0, tzinfo=UTC)
OLD = Author("did:plc:ana", "ana.bsky.social", "Ana", 500)
NEW = Author("did:plc:ana", "ana-hrhn.bsky.social", "Ana M.", 700)
BEN = Author("did:plc:ben", "ben.bsky.social", "Ben", 100)
CARA = Author("threads-1", "cara", "Cara", None)


def _at(day: int, hour: int) -> datetime:
    return datetime(2016, 11, day, hour, 0, tzinfo=UTC)


def seed(store: Store) -> None:
    """Ana posts as ana.bsky.social, then as ana-hrhn.bsky.social (one DID, 500 -> 700
    followers); an Instagram post has no author; a Threads post has no counts.

    Known figures, whole event: 6 posts, 3 authors (Ana, Ben, Cara), reach 800
    (700 + 100; Cara's unknown), engagement 3 + 1 + 3 + 1 + 7 + 0 = 15.
    25 Nov: 4 posts, 2 authors (Ana, Ben), reach 800, engagement 1 + 3 + 1 + 7 = 12.
    """

    def post(n: int, author: Author, at: datetime, platform: str = "bluesky", **kw):
        return make_post(n, platform=platform, author=author, created_at=at, collected_at=at, **kw)

    store.write_posts(
        [
            post(1, OLD, _at(24, 10), likes=3),
            post(2, OLD, _at(25, 8), likes=1),
            post(3, NEW, _at(25, 12), likes=2, reposts=1),
            post(4, BEN, _at(25, 13), likes=1),
            post(5, Author("ig-placeholder", "ig-placeholder"), _at(25, 14), "instagram", likes=7),
            post(6, CARA, _at(26, 10), "threads", likes=0),
        ]
    )
    # What the Instagram and Threads collectors store: no author, and no counts.
    conn = store.conn
    with conn:
        conn.execute(
            "update posts set author_id = null, author_handle = null, author_name = null"
            " where platform = 'instagram'"
        )
        conn.execute("delete from authors where platform = 'instagram'")
        conn.execute(
            "update posts set likes = null, reposts = null, replies = null, quotes = null"
            " where platform = 'threads'"
        )


@pytest.fixture
def seeded(config: Config) -> Config:
    with Store.open(config.db_path) as store:
        seed(store)
    return config


def _bounds(config: Config, first: date, last: date) -> tuple[datetime, datetime]:
    return config.event.day_bounds(first)[0], config.event.day_bounds(last)[1]


def test_handle_change_is_one_author_with_one_reach_in_the_report(seeded):
    with Store.open(seeded.db_path) as store:
        report = build_report(store.conn, seeded, now=NOW)
    s = report.summary
    assert (s.posts, s.authors, s.reach, s.engagement) == (6, 3, 800, 15)
    assert s.authors_without_followers == 1  # Cara: Threads gives no follower count
    voices = report.tables["top_voices"].rows
    assert [(v["author"], v["posts"], v["engagement"], v["followers"]) for v in voices] == [
        ("ana-hrhn.bsky.social", 3, 7, 700),
        ("ben.bsky.social", 1, 1, 100),
        ("cara", 1, 0, ""),
    ]
    per_day = [(r["day"], r["posts"], r["authors"]) for r in report.tables["per_day"].rows]
    assert per_day == [("2016-11-24", 1, 1), ("2016-11-25", 4, 2), ("2016-11-26", 1, 1)]
    per_platform = {
        r["platform"]: (r["posts"], r["authors"], r["engagement"])
        for r in report.tables["per_platform"].rows
    }
    assert per_platform["bluesky"] == (4, 2, 8)
    # Unknown is not zero (#20): no known author, no counts given, left empty.
    assert per_platform["instagram"] == (1, "", 7)
    assert per_platform["threads"] == (1, 1, "")


def test_unknown_counts_are_left_out_and_named(seeded):
    with Store.open(seeded.db_path) as store:
        report = build_report(store.conn, seeded, now=NOW)
        lo, hi = _bounds(seeded, seeded.event.start, seeded.event.end)
        a = analysis.summary(store.conn, seeded.event, lo, hi)
    assert a.counts_unknown == ("threads",)
    assert a.authorless_posts == 1
    assert report.summary.counts_unknown == ("threads",)
    digest = build_digest(seeded, date(2016, 11, 26), now=NOW)
    assert "threads" in {f.label: f for f in digest.headline}["Engagement"].note.lower()
    text = report.methodology.unknown_text()
    assert UNKNOWN_FIGURES["threads"] in text and UNKNOWN_FIGURES["instagram"] in text
    assert "1 post has no known author" in text
    assert engagement(None, None, None, None) == 0
    assert engagement(2, None, 1, None) == 3


def test_report_digest_and_wall_give_the_same_numbers(seeded):
    day = date(2016, 11, 25)
    lo, hi = _bounds(seeded, day, day)
    with Store.open(seeded.db_path) as store:
        report = build_report(store.conn, seeded, day, day, now=NOW).summary
        digest = build_digest(seeded, day, now=NOW, conn=store.conn)
    feed = WallFeed(connect(seeded.db_path, readonly=True), WallRules(mode="post", open=True))
    try:
        wall = feed.stats(lo, hi)
    finally:
        feed.conn.close()
    head = {f.label: f.value for f in digest.headline}
    assert (report.posts, report.authors, report.engagement, report.reach) == (4, 2, 12, 800)
    assert (head["Posts"], head["Unique authors"], head["Engagement"]) == (4, 2, 12)
    assert head["Estimated reach"] == report.reach
    assert (wall["posts"], wall["people"], wall["engagement"]) == (4, 2, 12)
    # No Threads post that day: nothing is left out, and nothing says so.
    assert wall["engagement_leaves_out"] == []
    assert "left out" not in {f.label: f for f in digest.headline}["Engagement"].note


def test_the_whole_event_agrees_too(seeded):
    lo, hi = _bounds(seeded, seeded.event.start, seeded.event.end)
    with Store.open(seeded.db_path) as store:
        report = build_report(store.conn, seeded, now=NOW).summary
        a = analysis.summary(store.conn, seeded.event, lo, hi)
    feed = WallFeed(connect(seeded.db_path, readonly=True), WallRules(mode="post", open=True))
    try:
        wall = feed.stats(lo, hi)
    finally:
        feed.conn.close()
    assert (a.counts.posts, a.counts.unique_authors, a.counts.engagement) == (6, 3, 15)
    assert (report.posts, report.authors, report.engagement) == (6, 3, 15)
    assert a.potential_reach == report.reach == 800
    assert (wall["posts"], wall["people"], wall["engagement"]) == (6, 3, 15)
    assert wall["engagement_leaves_out"] == ["threads"]


def test_export_carries_the_stable_author_id_last(seeded, tmp_path: Path):
    from tagwatch.reports.export import EXPORT_FIELDS, export_rows

    assert EXPORT_FIELDS[-1] == "author_id"
    with Store.open(seeded.db_path) as store:
        rows = list(export_rows(store.conn))
    assert [r["author_id"] for r in rows] == [
        "did:plc:ana",
        "did:plc:ana",
        "did:plc:ana",
        "did:plc:ben",
        "",
        "threads-1",
    ]


def test_the_report_says_which_figures_leave_what_out(seeded):
    from tagwatch.reports.impact import make_charts, render_html

    with Store.open(seeded.db_path) as store:
        report = build_report(store.conn, seeded, now=NOW)
    html = " ".join(render_html(report, make_charts(report, seeded.event.sessions)).split())
    # One set of sentences, said once: the digest's (`UNKNOWN_FIGURES`).
    for sentence in (UNKNOWN_FIGURES["threads"], UNKNOWN_FIGURES["instagram"]):
        assert html.count(sentence) == 1
    assert "In this report, 1 post has no known author." in html


def test_nothing_unknown_says_nothing(config: Config):
    with Store.open(config.db_path) as store:
        store.write_posts([make_post(1, created_at=_at(24, 10))])
        report = build_report(store.conn, config, now=NOW)
    assert report.methodology.unknown_text() == ""
    assert report.summary.counts_unknown == () and report.summary.authorless_posts == 0
