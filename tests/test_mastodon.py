"""Mastodon: the parser on recorded payloads, the collector against loopback instances."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tagwatch.collectors.base import RunRecord
from tagwatch.collectors.cursor import Cursor
from tagwatch.collectors.fakes.mastodon import FakeMastodon, Fault
from tagwatch.collectors.mastodon import (
    MastodonCollector,
    html_to_text,
    parse_status,
    refresh_target,
)
from tagwatch.errors import ConfigError
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store
from tests.conftest import RECORDED, base_config_dict, write_config_toml

FIXTURES = RECORDED / "mastodon"
# The test event is 2016-11-24..26 in Europe/Belgrade: backfill starts 2016-11-23T23:00Z.
START = datetime(2016, 11, 23, 23, 0, tzinfo=UTC)
T0 = datetime(2016, 11, 24, 9, 0, tzinfo=UTC)
NOW = datetime(2016, 11, 25, 12, 0, tzinfo=UTC)


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def tag_link(inst: FakeMastodon, tag: str = "HRHN2016") -> str:
    return (
        f'<a href="{inst.base_url}/tags/{tag.lower()}" class="mention hashtag" rel="tag">'
        f"#<span>{tag}</span></a>"
    )


def toot(inst: FakeMastodon, n: int, *, user: str = "alice", **kw: Any) -> dict[str, Any]:
    kw.setdefault("created_at", T0 + timedelta(minutes=n))
    kw.setdefault("tags", ["hrhn2016"])
    return inst.toot(user, f"<p>Post {n} {tag_link(inst)}</p>", **kw)


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture
def fakes() -> Iterator[Callable[..., FakeMastodon]]:
    started: list[FakeMastodon] = []

    def make(**kw: Any) -> FakeMastodon:
        inst = FakeMastodon(now=lambda: NOW, **kw).start()
        started.append(inst)
        return inst

    yield make
    for inst in started:
        inst.stop()


def make_config(tmp_path: Path, instances: list[str], **sections: dict[str, Any]) -> Config:
    data = base_config_dict(tmp_path)
    data["mastodon"] = {"enabled": True, "instances": instances, **sections.pop("mastodon", {})}
    data["collect"] = {
        "refresh_requests_per_pass": 0,
        "max_retries": 1,
        **sections.pop("collect", {}),
    }
    data.update(sections)
    return parse_config(data, path=tmp_path / "config.toml")


class Runner:
    """Runs passes with the test clock; sleeps are recorded, never slept."""

    def __init__(self, config: Config, store: Store):
        self.config = config
        self.store = store
        self.sleeps: list[float] = []

    def __call__(self) -> RunRecord:
        collector = MastodonCollector(
            self.config, self.store, now=lambda: NOW, sleep=self.sleeps.append
        )
        return collector.run_pass()


def rows(
    store: Store, sql: str = "select * from posts order by created_at"
) -> list[dict[str, Any]]:
    return [dict(r) for r in store.conn.execute(sql)]


def timeline_queries(inst: FakeMastodon) -> list[dict[str, str]]:
    return [r.query for r in inst.requests if r.path.startswith("/api/v1/timelines/tag/")]


# -- the parser ---------------------------------------------------------------------------


def test_parse_recorded_tag_timeline_status() -> None:
    status = recorded("timelines_tag_hoot.exchange.json")[0]["response"]["body"][0]
    (post,) = parse_status(status, instance="http://localhost:3000", domain="localhost:3000")
    assert post.platform_id == status["uri"]
    assert post.url == "http://localhost:3000/@mastodonpy_test_2/117020593741189701"
    assert post.text == "#hoot (hashtag toot)"
    assert post.hashtags == ("hoot",)
    assert post.lang == "ja"
    assert post.links == ()  # a hashtag link is not a link to count
    assert post.author.handle == "mastodonpy_test_2@localhost:3000"
    assert post.author.platform_id == "http://localhost:3000/ap/users/117020566092212359"
    assert post.author.followers == 0
    assert post.source == "http://localhost:3000"
    assert post.raw == status


def test_parse_recorded_status_with_entities_link_and_counts() -> None:
    status = recorded("status_entity_docs_example.body.json")
    (post,) = parse_status(status, instance="https://mastodon.social", domain="mastodon.social")
    url = (
        "https://www.theguardian.com/money/2019/dec/07/"
        "i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code"
    )
    assert post.text == f'"I lost my inheritance with one wrong digit on my sort code"\n\n{url}'
    assert (post.likes, post.reposts, post.replies, post.quotes) == (11, 6, 5, 2)
    assert post.links == (url,)  # the link and the card's url, once
    assert post.author.handle == "Gargron@mastodon.social"
    assert post.author.display_name == "Eugen"
    assert post.author.followers == 322930
    assert post.created_at == datetime(2019, 12, 8, 3, 48, 33, 901000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (
            "<p>Rights &amp; wrongs &lt;3 &quot;quoted&quot; caf&eacute;</p>",
            'Rights & wrongs <3 "quoted" café',
        ),
        ("<p>Day one 🎉 :blobcat: done</p>", "Day one 🎉 :blobcat: done"),
        (
            "<p>first</p><p>second<br>line two<br />line three</p>",
            "first\n\nsecond\nline two\nline three",
        ),
        (
            '<p><span class="h-card" translate="no"><a href="https://eupolicy.social/@bob" '
            'class="u-url mention">@<span>bob</span></a></span> see '
            '<a href="https://hrhn.example/programme" rel="nofollow noopener" target="_blank">'
            '<span class="invisible">https://</span><span class="ellipsis">hrhn.example/prog</span>'
            '<span class="invisible">ramme</span></a></p>',
            "@bob see https://hrhn.example/programme",
        ),
        ("<p>  spaced \n   out\ttext  </p>", "spaced out text"),
        ("plain text, no tags", "plain text, no tags"),
        ("<p>a</p><!-- hidden --><script>alert(1)</script><p>b</p>", "a\n\nb"),
        (
            '<p class="quote-inline">RE: <a href="https://x.example/@a/1">x.example/@a/1</a></p>'
            "<p>Agreed!</p>",
            "Agreed!",
        ),
        ("", ""),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_parse_full_accts_links_cw_and_media(fakes: Callable[..., FakeMastodon]) -> None:
    inst = fakes()
    status = inst.toot(
        "alice",
        '<p>Hi <a href="https://example.org/report">example.org/report</a> :hrhn: &#127881;</p>',
        created_at=T0,
        tags=["HRHN2016", "HumanRights"],
        mentions=["bob", "carol@eupolicy.social"],
        spoiler_text="graphic detail",
        media=2,
        emojis=["hrhn"],
        followers=42,
        noindex=True,
        in_reply_to_id="123",
    )
    (post,) = parse_status(status, instance=inst.base_url, domain="hrhn.social")
    assert post.text == "CW: graphic detail\n\nHi example.org/report :hrhn: 🎉"
    assert post.hashtags == ("hrhn2016", "humanrights")
    assert post.mentions == ("bob@hrhn.social", "carol@eupolicy.social")
    assert post.links == ("https://example.org/report",)
    assert post.media_count == 2
    assert post.sensitive is True
    assert post.no_unauthenticated is True
    assert post.reply_to == f"{inst.base_url}/api/v1/statuses/123"
    assert post.author.handle == "alice@hrhn.social"
    assert post.author.followers == 42


def test_a_quote_post_keeps_the_quoted_uri() -> None:
    status = recorded("status_entity_docs_example.body.json")
    quoted = {**status, "uri": "https://eupolicy.social/users/bob/statuses/1093"}
    status["quote"] = {"state": "accepted", "quoted_status": quoted}
    (post,) = parse_status(status, instance="https://mastodon.social", domain="mastodon.social")
    assert post.quote_of == "https://eupolicy.social/users/bob/statuses/1093"
    assert post.platform_id == status["uri"]


def test_a_boost_is_a_relation_not_a_new_text(fakes: Callable[..., FakeMastodon]) -> None:
    inst = fakes()
    original = toot(inst, 1, favourites=3)
    boost = inst.boost("bob", original, at=T0 + timedelta(hours=1))
    original_post, relation = parse_status(boost, instance=inst.base_url, domain=inst.domain)
    assert original_post.platform_id == original["uri"]
    assert original_post.text.startswith("Post 1")
    assert original_post.likes == 3
    assert relation.platform_id == boost["uri"]
    assert relation.repost_of == original["uri"]
    assert relation.text == ""
    assert relation.hashtags == ()
    assert relation.author.handle == f"bob@{inst.domain}"


def test_refresh_target_asks_the_origin_when_the_uri_names_it() -> None:
    uri = "https://eupolicy.social/users/bob/statuses/1093"
    assert refresh_target(uri, "https://mastodon.social", '{"id": "77"}', []) == (
        "https://eupolicy.social",
        "1093",
    )
    # Not a Mastodon uri: ask the instance that delivered it, for its own copy.
    other = "https://pleroma.example/objects/4f1c"
    assert refresh_target(other, "https://mastodon.social", '{"id": "77"}', []) == (
        "https://mastodon.social",
        "77",
    )
    # A plain-http origin that is not configured is never contacted.
    local = "http://192.168.1.1/users/x/statuses/5"
    assert refresh_target(local, "https://mastodon.social", '{"id": "8"}', []) == (
        "https://mastodon.social",
        "8",
    )
    assert refresh_target(uri, None, '{"reblog": {"id": "1"}}', []) is None


# -- the collector against fake instances -----------------------------------------------


def test_the_same_status_from_two_instances_is_stored_once(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    origin, other = fakes(), fakes()
    shared = toot(origin, 1, user="alice", mentions=["bob"], favourites=5)
    other.federate(shared, favourites_count=1)  # the other instance's stale view
    toot(origin, 2, user="bob")
    toot(other, 3, user="carol")
    # The other instance is read first, so it delivers the shared status first.
    record = Runner(make_config(tmp_path, [other.base_url, origin.base_url]), store)()

    assert record.status == "ok"
    stored = rows(store)
    assert len(stored) == 3
    (row,) = [r for r in stored if r["platform_id"] == shared["uri"]]
    assert row["url"] == shared["url"]  # the origin's url, whoever delivered it
    assert row["source"] == other.base_url
    assert row["author_handle"] == f"alice@{origin.domain}"
    assert json.loads(row["mentions"]) == [f"bob@{origin.domain}"]
    assert row["likes"] == 1  # first delivery wins; the refresh corrects counts
    carol = [r for r in stored if r["text"].startswith("Post 3")][0]
    assert carol["author_handle"] == f"carol@{other.domain}"
    details = record.details["instances"]
    assert details[other.base_url]["new_posts"] == 2
    assert details[origin.base_url]["new_posts"] == 1
    assert details[origin.base_url]["already_stored"] == 1
    # Instance info, the first page, and the empty page past it that ends the backfill
    # (a short page is not trusted to be the bottom: an instance may filter a page).
    assert (other.count(), origin.count()) == (3, 3)
    assert record.requests == 6


def test_first_run_backfills_newest_first_down_to_the_event_start(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes()
    for n in range(100):
        toot(inst, n)
    for n in range(1, 6):  # before the backfill start: never stored
        toot(inst, 1000 + n, created_at=START - timedelta(hours=n))
    record = Runner(make_config(tmp_path, [inst.base_url]), store)()

    assert record.status == "ok"
    assert record.new_posts == 100
    assert len(rows(store)) == 100
    queries = timeline_queries(inst)
    assert len(queries) == 3  # 40 + 40 + the page that reaches back past the start
    assert all(q["limit"] == "40" for q in queries)
    assert "max_id" not in queries[0]
    ids = sorted((int(i) for i in inst.statuses), reverse=True)
    # Each next page starts below the last id of the one before, as the Link header says.
    assert [q.get("max_id") for q in queries[1:]] == [str(ids[39]), str(ids[79])]
    cursor = Cursor.read(store.get_cursor("mastodon", f"{inst.base_url}/tags/hrhn2016"))
    assert cursor == Cursor(newest=str(ids[0]), pending=[])  # no backfill left to walk


def test_later_runs_page_upward_with_min_id_from_the_cursor(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes()
    for n in range(10):
        toot(inst, n)
    run = Runner(make_config(tmp_path, [inst.base_url]), store)
    assert run().new_posts == 10
    newest = max(int(i) for i in inst.statuses)
    for n in range(10, 95):
        toot(inst, n)
    before = len(inst.requests)

    record = run()

    assert record.new_posts == 85
    assert len(rows(store)) == 95
    queries = [r.query for r in inst.requests[before:] if "timelines" in r.path]
    assert queries[0]["min_id"] == str(newest)
    ids = sorted(int(i) for i in inst.statuses if int(i) > newest)
    # Oldest page first; each next request starts above the newest id of the last page.
    assert [q["min_id"] for q in queries] == [str(newest), str(ids[39]), str(ids[79])]
    assert len(queries) == 3  # the third page is short: the top, no extra request
    assert all("max_id" not in q for q in queries)

    before = len(inst.requests)
    quiet = run()
    assert quiet.new_posts == 0
    assert [r.query for r in inst.requests[before:] if "timelines" in r.path] == [
        {"limit": "40", "min_id": str(ids[-1])}
    ]


def test_an_interrupted_backfill_resumes_where_it_stopped(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes()
    for n in range(100):
        toot(inst, n)
    for n in range(1, 4):
        toot(inst, 1000 + n, created_at=START - timedelta(hours=n))
    run = Runner(make_config(tmp_path, [inst.base_url], collect={"max_pages_per_pass": 2}), store)
    first = run()
    assert first.new_posts == 80
    assert "stopped_early" in first.details["instances"][inst.base_url]
    toot(inst, 200)  # posted in between: found by the forward step
    second = run()
    assert second.new_posts == 21
    assert len(rows(store)) == 101
    cursor = Cursor.read(store.get_cursor("mastodon", f"{inst.base_url}/tags/hrhn2016"))
    assert cursor.pending == []  # the backfill is done


def test_the_cursor_moves_only_with_committed_pages(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes()
    toot(inst, 0)
    run = Runner(make_config(tmp_path, [inst.base_url]), store)
    run()
    for n in range(1, 61):
        toot(inst, n)
    # The second page of the next pass is garbage: the first page stays stored.
    inst.inject(Fault("garbage", path="/api/v1/timelines", after=1))
    record = run()
    assert record.status == "failed"
    assert record.new_posts == 40
    assert "not Mastodon JSON" in (record.error or "")
    # The next pass goes on from the last committed page and misses nothing.
    again = run()
    assert again.status == "ok"
    assert again.new_posts == 20
    assert len(rows(store)) == 61


def test_a_dead_instance_is_recorded_and_skipped(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    alive, dead = fakes(), fakes()
    toot(alive, 1)
    dead.go_down()
    run = Runner(make_config(tmp_path, [dead.base_url, alive.base_url]), store)
    record = run()

    assert record.status == "partial"
    assert record.new_posts == 1
    info = record.details["instances"][dead.base_url]
    assert info["status"] == "unreachable"
    assert info["requests"] == 2  # the first try and collect.max_retries = 1 retry
    assert f"cannot reach {dead.base_url}" in info["error"]
    assert len(run.sleeps) == 1  # the backoff before the retry, on the injected clock
    assert record.error is not None and record.error.startswith("1 of 2 instances skipped")
    stored = store.conn.execute("select status, details from runs").fetchone()
    assert stored["status"] == "partial"
    assert json.loads(stored["details"])["instances"][dead.base_url]["status"] == "unreachable"


def test_a_slow_instance_times_out_and_is_skipped(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    fast, slow = fakes(), fakes()
    toot(fast, 1)
    toot(slow, 2)
    slow.inject(Fault("slow", delay=5.0, times=None))
    config = make_config(
        tmp_path, [slow.base_url, fast.base_url], collect={"timeout_seconds": 0.2, "max_retries": 0}
    )
    record = Runner(config, store)()
    assert record.status == "partial"
    assert record.new_posts == 1
    info = record.details["instances"][slow.base_url]
    assert "did not answer within 0.2s (collect.timeout_seconds)" in info["error"]
    assert slow.count() == 1


def test_an_instance_answering_garbage_is_skipped_without_retries(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    good, bad = fakes(), fakes()
    toot(good, 1)
    toot(bad, 2)
    bad.inject(Fault("garbage", path="/api/v1/timelines", times=None))
    record = Runner(make_config(tmp_path, [bad.base_url, good.base_url]), store)()
    assert record.status == "partial"
    info = record.details["instances"][bad.base_url]
    assert info["status"] == "garbage"
    assert (
        info["error"]
        == f"{bad.base_url} returned something that is not Mastodon JSON (body is not JSON)"
    )
    assert bad.count("/api/v1/timelines") == 1


def test_every_instance_down_fails_the_pass(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    a, b = fakes(), fakes()
    a.go_down()
    b.inject(Fault("error", status=503, times=None))
    record = Runner(make_config(tmp_path, [a.base_url, b.base_url]), store)()
    assert record.status == "failed"
    assert record.error is not None
    assert record.error.startswith("every Mastodon instance failed: ")
    assert f"{b.base_url} answered 503: Internal server error" in record.error
    assert b.count() == 2  # 5xx is retried once (collect.max_retries = 1)


def test_a_429_is_waited_out_until_x_ratelimit_reset(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes()
    toot(inst, 1)
    inst.inject(Fault("rate_limit", path="/api/v1/timelines", reset_at=NOW + timedelta(seconds=30)))
    run = Runner(make_config(tmp_path, [inst.base_url]), store)
    record = run()
    assert record.status == "ok"
    assert record.new_posts == 1
    assert run.sleeps == [31.0]  # until the reset, plus a second of margin
    assert record.details["rate_limit_waits"] == 1
    # The 429, the same page again, and the empty page that ends the backfill.
    assert inst.count("/api/v1/timelines") == 3


def test_a_429_beyond_the_pass_budget_ends_that_instance_only(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    limited, other = fakes(), fakes()
    toot(limited, 1)
    toot(other, 2)
    reset = NOW + timedelta(minutes=10)
    limited.inject(Fault("rate_limit", path="/api/v1/timelines", reset_at=reset, times=None))
    run = Runner(make_config(tmp_path, [limited.base_url, other.base_url]), store)
    record = run()
    assert record.status == "partial"
    assert run.sleeps == []  # 601 s does not fit the 300 s pass budget: no waiting
    info = record.details["instances"][limited.base_url]
    assert info["status"] == "rate_limited"
    assert info["reset_at"] == reset.isoformat()
    assert limited.count("/api/v1/timelines") == 1
    assert record.new_posts == 1

    # Alone, the rate limit ends the pass as rate_limited, with the reset time.
    alone = Runner(make_config(tmp_path, [limited.base_url]), store)()
    assert alone.status == "rate_limited"
    base = limited.base_url
    assert alone.error == f"{base}: {base} is rate limiting us (429) until {reset.isoformat()}"


def test_handles_carry_the_account_domain_not_the_web_host(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    """An instance served at one host may name its users @user@another.domain (LOCAL_DOMAIN):
    the handle comes from /api/v2/instance, whichever instance delivered the post."""
    origin = fakes(local_domain="social.example")
    other = fakes(local_domain="other.example")
    mine = toot(origin, 1, user="alice", mentions=["bob"])
    other.federate(mine)
    toot(other, 2, user="carol", mentions=["alice@social.example"])
    Runner(make_config(tmp_path, [other.base_url, origin.base_url]), store)()
    by_author = {r["author_handle"]: r for r in rows(store)}
    assert set(by_author) == {"alice@social.example", "carol@other.example"}
    assert json.loads(by_author["alice@social.example"]["mentions"]) == ["bob@social.example"]
    assert json.loads(by_author["carol@other.example"]["mentions"]) == ["alice@social.example"]
    assert by_author["alice@social.example"]["url"].startswith(origin.base_url)


def test_refresh_reads_counts_on_the_origin_and_honours_deletions(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    origin, other = fakes(version="4.2.10"), fakes()  # before 4.3: one status per request
    kept = toot(origin, 1, favourites=1)
    gone = toot(origin, 2)
    other.federate(kept)
    other.federate(gone)
    config = make_config(tmp_path, [other.base_url])  # the origin is not even listed
    Runner(config, store)()
    assert len(rows(store)) == 2
    origin.update(kept, favourites_count=12, reblogs_count=3, replies_count=2)
    origin.delete(gone)

    config = make_config(
        tmp_path, [other.base_url, origin.base_url], collect={"refresh_requests_per_pass": 2}
    )
    before = origin.count("/api/v1/statuses/")
    record = Runner(config, store)()

    assert origin.count("/api/v1/statuses/") - before == 2
    assert other.count("/api/v1/statuses/") == 0
    assert record.details["refresh"] == {
        "requests": 2,
        "batch_requests": 0,
        "updated": 1,
        "edited": 0,
        "deleted": 1,
    }
    by_uri = {r["platform_id"]: r for r in rows(store)}
    assert (by_uri[kept["uri"]]["likes"], by_uri[kept["uri"]]["reposts"]) == (12, 3)
    assert by_uri[gone["uri"]]["deleted"] == 1
    assert by_uri[gone["uri"]]["text"] == ""


def test_refresh_takes_an_edit_made_on_the_origin(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    origin, other = fakes(), fakes()
    first = toot(origin, 1, favourites=2)
    other.federate(first)
    config = make_config(tmp_path, [other.base_url])
    Runner(config, store)()
    (row,) = rows(store)
    assert row["text"] == "Post 1 #HRHN2016" and row["author_handle"] == f"alice@{origin.domain}"
    with store.transaction() as conn:
        conn.execute("update posts set enriched_at = '2016-11-24T10:00:00.000000Z'")

    origin.edit(
        first,
        f"<p>Post 1, edited: free Khadija {tag_link(origin)} {tag_link(origin, 'FreeKhadija')}</p>",
        tags=["hrhn2016", "freekhadija"],
        at=T0 + timedelta(hours=1),
    )
    origin.update(first, favourites_count=7)
    config = make_config(  # listing the origin lets its plain-http loopback address be asked
        tmp_path, [other.base_url, origin.base_url], collect={"refresh_requests_per_pass": 5}
    )
    before = origin.count("/api/v1/statuses")
    record = Runner(config, store)()
    assert origin.count("/api/v1/statuses") - before == 1

    assert record.details["refresh"] == {
        "requests": 1,
        "batch_requests": 1,
        "updated": 0,
        "edited": 1,
        "deleted": 0,
    }
    (row,) = rows(store)
    assert row["text"] == "Post 1, edited: free Khadija #HRHN2016 #FreeKhadija"
    assert json.loads(row["hashtags"]) == ["hrhn2016", "freekhadija"]
    assert row["likes"] == 7
    assert row["author_handle"] == f"alice@{origin.domain}"  # the same author, same handle
    assert row["enriched_at"] is None  # themes and sentiment are redone on the new text
    assert row["source"] == other.base_url
    # Seen once: the next refresh finds the same edit and only reads the counts.
    again = Runner(config, store)()
    assert again.details["refresh"]["edited"] == 0


def test_refresh_spends_no_more_than_its_budget(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(version="4.2.10")
    for n in range(5):
        toot(inst, n)
    config = make_config(tmp_path, [inst.base_url], collect={"refresh_requests_per_pass": 3})
    run = Runner(config, store)
    run()
    run()
    # 3 in each pass, and the second pass checks the posts the first did not.
    refreshed = [r.path for r in inst.requests if r.path.startswith("/api/v1/statuses/")]
    assert len(refreshed) == 6
    assert len(set(refreshed)) == 5


def test_access_token_from_the_environment(
    tmp_path: Path,
    fakes: Callable[..., FakeMastodon],
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inst = fakes(require_auth=True, tokens=["tok-123456789"])
    toot(inst, 1)
    host = inst.domain
    config = make_config(
        tmp_path, [inst.base_url], mastodon={"access_token_envs": {host: "TW_MASTODON_TOKEN"}}
    )
    monkeypatch.delenv("TW_MASTODON_TOKEN", raising=False)
    missing = Runner(config, store)()
    assert missing.status == "failed"
    assert missing.error == (
        f"{inst.base_url}: hashtag timeline closed to logged-out readers on {host}: "
        "add an access token (the environment variable TW_MASTODON_TOKEN named in "
        "mastodon.access_token_envs is not set)"
    )
    assert inst.count("/api/v1/timelines") == 0  # the instance info said so: no wasted request

    monkeypatch.setenv("TW_MASTODON_TOKEN", "wrong-token-987654")
    wrong = Runner(config, store)()
    assert wrong.status == "failed"
    assert "refused the request (401: The access token is invalid)" in (wrong.error or "")
    assert "Check the access token in the environment variable TW_MASTODON_TOKEN" in (
        wrong.error or ""
    )
    assert "wrong-token-987654" not in json.dumps(rows(store, "select * from runs"))

    monkeypatch.setenv("TW_MASTODON_TOKEN", "tok-123456789")
    ok = Runner(config, store)()
    assert ok.status == "ok"
    assert ok.new_posts == 1
    assert inst.requests[-1].headers["authorization"] == "Bearer tok-123456789"


def test_an_instance_without_token_table_entry_gets_a_hint(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(require_auth=True)
    record = Runner(make_config(tmp_path, [inst.base_url]), store)()
    assert record.status == "failed"
    assert record.error is not None
    assert record.error == (
        f"{inst.base_url}: hashtag timeline closed to logged-out readers on {inst.domain}: "
        "add an access token (create one in its settings, Development → New application, "
        "read scope; name its environment variable in mastodon.access_token_envs)"
    )


def test_an_old_instance_without_api_v2_uses_its_host_as_domain(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes()
    toot(inst, 1)
    inst.inject(Fault("error", path="/api/v2/instance", status=404, body='{"error": "Not Found"}'))
    record = Runner(make_config(tmp_path, [inst.base_url]), store)()
    assert record.status == "ok"
    assert rows(store)[0]["author_handle"] == f"alice@{inst.domain}"


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (
            {"other.example": "TOKEN_ENV"},
            "mastodon.access_token_envs has 'other.example', which is not in mastodon.instances",
        ),
        (
            {"mastodon.social": 5},
            "mastodon.access_token_envs['mastodon.social'] must be the name of an environment"
            " variable, got 5.",
        ),
        (["TOKEN_ENV"], "mastodon.access_token_envs must be a table"),
    ],
)
def test_access_token_envs_config_errors(tmp_path: Path, tokens: Any, message: str) -> None:
    data = base_config_dict(tmp_path)
    data["mastodon"] = {"instances": ["https://mastodon.social"], "access_token_envs": tokens}
    with pytest.raises(ConfigError) as err:
        parse_config(data, path=tmp_path / "config.toml")
    assert message in str(err.value)


def test_access_token_envs_accepts_url_or_host(tmp_path: Path) -> None:
    data = base_config_dict(tmp_path)
    data["mastodon"] = {
        "instances": ["https://mastodon.social", "https://eupolicy.social/"],
        "access_token_envs": {"https://mastodon.social": "A", "eupolicy.social": "B"},
    }
    config = parse_config(data, path=tmp_path / "config.toml")
    collector = MastodonCollector(config, Store.open(":memory:"))
    assert collector._token_env("https://mastodon.social") == "A"
    assert collector._token_env("https://eupolicy.social") == "B"


def test_a_simulated_event_federated_over_two_instances_is_stored_once(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    from tagwatch.collectors.fakes.mastodon import publish_simulated
    from tagwatch.collectors.fakes.simulation import simulate_event

    event = simulate_event(n_posts=300, n_authors=60)
    a, b = fakes(), fakes()
    publish_simulated([a, b], event.posts, now=NOW)
    expected = {
        p.key
        for p in event.by_platform("mastodon")
        if not p.repost_of and p.visible_at(NOW) and p.created_at >= START
    }
    assert len(a.statuses) == len(b.statuses)  # every status reached both instances
    record = Runner(make_config(tmp_path, [a.base_url, b.base_url]), store)()

    assert record.status == "ok"
    assert record.new_posts == len(expected) > 10
    stored = rows(store)
    assert len({r["platform_id"] for r in stored}) == len(stored)
    details = record.details["instances"]
    assert details[b.base_url]["already_stored"] == len(expected)
    assert all("<" not in r["text"] for r in stored)


def test_the_fake_pages_and_links_like_recorded_mastodon(
    fakes: Callable[..., FakeMastodon],
) -> None:
    """The fake's paging and headers follow the recorded 4.6.4 answers, so tests mean something."""
    import httpx

    recorded_link = recorded("account_statuses_link_pagination.exchange.json")[0]["response"]
    inst = fakes()
    for n in range(5):
        toot(inst, n)
    ids = sorted((int(i) for i in inst.statuses), reverse=True)
    url = f"{inst.base_url}/api/v1/timelines/tag/HRHN2016"
    page = httpx.get(url, params={"limit": 2})
    assert [s["id"] for s in page.json()] == [str(i) for i in ids[:2]]
    base = f"{inst.base_url}/api/v1/timelines/tag/hrhn2016"
    # Same form as recorded: carried limit first, then the id; next = older, prev = newer.
    next_url, prev_url = f"{base}?limit=2&max_id={ids[1]}", f"{base}?limit=2&min_id={ids[0]}"
    assert page.headers["link"] == f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'

    def shape(link: str) -> dict[str | None, list[str]]:
        links = httpx.Response(200, headers={"link": link}).links
        return {rel: list(parse_qs(urlsplit(v["url"]).query)) for rel, v in links.items()}

    assert shape(page.headers["link"]) == shape(recorded_link["headers"]["link"])
    assert set(recorded_link["headers"]) <= {k.lower() for k in page.headers}
    datetime.fromisoformat(page.headers["x-ratelimit-reset"])  # an ISO timestamp, as recorded
    # since_id: the newest above it; min_id: the ones right above it.
    since = httpx.get(url, params={"limit": 2, "since_id": ids[4]}).json()
    assert [s["id"] for s in since] == [str(i) for i in ids[:2]]
    above = httpx.get(url, params={"limit": 2, "min_id": ids[4]}).json()
    assert [s["id"] for s in above] == [str(ids[2]), str(ids[3])]
    empty = httpx.get(url, params={"max_id": ids[4]})
    assert empty.json() == [] and "link" not in empty.headers
    missing = httpx.get(f"{inst.base_url}/api/v1/statuses/1")
    assert (missing.status_code, missing.json()) == (404, {"error": "Record not found"})
    assert inst.count("/api/v1/timelines/tag/") == 4


