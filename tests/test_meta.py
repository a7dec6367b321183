"""Threads and Instagram (issue #20): collectors against loopback fakes of Meta's Graph APIs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.collectors.base import RunRecord
from tagwatch.collectors.fakes.meta import FakeInstagram, FakeThreads
from tagwatch.collectors.instagram import InstagramCollector
from tagwatch.collectors.meta.status import status_data, status_lines
from tagwatch.collectors.threads import ThreadsCollector
from tagwatch.errors import ConfigError
from tagwatch.reports.analysis import analyze
from tagwatch.reports.export import export_rows
from tagwatch.settings import Config, parse_config
from tagwatch.storage import quotas
from tagwatch.storage.db import Store
from tests.conftest import base_config_dict

# A present-day event: Threads takes no `since` before it opened (2023-07-05).
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
THREADS_TOKEN = "threads-token-Zq81"
IG_TOKEN = "ig-token-Kp27"
IG_USER = "17841400000000001"


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def threads(clock: Clock) -> Iterator[FakeThreads]:
    fake = FakeThreads(token=THREADS_TOKEN, now=clock, expires_at=NOW + timedelta(days=50))
    with fake:
        yield fake


@pytest.fixture
def instagram(clock: Clock) -> Iterator[FakeInstagram]:
    fake = FakeInstagram(token=IG_TOKEN, now=clock, user_id=IG_USER)
    with fake:
        yield fake


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGWATCH_THREADS_ACCESS_TOKEN", THREADS_TOKEN)
    monkeypatch.setenv("TAGWATCH_INSTAGRAM_ACCESS_TOKEN", IG_TOKEN)


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    data = base_config_dict(tmp_path)
    data["event"].update(start=date(2026, 11, 24), end=date(2026, 11, 26))
    data["collect"] = {"refresh_requests_per_pass": 0, "max_retries": 1}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return parse_config(data, path=tmp_path / "config.toml")


def run(cls: type, config: Config, store: Store, clock: Clock) -> tuple[RunRecord, list[float]]:
    slept: list[float] = []
    record = cls(config, store, now=clock, sleep=slept.append).run_pass()
    return record, slept


def threads_config(tmp_path: Path, fake: FakeThreads, **extra: Any) -> Config:
    return make_config(tmp_path, threads={"enabled": True, "api_base_url": fake.url, **extra})


def ig_config(tmp_path: Path, fake: FakeInstagram, **extra: Any) -> Config:
    return make_config(
        tmp_path,
        instagram={"enabled": True, "api_base_url": fake.url, "user_id": IG_USER, **extra},
    )


def rows(store: Store, platform: str) -> list[Any]:
    return list(
        store.conn.execute(
            "select * from posts where platform = ? order by created_at", (platform,)
        )
    )


# -- Threads -------------------------------------------------------------------------


def test_threads_backfill_pages_then_a_second_pass_asks_only_for_what_is_new(
    tmp_path: Path, threads: FakeThreads, clock: Clock
) -> None:
    for n in range(250):
        threads.post(
            f"user{n % 7}",
            f"Post {n} #HRHN2016",
            at=T0 + timedelta(minutes=n),
            topic_tag="HRHN2016",
        )
    threads.post("someone", "Other topic", at=T0, topic_tag="elsewhere")
    config = threads_config(tmp_path, threads)
    with Store.open(config.db_path) as store:
        record, _ = run(ThreadsCollector, config, store, clock)
        assert record.status == "ok", record.error
        assert record.new_posts == 250
        searches = [r for r in threads.requests if r.path == "/v1.0/keyword_search"]
        assert len(searches) == 3  # 100 + 100 + 50
        assert {r.query["search_mode"] for r in searches} == {"TAG"}
        assert {r.query["search_type"] for r in searches} == {"RECENT"}
        assert record.requests == 5  # debug_token, me, three searches
        # Every counted search is in the ledger, as Meta counts them.
        assert quotas.queries_since(store.conn, "threads", NOW - timedelta(days=1)) == 3
        assert threads.counted == 3

        stored = rows(store, "threads")
        assert len(stored) == 250
        # Threads search gives no counts: unknown, not zero.
        assert {(r["likes"], r["replies"], r["reposts"], r["quotes"]) for r in stored} == {
            (None, None, None, None)
        }
        assert stored[0]["author_handle"] == "user0"

        threads.post("late", "New #HRHN2016", at=NOW, topic_tag="HRHN2016")
        clock.at = NOW + timedelta(minutes=15)
        second, _ = run(ThreadsCollector, config, store, clock)
        assert second.new_posts == 1
        last = [r for r in threads.requests if r.path == "/v1.0/keyword_search"][-1]
        newest = int((T0 + timedelta(minutes=249)).timestamp())
        assert last.query.get("since") == str(newest)
        assert len(rows(store, "threads")) == 251


def test_threads_ledger_stops_before_the_rolling_limit(
    tmp_path: Path, threads: FakeThreads, clock: Clock
) -> None:
    for n in range(30):
        threads.post("a", f"{n} #HRHN2016", at=T0 + timedelta(minutes=n), topic_tag="HRHN2016")
    config = threads_config(tmp_path, threads, daily_query_limit=12, query_reserve=2)
    with Store.open(config.db_path) as store:
        for i in range(10):
            quotas.record_query(
                store.conn, "threads", "hrhn2016", NOW - timedelta(hours=23, minutes=i)
            )
        record, _ = run(ThreadsCollector, config, store, clock)
        assert record.status == "quota"
        assert "10 searches in the last 24 hours of the 12 Meta allows" in (record.error or "")
        assert threads.count("/v1.0/keyword_search") == 0  # refused before asking
        lines = status_lines(config, NOW)
        assert any("Threads queries: 10 of 10 usable" in line for line in lines)


def test_threads_spreads_a_long_backfill_over_passes(
    tmp_path: Path, threads: FakeThreads, clock: Clock
) -> None:
    for n in range(500):
        threads.post("a", f"{n} #HRHN2016", at=T0 + timedelta(minutes=n), topic_tag="HRHN2016")
    # 96 passes a day share 288 searches: 3 per pass.
    config = threads_config(tmp_path, threads, daily_query_limit=300, query_reserve=12)
    with Store.open(config.db_path) as store:
        first, _ = run(ThreadsCollector, config, store, clock)
        assert first.new_posts == 300
        assert first.details["stopped_early"].startswith("this pass's share")
        clock.at += timedelta(minutes=15)
        second, _ = run(ThreadsCollector, config, store, clock)
        assert second.new_posts == 200
        assert len(rows(store, "threads")) == 500


def test_threads_without_keyword_search_approval_says_so(tmp_path: Path, clock: Clock) -> None:
    with FakeThreads(token=THREADS_TOKEN, now=clock, approved=False, owner="me_org") as fake:
        fake.post("me_org", "Ours #HRHN2016", at=T0, topic_tag="HRHN2016")
        fake.post("stranger", "Theirs #HRHN2016", at=T0, topic_tag="HRHN2016")
        config = threads_config(tmp_path, fake)
        with Store.open(config.db_path) as store:
            record, _ = run(ThreadsCollector, config, store, clock)
            assert record.status == "partial"
            assert "only the token owner's own posts (@me_org)" in (record.error or "")
            assert "threads_keyword_search" in (record.error or "")
            assert record.details["own_posts_only"] is True
        lines = status_lines(config, NOW)
        assert any("only the token owner's own posts" in line for line in lines)


def test_threads_expired_token_names_the_variable_and_how_to_renew(
    tmp_path: Path, threads: FakeThreads, clock: Clock
) -> None:
    threads.revoked = True
    config = threads_config(tmp_path, threads)
    with Store.open(config.db_path) as store:
        record, _ = run(ThreadsCollector, config, store, clock)
    assert record.status == "failed"
    assert "code 190" in (record.error or "")
    assert "TAGWATCH_THREADS_ACCESS_TOKEN" in (record.error or "")
    assert "60 days" in (record.error or "")
    assert THREADS_TOKEN not in (record.error or "")


def test_a_missing_token_is_a_clear_error(
    tmp_path: Path, threads: FakeThreads, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAGWATCH_THREADS_ACCESS_TOKEN")
    config = threads_config(tmp_path, threads)
    with Store.open(config.db_path) as store:
        record, _ = run(ThreadsCollector, config, store, clock)
    assert record.status == "failed"
    assert "put it in the environment variable TAGWATCH_THREADS_ACCESS_TOKEN" in (
        record.error or ""
    )
    assert threads.requests == []


def test_token_expiry_warns_seven_days_ahead(tmp_path: Path, clock: Clock) -> None:
    with FakeThreads(token=THREADS_TOKEN, now=clock, expires_at=NOW + timedelta(days=5)) as fake:
        config = threads_config(tmp_path, fake)
        with Store.open(config.db_path) as store:
            record, _ = run(ThreadsCollector, config, store, clock)
            assert record.status == "ok"
    lines = status_lines(config, NOW)
    assert any(
        "token in TAGWATCH_THREADS_ACCESS_TOKEN expires" in line and "60 days" in line
        for line in lines
    )


def test_a_threads_post_deleted_upstream_is_purged_by_the_refresh(
    tmp_path: Path, threads: FakeThreads, clock: Clock
) -> None:
    kept = threads.post(
        "ana_b", "Kept #HRHN2016", at=NOW - timedelta(minutes=2), topic_tag="HRHN2016"
    )
    gone = threads.post(
        "ana_b", "Gone #HRHN2016", at=NOW - timedelta(minutes=1), topic_tag="HRHN2016"
    )
    config = threads_config(tmp_path, threads)
    with Store.open(config.db_path) as store:
        run(ThreadsCollector, config, store, clock)
        threads.delete(gone["id"])
        refreshing = make_config(
            tmp_path,
            threads={"enabled": True, "api_base_url": threads.url},
            collect={"refresh_requests_per_pass": 10},
        )
        clock.at = NOW + timedelta(minutes=15)
        record, _ = run(ThreadsCollector, refreshing, store, clock)
        assert record.status == "ok", record.error
        assert record.details["refresh"]["deleted"] == 1
        # The refresh asked for each stored post by id; Meta answered code 100 for the gone one.
        asked = {r.path[6:] for r in threads.requests if r.path[6:].isdigit()}
        assert {kept["id"], gone["id"]} <= asked
        by_id = {r["platform_id"]: r for r in rows(store, "threads")}
        assert by_id[gone["id"]]["deleted"] == 1 and by_id[gone["id"]]["text"] == ""
        assert by_id[kept["id"]]["deleted"] == 0 and by_id[kept["id"]]["text"] == "Kept #HRHN2016"
        # Still unknown, not zero: a refresh of a Threads post brings no counts.
        assert by_id[kept["id"]]["likes"] is None


# -- Instagram -------------------------------------------------------------------------


def test_instagram_recent_and_top_media_stored_once_without_an_author(
    tmp_path: Path, instagram: FakeInstagram, clock: Clock
) -> None:
    for n in range(120):
        instagram.post(
            f"Photo {n} #HRHN2016", at=NOW - timedelta(minutes=5 * n), likes=n, comments=1
        )
    hidden = instagram.post("Likes hidden #hrhn2016", at=NOW - timedelta(minutes=1), likes=None)
    config = ig_config(tmp_path, instagram)
    with Store.open(config.db_path) as store:
        record, _ = run(InstagramCollector, config, store, clock)
        assert record.status == "ok", record.error
        assert record.new_posts == 121
        assert instagram.searched == ["hrhn2016"]
        recent = [r for r in instagram.requests if r.path.endswith("/recent_media")]
        assert len(recent) == 3  # 50 + 50 + 21
        assert all("username" not in r.query["fields"] for r in recent)
        assert instagram.count(f"/v21.0/{instagram.hashtags['hrhn2016']}/top_media") == 1
        assert record.requests == 6  # debug_token, hashtag search, 3 recent, 1 top

        by_id = {r["platform_id"]: r for r in rows(store, "instagram")}
        assert by_id[hidden["id"]]["likes"] is None  # hidden likes: unknown
        assert all(r["author_id"] is None and r["author_handle"] is None for r in by_id.values())

        instagram.post("Fresh #HRHN2016", at=NOW + timedelta(minutes=20))
        clock.at = NOW + timedelta(minutes=30)
        second, _ = run(InstagramCollector, config, store, clock)
        assert second.new_posts == 1
        assert instagram.searched == ["hrhn2016"]  # the id came from the database
        assert second.requests == 3  # debug_token, one recent page, one top page
        assert len(by_id) + 1 == len(rows(store, "instagram"))


def test_the_31st_hashtag_is_refused_before_a_request(
    tmp_path: Path, instagram: FakeInstagram, clock: Clock
) -> None:
    config = ig_config(tmp_path, instagram)
    with Store.open(config.db_path) as store:
        for n in range(30):
            quotas.record_query(store.conn, "instagram", f"other{n}", NOW - timedelta(days=6))
        record, _ = run(InstagramCollector, config, store, clock)
        assert record.status == "quota"
        assert "30 of 30 unique hashtags" in (record.error or "")
        assert "#hrhn2016 was not asked for" in (record.error or "")
        assert instagram.searched == []
        assert instagram.count("/v21.0/1784") == 0
        data = status_data(config, NOW)
        assert data["instagram"]["hashtags_used"] == 30
        assert data["instagram"]["hashtags_left"] == 0
        # Once the oldest leave the window, the hashtag fits again.
        clock.at = NOW + timedelta(days=1, minutes=1)
        record, _ = run(InstagramCollector, config, store, clock)
        assert record.status == "ok", record.error
        assert instagram.searched == ["hrhn2016"]


def test_a_rate_limit_at_full_usage_ends_the_pass_when_access_returns_too_late(
    tmp_path: Path, instagram: FakeInstagram, clock: Clock
) -> None:
    instagram.throttle(4)
    instagram.regain_minutes = 60
    config = ig_config(tmp_path, instagram)
    with Store.open(config.db_path) as store:
        record, slept = run(InstagramCollector, config, store, clock)
    assert record.status == "rate_limited"
    assert "throttling" in (record.error or "") and "code 4" in (record.error or "")
    assert "2026-11-25T13:0" in (record.error or "")  # now + 60 minutes
    assert slept == []


def test_usage_near_the_limit_slows_the_pass(
    tmp_path: Path, instagram: FakeInstagram, clock: Clock
) -> None:
    instagram.post("One #HRHN2016", at=NOW - timedelta(minutes=1))
    instagram.usage_percent = 90
    config = ig_config(tmp_path, instagram)
    with Store.open(config.db_path) as store:
        record, slept = run(InstagramCollector, config, store, clock)
    assert record.status == "ok"
    assert record.details["usage_percent"] == 90
    assert slept and all(s == pytest.approx(22.0) for s in slept)


def test_a_deleted_media_object_is_purged_by_the_refresh(
    tmp_path: Path, instagram: FakeInstagram, clock: Clock
) -> None:
    kept = instagram.post("Kept #HRHN2016", at=NOW - timedelta(minutes=2), likes=1)
    gone = instagram.post("Gone #HRHN2016", at=NOW - timedelta(minutes=1), likes=1)
    config = ig_config(tmp_path, instagram)
    with Store.open(config.db_path) as store:
        run(InstagramCollector, config, store, clock)
        instagram.delete(gone["id"])
        instagram.media[kept["id"]]["like_count"] = 9
        refreshing = make_config(
            tmp_path,
            instagram={"enabled": True, "api_base_url": instagram.url, "user_id": IG_USER},
            collect={"refresh_requests_per_pass": 10},
        )
        clock.at = NOW + timedelta(minutes=30)
        record, _ = run(InstagramCollector, refreshing, store, clock)
        assert record.details["refresh"]["deleted"] == 1
        by_id = {r["platform_id"]: r for r in rows(store, "instagram")}
        assert by_id[gone["id"]]["deleted"] == 1 and by_id[gone["id"]]["text"] == ""
        assert by_id[kept["id"]]["likes"] == 9


def test_a_gap_over_24_hours_is_recorded_and_warned(
    tmp_path: Path, instagram: FakeInstagram, clock: Clock
) -> None:
    config = ig_config(tmp_path, instagram)
    with Store.open(config.db_path) as store:
        run(InstagramCollector, config, store, clock)
        clock.at = NOW + timedelta(hours=30)
        record, _ = run(InstagramCollector, config, store, clock)
    assert record.details["gap_hours"] == 30.0
    assert any(
        "30 hours passed between two passes" in line for line in status_lines(config, clock.at)
    )


def test_an_instagram_post_counts_in_totals_but_not_in_voices_or_reach(
    tmp_path: Path, instagram: FakeInstagram, threads: FakeThreads, clock: Clock
) -> None:
    instagram.post("Photo #HRHN2016", at=NOW - timedelta(minutes=1), likes=4, comments=2)
    config = ig_config(tmp_path, instagram)
    with Store.open(config.db_path) as store:
        run(InstagramCollector, config, store, clock)
        analysis = analyze(
            store.conn, config.event, NOW - timedelta(days=1), NOW + timedelta(hours=1)
        )
        assert analysis.summary.counts.posts == 1
        assert analysis.summary.counts.unique_authors == 0
        assert analysis.summary.counts.likes == 4
        assert analysis.summary.potential_reach == 0
        assert analysis.voices.by_posts == []
        exported = list(export_rows(store.conn, platform="instagram"))
        assert exported[0]["author_handle"] == "" and exported[0]["likes"] == 4
        assert exported[0]["reposts"] is None  # Instagram has no reposts: unknown, not 0


def test_instagram_needs_a_user_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="instagram.user_id is empty"):
        make_config(tmp_path, instagram={"enabled": True})


def test_the_wall_names_an_unknown_author_neutrally(
    tmp_path: Path, instagram: FakeInstagram, clock: Clock
) -> None:
    from tagwatch.reports.wall.feed import payload, post_rows

    instagram.post("Photo #HRHN2016", at=NOW - timedelta(minutes=1))
    config = ig_config(tmp_path, instagram)
    with Store.open(config.db_path) as store:
        run(InstagramCollector, config, store, clock)
        (row,) = post_rows(store.conn, [r["id"] for r in rows(store, "instagram")])
        shown = payload(row)
    assert shown["name"] == "an Instagram account" and shown["handle"] == ""
