"""Mastodon's engagement refresh against loopback instances: batches, turns, confirmed deletions.

Also the closed hashtag timeline (Mastodon 4.5), whose wording `tagwatch status` shows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tagwatch.collectors.base import RunRecord
from tagwatch.collectors.fakes.mastodon import FakeMastodon, Fault
from tagwatch.collectors.mastodon import MastodonCollector, server_version
from tagwatch.settings import Config
from tagwatch.storage.db import Store
from tagwatch.storage.status import collector_health
from tests.test_mastodon import NOW, T0, fakes, make_config, rows, tag_link

__all__ = ["fakes"]  # the fixture, shared with test_mastodon

POSTS = 161


def text_of(n: int) -> str:
    return f"Post {n} & “quotes” <3 #HRHN2016"


def publish(inst: FakeMastodon, count: int) -> list[dict[str, Any]]:
    """`count` statuses whose HTML escapes what their authors typed."""
    return [
        inst.toot(
            f"user{n % 7}",
            f"<p>Post {n} &amp; “quotes” &lt;3 {tag_link(inst)}</p>",
            created_at=T0 + timedelta(minutes=n),
            tags=["hrhn2016"],
        )
        for n in range(count)
    ]


class Clock:
    """A pass clock that moves on a minute per pass, so 'least recently read' means something."""

    def __init__(self, start: datetime = NOW):
        self.at = start

    def __call__(self) -> datetime:
        return self.at


def run(config: Config, store: Store, clock: Clock | None = None) -> RunRecord:
    clock = clock or Clock()
    record = MastodonCollector(config, store, now=clock, sleep=lambda s: None).run_pass()
    clock.at += timedelta(minutes=1)
    return record


def refresh_config(tmp_path: Path, inst: FakeMastodon, budget: int) -> Config:
    return make_config(
        tmp_path,
        [inst.base_url],
        collect={
            "refresh_requests_per_pass": budget,
            "refresh_max_age_days": 3,
            "max_pages_per_pass": 50,
        },
    )


def batch_requests(inst: FakeMastodon, since: int = 0) -> list[list[str]]:
    return [r.multi["id[]"] for r in inst.requests[since:] if r.path == "/api/v1/statuses"]


def single_requests(inst: FakeMastodon, since: int = 0) -> list[str]:
    return [
        r.path.rsplit("/", 1)[1]
        for r in inst.requests[since:]
        if r.path.startswith("/api/v1/statuses/")
    ]


# -- the batch lookup -----------------------------------------------------------------


def test_161_posts_on_a_4_5_instance_are_all_refreshed_in_9_batch_requests(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.5.0")
    statuses = publish(inst, POSTS)
    assert run(refresh_config(tmp_path, inst, 0), store).new_posts == POSTS

    # Upstream, after the first pass: one post deleted, likes grown on the oldest.
    inst.delete(statuses[80])
    inst.update(statuses[0], favourites_count=42, reblogs_count=5)
    before = len(inst.requests)
    record = run(refresh_config(tmp_path, inst, 20), store)

    batches = batch_requests(inst, before)
    singles = single_requests(inst, before)
    assert len(batches) == 9 and max(len(b) for b in batches) == 20
    assert sorted(i for b in batches for i in b) == sorted(s["id"] for s in statuses)
    assert singles == [statuses[80]["id"]]  # the one missing from its batch, confirmed gone
    refresh = record.details["refresh"]
    assert refresh["requests"] == 10 and refresh["batch_requests"] == 9
    assert refresh["deleted"] == 1 and refresh["updated"] == 1
    by_uri = {r["platform_id"]: r for r in rows(store)}
    assert by_uri[statuses[80]["uri"]]["deleted"] == 1
    assert by_uri[statuses[80]["uri"]]["text"] == ""
    assert (by_uri[statuses[0]["uri"]]["likes"], by_uri[statuses[0]["uri"]]["reposts"]) == (42, 5)
    for n, status in enumerate(statuses):
        if n != 80:  # every live post as its author wrote it, and read back this pass
            assert by_uri[status["uri"]]["text"] == text_of(n)
            assert by_uri[status["uri"]]["refreshed_at"] is not None

    # Nothing changed since: the next pass reads them all again in 9 requests, no lookups.
    before = len(inst.requests)
    again = run(refresh_config(tmp_path, inst, 20), store)
    assert len(batch_requests(inst, before)) == 8  # 160 live posts: 8 batches of 20
    assert single_requests(inst, before) == []
    assert again.details["refresh"]["deleted"] == 0


def test_a_4_2_instance_is_refreshed_one_status_per_request(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.2.10")
    statuses = publish(inst, 30)
    run(refresh_config(tmp_path, inst, 0), store)
    inst.delete(statuses[3])
    before = len(inst.requests)
    record = run(refresh_config(tmp_path, inst, 20), store)
    assert batch_requests(inst, before) == []
    assert len(single_requests(inst, before)) == 20
    assert record.details["refresh"]["batch_requests"] == 0
    assert record.details["refresh"]["requests"] == 20


def test_a_batch_that_leaves_out_a_live_status_does_not_purge_it(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.5.0")
    statuses = publish(inst, 5)
    run(refresh_config(tmp_path, inst, 0), store)
    inst.batch_glitch.add(statuses[2]["uri"])
    inst.update(statuses[2], favourites_count=9)
    before = len(inst.requests)
    record = run(refresh_config(tmp_path, inst, 20), store)

    assert single_requests(inst, before) == [statuses[2]["id"]]  # asked alone: it is there
    assert record.details["refresh"]["deleted"] == 0
    row = next(r for r in rows(store) if r["platform_id"] == statuses[2]["uri"])
    assert (row["deleted"], row["text"], row["likes"]) == (0, text_of(2), 9)


def test_a_confirmation_that_fails_keeps_the_post(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.5.0")
    statuses = publish(inst, 5)
    run(refresh_config(tmp_path, inst, 0), store)
    inst.batch_glitch.add(statuses[1]["uri"])
    inst.inject(Fault("error", path="/api/v1/statuses/", status=503, times=None))
    record = run(refresh_config(tmp_path, inst, 20), store)

    assert record.details["refresh"]["deleted"] == 0
    assert "503" in record.details["refresh"]["failed_origins"][inst.base_url]
    assert all(r["deleted"] == 0 and r["text"] for r in rows(store))


def test_an_instance_saying_4_3_without_the_batch_lookup_falls_back_to_single_lookups(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.3.0")
    publish(inst, 4)
    run(refresh_config(tmp_path, inst, 0), store)
    inst.inject(Fault("error", path="/api/v1/statuses", status=404, body='{"error": "x"}'))
    before = len(inst.requests)
    record = run(refresh_config(tmp_path, inst, 20), store)
    assert len(single_requests(inst, before)) == 4
    assert record.details["refresh"] == {
        "requests": 5,
        "batch_requests": 1,
        "updated": 0,
        "edited": 0,
        "deleted": 0,
    }


def test_the_refresh_reuses_the_version_the_pass_read_and_batches_on_the_origin(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    origin, other = fakes(version="4.5.0"), fakes(version="4.2.10")
    for status in publish(origin, 25):
        other.federate(status)
    # The origin's plain-http loopback address is asked only when configured:
    # list it, but only after the first pass collected the posts from `other`.
    run(make_config(tmp_path, [other.base_url], collect={"refresh_requests_per_pass": 0}), store)
    config = make_config(
        tmp_path,
        [other.base_url, origin.base_url],
        collect={"refresh_requests_per_pass": 20, "refresh_max_age_days": 3},
    )
    before = len(origin.requests)
    record = run(config, store)
    assert origin.count("/api/v2/instance") == 1  # by the collection pass; reused by the refresh
    assert [len(b) for b in batch_requests(origin, before)] == [20, 5]
    assert other.count("/api/v1/statuses") == 0
    assert record.details["refresh"]["batch_requests"] == 2


# -- every post in turn ------------------------------------------------------------------------


def test_every_recent_post_is_re_read_before_any_is_read_twice(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.5.0")
    statuses = publish(inst, POSTS)
    clock = Clock()
    run(refresh_config(tmp_path, inst, 0), store, clock)
    config = refresh_config(tmp_path, inst, 3)  # 60 posts a pass: under half the backlog
    passes: list[list[str]] = []
    for likes in range(1, 5):
        for status in statuses:  # likes grow everywhere: a changed post is no more urgent
            inst.update(status, favourites_count=likes)
        before = len(inst.requests)
        run(config, store, clock)
        passes.append([i for b in batch_requests(inst, before) for i in b])
    assert [len(p) for p in passes] == [60, 60, 60, 60]
    asked = [i for p in passes for i in p]
    # Passes 1-3 read all 161 once (60 + 60 + 41), then the 19 read longest ago (pass 1's
    # first); pass 4 goes on with the rest of pass 1's and the start of pass 2's.
    assert len(set(asked[:POSTS])) == POSTS
    assert passes[2][41:] == passes[0][:19]
    assert set(passes[3]) == set(passes[0][19:]) | set(passes[1][:19])


def test_single_lookups_also_take_every_post_in_turn(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.2.10")
    statuses = publish(inst, 45)
    clock = Clock()
    run(refresh_config(tmp_path, inst, 0), store, clock)
    asked: list[str] = []
    for likes in range(1, 4):
        for status in statuses:
            inst.update(status, favourites_count=likes)
        before = len(inst.requests)
        run(refresh_config(tmp_path, inst, 20), store, clock)
        asked += single_requests(inst, before)
    assert len(asked) == 60
    assert len(set(asked[:45])) == 45


def test_server_versions() -> None:
    assert server_version("4.5.0") == (4, 5, 0)
    assert server_version("4.3.0-beta.1+glitch") == (4, 3, 0)
    assert server_version("4.2") == (4, 2, 0)
    assert server_version("2.7.2 (compatible; Pleroma 2.5.0)") is None
    assert server_version("") is None


# -- hashtag timelines closed to logged-out readers ------------------------------------------


CLOSED = "hashtag timeline closed to logged-out readers on {host}: add an access token"


def test_a_4_5_instance_that_closes_its_hashtag_timeline_is_named_in_status(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst, open_one = fakes(version="4.5.0", hashtag_feeds="authenticated"), fakes()
    publish(open_one, 2)
    config = make_config(tmp_path, [inst.base_url, open_one.base_url])
    record = run(config, store)

    assert record.status == "partial" and record.new_posts == 2
    message = CLOSED.format(host=inst.domain)
    assert record.error == (
        f"1 of 2 instances skipped: {inst.base_url}: {message} (create one in its settings, "
        "Development → New application, read scope; name its environment variable in "
        "mastodon.access_token_envs)"
    )
    assert inst.count("/api/v1/timelines") == 0  # its configuration said so
    (health,) = collector_health(store.conn)
    assert message in (health.last_error or "")


def test_an_instance_answering_401_on_the_tag_timeline_is_named_too(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    # 4.4: no timelines_access in its configuration, only the 401 says it.
    inst = fakes(version="4.4.3", require_auth=True)
    assert "timelines_access" not in inst.instance_info()["configuration"]
    record = run(make_config(tmp_path, [inst.base_url]), store)
    assert record.status == "failed"
    assert record.error == (
        f"{inst.base_url}: {CLOSED.format(host=inst.domain)} (create one in its settings, "
        "Development → New application, read scope; name its environment variable in "
        "mastodon.access_token_envs)"
    )
    assert inst.count("/api/v1/timelines") == 1


def test_a_hashtag_timeline_turned_off_for_everyone_says_so(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.5.0", hashtag_feeds="disabled")
    record = run(make_config(tmp_path, [inst.base_url]), store)
    assert record.error == (
        f"every Mastodon instance failed: {inst.base_url}: hashtag timeline turned off on "
        f"{inst.domain}, even for logged-in readers: remove it from mastodon.instances."
    )
