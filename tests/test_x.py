"""The X collector: parsing recorded v2 pages, and the real tweepy client against the fake API.

Time is a hand-moved clock shared by the collector and the fake server, so
rate-limit resets, UTC billing days and the 7-day search window are exact.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from tagwatch.collectors.cursor import Cursor
from tagwatch.collectors.fakes.simulation import simulate_event
from tagwatch.collectors.fakes.x import FakeX, make_tweet, snowflake
from tagwatch.collectors.x import (
    EXPANSIONS,
    XCollector,
    lookup_errors,
    make_client,
    parse_page,
    snowflake_time,
)
from tagwatch.collectors.x.budget import budget_state, budget_warning, record_reads, worst_case
from tagwatch.errors import ConfigError, MalformedResponse
from tagwatch.monitor.cli import cli
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store
from tests.conftest import RECORDED

TOKEN = "test-bearer-9f3a"
TWITTER = RECORDED / "twitter"
SEARCH = "/2/tweets/search/recent"
QUERY = "#HRHN2016 -is:retweet"


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2016, 11, 25, 12, 0, tzinfo=UTC))


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeX]:
    with FakeX(bearer_token=TOKEN, now=clock) as server:
        yield server


@pytest.fixture
def x_config(
    config_dict: dict[str, Any], tmp_path: Path, fake: FakeX, monkeypatch: pytest.MonkeyPatch
) -> Config:
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", TOKEN)
    config_dict["x"] = {"enabled": True, "api_base_url": fake.url}
    return parse_config(config_dict, path=tmp_path / "config.toml")


def with_x(config: Config, section: str = "x", **values: Any) -> Config:
    """The same config with some keys of one section changed."""
    raw = copy.deepcopy(config.raw)
    raw.setdefault(section, {}).update(values)
    return parse_config(raw, path=config.path)


def populate(fake: FakeX, clock: Clock, n: int, *, tag: str = "HRHN2016", minutes_ago: int = 0):
    """n posts with the tag, one a minute, newest `minutes_ago` before the clock."""
    author = fake.add_user("2244994945", "hrhn", "Human Rights House", followers=5120)
    tweets = []
    for i in range(n):
        at = clock() - timedelta(minutes=minutes_ago + n - i)
        tweets.append(
            fake.add_tweet(
                make_tweet(
                    snowflake(at, i), f"Post {i} from Belgrade #{tag}", author, created_at=at
                )
            )
        )
    return tweets


def collector(config: Config, store: Store, clock: Clock, sleeps: list[float] | None = None):
    return XCollector(
        config, store, now=clock, sleep=(sleeps.append if sleeps is not None else lambda s: None)
    )


def count(store: Store, sql: str, *params: object) -> int:
    return store.conn.execute(sql, params).fetchone()[0]


# -- parsing recorded pages ---------------------------------------------------------


def test_recorded_search_page_joins_authors_from_includes():
    page = json.loads((TWITTER / "search_recent_tweets_hashtag_brexit_page1.body.json").read_text())
    users = {u["id"]: u for u in page["includes"]["users"]}
    at = datetime(2021, 9, 22, 17, tzinfo=UTC)
    posts = parse_page(page, collected_at=at)
    assert len(posts) == len(page["data"]) == 100
    for post, tweet in zip(posts, page["data"], strict=True):
        user = users[tweet["author_id"]]
        assert post.platform_id == tweet["id"]
        assert post.author.handle == user["username"]
        assert post.author.followers == user["public_metrics"]["followers_count"]
        assert post.url == f"https://x.com/{user['username']}/status/{tweet['id']}"
        assert post.likes == tweet["public_metrics"]["like_count"]
    first = posts[0]
    assert first.hashtags == ("peoplesvote", "brexit")
    assert first.created_at == datetime(2021, 9, 22, 16, 37, 29, tzinfo=UTC)
    retweets = [p for p in posts if p.repost_of]
    assert len(retweets) == 67 and all(p.text == "" for p in retweets)
    quotes = [p for p in posts if p.quote_of]
    assert len(quotes) == 11 and all(p.text for p in quotes)
    assert sum(1 for p in posts if p.reply_to) == 10
    assert sum(p.media_count for p in posts) >= 1


def test_retweet_is_a_relation_and_the_tagged_original_is_kept():
    page = json.loads((TWITTER / "search_all_tweets_hashtag_POIUYTREWQ.body.json").read_text())
    posts = parse_page(page, collected_at=datetime(2021, 5, 19, tzinfo=UTC), tags={"poiuytrewq"})
    retweet, original = posts
    assert retweet.repost_of == original.platform_id == "1391677057810288641"
    assert retweet.text == "" and retweet.author.handle == "LachiVeronica"
    assert retweet.mentions == ("bibaigna96",)
    assert original.text == "#POIUYTREWQ" and original.author.handle == "bibaigna96"
    assert original.lang is None  # "und"


def test_links_are_expanded_and_impressions_become_views(fake: FakeX, clock: Clock):
    user = fake.add_user("1", "maja", followers=10)
    tweet = make_tweet(
        snowflake(clock()),
        "Report out https://t.co/abc #HRHN2016 @hrhn",
        user,
        created_at=clock(),
        urls=["https://humanrightshouse.org/report"],
        impressions=4321,
    )
    (post,) = parse_page({"data": [tweet], "includes": {"users": [user]}}, collected_at=clock())
    assert post.links == ("https://humanrightshouse.org/report",)
    assert post.mentions == ("hrhn",)
    assert post.views == 4321
    (no_views,) = parse_page({"data": [dict(tweet, public_metrics={})]}, collected_at=clock())
    assert no_views.views is None
    assert no_views.author.handle == "1"  # user missing from includes: named by id


def test_withheld_posts_are_kept_with_where_they_are_withheld(fake: FakeX, clock: Clock):
    user = fake.add_user("1", "maja")
    withheld = {"copyright": False, "country_codes": ["DE", "FR"]}
    tweet = make_tweet(snowflake(clock()), "#HRHN2016", user, created_at=clock(), withheld=withheld)
    (post,) = parse_page({"data": [tweet], "includes": {"users": [user]}}, collected_at=clock())
    assert post.text == "#HRHN2016"
    assert post.raw is not None and post.raw["withheld"] == withheld
    assert post.raw["author"]["username"] == "maja"


def test_a_page_without_ids_is_malformed():
    with pytest.raises(MalformedResponse, match="without a usable id"):
        parse_page({"data": [{"text": "hi"}]}, collected_at=datetime(2016, 11, 25, tzinfo=UTC))
    with pytest.raises(MalformedResponse, match="JSON object"):
        parse_page([], collected_at=datetime(2016, 11, 25, tzinfo=UTC))  # type: ignore[arg-type]


def test_lookup_errors_name_deleted_and_hidden_posts():
    page = {
        "errors": [
            {
                "value": "1",
                "parameter": "ids",
                "resource_id": "1",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            },
            {
                "value": "2",
                "parameter": "ids",
                "resource_id": "2",
                "type": "https://api.twitter.com/2/problems/not-authorized-for-resource",
            },
            {"value": "3", "parameter": "expansions", "type": "other"},
        ]
    }
    assert lookup_errors(page) == {"1": "deleted", "2": "not authorized"}


def test_snowflake_ids_carry_their_time():
    at = datetime(2016, 11, 25, 9, 30, tzinfo=UTC)
    assert abs(snowflake_time(snowflake(at, 7)) - at) < timedelta(milliseconds=1)
    assert snowflake_time("1578516068309794817").date().isoformat() == "2022-10-07"


# -- the collector against the fake, with the real tweepy client ----------------------


def test_the_fake_answers_in_the_recorded_shape(x_config, fake, clock):
    """Default fields, meta keys and rate-limit headers as in tweepy's own recording."""
    recorded = json.loads((TWITTER / "search_recent_tweets_query_Tweepy.exchange.json").read_text())
    want = recorded[0]["response"]
    populate(fake, clock, 15, tag="Tweepy")
    client = make_client(x_config)
    client.return_type = requests.Response
    got = client.search_recent_tweets("#Tweepy")
    body = got.json()
    assert got.status_code == want["status"]
    assert {k for k in want["headers"] if k.startswith("x-rate-limit")} <= set(got.headers)
    assert set(body) == set(want["body"])
    assert set(body["meta"]) == set(want["body"]["meta"])
    assert [set(t) for t in body["data"]] == [set(t) for t in want["body"]["data"]]


