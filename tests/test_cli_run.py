"""`tagwatch run`, `collect` and `status` as a user (or cron, or systemd) runs them.

The runner runs as a real subprocess here: signals, the lock and the exit code
are only real across a process boundary. Its collector is a test collector
registered in `collectors.PLATFORMS` in place of Bluesky.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sched_collectors as sc
from click.testing import CliRunner

from tagwatch import collectors
from tagwatch.monitor import jobs
from tagwatch.monitor.cli import cli
from tagwatch.monitor.health import schedule_path
from tagwatch.monitor.lock import RunnerLock
from tagwatch.monitor.progress import ProgressLine
from tagwatch.storage.db import connect

TESTS = Path(__file__).resolve().parent
TOTAL = 40
PAGE = 2


def write_config(tmp_path: Path, *, interval_s: float = 0.5, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            [event]
            name = "Test Assembly"
            hashtags = ["HRHN2016"]
            timezone = "Europe/Belgrade"
            start = 2016-11-24
            end = 2016-11-26

            [storage]
            path = "test.db"

            [collect]
            max_retries = 0

            [bluesky]
            enabled = true
            interval_minutes = {interval_s / 60}

            [schedule]
            jitter_seconds = 0.0
            log_file = "run.log"
            """
        )
        + extra,
        encoding="utf-8",
    )
    return path


