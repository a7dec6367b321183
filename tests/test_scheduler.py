"""`tagwatch run`'s scheduler with the real APScheduler, short intervals and test collectors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sched_collectors as sc
from conftest import base_config_dict

from tagwatch.errors import ConfigError
from tagwatch.monitor import jobs
from tagwatch.monitor.runner import Runner
from tagwatch.monitor.triggers import CollectTrigger, collect_trigger, digest_day, digest_trigger
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store, connect

INTERVAL_S = 0.3


def make_config(tmp_path: Path, **schedule: Any) -> Config:
    data = base_config_dict(tmp_path)
    minutes = INTERVAL_S / 60
    data["bluesky"] = {"enabled": True, "interval_minutes": minutes}
    data["collect"] = {"max_retries": 0}
    data["schedule"] = {"jitter_seconds": 0.0, "log_file": "", **schedule}
    return parse_config(data, path=tmp_path / "config.toml")


@pytest.fixture(autouse=True)
def _hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stand-ins for the digest and enrichment: these tests are about when they run."""
    monkeypatch.setattr(jobs, "send_daily_digest", sc.record_digest)
    monkeypatch.setattr(jobs, "enrich_pending", sc.record_enrichment)
    monkeypatch.setattr(jobs, "warm_enrichment", sc.record_warm_up)
    for items in (sc.PASSES, sc.DIGESTS, sc.ENRICHED, sc.ENRICHED_ON, sc.WARMED_ON):
        items.clear()
    yield


@pytest.fixture
def running() -> Iterator[list[Runner]]:
    runners: list[Runner] = []
    yield runners
    for runner in runners:
        runner.stop()


def start(running: list[Runner], config: Config, factories: dict[str, Any]) -> Runner:
    # Test collectors' names are not platforms: give them Bluesky's interval.
    for name in factories:
        if name != "bluesky":
            config.sections[name] = config.sections["bluesky"]
    runner = Runner(config, factories=factories)
    running.append(runner)
    runner.start()
    return runner


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def runs(config: Config) -> list[Any]:
    conn = connect(config.db_path, readonly=True)
    try:
        return list(conn.execute("select * from runs order by id"))
    finally:
        conn.close()


def test_passes_follow_the_interval(tmp_path: Path, running: list[Runner]) -> None:
    config = make_config(tmp_path)
    start(running, config, {"alpha": sc.TimedCollector})
    wait_for(lambda: len(sc.passes_of("alpha")) >= 4)
    starts = [s for s, _ in sc.passes_of("alpha")]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # On rhythm: never early (no jitter configured), and not piling up late.
    assert all(g >= INTERVAL_S * 0.8 for g in gaps), gaps
    assert sum(gaps) / len(gaps) < INTERVAL_S * 2.5, gaps
    assert [r["status"] for r in runs(config)][:4] == ["ok"] * 4


def test_a_slow_pass_never_overlaps_itself(tmp_path: Path, running: list[Runner]) -> None:
    config = make_config(tmp_path)
    runner = start(running, config, {"slow": sc.SlowCollector, "alpha": sc.TimedCollector})
    wait_for(lambda: len(sc.passes_of("slow")) >= 3, timeout=15)
    slow = sc.passes_of("slow")
    for (_, end), (next_start, _) in zip(slow, slow[1:], strict=False):
        assert next_start >= end, "two passes of one collector ran at once"
    # The slow one did not hold up the fast one.
    assert len(sc.passes_of("alpha")) > len(slow)
    assert runner.scheduler.get_job("collect:slow").max_instances == 1


def test_a_direct_pass_waits_for_the_scheduled_one_in_flight(
    tmp_path: Path, running: list[Runner]
) -> None:
    """The demo pauses the scheduler and runs last passes itself: never beside a running one."""
    in_flight = threading.Event()

    class Slow(sc.SlowCollector):
        def collect(self) -> None:
            in_flight.set()
            super().collect()

    config = make_config(tmp_path)
    runner = start(running, config, {"slow": Slow})
    assert in_flight.wait(10)
    runner.scheduler.pause()
    record = runner.collect("slow")
    assert record is not None and record.status == "ok"
    slow = sc.passes_of("slow")
    assert len(slow) >= 2
    for (_, end), (next_start, _) in zip(slow, slow[1:], strict=False):
        assert next_start >= end, "two passes of one collector ran at once"


