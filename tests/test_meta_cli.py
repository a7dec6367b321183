"""Threads and Instagram through `tagwatch collect --platform` and `tagwatch run` (issue #20)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tagwatch.collectors import sections_hint
from tagwatch.collectors.fakes.meta import FakeInstagram, FakeThreads
from tagwatch.monitor.cli import cli
from tagwatch.monitor.runner import Runner
from tagwatch.monitor.scheduler import run_until_stopped
from tagwatch.monitor.triggers import collect_trigger
from tagwatch.settings import load_config
from tagwatch.storage.db import connect
from tests.conftest import base_config_dict, write_config_toml
from tests.test_meta import IG_TOKEN, IG_USER, THREADS_TOKEN


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_THREADS_ACCESS_TOKEN", THREADS_TOKEN)
    monkeypatch.setenv("TAGWATCH_INSTAGRAM_ACCESS_TOKEN", IG_TOKEN)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeThreads, FakeInstagram]]:
    # The CLI runs on the real clock: so do the fakes, and the event is this week.
    with (
        FakeThreads(token=THREADS_TOKEN) as threads,
        FakeInstagram(token=IG_TOKEN, user_id=IG_USER) as instagram,
    ):
        at = datetime.now(UTC) - timedelta(hours=1)
        threads.post("ana_b", "From the hall #HRHN2016", at=at, topic_tag="HRHN2016")
        instagram.post("Photo #HRHN2016", at=at, likes=3)
        yield threads, instagram


def write(
    tmp_path: Path,
    fakes: tuple[FakeThreads, FakeInstagram],
    *,
    enabled: bool = True,
    **sections: dict[str, Any],
) -> Path:
    threads, instagram = fakes
    data = base_config_dict(tmp_path)
    today = date.today()
    data["event"].update(start=today - timedelta(days=1), end=today + timedelta(days=1))
    data["threads"] = {"enabled": enabled, "api_base_url": threads.url, "interval_minutes": 7.0}
    data["instagram"] = {
        "enabled": enabled,
        "api_base_url": instagram.url,
        "user_id": IG_USER,
        "interval_minutes": 45.0,
    }
    data["schedule"] = {"jitter_seconds": 0.0, "log_file": "", "serve_wall": False}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return write_config_toml(tmp_path / "config.toml", data)


def stored(config_path: Path) -> dict[str, int]:
    conn = connect(load_config(config_path).db_path, readonly=True)
    try:
        return dict(conn.execute("select platform, count(*) from posts group by platform"))
    finally:
        conn.close()


@pytest.mark.parametrize("platform", ["threads", "instagram"])
def test_collect_platform_runs_that_collector_only(
    tmp_path: Path, fakes: tuple[FakeThreads, FakeInstagram], platform: str
) -> None:
    path = write(tmp_path, fakes)
    result = CliRunner().invoke(cli, ["--config", str(path), "collect", "--platform", platform])
    assert result.exit_code == 0, result.output
    assert platform in result.output
    assert stored(path) == {platform: 1}
    other = fakes[1] if platform == "threads" else fakes[0]
    assert other.requests == []


def test_collect_platform_that_is_not_enabled(
    tmp_path: Path, fakes: tuple[FakeThreads, FakeInstagram]
) -> None:
    path = write(tmp_path, fakes, threads={"enabled": False})
    result = CliRunner().invoke(cli, ["--config", str(path), "collect", "--platform", "threads"])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: threads is not enabled in {path}: set enabled = true under [threads].\n"
    )
    assert fakes[0].requests == []


def test_no_collector_enabled_names_every_platform_section(
    tmp_path: Path, fakes: tuple[FakeThreads, FakeInstagram]
) -> None:
    assert sections_hint() == "[bluesky], [x], [mastodon], [threads] or [instagram]"
    path = write(tmp_path, fakes, enabled=False)
    result = CliRunner().invoke(cli, ["--config", str(path), "collect"])
    assert result.exit_code == 2
    assert f"set enabled = true under {sections_hint()}." in result.output
    # `tagwatch run` says the same in its log, then serves the digest only.
    log = io.StringIO()
    stop = threading.Event()
    stop.set()
    assert run_until_stopped(load_config(path), stop_event=stop, log_stream=log) == 0
    assert (
        "no collector is enabled: set enabled = true under [bluesky], [x], [mastodon], "
        "[threads] or [instagram]; running the digest only" in log.getvalue()
    )


def test_run_schedules_threads_and_instagram_at_their_intervals(
    tmp_path: Path, fakes: tuple[FakeThreads, FakeInstagram]
) -> None:
    config = load_config(write(tmp_path, fakes))
    assert collect_trigger(config, "threads").interval == timedelta(minutes=7)
    assert collect_trigger(config, "instagram").interval == timedelta(minutes=45)
    runner = Runner(config)
    runner.start()
    try:
        jobs = {job.id: job.trigger for job in runner.scheduler.get_jobs()}
        assert str(jobs["collect:threads"]).startswith("every 0:07:00")
        assert str(jobs["collect:instagram"]).startswith("every 0:45:00")
        # The first pass of each runs at once.
        deadline = time.monotonic() + 20
        while stored(config.path) != {"threads": 1, "instagram": 1}:
            assert time.monotonic() < deadline, stored(config.path)
            time.sleep(0.1)
    finally:
        runner.stop()
        runner.close()
