"""What the runner stands on: the database lock, the redacted rotating log, seams, the wall."""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sched_collectors as sc
from conftest import base_config_dict

from tagwatch.errors import AlreadyRunning, ConfigError
from tagwatch.monitor import jobs
from tagwatch.monitor.lock import RunnerLock, lock_holder
from tagwatch.monitor.logs import remove_logging, setup_logging
from tagwatch.monitor.runner import Runner
from tagwatch.monitor.scheduler import collect_now
from tagwatch.reports.wall.server import WallServer
from tagwatch.settings import Config, parse_config
from tests.conftest import free_port

SECRET = "s3cr3t-bearer-token-value"


def make_config(tmp_path: Path, **schedule: object) -> Config:
    data = base_config_dict(tmp_path)
    data["bluesky"] = {"enabled": True}
    data["x"] = {"bearer_token_env": "TEST_X_TOKEN"}
    data["schedule"] = {"jitter_seconds": 0.0, **schedule}
    return parse_config(data, path=tmp_path / "config.toml")


# -- lock ------------------------------------------------------------------------------------


def test_second_lock_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    db = tmp_path / "test.db"
    with RunnerLock(db, command="run"):
        holder = lock_holder(db)
        assert holder is not None and holder["pid"] == os.getpid()
        with pytest.raises(AlreadyRunning) as info:
            RunnerLock(db, command="collect").acquire()
    message = str(info.value)
    assert message.startswith(f"Another tagwatch (run, pid {os.getpid()} on {socket.gethostname()}")
    assert f"is already collecting into {db}. Stop it first" in message
    assert info.value.exit_code == 2
    # Released: the next one gets it, and nobody is reported as holding it.
    assert lock_holder(db) is None
    with RunnerLock(db):
        pass


