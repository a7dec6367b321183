"""One URL guard for every output: http and https links only, in digest, report and wall.

Hostile URLs arrive the way a real one would: a Mastodon instance sends them
as a status's `url` (the fake serves the status; the real collector reads it).
They are stored as sent (exports carry data as stored) and never become a
link, nor even text, in the digest, the impact report (HTML and PDF) or the
wall's moderation API.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest

import tagwatch.reports.impact.report
from tagwatch.collectors.fakes.mastodon import FakeMastodon
from tagwatch.collectors.mastodon import MastodonCollector
from tagwatch.reports.digest import send_daily_digest
from tagwatch.reports.impact import make_report
from tagwatch.reports.urls import safe_url
from tagwatch.reports.wall.app import create_app
from tagwatch.settings import parse_config
from tagwatch.storage.db import Store
from tests.conftest import base_config_dict

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

# Each carries a marker that must appear in no output (the post's text never holds it).
HOSTILE = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(2)",
    "  javascript:alert(3)",
    "\x01\x02javascript:alert(4)",
    "java\tscript:alert(5)",
    "java\nscript:alert(6)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==",
    "vbscript:msgbox(8)",
    'http://x.example/" onmouseover="alert(9)',
    "http://x.example/'onmouseover='alert(10)",
    "https://x.example/<script>alert(11)</script>",
    "\u202ejavascript:alert(12)",
    "https:\\\\x.example\\alert(13)",
    "//x.example/alert(14)",
    "http:///alert(15)",
]
MARKERS = re.compile(r"alert\(|msgbox|PHNjcmlwdD|onmouseover", re.IGNORECASE)
GOOD = "https://hoot.example/@good/1?ref=a&b=c#top"


@pytest.mark.parametrize("url", HOSTILE + [None, 42, "", "ftp://x.example/f", "mailto:a@b.c"])
def test_anything_but_a_plain_http_link_is_refused(url: object) -> None:
    assert safe_url(url) == ""


@pytest.mark.parametrize(
    "url", ["http://x.example", "HTTPS://X.EXAMPLE/a", GOOD, "https://bsky.app/profile/a/post/1"]
)
def test_http_and_https_links_are_kept_as_they_are(url: str) -> None:
    assert safe_url(url) == url
    assert safe_url(f"  {url} ") == url


def _pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def test_hostile_post_urls_are_no_link_in_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", "url-guard-token")
    day = date(2016, 11, 25)
    with FakeMastodon() as fake:
        data = base_config_dict(tmp_path)
        data["mastodon"] = {"enabled": True, "instances": [fake.base_url]}
        data["collect"] = {"max_retries": 0}
        data["digest"] = {"top_n": 20}
        data["wall"] = {"moderation": "post"}
        config = parse_config(data, path=tmp_path / "config.toml")
        for i, url in enumerate([GOOD, *HOSTILE]):
            status = fake.toot(
                f"user{i}",
                f"<p>Statement number {i} from the floor #HRHN2016</p>",
                tags=["HRHN2016"],
                created_at=datetime(2016, 11, 25, 9, i, tzinfo=UTC),
                favourites=100 - i,
            )
            fake.update(status, url=url)
        with Store.open(config.db_path) as store:
            record = MastodonCollector(config, store, sleep=lambda s: None).run_pass()
            assert record.status == "ok", record.error
            stored = {r[0] for r in store.conn.execute("select url from posts")}
    assert stored == {*HOSTILE, GOOD}  # kept exactly as the instance sent them

    # every post quoted, each its URL
    monkeypatch.setattr(tagwatch.reports.impact.report, "TOP_POSTS", 20)
    report = make_report(config, day, day, tmp_path / "report")
    digest = send_daily_digest(config, day, send=False, out=tmp_path / "digest")
    outputs = {
        "report.html": report["html"].read_text(encoding="utf-8"),
        "report.pdf": _pdf_text(report["pdf"]),
        "top_posts.csv": (tmp_path / "report" / "data" / "top_posts.csv").read_text("utf-8"),
        **{
            f"digest.{k}": p.read_text(encoding="utf-8")
            for k, p in digest.paths.items()
            if k in ("html", "md", "txt")
        },
    }
    with TestClient(create_app(config)) as wall:
        answer = wall.get(
            "/api/moderation/posts?show=all",
            headers={"Authorization": "Bearer url-guard-token"},
        )
        assert answer.status_code == 200
        outputs["wall moderation API"] = answer.text
        urls = {p["text"].split()[2]: p["url"] for p in answer.json()["posts"]}
    assert urls.pop("0") == GOOD
    assert len(urls) == len(HOSTILE) and set(urls.values()) == {""}

    for name, text in outputs.items():
        assert not MARKERS.search(text), (name, MARKERS.search(text))
        assert not re.search(r"(java|vb)\s*script\s*:", text, re.IGNORECASE), name
        assert "data:text" not in text, name
        # The posts are there (shown without a link), and the one good link is kept.
        shown = [f"Statement number {i} from" in text for i in range(len(HOSTILE) + 1)]
        assert all(shown), (name, shown)
    for name in ("report.html", "digest.html"):
        assert f'href="{GOOD.replace("&", "&amp;")}"' in outputs[name], name
        hrefs = re.findall(r'href="([^"]*)"', outputs[name])
        assert all(h.startswith(("http://", "https://", "#")) for h in hrefs), (name, hrefs)
    assert GOOD in outputs["report.pdf"].replace("\r\n", "").replace("\n", "")