def test_pages_through_next_token_with_all_fields(x_config, store, fake, clock):
    populate(fake, clock, 250)
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "ok", record.error
    assert record.new_posts == 250
    calls = fake.requests_to(SEARCH)
    assert len(calls) == 3
    first, second, third = (c.params for c in calls)
    assert first["query"] == QUERY and first["max_results"] == "100"
    assert "next_token" not in first and second["next_token"] and third["next_token"]
    # Only what tagwatch uses: X bills every object a page includes.
    assert first["expansions"] == "author_id"
    assert {"created_at", "public_metrics", "entities", "possibly_sensitive", "attachments"} <= set(
        first["tweet.fields"].split(",")
    )
    assert first["user.fields"] == "username,name,public_metrics,profile_image_url,created_at"
    assert "media.fields" not in first  # [x] media off: no media asked, none billed
    assert first["start_time"] == "2016-11-23T23:00:00Z"  # event's first local day, Belgrade
    assert calls[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Tweepy" in calls[0].headers["User-Agent"]
    assert count(store, "select count(*) from posts where platform = 'x'") == 250


def test_a_long_post_is_stored_whole_with_the_tags_past_280_characters(
    x_config, store, fake, clock
):
    """X sends the first 280 characters in `text`; the whole post comes as `note_tweet`."""
    author = fake.add_user("77", "defender", followers=900)
    body = "Testimony from Baku: " + "the trial went on for hours and nobody was let in. " * 6
    whole = f"{body}#HRHN2016 #FreeKhadija https://t.co/xyz @hrhn"
    assert len(whole) > 320
    at = clock() - timedelta(minutes=3)
    fake.add_tweet(
        make_tweet(snowflake(at), whole, author, created_at=at, urls=["https://hrh.example/baku"])
    )
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "ok", record.error
    assert "note_tweet" in fake.requests_to(SEARCH)[0].params["tweet.fields"].split(",")
    row = store.conn.execute("select * from posts where platform = 'x'").fetchone()
    assert row["text"] == whole
    assert json.loads(row["hashtags"]) == ["hrhn2016", "freekhadija"]
    assert json.loads(row["mentions"]) == ["hrhn"]
    assert json.loads(row["links"]) == ["https://hrh.example/baku"]


def test_second_pass_asks_only_for_newer_posts(x_config, store, fake, clock):
    tweets = populate(fake, clock, 30)
    assert collector(x_config, store, clock).run_pass().new_posts == 30
    clock.advance(minutes=15)
    author = fake.state.users["2244994945"]
    for i in range(3):
        at = clock() - timedelta(minutes=5 - i)
        fake.add_tweet(make_tweet(snowflake(at, i), f"New {i} #HRHN2016", author, created_at=at))
    before = fake.count(SEARCH)
    record = collector(x_config, store, clock).run_pass()
    assert record.new_posts == 3
    assert fake.count(SEARCH) == before + 1
    last = fake.requests_to(SEARCH)[-1].params
    assert last["since_id"] == max(tweets, key=lambda t: int(t["id"]))["id"]
    assert "start_time" not in last


def test_includes_are_joined_to_posts(x_config, store, fake, clock):
    alice = fake.add_user("11", "alice", "Alice A.", followers=77, verified=True)
    bob = fake.add_user("12", "bob", "Bob B.", followers=3)
    fake.add_media("3_99", "photo")
    at = clock() - timedelta(hours=1)
    original = fake.add_tweet(
        make_tweet(snowflake(at, 1), "Opening panel #HRHN2016", bob, created_at=at, likes=4)
    )

    def later(minutes: int, text: str, **kw: Any) -> dict[str, Any]:
        when = at + timedelta(minutes=minutes)
        return fake.add_tweet(
            make_tweet(snowflake(when, minutes), text, alice, created_at=when, **kw)
        )

    quote = later(
        5,
        "So true https://t.co/x #HRHN2016",
        referenced=[("quoted", original["id"])],
        media_keys=["3_99"],
    )
    retweet = later(
        6, "RT @bob: Opening panel #HRHN2016", referenced=[("retweeted", original["id"])]
    )
    assert collector(x_config, store, clock).run_pass().status == "ok"
    rows = {r["platform_id"]: r for r in store.conn.execute("select * from posts")}
    assert retweet["id"] not in rows  # the default query leaves retweets out
    q = rows[quote["id"]]
    assert (q["author_handle"], q["author_name"], q["quote_of"], q["media_count"]) == (
        "alice",
        "Alice A.",
        original["id"],
        1,
    )
    assert rows[original["id"]]["author_handle"] == "bob"
    followers = dict(store.conn.execute("select handle, followers from authors"))
    assert followers == {"alice": 77, "bob": 3}


def test_429_waits_for_the_reset_then_goes_on(x_config, store, fake, clock):
    populate(fake, clock, 20)
    fake.fail(SEARCH, 429, reset_after=40)
    sleeps: list[float] = []
    record = collector(x_config, store, clock, sleeps).run_pass()
    assert record.status == "ok", record.error
    assert record.new_posts == 20
    assert len(sleeps) == 1 and 39 <= sleeps[0] <= 42
    assert fake.count(SEARCH) == 2


def test_429_beyond_the_pass_budget_ends_the_pass(x_config, store, fake, clock):
    populate(fake, clock, 20)
    fake.fail(SEARCH, 429, reset_after=900)
    config = with_x(x_config, "collect", pass_time_budget_seconds=60.0)
    sleeps: list[float] = []
    record = collector(config, store, clock, sleeps).run_pass()
    assert record.status == "rate_limited"
    assert "X rate limit reached until 12:15:00 UTC" in record.error
    assert sleeps == []


@pytest.mark.parametrize("kind", ["client-not-enrolled", "453"])
def test_403_for_an_access_level_without_search_says_so(x_config, store, fake, clock, kind):
    populate(fake, clock, 5)
    fake.deny("/2/tweets/search", kind=kind)
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "failed"
    assert "403 Forbidden" in record.error
    assert "access level does not include search" in record.error
    assert "the Free tier cannot search" in record.error
    assert fake.count(SEARCH) == 1  # not retried


def test_403_on_full_archive_points_at_the_flag(x_config, store, fake, clock):
    config = with_x(with_x(x_config, full_archive=True), "collect", backfill_days=30)
    populate(fake, clock, 5)
    fake.deny("/2/tweets/search/all")
    record = collector(config, store, clock).run_pass()
    assert record.status == "failed"
    assert "full-archive search" in record.error and "x.full_archive = false" in record.error


def test_full_archive_backfills_beyond_seven_days(x_config, store, fake, clock):
    config = with_x(with_x(x_config, full_archive=True), "collect", backfill_days=30)
    populate(fake, clock, 5, minutes_ago=60 * 24 * 20)
    record = collector(config, store, clock).run_pass()
    assert record.new_posts == 5
    (call,) = fake.requests_to("/2/tweets/search/all")
    assert call.params["start_time"] == "2016-10-24T22:00:00Z"  # summer time then


def test_a_cursor_older_than_seven_days_restarts_at_the_window(x_config, store, fake, clock):
    populate(fake, clock, 5)
    collector(x_config, store, clock).run_pass()
    clock.advance(days=8)
    populate(fake, clock, 3, tag="HRHN2016")
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "ok", record.error
    last = fake.requests_to(SEARCH)[-1].params
    assert "since_id" not in last and last["start_time"] == "2016-11-26T12:05:00Z"
    assert record.details["missed_older_than_7_days"] is True
    assert record.new_posts == 3


def test_401_names_the_token_variable_and_never_the_token(x_config, store, fake, clock):
    fake.bearer_token = "another-token"
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "failed"
    assert "TAGWATCH_X_BEARER_TOKEN" in record.error and "401 Unauthorized" in record.error
    assert TOKEN not in record.error


def test_missing_token_is_an_auth_error(x_config, store, clock, monkeypatch, fake):
    monkeypatch.delenv("TAGWATCH_X_BEARER_TOKEN")
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "failed"
    assert "set the environment variable TAGWATCH_X_BEARER_TOKEN" in record.error
    assert fake.count() == 0


def test_server_errors_are_retried(x_config, store, fake, clock):
    populate(fake, clock, 5)
    fake.fail(SEARCH, 503, times=2)
    sleeps: list[float] = []
    record = collector(x_config, store, clock, sleeps).run_pass()
    assert record.status == "ok" and record.new_posts == 5
    assert fake.count(SEARCH) == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    "body, message",
    [
        ("{not json", "X answered with something that is not JSON"),
        ([], "X answered a search with something other than an object"),
    ],
)
def test_malformed_answers_fail_the_pass_clearly(x_config, store, fake, clock, body, message):
    fake.fail(SEARCH, 200, body=body)
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "failed"
    assert message in record.error


