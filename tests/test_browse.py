"""`tagwatch browse`: Datasette over a demo database, through Datasette's own test client."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tagwatch.monitor.browse import HIDDEN_COLUMNS, browse_metadata, make_datasette
from tagwatch.monitor.cli import cli
from tagwatch.records import Author
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store
from tests.conftest import base_config_dict, make_post, write_config_toml

pytest.importorskip("datasette")

ALICE = Author("did:plc:alice", "alice.bsky.social", "Alice", 500)
BOB = Author("109", "bob@hoot.example", "Bob", None)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    data = base_config_dict(tmp_path)
    data["storage"] = {"path": str(tmp_path / "tagwatch.db")}
    data["event"]["url"] = "https://humanrightshouse.org"
    return parse_config(data, path=tmp_path / "config.toml")


@pytest.fixture
def demo_db(config: Config) -> Path:
    """A small event: two days, two platforms, co-hashtags, a deleted post, unknown counts."""
    with Store.open(config.db_path) as store:
        store.write_posts(
            [
                make_post(1, author=ALICE, hashtags=("HRHN2016", "FreeAzerbaijan"), likes=10,
                          text="Freedom for journalists in Azerbaijan #HRHN2016",
                          raw={"uri": "at://1", "secret_looking": "payload"}),
                make_post(2, author=ALICE, hashtags=("HRHN2016", "illiberal"), likes=3),
                make_post(3, author=ALICE, hashtags=("HRHN2016", "FreeAzerbaijan"), likes=1,
                          created_at=datetime(2016, 11, 24, 23, 30, tzinfo=UTC)),
                make_post(4, platform="mastodon", platform_id="https://hoot.example/s/4",
                          author=BOB, hashtags=("hrhn2016",), likes=50, reposts=5,
                          text="Belgrade panel on illiberal democracies",
                          created_at=datetime(2016, 11, 25, 18, 0, tzinfo=UTC)),
                make_post(5, platform="mastodon", platform_id="https://hoot.example/s/5",
                          author=BOB, hashtags=("HRHN2016",), likes=2,
                          created_at=datetime(2016, 11, 25, 19, 0, tzinfo=UTC)),
            ]
        )  # fmt: skip
        store.mark_deleted("mastodon", "https://hoot.example/s/5")
    return config.db_path


def get(ds: Any, path: str) -> Any:
    async def fetch() -> Any:
        return await ds.client.get(path)

    return asyncio.run(fetch())


def rows(ds: Any, path: str) -> list[dict[str, Any]]:
    sep = "&" if "?" in path else "?"
    response = get(ds, f"{path}{sep}_shape=array")
    assert response.status_code == 200, response.text
    return list(response.json())


def test_canned_queries_answer(config: Config, demo_db: Path) -> None:
    ds = make_datasette(config)
    # Local days in Belgrade (UTC+1 in November): post 3, at 23:30 UTC, is on the 25th.
    per_day = rows(ds, "/tagwatch/posts_per_day.json")
    assert [(r["day"], r["platform"], r["posts"], r["authors"]) for r in per_day] == [
        ("2016-11-24", "bluesky", 2, 1),
        ("2016-11-25", "bluesky", 1, 1),
        ("2016-11-25", "mastodon", 1, 1),  # the deleted one is left out
    ]
    top = rows(ds, "/tagwatch/top_posts.json?limit=2")
    assert [(r["text"], r["engagement"]) for r in top] == [
        ("Belgrade panel on illiberal democracies", 55),
        ("Freedom for journalists in Azerbaijan #HRHN2016", 10),
    ]
    voices = rows(ds, "/tagwatch/top_voices.json")
    assert [(r["handle"], r["posts"], r["engagement"], r["followers"]) for r in voices] == [
        ("alice.bsky.social", 3, 14, 500),
        ("bob@hoot.example", 1, 55, None),  # unknown followers stay unknown
    ]
    co = rows(ds, "/tagwatch/co_hashtags.json?hashtag=%23hrhn2016")
    assert [(r["hashtag"], r["posts"]) for r in co] == [("freeazerbaijan", 2), ("illiberal", 1)]
    mine = rows(ds, "/tagwatch/author_posts.json?author=@Alice.bsky.social")
    assert [r["id"] for r in mine] == [3, 2, 1]
    deleted = rows(ds, "/tagwatch/deleted_posts.json")
    assert [(r["platform"], r["deleted_posts"]) for r in deleted] == [("mastodon", 1)]


def test_full_text_search_on_posts(config: Config, demo_db: Path) -> None:
    ds = make_datasette(config)
    found = rows(ds, "/tagwatch/posts.json?_search=journalists")
    assert [r["id"] for r in found] == [1]
    found = rows(ds, "/tagwatch/posts.json?_search=illiberal")
    assert [r["id"] for r in found] == [4]
    page = get(ds, "/tagwatch/posts?_search=journalists")
    assert page.status_code == 200 and "Freedom for journalists" in page.text


def test_raw_payloads_are_hidden_from_the_default_view_only(config: Config, demo_db: Path) -> None:
    ds = make_datasette(config)
    page = get(ds, "/tagwatch/posts")
    assert page.status_code == 200
    assert "secret_looking" not in page.text
    assert "Belgrade panel" in page.text
    # Still there for who asks: a row's page and the JSON.
    assert "secret_looking" in get(ds, "/tagwatch/posts/1").text
    assert "secret_looking" in json.dumps(rows(ds, "/tagwatch/posts.json"))
    assert HIDDEN_COLUMNS == {"posts": ("raw",)}


def test_metadata_describes_tables_and_hides_bookkeeping(config: Config, demo_db: Path) -> None:
    ds = make_datasette(config)
    index = get(ds, "/tagwatch")
    assert index.status_code == 200
    assert "wall_events" not in index.text and "schema_migrations" not in index.text
    assert "Posts with #HRHN2016 from 2016-11-24 to 2016-11-26" in index.text
    page = get(ds, "/tagwatch/posts")
    assert "One row per post collected" in page.text
    assert "NULL = the platform does not say" in page.text  # column descriptions shown
    meta = get(ds, "/-/metadata.json").json()
    assert meta["license"].startswith("Posts remain their authors' work")
    assert meta["about_url"] == "https://humanrightshouse.org"
    assert "Test Assembly" in meta["title"] and "#HRHN2016" in meta["title"]


def test_every_table_and_column_is_described_or_hidden(config: Config, demo_db: Path) -> None:
    """A table added by a migration must be described for researchers, or hidden."""
    tables = browse_metadata(config)["databases"]["tagwatch"]["tables"]
    conn = sqlite3.connect(demo_db)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "select name from sqlite_master where type = 'table'"
                " and name not like 'sqlite_%' and name not like 'posts_fts%'"
            )
        ]
        for name in names:
            assert name in tables, f"describe or hide table {name} in monitor/browse_metadata.json"
            if tables[name].get("hidden"):
                continue
            columns = [r[1] for r in conn.execute(f"pragma table_info('{name}')")]
            missing = set(columns) - set(tables[name]["columns"])
            assert not missing, f"{name}: describe columns {sorted(missing)}"
    finally:
        conn.close()


def test_read_only_while_a_writer_holds_a_transaction(config: Config, demo_db: Path) -> None:
    ds = make_datasette(config)
    db = ds.get_database("tagwatch")

    async def read_and_try_to_write() -> tuple[int, str]:
        count = (await db.execute("select count(*) from posts")).first()[0]
        try:
            await db.execute("delete from posts")
        except Exception as exc:  # noqa: BLE001 - the refusal is what is asserted
            return count, str(exc)
        return count, ""

    with Store.open(config.db_path) as writer:
        writer.conn.execute("begin immediate")
        writer.conn.execute("update posts set likes = 99 where id = 1")
        count, error = asyncio.run(read_and_try_to_write())
        writer.conn.execute("commit")
        writer.write_posts([make_post(6, author=ALICE)])
    assert count == 5
    assert "readonly" in error or "not authorized" in error or "read-only" in error
    # What the writer committed meanwhile is seen at once.
    assert len(rows(ds, "/tagwatch/posts.json?_search=Post%206")) == 1
    assert rows(ds, "/tagwatch/posts.json?id=1")[0]["likes"] == 99


def test_missing_datasette_names_the_extra(
    tmp_path: Path, config: Config, demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "datasette.app", None)  # import fails as if absent
    path = write_config_toml(tmp_path / "config.toml", {**config.raw})
    result = CliRunner().invoke(cli, ["--config", str(path), "browse"])
    assert result.exit_code == 2
    assert "needs Datasette, which is not installed: pip install 'tagwatch[browse]'" in (
        result.output
    )


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    data = base_config_dict(tmp_path)
    path = write_config_toml(tmp_path / "config.toml", data)
    result = CliRunner().invoke(cli, ["--config", str(path), "browse"])
    assert result.exit_code == 2
    assert f"No database at {tmp_path / 'test.db'} yet: run `tagwatch collect`" in result.output


def test_print_metadata(tmp_path: Path, config: Config) -> None:
    path = write_config_toml(tmp_path / "config.toml", {**config.raw})
    result = CliRunner().invoke(cli, ["--config", str(path), "browse", "--print-metadata"])
    assert result.exit_code == 0, result.output
    meta = json.loads(result.output)
    queries = meta["databases"]["tagwatch"]["queries"]
    assert set(queries) == {
        "posts_per_day",
        "top_posts",
        "top_voices",
        "co_hashtags",
        "author_posts",
        "deleted_posts",
    }
    assert "'+60 minutes'" in queries["posts_per_day"]["sql"]  # Belgrade in November
