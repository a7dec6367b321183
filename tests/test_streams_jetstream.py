"""Bluesky through Jetstream, against the loopback Jetstream and Bluesky fakes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.collectors.fakes.bluesky import FakeBluesky
from tagwatch.collectors.fakes.jetstream import FakeJetstream, wait_for
from tagwatch.collectors.streams import stream_specs
from tagwatch.collectors.streams.base import StreamThread, load_state
from tagwatch.collectors.streams.jetstream import JetstreamStream, parse_event, record_tags
from tagwatch.records import utcnow
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store
from tests.conftest import RECORDED

FIXTURE_EVENTS = RECORDED / "bluesky" / "jetstream_v1_subscribe_events.jsonl"


@pytest.fixture
def bsky(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBluesky]:
    monkeypatch.setenv("TAGWATCH_BLUESKY_HANDLE", "monitor.bsky.social")
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", "abcd-efgh-ijkl-mnop")
    # require_auth=False: the public AppView answers getProfiles without a login.
    with FakeBluesky(require_auth=False) as fake:
        fake.add_account("monitor.bsky.social", "abcd-efgh-ijkl-mnop")
        yield fake


@pytest.fixture
def js() -> Iterator[FakeJetstream]:
    with FakeJetstream() as fake:
        yield fake


def stream_config(tmp_path: Path, config_dict: dict[str, Any], **streams: Any) -> Config:
    config_dict["bluesky"] = {"service": streams.pop("service", "http://127.0.0.1:9")}
    config_dict["collect"] = {"timeout_seconds": 5, "max_retries": 0}
    config_dict["streams"] = {
        "jetstream_enabled": True,
        "reconnect_max_seconds": 0.05,
        "jetstream_profiles_service": "",
        **streams,
    }
    return parse_config(config_dict, path=tmp_path / "config.toml")


@pytest.fixture
def cfg(
    tmp_path: Path, config_dict: dict[str, Any], bsky: FakeBluesky, js: FakeJetstream
) -> Config:
    return stream_config(
        tmp_path,
        config_dict,
        service=bsky.url,
        jetstream_endpoints=[js.url],
        jetstream_profiles_service=bsky.url,
    )


def Running(config: Config, now: Callable[[], datetime] = utcnow) -> StreamThread:  # noqa: N802
    """The stream in its own thread with its own store, as the runner runs it."""
    return StreamThread(JetstreamStream, config, now=now)


def rows(store: Store) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in store.conn.execute(
            "select platform_id, author_handle, url, text, deleted from posts order by id"
        )
    ]


def connected(js: FakeJetstream, n: int = 1) -> bool:
    return bool(wait_for(lambda: len(js.subscriptions) >= n and js.connections))


def test_matching_posts_arrive_and_are_stored_with_handles(
    cfg: Config, bsky: FakeBluesky, js: FakeJetstream, store: Store
) -> None:
    hit = bsky.add_post("alice.bsky.social", "Opening of #HRHN2016 now")
    by_field = bsky.add_post("bob.bsky.social", "tags only in the field", tags=["hrhn2016"])
    miss = bsky.add_post("carol.bsky.social", "Nothing to see #elsewhere")
    with Running(cfg):
        assert connected(js)
        for uri in (hit, by_field, miss):
            js.publish_post(bsky.posts[uri])
        assert wait_for(lambda: len(rows(store)) == 2)
    stored = {r["platform_id"]: r for r in rows(store)}
    assert set(stored) == {hit, by_field}
    assert stored[hit]["author_handle"] == "alice.bsky.social"
    assert stored[hit]["url"].startswith("https://bsky.app/profile/alice.bsky.social/post/")
    assert js.subscriptions[0]["wantedCollections"] == ["app.bsky.feed.post"]
    assert "cursor" not in js.subscriptions[0]  # first start: live, the passes did the past
    state = load_state(store, "jetstream")
    assert state.state == "stopped" and state.cursor and state.last_event_at


def test_without_profile_service_the_did_stands_in_for_the_handle(
    tmp_path: Path, config_dict: dict[str, Any], bsky: FakeBluesky, js: FakeJetstream
) -> None:
    config = stream_config(tmp_path, config_dict, jetstream_endpoints=[js.url])
    uri = bsky.add_post("alice.bsky.social", "#HRHN2016 hello")
    did = bsky.posts[uri].author_did
    with Store.open(config.db_path) as store:
        stream = JetstreamStream(config, store)
        js_event = {"did": did, "time_us": 1_700_000_000_000_000, "kind": "commit"}
        js_event["commit"] = {
            "rev": "3x",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": uri.rsplit("/", 1)[-1],
            "record": bsky.posts[uri].record,
            "cid": "bafy",
        }
        stream.handle(json.dumps(js_event))
        (row,) = rows(store)
    assert row["author_handle"] == did
    assert row["url"] == f"https://bsky.app/profile/{did}/post/{uri.rsplit('/', 1)[-1]}"


def test_the_handle_cache_stays_bounded(
    tmp_path: Path,
    config_dict: dict[str, Any],
    js: FakeJetstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tagwatch.collectors.streams.jetstream as jetstream

    monkeypatch.setattr(jetstream, "HANDLES_KEPT", 4)
    config = stream_config(tmp_path, config_dict, jetstream_endpoints=[js.url])
    with Store.open(config.db_path) as store:
        stream = JetstreamStream(config, store)
        for n in range(10):
            stream.handle_of(f"did:plc:author{n}")
            assert len(stream._handles) <= 4
        assert "did:plc:author9" in stream._handles  # the newest are the ones kept


def test_recorded_production_events_match_their_tag_facets(
    tmp_path: Path, config_dict: dict[str, Any]
) -> None:
    config_dict["event"]["hashtags"] = ["IndieRebellion", "TalesAtWonderworld"]
    config = stream_config(tmp_path, config_dict, jetstream_endpoints=["ws://127.0.0.1:9"])
    lines = FIXTURE_EVENTS.read_text(encoding="utf-8").splitlines()
    with Store.open(config.db_path) as store:
        stream = JetstreamStream(config, store)
        for line in lines:
            stream.handle(line)
        stored = rows(store)
    assert {r["platform_id"].rsplit("/", 1)[-1] for r in stored} == {
        "3mptbypfywk2v",
        "3mptbyo7tas2u",
    }
    assert stream.state.cursor == str(max(json.loads(line)["time_us"] for line in lines[-1:]))


def test_parse_event_reuses_the_search_parser() -> None:
    event = next(
        json.loads(line)
        for line in FIXTURE_EVENTS.read_text(encoding="utf-8").splitlines()
        if "3mptbypfywk2v" in line
    )
    post = parse_event(event, handle="someone.bsky.social", collected_at=utcnow())
    assert post.platform_id == f"at://{event['did']}/app.bsky.feed.post/3mptbypfywk2v"
    assert set(post.hashtags) == record_tags(event["commit"]["record"])
    assert post.created_at <= datetime.fromtimestamp(event["time_us"] / 1e6).astimezone()
    assert post.likes == 0 and post.author.handle == "someone.bsky.social"


def test_a_dropped_connection_resumes_from_the_cursor_without_duplicates(
    cfg: Config, bsky: FakeBluesky, js: FakeJetstream, store: Store
) -> None:
    first = bsky.add_post("alice.bsky.social", "#HRHN2016 one")
    later = [bsky.add_post("bob.bsky.social", f"#HRHN2016 while away {n}") for n in range(3)]
    with Running(cfg) as stream:
        assert connected(js)
        sent_at = js.publish_post(bsky.posts[first])
        assert wait_for(lambda: len(rows(store)) == 1)
        assert wait_for(lambda: stream.state.cursor == str(sent_at))
        js.refuse()
        js.drop_connections()
        for uri in later:  # published while the client is cut off
            js.publish_post(bsky.posts[uri])
        js.refuse(False)
        assert wait_for(lambda: len(rows(store)) == 4)
        assert connected(js, 2)
    assert js.subscriptions[-1]["cursor"] == [str(sent_at)]
    ids = [r["platform_id"] for r in rows(store)]
    assert sorted(ids) == sorted([first, *later])  # each once, the replayed `first` too
    assert bsky.count("app.bsky.feed.searchPosts") == 0  # the replay covered the gap


def test_a_gap_beyond_the_replay_window_is_filled_by_search(
    cfg: Config, bsky: FakeBluesky, js: FakeJetstream, store: Store
) -> None:
    first = bsky.add_post("alice.bsky.social", "#HRHN2016 before the outage")
    with Running(cfg):
        assert connected(js)
        js.publish_post(bsky.posts[first])
        assert wait_for(lambda: len(rows(store)) == 1)
    # Down for two days: the events are out of Jetstream's window, but search has them.
    gap = [
        bsky.add_post(f"user{n}.bsky.social", f"#HRHN2016 during the outage {n}") for n in range(5)
    ]
    for uri in gap:
        js.publish_post(bsky.posts[uri])
    bsky.add_post("dave.bsky.social", "#elsewhere not ours")
    two_days_later = lambda: utcnow() + timedelta(days=2)  # noqa: E731
    with Running(cfg, now=two_days_later) as stream:
        assert wait_for(lambda: len(rows(store)) == 6)
        assert wait_for(lambda: stream.gaps_filled == 1)
    assert "cursor" not in js.subscriptions[-1]  # too old to replay: live, plus search
    ids = [r["platform_id"] for r in rows(store)]
    assert sorted(ids) == sorted([first, *gap])  # every post of the gap, once
    (params,) = bsky.params("app.bsky.feed.searchPosts")
    assert params["since"][0] < params["until"][0]


def test_deletes_purge_at_once_and_ignore_posts_we_never_had(
    cfg: Config, bsky: FakeBluesky, js: FakeJetstream, store: Store
) -> None:
    uri = bsky.add_post("alice.bsky.social", "#HRHN2016 regret this")
    with Running(cfg) as stream:
        assert connected(js)
        js.publish_post(bsky.posts[uri])
        assert wait_for(lambda: len(rows(store)) == 1)
        js.publish_delete("at://did:plc:someoneelse/app.bsky.feed.post/3abc")
        js.publish_delete(uri)
        assert wait_for(lambda: rows(store)[0]["deleted"] == 1)
        # The counter moves just after the purge is committed: wait for it as for the row.
        assert wait_for(lambda: stream.deleted == 1)
    (row,) = rows(store)  # no tombstone for the stranger's post
    assert row["text"] == "" and row["url"] == ""


def test_endpoints_are_tried_in_turn(
    tmp_path: Path, config_dict: dict[str, Any], bsky: FakeBluesky, js: FakeJetstream, store: Store
) -> None:
    down = FakeJetstream().start()
    down.refuse()
    config = stream_config(tmp_path, config_dict, jetstream_endpoints=[down.url, js.url])
    try:
        with Running(config):
            assert connected(js)
            uri = bsky.add_post("alice.bsky.social", "#HRHN2016 second host")
            js.publish_post(bsky.posts[uri])
            assert wait_for(lambda: len(rows(store)) == 1)
    finally:
        down.stop()
    assert down.subscriptions == []


def test_a_silent_stream_is_reconnected_and_reported(
    tmp_path: Path, config_dict: dict[str, Any], js: FakeJetstream, store: Store
) -> None:
    config = stream_config(tmp_path, config_dict, jetstream_endpoints=[js.url], silence_seconds=0.3)
    with Running(config) as stream:
        assert wait_for(lambda: len(js.subscriptions) >= 2)
        assert stream.silences >= 1
        assert wait_for(lambda: "silent" in (load_state(store, "jetstream").error or ""))


def test_stream_specs_follow_the_switches(tmp_path: Path, config_dict: dict[str, Any]) -> None:
    assert stream_specs(parse_config(config_dict, path=tmp_path / "c.toml")) == []
    config = stream_config(tmp_path, config_dict)
    assert [cls for cls, _ in stream_specs(config)] == [JetstreamStream]


def test_the_runner_runs_streams_and_status_shows_them(
    tmp_path: Path, config_dict: dict[str, Any], bsky: FakeBluesky, js: FakeJetstream
) -> None:
    from click.testing import CliRunner

    from tagwatch.monitor.cli import cli
    from tagwatch.monitor.runner import Runner
    from tests.conftest import write_config_toml

    config = stream_config(tmp_path, config_dict, jetstream_endpoints=[js.url])
    runner = Runner(config, factories={})
    runner.start()
    try:
        assert connected(js)
        uri = bsky.add_post("alice.bsky.social", "#HRHN2016 live from the hall")
        js.publish_post(bsky.posts[uri])
        with Store.open(config.db_path) as store:
            assert wait_for(lambda: len(rows(store)) == 1)
    finally:
        runner.stop()
    assert runner.streams == []
    path = write_config_toml(tmp_path / "config.toml", config_dict)
    result = CliRunner().invoke(cli, ["--config", str(path), "status"])
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if x.strip().startswith("jetstream")]
    assert "stopped" in line and "last event" in line and "lag" in line


def test_status_says_when_a_stream_never_heard_an_event(store: Store) -> None:
    from tagwatch.collectors.streams.status import status_lines

    assert status_lines(store.conn, utcnow()) == []
    store.conn.execute(
        "insert into streams (name, state, error)"
        " values ('jetstream', 'connected', 'silent for 120s')"
    )
    lines = status_lines(store.conn, utcnow(), alive=False)
    assert lines[1].split() == ["jetstream", "connected", "(no", "runner);", "no", "event", "yet"]
    assert lines[2].strip() == "last error: silent for 120s"


def test_while_every_endpoint_is_down_search_fills_meanwhile(
    tmp_path: Path, config_dict: dict[str, Any], bsky: FakeBluesky, js: FakeJetstream
) -> None:
    js.refuse()
    config = stream_config(
        tmp_path, config_dict, service=bsky.url, jetstream_endpoints=[js.url], silence_seconds=0.3
    )
    with Store.open(config.db_path) as store:
        last = utcnow() - timedelta(minutes=5)
        store.conn.execute(
            "insert into streams (name, state, cursor, last_event_at) values (?, ?, ?, ?)",
            ("jetstream", "stopped", str(int(last.timestamp() * 1e6)), last.isoformat()),
        )
        posted = [bsky.add_post("alice.bsky.social", f"#HRHN2016 outage {n}") for n in range(3)]
        with Running(config) as stream:
            assert wait_for(lambda: sorted(r["platform_id"] for r in rows(store)) == sorted(posted))
            # Counted just after the fill stored its posts: wait for it as for the rows.
            assert wait_for(lambda: stream.gaps_filled >= 1)
            assert "cannot connect" in (load_state(store, "jetstream").error or "")
        assert js.subscriptions == []


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("silence_seconds", 0, "streams.silence_seconds must be more than 0"),
        ("reconnect_max_seconds", 0, "streams.reconnect_max_seconds must be more than 0"),
        ("replay_window_minutes", -1, "streams.replay_window_minutes must be 0 or more"),
        ("jetstream_endpoints", [], "streams.jetstream_endpoints is empty"),
    ],
)
def test_unusable_stream_settings_are_config_errors(
    tmp_path: Path, config_dict: dict[str, Any], key: str, value: Any, message: str
) -> None:
    from tagwatch.errors import ConfigError

    settings: dict[str, Any] = {"jetstream_endpoints": ["ws://127.0.0.1:9"], key: value}
    with pytest.raises(ConfigError, match=message) as err:  # by the loader (#19)
        stream_config(tmp_path, config_dict, **settings)
    assert str(tmp_path / "config.toml") in str(err.value)


def test_tagwatch_run_says_which_stream_setting_is_wrong(
    tmp_path: Path, config_dict: dict[str, Any]
) -> None:
    from click.testing import CliRunner

    from tagwatch.monitor.cli import cli
    from tests.conftest import write_config_toml

    config_dict["streams"] = {"jetstream_enabled": True, "silence_seconds": 0}
    config_dict["schedule"] = {"log_file": ""}
    path = write_config_toml(tmp_path / "config.toml", config_dict)
    result = CliRunner().invoke(cli, ["--config", str(path), "run"])
    assert result.exit_code == 2, result.output
    assert "streams.silence_seconds must be more than 0" in result.output


# -- the public AppView refusing profile lookups (403) ---------------------------------------


def post_event(bsky: FakeBluesky, uri: str) -> str:
    post = bsky.posts[uri]
    return json.dumps(
        {
            "did": post.author_did,
            "time_us": 1_700_000_000_000_000,
            "kind": "commit",
            "commit": {
                "rev": "3x",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": uri.rsplit("/", 1)[-1],
                "record": post.record,
                "cid": "bafy",
            },
        }
    )


def test_a_403_from_the_public_appview_falls_back_to_the_bluesky_login(
    cfg: Config, bsky: FakeBluesky
) -> None:
    bsky.refuse_unauthenticated = True
    first = bsky.add_post("alice.bsky.social", "#HRHN2016 hello")
    second = bsky.add_post("bob.bsky.social", "#HRHN2016 again")
    with Store.open(cfg.db_path) as store:
        stream = JetstreamStream(cfg, store)
        try:
            stream.handle(post_event(bsky, first))
            stream.handle(post_event(bsky, second))
        finally:
            stream.close()
        handles = [r["author_handle"] for r in rows(store)]
        assert load_state(store, "jetstream").error is None
    assert handles == ["alice.bsky.social", "bob.bsky.social"]
    calls = [nsid for nsid, _ in bsky.calls]
    # One refused public lookup, then the login once and the lookups through it.
    assert calls == [
        "app.bsky.actor.getProfiles",
        "com.atproto.server.createSession",
        "app.bsky.actor.getProfiles",
        "app.bsky.actor.getProfiles",
    ]


def test_a_403_without_a_bluesky_login_keeps_the_did_and_status_says_why(
    cfg: Config, bsky: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAGWATCH_BLUESKY_APP_PASSWORD")
    bsky.refuse_unauthenticated = True
    uri = bsky.add_post("alice.bsky.social", "#HRHN2016 hello")
    host = bsky.url.split("://", 1)[1]
    with Store.open(cfg.db_path) as store:
        stream = JetstreamStream(cfg, store)
        stream.handle(post_event(bsky, uri))
        stream.handle(post_event(bsky, bsky.add_post("bob.bsky.social", "#HRHN2016 more")))
        stream.close()
        (alice, bob) = rows(store)
        error = load_state(store, "jetstream").error
    assert alice["author_handle"] == bsky.posts[uri].author_did
    assert bob["author_handle"].startswith("did:")
    assert error == (
        f"{host} refused profile lookups (403): authors are shown by their DID. "
        "Set $TAGWATCH_BLUESKY_APP_PASSWORD (the [bluesky] login) to look up their handles "
        "through it."
    )
    assert [nsid for nsid, _ in bsky.calls] == ["app.bsky.actor.getProfiles"]  # asked once


def test_a_403_and_a_refused_login_keep_the_did_and_status_says_why(
    cfg: Config, bsky: FakeBluesky, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGWATCH_BLUESKY_APP_PASSWORD", "wrong-pass-word-0000")
    bsky.refuse_unauthenticated = True
    uri = bsky.add_post("alice.bsky.social", "#HRHN2016 hello")
    host = bsky.url.split("://", 1)[1]
    with Store.open(cfg.db_path) as store:
        stream = JetstreamStream(cfg, store)
        stream.handle(post_event(bsky, uri))
        stream.close()
        (row,) = rows(store)
        error = load_state(store, "jetstream").error or ""
    assert row["author_handle"] == bsky.posts[uri].author_did
    assert error.startswith(
        f"{host} refused profile lookups (403) and the [bluesky] login failed too: authors "
        "are shown by their DID. Bluesky refused the login of monitor.bsky.social"
    )
    assert "wrong-pass-word-0000" not in error
