"""Latency of the live wall: from a post stored (and approved) to it on screen.

Runs the real server (uvicorn, default 0.5 s database poll) on a loopback
port with 50 event-stream clients connected the whole time, plus one headless
Chromium showing the wall. Two paths are measured:

- post-moderation: a collector stores a post (another connection); the wall
  notices it at its next poll and pushes it;
- pre-moderation: a moderator approves a stored post through the moderation
  API, which pushes at once.

Then a few shown posts are hidden, and the time until they are gone is measured.

Target: p95 under 2 s in the browser. Run: python bench/wall_latency.py [--posts N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tagwatch.records import Author, Post, utcnow  # noqa: E402
from tagwatch.reports.wall.server import WallServer  # noqa: E402
from tagwatch.settings import parse_config  # noqa: E402
from tagwatch.storage.db import Store  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

TOKEN = "bench-token-" + "x" * 20
ARRIVALS = """
window.__arrivals = {};
window.__departures = {};
new MutationObserver((records) => {
  for (const r of records) {
    for (const n of r.removedNodes) {
      const id = n.dataset && n.dataset.postId;
      if (id && !document.querySelector(`[data-post-id="${id}"]`) && !(id in window.__departures)) {
        window.__departures[id] = performance.timeOrigin + performance.now();
      }
    }
  }
  for (const n of document.querySelectorAll('[data-post-id]')) {
    const id = n.dataset.postId;
    if (!(id in window.__arrivals)) {
      window.__arrivals[id] = performance.timeOrigin + performance.now();
    }
  }
}).observe(document, {subtree: true, childList: true});
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(n: int, run: str) -> Post:
    return Post(
        platform="bluesky",
        platform_id=f"at://did:plc:bench{n}/app.bsky.feed.post/{run}{n}",
        url="",
        author=Author(f"did:plc:bench{n % 7}", f"bench{n % 7}.bsky.social", f"Bench {n % 7}"),
        text=f"Benchmark post {run}{n} #HRHN2016 ✊",
        created_at=utcnow() - timedelta(seconds=5),
        hashtags=("HRHN2016",),
    )


class SSEClients:
    """N event-stream clients in their own thread; records when each post id arrives."""

    def __init__(self, url: str, n: int):
        self.url, self.n = url, n
        self.arrivals: list[dict[int, float]] = [{} for _ in range(n)]
        self.removals: list[dict[int, float]] = [{} for _ in range(n)]
        self.duplicates = 0
        self.connected = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(),))
        self.stop = False

    async def one(self, client: httpx.AsyncClient, i: int) -> None:
        async with client.stream("GET", self.url + "/api/wall/events") as r:
            self.connected += 1
            event = ""
            async for line in r.aiter_lines():
                if self.stop:
                    return
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event in ("reset", "update"):
                    now = time.time()
                    data = json.loads(line[6:])
                    for post_id in data["remove"]:
                        self.removals[i].setdefault(post_id, now)
                    for p in data["show"]:
                        if p["id"] in self.arrivals[i]:
                            self.duplicates += 1
                        else:
                            self.arrivals[i][p["id"]] = now

    async def main(self) -> None:
        limits = httpx.Limits(max_connections=self.n + 5)
        async with httpx.AsyncClient(timeout=None, limits=limits) as client:
            tasks = [asyncio.create_task(self.one(client, i)) for i in range(self.n)]
            while not self.stop:
                await asyncio.sleep(0.1)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def moderate(url: str, action: str, post_id: int) -> None:
    req = urllib.request.Request(
        url + "/api/moderation/action",
        data=json.dumps({"action": action, "post_id": post_id}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<44} n={len(ms):>5}  p50={statistics.median(ms):7.0f} ms  "
        f"p95={pct(ms, 95):7.0f} ms  max={max(ms):7.0f} ms"
    )


