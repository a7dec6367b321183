"""X text as its author wrote it: X's HTML escaping undone once, never twice (#17).

X escapes exactly & < > in `text` (and in `note_tweet.text`). The parser undoes
that in one pass; the loopback fake escapes as X does, so the real tweepy
client against it must store every post exactly as written; a migration
corrects posts that earlier versions stored escaped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tagwatch.collectors.fakes.x import FakeX, make_tweet, snowflake
from tagwatch.collectors.x import XCollector, parse_page, unescape_text
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store, connect
from tagwatch.storage.migrations import MIGRATIONS, _m006_x_text_as_written, migrate
from tests.conftest import RECORDED

TOKEN = "text-bearer-41"
NOW = datetime(2016, 11, 25, 12, 0, tzinfo=UTC)
# What authors wrote: an ampersand, a tag in angle brackets, and an entity typed literally.
WRITTEN = [
    "Rights & freedoms in Belgrade #HRHN2016",
    "A talk about <b> and <script> tags #HRHN2016 @hrhn",
    "To show & in HTML, type &amp; or &amp;lt; #HRHN2016 https://t.co/abc",
    "Quotes stay: &quot;as typed&quot; and &apos; too #HRHN2016",
]


@pytest.mark.parametrize(
    ("sent", "written"),
    [
        ("Rights &amp; freedoms", "Rights & freedoms"),
        ("&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>"),
        ("&amp;lt; typed", "&lt; typed"),  # once, never twice
        ("&amp;amp;", "&amp;"),
        ("&quot;x&quot; &#39; &nbsp;", "&quot;x&quot; &#39; &nbsp;"),  # X never makes these
        ("AT&T &amp no semicolon", "AT&T &amp no semicolon"),
    ],
)
def test_unescape_undoes_exactly_what_x_escapes_once(sent: str, written: str) -> None:
    assert unescape_text(sent) == written


def test_recorded_page_text_is_unescaped_and_entities_still_match() -> None:
    page = json.loads(
        (RECORDED / "twitter" / "search_recent_tweets_hashtag_brexit_page1.body.json").read_text()
    )
    posts = {p.platform_id: p for p in parse_page(page, collected_at=NOW)}
    escaped = [t for t in page["data"] if "&amp;" in t["text"] and not t.get("referenced_tweets")]
    assert escaped
    for tweet in escaped:
        post = posts[tweet["id"]]
        assert "&amp;" not in post.text and "&" in post.text
        assert post.hashtags == tuple(h["tag"].casefold() for h in tweet["entities"]["hashtags"])
    angela = next(t for t in page["data"] if t["text"].startswith("And @AngelaRayner &amp;"))
    # X's entity offsets count the escaped text: the tag starts at 24, not 20.
    assert angela["entities"]["hashtags"][0]["start"] == 24
    assert posts[angela["id"]].text.startswith("And @AngelaRayner & #NicolaSturgeon")
    assert [m.casefold() for m in posts[angela["id"]].mentions] == ["angelarayner"]


def test_the_fake_escapes_like_x_with_offsets_in_the_escaped_text() -> None:
    user = {"id": "1", "username": "a"}
    tweet = make_tweet("9", "A & B #Tag <i>", user, created_at=NOW)
    assert tweet["text"] == "A &amp; B #Tag &lt;i&gt;"
    (tag,) = tweet["entities"]["hashtags"]
    assert tweet["text"][tag["start"] : tag["end"]] == "#Tag"


@pytest.fixture
def fake() -> Any:
    with FakeX(bearer_token=TOKEN, now=lambda: NOW) as server:
        yield server


@pytest.fixture
def x_config(
    config_dict: dict[str, Any], tmp_path: Path, fake: FakeX, monkeypatch: pytest.MonkeyPatch
) -> Config:
    monkeypatch.setenv("TAGWATCH_X_BEARER_TOKEN", TOKEN)
    config_dict["x"] = {"enabled": True, "api_base_url": fake.url}
    return parse_config(config_dict, path=tmp_path / "config.toml")


def test_posts_are_stored_as_written_through_the_real_client(
    x_config: Config, store: Store, fake: FakeX
) -> None:
    author = fake.add_user("2244994945", "hrhn", "Human Rights House")
    ids = []
    for i, text in enumerate(WRITTEN):
        at = NOW - timedelta(minutes=10 - i)
        ids.append(fake.add_tweet(make_tweet(snowflake(at, i), text, author, created_at=at))["id"])
    long_text = "Press & police <outside> the court. " * 9 + "#HRHN2016"
    at = NOW - timedelta(minutes=2)
    long_id = fake.add_tweet(make_tweet(snowflake(at, 9), long_text, author, created_at=at))["id"]
    sent = {t["id"]: t["text"] for t in fake.state.tweets.values()}
    assert "&amp;amp;lt;" in sent[ids[2]] and "&lt;b&gt;" in sent[ids[1]]  # as X sends them

    record = XCollector(x_config, store, now=lambda: NOW, sleep=lambda s: None).run_pass()
    assert record.status == "ok", record.error
    rows = {r["platform_id"]: r for r in store.conn.execute("select * from posts")}
    assert [rows[i]["text"] for i in ids] == WRITTEN
    assert rows[long_id]["text"] == long_text  # note_tweet: unescaped the same way
    assert json.loads(rows[ids[1]]["mentions"]) == ["hrhn"]
    assert json.loads(rows[ids[2]]["links"]) == ["https://t.co/abc"]
    assert all(json.loads(rows[i]["hashtags"]) == ["hrhn2016"] for i in ids)
    # Full-text search finds what people read, not X's escapes.
    hits = store.conn.execute("select count(*) from posts_fts where posts_fts match 'amp'")
    assert hits.fetchone()[0] == 1  # only the post whose author typed "&amp;"


def _version_of(step: Any) -> int:
    return next(v for v, _, fn in MIGRATIONS if fn is step)


def test_migration_unescapes_stored_x_posts_once_and_keeps_search_in_step(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = connect(path)
    migrate(conn, target=_version_of(_m006_x_text_as_written) - 1)
    rows = [
        ("x", "1", "Rights &amp; freedoms &lt;b&gt;", "2016-11-24T10:00:00Z"),
        ("x", "2", "type &amp;lt; to show it", "2016-11-24T10:00:00Z"),
        ("x", "3", "nothing escaped here", "2016-11-24T10:00:00Z"),
        ("bluesky", "at://b/4", "Bluesky text &amp; as typed", "2016-11-24T10:00:00Z"),
    ]
    for platform, pid, text, enriched in rows:
        conn.execute(
            "insert into posts (platform, platform_id, url, text, created_at, hashtags, mentions,"
            " links, enriched_at, sentiment_polarity) values (?, ?, '', ?,"
            " '2016-11-24T09:00:00.000000Z', '[]', '[]', '[]', ?, 0.5)",
            (platform, pid, text, enriched),
        )
    conn.commit()
    conn.close()
    with Store.open(path) as store:
        got = {
            r["platform_id"]: (r["text"], r["enriched_at"])
            for r in store.conn.execute("select * from posts")
        }
        assert got == {
            "1": ("Rights & freedoms <b>", None),  # re-enriched from the text people read
            "2": ("type &lt; to show it", None),
            "3": ("nothing escaped here", "2016-11-24T10:00:00Z"),
            "at://b/4": ("Bluesky text &amp; as typed", "2016-11-24T10:00:00Z"),
        }

        def search(word: str) -> list[str]:
            sql = (
                "select p.platform_id from posts_fts join posts p on p.id = posts_fts.rowid"
                " where posts_fts match ? order by p.platform_id"
            )
            return [r[0] for r in store.conn.execute(sql, (word,))]

        assert search("amp") == ["at://b/4"]
        assert search("lt") == ["2"]
        assert search("freedoms") == ["1"]
