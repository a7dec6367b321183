"""The impact report: every summary figure from a database with known figures, the CSVs
equal to the export, the PDF's pages, gaps named in the methodology, hostile text escaped."""

from __future__ import annotations

import csv
import io
import shutil
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner

from tagwatch.monitor.cli import cli
from tagwatch.records import Author
from tagwatch.reports import analysis
from tagwatch.reports.impact import build_report, make_charts, render_html
from tagwatch.settings import Config, load_config
from tagwatch.storage.db import Store
from tests.conftest import make_post

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2016, 11, 28, 9, 0, tzinfo=UTC)
HOSTILE_TEXT = "<script>alert('x')</script> <font size=40>BIG</font> & <b>bold</b> #HRHN2016"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
RESTRICTED_TEXT = "Restricted words nobody may quote"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _author(handle: str, followers: int | None) -> Author:
    return Author(f"id:{handle}", handle, handle.split(".")[0].capitalize(), followers)


def seed(db_path: Path) -> None:
    """Eight posts in the event (24-26 Nov 2016, Europe/Belgrade = UTC+1), plus noise.

    Known figures: 8 posts, 5 authors, engagement 151, reach 1510 (carol's
    follower count unknown), busiest hour 24 Nov 10:00 local with 3 posts;
    per day 5/2/1; bluesky 5, mastodon 3.
    """
    alice, bob = _author("alice.bsky.social", 1000), _author("bob@mastodon.social", 200)
    # carol's display name is her own choice: hostile markup, as is her post.
    carol = Author("id:carol", "carol.bsky.social", HOSTILE_NAME, None)
    erin = _author("erin.bsky.social", 300)
    gina = _author("gina@mastodon.social", 10)

    def post(n, platform, author, at, **kw):
        kw.setdefault("hashtags", ("HRHN2016",))
        kw.setdefault("likes", 0)
        return make_post(n, platform=platform, author=author, created_at=at, collected_at=at, **kw)

    posts = [
        post(
            1,
            "bluesky",
            alice,
            _utc(2016, 11, 24, 9, 10),
            likes=4,
            hashtags=("HRHN2016", "FreeAzerbaijan"),
        ),
        post(2, "bluesky", alice, _utc(2016, 11, 24, 9, 40), likes=3),
        post(
            3,
            "mastodon",
            bob,
            _utc(2016, 11, 24, 9, 50),
            likes=5,
            reposts=5,
            lang="sr",
            hashtags=("hrhn2016", "freeazerbaijan"),
        ),
        post(4, "bluesky", carol, _utc(2016, 11, 24, 13, 5), likes=20, text=HOSTILE_TEXT),
        post(
            5,
            "mastodon",
            bob,
            _utc(2016, 11, 25, 17, 30),
            likes=2,
            replies=2,
            hashtags=("HRHN2016", "illiberal"),
        ),
        post(
            6,
            "bluesky",
            erin,
            _utc(2016, 11, 25, 18, 0),
            likes=100,
            text=RESTRICTED_TEXT,
            no_unauthenticated=True,
        ),
        post(7, "bluesky", alice, _utc(2016, 11, 26, 10, 0), hashtags=("HRHN2016", "illiberal")),
        # 23 Nov 23:30 UTC is 24 Nov 00:30 in Belgrade: inside the event.
        post(11, "mastodon", gina, _utc(2016, 11, 23, 23, 30), likes=1),
        # Outside: 23 Nov local, and 27 Nov 00:30 local.
        post(9, "bluesky", alice, _utc(2016, 11, 23, 12, 0), likes=50),
        post(10, "bluesky", alice, _utc(2016, 11, 26, 23, 30), likes=50),
        # Deleted after collection: not counted.
        post(8, "bluesky", _author("frank.bsky.social", 5000), _utc(2016, 11, 25, 12, 0), likes=70),
    ]
    with Store.open(db_path) as store:
        store.write_posts(posts)
        # p1 gains engagement later: 4 -> 13 (10 likes, 2 reposts, 1 reply).
        store.update_engagement(
            "bluesky",
            posts[0].platform_id,
            likes=10,
            reposts=2,
            replies=1,
            quotes=0,
            at=_utc(2016, 11, 24, 15, 0),
        )
        store.mark_deleted("bluesky", posts[-1].platform_id, at=_utc(2016, 11, 25, 13, 0))
        for collector, start, status, error in [
            ("bluesky", _utc(2016, 11, 24, 9, 0), "ok", None),
            ("bluesky", _utc(2016, 11, 24, 12, 0), "failed", "HTTP 502 from <bsky.social>"),
            ("bluesky", _utc(2016, 11, 24, 12, 30), "ok", None),
            ("mastodon", _utc(2016, 11, 25, 17, 0), "rate_limited", "rate limited for 900 s"),
            ("mastodon", _utc(2016, 11, 25, 17, 20), "ok", None),
        ]:
            run_id = store.start_run(collector, at=start)
            store.finish_run(
                run_id,
                status=status,
                requests=3,
                new_posts=1,
                updated_posts=0,
                error=error,
                at=start.replace(minute=start.minute + 2),
            )


