"""Benchmark: the cost of the wall's hold rules (issue 21) when judging posts.

    python bench/wall_holds.py                 # 10,000 posts in a temporary database
    python bench/wall_holds.py --posts 50000

Prints, side by side:
(1) word matching: `WordFilter` over the preset lists of en, de and fr (hundreds of
    words) on each post's text, name and handle, as one trie-shaped regex, beside a
    plain alternation of the same words (what the filter compiled before);
(2) judging database rows with `judge` (every rule on: young accounts, links, a
    hold word, the preset lists by language, 5 replies to a speaker an hour)
    beside the same rows with the rules off, per 10,000 posts: a third of the
    posts reply to a speaker, a tenth come from five accounts replying nonstop;
(3) `WallFeed.load()` (what the wall does at start), rules on and off.
Ceiling: the wall polls twice a second; a poll's batch is tens of posts, so judging
10,000 posts in well under a second keeps a wave from delaying the screens.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tagwatch.records import Author, Post  # noqa: E402
from tagwatch.reports.wall.feed import POST_SQL, WallFeed  # noqa: E402
from tagwatch.reports.wall.presets import preset_for  # noqa: E402
from tagwatch.reports.wall.rules import (  # noqa: E402
    HoldRules,
    PresetFilter,
    WallRules,
    WordFilter,
    fold,
    judge,
)
from tagwatch.storage.db import Store, connect  # noqa: E402

T0 = datetime(2016, 11, 24, 9, 0, tzinfo=UTC)
SPEAKERS = frozenset({"speaker1.bsky.social", "speaker2.bsky.social"})
VOCAB = (
    "human rights defenders belgrade conference panel speaker freedom press journalists"
    " azerbaijan released but not free solidarity women activists law court justice"
).split()


def build(path: Path, n: int, rng: random.Random) -> None:
    store = Store.open(path)
    speakers = [Author(f"did:plc:{h}", h, h, 1000) for h in sorted(SPEAKERS)]
    parents = [
        Post("bluesky", f"at://{a.platform_id}/p/0", "https://bsky.app/x", a, "Talk", T0)
        for a in speakers
    ]
    store.write_posts(parents)
    authors = [
        Author(
            f"did:plc:a{i}",
            f"a{i}.bsky.social",
            f"Author {i}",
            10,
            account_created_at=None if i % 7 == 0 else T0 - timedelta(days=rng.randint(0, 900)),
        )
        for i in range(max(1, n // 20))
    ]
    posts = []
    for i in range(n):
        troll = rng.random() < 0.1  # a wave: a few accounts replying to speakers nonstop
        a = authors[i % 5] if troll else rng.choice(authors)
        kind = rng.random() * 0.33 if troll else rng.random()
        reply_to, mentions = None, ()
        if kind < 0.15:
            reply_to = rng.choice(parents).platform_id
        elif kind < 0.33:
            reply_to, mentions = "at://elsewhere/p/1", (f"@{rng.choice(sorted(SPEAKERS))}",)
        text = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 40))) + " #HRHN2016"
        posts.append(
            Post(
                "bluesky",
                f"at://{a.platform_id}/p/{i + 1}",
                "https://bsky.app/x",
                a,
                text,
                T0 + timedelta(seconds=i * 30),
                reply_to=reply_to,
                mentions=mentions,
                links=tuple(f"https://e.example/{j}" for j in range(rng.choice((0, 0, 1, 4)))),
            )
        )
    for start in range(0, n, 1000):
        store.write_posts(posts[start : start + 1000])
    store.close()


def best_of(runs: int, fn: object) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--posts", type=int, default=10_000)
    args = ap.parse_args()
    rng = random.Random(21)
    preset = preset_for(["en", "de", "fr"])
    words = preset.words
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "holds.db"
        build(db, args.posts, rng)
        conn = connect(db, readonly=True)
        rows = conn.execute(f"{POST_SQL} order by p.id").fetchall()
        texts = [(r["text"], r["author_name"], r["author_handle"]) for r in rows]

        trie = WordFilter(words)
        folded = tuple(dict.fromkeys(w for w in (fold(x) for x in words) if w))
        plain = re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, folded))})(?!\w)")

        def match_plain() -> None:
            for t in texts:
                for x in t:
                    if x and plain.search(fold(x)):
                        break

        per = 10_000 / len(rows)
        print(f"{len(rows)} posts, preset en+de+fr: {len(trie.words)} words")
        t_trie = best_of(3, lambda: [trie.match(*t) for t in texts]) * per
        t_plain = best_of(3, match_plain) * per
        print(
            f"(1) words, per 10,000 posts: trie regex {t_trie * 1000:.0f} ms,"
            f" plain alternation {t_plain * 1000:.0f} ms"
        )

        on = WallRules(
            mode="post",
            open=True,
            holds=HoldRules(
                account_days=7,
                unknown_age=True,
                links_over=3,
                words=WordFilter(["xyz"]),
                replies_per_hour=5,
                speakers=SPEAKERS,
            ),
            preset=PresetFilter.of(preset),
        )
        off = WallRules(mode="post", open=True)
        rate = WallRules(
            mode="post", open=True, holds=HoldRules(replies_per_hour=5, speakers=SPEAKERS)
        )
        t_rate = best_of(3, lambda: judge(rate, conn, rows)) * per
        by_rate = sum(1 for r in judge(rate, conn, rows) if r)
        t_on = best_of(3, lambda: judge(on, conn, rows)) * per
        t_off = best_of(3, lambda: judge(off, conn, rows)) * per
        held = sum(1 for r in judge(on, conn, rows) if r and r.startswith("held"))
        print(
            f"(2) judge, per 10,000 posts: all rules {t_on * 1000:.0f} ms ({held} held),"
            f" reply rate alone {t_rate * 1000:.0f} ms ({by_rate} held), rules off"
            f" {t_off * 1000:.0f} ms"
        )

        t_load_on = best_of(3, lambda: WallFeed(conn, on)) * per
        t_load_off = best_of(3, lambda: WallFeed(conn, off)) * per
        print(
            f"(3) WallFeed.load, per 10,000 posts: rules on {t_load_on * 1000:.0f} ms,"
            f" off {t_load_off * 1000:.0f} ms"
        )
        conn.close()


if __name__ == "__main__":
    main()