@pytest.mark.parametrize(
    "values, message",
    [
        ({"query": "#HRHN2016"}, r"x.query '#HRHN2016' must contain \{tag\}"),
        ({"price_per_post_usd": 0.0}, "x.price_per_post_usd must be greater than 0"),
        ({"refresh_budget_share": 1.5}, "x.refresh_budget_share must be between 0 and 1"),
        ({"monthly_post_budget": -1}, r"x.monthly_post_budget must be 0 \(no limit\) or more"),
    ],
)
def test_bad_x_settings_are_config_errors(x_config, store, clock, values, message):
    with pytest.raises(ConfigError, match=message):
        collector(with_x(x_config, **values), store, clock)


def test_a_403_that_is_not_about_the_access_level(x_config, store, fake, clock):
    fake.fail(SEARCH, 403, body={"title": "Forbidden", "detail": "Your app is suspended"})
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "failed"
    assert "403 Forbidden): Your app is suspended. Check the app's permissions" in record.error


def test_a_simulated_event_is_collected_as_published_then_deletions_honoured(
    x_config, store, fake, clock
):
    # A seed whose X posts include one deleted between the two passes.
    sims = simulate_event(seed=16, n_posts=600, n_authors=80).by_platform("x")
    keys = fake.add_simulated(sims, now=clock())

    def expected(now: datetime) -> set[str]:
        return {
            keys[s.key]
            for s in sims
            if s.key in keys
            and s.visible_at(now)
            and not s.repost_of
            and "hrhn2016" in {t.casefold() for t in s.hashtags}
        }

    record = collector(x_config, store, clock).run_pass()
    assert record.status == "ok", record.error
    stored = {r[0] for r in store.conn.execute("select platform_id from posts where deleted = 0")}
    assert stored == expected(clock()) and len(stored) > 20
    first = clock()
    clock.advance(hours=30)
    keys = fake.add_simulated(sims, now=clock())
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "ok", record.error
    gone = expected(first) - expected(clock())
    deleted = {r[0] for r in store.conn.execute("select platform_id from posts where deleted = 1")}
    assert deleted == gone and gone


