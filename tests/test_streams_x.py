"""X's filtered stream through tweepy's StreamingClient, against the fake X API with its stream."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.collectors.fakes.jetstream import wait_for
from tagwatch.collectors.fakes.x import make_tweet, snowflake
from tagwatch.collectors.fakes.x_stream import RULES, STREAM, FakeXStream
from tagwatch.collectors.streams import stream_specs
from tagwatch.collectors.streams.base import StreamThread, load_state
from tagwatch.collectors.streams.x_stream import XStream
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store
from tests.conftest import RECORDED

TOKEN = "stream-bearer-7c1d"


def clock() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def fake() -> Iterator[FakeXStream]:
    with FakeXStream(bearer_token=TOKEN, keep_alive=0.1) as server:
        server.add_user("2244994945", "hrhn", "Human Rights House", followers=5120)
        yield server


def make_config(tmp_path: Path, config_dict: dict[str, Any], fake: FakeXStream, **x: Any) -> Config:
    config_dict["x"] = {"api_base_url": fake.url, **x}
    config_dict["collect"] = {"timeout_seconds": 5, "max_retries": 0}
    config_dict["streams"] = {"x_stream": True, "reconnect_max_seconds": 0.05}
    return parse_config(config_dict, path=tmp_path / "config.toml")


@pytest.fixture
def cfg(
    tmp_path: Path, config_dict: dict[str, Any], fake: FakeXStream, monkeypatch: pytest.MonkeyPatch
) -> Config:
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", TOKEN)
    return make_config(tmp_path, config_dict, fake)


def Running(config: Config) -> StreamThread:  # noqa: N802 - reads as a context manager
    return StreamThread(XStream, config)


def tweet(fake: FakeXStream, text: str, *, ago: float = 0) -> str:
    at = clock() - timedelta(seconds=ago)
    t = make_tweet(snowflake(at), text, fake.state.users["2244994945"], created_at=at)
    fake.add_tweet(t)
    return str(t["id"])


def stored(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("select platform_id from posts order by id")]


def test_rules_are_synced_and_matching_posts_stored_and_billed(
    cfg: Config, fake: FakeXStream, store: Store
) -> None:
    fake.rules = {
        "1": {"id": "1", "value": "from:someone", "tag": "another tool"},
        "2": {"id": "2", "value": "#OldTag -is:retweet", "tag": "tagwatch #OldTag -is:retweet"},
    }
    with Running(cfg):
        assert wait_for(lambda: fake.connected == 1)
        hit = tweet(fake, "In the hall #HRHN2016")
        assert fake.push(hit)
        assert not fake.push(tweet(fake, "unrelated #Other"))
        assert wait_for(lambda: stored(store) == [hit])
    values = sorted(r["value"] for r in fake.rules.values())
    assert values == ["#HRHN2016 -is:retweet", "from:someone"]  # the stale one of ours went
    billed = dict(store.conn.execute("select kind, count(*) from paid_reads group by kind"))
    assert billed == {"post": 1, "user": 1}  # X bills the line's author too
    assert fake.count(STREAM) == 1 and fake.count(RULES) == 3  # get, delete, add
    stream_params = fake.requests_to(STREAM)
    assert stream_params and "Bearer" in stream_params[0].headers["Authorization"]


def test_recorded_stream_lines_parse_into_posts(cfg: Config, store: Store) -> None:
    lines = (RECORDED / "twitter" / "filtered_stream_lines.jsonl").read_text().splitlines()
    stream = XStream(cfg, store)
    stream.tags = frozenset({"hrhn2016"})  # none of them carries it: billed, not stored
    for line in lines:
        stream.handle(line)
    assert stored(store) == []
    billed = store.conn.execute("select count(*) from paid_reads").fetchone()[0]
    assert billed >= len(lines)


def test_a_drop_is_filled_by_a_search_pass(cfg: Config, fake: FakeXStream, store: Store) -> None:
    with Running(cfg) as stream:
        assert wait_for(lambda: fake.connected == 1)
        first = tweet(fake, "first #HRHN2016", ago=30)
        fake.push(first)
        assert wait_for(lambda: stored(store) == [first])
        missed = [tweet(fake, f"while away {n} #HRHN2016", ago=20 - n) for n in range(3)]
        fake.drop_connections()
        assert wait_for(lambda: stream.gaps_filled == 1 and fake.connected == 1)
    assert sorted(stored(store)) == sorted([first, *missed])
    assert fake.count("/2/tweets/search/recent") >= 1


def test_an_access_level_without_the_stream_is_reported(
    cfg: Config, fake: FakeXStream, store: Store
) -> None:
    fake.deny(RULES)
    with Running(cfg):
        assert wait_for(lambda: "403" in (load_state(store, "x filtered stream").error or ""))
    assert fake.count(STREAM) == 0


def test_an_exhausted_budget_keeps_the_stream_closed(
    tmp_path: Path,
    config_dict: dict[str, Any],
    fake: FakeXStream,
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", TOKEN)
    config = make_config(tmp_path, config_dict, fake, monthly_post_budget=1)
    with Running(config):
        assert wait_for(lambda: fake.connected == 1)
        fake.push(tweet(fake, "one #HRHN2016"))
        assert wait_for(lambda: "budget" in (load_state(store, "x filtered stream").error or ""))
        assert wait_for(lambda: fake.connected == 0)
    assert len(stored(store)) == 1


def test_the_stream_is_one_spec(cfg: Config) -> None:
    assert [cls for cls, _ in stream_specs(cfg)] == [XStream]
