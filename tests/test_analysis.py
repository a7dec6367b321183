"""The query API on small hand-made corpora whose answers are known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_post

from tagwatch.monitor.enrichment import enrich_pending
from tagwatch.records import Author
from tagwatch.reports import analysis
from tagwatch.reports.figures import FADING, NEW, RISING, STEADY
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store

DAY2 = datetime(2016, 11, 25, 10, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2016, 11, day, hour, minute, tzinfo=UTC)


def author(n: int, followers: int | None = 100) -> Author:
    return Author(f"did:plc:a{n}", f"a{n}.bsky.social", f"A {n}", followers)


def post(n: int, text: str, when: datetime, who: int = 0, **kw: Any):  # type: ignore[no-untyped-def]
    kw.setdefault("author", author(who or n))
    kw.setdefault("hashtags", ("HRHN2016",))
    kw.setdefault("likes", 0)
    return make_post(n, text=text, created_at=when, **kw)


def day(config: Config, d: int) -> tuple[datetime, datetime]:
    return config.event.day_bounds(datetime(2016, 11, d).date())


@pytest.fixture
def sr_config(tmp_path: Path, config_dict: dict[str, Any]) -> Config:
    config_dict["event"]["languages"] = ["en", "sr"]
    return parse_config(config_dict, path=tmp_path / "config.toml")


def test_summary_counts_engagement_and_reach_once_per_author(fresh_store: Store, config: Config):
    fresh_store.write_posts(
        [
            post(1, "one", at(24, 9), who=1, likes=3, reposts=1),
            post(2, "two", at(24, 10), who=1, likes=1, replies=2, author=author(1, 500)),
            post(3, "three", at(24, 11), who=2, quotes=4, author=author(2, 40)),
            post(4, "no followers known", at(24, 12), who=3, author=author(3, None)),
        ]
    )
    s = analysis.summary(fresh_store.conn, config.event, *day(config, 24))
    assert s.counts.posts == 4
    assert s.counts.unique_authors == 3
    assert (s.counts.likes, s.counts.reposts, s.counts.replies, s.counts.quotes) == (4, 1, 2, 4)
    assert s.counts.engagement == 11
    assert s.counts.likes_per_post == 1.0
    # Author 1 posted twice: counted once, with the latest follower count (500, not 100 + 500).
    assert s.potential_reach == 540
    assert s.authors_with_followers == 2
    assert "Estimated" in s.reach_label


def test_deleted_posts_are_excluded(fresh_store: Store, config: Config):
    p = post(1, "gone", at(24, 9), likes=50)
    fresh_store.write_posts([p, post(2, "kept", at(24, 9), likes=1)])
    fresh_store.mark_deleted(p.platform, p.platform_id)
    s = analysis.summary(fresh_store.conn, config.event, *day(config, 24))
    assert s.counts.posts == 1
    assert s.counts.likes == 1


def test_top_posts_and_voices(fresh_store: Store, config: Config):
    fresh_store.write_posts(
        [
            post(1, "small", at(24, 9), who=1, likes=1),
            post(2, "big", at(24, 9), who=2, likes=10, reposts=5, author=author(2, 10)),
            post(3, "medium", at(24, 9), who=1, likes=4),
            post(4, "also small", at(24, 9), who=1, likes=1),
            post(5, "famous but quiet", at(24, 9), who=3, author=author(3, 9000)),
        ]
    )
    top = analysis.top_posts(fresh_store.conn, config.event, *day(config, 24), n=2)
    assert [p.text for p in top] == ["big", "medium"]
    assert top[0].engagement == 15
    voices = analysis.top_voices(fresh_store.conn, config.event, *day(config, 24), n=2)
    assert [(v.handle, v.posts) for v in voices.by_posts] == [
        ("a1.bsky.social", 3),
        ("a2.bsky.social", 1),
    ]
    assert [(v.handle, v.engagement) for v in voices.by_engagement] == [
        ("a2.bsky.social", 15),
        ("a1.bsky.social", 6),
    ]
    assert [v.handle for v in voices.by_followers] == ["a3.bsky.social", "a1.bsky.social"]


def test_restricted_posts_are_counted_but_never_quoted(fresh_store: Store, config: Config):
    fresh_store.write_posts(
        [
            post(
                1, "private thoughts on asylum policy", at(24, 9), likes=99, no_unauthenticated=True
            ),
            post(2, "public post", at(24, 9), likes=1),
        ]
    )
    period = day(config, 24)
    assert analysis.summary(fresh_store.conn, config.event, *period).restricted_posts == 1
    assert [p.text for p in analysis.top_posts(fresh_store.conn, config.event, *period)] == [
        "public post"
    ]
    shown = analysis.top_posts(fresh_store.conn, config.event, *period, include_restricted=True)
    assert shown[0].restricted and shown[0].text == ""


def test_authors_of_restricted_posts_are_counted_but_never_named(
    fresh_store: Store, config: Config
):
    fresh_store.write_posts(
        [
            post(1, "private one", at(24, 9), who=1, likes=99, no_unauthenticated=True),
            post(2, "private two", at(24, 10), who=1, likes=50, no_unauthenticated=True),
            post(3, "public post", at(24, 9), who=2, likes=1),
        ]
    )
    period = day(config, 24)
    for voices in (
        analysis.top_voices(fresh_store.conn, config.event, *period),
        analysis.analyze(fresh_store.conn, config.event, *period).voices,
    ):
        for ranked in (voices.by_posts, voices.by_engagement, voices.by_followers):
            assert [v.handle for v in ranked] == ["a2.bsky.social"]
        assert voices.restricted_authors == 1
    assert analysis.summary(fresh_store.conn, config.event, *period).counts.unique_authors == 2
    shown = analysis.top_voices(fresh_store.conn, config.event, *period, include_restricted=True)
    assert [v.handle for v in shown.by_engagement] == ["a1.bsky.social", "a2.bsky.social"]
    assert shown.restricted_authors == 0


def test_mentions_platforms_hours_days(fresh_store: Store, config: Config):
    fresh_store.write_posts(
        [
            post(1, "a", at(24, 9, 5), mentions=("@Ana.bsky.social", "bob.bsky.social")),
            post(2, "b", at(24, 9, 55), mentions=("ana.bsky.social",)),
            post(3, "c", at(24, 22, 30), platform="mastodon"),  # 23:30 in Belgrade
        ]
    )
    conn, event = fresh_store.conn, config.event
    mentions = analysis.mentioned_accounts(conn, event, *day(config, 24))
    assert [(m.handle, m.posts) for m in mentions] == [
        ("ana.bsky.social", 2),
        ("bob.bsky.social", 1),
    ]
    platforms = analysis.per_platform(conn, event, *day(config, 24))
    assert [(p.platform, p.counts.posts) for p in platforms] == [("bluesky", 2), ("mastodon", 1)]
    hours = analysis.per_hour(conn, event, *day(config, 24))
    assert len(hours) == 24
    busy = {h.hour.hour: h.counts.posts for h in hours if h.counts.posts}
    assert busy == {10: 2, 23: 1}  # local hours (UTC+1)
    days = analysis.per_day(conn, event, day(config, 24)[0], day(config, 25)[1])
    assert [(d.day.day, d.counts.posts) for d in days] == [(24, 3), (25, 0)]


def test_sentiment_only_for_english_and_languages_detected(fresh_store: Store, sr_config: Config):
    fresh_store.write_posts(
        [
            post(1, "What a wonderful, inspiring panel! #HRHN2016", at(24, 9)),
            post(2, "This is a terrible, awful decision. #HRHN2016", at(24, 9)),
            # Tagged English by the platform, but Serbian: must get no English score.
            post(3, "Odlična diskusija o ljudskim pravima u Beogradu danas", at(24, 9), lang="en"),
            post(4, "Панел о слободи изражавања и правима избеглица", at(24, 9), lang="sr"),
        ]
    )
    assert enrich_pending(fresh_store, sr_config) == 4
    conn, event = fresh_store.conn, sr_config.event
    langs = {row["id"]: row for row in conn.execute("select * from posts")}
    assert langs[3]["lang_detected"] == "sr"
    assert langs[3]["sentiment_polarity"] is None
    assert langs[4]["lang_detected"] == "sr"
    assert langs[4]["sentiment_subjectivity"] is None
    s = analysis.sentiment(conn, event, *day(sr_config, 24))
    assert (s.scored, s.positive, s.negative, s.unscored) == (2, 1, 1, 2)
    languages = analysis.languages(conn, event, *day(sr_config, 24))
    assert [(lang.lang, lang.posts, lang.detected) for lang in languages] == [
        ("en", 2, 2),
        ("sr", 2, 2),
    ]


THEMES_DAY1 = [
    "Human rights defenders under pressure #HRHN2016 #Refugees",
    "Protecting human rights in Serbia #HRHN2016 #refugees",
    "The human right to asylum matters #HRHN2016 #refugee",
    "Press freedom is essential #HRHN2016 #media",
    "Great panel on press freedom #HRHN2016",
    "Climate justice is a human rights issue #HRHN2016",
]
THEMES_DAY0 = [
    "Climate justice now #HRHN2016",
    "Climate justice for all #HRHN2016",
    "Climate justice movement #HRHN2016",
    "Climate justice debate #HRHN2016",
    "Press freedom today #HRHN2016",
    "Press freedom matters #HRHN2016",
]


def _corpus(store: Store, config: Config) -> None:
    posts = []
    for i, text in enumerate(THEMES_DAY0):
        posts.append(post(100 + i, text, at(23, 10, i), hashtags=_tags(text)))
    for i, text in enumerate(THEMES_DAY1):
        posts.append(post(1 + i, text, at(24, 10, i), hashtags=_tags(text), likes=i))
    store.write_posts(posts)
    enrich_pending(store, config)


def _tags(text: str) -> tuple[str, ...]:
    return tuple(w[1:] for w in text.split() if w.startswith("#"))


def test_themes_ranked_merged_with_trends(fresh_store: Store, config: Config):
    _corpus(fresh_store, config)
    t = analysis.themes(fresh_store.conn, config.event, *day(config, 24), n=5)
    ranked = [(th.key, th.posts, th.previous_posts, th.trend) for th in t.phrases]
    # "Human rights" / "human right" merge across case and plural: 4 posts, new today.
    assert ranked[0] == ("human right", 4, 0, NEW)
    assert ("press freedom", 2, 2, STEADY) in ranked
    assert t.phrases[0].label == "human rights"
    # Climate justice: 4 posts yesterday, 1 today → fading, listed apart.
    assert [(f.key, f.posts, f.previous_posts, f.trend) for f in t.fading] == [
        ("climate justice", 1, 4, FADING)
    ]
    # Co-hashtags: tracked #HRHN2016 excluded; #Refugees/#refugee merged.
    assert [(h.key, h.posts, h.trend) for h in t.hashtags] == [("refugee", 3, NEW)]
    assert t.hashtags[0].label == "refugees"


def test_theme_examples_are_the_most_engaged_quotable_posts(fresh_store: Store, config: Config):
    _corpus(fresh_store, config)
    t = analysis.themes(fresh_store.conn, config.event, *day(config, 24), n=1, examples=2)
    examples = t.phrases[0].examples
    assert [e.text for e in examples] == [THEMES_DAY1[5], THEMES_DAY1[2]]


def test_trend_is_share_of_the_conversation(fresh_store: Store, config: Config):
    # Day 23: 10 posts, 2 on refugee policy, 4 on press freedom.
    # Day 24: 20 posts (twice as busy), 8 on refugee policy, 8 on press freedom.
    old = [post(100 + i, "Refugee policy now", at(23, 10, i)) for i in range(2)]
    old += [post(110 + i, "Press freedom now", at(23, 11, i)) for i in range(4)]
    old += [post(120 + i, "Hello", at(23, 12, i)) for i in range(4)]
    new = [post(1 + i, "Refugee policy now", at(24, 10, i)) for i in range(8)]
    new += [post(20 + i, "Press freedom now", at(24, 11, i)) for i in range(8)]
    new += [post(40 + i, "Hello", at(24, 12, i)) for i in range(4)]
    fresh_store.write_posts(old + new)
    enrich_pending(fresh_store, config)
    t = analysis.themes(fresh_store.conn, config.event, *day(config, 24))
    assert [(th.key, th.posts, th.previous_posts, th.trend) for th in t.phrases] == [
        ("press freedom", 8, 4, STEADY),  # doubled, like the whole conversation
        ("refugee policy", 8, 2, RISING),  # quadrupled: gaining share
    ]


def test_analyze_bundles_everything(fresh_store: Store, config: Config):
    _corpus(fresh_store, config)
    result = analysis.analyze(fresh_store.conn, config.event, *day(config, 24))
    assert result.summary.counts.posts == 6
    assert result.themes.phrases[0].key == "human right"
    assert result.top_posts[0].likes == 5
    assert result.sessions == []


def test_naive_period_is_refused(fresh_store: Store, config: Config):
    with pytest.raises(ValueError, match="timezone-aware"):
        analysis.summary(fresh_store.conn, config.event, datetime(2016, 11, 24), DAY2)


def test_engagement_growth_from_snapshots(fresh_store: Store, config: Config):
    p = post(1, "growing", at(24, 9), likes=1, collected_at=at(24, 9, 1))
    fresh_store.write_posts([p, post(2, "flat", at(24, 9), likes=2, collected_at=at(24, 9, 2))])
    fresh_store.update_engagement(
        p.platform, p.platform_id, likes=5, reposts=1, replies=0, quotes=0, at=at(24, 11, 30)
    )
    start, end = day(config, 24)
    growth = analysis.engagement_growth(fresh_store.conn, config.event, start, end)
    by_hour = {g.at.astimezone(UTC).hour: g.engagement for g in growth}
    assert by_hour[9] == 0  # the point at 09:00 UTC counts what was known before it
    assert by_hour[10] == 3
    assert by_hour[12] == 8
    assert growth[-1].posts_tracked == 2
    assert growth[-1].at.astimezone(UTC) == at(24, 12) + timedelta(0)


@pytest.fixture
def agenda_config(tmp_path: Path, config_dict: dict[str, Any]) -> Config:
    config_dict["event"]["sessions"] = [
        {
            "title": "Opening",
            "start": datetime(2016, 11, 24, 10, 0),  # local (UTC+1)
            "end": datetime(2016, 11, 24, 11, 0),
            "speakers": ["@ana.bsky.social"],
        },
        {
            "title": "Media freedom",
            "start": datetime(2016, 11, 24, 11, 0),
            "end": datetime(2016, 11, 24, 12, 30),
            "hashtags": ["#MediaPanel"],
            "room": "Hall B",
        },
    ]
    return parse_config(config_dict, path=tmp_path / "config.toml")


def test_session_attribution_hashtag_then_speaker_then_time(
    fresh_store: Store, agenda_config: Config
):
    fresh_store.write_posts(
        [
            # During Opening (09:30 UTC = 10:30 local) but tagged for the media panel.
            post(1, "Journalists speak out", at(24, 9, 30), hashtags=("HRHN2016", "mediapanel")),
            # During the media panel, but mentions the opening speaker.
            post(2, "Ana said it best", at(24, 10, 15), mentions=("@Ana.bsky.social",), likes=7),
            post(3, "Running late", at(24, 9, 5)),  # in Opening by time
            post(4, "Coffee break", at(24, 10, 45)),  # in Media freedom by time
            post(5, "Before anything", at(24, 7, 0)),  # no session
        ]
    )
    enrich_pending(fresh_store, agenda_config)
    stored = dict(fresh_store.conn.execute("select id, session from posts").fetchall())
    assert stored == {1: "Media freedom", 2: "Opening", 3: "Opening", 4: "Media freedom", 5: None}
    reports = analysis.sessions(fresh_store.conn, agenda_config.event, *day(agenda_config, 24))
    opening, media = reports
    assert (opening.title, opening.counts.posts, opening.by_speaker, opening.by_time) == (
        "Opening",
        2,
        1,
        1,
    )
    assert (media.counts.posts, media.by_hashtag, media.by_time, media.room) == (2, 1, 1, "Hall B")
    assert [p.text for p in opening.top_posts] == ["Ana said it best", "Running late"]
    assert opening.top_posts[0].session == "Opening"


def test_trend_labels_need_a_real_change():
    from tagwatch.reports.themes import trend

    assert trend(3, 0) == NEW
    assert trend(5, 2) == RISING
    assert trend(2, 1) == STEADY  # doubled, but by one post only
    assert trend(1, 4) == FADING
    assert trend(4, 4) == STEADY
    assert trend(8, 4, scale=2.0) == STEADY  # the whole conversation doubled
    assert trend(4, 4, scale=3.0) == FADING  # kept its posts, lost its share


def test_theme_examples_never_quote_restricted_posts(fresh_store: Store, config: Config):
    fresh_store.write_posts(
        [
            post(1, "Refugee policy debate", at(24, 10), likes=50, no_unauthenticated=True),
            post(2, "Refugee policy matters", at(24, 10, 1), likes=1),
            post(3, "Refugee policy now", at(24, 10, 2), likes=2),
        ]
    )
    enrich_pending(fresh_store, config)
    t = analysis.themes(fresh_store.conn, config.event, *day(config, 24))
    assert t.phrases[0].key == "refugee policy"
    assert t.phrases[0].posts == 3  # counted…
    assert [e.id for e in t.phrases[0].examples] == [3, 2]  # …never quoted


def test_languages_fall_back_to_the_platform_tag_before_enrichment(
    fresh_store: Store, config: Config
):
    fresh_store.write_posts(
        [post(1, "x", at(24, 9), lang="pt-BR"), post(2, "y", at(24, 9), lang=None)]
    )
    langs = analysis.languages(fresh_store.conn, config.event, *day(config, 24))
    assert [(lang.lang, lang.posts, lang.detected) for lang in langs] == [
        ("pt", 1, 0),
        ("und", 1, 0),
    ]


def test_a_phrase_only_seen_inside_a_longer_one_is_shown_once(fresh_store: Store, config: Config):
    texts = ["Protect human rights defenders"] * 3 + ["Human rights matter here"] * 2
    fresh_store.write_posts([post(i + 1, t, at(24, 10, i)) for i, t in enumerate(texts)])
    enrich_pending(fresh_store, config)
    t = analysis.themes(fresh_store.conn, config.event, *day(config, 24))
    keys = [(th.key, th.posts) for th in t.phrases]
    # "rights defenders" occurs only inside "human rights defenders": dropped.
    # "human rights" (5 posts) is more than its longer form (3): kept.
    assert ("human right", 5) in keys and ("human rights defender", 3) in keys
    assert all(k != "rights defender" for k, _ in keys)


def test_engagement_growth_counts_a_last_snapshot_on_a_step_boundary(
    fresh_store: Store, config: Config
):
    # The only snapshot is at 10:00:00 exactly, an hourly boundary from a midnight start.
    fresh_store.write_posts(
        [post(1, "on the hour", at(24, 9, 30), likes=4, collected_at=at(24, 10))]
    )
    start = at(24, 0)
    growth = analysis.engagement_growth(
        fresh_store.conn, config.event, start, start + timedelta(days=1)
    )
    assert growth[-1].posts_tracked == 1
    assert growth[-1].likes == 4
    # Points still count what was known before them: the 10:00 point has not seen it yet.
    assert [g.at.astimezone(UTC) for g in growth[-2:]] == [at(24, 10), at(24, 11)]
    assert growth[-2].posts_tracked == 0
    # An explicit `until` still ends the series at the first point at or after it.
    cut = analysis.engagement_growth(
        fresh_store.conn, config.event, start, start + timedelta(days=1), until=at(24, 10)
    )
    assert cut[-1].at.astimezone(UTC) == at(24, 10)
    assert cut[-1].posts_tracked == 0


def test_a_period_reuses_the_period_before_only_when_it_is_the_same_length(
    fresh_store: Store, config: Config
):
    fresh_store.write_posts(
        [post(1, "day before", at(23, 12)), post(2, "two days before", at(22, 12))]
    )
    conn, event = fresh_store.conn, config.event
    start, end = day(config, 24)
    length = end - start
    before = analysis.Period(conn, event, start - length, start)
    assert analysis.Period(conn, event, start, end, before=before).previous() is before.rows
    # A day before of another length (a DST change) is not the same-length period: load it.
    longer = analysis.Period(conn, event, start - 2 * length, start)
    ids = [r[0] for r in analysis.Period(conn, event, start, end, before=longer).previous()]
    assert ids == [1]
