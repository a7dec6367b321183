"""Help against waves (issue 21): hold rules, preset word lists, allow-list mode.

Through the wall app (Starlette's test client) over a real store: a held post is off the
wall in post-moderation, its "held: …" reason reaches the moderation API, and an approval
releases it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.errors import ConfigError
from tagwatch.records import Author
from tagwatch.reports.wall.feed import WallFeed
from tagwatch.reports.wall.presets import available_languages, preset_for, words_of
from tagwatch.reports.wall.rules import WallRules, WordFilter
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store, connect
from tests.conftest import make_post
from tests.wall_support import caught_up

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

TOKEN = "test-token-holds-9a2e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2016, 11, 24, 13, 20, tzinfo=UTC)
T0 = datetime(2016, 11, 24, 10, 0, tzinfo=UTC)
SPEAKER = "speaker.bsky.social"

Wall = Callable[..., tuple[TestClient, Store]]


@pytest.fixture
def wall(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Wall]:
    """Factory: a wall app over a fresh store; keyword arguments are [wall] settings."""
    opened: list[tuple[TestClient, Store]] = []

    def make(
        *, languages: list[str] | None = None, protected: list[str] | None = None, **settings: Any
    ) -> tuple[TestClient, Store]:
        monkeypatch.setenv("TAGWATCH_WALL_TOKEN", TOKEN)
        config_dict["wall"] = {"moderation": "post", **settings}
        if languages is not None:
            config_dict["event"]["languages"] = languages
        if protected is not None:
            config_dict["alerts"] = {"protected_accounts": protected}
        config_dict["event"]["sessions"] = [
            {
                "title": "Defenders under pressure",
                "start": datetime(2016, 11, 24, 9, 0),
                "end": datetime(2016, 11, 24, 18, 0),
                "speakers": ["@Speaker.bsky.social"],
            }
        ]
        config = parse_config(config_dict, path=tmp_path / "config.toml")
        store = Store.open(config.db_path)
        client = TestClient(create_app(config))
        client.__enter__()
        opened.append((client, store))
        return client, store

    yield make
    for client, store in opened:
        client.__exit__(None, None, None)
        store.close()


def create_app(config: Any) -> Any:
    from tagwatch.reports.wall.app import create_app as create

    return create(config, now=lambda: NOW, poll_interval=0.02)


def shown(client: TestClient) -> set[int]:
    caught_up(client)  # the wall answers from memory: wait for the hub's next poll
    return {p["id"] for p in client.get("/api/wall").json()["show"]}


def queue(client: TestClient) -> dict[int, str | None]:
    """The moderation page's waiting queue: id -> the reason shown to moderators.

    In post-moderation that is only what the rules hold back (posts on the wall, and posts
    blocked words hide, have nothing to decide).
    """
    body = client.get("/api/moderation/posts", headers=AUTH).json()
    return {p["id"]: p["reason"] for p in body["posts"]}


def reason_of(client: TestClient, post_id: int) -> str | None:
    """The reason the moderation page gives for any post (its "All" list)."""
    body = client.get("/api/moderation/posts?show=all", headers=AUTH).json()
    return {p["id"]: p["reason"] for p in body["posts"]}[post_id]


def approve(client: TestClient, post_id: int, action: str = "approve") -> None:
    r = client.post(
        "/api/moderation/action", json={"action": action, "post_id": post_id}, headers=AUTH
    )
    assert r.status_code == 200, r.text


def store_post(store: Store, n: int, **overrides: Any) -> int:
    return store.write_posts([make_post(n, **overrides)]).new_ids[0]


def author(n: int, created: datetime | None = None, handle: str | None = None) -> Author:
    return Author(
        f"did:plc:author{n}",
        handle or f"author{n}.bsky.social",
        f"Author {n}",
        10,
        account_created_at=created,
    )


# -- hold rules in post-moderation ------------------------------------------------------


def test_young_account_is_held_with_its_age_and_approval_releases_it(wall):
    client, store = wall(hold_new_accounts_days=7)
    young = store_post(store, 1, author=author(1, T0 - timedelta(days=3, hours=2)), created_at=T0)
    newborn = store_post(store, 2, author=author(2, T0 - timedelta(hours=5)), created_at=T0)
    old = store_post(store, 3, author=author(3, T0 - timedelta(days=400)), created_at=T0)
    assert shown(client) == {old}
    reasons = queue(client)
    assert reasons[young] == "held: account 3 days old"
    assert reasons[newborn] == "held: account less than a day old"
    # post-moderation: on the wall at once, so not in the queue (nothing to decide)
    assert old not in reasons and reason_of(client, old) is None
    approve(client, young)
    assert shown(client) == {young, old}


def test_unknown_account_age_is_not_held_unless_configured(wall):
    client, store = wall(hold_new_accounts_days=7)
    unknown = store_post(store, 1, author=author(1, None))
    assert unknown in shown(client)
    client, store = wall(hold_new_accounts_days=7, hold_unknown_account_age=True)
    assert unknown not in shown(client)
    assert queue(client)[unknown] == "held: account age unknown"


def test_account_age_is_judged_when_the_account_posted(wall):
    """A post made by a then-young account stays held however old the account is now."""
    client, store = wall(hold_new_accounts_days=2)
    created = T0 - timedelta(days=1)
    early = store_post(store, 1, author=author(1, created), created_at=T0)
    later = store_post(store, 2, author=author(1, created), created_at=T0 + timedelta(days=2))
    assert shown(client) == {later}
    assert queue(client)[early] == "held: account 1 day old"


def test_more_than_n_links_is_held(wall):
    client, store = wall(hold_links_over=3)
    links = tuple(f"https://example.org/{i}" for i in range(4))
    many = store_post(store, 1, links=links)
    few = store_post(store, 2, links=links[:3])
    assert shown(client) == {few}
    assert queue(client)[many] == "held: 4 links"
    approve(client, many)
    assert shown(client) == {few, many}


def test_hold_word_holds_while_blocked_word_hides_whatever_a_moderator_does(wall):
    client, store = wall(hold_words=["Izdajnik"], blocked_words=["traitor"])
    held = store_post(store, 1, text="Ti si IZDAJNIK #HRHN2016")
    hidden = store_post(store, 2, text="You traitor #HRHN2016")
    clean = store_post(store, 3)
    assert shown(client) == {clean}
    reasons = queue(client)
    assert reasons[held] == "held: word 'izdajnik'"
    assert hidden not in reasons and reason_of(client, hidden) == "blocked word: traitor"
    approve(client, held)
    approve(client, hidden)
    assert shown(client) == {clean, held}  # approval beats a hold, never a blocked word


def test_post_moderation_queue_is_what_waits_for_a_decision(wall):
    # On the wall already, or hidden by a blocked word whatever anyone does: nothing to
    # decide. Held or sensitive: the moderators' queue, oldest first.
    client, store = wall(hold_words=["izdajnik"], blocked_words=["traitor"])
    on_wall = store_post(store, 1)
    held = store_post(store, 2, text="Izdajnik! #HRHN2016")
    sensitive = store_post(store, 3, sensitive=True)
    hopeless = store_post(store, 4, text="You traitor #HRHN2016", sensitive=True)
    assert shown(client) == {on_wall}
    body = client.get("/api/moderation/posts", headers=AUTH).json()
    assert [p["id"] for p in body["posts"]] == [held, sensitive] and body["count"] == 2
    assert {p["id"]: p["reason"] for p in body["posts"]} == {
        held: "held: word 'izdajnik'",
        sensitive: "sensitive: needs approval",
    }
    assert reason_of(client, hopeless) == "blocked word: traitor"
    approve(client, held)
    assert list(queue(client)) == [sensitive]


def test_hide_and_block_win_over_an_approved_hold(wall):
    client, store = wall(hold_links_over=1)
    a = store_post(store, 1, links=("https://a.example", "https://b.example"))
    b = store_post(store, 2, links=("https://a.example", "https://b.example"))
    approve(client, a)
    approve(client, b)
    assert shown(client) == {a, b}
    approve(client, a, "hide")
    approve(client, b, "block")
    assert shown(client) == set()


def test_holds_apply_in_pre_moderation_too_and_name_themselves(wall):
    client, store = wall(moderation="pre", hold_links_over=1)
    held = store_post(store, 1, links=("https://a.example", "https://b.example"))
    waiting = store_post(store, 2)
    reasons = queue(client)
    assert reasons[held] == "held: 2 links"
    assert reasons[waiting] == "waiting for approval"


# -- replies to speakers per hour -----------------------------------------------------------


def speaker_post(store: Store) -> tuple[int, str]:
    speaker = Author("did:plc:speaker", SPEAKER, "The Speaker", 5000)
    post = make_post(99, author=speaker, created_at=T0 - timedelta(hours=3))
    return store.write_posts([post]).new_ids[0], post.platform_id


def reply(store: Store, n: int, minute: float, parent: str, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "author": author(1),
        "created_at": T0 + timedelta(minutes=minute),
        "reply_to": parent,
        "text": f"Reply {n} #HRHN2016",
    }
    fields.update(overrides)
    return store_post(store, n, **fields)


def test_the_sixth_reply_to_a_speaker_within_an_hour_is_held(wall):
    client, store = wall(hold_replies_per_hour=5)
    _, parent = speaker_post(store)
    elsewhere = "at://did:plc:unknown/app.bsky.feed.post/gone"  # a parent not stored
    # Parent-by-speaker and mention forms count alike.
    ids = [reply(store, 1, 0, parent), reply(store, 2, 5, parent)]
    ids += [reply(store, n, 5 * n, elsewhere, mentions=(f"@{SPEAKER}",)) for n in (3, 4, 5)]
    sixth = reply(store, 6, 30, parent)
    other_author = reply(store, 7, 31, parent, author=author(2))
    not_to_speaker = reply(store, 8, 32, elsewhere, mentions=("@someone.bsky.social",))
    assert shown(client) >= {*ids, other_author, not_to_speaker}
    assert sixth not in shown(client)
    assert queue(client)[sixth] == f"held: 6th reply to @{SPEAKER} this hour"
    # The hour before minute 66 holds the replies from minute 15 on (the held one too):
    # this is the 5th within it, and the next one the 6th.
    later = reply(store, 9, 66, parent)
    assert later in shown(client)
    seventh = reply(store, 10, 67, parent)
    assert queue(client)[seventh] == f"held: 6th reply to @{SPEAKER} this hour"
    approve(client, sixth)
    assert sixth in shown(client)


def test_a_reply_exactly_an_hour_later_starts_a_new_hour(wall):
    client, store = wall(hold_replies_per_hour=1)
    _, parent = speaker_post(store)
    first = reply(store, 1, 0, parent)
    hour_later = reply(store, 2, 60, parent)
    same_minute = reply(store, 3, 60, parent)  # same time, later id: counted after it
    assert {first, hour_later} <= shown(client)
    assert queue(client)[same_minute] == f"held: 2nd reply to @{SPEAKER} this hour"


def test_reply_counts_are_the_same_after_a_restart(wall, tmp_path):
    """`load()` judges in batches what `poll()` judged post by post: the same answer."""
    client, store = wall(hold_replies_per_hour=2, protected=["@ngo.example"])
    _, parent = speaker_post(store)
    for n in range(1, 5):
        reply(store, n, n, "at://elsewhere/1", mentions=("ngo.example",))
    reply(store, 5, 5, parent)
    on_wall = shown(client)
    feed = WallFeed(connect(store.path, readonly=True), client.app.state.feed.rules)
    try:
        assert {i for i in range(1, 200) if feed.is_visible(i)} == on_wall
    finally:
        feed.conn.close()
    held = queue(client)  # the 3rd, 4th and 5th, and nothing on the wall
    assert len(held) == 3 and not set(held) & on_wall


def test_reply_rule_needs_speakers_and_is_off_by_default(wall):
    client, store = wall()
    _, parent = speaker_post(store)
    ids = [reply(store, n, n, parent) for n in range(1, 9)]
    assert set(ids) <= shown(client)


# -- preset word lists --------------------------------------------------------------------


def test_preset_lists_cover_the_event_languages_that_have_one():
    preset = preset_for(["sr", "en", "hr", "EN", "de-AT"])
    assert preset.covered == ("en", "de")
    assert preset.missing == ("sr", "hr")
    assert "bollocks" in preset.words and set(words_of("de")) <= set(preset.words)
    assert "en" in available_languages() and "sr" not in available_languages()
    for lang in available_languages():  # every bundled list says where it comes from
        assert words_of(lang), lang


def test_preset_words_are_held_by_default_hidden_or_off_as_configured(wall):
    client, store = wall(languages=["sr", "en"])
    crude = store_post(store, 1, text="What bollocks #HRHN2016")
    clean = store_post(store, 2)
    assert shown(client) == {clean}
    assert queue(client)[crude] == "held: word 'bollocks'"
    client, _ = wall(languages=["sr", "en"], preset_words="hide")
    assert reason_of(client, crude) == "blocked word: bollocks"
    client, _ = wall(languages=["sr", "en"], preset_words="off")
    assert shown(client) == {crude, clean}


def test_each_preset_list_applies_to_posts_in_its_language(wall):
    """ "puta" is crude in Portuguese and means "times" in Croatian."""
    client, store = wall(languages=["hr", "pt", "en"])
    croatian = store_post(store, 1, text="Tisuću puta hvala! #HRHN2016", lang="hr")
    portuguese = store_post(store, 2, text="Que puta vergonha #HRHN2016", lang="pt")
    unknown = store_post(store, 3, text="Tisuću puta #HRHN2016", lang=None)
    undetermined = store_post(store, 5, text="puta #HRHN2016", lang="und")  # X's "undetermined"
    english_in_croatian = store_post(store, 4, text="Bollocks, kolega #HRHN2016", lang="hr")
    assert croatian in shown(client)
    reasons = queue(client)
    assert reasons[portuguese] == reasons[unknown] == reasons[undetermined] == "held: word 'puta'"
    assert reasons[english_in_croatian] == "held: word 'bollocks'"  # English travels


def test_a_language_without_a_list_is_named_at_start_and_nothing_is_preset(wall, caplog):
    with caplog.at_level(logging.WARNING, logger="tagwatch.wall"):
        client, store = wall(languages=["sr"])
    assert "no preset word list for sr" in caplog.text
    post = store_post(store, 1, text="What bollocks #HRHN2016")  # English list not loaded
    assert post in shown(client)


def test_word_filter_with_long_lists_matches_whole_words_longest_first():
    f = WordFilter(["ass", "asshole", "go home", "a$$"])
    assert f.match("ASSHOLE!") == "asshole"
    assert f.match("an ass.") == "ass"
    assert f.match("the assembly") is None
    assert f.match("assholes") is None
    assert f.match("go\n home") == "go home"
    assert f.match("you a$$") == "a$$"
    big = WordFilter(words_of("en"))
    assert all(big.match(f"x {w} y") == w for w in big.words if w[0].isalnum())


# -- allow-list mode ------------------------------------------------------------------------


def test_trusted_authors_show_at_once_and_everyone_else_is_queued(wall):
    client, store = wall(
        moderation="pre",
        trusted_authors=["@Author1.bsky.social", "mastodon:author3.bsky.social"],
        hold_links_over=1,
    )
    trusted = store_post(store, 1, links=("https://a.example", "https://b.example"))
    other = store_post(store, 2)
    same_handle_other_platform = store_post(store, 3)
    assert shown(client) == {trusted}  # pre-moderation and a hold rule: trusted skip both
    reasons = queue(client)
    assert reasons[other] == "held: not a trusted author"
    assert reasons[same_handle_other_platform] == "held: not a trusted author"
    approve(client, other)
    assert shown(client) == {trusted, other}
    approve(client, trusted, "hide")
    assert shown(client) == {other}


def test_trusted_authors_queue_others_in_post_moderation_too(wall):
    client, store = wall(trusted_authors=["author1.bsky.social"], blocked_words=["traitor"])
    trusted = store_post(store, 1)
    blocked_word = store_post(store, 3, text="traitor #HRHN2016")
    other = store_post(store, 2)
    assert shown(client) == {trusted}
    assert queue(client)[other] == "held: not a trusted author"
    assert reason_of(client, blocked_word) == "blocked word: traitor"


def test_speakers_are_trusted_only_when_asked(wall):
    client, store = wall(trusted_authors=["author1.bsky.social"])
    speaker, _ = speaker_post(store)
    assert speaker not in shown(client)
    client, store = wall(trusted_authors=["author1.bsky.social"], trust_speakers=True)
    assert speaker in shown(client)


# -- config errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"trusted_authors": ["facebook:ana"]},
            "wall.trusted_authors entry 'facebook:ana' is not a handle; write it as"
            ' "ana.bsky.social", "@ana" or "bluesky:ana.bsky.social"',
        ),
        ({"trusted_authors": ["@"]}, "wall.trusted_authors entry '@' is not a handle"),
        ({"trusted_authors": ["ana smith"]}, "wall.trusted_authors entry 'ana smith'"),
        ({"preset_words": "block"}, "wall.preset_words must be 'hold', 'hide' or 'off'"),
        ({"hold_links_over": -1}, "wall.hold_links_over must be 0 (rule off) or more, got -1"),
        ({"hold_new_accounts_days": -3}, "wall.hold_new_accounts_days must be 0 (rule off)"),
        ({"hold_replies_per_hour": -1}, "wall.hold_replies_per_hour must be 0 (rule off)"),
        ({"hold_words": "idiot"}, "wall.hold_words must be a list of str"),
    ],
)
def test_config_errors_name_the_setting_and_the_fix(config_dict, tmp_path, settings, message):
    config_dict["wall"] = settings
    with pytest.raises(ConfigError) as err:
        parse_config(config_dict, path=tmp_path / "config.toml")
    assert message in str(err.value)
    assert str(tmp_path / "config.toml") in str(err.value)


def test_rules_from_config_keep_hold_and_hide_lists_apart(config_dict, tmp_path):
    config_dict["event"]["languages"] = ["en"]
    config_dict["wall"] = {"hold_words": ["xyz"], "blocked_words": ["abc"]}
    rules = WallRules.from_config(parse_config(config_dict, path=tmp_path / "c.toml"), token="t")
    assert rules.words.match("abc") == "abc" and rules.words.match("bollocks") is None
    assert rules.holds.words.match("xyz") == "xyz" and rules.holds.words.match("bollocks") is None
    assert rules.preset.match("en", "bollocks") == "bollocks" and rules.preset_words == "hold"
