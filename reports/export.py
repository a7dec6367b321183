"""Posts out as JSONL or CSV (XLSX: reports/export_xlsx.py): the fields researchers rely on.

EXPORT_FIELDS is a contract (issue #2): keep the names and order, add new
fields only at the end.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import date
from typing import IO, Any

from tagwatch.records import iso
from tagwatch.settings import EventConfig

__all__ = ["EXPORT_FIELDS", "export_rows", "write_jsonl", "write_csv", "period_bounds"]

EXPORT_FIELDS = (
    "platform",
    "id",
    "url",
    "author_handle",
    "author_name",
    "text",
    "created_at",
    "lang",
    "hashtags",
    "mentions",
    "likes",
    "reposts",
    "replies",
    "quotes",
    "views",
    "deleted",
    # Issue #18: what enrichment worked out; empty until a post is enriched.
    "lang_detected",
    "sentiment",
    "session",
    # Issue #19: the platform's stable account id (Bluesky DID, X user id, Mastodon
    # account URI), so authors can be recounted across handle changes; empty when unknown.
    "author_id",
)
# Counts a platform may not give; the CSV and JSONL contract (issue #2) writes them as 0.
COUNT_FIELDS = ("likes", "reposts", "replies", "quotes")


def period_bounds(
    event: EventConfig, since: date | None, until: date | None
) -> tuple[str | None, str | None]:
    """UTC text bounds for local days [since, until], both inclusive."""
    lo = iso(event.day_bounds(since)[0]) if since else None
    hi = iso(event.day_bounds(until)[1]) if until else None
    return lo, hi


def export_rows(
    conn: sqlite3.Connection,
    *,
    start: str | None = None,
    end: str | None = None,
    platform: str | None = None,
    include_deleted: bool = False,
) -> Iterator[dict[str, Any]]:
    """Posts in [start, end) (UTC ISO text), oldest first, as export records.

    A count the platform does not give (Threads search, Instagram's hidden likes)
    stays None: null in JSONL, an empty cell in CSV and XLSX, never a 0 that would
    read as "nobody liked it".
    """
    where = ["1 = 1"]
    params: list[Any] = []
    if start:
        where.append("p.created_at >= ?")
        params.append(start)
    if end:
        where.append("p.created_at < ?")
        params.append(end)
    if platform:
        where.append("p.platform = ?")
        params.append(platform)
    if not include_deleted:
        where.append("p.deleted = 0")
    sql = (
        "select p.platform, p.platform_id, p.url, p.author_handle, p.author_name, p.text,"
        " p.created_at, p.lang, p.hashtags, p.mentions, p.likes, p.reposts, p.replies, p.quotes,"
        " p.views, p.deleted, p.lang_detected, p.sentiment_polarity, p.session,"
        " a.platform_id as author_platform_id"
        " from posts p left join authors a on a.id = p.author_id"
        f" where {' and '.join(where)} order by p.created_at, p.id"
    )
    for row in conn.execute(sql, params):
        lang_detected = row["lang_detected"] or ""
        polarity = row["sentiment_polarity"]
        yield {
            "platform": row["platform"],
            "id": row["platform_id"],
            "url": row["url"] or "",
            "author_handle": row["author_handle"] or "",
            "author_name": row["author_name"] or "",
            "text": row["text"] or "",
            "created_at": row["created_at"],
            "lang": row["lang"] or "",
            "hashtags": json.loads(row["hashtags"] or "[]"),
            "mentions": json.loads(row["mentions"] or "[]"),
            # None: a count the platform does not give (Threads, Instagram); empty in CSV.
            "likes": row["likes"],
            "reposts": row["reposts"],
            "replies": row["replies"],
            "quotes": row["quotes"],
            "views": row["views"],
            "deleted": bool(row["deleted"]),
            "lang_detected": lang_detected,
            # The sentiment model is English: a score for another language would be noise.
            "sentiment": (
                round(polarity, 4) if polarity is not None and lang_detected == "en" else None
            ),
            "session": row["session"] or "",
            "author_id": row["author_platform_id"] or "",
        }


def write_jsonl(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def write_csv(rows: Iterator[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for row in rows:
        flat = dict(row)
        flat["hashtags"] = ";".join(row["hashtags"])
        flat["mentions"] = ";".join(row["mentions"])
        flat["views"] = "" if row["views"] is None else row["views"]
        flat["deleted"] = "true" if row["deleted"] else "false"
        flat["sentiment"] = "" if row["sentiment"] is None else row["sentiment"]
        writer.writerow(flat)
        n += 1
    return n


def to_text(rows: Iterator[dict[str, Any]], fmt: str) -> str:
    buf = io.StringIO()
    (write_jsonl if fmt == "jsonl" else write_csv)(rows, buf)
    return buf.getvalue()
