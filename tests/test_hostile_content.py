"""Hostile content: posts and names that try to be markup, hide, reverse or overflow.

They are collected through the real pipeline (fake Bluesky → `tagwatch
collect`), must be stored exactly, and are shown as text in the wall's JSON,
the digest and the impact report: never as markup, never crashing a writer.
Lone surrogates cannot be UTF-8 and are stored as U+FFFD (see
test_hostile_api for the store-level test); everything else is kept as sent.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import warnings
from pathlib import Path

import pytest

from tagwatch.reports.wall.app import create_app
from tagwatch.reports.wall.feed import MAX_TEXT
from tagwatch.settings import load_config
from tests.reliability_support import bluesky_event

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

SCRIPT = "<script>alert('tw-xss')</script>"
IMG = '<img src=x onerror="alert(`tw-img`)">'
TEXTS = {
    "html": f"Opening {SCRIPT}{IMG} <b>bold</b> &amp; &lt;ok&gt; #HRHN2016",
    "invisible": "zero\u200bwidth\u200c\u200djoin\ufeffer and \u2060word joiner #HRHN2016",
    "bidi": "\u202eevil reversed\u202c \u2067isolated\u2069 \u200fRTL mark #HRHN2016",
    "emoji": "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👋🏽 wave, 🇷🇸 Serbia, 1️⃣ keycap #HRHN2016",
    "long": ("#HRHN2016 " + "Long testimony. " * 625)[:10_000],
    "markdown": "[click](javascript:alert(1)) ![x](http://evil.example/x.png) | a | b | #HRHN2016",
}
NAMES = {
    "html": f"<b>Evil</b>{SCRIPT}",
    "invisible": "Na\u200bme\u200d",
    "bidi": "\u202egnp.exe",
    "emoji": "Defender 🕊️✊🏿",
    "long": "N" * 500,
    "markdown": "**bold** `code`",
}


def test_hostile_posts_stored_exactly_and_shown_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(TEXTS["long"]) == 10_000
    monkeypatch.setenv("TAGWATCH_WALL_TOKEN", "hostile-content-token")
    with bluesky_event(tmp_path, monkeypatch, wall={"moderation": "post"}) as ev:
        uris = {}
        for i, (key, text) in enumerate(TEXTS.items()):
            uris[key] = ev.post(f"hostile{i}.bsky.social", text, name=NAMES[key])
            ev.fake.set_engagement(uris[key], likes=200 - i, reposts=10)
        result = ev.cli("collect")
        assert result.exit_code == 0, result.output

        conn = sqlite3.connect(ev.db)
        stored = {
            uri: (text, name)
            for uri, text, name in conn.execute(
                "select platform_id, text, author_name from posts where deleted = 0"
            )
        }
        conn.close()
        for key, uri in uris.items():
            assert stored[uri] == (TEXTS[key], NAMES[key]), key

        with TestClient(create_app(load_config(ev.config), poll_interval=0.02)) as wall:
            shown = {p["text"]: p["name"] for p in wall.get("/api/wall").json()["show"]}
            for key, text in TEXTS.items():
                if len(text) > MAX_TEXT:  # the wall shortens what would not fit a screen
                    text = text[: MAX_TEXT - 1] + "…"
                assert shown[text] == NAMES[key], key
            page = wall.get("/").text
            assert "tw-xss" not in page and "tw-img" not in page

        outputs = ev.outputs()

    html = {name: content.decode() for name, content in outputs.items() if name.endswith(".html")}
    digest_html = "".join(v for k, v in html.items() if k.startswith("digest"))
    assert "&lt;script&gt;alert(" in digest_html, (
        "the hostile post should be in the digest, escaped"
    )
    for name, content in html.items():
        assert SCRIPT not in content, name
        assert "<img src=x onerror" not in content, name
        assert 'href="javascript:' not in content, name
    exported = [json.loads(line) for line in outputs["export.jsonl"].decode().splitlines()]
    csv_rows = list(csv.DictReader(io.StringIO(outputs["export.csv"].decode("utf-8"))))
    for records in (exported, csv_rows):
        texts = {r["text"] for r in records}
        names = {r["author_name"] for r in records}
        for key in TEXTS:
            assert TEXTS[key] in texts and NAMES[key] in names, key
    for name, content in outputs.items():
        if name.endswith((".html", ".md", ".txt", ".csv", ".jsonl", ".json")):
            content.decode("utf-8")  # every text output is valid UTF-8