def test_a_failing_collector_does_not_stop_the_others(
    tmp_path: Path, running: list[Runner], caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, failure_alert_after=2)
    caplog.set_level(logging.WARNING, logger="tagwatch")
    runner = start(
        running,
        config,
        {
            "alpha": sc.TimedCollector,
            "buggy": sc.RaisingCollector,
            "down": sc.DownCollector,
            "nocreds": sc.unbuildable,
        },
    )
    wait_for(lambda: len(sc.passes_of("alpha")) >= 3 and runner.failures.get("nocreds", 0) >= 2)
    wait_for(lambda: runner.failures.get("buggy", 0) >= 2 and runner.failures.get("down", 0) >= 2)
    by = {}
    for row in runs(config):
        by.setdefault(row["collector"], []).append(row)
    assert {r["status"] for r in by["alpha"]} <= {"ok", "running"}
    assert by["buggy"][0]["error"] == "unexpected RuntimeError: bug in the collector"
    assert by["down"][0]["error"] == "service unavailable (503)"
    assert by["nocreds"][0]["error"] == "cannot start: missing credentials for the test platform"
    flagged = [r.getMessage() for r in caplog.records if "in a row" in r.getMessage()]
    assert any(m.startswith("nocreds has failed 2 passes in a row") for m in flagged), flagged
    assert runner.failures.get("alpha", 0) == 0


def test_enrichment_runs_after_a_pass_that_stored_posts(
    tmp_path: Path, running: list[Runner]
) -> None:
    config = make_config(tmp_path)
    runner = start(running, config, {"bluesky": sc.PagedCollector})
    wait_for(lambda: sc.ENRICHED)
    assert sc.ENRICHED[0] == sc.PagedCollector.TOTAL
    # On its own thread, which loaded the language models first, as the runner started.
    assert sc.WARMED_ON == ["tagwatch-enrich"]
    assert set(sc.ENRICHED_ON) == {"tagwatch-enrich"}
    runner.stop()
    assert runner.enricher.thread is None
    assert not any(t.name == "tagwatch-enrich" for t in threading.enumerate())