def test_a_server_without_link_headers_is_paged_by_ids(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes(links=False)
    for n in range(50):
        toot(inst, n)
    run = Runner(make_config(tmp_path, [inst.base_url]), store)
    assert run().new_posts == 50
    ids = sorted((int(i) for i in inst.statuses), reverse=True)
    assert [q.get("max_id") for q in timeline_queries(inst)] == [None, str(ids[39]), str(ids[49])]
    toot(inst, 60)
    assert run().new_posts == 1
    assert timeline_queries(inst)[-1] == {"limit": "40", "min_id": str(ids[0])}


def test_mastodon_tokens_are_redacted_from_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tagwatch.monitor.logs import secret_values

    monkeypatch.setenv("TW_SOCIAL_TOKEN", "tok-social-1234567")
    data = base_config_dict(tmp_path)
    data["mastodon"] = {
        "instances": ["https://mastodon.social"],
        "access_token_envs": {"mastodon.social": "TW_SOCIAL_TOKEN"},
    }
    config = parse_config(data, path=tmp_path / "config.toml")
    assert "tok-social-1234567" in secret_values(config)


def test_tagwatch_collect_runs_the_mastodon_pass(
    tmp_path: Path, fakes: Callable[..., FakeMastodon]
) -> None:
    from click.testing import CliRunner

    from tagwatch.monitor.cli import cli

    alive, dead = fakes(), fakes()
    toot(alive, 1)
    toot(alive, 2)
    dead.go_down()
    data = base_config_dict(tmp_path)
    data["collect"] = {"max_retries": 0}
    data["mastodon"] = {"enabled": True, "instances": [alive.base_url, dead.base_url]}
    config = write_config_toml(tmp_path / "config.toml", data)
    result = CliRunner().invoke(cli, ["--config", str(config), "collect", "--platform", "mastodon"])
    assert result.exit_code == 0, result.output
    assert "mastodon: partial, 2 new" in result.output
    assert f"1 of 2 instances skipped: {dead.base_url}: cannot reach {dead.base_url}" in (
        result.output
    )


def test_a_stopping_runner_ends_the_pass_after_a_committed_page(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    import threading

    inst = fakes()
    for n in range(60):
        toot(inst, n)
    config = make_config(tmp_path, [inst.base_url])
    stop = threading.Event()
    collector = MastodonCollector(
        config,
        store,
        now=lambda: NOW,
        sleep=lambda s: None,
        stop=stop,
        progress=lambda *_: stop.set(),  # SIGTERM arrives while the first page is stored
    )
    record = collector.run_pass()
    assert record.status == "interrupted"
    assert record.new_posts == 40
    assert inst.count("/api/v1/timelines") == 1
    assert Runner(config, store)().new_posts == 20


def test_the_fake_runs_out_of_its_rate_limit_window_like_mastodon(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    inst = fakes()
    inst.rate_limit = 3  # instance info, a page, the empty page: then the window is used up
    for n in range(5):
        toot(inst, n)
    config = make_config(tmp_path, [inst.base_url], collect={"refresh_requests_per_pass": 2})
    run = Runner(config, store)
    record = run()
    # The refresh's first request meets the 429; the reset (12:05, the window's end) is
    # 301 s away, more than the 300 s budget of the pass: the refresh ends there.
    assert record.new_posts == 5
    assert record.details["refresh"]["requests"] == 1
    assert list(record.details["refresh"]["failed_origins"].values()) == [
        f"{inst.base_url} is rate limiting us (429) until 2016-11-25T12:05:00+00:00"
    ]
    assert inst.requests[-1].path == "/api/v1/statuses"  # the batch lookup (4.3+)
    assert run.sleeps == []


def test_a_cursor_stored_before_the_one_format_resumes_where_it_stopped(
    tmp_path: Path, fakes: Callable[..., FakeMastodon], store: Store
) -> None:
    """An event database from before #19 holds Mastodon's own cursor: the pass reads on from it."""
    inst = fakes()
    old = [toot(inst, n) for n in range(3)]
    query = f"{inst.base_url}/tags/hrhn2016"
    store.set_cursor("mastodon", query, json.dumps({"newest": old[-1]["id"], "backfill": None}))
    new = toot(inst, 3)
    record = Runner(make_config(tmp_path, [inst.base_url]), store)()
    assert record.status == "ok", record.error
    assert timeline_queries(inst)[0]["min_id"] == old[-1]["id"]  # upward from the stored id
    assert record.new_posts == 1 and [r["platform_id"] for r in rows(store)] == [new["uri"]]
    assert Cursor.read(store.get_cursor("mastodon", query)) == Cursor(newest=new["id"])
