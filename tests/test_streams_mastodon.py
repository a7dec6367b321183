"""Mastodon hashtag streams over server-sent events, against loopback instances."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.collectors.fakes.jetstream import wait_for
from tagwatch.collectors.fakes.mastodon import FakeMastodon
from tagwatch.collectors.fakes.mastodon_streaming import FakeMastodonStreaming
from tagwatch.collectors.streams import stream_specs
from tagwatch.collectors.streams.base import StreamThread, load_state
from tagwatch.collectors.streams.mastodon_stream import MastodonStream, sse_events
from tagwatch.records import utcnow
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store


@pytest.fixture
def inst() -> Iterator[FakeMastodon]:
    with FakeMastodon(tokens=["secret-token"]) as fake:
        yield fake


@pytest.fixture
def streaming(inst: FakeMastodon) -> Iterator[FakeMastodonStreaming]:
    with FakeMastodonStreaming(inst, heartbeat=0.1) as fake:
        yield fake


def make_config(
    tmp_path: Path, config_dict: dict[str, Any], inst: FakeMastodon, **kw: Any
) -> Config:
    config_dict["mastodon"] = {"instances": [inst.base_url], **kw.pop("mastodon", {})}
    config_dict["collect"] = {"timeout_seconds": 5, "max_retries": 0}
    config_dict["streams"] = {"mastodon_streaming": True, "reconnect_max_seconds": 0.05, **kw}
    return parse_config(config_dict, path=tmp_path / "config.toml")


@pytest.fixture
def cfg(tmp_path: Path, config_dict: dict[str, Any], inst: FakeMastodon) -> Config:
    return make_config(tmp_path, config_dict, inst)


def Running(config: Config) -> StreamThread:  # noqa: N802 - reads as a context manager
    ((cls, kwargs),) = stream_specs(config)
    assert cls is MastodonStream
    return StreamThread(cls, config, **kwargs)


def toot(inst: FakeMastodon, n: int, tag: str = "hrhn2016") -> dict[str, Any]:
    link = f'<a href="{inst.base_url}/tags/{tag}" class="mention hashtag" rel="tag">#{tag}</a>'
    return inst.toot(
        "alice", f"<p>Live {n} {link}</p>", created_at=utcnow() - timedelta(seconds=n), tags=[tag]
    )


def uris(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("select platform_id from posts order by id")]


def test_sse_parsing_follows_the_event_stream_format() -> None:
    lines = [":)", "event: update", 'data: {"a":', "data: 1}", "", ":thump", "event: delete"]
    lines += ["data: 42", ""]
    assert list(sse_events(lines)) == [
        (None, None),
        ("update", '{"a":\n1}'),
        (None, None),
        ("delete", "42"),
    ]


def test_streamed_statuses_are_stored_and_deletes_purge(
    cfg: Config, inst: FakeMastodon, streaming: FakeMastodonStreaming, store: Store
) -> None:
    with Running(cfg) as stream:
        assert wait_for(lambda: streaming.connected == 1)
        status = toot(inst, 1)
        streaming.push_update(status)
        streaming.push_update(toot(inst, 2, tag="elsewhere"))  # another tag's stream only
        assert wait_for(lambda: uris(store) == [status["uri"]])
        streaming.push_delete(status["id"])
        assert wait_for(lambda: stream.deleted == 1)
    row = store.conn.execute("select text, deleted from posts").fetchone()
    assert (row["text"], row["deleted"]) == ("", 1)
    assert streaming.subscriptions == [{"tag": "hrhn2016"}]
    assert inst.count("/api/v1/timelines") == 0  # first start: no gap to fill


def test_a_drop_is_filled_through_the_tag_timeline_once(
    cfg: Config, inst: FakeMastodon, streaming: FakeMastodonStreaming, store: Store
) -> None:
    with Running(cfg) as stream:
        assert wait_for(lambda: streaming.connected == 1)
        first = toot(inst, 10)
        streaming.push_update(first)
        assert wait_for(lambda: len(uris(store)) == 1)
        missed = [toot(inst, n) for n in range(3, 6)]  # written while the stream is down
        streaming.drop_connections()
        assert wait_for(lambda: stream.gaps_filled == 1 and streaming.connected == 1)
        late = toot(inst, 1)
        streaming.push_update(late)
        assert wait_for(lambda: len(uris(store)) == 5)
    assert sorted(uris(store)) == sorted(s["uri"] for s in [first, *missed, late])
    assert inst.count("/api/v1/timelines/tag/hrhn2016") >= 1


def test_an_instance_that_refuses_the_stream_is_reported(
    tmp_path: Path, config_dict: dict[str, Any], store: Store
) -> None:
    with (
        FakeMastodon(require_auth=True) as inst,
        FakeMastodonStreaming(inst, heartbeat=0.1) as streaming,
    ):
        config = make_config(tmp_path, config_dict, inst)
        with Running(config):
            assert wait_for(lambda: "401" in (load_state(store, stream_name(inst)).error or ""))
        assert streaming.subscriptions == []
    error = load_state(store, stream_name(inst)).error or ""
    assert "logged-in users only" in error


def test_a_token_opens_a_stream_for_logged_in_users_only(
    tmp_path: Path, config_dict: dict[str, Any], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGWATCH_TEST_MASTODON_TOKEN", "secret-token")
    with (
        FakeMastodon(require_auth=True, tokens=["secret-token"]) as inst,
        FakeMastodonStreaming(inst, heartbeat=0.1) as streaming,
    ):
        tokens = {"access_token_envs": {inst.base_url: "TAGWATCH_TEST_MASTODON_TOKEN"}}
        config = make_config(tmp_path, config_dict, inst, mastodon=tokens)
        with Running(config):
            assert wait_for(lambda: streaming.connected == 1)
            status = toot(inst, 1)
            streaming.push_update(status)
            assert wait_for(lambda: uris(store) == [status["uri"]])


def stream_name(inst: FakeMastodon) -> str:
    return f"mastodon {inst.domain} #hrhn2016"


def test_one_stream_per_instance_and_hashtag(
    tmp_path: Path, config_dict: dict[str, Any], inst: FakeMastodon
) -> None:
    config_dict["event"]["hashtags"] = ["HRHN2016", "HRHN"]
    config = make_config(tmp_path, config_dict, inst)
    specs = [kw for _, kw in stream_specs(config)]
    assert specs == [
        {"instance": inst.base_url, "tag": "hrhn"},
        {"instance": inst.base_url, "tag": "hrhn2016"},
    ]
