"""X: requests and spend for a backfill and a second pass against the loopback fake (#17).

Prints requests per pass, what the fake returned (posts, users, media; unique per
UTC day, as X bills), that priced by the list, the ledger's spend as
`tagwatch status --json` reports it, and whether every stored post's text is
exactly what its author wrote. Run: python bench/x_cost_bench.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagwatch.collectors.fakes.simulation import simulate_event  # noqa: E402
from tagwatch.collectors.fakes.x import FakeX, make_tweet, snowflake  # noqa: E402
from tagwatch.collectors.fakes.x_data import unescape_text  # noqa: E402
from tagwatch.collectors.x import XCollector  # noqa: E402
from tagwatch.monitor.status_report import gather  # noqa: E402
from tagwatch.settings import load_config  # noqa: E402
from tagwatch.storage.db import Store  # noqa: E402

TOKEN = "bench-token"


def main() -> None:
    os.environ["TAGWATCH_X_BEARER_TOKEN"] = TOKEN
    now = datetime.now(UTC).replace(microsecond=0)
    returned: dict[str, set[str]] = {"post": set(), "user": set(), "media": set()}
    with tempfile.TemporaryDirectory() as tmp, FakeX(bearer_token=TOKEN) as fake:
        answer = fake._search

        def spy(path: str, params: dict[str, str]) -> dict[str, Any]:
            body = answer(path, params)
            inc = body.get("includes") or {}
            returned["post"].update(t["id"] for t in body.get("data", []) + inc.get("tweets", []))
            returned["user"].update(u["id"] for u in inc.get("users", []))
            returned["media"].update(m["media_key"] for m in inc.get("media", []))
            return body

        fake._search = spy  # type: ignore[method-assign]
        sims = simulate_event(seed=7, n_posts=1500, n_authors=200).by_platform("x")
        start = now - timedelta(hours=20)
        shift = start - min(s.created_at for s in sims)
        for s in sims:
            s.created_at += shift
        fake.add_simulated(sims, now=now - timedelta(hours=2))
        people = [fake.add_user(str(7000 + a), f"delegate{a}") for a in range(30)]
        texts = [
            "Rights & freedoms #HRHN2016",
            "About <b> tags #HRHN2016",
            "type &amp;lt; #HRHN2016",
        ]

        def publish(first: int, n: int, at: datetime) -> None:
            for i in range(first, first + n):
                when = at + timedelta(seconds=20 * (i - first))
                text = f"{texts[i % 3]} {i}"
                tweet = make_tweet(snowflake(when, i), text, people[i % 30], created_at=when)
                fake.add_tweet(tweet)

        publish(0, 150, now - timedelta(hours=3))
        day = start.date()
        path = Path(tmp) / "c.toml"
        path.write_text(
            f'[event]\nname = "Bench"\nhashtags = ["HRHN2016"]\ntimezone = "UTC"\n'
            f"start = {day}\nend = {now.date()}\n"
            f'[storage]\npath = "{Path(tmp) / "b.db"}"\n'
            f'[x]\nenabled = true\napi_base_url = "{fake.url}"\nbudget_usd = 50.0\n'
            "refresh_budget_share = 0\n",
            encoding="utf-8",
        )
        config = load_config(path)
        with Store.open(config.db_path) as store:
            for name in ("backfill", "second pass"):
                before = fake.count("/2/tweets/search/recent")
                if name == "second pass":
                    fake.add_simulated(sims, now=now)
                    publish(150, 30, now - timedelta(minutes=30))
                record = XCollector(config, store).run_pass()
                print(
                    f"{name}: {fake.count('/2/tweets/search/recent') - before} search requests,"
                    f" {record.new_posts} new posts, status {record.status},"
                    f" billed ${record.details.get('billed_usd', 0):.3f}"
                )
            rows = {r[0]: r[1] for r in store.conn.execute("select platform_id, text from posts")}
        sent = {t["id"]: t["text"] for t in fake.state.tweets.values()}
        exact = sum(1 for i, text in rows.items() if text == unescape_text(sent[i]))
        escaped = sum(1 for i in rows if sent[i] != unescape_text(sent[i]))
        data = gather(config, datetime.now(UTC))
        x = data["platforms"]["x"]
        priced = len(returned["post"]) * 0.005 + len(returned["user"]) * 0.010
        priced += len(returned["media"]) * 0.005
        print(
            f"fake returned {len(returned['post'])} posts, {len(returned['user'])} users,"
            f" {len(returned['media'])} media -> ${priced:.3f} at the price list"
        )
        print(f"status --json spent_usd_month: ${x['spent_usd_month']:.3f}")
        print(f"stored posts as written: {exact} of {len(rows)} ({escaped} were sent escaped)")
        print(json.dumps(x["budget"]["month"]))


if __name__ == "__main__":
    main()