def test_a_killed_holder_does_not_leave_the_lock_stuck(tmp_path: Path) -> None:
    db = tmp_path / "test.db"
    root = Path(__file__).resolve().parent.parent
    script = textwrap.dedent(
        f"""\
        import sys, time
        from tagwatch.monitor.lock import RunnerLock
        RunnerLock({str(db)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        with pytest.raises(AlreadyRunning, match=f"pid {proc.pid} "):
            RunnerLock(db).acquire()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    # The lock file is still there; the lock is not.
    assert Path(f"{db}.lock").exists()
    with RunnerLock(db) as lock:
        assert lock.held


# -- logging -----------------------------------------------------------------------------------


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Config, io.StringIO]]:
    monkeypatch.setenv("TEST_X_TOKEN", SECRET)
    config = make_config(tmp_path, log_file="logs/tagwatch.log")
    stream = io.StringIO()
    handlers = setup_logging(config, stream=stream)
    yield config, stream
    remove_logging(handlers)


def test_secrets_never_reach_the_log(logged: tuple[Config, io.StringIO], tmp_path: Path) -> None:
    _, stream = logged
    log = logging.getLogger("tagwatch.test")
    log.info("request to https://api.example/2?token=%s failed", SECRET)
    try:
        raise RuntimeError(f"401 for Authorization: Bearer {SECRET}")
    except RuntimeError:
        log.exception("pass failed")
    # A client library's warning goes through the same filter.
    logging.getLogger("some.client").warning("retrying with %s", SECRET)
    for text in (stream.getvalue(), (tmp_path / "logs" / "tagwatch.log").read_text()):
        assert SECRET not in text
        assert "token=[redacted] failed" in text
        assert "Bearer [redacted]" in text
        assert "retrying with [redacted]" in text


def test_log_file_rotates(tmp_path: Path) -> None:
    config = make_config(tmp_path, log_file="run.log", log_max_bytes=400, log_backups=2)
    handlers = setup_logging(config, stream=io.StringIO())
    try:
        for i in range(60):
            logging.getLogger("tagwatch.test").info("pass %d: ok, 0 new", i)
    finally:
        remove_logging(handlers)
    names = sorted(p.name for p in tmp_path.glob("run.log*"))
    assert names == ["run.log", "run.log.1", "run.log.2"]
    assert "pass 59: ok" in (tmp_path / "run.log").read_text()


def test_one_log_line_per_pass_with_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "enrich_pending", sc.record_enrichment)
    config = make_config(tmp_path, log_file="run.log")
    records = collect_now(
        config, factories={"bluesky": sc.PagedCollector}, log_stream=io.StringIO()
    )
    assert [r.status for r in records] == ["ok"]
    lines = [ln for ln in (tmp_path / "run.log").read_text().splitlines() if " pass " in ln]
    total, page = sc.PagedCollector.TOTAL, sc.PagedCollector.PAGE_SIZE
    assert len(lines) == 1
    assert lines[0].endswith(
        f"tagwatch.collect: pass bluesky: ok, {total} new, 0 updated, {total // page} requests"
    )


# -- the wall inside the runner ----------------------------------------------------------------


def wall_runner(tmp_path: Path, **wall: object) -> Runner:
    """A runner with no collector that serves the wall ([wall] settings as given)."""
    data = base_config_dict(tmp_path)
    data["schedule"] = {"serve_wall": True, "digest_time": ""}
    data["wall"] = wall
    return Runner(parse_config(data, path=tmp_path / "config.toml"), factories={})


def test_wall_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        wall = WallServer(jobs.wall_app(config), "127.0.0.1", port)
        with pytest.raises(ConfigError, match=f"could not listen on 127.0.0.1:{port}"):
            wall.start()


def test_run_in_a_missing_directory_says_so(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tagwatch.monitor.cli import cli

    config = tmp_path / "config.toml"
    config.write_text(
        '[event]\nname = "A"\nhashtags = ["HRHN2016"]\nstart = 2016-11-24\nend = 2016-11-26\n'
        '[storage]\npath = "nowhere/test.db"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "run"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: Directory {tmp_path / 'nowhere'} for the database does not exist: create it or "
        "change [storage] path in the config.\n"
    )


def test_runner_serves_the_wall_when_configured(tmp_path: Path) -> None:
    port = free_port()
    runner = wall_runner(tmp_path, port=port)
    runner.start()
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        runner.stop()
    assert page.status_code == 200
    assert "Test Assembly" in page.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_an_open_wall_does_not_hold_up_stopping(tmp_path: Path) -> None:
    """A wall browser keeps its event stream open: stopping ends it instead of waiting on it."""
    port = free_port()
    runner = wall_runner(tmp_path, port=port)
    runner.start()
    wall = runner.wall
    assert wall is not None
    with (
        httpx.Client(timeout=5) as client,
        client.stream("GET", f"http://127.0.0.1:{port}/api/wall/events") as events,
    ):
        lines = events.iter_lines()
        assert next(lines) == "retry: 2000"
        started = time.monotonic()
        runner.stop()
        took = time.monotonic() - started
        list(lines)  # the server ended the stream (one left open would time out here)
    assert took < 2, f"stopping took {took:.1f} s with a wall open"
    assert not wall.thread.is_alive()


def test_wall_inside_run_stays_on_loopback_unless_public(tmp_path: Path) -> None:
    from tagwatch.errors import UsageError

    runner = wall_runner(tmp_path, host="0.0.0.0")
    try:
        with pytest.raises(UsageError, match="Refusing to serve the wall on 0.0.0.0"):
            runner.start()
    finally:
        runner.stop()


def test_unwritable_log_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    config = make_config(tmp_path, log_file="blocker/run.log")
    with pytest.raises(ConfigError) as info:
        setup_logging(config, stream=io.StringIO())
    assert str(info.value) == (
        f"Cannot write the log file {tmp_path / 'blocker' / 'run.log'}: File exists. Set "
        '[schedule] log_file to a writable path, or to "" to log to stderr only.'
    )
    assert info.value.exit_code == 2
