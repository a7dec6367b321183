"""X bills every resource a page returns (#17): posts, users and media, each once per UTC day.

The real tweepy client against the loopback fake, which returns `includes` as X
does for the expansions asked. Prices are the pay-per-use list in `[x]`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tagwatch.collectors.fakes.x import FakeX, make_tweet, snowflake
from tagwatch.collectors.x import EXPANSIONS, XCollector, page_resources
from tagwatch.collectors.x.budget import Prices, Reads, budget_state, record_resources, worst_case
from tagwatch.collectors.x.estimate import Estimate, format_estimate
from tagwatch.errors import ConfigError
from tagwatch.monitor.cli import cli
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store, connect
from tagwatch.storage.migrations import MIGRATIONS, _m007_paid_reads_by_resource, migrate

TOKEN = "cost-bearer-7"
SEARCH = "/2/tweets/search/recent"
NOW = datetime(2016, 11, 25, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeX]:
    with FakeX(bearer_token=TOKEN, now=clock) as server:
        yield server


def make_config(config_dict: dict[str, Any], tmp_path: Path, fake: FakeX, **x: Any) -> Config:
    config_dict["x"] = {"enabled": True, "api_base_url": fake.url, **x}
    return parse_config(config_dict, path=tmp_path / "config.toml")


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", TOKEN)


def publish(fake: FakeX, clock: Clock, n_posts: int, n_authors: int, *, start: int = 0) -> None:
    """n posts with the tag, one a minute, by n_authors authors taking turns."""
    authors = [fake.add_user(str(500 + a), f"author{a}") for a in range(n_authors)]
    for i in range(start, start + n_posts):
        at = clock() - timedelta(minutes=2 * n_posts - i)
        tweet = make_tweet(
            snowflake(at, i), f"Post {i} #HRHN2016", authors[i % n_authors], created_at=at
        )
        fake.add_tweet(tweet)


def ledger(store: Store) -> dict[str, int]:
    return {
        str(k): int(n)
        for k, n in store.conn.execute("select kind, count(*) from paid_reads group by kind")
    }


def run(config: Config, store: Store, clock: Clock) -> Any:
    return XCollector(config, store, now=clock, sleep=lambda s: None).run_pass()


def test_a_page_of_100_posts_by_60_authors_bills_posts_and_users(
    config_dict, tmp_path, fake, clock, store
):
    config = make_config(config_dict, tmp_path, fake)
    publish(fake, clock, 100, 60)
    record = run(config, store, clock)
    assert record.status == "ok", record.error
    assert fake.count(SEARCH) == 1
    assert ledger(store) == {"post": 100, "user": 60}
    expected = 100 * 0.005 + 60 * 0.010
    assert record.details["billed_usd"] == pytest.approx(expected)
    assert record.details["user_reads"] == 60
    assert budget_state(store.conn, config, clock()).spent_usd == pytest.approx(expected)


def test_users_and_posts_are_billed_once_per_utc_day_each(
    config_dict, tmp_path, fake, clock, store
):
    config = make_config(config_dict, tmp_path, fake, refresh_budget_share=0)
    publish(fake, clock, 20, 5)
    run(config, store, clock)
    clock.at += timedelta(minutes=30)
    publish(fake, clock, 10, 5, start=20)  # the same five authors again, the same day
    run(config, store, clock)
    assert ledger(store) == {"post": 30, "user": 5}
    clock.at = datetime(2016, 11, 26, 0, 30, tzinfo=UTC)
    publish(fake, clock, 10, 5, start=30)  # a new UTC day: the authors are billed again
    run(config, store, clock)
    days = dict(
        store.conn.execute("select day, count(*) from paid_reads where kind = 'user' group by day")
    )
    assert days == {"2016-11-25": 5, "2016-11-26": 5}


def test_a_budget_that_cannot_pay_the_smallest_page_stops_before_the_request(
    config_dict, tmp_path, fake, clock, store
):
    # The smallest page X accepts is 10 posts; at its worst each brings its author:
    # 10 x (0.005 + 0.010) = $0.15.
    assert worst_case(10, EXPANSIONS).cost(Prices()) == pytest.approx(0.15)
    config = make_config(config_dict, tmp_path, fake, monthly_post_budget=0, budget_usd=0.149)
    publish(fake, clock, 30, 30)
    record = run(config, store, clock)
    assert record.status == "quota"
    assert fake.count(SEARCH) == 0
    assert record.error == (
        "X money budget reached: $0.00 of $0.15 spent this month (0 posts $0.00, 0 users $0.00,"
        " 0 media $0.00), and the next request could cost up to $0.15; collection resumes on"
        " 2016-12-01. Raise x.budget_usd to read more."
    )


def test_every_request_fits_its_worst_case_in_what_is_left(
    config_dict, tmp_path, fake, clock, store
):
    budget = 1.0
    config = make_config(config_dict, tmp_path, fake, monthly_post_budget=0, budget_usd=budget)
    publish(fake, clock, 150, 150)  # every post by a new author: the worst case, really
    record = run(config, store, clock)
    assert record.status == "quota"
    sizes = [int(r.params["max_results"]) for r in fake.requests_to(SEARCH)]
    assert sizes == [66]  # $1.00 / $0.015 = 66; the $0.01 left pays no page of 10
    spent = budget_state(store.conn, config, clock()).spent_usd
    assert spent == pytest.approx(66 * 0.015) and spent <= budget


def test_the_filtered_stream_style_line_bills_its_author():
    page = {
        "data": [{"id": "1", "text": "x", "author_id": "9"}],
        "includes": {
            "users": [{"id": "9"}],
            "tweets": [{"id": "2"}],
            "media": [{"media_key": "3_1"}, {"media_key": "3_2"}],
        },
    }
    assert page_resources(page) == {"post": ["1", "2"], "user": ["9"], "media": ["3_1", "3_2"]}


def test_ledger_records_kinds_and_prices_them(store: Store):
    with store.transaction() as conn:
        new = record_resources(conn, {"post": ["1", "1", "2"], "user": ["1"], "media": []}, NOW)
        again = record_resources(conn, {"post": ["2"], "user": ["1", "7"]}, NOW)
    assert new == Reads(posts=2, users=1) and again == Reads(users=1)
    assert Reads(posts=2, users=2, media=1).cost(Prices()) == pytest.approx(0.035)


@pytest.mark.parametrize("kind", ["post", "user", "media"])
def test_a_price_that_is_not_positive_is_a_config_error(
    config_dict, tmp_path, fake, store, kind: str
):
    with pytest.raises(ConfigError, match=f"x.price_per_{kind}_usd must be greater than 0"):
        make_config(config_dict, tmp_path, fake, **{f"price_per_{kind}_usd": 0})


def test_old_ledger_rows_become_posts(tmp_path: Path):
    version = next(v for v, _, fn in MIGRATIONS if fn is _m007_paid_reads_by_resource)
    conn = connect(tmp_path / "old.db")
    migrate(conn, target=version - 1)
    conn.execute(
        "insert into paid_reads (platform, day, platform_id) values ('x', '2016-11-25', '1')"
    )
    conn.commit()
    conn.close()
    with Store.open(tmp_path / "old.db") as store:
        assert ledger(store) == {"post": 1}
        with store.transaction() as c:  # the same id as a user is another resource
            assert record_resources(c, {"user": ["1"], "post": ["1"]}, NOW) == Reads(users=1)


def test_estimate_forecasts_users_and_says_which_part_is_which(config_dict, tmp_path, fake, store):
    config = make_config(config_dict, tmp_path, fake, monthly_post_budget=0, budget_usd=1.0)
    est = Estimate(NOW - timedelta(days=1), NOW, "recent", per_query={"#HRHN2016": 40})
    est.budget = budget_state(store.conn, config, NOW)
    lines = "\n".join(format_estimate(est))
    assert "40 posts  ~ $0.20 at $0.005 per post read" in lines
    assert "<= 40 users  ~ $0.40 at most, at $0.01 per user read" in lines
    assert "none (tagwatch does not ask X for media objects)" in lines
    assert "~ $0.20 for posts + up to $0.40 for users and media = up to $0.60" in lines
    assert "A backfill would leave at least $0.40 of x.budget_usd." in lines
    est.per_query["#HRHN2016"] = 100
    lines = "\n".join(format_estimate(est))
    assert (
        "Warning: a backfill could cost up to $1.50, more than the $1.00 left of x.budget_usd"
        in lines
    )


def test_estimate_cli_prints_the_users_part(tmp_path: Path):
    with FakeX(bearer_token=TOKEN) as fake:
        now = datetime.now(UTC)
        user = fake.add_user("5", "press")
        for i in range(12):
            at = now - timedelta(days=1, minutes=i)
            fake.add_tweet(make_tweet(snowflake(at, i), f"#HRHN2016 {i}", user, created_at=at))
        path = tmp_path / "c.toml"
        day = (now - timedelta(days=2)).date().isoformat()
        path.write_text(
            f'[event]\nname = "T"\nhashtags = ["HRHN2016"]\ntimezone = "UTC"\n'
            f"start = {day}\nend = {now.date().isoformat()}\n"
            f'[storage]\npath = "{tmp_path / "c.db"}"\n'
            f'[x]\nenabled = true\napi_base_url = "{fake.url}"\n',
            encoding="utf-8",
        )
        result = CliRunner().invoke(cli, ["--config", str(path), "estimate", "x", "--from", day])
    assert result.exit_code == 0, result.output
    assert "12 posts  ~ $0.06" in result.output
    assert "<= 12 users  ~ $0.12 at most" in result.output