def _event(folder: Path) -> tuple[Path, Config]:
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    path = folder / "config.toml"
    path.write_text(text.replace('path = "tagwatch.db"', 'path = "t.db"'), encoding="utf-8")
    seed(folder / "t.db")
    return path, load_config(path)


@pytest.fixture
def event(tmp_path: Path) -> tuple[Path, Config]:
    return _event(tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(config, out folder) of one `tagwatch report` run, shared by the read-only tests."""
    folder = tmp_path_factory.mktemp("built")
    path, _ = _event(folder)
    out = folder / "out"
    result = _run(["--config", str(path), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return path, out


@pytest.fixture
def written(built: tuple[Path, Path]) -> Path:
    return built[1]


def _report(config: Config, **kw):
    with Store.open(config.db_path) as store:
        return build_report(store.conn, config, now=NOW, **kw)


def test_every_summary_figure(event):
    _, config = event
    s = _report(config).summary
    assert (s.posts, s.authors, s.engagement) == (8, 5, 151)
    assert (s.likes, s.reposts, s.replies, s.quotes) == (141, 7, 3, 0)
    assert s.reach == 1000 + 200 + 300 + 10
    assert s.authors_without_followers == 1
    assert s.peak_hour is not None
    assert s.peak_hour.strftime("%Y-%m-%d %H:%M %Z") == "2016-11-24 10:00 CET"
    assert s.peak_hour_posts == 3
    assert s.platforms == ("bluesky", "mastodon")
    assert (s.views, s.posts_with_views) == (0, 0)
    # The same figures the digest and the wall get from the analysis API.
    with Store.open(config.db_path) as store:
        lo, hi = (
            config.event.day_bounds(config.event.start)[0],
            config.event.day_bounds(config.event.end)[1],
        )
        a = analysis.summary(store.conn, config.event, lo, hi)
    assert (a.counts.posts, a.counts.unique_authors, a.counts.engagement) == (8, 5, 151)
    assert a.potential_reach == s.reach


def test_tables_per_day_and_platform(event):
    _, config = event
    t = _report(config).tables
    assert [(r["day"], r["posts"], r["authors"]) for r in t["per_day"].rows] == [
        ("2016-11-24", 5, 4),
        ("2016-11-25", 2, 2),
        ("2016-11-26", 1, 1),
    ]
    assert [(r["platform"], r["posts"], r["engagement"]) for r in t["per_platform"].rows] == [
        ("bluesky", 5, 136),
        ("mastodon", 3, 15),
        # X is not enabled and has no posts: not listed as a platform with zeros.
    ]
    assert sum(r["total"] for r in t["timeline_hourly"].rows) == 8
    langs = [(r["name"], r["language"], r["posts"]) for r in t["languages"].rows]
    assert langs == [("English", "en", 7), ("Serbian", "sr", 1)]
    assert len(t["timeline_hourly"].rows) == 72


def test_sessions_table(event):
    _, config = event
    rows = _report(config).tables["sessions"].rows
    assert [(r["session"][:12], r["posts"], r["by_hashtag"], r["by_time"]) for r in rows] == [
        ("Opening of t", 1, 0, 1),
        ("Azerbaijan: ", 3, 2, 1),
        ("Public discu", 3, 2, 1),
        ("Closing: str", 0, 0, 0),
    ]


def test_engagement_growth_ends_at_the_summary_total(event):
    _, config = event
    report = _report(config)
    rows = report.tables["engagement_growth"].rows
    assert rows[-1]["engagement_total"] == report.summary.engagement == 151
    # Post 7's only snapshot is exactly on an hour boundary, the last one: still counted.
    assert rows[-1]["posts_tracked"] == 8
    # The refresh of post 1 at 15:00 UTC (16:00 local) added 9 in the hour until 17:00.
    by_hour = {r["until_local"]: r for r in rows}
    assert by_hour["2016-11-24 17:00"]["gained"] == 9
    assert by_hour["2016-11-24 17:00"]["engagement_total"] == 13 + 3 + 10 + 20 + 1


def test_restricted_posts_counted_not_quoted_and_deleted_excluded(event):
    _, config = event
    report = _report(config)
    assert report.methodology.hidden_posts == 1
    assert report.methodology.hidden_authors == 1
    assert report.methodology.deleted_removed == 1
    assert all(RESTRICTED_TEXT not in p["text"] for p in report.top_posts)
    assert "erin.bsky.social" not in [v["author"] for v in report.tables["top_voices"].rows]
    assert report.top_posts[0]["engagement"] == 20  # carol's; erin's 100 is never shown
    html = render_html(report, make_charts(report, config.event.sessions))
    assert RESTRICTED_TEXT not in html and "erin.bsky.social" not in html


def test_themes_whole_event_and_by_day(event):
    _, config = event
    t = _report(config).tables
    assert t["themes"].rows[:2] == [
        {"theme": "#freeazerbaijan", "kind": "hashtag", "posts": 2},
        {"theme": "#illiberal", "kind": "hashtag", "posts": 2},
    ]
    by_day = {r["day"]: r for r in t["themes_by_day"].rows}
    assert by_day["2016-11-24"]["#freeazerbaijan"] == 2
    assert by_day["2016-11-25"]["#illiberal"] == 1
    assert by_day["2016-11-26"]["#illiberal"] == 1


def test_gaps_from_failed_passes_are_named_with_times(event):
    _, config = event
    m = _report(config).methodology
    assert [(g.collector, g.status, g.started.strftime("%d %H:%M")) for g in m.gaps] == [
        ("bluesky", "failed", "24 13:00"),
        ("mastodon", "rate_limited", "25 18:00"),
    ]
    assert m.gaps[0].next_success is not None
    assert m.gaps[0].next_success.strftime("%H:%M") == "13:30"
    passes = {r["collector"]: r for r in m.passes.rows}
    assert (passes["bluesky"]["passes"], passes["bluesky"]["ok"]) == (3, 2)


def _run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_cli_writes_every_output(written):
    assert (written / "impact-report.html").exists()
    assert (written / "impact-report.pdf").read_bytes().startswith(b"%PDF")
    charts = sorted(p.name for p in (written / "charts").glob("*.png"))
    assert "volume_timeline.png" in charts and len(charts) == 7
    for png in (written / "charts").glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG")
    data = {p.name for p in (written / "data").glob("*.csv")}
    for name in [
        "summary",
        "per_day",
        "per_platform",
        "timeline_hourly",
        "sessions",
        "engagement_growth",
        "top_posts",
        "top_voices",
        "themes",
        "themes_by_day",
        "languages",
        "collection_passes",
        "collection_gaps",
        "posts",
    ]:
        assert f"{name}.csv" in data


def test_csvs_match_the_export_of_the_same_period(built, tmp_path):
    path, written = built
    export = tmp_path / "export.csv"
    result = _run(
        [
            "--config",
            str(path),
            "export",
            "--format",
            "csv",
            "--since",
            "2016-11-24",
            "--until",
            "2016-11-26",
            "--out",
            str(export),
        ]
    )
    assert result.exit_code == 0, result.output
    assert (written / "data" / "posts.csv").read_text() == export.read_text()
    posts = _csv(export)
    summary = {r["key"]: r["value"] for r in _csv(written / "data" / "summary.csv")}
    assert int(summary["posts"]) == len(posts)
    # Authors by the platform's stable account id: a changed handle is the same author.
    authors = {(p["platform"], p["author_id"]) for p in posts if p["author_id"]}
    assert int(summary["authors"]) == len(authors) == 5
    engagement = sum(int(p[k]) for p in posts for k in ("likes", "reposts", "replies", "quotes"))
    assert int(summary["engagement"]) == engagement
    per_platform = {r["platform"]: int(r["posts"]) for r in _csv(written / "data/per_platform.csv")}
    assert per_platform == {
        pl: sum(1 for p in posts if p["platform"] == pl) for pl in {p["platform"] for p in posts}
    }
    per_day = _csv(written / "data" / "per_day.csv")
    assert sum(int(r["posts"]) for r in per_day) == len(posts)
    assert sum(int(r["engagement"]) for r in per_day) == engagement
    hourly = _csv(written / "data" / "timeline_hourly.csv")
    assert sum(int(r["total"]) for r in hourly) == len(posts)
    langs = {r["language"]: int(r["posts"]) for r in _csv(written / "data" / "languages.csv")}
    assert langs == {"en": 7, "sr": 1}


def _pdf_pages(path: Path) -> list[str]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def test_pdf_has_the_expected_pages_and_is_not_blank(written):
    path = written / "impact-report.pdf"
    pages = _pdf_pages(path)
    assert len(pages) >= 5
    assert "Human Rights House Network Assembly 2016" in pages[0]
    assert "Summary" in pages[0] and "1,510" in pages[0] and "151" in pages[0]
    # Each section starts a page with its heading as a line of its own, in this order.
    heads = [[line.strip() for line in page.splitlines()][:3] for page in pages]
    starts = [
        next(i for i, h in enumerate(heads) if title in h)
        for title in ("Activity", "Engagement", "Themes and languages", "Methodology")
    ]
    assert starts == sorted(starts) and starts[0] == 1
    assert "Collection passes and gaps" in " ".join(pages[starts[-1] :])
    pdf = pdfium.PdfDocument(str(path))
    try:
        image = pdf[1].render(scale=1).to_pil().convert("L")
    finally:
        pdf.close()
    lo, hi = image.getextrema()
    assert hi - lo > 100  # ink on paper, not a blank page
    dark = sum(image.histogram()[:128])
    assert dark > 1000


def test_methodology_names_the_gaps_in_html_and_pdf(written):
    html = (written / "impact-report.html").read_text(encoding="utf-8")
    assert "bluesky</strong>: failed at Thu 24 Nov 2016, 13:00" in html
    assert "mastodon</strong>: rate limited at Fri 25 Nov 2016, 18:00" in html
    text = " ".join(" ".join(_pdf_pages(written / "impact-report.pdf")[-2:]).split())
    assert "bluesky: failed at Thu 24 Nov 2016, 13:00" in text
    assert "mastodon: rate limited at Fri 25 Nov 2016, 18:00" in text
    assert "Not collected: x" in text
    for where in (html, text):
        assert "Deleted by their authors after tagwatch collected them: 1 post of" in where
        assert "logged-in readers: 1 post from 1 account." in where


def test_hostile_text_is_escaped_everywhere(written):
    html = (written / "impact-report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "HTTP 502 from &lt;bsky.social&gt;" in html
    # In the PDF the markup is printed as text, not obeyed.
    text = " ".join(_pdf_pages(written / "impact-report.pdf"))
    assert "<font size=40>BIG</font>" in text
    assert HOSTILE_NAME in text


def test_comparison_with_an_earlier_period_and_database(event, tmp_path):
    path, config = event
    report = _report(config, compare=None)
    assert report.comparison is None
    with Store.open(config.db_path) as store:
        report = build_report(
            store.conn,
            config,
            date(2016, 11, 25),
            date(2016, 11, 26),
            now=NOW,
            compare=(store.conn, date(2016, 11, 24), date(2016, 11, 24)),
        )
    rows = {r["figure"].split(" (")[0]: r for r in report.tables["comparison"].rows}
    assert (rows["Posts"]["this_period"], rows["Posts"]["compared"]) == (3, 5)
    assert rows["Posts"]["change"] == "-40%"
    other = tmp_path / "earlier.db"
    shutil.copy(config.db_path, other)
    out = tmp_path / "cmp"
    result = _run(["--config", str(path), "report", "--out", str(out), "--compare-db", str(other)])
    assert result.exit_code == 0, result.output
    html = (out / "impact-report.html").read_text(encoding="utf-8")
    assert "Compared with earlier event" in html
    cmp_rows = _csv(out / "data" / "comparison.csv")
    assert cmp_rows[0]["compared"] == "10"  # all live posts of that database


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2016-11-26", "--to", "2016-11-24"], "--to 2016-11-24 is before --from"),
        (["--from", "24.11.2016"], "--from '24.11.2016' is not a date"),
        (["--compare-from", "2016-11-20"], "--compare-from and --compare-to go together"),
        (["--compare-db", "nope.db"], "--compare-db nope.db: no such file"),
        (
            ["--compare-from", "2016-11-20", "--compare-to", "2016-11-19"],
            "--compare-to 2016-11-19 is before --compare-from 2016-11-20",
        ),
    ],
)
def test_usage_errors(event, tmp_path, args, message):
    path, _ = event
    result = CliRunner().invoke(cli, ["--config", str(path), "report", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_compare_db_that_is_not_a_tagwatch_database(event, tmp_path):
    path, _ = event
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("create table notes (x text)")
    conn.commit()
    conn.close()
    result = CliRunner().invoke(
        cli,
        ["--config", str(path), "report", "--out", str(tmp_path / "o"), "--compare-db", str(other)],
    )
    assert result.exit_code == 1
    assert f"--compare-db {other} is not a tagwatch database" in result.output


def test_pdf_text_keeps_scripts_drops_missing_glyphs_and_escapes_markup():
    from tagwatch.reports.impact.pdf import _text

    assert _text("Слобода окупљања — sloboda") == "Слобода окупљања — sloboda"
    assert _text("Solidarity ✊🏿 <b>now</b> & <br/>\nnext") == (
        "Solidarity  &lt;b&gt;now&lt;/b&gt; &amp; &lt;br/&gt;<br/>next"
    )
    assert _text(1234567) == "1,234,567"
    assert _text(None) == ""


def test_a_period_without_posts_still_gives_every_file(event, tmp_path):
    path, _ = event
    out = tmp_path / "quiet"
    result = _run(
        [
            "--config",
            str(path),
            "report",
            "--from",
            "2016-12-01",
            "--to",
            "2016-12-01",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    summary = {r["key"]: r["value"] for r in _csv(out / "data" / "summary.csv")}
    assert (summary["posts"], summary["authors"], summary["peak_hour"]) == ("0", "0", "")
    html = (out / "impact-report.html").read_text(encoding="utf-8")
    assert "No collection passes are recorded" in html
    assert len(_pdf_pages(out / "impact-report.pdf")) >= 5


def test_the_hour_repeated_when_daylight_saving_ends_is_two_hours(tmp_path, event):
    _, config = event
    # 30 Oct 2016 in Belgrade: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    with Store.open(config.db_path) as store:
        store.write_posts(
            [
                make_post(31, created_at=_utc(2016, 10, 30, 0, 30)),
                make_post(32, created_at=_utc(2016, 10, 30, 1, 30)),
            ]
        )
        report = build_report(store.conn, config, date(2016, 10, 30), date(2016, 10, 30), now=NOW)
    rows = report.tables["timeline_hourly"].rows
    assert len(rows) == 25
    twice = [r for r in rows if r["hour_local"] == "2016-10-30 02:00"]
    assert [r["total"] for r in twice] == [1, 1]
    assert report.summary.peak_hour_posts == 1


def test_an_out_folder_that_cannot_be_made(event, tmp_path):
    path, _ = event
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "report"
    result = CliRunner().invoke(cli, ["--config", str(path), "report", "--out", str(out)])
    assert result.exit_code == 1
    assert f"Cannot write the report into {out}: Not a directory." in result.output
    assert "Choose another folder with --out." in result.output


def test_a_chosen_period_matches_the_export_of_those_days(event, tmp_path):
    path, _ = event
    out, export = tmp_path / "day2", tmp_path / "day2.csv"
    days = ["2016-11-25", "2016-11-26"]
    assert (
        _run(
            ["--config", str(path), "report", "--from", days[0], "--to", days[1], "--out", str(out)]
        ).exit_code
        == 0
    )
    assert (
        _run(
            [
                "--config",
                str(path),
                "export",
                "--format",
                "csv",
                "--since",
                days[0],
                "--until",
                days[1],
                "--out",
                str(export),
            ]
        ).exit_code
        == 0
    )
    assert (out / "data" / "posts.csv").read_text() == export.read_text()
    summary = {r["key"]: r["value"] for r in _csv(out / "data" / "summary.csv")}
    assert (summary["posts"], summary["authors"], summary["engagement"]) == ("3", "3", "104")


def test_a_post_longer_than_a_page_is_shortened_in_the_pdf(event, tmp_path):
    path, config = event
    long_text = "word " * 6000 + "https://example.org/" + "x" * 400
    with Store.open(config.db_path) as store:
        store.write_posts([make_post(40, text=long_text, likes=500)])
    out = tmp_path / "long"
    result = _run(["--config", str(path), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(" ".join(_pdf_pages(out / "impact-report.pdf")).split())
    assert "word… (shortened; full text in data/)" in text
    top = _csv(out / "data" / "top_posts.csv")
    assert top[0]["text"] == long_text


def test_posts_xlsx_is_the_same_posts_as_posts_csv(built):
    import openpyxl

    _, written = built
    posts = _csv(written / "data" / "posts.csv")
    ws = openpyxl.load_workbook(written / "data" / "posts.xlsx")["posts"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[6] == "created_at (UTC)" and len(header) == len(posts[0])
    sheet = [
        dict(zip(posts[0], (c.value for c in r), strict=True)) for r in ws.iter_rows(min_row=2)
    ]
    assert len(sheet) == len(posts) > 0
    for csv_row, row in zip(posts, sheet, strict=True):
        assert (row["platform"], row["id"]) == (csv_row["platform"], csv_row["id"])
        assert (row["text"] or "") == csv_row["text"]
        assert row["likes"] == int(csv_row["likes"])
        assert row["created_at"].strftime("%Y-%m-%dT%H:%M:%S") == csv_row["created_at"][:19]