# -- the budget --------------------------------------------------------------------------


def test_quota_stops_before_the_budget_and_resumes_where_it_stopped(x_config, store, fake, clock):
    populate(fake, clock, 250)
    config = with_x(x_config, monthly_post_budget=150)
    record = collector(config, store, clock).run_pass()
    assert record.status == "quota"
    assert "X monthly budget reached" in record.error and "2016-12-01" in record.error
    read = count(store, "select count(*) from paid_reads where kind = 'post'")
    assert 130 <= read <= 150  # stopped before the budget, not after
    assert record.new_posts == read
    warning = budget_warning(store.conn, config, clock())
    assert warning is not None and "150 posts" in warning
    # The next pass, with a larger budget, reads only the rest: nothing twice.
    clock.advance(minutes=15)
    searches = fake.count(SEARCH)
    record = collector(with_x(x_config, monthly_post_budget=1000), store, clock).run_pass()
    assert record.status == "ok", record.error
    assert record.new_posts == 250 - read
    assert count(store, "select count(*) from posts") == 250
    assert count(store, "select count(*) from paid_reads where kind = 'post'") == 250
    calls = fake.requests_to(SEARCH)[searches:]
    assert "until_id" in calls[-1].params  # the gap below where the first pass stopped


def test_daily_budget_pauses_until_the_next_utc_day(x_config, store, fake, clock):
    populate(fake, clock, 60)
    config = with_x(x_config, daily_post_budget=40)
    record = collector(config, store, clock).run_pass()
    assert record.status == "quota"
    assert "X daily budget reached" in record.error and "tomorrow" in record.error
    assert fake.requests_to(SEARCH)[0].params["max_results"] == "40"  # the day's room
    assert count(store, "select count(*) from posts") == 40
    clock.at = datetime(2016, 11, 26, 0, 5, tzinfo=UTC)
    record = collector(config, store, clock).run_pass()
    assert record.status == "ok", record.error
    assert count(store, "select count(*) from posts") == 60
    assert record.details["search_reads"] == 20
    # The refresh spends what the day has left, and no more.
    assert record.details["refresh_reads"] == 20
    posts_today = "select count(*) from paid_reads where day = '2016-11-26' and kind = 'post'"
    assert count(store, posts_today) == 40


