"""Soak test: the demo event at high speed for N minutes with 50 wall clients connected.

Runs `monitor.demo.run_demo` (the real scheduler, collectors, enrichment and
wall against the loopback fakes, on a simulated clock) in this process, with
the fake platforms in a child process so that the memory printed is the
monitor's own, while
50 event-stream clients stay connected to the wall, reconnecting with
Last-Event-ID like a browser when a stream ends. Every `--every` seconds it
prints the process's resident memory (RSS), the posts stored and the events
the clients received; at the end, any warning or error logged, failed passes,
client errors, and whether memory stayed flat (last quarter vs first quarter,
after warm-up).

    python bench/soak.py                 # 30 minutes
    python bench/soak.py --minutes 5 --clients 50 --posts 20000
"""

from __future__ import annotations

import argparse
import logging
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.demo import describe, run_demo  # noqa: E402


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Problems(logging.Handler):
    """Keeps every WARNING-or-worse record logged anywhere during the soak."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(f"{record.levelname} {record.name}: {record.getMessage()[:200]}")


class Client(threading.Thread):
    """One wall on a screen: an event stream, resumed from Last-Event-ID when it drops."""

    def __init__(self, url: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.stop = url, stop
        self.events = 0
        self.reconnects = 0
        self.errors: list[tuple[float, str]] = []  # (monotonic time, error)

    def faults(self) -> list[str]:
        """Errors but the refusals at the end: the demo closes the wall to write its reports."""
        errors = [e for _, e in self.errors]
        while errors and errors[-1].startswith("ConnectError"):
            errors.pop()
        return errors

    def run(self) -> None:
        last_id: str | None = None
        while not self.stop.is_set():
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                timeout = httpx.Timeout(10.0, read=30.0)
                with (
                    httpx.Client(timeout=timeout) as http,
                    http.stream("GET", self.url, headers=headers) as response,
                ):
                    if response.status_code != 200:
                        self.errors.append((time.monotonic(), f"HTTP {response.status_code}"))
                        time.sleep(1)
                        continue
                    for line in response.iter_lines():
                        if self.stop.is_set():
                            return
                        if line.startswith("id:"):
                            last_id = line[3:].strip()
                        elif line.startswith("data:"):
                            self.events += 1
            except httpx.HTTPError as exc:
                if self.stop.is_set():
                    return
                self.errors.append((time.monotonic(), f"{type(exc).__name__}: {exc}"[:120]))
                time.sleep(0.5)
            self.reconnects += 1


def wait_for(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def posts_stored(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("select count(*) from posts").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--posts", type=int, default=20000, help="posts in the simulated event")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=None, help="folder for the demo's files")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="tagwatch-soak-"))
    port = free_port()
    problems = Problems()
    logging.getLogger().addHandler(problems)
    demo_lines: list[str] = []
    outcome: dict[str, object] = {}

    def demo() -> None:
        try:
            outcome["result"] = run_demo(
                out,
                minutes=args.minutes,
                port=port,
                n_posts=args.posts,
                echo=demo_lines.append,
                # The fakes keep every post they serve: in their own process, the RSS
                # printed here is the monitor's alone.
                fakes_process=True,
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = f"{type(exc).__name__}: {exc}"

    start = time.monotonic()
    print(f"soak: {args.minutes:g} min, {args.clients} wall clients, {args.posts} posts, in {out}")
    runner = threading.Thread(target=demo, daemon=True)
    runner.start()
    wall = f"http://127.0.0.1:{port}"
    if not wait_for(f"{wall}/api/wall", 60):
        print("the wall never answered", outcome.get("error", ""))
        return 1
    stop = threading.Event()
    clients = [Client(f"{wall}/api/wall/events", stop) for _ in range(args.clients)]
    for c in clients:
        c.start()

    samples: list[tuple[float, float]] = []  # (minute, RSS) while the wall is live
    live_until: float | None = None  # when the demo closed the wall to write its reports
    print(f"{'min':>6} {'RSS MB':>8} {'posts':>7} {'events':>8} {'reconn':>6} {'threads':>7}")
    while runner.is_alive():
        elapsed = (time.monotonic() - start) / 60
        rss = rss_mb()
        if live_until is None and not wait_for(f"{wall}/api/wall", 5):
            live_until = time.monotonic()
            stop.set()  # the live part is over: what follows is digests and the report
            print("       (the demo closed the wall; writing digests and the report)")
        if live_until is None:
            samples.append((elapsed, rss))
        print(
            f"{elapsed:6.1f} {rss:8.1f} {posts_stored(out / 'demo.db'):7d}"
            f" {sum(c.events for c in clients):8d} {sum(c.reconnects for c in clients):6d}"
            f" {threading.active_count():7d}",
            flush=True,
        )
        runner.join(args.every)
    stop.set()

    print()
    if "error" in outcome:
        print(f"DEMO FAILED: {outcome['error']}")
    result = outcome.get("result")
    if result is not None:
        for line in describe(result):  # type: ignore[arg-type]
            if line.strip():
                print(line)
    client_errors = [e for c in clients for e in c.faults()]
    print(
        f"wall clients: {sum(c.events for c in clients)} events received, "
        f"{sum(c.reconnects for c in clients)} reconnects, {len(client_errors)} errors"
    )
    for err in sorted(set(client_errors))[:10]:
        print(f"  client error: {err}")
    print(f"warnings/errors logged: {len(problems.seen)}")
    for line in problems.seen[:20]:
        print(f"  {line}")
    print(f"RSS while live (MB): {' '.join(f'{rss:.0f}' for _, rss in samples)}")
    steady = [rss for t, rss in samples if t >= min(2.0, args.minutes / 5)]
    if len(steady) >= 4:
        quarter = max(1, len(steady) // 4)
        first, last = statistics.mean(steady[:quarter]), statistics.mean(steady[-quarter:])
        print(
            f"RSS after warm-up: first quarter {first:.1f} MB, last quarter {last:.1f} MB,"
            f" growth {last - first:+.1f} MB ({(last - first) / first:+.1%}); peak"
            f" {max(steady):.1f} MB"
        )
    failed = "error" in outcome or bool(client_errors and len(client_errors) > args.clients)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
