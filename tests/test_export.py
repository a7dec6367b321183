"""Export: exactly the contracted fields, both formats, text round-trips exactly."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from reports.export import EXPORT_FIELDS
from storage.db import Store
from tests.conftest import make_post

ROOT = Path(__file__).resolve().parent.parent

HARD_TEXTS = [
    "Emoji 👩🏽‍⚖️✊🏿🇷🇸 and ZWJ sequences #HRHN2016",
    "حقوق الإنسان للجميع — right-to-left #HRHN2016",
    "זכויות אדם\u200f mixed with English",
    "Ćirilica i latinica: Слобода окупљања, sloboda okupljanja; «quotes», 'single', \"double\"",
    "Line one\nline two, with a comma; and a semicolon\ttab",
    "Azərbaycan: siyasi məhbuslar azad edilməlidir. Wolność zgromadzeń. Gyülekezési szabadság.",
]


@pytest.fixture
def event_config(tmp_path):
    shutil.copy(ROOT / "config.toml", tmp_path / "config.toml")
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    (tmp_path / "config.toml").write_text(text.replace('path = "tagwatch.db"', 'path = "t.db"'))
    return tmp_path / "config.toml"


def seed(db_path: Path) -> None:
    with Store.open(db_path) as store:
        posts = [
            make_post(
                i,
                text=t,
                mentions=("@maja.bsky.social", "@hrh.org"),
                hashtags=("HRHN2016", "Слобода"),
                created_at=datetime(2016, 11, 24, 9 + i, 0, tzinfo=UTC),
            )
            for i, t in enumerate(HARD_TEXTS, start=1)
        ]
        posts.append(
            make_post(
                50, platform="x", views=777, created_at=datetime(2016, 11, 26, 22, 30, tzinfo=UTC)
            )
        )
        gone = make_post(60, created_at=datetime(2016, 11, 25, 12, tzinfo=UTC))
        posts.append(gone)
        store.write_posts(posts)
        store.mark_deleted(gone.platform, gone.platform_id)


def run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_jsonl_has_exactly_the_contracted_fields_and_round_trips(event_config, tmp_path):
    seed(tmp_path / "t.db")
    out = tmp_path / "posts.jsonl"
    result = run(["--config", str(event_config), "export", "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(HARD_TEXTS) + 1  # the deleted post is not exported
    for record in records:
        assert tuple(record) == EXPORT_FIELDS
    texts = [r["text"] for r in records if r["platform"] == "bluesky"]
    assert texts == HARD_TEXTS
    first = records[0]
    assert first["hashtags"] == ["hrhn2016", "слобода"]
    assert first["mentions"] == ["@maja.bsky.social", "@hrh.org"]
    assert first["deleted"] is False and first["views"] is None
    assert first["created_at"] == "2016-11-24T10:00:00.000000Z"
    assert records[-1]["views"] == 777


def test_csv_round_trips_and_joins_lists(event_config, tmp_path):
    seed(tmp_path / "t.db")
    result = run(["--config", str(event_config), "export", "--format", "csv"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == EXPORT_FIELDS
    assert [r["text"] for r in rows if r["platform"] == "bluesky"] == HARD_TEXTS
    assert rows[0]["hashtags"] == "hrhn2016;слобода"
    assert rows[0]["deleted"] == "false"


def test_filters_by_local_day_and_platform(event_config, tmp_path):
    seed(tmp_path / "t.db")
    # 2016-11-26 22:30 UTC is 23:30 in Belgrade: still the 26th locally
    result = run(
        ["--config", str(event_config), "export", "--since", "2016-11-26", "--until", "2016-11-26"]
    )
    records = [json.loads(x) for x in result.stdout.splitlines()]
    assert [r["platform"] for r in records] == ["x"]
    result = run(["--config", str(event_config), "export", "--platform", "x"])
    assert len(result.stdout.splitlines()) == 1
    result = run(["--config", str(event_config), "export", "--until", "2016-11-23"])
    assert result.stdout == ""


def test_include_deleted_lists_tombstones(event_config, tmp_path):
    seed(tmp_path / "t.db")
    result = run(["--config", str(event_config), "export", "--include-deleted"])
    records = [json.loads(x) for x in result.stdout.splitlines()]
    gone = [r for r in records if r["deleted"]]
    assert len(gone) == 1 and gone[0]["text"] == "" and gone[0]["url"] == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "24/11/2016"], "--since '24/11/2016' is not a date; use YYYY-MM-DD"),
        (["--since", "2016-11-26", "--until", "2016-11-24"], "is before --since"),
    ],
)
def test_bad_dates_exit_2(event_config, args, message):
    result = CliRunner().invoke(cli, ["--config", str(event_config), "export", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_status_shows_posts_and_collectors(event_config, tmp_path):
    seed(tmp_path / "t.db")
    with Store.open(tmp_path / "t.db") as store:
        rid = store.start_run("bluesky")
        store.finish_run(
            rid,
            status="failed",
            requests=2,
            new_posts=0,
            updated_posts=0,
            error="HTTP 503 from bsky.social",
        )
    result = run(["--config", str(event_config), "status"])
    assert result.exit_code == 0
    out = result.output
    assert "Posts: 7" in out and "bluesky" in out and "1 deleted upstream" in out
    assert "HTTP 503 from bsky.social" in out
    assert "1 failure(s) in a row" in out
    assert "Database:" in out and "KiB" in out