def test_the_runner_prunes_wall_events_older_than_a_day(
    tmp_path: Path, running: list[Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tagwatch.storage.db

    monkeypatch.setattr(tagwatch.storage.db, "WALL_EVENTS_KEPT", 2)
    config = make_config(tmp_path)
    store = Store.open(config.db_path)
    try:
        store.write_posts([sc.numbered_post(n, "x") for n in range(1, 6)])
        with store.transaction() as conn:
            conn.execute("update wall_events set at = '2016-11-20T10:00:00.000Z'")
    finally:
        store.close()
    start(running, config, {"bluesky": sc.PagedCollector})
    wait_for(lambda: sc.ENRICHED)
    store = Store.open(config.db_path)
    try:

        def old_left() -> int:
            return store.conn.execute(
                "select count(*) from wall_events where at < '2017'"
            ).fetchone()[0]

        wait_for(lambda: old_left() == 0)  # the pass's new events are the newest two kept
        total = store.conn.execute("select count(*) from wall_events").fetchone()[0]
        assert total == sc.PagedCollector.TOTAL
    finally:
        store.close()


def test_freed_memory_is_handed_back_after_each_enrichment_run(
    tmp_path: Path, running: list[Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tagwatch.monitor.enricher

    trimmed: list[tuple[int, str]] = []
    monkeypatch.setattr(
        tagwatch.monitor.enricher,
        "release_free_memory",
        lambda: trimmed.append((len(sc.ENRICHED), threading.current_thread().name)) or True,
    )
    start(running, make_config(tmp_path), {"bluesky": sc.PagedCollector})
    wait_for(lambda: trimmed)
    assert trimmed[0] == (1, "tagwatch-enrich")  # after the run, on the enrichment thread


def test_a_slow_enrichment_never_holds_up_the_passes(
    tmp_path: Path, running: list[Runner], monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def stuck_enrichment(store: Any, config: Config) -> int:
        sc.ENRICHED.append(0)
        release.wait(10)
        return 0

    monkeypatch.setattr(jobs, "enrich_pending", stuck_enrichment)
    config = make_config(tmp_path)
    runner = start(running, config, {"alpha": sc.TimedCollector, "bluesky": sc.PagedCollector})
    wait_for(lambda: sc.ENRICHED)
    # Enrichment is stuck; both collectors keep their rhythm meanwhile.
    wait_for(lambda: len(runner.records.get("bluesky", ())) >= 3)
    wait_for(lambda: len(sc.passes_of("alpha")) >= 3)
    assert len(sc.ENRICHED) == 1
    release.set()


def test_no_collector_no_enrichment_thread(tmp_path: Path, running: list[Runner]) -> None:
    config = make_config(tmp_path)
    runner = start(running, config, {})
    assert runner.enricher.thread is None
    assert sc.WARMED_ON == []


def test_collect_enriches_before_it_returns(tmp_path: Path) -> None:
    """`tagwatch collect` (and the demo's last passes) read the enriched posts right after."""
    config = make_config(tmp_path)
    runner = Runner(config, factories={"bluesky": sc.PagedCollector})
    runner.open()
    try:
        record = runner.collect("bluesky")
    finally:
        runner.close()
    assert record is not None and record.new_posts == sc.PagedCollector.TOTAL
    assert sc.ENRICHED == [sc.PagedCollector.TOTAL]
    assert sc.ENRICHED_ON == [threading.current_thread().name]


def test_failure_count_survives_a_restart(tmp_path: Path, running: list[Runner]) -> None:
    config = make_config(tmp_path, failure_alert_after=2)
    first = start(running, config, {"down": sc.DownCollector})
    wait_for(lambda: first.failures.get("down", 0) >= 2)
    first.stop()
    second = Runner(config, factories={"down": sc.DownCollector})
    second.open()
    try:
        assert second.failures["down"] >= 2
    finally:
        second.close()


# -- triggers: pure functions of the clock -------------------------------------------------


def utc(h: int, m: int = 0, s: int = 0) -> datetime:
    return datetime(2016, 11, 24, h, m, s, tzinfo=UTC)


def test_faster_rhythm_inside_agenda_sessions() -> None:
    trigger = CollectTrigger(
        timedelta(minutes=10),
        session_interval=timedelta(minutes=2),
        sessions=((utc(10, 5), utc(10, 9)),),
    )
    fires = [utc(9, 50)]
    while len(fires) < 7:
        fires.append(trigger.get_next_fire_time(fires[-1], fires[-1]))
    # 10:00 would be followed by 10:10, jumping over the session: it starts on time instead.
    assert fires == [
        utc(9, 50),
        utc(10, 0),
        utc(10, 5),
        utc(10, 7),
        utc(10, 9),
        utc(10, 19),
        utc(10, 29),
    ]


def test_session_rhythm_comes_from_the_agenda(tmp_path: Path) -> None:
    data = base_config_dict(tmp_path)
    data["event"]["sessions"] = [
        {
            "title": "Opening",
            "start": datetime(2016, 11, 24, 10, 0),
            "end": datetime(2016, 11, 24, 11, 0),
        }
    ]
    data["schedule"] = {"session_interval_minutes": 1.0, "jitter_seconds": 0.0}
    config = parse_config(data, path=tmp_path / "config.toml")
    trigger = collect_trigger(config, "bluesky")
    # 10:00 in Belgrade is 09:00 UTC; bluesky's default interval is 5 minutes.
    assert trigger.get_next_fire_time(utc(9, 0), utc(9, 0)) == utc(9, 1)
    assert trigger.get_next_fire_time(utc(10, 0), utc(10, 0)) == utc(10, 5)


def test_jitter_delays_but_never_advances_a_pass() -> None:
    trigger = CollectTrigger(timedelta(minutes=5), jitter=30)
    nexts = [trigger.get_next_fire_time(utc(9), utc(9)) for _ in range(50)]
    assert all(utc(9, 5) <= n <= utc(9, 5, 30) for n in nexts)
    assert len(set(nexts)) > 1


def test_digest_fires_at_the_configured_local_time(tmp_path: Path) -> None:
    config = make_config(tmp_path, digest_time="07:30")
    trigger = digest_trigger(config)
    assert trigger is not None
    # Belgrade is UTC+1 in November: 07:30 local is 06:30 UTC.
    first = trigger.get_next_fire_time(None, utc(20, 0))
    assert first == datetime(2016, 11, 25, 6, 30, tzinfo=UTC)
    assert trigger.get_next_fire_time(first, first + timedelta(seconds=1)) == datetime(
        2016, 11, 26, 6, 30, tzinfo=UTC
    )
    # Summer time (UTC+2): still 07:30 on the wall clock.
    summer = trigger.get_next_fire_time(None, datetime(2016, 7, 1, 12, tzinfo=UTC))
    assert summer == datetime(2016, 7, 2, 5, 30, tzinfo=UTC)
    # Fired on the morning of the 25th, it covers the 24th.
    assert digest_day(config, first) == date(2016, 11, 24)


def test_digest_job_calls_the_digest_with_yesterday(tmp_path: Path, running: list[Runner]) -> None:
    config = make_config(tmp_path, digest_time="07:30")
    clock = {"now": datetime(2016, 11, 25, 6, 30, tzinfo=UTC)}
    runner = Runner(config, factories={}, now=lambda: clock["now"])
    running.append(runner)
    runner.start()
    job = runner.scheduler.get_job("digest")
    local = job.next_run_time.astimezone(config.event.tz)
    assert (local.hour, local.minute) == (7, 30)
    assert timedelta(0) < job.next_run_time - datetime.now(UTC) <= timedelta(days=1)
    # What the job does when it fires (the scheduler calls job.func with job.args).
    job.func(*job.args)
    assert sc.DIGESTS[-1]["day"] == date(2016, 11, 24)
    assert runner.control is not None
    assert sc.DIGESTS[-1]["conn"] is runner.control.conn
    assert sc.DIGESTS[-1]["send"] is True


def test_no_digest_job_when_digest_time_is_empty(tmp_path: Path, running: list[Runner]) -> None:
    config = make_config(tmp_path, digest_time="")
    runner = start(running, config, {})
    assert runner.scheduler.get_job("digest") is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("7.30", "schedule.digest_time '7.30' is not a time of day; write it as HH:MM"),
        ("25:00", "schedule.digest_time '25:00' is not a time of day"),
    ],
)
def test_bad_digest_time_is_a_config_error(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):  # by the loader (#19)
        make_config(tmp_path, digest_time=value)


def test_negative_session_interval_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="schedule.session_interval_minutes must be 0 or more"):
        make_config(tmp_path, session_interval_minutes=-1.0)


def test_stop_ends_a_pass_between_pages(tmp_path: Path, running: list[Runner]) -> None:
    class SlowPages(sc.PagedCollector):
        PAGE_DELAY = 0.2
        TOTAL = 60

    config = make_config(tmp_path)
    runner = start(running, config, {"bluesky": SlowPages})
    db = connect(config.db_path, readonly=True)
    wait_for(lambda: db.execute("select count(*) from posts").fetchone()[0] >= 6)
    t0 = time.monotonic()
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    stopper.join(timeout=10)
    assert time.monotonic() - t0 < 2, "stop waited for the whole pass"
    stored = db.execute("select count(*) from posts").fetchone()[0]
    cursor = db.execute("select value from cursors").fetchone()[0]
    run = db.execute("select status, error, new_posts from runs").fetchone()
    db.close()
    assert int(cursor) == stored == run["new_posts"] < 60
    assert (run["status"], run["error"]) == ("interrupted", "stopped before the pass finished")


def test_a_failed_digest_is_retried_then_given_up(
    tmp_path: Path,
    running: list[Runner],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(jobs, "send_daily_digest", sc.flaky_digest)
    monkeypatch.setitem(sc.DIGEST_FAILURES, "left", 1)
    config = make_config(tmp_path)
    runner = start(running, config, {})
    day = date(2016, 11, 24)
    assert runner.digest(day) is False
    retry = runner.scheduler.get_job("digest-retry")
    assert retry.args == (day, 2)
    wait = retry.next_run_time - datetime.now(UTC)
    assert timedelta(minutes=14) < wait <= timedelta(minutes=15)
    assert "refused the connection); trying again at" in caplog.text
    # What the retry does when it fires: this time the server answers.
    assert retry.func(*retry.args) is True
    assert sc.DIGESTS[-1]["day"] == day
    # Down all morning: after the last attempt, one clear line saying what to do.
    monkeypatch.setitem(sc.DIGEST_FAILURES, "left", 5)
    assert runner.digest(day, attempt=3) is False
    assert (
        "digest for 2016-11-24 failed 3 times (SMTP server smtp.example.org:587 refused the"
        " connection); send it by hand: tagwatch digest --date 2016-11-24 --send"
    ) in caplog.text


def test_a_digest_failing_as_the_runner_stops_does_not_hang_it(
    tmp_path: Path,
    running: list[Runner],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = threading.Event()

    def smtp_down_while_stopping(config: Any, day: Any, *, conn: Any, send: bool) -> None:
        failing.set()
        time.sleep(0.5)  # stop() begins while the digest is still failing
        raise OSError("SMTP server smtp.example.org:587 refused the connection")

    monkeypatch.setattr(jobs, "send_daily_digest", smtp_down_while_stopping)
    runner = start(running, make_config(tmp_path), {})
    runner.scheduler.add_job(runner.digest, args=[date(2016, 11, 24)], id="digest-now")
    assert failing.wait(10)
    stopper = threading.Thread(target=runner.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=20)
    assert not stopper.is_alive(), "stop() hung on the failed digest's retry"
    assert (
        "digest for 2016-11-24 failed (SMTP server smtp.example.org:587 refused the connection)"
        " as tagwatch stopped; send it by hand: tagwatch digest --date 2016-11-24 --send"
    ) in caplog.text
