"""Benchmark: Bluesky collector passes against the loopback fake, with the real atproto client.

    python bench/bluesky_pass.py                 # 5,000 posts by 800 authors
    python bench/bluesky_pass.py --posts 20000 --authors 3000

Prints, for a first pass (backfill), a second pass after a few new posts
arrive, and a third pass with nothing new: requests per API method, seconds
of wall time, and posts stored per second. The fake runs in this process on
127.0.0.1, so the figures are the collector's own cost (parsing, lexicon
validation, SQLite writes) plus loopback HTTP, not Bluesky's latency.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import os  # noqa: E402

from tagwatch.collectors.bluesky import BlueskyCollector  # noqa: E402
from tagwatch.collectors.fakes.bluesky import FakeBluesky  # noqa: E402
from tagwatch.settings import parse_config  # noqa: E402
from tagwatch.storage.db import Store  # noqa: E402

HANDLE, PASSWORD = "bench.bsky.social", "bench-pass-word-0000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--authors", type=int, default=800)
    args = parser.parse_args()

    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, FakeBluesky() as fake:
        fake.add_account(HANDLE, PASSWORD)
        span = timedelta(days=2)
        for i in range(args.posts):
            fake.add_post(
                f"user{i % args.authors}.bsky.social",
                f"Сесија {i} 🎤 about rights #HRHN2016 https://example.org/{i}",
                created_at=now - span * (i / args.posts) - timedelta(seconds=1),
            )
        config = parse_config(
            {
                "event": {
                    "name": "Bench",
                    "hashtags": ["HRHN2016"],
                    "timezone": "UTC",
                    "start": (now - timedelta(days=3)).date(),
                    "end": now.date(),
                },
                "storage": {"path": str(Path(tmp) / "bench.db")},
                "bluesky": {"enabled": True, "service": fake.url},
                "collect": {"max_pages_per_pass": 10_000},
            },
            path=Path(tmp) / "config.toml",
        )
        os.environ["TAGWATCH_BLUESKY_HANDLE"] = HANDLE
        os.environ["TAGWATCH_BLUESKY_APP_PASSWORD"] = PASSWORD
        with Store.open(config.db_path) as store:
            for label, new in (("first pass (backfill)", 0), ("second pass", 25), ("third", 0)):
                for j in range(new):
                    fake.add_post("late.bsky.social", f"New {j} #HRHN2016", created_at=now)
                before = fake.counts()
                start = time.perf_counter()
                record = BlueskyCollector(config, store, now=lambda at=now: at).run_pass()
                seconds = time.perf_counter() - start
                calls = fake.counts() - before
                rate = record.new_posts / seconds if seconds else 0.0
                print(
                    f"{label}: {record.status}, {record.new_posts} new, "
                    f"{record.updated_posts} updated in {seconds:.2f}s "
                    f"({rate:,.0f} new posts/s); requests: "
                    + ", ".join(f"{k.rsplit('.', 1)[-1]} {v}" for k, v in sorted(calls.items()))
                )
                now += timedelta(minutes=5)


if __name__ == "__main__":
    main()
