"""`tagwatch demo` end to end: the real monitor on a short simulated event."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tagwatch.monitor.cli import cli
from tagwatch.monitor.demo import SimClock, run_demo
from tests.conftest import free_port


def test_sim_clock_runs_fast_and_stops_at_the_end():
    ticks = iter([0.0, 0.0, 10.0, 1000.0])
    start = datetime(2016, 11, 24, tzinfo=UTC)
    end = datetime(2016, 11, 24, 12, tzinfo=UTC)
    clock = SimClock(start, 360.0, end=end, monotonic=lambda: next(ticks))
    assert clock() == start
    assert clock() == datetime(2016, 11, 24, 1, tzinfo=UTC)  # 10 s x 360 = 1 h
    assert clock() == end  # capped


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    result = run_demo(out, minutes=0.3, port=free_port(), n_posts=600, echo=lines.append)
    return result, lines


def test_demo_collects_every_platform_through_the_real_collectors(demo_run):
    result, lines = demo_run
    assert set(result.posts_by_platform) == {"bluesky", "mastodon", "x", "threads", "instagram"}
    counts = result.posts_by_platform
    assert all(counts[p] > 50 for p in ("bluesky", "mastodon", "x")), counts
    # Smaller audiences there; every post the simulation published is collected.
    assert counts["threads"] > 10 and counts["instagram"] > 3, counts
    assert all(n >= 2 for n in result.passes.values()), result.passes
    conn = sqlite3.connect(result.db_path)
    statuses = {r[0] for r in conn.execute("select distinct status from runs")}
    assert "failed" not in statuses
    # enrichment ran after the passes: languages detected, English posts scored
    assert conn.execute("select count(*) from posts where enriched_at is null").fetchone()[0] == 0
    langs = {r[0] for r in conn.execute("select distinct lang_detected from posts")}
    assert {"en", "pl", "hu"} <= langs
    # What the APIs do not give is stored as unknown: Instagram authors, Threads counts.
    assert conn.execute(
        "select count(*) from posts where platform = 'instagram' and author_id is not null"
    ).fetchone() == (0,)
    assert conn.execute(
        "select count(*) from posts where platform = 'threads' and likes is not null"
    ).fetchone() == (0,)
    # the simulated authors deleted some posts: purged, not shown
    assert (
        conn.execute("select count(*) from posts where deleted = 1 and text != ''").fetchone()[0]
        == 0
    )
    assert any("Moderation:" in line and "token:" in line for line in lines)


def test_demo_wall_showed_moderated_posts(demo_run):
    result, _ = demo_run
    assert result.wall_posts_shown > 0
    conn = sqlite3.connect(result.db_path)
    # trolls' blocked words never reach the wall: the moderation log shows the moderator's work
    actions = [r[0] for r in conn.execute("select action from moderation_log")]
    assert result.wall_posts_hidden_by_moderator == actions.count("block")
    # The raid's days-old accounts are held for a moderator ([wall] hold_new_accounts_days),
    # and the queue says why; the count is what the queue listed.
    assert result.wall_posts_held > 0
    assert result.wall_held_example.startswith("held: account ")
    assert result.wall_held_example.endswith(" old")


def test_demo_writes_digests_and_the_impact_report(demo_run):
    result, _ = demo_run
    assert [p.name for p in result.digests] == [
        "digest-2016-11-24.html",
        "digest-2016-11-25.html",
        "digest-2016-11-26.html",
    ]
    for html in result.digests:
        text = html.read_text(encoding="utf-8")
        assert "Human Rights House Network Assembly 2016" in text
        assert html.with_suffix(".md").exists() and html.with_suffix(".txt").exists()
    # The busiest day's digest counts all five platforms and says what Meta's APIs leave out.
    busiest = result.digests[1].with_suffix(".md").read_text(encoding="utf-8")
    platforms_line = next(line for line in busiest.splitlines() if line.startswith("Bluesky "))
    for name in ("Mastodon", "X", "Threads", "Instagram"):
        assert f" {name} " in platforms_line, platforms_line
    assert "Threads search results come without like" in busiest
    assert "Instagram hashtag media come without their author" in busiest
    report = Path(result.report["html"]).read_text(encoding="utf-8")
    per_platform = report[report.index("Posts per platform") :]
    assert "threads" in per_platform and "instagram" in per_platform
    assert "Instagram hashtag media come without their author" in report
    pdf = Path(result.report["pdf"])
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_demo_config_is_a_valid_config_for_status(demo_run):
    result, _ = demo_run
    out = CliRunner().invoke(cli, ["--config", str(result.config_path), "status"])
    assert out.exit_code == 0, out.output
    assert "Human Rights House Network Assembly 2016" in out.output
    # Both Meta platforms are configured as a user would, tokens named by variable only.
    written = result.config_path.read_text(encoding="utf-8")
    assert "[threads]" in written and "[instagram]" in written
    assert 'access_token_env = "TAGWATCH_DEMO_THREADS_ACCESS_TOKEN"' in written
    # (status reads the ledgers at today's date, years after the simulated event)
    assert "Threads queries:" in out.output and "Instagram hashtags:" in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "0"], "--minutes must be greater than 0"),
        (["--speed", "-1"], "--speed must be greater than 0"),
    ],
)
def test_demo_bad_arguments(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_demo_with_the_fakes_in_their_own_process(tmp_path):
    """What bench/soak.py uses so the memory it prints is the monitor's alone."""
    lines: list[str] = []
    result = run_demo(
        tmp_path,
        minutes=0.25,
        port=free_port(),
        n_posts=300,
        echo=lines.append,
        fakes_process=True,
    )
    assert set(result.posts_by_platform) == {"bluesky", "mastodon", "x", "threads", "instagram"}
    assert sum(result.posts_by_platform.values()) > 200
    assert all(n == 0 for n in result.failed_passes.values()), result.failed_passes


def test_demo_trolls_raise_a_pile_on_alert_that_the_demo_prints(demo_run):
    """The raid on the evening panel's speaker reaches the chat webhook, once (#22)."""
    from tagwatch.collectors.fakes.simulation import RAID_TARGET

    result, lines = demo_run
    pile_ons = [t for t in result.alerts if t.startswith(f"Pile-on against @{RAID_TARGET}")]
    assert len(pile_ons) == 1, result.alerts
    assert any(f"Pile-on against @{RAID_TARGET}" in line for line in lines)
    conn = sqlite3.connect(result.db_path)
    (examples,) = conn.execute(
        "select examples from alerts where kind = 'pile_on' and target = ?", (RAID_TARGET,)
    ).fetchone()
    assert "patriot" in examples