def tagwatch(
    config: Path, *args: str, page_delay: float = 0.0, collector: str = "PagedCollector"
) -> subprocess.Popen[str]:
    """`tagwatch --config CONFIG ARGS` in a subprocess; the test collector stands in for Bluesky."""
    script = textwrap.dedent(
        f"""\
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from tagwatch import collectors
        from tagwatch.monitor import jobs
        collectors.PLATFORMS["bluesky"] = "sched_collectors:{collector}"
        import sched_collectors
        jobs.enrich_pending = sched_collectors.record_enrichment
        jobs.warm_enrichment = sched_collectors.record_warm_up
        jobs.send_daily_digest = sched_collectors.record_digest
        from tagwatch.monitor.cli import cli
        cli(["--config", {str(config)!r}, *sys.argv[1:]], prog_name="tagwatch")
        """
    )
    env = {
        **os.environ,
        "SCHED_TOTAL": str(TOTAL),
        "SCHED_PAGE_SIZE": str(PAGE),
        "SCHED_PAGE_DELAY": str(page_delay),
        # This checkout's code, not whichever tagwatch is installed.
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(
    condition: Any, timeout: float = 20.0, proc: subprocess.Popen[str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    conn = connect(db, readonly=True)
    try:
        return conn.execute("select count(*) from posts").fetchone()[0]
    except Exception:  # noqa: BLE001 - schema not created yet
        return 0
    finally:
        conn.close()


def check_consistent(db: Path, *, runs_add_up: bool = True) -> tuple[int, list[Any]]:
    """Posts are exactly p0..p(n-1), the cursor says n, and the runs add up to n."""
    conn = connect(db, readonly=True)
    try:
        ids = [r[0] for r in conn.execute("select platform_id from posts order by platform_id")]
        cursor = conn.execute("select value from cursors").fetchone()
        runs = list(conn.execute("select * from runs order by id"))
    finally:
        conn.close()
    n = len(ids)
    assert ids == [f"p{i:05d}" for i in range(n)], "a gap or a stray post"
    assert cursor is not None and int(cursor[0]) == n, "cursor and stored posts disagree"
    if runs_add_up:
        assert sum(r["new_posts"] for r in runs) == n, "a post counted twice"
    return n, runs


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def run_mid_pass(
    tmp_path: Path, procs: list[subprocess.Popen[str]], posts: int
) -> tuple[Path, Path, subprocess.Popen[str]]:
    """`tagwatch run` on a slow platform, once its first pass has stored `posts` posts."""
    config = write_config(tmp_path, interval_s=60)
    db = tmp_path / "test.db"
    runner = tagwatch(config, "run", page_delay=0.15)
    procs.append(runner)
    wait_for(lambda: stored(db) >= posts, proc=runner)
    return config, db, runner


def test_sigterm_mid_pass_then_the_next_run_resumes(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    config, db, runner = run_mid_pass(tmp_path, procs, 6)
    runner.send_signal(signal.SIGTERM)
    out, err = runner.communicate(timeout=20)
    assert runner.returncode == 0, err
    assert "SIGTERM received: stopping after the passes in flight" in err
    n, runs = check_consistent(db)
    assert 6 <= n < TOTAL
    assert [(r["status"], r["error"]) for r in runs] == [
        ("interrupted", "stopped before the pass finished")
    ]
    assert not schedule_path(db).exists()
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert f"pass bluesky: interrupted, {n} new" in log

    again = tagwatch(config, "collect")
    out, err = again.communicate(timeout=30)
    assert again.returncode == 0, err
    n2, runs = check_consistent(db)
    assert n2 == TOTAL
    resumed = runs[-1]
    assert resumed["new_posts"] == TOTAL - n
    # Resumed from the cursor: it read only the pages it had not stored.
    assert resumed["requests"] == -(-(TOTAL - n) // PAGE)
    assert out.strip() == f"bluesky: ok, {TOTAL - n} new, 0 updated, {resumed['requests']} requests"


def test_a_killed_runner_leaves_no_stuck_lock_and_no_half_pass(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    config, db, runner = run_mid_pass(tmp_path, procs, 4)
    runner.kill()
    runner.communicate()
    # Killed: its run record cannot say what it stored, but the posts and cursor agree.
    before, _ = check_consistent(db, runs_add_up=False)

    again = tagwatch(config, "collect")
    out, err = again.communicate(timeout=30)
    assert again.returncode == 0, err
    assert "1 pass(es) left unfinished by an earlier run marked interrupted" in err
    n, runs = check_consistent(db, runs_add_up=False)
    assert n == TOTAL
    assert runs[-1]["new_posts"] == TOTAL - before
    assert runs[0]["status"] == "interrupted"
    assert runs[0]["error"] == "the process stopped before the pass finished"


def test_second_runner_is_refused_and_status_shows_the_schedule(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    config = write_config(tmp_path, interval_s=30)
    db = tmp_path / "test.db"
    runner = tagwatch(config, "run")
    procs.append(runner)
    wait_for(lambda: stored(db) == TOTAL and schedule_path(db).exists(), proc=runner)

    second = CliRunner().invoke(cli, ["--config", str(config), "run"])
    assert second.exit_code == 2
    assert f"Error: Another tagwatch (run, pid {runner.pid} on " in second.output
    assert f"is already collecting into {db}. Stop it first" in second.output
    cron = CliRunner().invoke(cli, ["--config", str(config), "collect"])
    assert cron.exit_code == 2
    assert "Another tagwatch (run, pid" in cron.output

    wait_for(lambda: json.loads(schedule_path(db).read_text())["jobs"][0]["next_run_at"])
    status = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert status.exit_code == 0, status.output
    assert "bluesky" in status.output and "; next run 20" in status.output
    assert "Runner: running since 20" in status.output
    assert "next digest" in status.output and "07:30 Europe/Belgrade" in status.output

    runner.send_signal(signal.SIGINT)
    runner.communicate(timeout=20)
    assert runner.returncode == 0
    status = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert "Runner: not running (start it with `tagwatch run`)" in status.output
    assert "next run" not in status.output


# -- tagwatch collect in-process -------------------------------------------------------------


@pytest.fixture
def as_bluesky(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(jobs, "enrich_pending", sc.record_enrichment)

    def register(cls_name: str) -> None:
        monkeypatch.setitem(collectors.PLATFORMS, "bluesky", f"sched_collectors:{cls_name}")

    return register


def test_collect_prints_a_summary_line_and_progress(tmp_path: Path, as_bluesky: Any) -> None:
    as_bluesky("PagedCollector")
    config = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "collect"])
    assert result.exit_code == 0, result.output
    total, page = sc.PagedCollector.TOTAL, sc.PagedCollector.PAGE_SIZE
    assert result.stdout == f"bluesky: ok, {total} new, 0 updated, {total // page} requests\n"
    # Not a terminal: plain lines, one per page, no carriage returns.
    lines = result.stderr.splitlines()
    assert lines[0] == f"bluesky #HRHN2016: {page} new posts so far"
    assert lines[-1] == f"bluesky #HRHN2016: {total} new posts so far"
    assert "\r" not in result.stderr


def test_collect_exits_1_when_a_pass_failed(tmp_path: Path, as_bluesky: Any) -> None:
    as_bluesky("RaisingCollector")
    config = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "collect", "--platform", "bluesky"])
    assert result.exit_code == 1
    assert result.stdout == (
        "buggy: failed, 0 new, 0 updated, 0 requests (unexpected RuntimeError: bug in the"
        " collector)\n"
    )


def test_collect_refuses_a_platform_that_is_not_enabled(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["--config", str(config), "collect", "--platform", "x"])
    assert result.exit_code == 2
    assert result.output == f"Error: x is not enabled in {config}: set enabled = true under [x].\n"


def test_collect_with_no_collector_enabled(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
    result = CliRunner().invoke(cli, ["--config", str(config), "collect"])
    assert result.exit_code == 2
    assert result.output == (
        f"Error: No collector is enabled in {config}: set enabled = true under "
        "[bluesky], [x], [mastodon], [threads] or [instagram].\n"
    )


def test_collect_refused_while_a_collect_holds_the_database(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with RunnerLock(tmp_path / "test.db", command="collect"):
        result = CliRunner().invoke(cli, ["--config", str(config), "collect"])
    assert result.exit_code == 2
    assert f"Error: Another tagwatch (collect, pid {os.getpid()} on " in result.output


def test_progress_on_a_terminal_is_one_line_rewritten() -> None:
    stream = io.StringIO()
    ticks = iter([0.0, 2.0, 5.0])
    progress = ProgressLine(stream, tty=True, clock=lambda: next(ticks))
    progress("bluesky", "#HRHN2016", 100)
    progress("bluesky", "#HRHN2016", 200)
    progress("bluesky", "#HRHN2016", 300)
    text = stream.getvalue()
    assert "\n" not in text
    frames = text.split("\r")[1:]
    assert [f.split()[1:4] for f in frames] == [
        ["bluesky", "#HRHN2016", "100"],
        ["bluesky", "#HRHN2016", "200"],
        ["bluesky", "#HRHN2016", "300"],
    ]
    assert frames[-1].rstrip().endswith("new posts      5s")
    progress.clear()
    assert stream.getvalue().endswith("\r")


def test_status_flags_a_collector_failing_too_often(tmp_path: Path, as_bluesky: Any) -> None:
    as_bluesky("RaisingCollector")
    config = write_config(tmp_path, extra="failure_alert_after = 2\n")
    args = ["--config", str(config)]
    assert CliRunner().invoke(cli, [*args, "collect"]).exit_code == 1
    once = CliRunner().invoke(cli, [*args, "status"]).output
    assert "1 failure(s) in a row\n" in once
    assert CliRunner().invoke(cli, [*args, "collect"]).exit_code == 1
    twice = CliRunner().invoke(cli, [*args, "status"]).output
    assert "2 failure(s) in a row [FLAGGED]\n" in twice
    assert "      last error: unexpected RuntimeError: bug in the collector\n" in twice
    assert "Runner: not running (start it with `tagwatch run`)" in twice


def test_a_second_signal_quits_at_once(tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    config = write_config(tmp_path, interval_s=60)
    db = tmp_path / "test.db"
    runner = tagwatch(config, "run", collector="StuckCollector")
    procs.append(runner)
    wait_for(lambda: stored(db) == PAGE, proc=runner)
    runner.send_signal(signal.SIGTERM)
    # Signals sent before the first one is handled would merge into one: wait for it.
    log = tmp_path / "run.log"
    wait_for(lambda: "SIGTERM received: stopping" in log.read_text(encoding="utf-8"), proc=runner)
    time.sleep(0.5)
    assert runner.poll() is None, "the first signal waits for the pass in flight"
    t0 = time.monotonic()
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=10)
    assert time.monotonic() - t0 < 5
    assert runner.returncode == 1
    assert "SIGTERM received again: quitting now" in err
    n, _ = check_consistent(db, runs_add_up=False)
    assert n == PAGE