def test_money_budget_converts_at_the_configured_prices(x_config, store, clock):
    config = with_x(x_config, monthly_post_budget=0, budget_usd=2.0, price_per_post_usd=0.01)
    state = budget_state(store.conn, config, clock())
    assert state.month_limit is None and state.money_limit == 2.0
    # A post with its author costs at most 0.01 + 0.01: 100 of them fit in $2.
    assert state.affordable(worst_case(1, EXPANSIONS)) == 100
    assert state.refresh_limit == 40  # refreshes read posts only: 20% of $2 at $0.01


def test_ledger_bills_a_post_once_per_utc_day(store: Store, clock: Clock):
    with store.transaction() as conn:
        assert record_reads(conn, ["1", "2", "2"], clock()) == 2
        assert record_reads(conn, ["1", "2", "3"], clock()) == 1
        assert record_reads(conn, ["1"], clock() + timedelta(days=1)) == 1
    rows = list(store.conn.execute("select day, count(*) from paid_reads group by day"))
    assert [tuple(r) for r in rows] == [("2016-11-25", 3), ("2016-11-26", 1)]


def test_refresh_updates_counts_and_honours_deletions(x_config, store, fake, clock):
    tweets = populate(fake, clock, 12)
    collector(x_config, store, clock).run_pass()
    clock.advance(hours=2)
    tweets[0]["public_metrics"].update(like_count=9, impression_count=500)
    fake.delete(tweets[1]["id"])
    fake.protect(tweets[2]["id"])
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "ok", record.error
    (lookup,) = fake.requests_to("/2/tweets")
    assert len(lookup.params["ids"].split(",")) == 12
    row = store.conn.execute(
        "select likes, views from posts where platform_id = ?", (tweets[0]["id"],)
    ).fetchone()
    assert (row["likes"], row["views"]) == (9, 500)
    deleted = {r[0] for r in store.conn.execute("select platform_id from posts where deleted = 1")}
    assert deleted == {tweets[1]["id"], tweets[2]["id"]}
    assert record.details["deleted_upstream"] == 2


