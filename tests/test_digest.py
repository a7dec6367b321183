"""The daily digest from a fixture database whose figures are known (tests/digest_fixture.py)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tagwatch.reports.digest import (
    Digest,
    build_digest,
    default_day,
    md_escape,
    render_html,
    render_markdown,
    render_text,
    write_digest,
)
from tagwatch.settings import Config
from tagwatch.storage.db import Store, connect
from tests.digest_fixture import (
    DAY,
    DELETED_TEXT,
    HOSTILE_NAME,
    SECRET_TEXT,
    build_fixture_db,
    digest_config,
)

NOW = datetime(2016, 11, 26, 6, 30, tzinfo=UTC)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    config = digest_config(tmp_path)
    build_fixture_db(config)
    return config


@pytest.fixture
def digest(cfg: Config) -> Digest:
    return build_digest(cfg, DAY, now=NOW)


def figures(d: Digest) -> dict[str, tuple[int, int | None, str]]:
    return {f.label: (f.value, f.previous, f.change) for f in d.headline}


def test_headline_figures_and_change_against_the_day_before(digest: Digest) -> None:
    assert digest.day == DAY and not digest.empty
    assert figures(digest) == {
        "Posts": (8, 4, "+4 (+100%)"),
        "Unique authors": (7, 3, "+4 (+133%)"),
        "Engagement": (173, 6, "+167 (+2783%)"),
        "Estimated reach": (5600, 5200, "+400 (+8%)"),
    }
    assert [(f.label, f.value, f.short_change) for f in digest.platforms] == [
        ("Bluesky", 5, "+2"),
        ("X", 2, "+1"),
        ("Mastodon", 1, "new"),
    ]
    assert digest.peak_hour == "10:00–11:00 (2 posts)"
    assert digest.summary_line == (
        "8 posts (+4 (+100%)) · 1 to look at · collection problems: Mastodon, X"
    )
    assert digest.restricted_posts == 1


def test_sessions_of_the_day_with_their_figures(digest: Digest) -> None:
    # The 24 November session is not part of the 25th's digest.
    assert [(s.title, s.time, s.room, s.posts) for s in digest.sessions] == [
        ("Illiberal democracies in Europe", "10:00–11:30", "Main hall", 3),
        ("Political prisoners in Azerbaijan", "14:00–15:30", "Room B", 2),
    ]
    opening, prisoners = digest.sessions
    assert opening.top_post is not None and opening.top_post.author_handle == "alice.bsky.social"
    assert "illiberal democracy" in opening.themes
    # Erin's restricted post (100 likes) is counted in the session but never its top post.
    assert prisoners.engagement == 101
    assert prisoners.top_post is not None and prisoners.top_post.author_handle == "dave"


def test_top_posts_voices_mentions_languages_sentiment(digest: Digest) -> None:
    assert [(p.author_handle, p.engagement) for p in digest.top_posts] == [
        ("alice.bsky.social", 53),
        ("carol", 11),
        ("bob.bsky.social", 5),
        ("alice.bsky.social", 2),
        ("dave", 1),
    ]
    assert digest.top_posts[0].time == "10:15"  # local time, not UTC
    assert [(v.handle, v.engagement, v.posts) for v in digest.voices][:2] == [
        ("alice.bsky.social", 55, 2),
        ("carol", 11, 1),
    ]
    assert "erin.bsky.social" not in [v.handle for v in digest.voices]
    assert [(m.label, m.count) for m in digest.mentioned] == [("@alice.bsky.social", 2)]
    assert [(lang.label, lang.count) for lang in digest.languages] == [
        ("English", 7),
        ("Serbian", 1),
    ]
    assert [(s.label, s.count) for s in digest.sentiment] == [
        ("positive", 3),
        ("neutral", 3),
        ("negative", 1),
    ]
    assert (digest.sentiment_scored, digest.sentiment_unscored) == (7, 1)


def test_new_and_rising_themes_with_examples(digest: Digest, tmp_path: Path) -> None:
    assert digest.themes_are_new
    themes = {t.label: t for t in digest.themes}
    # "political prisoners": 2 posts today, 2 the day before: steady, so not listed.
    assert set(themes) == {"illiberal democracy", "freethem"}
    democracy = themes["illiberal democracy"]
    assert (democracy.posts, democracy.trend, democracy.kind) == (3, "new", "phrase")
    # All its posts are already among the five top posts: not repeated.
    assert democracy.examples == ()
    assert "Its posts are among those shown above." in render_html(digest)
    (tmp_path / "short").mkdir()
    config = digest_config(tmp_path / "short", digest={"top_n": 1})
    build_fixture_db(config)
    short = build_digest(config, DAY, now=NOW)
    assert [p.author_handle for p in short.top_posts] == ["alice.bsky.social"]
    examples = [(p.author_handle, p.time) for p in short.themes[0].examples]
    assert examples == [("bob.bsky.social", "10:40"), ("alice.bsky.social", "16:00")]


def test_posts_to_look_at(digest: Digest) -> None:
    # Alice's post drew 26x the typical engagement: said where it is listed, among top posts.
    assert digest.top_posts[0].reason == "engagement 53, 26x the day's typical post"
    # Carol's drew more replies than approval, in a negative tone: a post to look at.
    (carol,) = digest.to_look_at
    assert carol.author_handle == "carol"
    assert carol.reason == (
        "engagement 11, 6x the day's typical post; more replies (8) than likes and reposts:"
        " possibly contested; negative tone with engagement 11"
    )


def test_collection_health_said_plainly(digest: Digest) -> None:
    health = {h.collector: h for h in digest.health}
    assert health["bluesky"].statement() == "3 passes, all fine; 6 new posts."
    assert not health["bluesky"].problem
    x = health["x"]
    assert x.flagged and x.streak == 3
    assert x.statement() == (
        "FAILING: the last 3 passes in a row failed; hit its quota at 14:05; posts after that"
        " were not collected (3 passes stopped) (2 new posts in 5 passes)."
    )
    assert health["mastodon"].statement() == "1 of 2 passes failed (1 new post in 2 passes)."
    assert [h.collector for h in digest.health_problems] == ["mastodon", "x"]
    text = render_text(digest)
    assert "COLLECTION PROBLEMS ON THIS DAY" in text
    assert "!! X: FAILING" in text
    assert "collection problems" in digest.subject


def test_a_collector_that_never_ran_is_said_to_have_collected_nothing(tmp_path: Path) -> None:
    config = digest_config(tmp_path)
    build_fixture_db(config)
    d = build_digest(config, date(2016, 11, 24), now=NOW)
    statements = {h.collector: h.statement() for h in d.health}
    assert statements["x"] == "no collection pass ran this day: nothing was collected."


def test_restricted_and_deleted_posts_are_never_shown(digest: Digest) -> None:
    for output in (render_html(digest), render_markdown(digest), render_text(digest)):
        assert SECRET_TEXT not in output
        assert DELETED_TEXT not in output
        assert "counted, never quoted" in output


def test_hostile_text_and_names_are_escaped(digest: Digest) -> None:
    html = render_html(digest)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<b>Bob</b>" not in html and "<img src=x" not in html
    assert "&lt;b&gt;Bob&lt;/b&gt;" in html
    assert "onerror" not in re.sub(r"&lt;.*?&gt;", "", html)
    # Bob's post carries a javascript: URL: shown without any link.
    assert "javascript:" not in html
    assert "Monthly post cap &lt;reached&gt;" in html
    md = render_markdown(digest)
    assert "<script" not in md and "<b>" not in md
    assert md_escape(HOSTILE_NAME) in md
    assert "javascript:" not in md


def test_markdown_escape() -> None:
    assert md_escape("<b>x</b> *y* [a](javascript:b)") == (
        "&lt;b&gt;x&lt;/b&gt; \\*y\\* \\[a\\]\\(javascript:b\\)"
    )
    assert md_escape("# heading\nline") == "\\# heading line"
    assert md_escape("1. item") == "1\\. item"


def test_email_html_is_table_layout_inline_css_no_scripts(digest: Digest) -> None:
    html = render_html(digest, inline="cid")
    assert "<script" not in html.lower() and "<style" not in html.lower()
    assert "<link" not in html.lower() and "@import" not in html
    assert 'role="presentation"' in html
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs == [
        "cid:volume.digest-2016-11-25@tagwatch",
        "cid:themes.digest-2016-11-25@tagwatch",
    ]


def test_files_written(digest: Digest, tmp_path: Path) -> None:
    paths = write_digest(digest, tmp_path / "digests")
    assert paths["html"].name == "digest-2016-11-25.html"
    html = paths["html"].read_text(encoding="utf-8")
    assert "cid:" not in html
    assert html.count('src="data:image/png;base64,') == 2
    md = paths["md"].read_text(encoding="utf-8")
    assert "![Posts per hour by platform](digest-2016-11-25-volume.png)" in md
    assert (
        (tmp_path / "digests" / "digest-2016-11-25-volume.png").read_bytes().startswith(b"\x89PNG")
    )
    text = paths["txt"].read_text(encoding="utf-8")
    assert text.startswith("HRHN Assembly 2016: daily digest for Friday 25 November 2016\n")
    assert "Posts                     8   +4 (+100%) vs day before" in text


def test_empty_day_gives_a_short_honest_digest(cfg: Config, tmp_path: Path) -> None:
    d = build_digest(cfg, date(2016, 11, 27), now=NOW)
    assert d.empty and d.posts == 0
    assert d.top_posts == [] and d.charts == {}
    text = render_text(d)
    assert "No posts with #HRHN2016 were collected on Sunday 27 November 2016." in text
    assert "The day before: 1 post." in text
    html = render_html(d)
    assert "No posts</strong>" in html and "<img" not in html
    # No pass ran that day either: the digest says so instead of implying a quiet day.
    assert "no collection pass ran this day" in html
    paths = write_digest(d, tmp_path / "empty")
    assert paths["md"].read_text(encoding="utf-8").count("No posts") == 1


def test_quiet_day_with_healthy_collection_says_it_is_not_a_gap(tmp_path: Path) -> None:
    config = digest_config(
        tmp_path, bluesky={"enabled": True}, x={"enabled": False}, mastodon={"enabled": False}
    )
    build_fixture_db(config)
    quiet = date(2016, 11, 27)
    d = build_digest(config, quiet, now=NOW)
    assert d.empty and not d.collection_ok
    assert "no collection pass ran this day" in render_text(d)
    with Store.open(config.db_path) as store:
        at = datetime(2016, 11, 27, 9, tzinfo=UTC)
        run = store.start_run("bluesky", at=at)
        store.finish_run(run, status="ok", requests=1, new_posts=0, updated_posts=0, at=at)
    d = build_digest(config, quiet, now=NOW)
    assert d.collection_ok
    assert "so this is a quiet day, not a gap" in render_text(d)


def test_no_collector_at_all_cannot_tell_quiet_from_gap(tmp_path: Path) -> None:
    config = digest_config(
        tmp_path, bluesky={"enabled": False}, x={"enabled": False}, mastodon={"enabled": False}
    )
    build_fixture_db(config)
    d = build_digest(config, date(2016, 11, 27), now=NOW)
    assert d.health == [] and d.empty
    text = render_text(d)
    assert "quiet day, not a gap" not in text
    assert "a quiet day cannot be told from a gap" in text
    assert "No collector is enabled and no pass ran on this day." in render_html(d)


def test_default_day_is_yesterday_in_the_event_timezone(cfg: Config) -> None:
    # 23:30 UTC on the 25th is already 00:30 on the 26th in Belgrade: yesterday is the 25th.
    assert default_day(cfg.event, datetime(2016, 11, 25, 23, 30, tzinfo=UTC)) == DAY
    assert default_day(cfg.event, datetime(2016, 11, 25, 22, 30, tzinfo=UTC)) == date(2016, 11, 24)
    d = build_digest(cfg, now=datetime(2016, 11, 25, 23, 30, tzinfo=UTC))
    assert d.day == DAY and d.posts == 8


def test_hours_of_a_daylight_saving_day_are_counted_once(tmp_path: Path) -> None:
    from tagwatch.records import Author, Post
    from tagwatch.reports import analysis
    from tagwatch.reports.digest.build import _hourly_by_platform

    config = digest_config(tmp_path)
    # 30 October 2016, Belgrade: clocks go back at 03:00, so 02:00-03:00 happens twice.
    times = [datetime(2016, 10, 30, 0, 30, tzinfo=UTC), datetime(2016, 10, 30, 1, 30, tzinfo=UTC)]
    with Store.open(config.db_path) as store:
        store.write_posts(
            Post("bluesky", f"p{i}", "", Author("a", "a"), "t", at) for i, at in enumerate(times)
        )
        start, end = config.event.day_bounds(date(2016, 10, 30))
        period = analysis.Period(store.conn, config.event, start, end)
        hours = [h.hour for h in analysis.per_hour(store.conn, config.event, start, end)]
    assert len(hours) == 25
    series = _hourly_by_platform(period, hours)
    assert sum(n for _, n in series["bluesky"]) == 2
    from tagwatch.reports.charts import volume_per_hour_png

    assert volume_per_hour_png(series, config.event.tz).startswith(b"\x89PNG")


def test_an_unwritable_out_dir_is_a_clear_error(digest: Digest, tmp_path: Path) -> None:
    from tagwatch.errors import TagwatchError

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be", encoding="utf-8")
    with pytest.raises(TagwatchError) as failed:
        write_digest(digest, blocker / "digests")
    assert str(failed.value).startswith(f"Cannot write the digest to {blocker / 'digests'}: ")
    assert "Check [digest] out_dir (or --out)" in str(failed.value)


def test_each_day_is_read_once(cfg: Config) -> None:
    """The day and the day before: one load each, shared by figures, trends and signals."""
    conn = connect(cfg.db_path, readonly=True)
    loads: list[str] = []
    conn.set_trace_callback(
        lambda sql: (
            loads.append(sql) if "from posts p" in sql and "p.created_at >=" in sql else None
        )
    )
    try:
        traced = build_digest(cfg, DAY, now=NOW, conn=conn)
    finally:
        conn.close()
    assert len(loads) == 2, loads
    assert traced == build_digest(cfg, DAY, now=NOW)
