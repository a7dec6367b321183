"""How long a (re)started wall takes to judge every stored post, and its memory after.

The wall judges every post once when it starts (a bit per post records which
may be shown) and keeps the text of only the last few hundred it sent. Point
it at a big database, e.g. the one `bench/analysis_bench.py` builds:

    python bench/wall_start.py /tmp/tagwatch-analysis-bench.db
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tagwatch.monitor.memory import resident_mb  # noqa: E402
from tagwatch.reports.wall.feed import WallFeed  # noqa: E402
from tagwatch.reports.wall.rules import WallRules, WordFilter  # noqa: E402
from tagwatch.storage.db import connect  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    args = parser.parse_args()
    if not args.db.exists():
        print(f"{args.db} does not exist; build one with bench/analysis_bench.py")
        return 2
    conn = connect(args.db, readonly=True)
    posts = conn.execute("select count(*) from posts").fetchone()[0]
    print(f"{posts:,} posts; RSS before {resident_mb():.0f} MB")
    for words in ((), ("idiot", "traitor", "spam link")):
        start = time.perf_counter()
        feed = WallFeed(conn, WallRules(mode="post", open=True, words=WordFilter(words)))
        print(
            f"post-moderation, {len(words)} blocked words: started in"
            f" {time.perf_counter() - start:.1f} s, {feed.visible.count:,} visible,"
            f" {len(feed.shown)} payloads kept, RSS {resident_mb():.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
