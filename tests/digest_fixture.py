"""A small event database whose figures are known by hand, for the digest tests.

The digested day is Friday 25 November 2016 in Europe/Belgrade (UTC+1).
On that day (local time), live posts:

| post | platform | author | local time | engagement | notes                                     |
|------|----------|--------|------------|------------|-------------------------------------------|
| p1   | bluesky  | alice  | 10:15      | 53         | `<script>` in text; illiberal democracy |
| p2   | bluesky  | bob    | 10:40      | 5          | display name with HTML; mentions alice    |
| p3   | x        | carol  | 11:05      | 11         | 8 replies, 3 likes; polarity -0.4         |
| p4   | mastodon | dave   | 14:30      | 1          | Serbian, no sentiment score               |
| p5   | bluesky  | erin   | 15:00      | 100        | no_unauthenticated: counted, never quoted |
| p6   | bluesky  | alice  | 16:00      | 2          | both phrases; #freethem                   |
| p8   | x        | frank  | 23:30      | 0          | last hour of the day                      |
| p9   | bluesky  | gina   | 00:30      | 1          | 23:30 UTC the day before                  |

p7 (12:00) was deleted upstream. 8 posts, 7 authors, engagement 173.
The day before (24 Nov): 4 posts by 3 authors, engagement 6; "political prisoners" twice.
Runs on the 25th: bluesky 3 ok; x 2 ok then quota from 14:05 (3 in a row); mastodon 1 failed, 1 ok.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tagwatch.records import Author, Post, iso
from tagwatch.settings import Config, parse_config
from tagwatch.storage.db import Store

DAY = date(2016, 11, 25)
HOSTILE_TEXT = 'Opening panel on illiberal democracy <script>alert("x")</script> & more'
HOSTILE_NAME = "<b>Bob</b> <img src=x onerror=alert(1)>"
SECRET_TEXT = "RESTRICTED-TEXT-never-quote"
DELETED_TEXT = "DELETED-TEXT-gone"


def digest_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    data: dict[str, Any] = {
        "event": {
            "name": "HRHN Assembly 2016",
            "hashtags": ["HRHN2016"],
            "timezone": "Europe/Belgrade",
            "start": date(2016, 11, 24),
            "end": date(2016, 11, 26),
            "languages": ["en", "sr"],
            "sessions": [
                {
                    "title": "Welcome and network news",
                    "start": datetime(2016, 11, 24, 10, 0),
                    "end": datetime(2016, 11, 24, 11, 0),
                },
                {
                    "title": "Illiberal democracies in Europe",
                    "start": datetime(2016, 11, 25, 10, 0),
                    "end": datetime(2016, 11, 25, 11, 30),
                    "room": "Main hall",
                },
                {
                    "title": "Political prisoners in Azerbaijan",
                    "start": datetime(2016, 11, 25, 14, 0),
                    "end": datetime(2016, 11, 25, 15, 30),
                    "room": "Room B",
                },
            ],
        },
        "storage": {"path": str(tmp_path / "digest.db")},
        "bluesky": {"enabled": True},
        "x": {"enabled": True},
        "mastodon": {"enabled": True},
        "digest": {"out_dir": str(tmp_path / "out"), "recipients": ["comms@example.org"]},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_config(data, path=tmp_path / "config.toml")


def _utc(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def _post(
    key: str,
    platform: str,
    handle: str,
    at: datetime,
    text: str,
    *,
    name: str | None = None,
    followers: int = 100,
    **kw: Any,
) -> Post:
    urls = {
        "bluesky": f"https://bsky.app/profile/{handle}/post/{key}",
        "x": f"https://x.com/{handle}/status/{key}",
        "mastodon": f"https://mastodon.social/@{handle}/{key}",
    }
    return Post(
        platform=platform,
        platform_id=f"{platform}-{key}",
        url=kw.pop("url", urls[platform]),
        author=Author(
            f"{platform}:{handle}", handle, name or handle.split(".")[0].title(), followers
        ),
        text=text,
        created_at=at,
        hashtags=("HRHN2016", *kw.pop("tags", ())),
        **kw,
    )


# (post, lang_detected, polarity, noun phrases)
ENRICHED: list[tuple[Post, str, float | None, list[str]]] = [
    # the day before
    (
        _post("q1", "bluesky", "alice.bsky.social", _utc(2016, 11, 24, 9), "Political prisoners"),
        "en",
        0.0,
        ["political prisoners"],
    ),
    (
        _post("q2", "x", "carol", _utc(2016, 11, 24, 12), "political prisoners", likes=2),
        "en",
        0.0,
        ["political prisoners"],
    ),
    (
        _post(
            "q3", "bluesky", "hank.bsky.social", _utc(2016, 11, 24, 15), "Hello Belgrade", likes=4
        ),
        "en",
        0.5,
        [],
    ),
    (
        _post("q4", "bluesky", "hank.bsky.social", _utc(2016, 11, 24, 16), "Day one done"),
        "en",
        0.0,
        [],
    ),
    # the digested day
    (
        _post(
            "p1",
            "bluesky",
            "alice.bsky.social",
            _utc(2016, 11, 25, 9, 15),
            HOSTILE_TEXT,
            name="Alice Advocate",
            followers=5000,
            likes=40,
            reposts=10,
            replies=2,
            quotes=1,
        ),
        "en",
        0.3,
        ["illiberal democracy"],
    ),
    (
        _post(
            "p2",
            "bluesky",
            "bob.bsky.social",
            _utc(2016, 11, 25, 9, 40),
            "Illiberal democracy in Hungary, says @alice.bsky.social",
            name=HOSTILE_NAME,
            mentions=("alice.bsky.social",),
            likes=5,
            url="javascript:alert(1)",
        ),
        "en",
        0.0,
        ["illiberal democracy"],
    ),
    (
        _post(
            "p3",
            "x",
            "carol",
            _utc(2016, 11, 25, 10, 5),
            "Political prisoners in Azerbaijan are a disgrace",
            name="Carol",
            likes=3,
            replies=8,
            tags=("freethem",),
        ),
        "en",
        -0.4,
        ["political prisoners"],
    ),
    (
        _post(
            "p4",
            "mastodon",
            "dave",
            _utc(2016, 11, 25, 13, 30),
            "Политички затвореници у Азербејџану",
            likes=1,
        ),
        "sr",
        None,
        [],
    ),
    (
        _post(
            "p5",
            "bluesky",
            "erin.bsky.social",
            _utc(2016, 11, 25, 14, 0),
            SECRET_TEXT,
            mentions=("alice.bsky.social",),
            likes=100,
            no_unauthenticated=True,
        ),
        "en",
        0.0,
        [],
    ),
    (
        _post(
            "p6",
            "bluesky",
            "alice.bsky.social",
            _utc(2016, 11, 25, 15, 0),
            "Illiberal democracy and political prisoners #freethem",
            name="Alice Advocate",
            followers=5000,
            likes=2,
            tags=("freethem",),
        ),
        "en",
        0.2,
        ["illiberal democracy", "political prisoners"],
    ),
    (
        _post("p7", "x", "ivan", _utc(2016, 11, 25, 11), DELETED_TEXT, likes=500),
        "en",
        0.0,
        [],
    ),
    (
        _post("p8", "x", "frank", _utc(2016, 11, 25, 22, 30), "Late night thoughts"),
        "en",
        0.0,
        [],
    ),
    (
        _post(
            "p9", "bluesky", "gina.bsky.social", _utc(2016, 11, 24, 23, 30), "Good morning", likes=1
        ),
        "en",
        0.7,
        [],
    ),
    # the day after: must not count
    (
        _post(
            "r1", "bluesky", "gina.bsky.social", _utc(2016, 11, 25, 23, 30), "Day three", likes=9
        ),
        "en",
        0.0,
        [],
    ),
]

# (collector, local-day UTC start hour:minute, status, new posts, error)
RUNS = [
    ("bluesky", _utc(2016, 11, 25, 6), "ok", 3, None),
    ("bluesky", _utc(2016, 11, 25, 12), "ok", 2, None),
    ("bluesky", _utc(2016, 11, 25, 20), "ok", 1, None),
    ("x", _utc(2016, 11, 25, 6), "ok", 1, None),
    ("x", _utc(2016, 11, 25, 10), "ok", 1, None),
    ("x", _utc(2016, 11, 25, 13, 5), "quota", 0, "Monthly post cap <reached>"),
    ("x", _utc(2016, 11, 25, 17), "quota", 0, "Monthly post cap <reached>"),
    ("x", _utc(2016, 11, 25, 21), "quota", 0, "Monthly post cap <reached>"),
    ("mastodon", _utc(2016, 11, 25, 7), "failed", 0, "HTTP 503 from mastodon.social"),
    ("mastodon", _utc(2016, 11, 25, 12), "ok", 1, None),
]


def build_fixture_db(config: Config) -> None:
    with Store.open(config.db_path) as store:
        store.write_posts([p for p, *_ in ENRICHED])
        with store.transaction() as conn:
            for post, lang, polarity, phrases in ENRICHED:
                conn.execute(
                    "update posts set lang_detected = ?, sentiment_polarity = ?,"
                    " sentiment_subjectivity = ?, noun_phrases = ?, enriched_at = ?"
                    " where platform = ? and platform_id = ?",
                    (
                        lang,
                        polarity,
                        0.5 if polarity is not None else None,
                        json.dumps(phrases),
                        iso(post.created_at),
                        post.platform,
                        post.platform_id,
                    ),
                )
        store.mark_deleted("x", "x-p7")
        for collector, at, status, new, error in RUNS:
            run_id = store.start_run(collector, at=at)
            store.finish_run(
                run_id,
                status=status,
                requests=1,
                new_posts=new,
                updated_posts=0,
                error=error,
                at=at,
            )
