"""Benchmark: enrichment throughput and one day's full analysis over a synthetic database.

    python bench/analysis_bench.py                      # 1,000,000 posts in /tmp
    python bench/analysis_bench.py --posts 100000 --db /tmp/small.db

Prints (1) the pattern parser's own speed (textblob.en.parse, chunks=True),
lingua's and the sentiment lexicon's, all on the same English texts;
(2) `enrich_pending` end to end (DB read + analysis + write) in posts/s of
wall time and per CPU-second (the per-core figure); (3) the time for
`analysis.analyze()` over the agenda day (about a tenth of the posts), run
in a fresh subprocess so its peak memory (VmHWM) is the analysis's own.

The database is built with plain SQL inserts (the FTS triggers included), not
`Store.write_posts`: the point is to measure reading and analysis, not ingest.
Posts beyond `--enrich` get enrichment copied from a memo of the same code
(`analyze_text`), since synthetic texts repeat; the measured part runs the
real `enrich_pending` on fresh rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagwatch.records import iso  # noqa: E402
from tagwatch.reports.agenda import attribute_session  # noqa: E402
from tagwatch.reports.languages import LanguageGuesser  # noqa: E402
from tagwatch.reports.text import analyze_text, clean_text  # noqa: E402
from tagwatch.settings import Config, parse_config  # noqa: E402
from tagwatch.storage.db import Store  # noqa: E402

TOPICS = [
    "human rights defenders",
    "press freedom",
    "refugee protection",
    "climate justice",
    "digital rights",
    "freedom of assembly",
    "the rule of law",
    "torture prevention",
    "women's rights",
    "minority rights",
    "hate speech online",
    "independent journalism",
    "civic space",
    "asylum seekers",
    "police accountability",
    "LGBTI equality",
    "the right to privacy",
    "surveillance technology",
    "transitional justice",
    "media literacy",
]
OPENERS = [
    "Great panel on",
    "Powerful words about",
    "We need to talk more about",
    "Thank you for raising",
    "A sobering discussion of",
    "Fascinating debate on",
    "So proud to speak about",
    "Key takeaway on",
    "Terrible news for",
    "Hopeful signs for",
]
CLOSERS = [
    "today.",
    "in Belgrade this morning.",
    "and what comes next.",
    "— we must act now!",
    "at the assembly.",
    "with brave activists from the region.",
    "",
]
SR_LATIN = [
    "Odlična diskusija o ljudskim pravima u Beogradu",
    "Važan panel o slobodi medija i novinarima",
    "Branioci ljudskih prava su pod pritiskom",
    "Razgovor o pravima izbeglica i tražilaca azila",
]
SR_CYRILLIC = [
    "Одлична дискусија о људским правима у Београду",
    "Важан панел о слободи медија и новинарима",
    "Браниоци људских права су под притиском",
]
OTHER = [
    "Très bon débat sur la liberté de la presse",
    "Großartiger Vortrag über Menschenrechte heute",
]
COTAGS = ["refugees", "pressfreedom", "humanrights", "climate", "media", "asylum", "privacy"]
PLATFORMS = ["bluesky", "x", "mastodon"]
AGENDA_DAY = date(2016, 11, 25)


def bench_config(db: str) -> Config:
    sessions = []
    for i in range(8):
        start = datetime.combine(AGENDA_DAY, datetime.min.time()) + timedelta(hours=9 + i)
        sessions.append(
            {
                "title": f"Session {i + 1}",
                "start": start,
                "end": start + timedelta(minutes=55),
                "speakers": [f"speaker{i}.bsky.social"],
                "hashtags": [f"panel{i + 1}"],
            }
        )
    return parse_config(
        {
            "event": {
                "name": "Bench Assembly",
                "hashtags": ["HRHN2016"],
                "timezone": "Europe/Belgrade",
                "start": date(2016, 11, 24),
                "end": date(2016, 11, 26),
                "languages": ["en", "sr"],
                "sessions": sessions,
            },
            "storage": {"path": db},
        },
        path=Path(db).with_suffix(".toml"),
    )


def make_text(rng: random.Random) -> tuple[str, str | None, list[str], list[str]]:
    """(text, platform lang tag, hashtags, mentions)."""
    tags = ["hrhn2016"]
    if rng.random() < 0.5:
        tags.append(rng.choice(COTAGS))
    if rng.random() < 0.1:
        tags.append(f"panel{rng.randint(1, 8)}")
    mentions = [f"speaker{rng.randint(0, 9)}.bsky.social"] if rng.random() < 0.2 else []
    roll = rng.random()
    if roll < 0.70:
        a, b = rng.sample(TOPICS, 2)
        text = f"{rng.choice(OPENERS)} {a} and {b} {rng.choice(CLOSERS)}"
        lang = "en" if rng.random() < 0.9 else rng.choice(["sr", None])
    elif roll < 0.85:
        text, lang = rng.choice(SR_LATIN), rng.choice(["sr", "en", "hr", None])
    elif roll < 0.95:
        text, lang = rng.choice(SR_CYRILLIC), rng.choice(["sr", None])
    else:
        text, lang = rng.choice(OTHER), None
    if mentions:
        text = f"@{mentions[0]} {text}"
    if rng.random() < 0.3:
        text += f" https://example.org/{rng.randint(1, 10**6)}"
    text += " " + " ".join(f"#{t}" for t in tags)
    return text, lang, tags, mentions


def build(store: Store, n_posts: int, days: int, seed: int) -> None:
    rng = random.Random(seed)
    n_authors = max(10, n_posts // 20)
    conn = store.conn
    now = iso(datetime(2016, 11, 30, tzinfo=UTC))
    with store.transaction():
        conn.executemany(
            "insert into authors (id, platform, platform_id, handle, display_name, followers,"
            " updated_at) values (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    i,
                    PLATFORMS[i % 3],
                    f"author-{i}",
                    f"user{i}.example",
                    f"User {i}",
                    int(rng.paretovariate(1.2) * 50) if rng.random() < 0.95 else None,
                    now,
                )
                for i in range(1, n_authors + 1)
            ),
        )
    first = datetime(2016, 11, 25, tzinfo=UTC) - timedelta(days=days // 2)
    span = days * 86400
    # Collectors store posts roughly in time order, so a day's posts sit together in the file.
    offsets = sorted(rng.random() * span for _ in range(n_posts))
    batch = 20_000
    post_id = 0
    while post_id < n_posts:
        rows, tag_rows, mention_rows, snaps = [], [], [], []
        for _ in range(min(batch, n_posts - post_id)):
            post_id += 1
            author = rng.randint(1, n_authors)
            created = first + timedelta(seconds=offsets[post_id - 1])
            text, lang, tags, mentions = make_text(rng)
            likes, reposts = int(rng.expovariate(0.3)), int(rng.expovariate(1.0))
            rows.append(
                (
                    post_id,
                    PLATFORMS[author % 3],
                    f"p{post_id}",
                    f"https://example.org/p/{post_id}",
                    author,
                    f"user{author}.example",
                    f"User {author}",
                    text,
                    iso(created),
                    iso(created),
                    now,
                    lang,
                    json.dumps(tags),
                    json.dumps(mentions),
                    likes,
                    reposts,
                    int(rng.random() < 0.3),
                    int(rng.random() < 0.1),
                    int(rng.random() < 0.01),
                )
            )
            tag_rows.extend((post_id, t) for t in tags)
            mention_rows.extend((post_id, m) for m in mentions)
            snaps.append((post_id, iso(created + timedelta(minutes=5)), 0, 0, 0, 0))
            if rng.random() < 0.3:
                snaps.append((post_id, iso(created + timedelta(hours=3)), likes, reposts, 0, 0))
        with store.transaction():
            conn.executemany(
                "insert into posts (id, platform, platform_id, url, author_id, author_handle,"
                " author_name, text, created_at, collected_at, updated_at, lang, hashtags,"
                " mentions, links, likes, reposts, replies, quotes, no_unauthenticated, deleted)"
                " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,'[]',?,?,?,?,?,0)",
                rows,
            )
            conn.executemany("insert into post_hashtags values (?, ?)", tag_rows)
            conn.executemany("insert or ignore into post_mentions values (?, ?)", mention_rows)
            conn.executemany(
                "insert into snapshots (post_id, at, likes, reposts, replies, quotes)"
                " values (?, ?, ?, ?, ?, ?)",
                snaps,
            )


def fill_enrichment(store: Store, config: Config) -> int:
    """Enrich the rest with the same analysis, memoized per text (synthetic texts repeat)."""
    guesser = LanguageGuesser(config.event.languages)
    tracked = tuple(config.event.tags)
    memo: dict[tuple[str, str | None], tuple[Any, ...]] = {}
    done = 0
    from tagwatch.records import parse_iso

    while True:
        rows = store.conn.execute(
            "select id, text, lang, hashtags, mentions, created_at from posts"
            " where enriched_at is null limit 20000"
        ).fetchall()
        if not rows:
            return done
        updates = []
        for r in rows:
            # URLs and mentions vary per post but are stripped before analysis anyway.
            key = (clean_text(r["text"], tracked), r["lang"])
            f = memo.get(key)
            if f is None:
                t = analyze_text(
                    r["text"], guesser=guesser, tracked=tracked, platform_tag=r["lang"]
                )
                f = memo[key] = (t.lang, t.polarity, t.subjectivity, json.dumps(list(t.phrases)))
            hit = attribute_session(
                config.event.sessions,
                parse_iso(r["created_at"]),
                json.loads(r["hashtags"]),
                json.loads(r["mentions"]),
            )
            title = config.event.sessions[hit[0]].title if hit else None
            updates.append((*f, title, "2016-11-30T00:00:00.000000Z", r["id"]))
        with store.transaction() as conn:
            conn.executemany(
                "update posts set lang_detected = ?, sentiment_polarity = ?,"
                " sentiment_subjectivity = ?, noun_phrases = ?, session = ?, enriched_at = ?"
                " where id = ?",
                updates,
            )
        done += len(rows)


def component_speeds(n: int, seed: int) -> dict[str, float]:
    from textblob.en import parse, sentiment

    rng = random.Random(seed + 1)
    texts = []
    while len(texts) < n:
        a, b = rng.sample(TOPICS, 2)
        texts.append(f"{rng.choice(OPENERS)} {a} and {b} {rng.choice(CLOSERS)}")
    guesser = LanguageGuesser(["en", "sr"])
    out = {}
    for name, fn in [
        ("pattern parse (chunks=True)", lambda t: parse(t, chunks=True)),
        ("pattern sentiment (string)", sentiment),
        ("lingua detect (en+sr+stand-ins)", lambda t: guesser.guess(t, "en")),
        ("analyze_text (all of it)", lambda t: analyze_text(t, guesser=guesser)),
    ]:
        cpu = time.process_time()
        for t in texts:
            fn(t)
        out[name] = n / (time.process_time() - cpu)
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from
    the parent across fork+exec, so a child would report the builder's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_analysis(db: str, day: str) -> None:
    """Child process: one day's full analysis; prints JSON with time and peak memory."""
    from tagwatch.reports import analysis
    from tagwatch.storage.db import connect

    config = bench_config(db)
    conn = connect(db, readonly=True)
    start, end = config.event.day_bounds(date.fromisoformat(day))
    rss_before = peak_rss_mb()
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = analysis.analyze(conn, config.event, start, end)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rss = peak_rss_mb()
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "posts": result.summary.counts.posts,
                "peak_rss_mb": rss,
                "rss_before_mb": rss_before,
                "top_theme": result.themes.phrases[0].label if result.themes.phrases else None,
                "sessions": len(result.sessions),
                "growth_points": len(result.growth),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--enrich", type=int, default=50_000, help="posts enriched by enrich_pending")
    ap.add_argument("--db", default="/tmp/tagwatch-analysis-bench.db")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep an existing database (enrichment is measured again on its first posts)",
    )
    ap.add_argument("--analyze-day", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.analyze_day:
        run_analysis(args.db, args.analyze_day)
        return

    print("component speeds (posts/s per CPU-second, 20,000 English texts):")
    for name, speed in component_speeds(20_000, args.seed).items():
        print(f"  {name:34s} {speed:10,.0f}")

    config = bench_config(args.db)
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(args.db + suffix).unlink(missing_ok=True)
    store = Store.open(args.db)
    if not args.reuse:
        t0 = time.perf_counter()
        build(store, args.posts, args.days, args.seed)
        print(f"built {args.posts:,} posts in {time.perf_counter() - t0:.1f}s -> {args.db}")
    else:
        # Measure enrichment again on the same posts: forget it for the first --enrich.
        with store.transaction() as conn:
            conn.execute("update posts set enriched_at = null where id <= ?", (args.enrich,))
    from tagwatch.monitor.enrichment import enrich_pending

    t0, cpu0 = time.perf_counter(), time.process_time()
    done = enrich_pending(store, config, limit=args.enrich)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        f"enrich_pending: {done:,} posts in {wall:.1f}s: {done / wall:,.0f} posts/s wall,"
        f" {done / cpu:,.0f} posts/s per CPU-second (all threads' CPU time)"
    )
    if not args.reuse:
        t0 = time.perf_counter()
        filled = fill_enrichment(store, config)
        print(f"filled enrichment of the other {filled:,} posts in {time.perf_counter() - t0:.1f}s")
        store.conn.execute("analyze")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    # The agenda day: every figure, the sessions included, has work to do.
    day = AGENDA_DAY.isoformat()
    start, end = config.event.day_bounds(AGENDA_DAY)
    day_posts = store.conn.execute(
        "select count(*) from posts where created_at >= ? and created_at < ?",
        (iso(start), iso(end)),
    ).fetchone()[0]
    store.close()
    size = os.path.getsize(args.db) / 2**20
    print(f"database: {size:,.0f} MB; agenda day {day} ({day_posts:,} posts, 8 sessions)")
    for attempt in ("cold", "warm"):
        out = subprocess.run(
            [sys.executable, __file__, "--db", args.db, "--analyze-day", day],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out)
        print(
            f"analyze() one day ({attempt}): {r['seconds']:.2f}s ({r['cpu_seconds']:.2f}s CPU)"
            f" for {r['posts']:,} posts,"
            f" peak RSS {r['peak_rss_mb']:.0f} MB (before: {r['rss_before_mb']:.0f} MB);"
            f" top theme {r['top_theme']!r}, {r['sessions']} sessions,"
            f" {r['growth_points']} growth points"
        )


if __name__ == "__main__":
    main()
