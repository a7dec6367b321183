"""Live streams: event → wall latency in a real browser, and Jetstream throughput with CPU use.

1. Latency. A loopback Jetstream (collectors/fakes/jetstream.py) streams
   background noise (posts without the event's hashtag) plus, every few
   hundred milliseconds, a post with it. The real `JetstreamStream` client
   matches and stores it; the real wall server (uvicorn, `--poll` seconds
   between its database polls) pushes it to a headless Chromium. Measured:
   from the moment the fake sends the event to the moment the post's element
   appears in the page. Target: p95 under 1 s.

2. Throughput. The fake runs in a child process and sends `--events`
   Jetstream post events (shapes of the recorded production events; 0.1 %
   carry the tracked hashtag, many carry other tags) as fast as it can; the
   client (this process) matches and stores. Measured: events/s handled and
   this process's CPU time per second; then the same at a fixed 5,000 events/s
   (several times Bluesky's peak post rate) to show the CPU share it costs.
   Target: at least 5,000 events/s.

Run: python bench/stream_bench.py [--posts 40] [--poll 0.5] [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from wall_latency import ARRIVALS, CHROMIUM_ARGS, TOKEN, free_port, pct, summary  # noqa: E402

from tagwatch.collectors.fakes.bluesky import FakeBluesky  # noqa: E402
from tagwatch.collectors.fakes.jetstream import FakeJetstream, wait_for  # noqa: E402
from tagwatch.collectors.streams.base import StreamThread  # noqa: E402
from tagwatch.collectors.streams.jetstream import JetstreamStream  # noqa: E402
from tagwatch.reports.wall.server import WallServer  # noqa: E402
from tagwatch.settings import Config, parse_config  # noqa: E402
from tagwatch.storage.db import Store  # noqa: E402

FIXTURE = ROOT / "tests/fixtures/recorded/bluesky/jetstream_v1_subscribe_events.jsonl"
TAG = "HRHN2016"


def bench_config(tmp: Path, endpoint: str, profiles: str = "") -> Config:
    return parse_config(
        {
            "event": {
                "name": "Bench",
                "hashtags": [TAG],
                "start": date(2016, 11, 24),
                "end": date(2016, 11, 26),
            },
            "storage": {"path": str(tmp / "bench.db")},
            # Post-moderation: a post shows at once (moderators can hide it later).
            "wall": {"moderation": "post"},
            "streams": {
                "jetstream_enabled": True,
                "jetstream_endpoints": [endpoint],
                "jetstream_profiles_service": profiles,
                "reconnect_max_seconds": 0.2,
            },
        },
        path=tmp / "config.toml",
    )


def recorded_records() -> list[dict[str, Any]]:
    """Post records as production Jetstream sends them (texts, facets, embeds, langs)."""
    out = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        commit = event.get("commit") or {}
        if commit.get("collection") == "app.bsky.feed.post" and commit.get("record"):
            out.append(commit["record"])
    return out


def tagged(record: dict[str, Any], tag: str) -> dict[str, Any]:
    text = f"{record.get('text', '')[:200]} #{tag}"
    start = len(text.encode()) - len(tag.encode()) - 1
    facet = {
        "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
        "index": {"byteStart": start, "byteEnd": len(text.encode())},
    }
    return {**record, "text": text, "facets": [*(record.get("facets") or []), facet]}


def synthetic_events(n: int, *, match_every: int = 1000, seed: int = 13) -> list[str]:
    """n post events: 1 in `match_every` has the tracked tag, 1 in 10 another tag."""
    rng = random.Random(seed)
    records = recorded_records()
    lines = []
    for i in range(n):
        record = rng.choice(records)
        if i % match_every == match_every - 1:
            record = tagged(record, TAG)
        elif i % 10 == 0:
            record = tagged(record, rng.choice(["bluesky", "art", "news", "HRHN2015", "nba"]))
        did = f"did:plc:bench{rng.randrange(10**9):09d}"
        event = {
            "did": did,
            "time_us": 1_780_000_000_000_000 + i,
            "kind": "commit",
            "commit": {
                "rev": f"3mpt{i:09d}",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": f"3mpt{i:09d}",
                "record": record,
                "cid": f"bafyrei{i:020d}",
            },
        }
        lines.append(json.dumps(event, ensure_ascii=False))
    return lines


def start_stream(config: Config) -> StreamThread:
    thread = StreamThread(JetstreamStream, config)
    thread.start()
    return thread


# -- 1. latency -------------------------------------------------------------------


def latency(posts: int, poll: float, noise: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    os.environ["TAGWATCH_WALL_TOKEN"] = TOKEN  # without a moderator token the wall stays shut
    bsky = FakeBluesky(require_auth=False).start()
    js = FakeJetstream().start()
    config = bench_config(tmp, js.url, bsky.url)
    Store.open(config.db_path).close()
    port = free_port()
    server = WallServer.for_config(config, "127.0.0.1", port, poll_interval=poll)
    server.start()
    streaming = start_stream(config)
    wait_for(lambda: js.connections, 10)
    noise_lines = synthetic_events(5000, match_every=10**9)
    sent: dict[str, float] = {}
    rng = random.Random(7)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.add_init_script(ARRIVALS)
        page.goto(f"http://127.0.0.1:{port}/")
        time.sleep(1.0)
        for n in range(posts):
            start = rng.randrange(len(noise_lines) - noise)
            js.publish_raw(noise_lines[start : start + noise])  # the network goes on
            uri = bsky.add_post(f"speaker{n % 9}.bsky.social", f"Live {n} from the hall #{TAG}")
            sent[uri] = time.time()
            js.publish_post(bsky.posts[uri])
            time.sleep(0.2 + rng.random() * 0.4)
        time.sleep(3.0)
        arrivals = page.evaluate("window.__arrivals")
        browser.close()
    ids = dict(streaming.store.conn.execute("select platform_id, id from posts").fetchall())
    lat = [arrivals[str(ids[u])] / 1000 - t for u, t in sent.items() if str(ids.get(u)) in arrivals]
    events = streaming.stream.events
    streaming.stop()
    server.stop()
    js.stop()
    bsky.stop()
    return {"lat": lat, "missing": len(sent) - len(lat), "events": events}


# -- 2. throughput -----------------------------------------------------------------


def _serve(lines: list[str], rate: float, ready: Any, go: Any) -> None:
    with FakeJetstream() as js:
        ready.put(js.url)
        go.wait()
        if rate <= 0:
            js.publish_raw(lines)
        else:
            batch = max(1, int(rate / 100))
            t0 = time.perf_counter()
            for i in range(0, len(lines), batch):
                js.publish_raw(lines[i : i + batch])
                delay = t0 + (i + batch) / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
        wait_for(lambda: False, 600 if rate <= 0 else len(lines) / rate + 60)


def throughput(events: int, rate: float) -> dict[str, Any]:
    lines = synthetic_events(events)
    ctx = mp.get_context("fork")
    ready, go = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(lines, rate, ready, go), daemon=True)
    child.start()
    url = ready.get(timeout=30)
    tmp = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    streaming = start_stream(bench_config(tmp, url))
    try:
        wait_for(lambda: streaming.stream.state.state == "connected", 10)
        time.sleep(0.3)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        go.set()
        wait_for(lambda: streaming.stream.events >= events, 600)
        wall = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        # `events` counts an event before it is handled: let the last one finish.
        wait_for(lambda: streaming.stream.stored >= events // 1000, 5)
        got, stored = streaming.stream.events, streaming.stream.stored
    finally:
        streaming.stop()
        child.kill()
    return {"events": got, "seconds": wall, "cpu": cpu, "stored": stored, "want": events // 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=40, help="tagged posts for the latency run")
    parser.add_argument("--poll", type=float, default=0.5, help="wall's database poll (s)")
    parser.add_argument("--noise", type=int, default=500, help="untagged events between posts")
    parser.add_argument("--events", type=int, default=200_000, help="events for throughput")
    parser.add_argument("--skip-browser", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    if not args.skip_browser:
        r = latency(args.posts, args.poll, args.noise)
        print(
            f"latency, {args.posts} tagged posts among {args.noise} other events each, "
            f"wall poll {args.poll} s, 1 Chromium:"
        )
        print("  " + summary("event sent by Jetstream -> post on screen", r["lat"]))
        print(f"  missing on screen: {r['missing']}; events the client handled: {r['events']}")
        print(f"  target p95 < 1 s: {'met' if pct(r['lat'], 95) < 1.0 else 'NOT met'}")
    for rate in (0.0, 5000.0):
        n = args.events if rate <= 0 else min(args.events, 50_000)
        t = throughput(n, rate)
        label = "as fast as the fake sends" if rate <= 0 else f"paced at {rate:,.0f} events/s"
        print(
            f"throughput, {label}: {t['events']:,} events in {t['seconds']:.2f} s = "
            f"{t['events'] / t['seconds']:,.0f} events/s; client CPU {t['cpu']:.2f} s "
            f"({100 * t['cpu'] / t['seconds']:.0f} % of one core); "
            f"{t['stored']} of {t['want']} tagged posts stored"
        )
    print("target >= 5,000 events/s: see the first throughput line")


if __name__ == "__main__":
    main()
