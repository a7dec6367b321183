"""The simulated event behind the demo: reproducible and shaped like a real assembly."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from tagwatch.collectors.fakes.simulation import ALT_TEXTS, THEMES, simulate_event


def test_same_seed_same_event():
    a = simulate_event(seed=7, n_posts=300, n_authors=60)
    b = simulate_event(seed=7, n_posts=300, n_authors=60)
    assert [(p.key, p.text, p.created_at) for p in a.posts] == [
        (p.key, p.text, p.created_at) for p in b.posts
    ]
    c = simulate_event(seed=8, n_posts=300, n_authors=60)
    assert [p.text for p in a.posts] != [p.text for p in c.posts]


def test_event_has_the_variety_tagwatch_must_handle():
    ev = simulate_event(n_posts=3000)
    assert len(ev.posts) == 3000
    assert {p.platform for p in ev.posts} == {"bluesky", "mastodon", "x", "threads", "instagram"}
    instagram = ev.by_platform("instagram")
    assert instagram and all(p.media_count >= 1 and p.reply_to is None for p in instagram)
    assert not any(p.repost_of for p in ev.by_platform("threads"))
    langs = Counter(p.lang for p in ev.posts)
    assert {"en", "sr", "pl", "hu", "hr", "az", "no"} <= set(langs)
    # Serbian in both scripts
    sr_texts = [p.text for p in ev.posts if p.lang == "sr"]
    assert any(any("\u0400" <= c <= "\u04ff" for c in t) for t in sr_texts)
    assert any(all(not "\u0400" <= c <= "\u04ff" for c in t) for t in sr_texts)
    assert any(p.reply_to for p in ev.posts)
    assert any(p.quote_of for p in ev.posts)
    assert any(p.repost_of for p in ev.posts)
    assert any(p.deleted_at for p in ev.posts)
    assert any(p.troll for p in ev.posts)
    assert all("#" in p.text for p in ev.posts)


def test_about_a_fifth_of_the_posts_carry_pictures_with_alt_text_in_two_languages():
    ev = simulate_event(n_posts=3000, raid=True)
    originals = [p for p in ev.posts if p.repost_of is None]
    with_media = [p for p in originals if p.media]
    assert 0.15 < len(with_media) / len(originals) < 0.3
    assert all(p.media_count == len(p.media) for p in with_media)
    media = [m for p in with_media for m in p.media]
    assert {m.kind for m in media} == {"image", "video", "gif"}
    alts = [m.alt for m in media if m.alt]
    assert 0 < len(alts) < len(media)  # some pictures have none
    assert any(a in ALT_TEXTS["sr"] for a in alts) and any(a in ALT_TEXTS["en"] for a in alts)
    assert any(p.sensitive and p.media[0].kind == "image" for p in with_media)
    assert len({m.name for m in media}) == len(media)
    # The raid's accounts were made days before it; most others long before.
    raiders = [a for a in ev.authors if a.key.startswith("r")]
    assert raiders and all(
        a.account_age_days is not None and a.account_age_days < 4 for a in raiders
    )
    assert sum(a.has_avatar for a in ev.authors) > len(ev.authors) / 2


def test_rhythm_has_quiet_nights_and_session_peaks():
    ev = simulate_event(n_posts=3000)
    local_hours = Counter(p.created_at.astimezone(ev.tz).hour for p in ev.posts)
    assert local_hours[3] < local_hours[14] / 10  # night vs session afternoon


def test_themes_rise_and_fade():
    ev = simulate_event(n_posts=3000)
    per_day = Counter(
        ((p.created_at.astimezone(ev.tz).date() - ev.start).days, p.theme) for p in ev.posts
    )
    release, civil = "release of imprisoned colleagues", "civil society space"
    assert set(THEMES) >= {release, civil}
    assert per_day[(0, release)] > per_day[(2, release)]
    assert per_day[(2, civil)] > per_day[(0, civil)]


def test_engagement_grows_after_posting():
    ev = simulate_event(n_posts=500)
    post = max(ev.posts, key=lambda p: p.final_likes)
    early = post.engagement_at(post.created_at + timedelta(minutes=10))["likes"]
    late = post.engagement_at(post.created_at + timedelta(days=2))["likes"]
    assert 0 <= early < late <= post.final_likes
    assert post.engagement_at(post.created_at - timedelta(seconds=1))["likes"] == 0


def test_relations_point_to_earlier_posts_on_the_same_platform():
    ev = simulate_event(n_posts=2000)
    by_key = {p.key: p for p in ev.posts}
    for p in ev.posts:
        for rel in (p.reply_to, p.quote_of, p.repost_of):
            if rel:
                assert by_key[rel].created_at <= p.created_at
                assert by_key[rel].platform == p.platform
