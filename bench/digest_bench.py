"""Benchmark: building, rendering and writing one day's digest over a synthetic database.

    python bench/digest_bench.py                                   # 300,000 posts over 10 days
    python bench/digest_bench.py --db /tmp/tagwatch-analysis-bench.db --reuse  # its database

The database comes from bench/analysis_bench.py (same generator, enrichment filled in), so
the digest is measured on the data the analysis was. Prints the time of `build_digest`
for the busiest local day (the analysis of the day, the day before's totals, collection
health, posts to look at, two charts), of rendering HTML/Markdown/text, and of writing the
files, with the process's peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis_bench import bench_config, build, fill_enrichment  # noqa: E402

from tagwatch.records import iso, parse_iso  # noqa: E402
from tagwatch.reports.digest import build_digest, email_parts, write_digest  # noqa: E402
from tagwatch.storage.db import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=300_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--db", default="/tmp/tagwatch-digest-bench.db")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--reuse", action="store_true", help="keep an existing database")
    args = ap.parse_args()
    config = bench_config(args.db)
    if not (args.reuse and Path(args.db).exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(args.db + suffix).unlink(missing_ok=True)
        t0 = time.perf_counter()
        with Store.open(args.db) as store:
            build(store, args.posts, args.days, args.seed)
            fill_enrichment(store, config)
            store.conn.execute("analyze")
        print(f"built {args.posts:,} posts in {time.perf_counter() - t0:.1f}s")
    with Store.open(args.db) as store:
        first, last, total = store.conn.execute(
            "select min(created_at), max(created_at), count(*) from posts where deleted = 0"
        ).fetchone()
        days: dict[date, int] = {}
        day = parse_iso(first).astimezone(config.event.tz).date()
        while day <= parse_iso(last).astimezone(config.event.tz).date():
            lo, hi = (iso(t) for t in config.event.day_bounds(day))
            days[day] = store.conn.execute(
                "select count(*) from posts where created_at >= ? and created_at < ?"
                " and deleted = 0",
                (lo, hi),
            ).fetchone()[0]
            day += timedelta(days=1)
    day, n = max(days.items(), key=lambda kv: kv[1])
    size = os.path.getsize(args.db) / 2**20
    print(f"database: {size:,.0f} MB, {total:,} posts; busiest local day {day} ({n:,} posts)")
    for attempt in ("cold", "warm"):
        t0 = time.perf_counter()
        digest = build_digest(config, day)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        text, html, images = email_parts(digest)
        rendered = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            paths = write_digest(digest, Path(tmp))
            written = time.perf_counter() - t0
            html_kb = paths["html"].stat().st_size / 1024
        print(
            f"{attempt}: build_digest {built:.2f}s, render e-mail {rendered:.2f}s,"
            f" write files {written:.2f}s; e-mail HTML {len(html) / 1024:.0f} KiB +"
            f" {sum(len(i.png) for i in images) / 1024:.0f} KiB images, text"
            f" {len(text) / 1024:.0f} KiB, file HTML {html_kb:.0f} KiB"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:,.0f} MB")


if __name__ == "__main__":
    main()