def run_mode(mode: str, posts: int, clients: int, browser: Any) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="wall-bench-"))
    os.environ["TAGWATCH_WALL_TOKEN"] = TOKEN
    config = parse_config(
        {
            "event": {
                "name": "Bench",
                "hashtags": ["HRHN2016"],
                "start": date(2016, 11, 24),
                "end": date(2016, 11, 26),
            },
            "storage": {"path": str(tmp / "bench.db")},
            "wall": {"moderation": mode},
        },
        path=tmp / "config.toml",
    )
    store = Store.open(config.db_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = WallServer.for_config(config, "127.0.0.1", port)  # default 0.5 s poll
    server.start()
    sse = SSEClients(url, clients)
    sse.thread.start()
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(ARRIVALS)
    page.goto(url + "/")
    deadline = time.time() + 20
    while sse.connected < clients and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    held = json.loads(urllib.request.urlopen(url + "/healthz").read())["clients"]

    committed: dict[int, float] = {}
    rng = random.Random(9)
    for n in range(posts):
        if mode == "post":
            post_id = store.write_posts([post(n, mode)]).new_ids[0]
            committed[post_id] = time.time()
        else:
            post_id = store.write_posts([post(n, mode)]).new_ids[0]
            committed[post_id] = time.time()  # from the moment the moderator clicks
            moderate(url, "approve", post_id)
        time.sleep(0.15 + rng.random() * 0.35)  # not in step with the poll ticks
    time.sleep(2.5)
    # Removals: hide the newest posts (still on screen); post-mod through another
    # connection (the poll path), pre-mod through the moderation API.
    hidden: dict[int, float] = {}
    for post_id in sorted(committed)[-4:]:
        hidden[post_id] = time.time()
        if mode == "post":
            from tagwatch.storage.moderation import apply_action

            apply_action(store, "hide", post_id)
        else:
            moderate(url, "hide", post_id)
        time.sleep(0.3 + rng.random() * 0.4)
    time.sleep(2.5)
    arrivals = page.evaluate("window.__arrivals")
    departures = page.evaluate("window.__departures")
    browser_lat = [arrivals[str(i)] / 1000 - t for i, t in committed.items() if str(i) in arrivals]
    gone = [departures[str(i)] / 1000 - t for i, t in hidden.items() if str(i) in departures]
    sse_lat = [a[i] - t for a in sse.arrivals for i, t in committed.items() if i in a]
    sse_gone = [a[i] - t for a in sse.removals for i, t in hidden.items() if i in a]
    missing_sse = sum(1 for a in sse.arrivals for i in committed if i not in a)
    missing_sse += sum(1 for a in sse.removals for i in hidden if i not in a)
    page.close()
    sse.stop = True
    sse.thread.join(10)
    server.stop()
    store.close()
    return {
        "mode": mode,
        "held": held,
        "browser": browser_lat,
        "browser_missing": len(committed) - len(browser_lat),
        "sse": sse_lat,
        "gone": gone,
        "gone_missing": len(hidden) - len(gone),
        "sse_gone": sse_gone,
        "sse_missing": missing_sse,
        "duplicates": sse.duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        results = [run_mode(m, args.posts, args.clients, browser) for m in ("post", "pre")]
        browser.close()
    print(f"wall latency, {args.posts} posts per mode, {args.clients} SSE clients + 1 Chromium")
    for r in results:
        label = (
            "stored by a collector -> on screen (post-mod)"
            if r["mode"] == "post"
            else "approved by a moderator -> on screen (pre)"
        )
        print(f"[{r['mode']}-moderation] clients held by the server: {r['held']}")
        print("  " + summary("browser: " + label, r["browser"]))
        print("  " + summary(f"{args.clients} SSE clients: same path", r["sse"]))
        print("  " + summary("browser: hidden -> gone from screen", r["gone"]))
        print("  " + summary(f"{args.clients} SSE clients: hidden -> removal", r["sse_gone"]))
        print(
            f"  missing in browser: {r['browser_missing'] + r['gone_missing']}, missing at SSE "
            f"clients: {r['sse_missing']}, duplicate posts: {r['duplicates']}"
        )
        ok = pct(r["browser"], 95) < 2.0 and r["browser_missing"] == 0
        print(f"  target p95 < 2 s in the browser: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
