"""Benchmark: the cost of the alert rules per stored page, and stored -> sent latency.

    python bench/alerts_bench.py                       # 1,000,000 posts in /tmp
    python bench/alerts_bench.py --posts 200000 --db /tmp/small.db
    python bench/alerts_bench.py --reuse               # the database of an earlier run

The database is analysis_bench's synthetic event (10 days, 20 % of posts
mentioning an agenda speaker, so the pile-on rule has real work). Then:

(1) rules per page: a page of 100 new posts is written through
    `Store.write_posts` at minutes across the agenda day, and the rules
    evaluated after it (`AlertEngine.evaluate`, every rule on); p50/p95 in ms,
    beside the page's own write time;
(2) stored -> sent: with the engine's threads and a loopback Slack webhook, a
    page that starts a pile-on against a fresh protected account is stored
    and its hook called; the time until the webhook has the alert, p50/p95,
    against the 5 s target for streams.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.analysis_bench import AGENDA_DAY, bench_config, build  # noqa: E402
from tagwatch.monitor.alerts import AlertEngine  # noqa: E402
from tagwatch.monitor.alerts.fakes import FakeSlackWebhook  # noqa: E402
from tagwatch.records import Author, Post  # noqa: E402
from tagwatch.settings import Config, parse_config  # noqa: E402
from tagwatch.storage.db import Store  # noqa: E402

TARGET_STREAM_SECONDS = 5.0
ENV = "TAGWATCH_BENCH_ALERTS_WEBHOOK"


# Names of this run's pages and targets: a --reuse run must not find them stored already.
RUN = f"{int(time.time()) % 10**6}"


def alert_config(db: str, trials: int) -> Config:
    base = bench_config(db)
    data = dict(base.raw)
    data["alerts"] = {
        "enabled": True,
        "webhook_url_env": ENV,
        "protected_accounts": [f"target{RUN}-{i}.bsky.social" for i in range(trials)],
        "daily_cap": 10_000,
    }
    data["wall"] = {"blocked_words": ["traitors"]}
    return parse_config(data, path=base.path)


def page(at: datetime, n: int, tag: str, *, target: str | None = None) -> list[Post]:
    out = []
    for i in range(n):
        handle = f"bench-{RUN}-{tag}-{i}.bsky.social"
        text = "Great point on press freedom #HRHN2016"
        mentions: tuple[str, ...] = ()
        if target is not None:
            text = f"@{target} traitors, shameful lies #HRHN2016"
            mentions = (target,)
        out.append(
            Post(
                platform="bluesky",
                platform_id=f"bench-{RUN}-{tag}-{i}",
                url=f"https://bsky.app/profile/{handle}/post/{i}",
                author=Author(f"did:{handle}", handle),
                text=text,
                created_at=at,
                collected_at=at,
                lang="en",
                hashtags=("hrhn2016",),
                mentions=mentions,
            )
        )
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--db", default="/tmp/tagwatch-alerts-bench.db")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pages", type=int, default=60, help="pages timed for the rules' cost")
    ap.add_argument("--trials", type=int, default=30, help="alerts timed stored -> sent")
    ap.add_argument("--reuse", action="store_true", help="keep the database of an earlier run")
    args = ap.parse_args()
    logging.getLogger("tagwatch.alerts").setLevel(logging.ERROR)  # each alert is logged

    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(args.db + suffix).unlink(missing_ok=True)
        with Store.open(args.db) as store:
            t0 = time.perf_counter()
            build(store, args.posts, args.days, args.seed)
            store.conn.execute("analyze")
            print(f"built {args.posts:,} posts in {time.perf_counter() - t0:.1f}s -> {args.db}")
    config = alert_config(args.db, args.trials)
    size = os.path.getsize(args.db) / 2**20
    with Store.open(args.db) as store:
        total = store.conn.execute("select count(*) from posts").fetchone()[0]
        print(f"database: {total:,} posts, {size:,.0f} MB; load {os.getloadavg()[0]:.1f}")
        # (1) the rules after each page, through the day (09:00-19:00 local is 08:00-18:00 UTC).
        engine = AlertEngine(config, [])
        start = datetime.combine(AGENDA_DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
        writes, rules = [], []
        for i in range(args.pages):
            at = start + timedelta(minutes=10 * i)
            posts = page(at, 100, f"p{i}")
            t0 = time.perf_counter()
            store.write_posts(posts)
            t1 = time.perf_counter()
            engine.evaluate(store, at + timedelta(seconds=1))
            t2 = time.perf_counter()
            writes.append((t1 - t0) * 1000)
            rules.append((t2 - t1) * 1000)
        in_window = store.conn.execute(
            "select count(*) from posts where created_at >= ? and created_at < ?",
            (
                (start - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S"),
                start.strftime("%Y-%m-%dT%H:%M:%S"),
            ),
        ).fetchone()[0]
    print(
        f"rules per stored page ({args.pages} pages of 100 posts; ~{in_window:,} posts in a"
        f" 30-min window): p50 {statistics.median(rules):.1f} ms, p95 {pct(rules, 0.95):.1f} ms"
        f" (the page's own write: p50 {statistics.median(writes):.1f} ms)"
    )

    # (2) stored -> sent, through the threads and a loopback webhook.
    with FakeSlackWebhook() as webhook:
        os.environ[ENV] = webhook.webhook_url
        clock_at = [start + timedelta(hours=11)]
        engine = AlertEngine.from_config(config, now=lambda: clock_at[0])
        engine.start()
        try:
            with Store.open(args.db) as store:
                # A first evaluation: what the synthetic data already holds goes out first.
                engine.after_pass(None)
                engine.wait_idle(60)
                sent_before = len(webhook.received)
                engine.latencies.clear()
                for i in range(args.trials):
                    clock_at[0] = clock_at[0] + timedelta(minutes=1)
                    posts = page(clock_at[0], 6, f"t{i}", target=f"target{RUN}-{i}.bsky.social")
                    result = store.write_posts(posts)
                    engine.on_stored("bench", result, clock_at[0])
                    if not webhook.wait_for(sent_before + i + 1, timeout=30):
                        print(f"trial {i}: no alert within 30 s")
                        break
        finally:
            engine.stop()
    lat = engine.latencies
    if lat:
        print(
            f"stored -> sent ({len(lat)} pile-on alerts, loopback webhook):"
            f" p50 {statistics.median(lat) * 1000:.0f} ms, p95 {pct(lat, 0.95) * 1000:.0f} ms"
            f" (target: under {TARGET_STREAM_SECONDS:.0f} s for streams, one pass for polled"
            " platforms)"
        )


if __name__ == "__main__":
    main()