def test_refresh_stays_within_its_share_of_the_budget(x_config, store, fake, clock):
    populate(fake, clock, 30)
    config = with_x(x_config, monthly_post_budget=1000, refresh_budget_share=0.01)
    collector(config, store, clock).run_pass()
    clock.advance(days=1)  # a new UTC day: re-reading is billed again
    record = collector(config, store, clock).run_pass()
    (lookup,) = fake.requests_to("/2/tweets")
    assert len(lookup.params["ids"].split(",")) == 10
    assert record.details["refresh_reads"] == 10
    clock.advance(hours=1)
    record = collector(config, store, clock).run_pass()
    assert fake.count("/2/tweets") == 1  # the share is used up for the month
    assert record.details["refresh_stopped"] == "budget for refreshes used"


# -- tagwatch estimate x ---------------------------------------------------------------------


def write_config(tmp_path: Path, fake: FakeX, extra: str = "") -> Path:
    path = tmp_path / "estimate.toml"
    path.write_text(
        f"""
[event]
name = "Test Assembly"
hashtags = ["HRHN2016"]
timezone = "Europe/Belgrade"
start = 2016-11-24
end = 2016-11-26

[storage]
path = "{tmp_path / "est.db"}"

[x]
enabled = true
api_base_url = "{fake.url}"
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def wall_clock_fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeX]:
    """The CLI reads the real clock: posts are placed relative to it."""
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", TOKEN)
    with FakeX(bearer_token=TOKEN) as server:
        yield server


def test_estimate_prints_posts_and_money_before_reading(tmp_path, wall_clock_fake):
    fake = wall_clock_fake
    now = datetime.now(UTC)
    user = fake.add_user("5", "press")
    for i in range(40):
        at = now - timedelta(days=2, minutes=i)
        fake.add_tweet(make_tweet(snowflake(at, i), f"#HRHN2016 {i}", user, created_at=at))
    day = (now - timedelta(days=3)).date().isoformat()
    path = write_config(tmp_path, fake, "monthly_post_budget = 30")
    result = CliRunner().invoke(
        cli, ["--config", str(path), "estimate", "x", "--from", day, "--to", now.date().isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "#HRHN2016 -is:retweet" in result.output
    assert "40 posts  ~ $0.20 at $0.005 per post read" in result.output
    assert "exceed what is left of the budget (30 posts) by 10 posts" in result.output
    assert fake.count("/2/tweets/counts/recent") == 1
    assert fake.count(SEARCH) == 0  # nothing read, nothing billed


def test_estimate_of_an_old_period_uses_archive_counts(tmp_path, wall_clock_fake):
    fake = wall_clock_fake
    user = fake.add_user("5", "press")
    at = datetime(2016, 11, 25, 10, tzinfo=UTC)
    fake.add_tweet(make_tweet(snowflake(at), "#HRHN2016 day two", user, created_at=at))
    result = CliRunner().invoke(
        cli, ["--config", str(write_config(tmp_path, fake)), "estimate", "x"]
    )
    assert result.exit_code == 0, result.output
    assert "1 posts" in result.output and "counts/all" in result.output
    assert "x.full_archive = true" in result.output


def test_estimate_without_archive_access_explains(tmp_path, wall_clock_fake):
    wall_clock_fake.deny("/2/tweets/counts/all")
    result = CliRunner().invoke(
        cli, ["--config", str(write_config(tmp_path, wall_clock_fake)), "estimate", "x"]
    )
    assert result.exit_code == 1
    assert "403 Forbidden" in result.output
    assert "Estimate a period within the last 7 days (--from)" in result.output


def test_estimate_of_a_counts_answer_without_meta_is_malformed(tmp_path, wall_clock_fake):
    wall_clock_fake.fail("/2/tweets/counts/all", 200, body={"data": []})
    path = write_config(tmp_path, wall_clock_fake)
    result = CliRunner().invoke(cli, ["--config", str(path), "estimate", "x"])
    assert result.exit_code == 1
    assert "X answered a counts request without its `meta`." in result.output


def test_estimate_rejects_a_reversed_period(tmp_path, wall_clock_fake):
    path = write_config(tmp_path, wall_clock_fake)
    result = CliRunner().invoke(
        cli, ["--config", str(path), "estimate", "x", "--from", "2016-11-26", "--to", "2016-11-24"]
    )
    assert result.exit_code == 2
    assert "--to 2016-11-24 is before --from 2016-11-26" in result.output


def test_status_shows_the_budget_and_warns_near_the_end(tmp_path, wall_clock_fake):
    path = write_config(tmp_path, wall_clock_fake, "monthly_post_budget = 10")
    with Store.open(tmp_path / "est.db") as store, store.transaction() as conn:
        record_reads(conn, [str(i) for i in range(9)], datetime.now(UTC))
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    assert result.exit_code == 0, result.output
    assert "X budget: 9 of 10 posts read this month ($0.04), 9 today" in result.output
    assert "WARNING: X budget nearly used: 9 of 10 posts this month (1 left)." in result.output


def test_a_cursor_stored_before_the_one_format_resumes_where_it_stopped(
    x_config, store, fake, clock
):
    """An event database from before #19 holds X's own cursor format: the pass reads on from it."""
    old = [str(t["id"]) for t in populate(fake, clock, 3)]
    newest = max(old, key=int)
    gap_top = min(old, key=int)
    store.set_cursor("x", QUERY, json.dumps({"newest_id": newest, "gaps": [[None, gap_top]]}))
    clock.advance(minutes=5)
    populate(fake, clock, 2)
    record = collector(x_config, store, clock).run_pass()
    assert record.status == "ok", record.error
    first, second = (call.params for call in fake.requests_to(SEARCH))
    assert first["since_id"] == newest  # the newest post read, as the old cursor said
    assert second["until_id"] == gap_top  # then the gap an earlier pass left
    cursor = Cursor.read(store.get_cursor("x", QUERY))
    assert cursor.pending == [] and int(cursor.newest or 0) > int(newest)
