"""Soak test: the demo event at high speed for N minutes with 50 wall clients connected.

Runs `tagwatch.monitor.demo.run_demo` (the real scheduler, collectors, enrichment and
wall against the loopback fakes, on a simulated clock) in this process, while
50 event-stream clients stay connected to the wall, reconnecting with
Last-Event-ID like a browser when a stream ends. The fake platforms and the
clients run in child processes, so the memory printed is the monitor's own.
Every `--every` seconds it prints the process's resident memory (RSS: all of
it, its own heap `anon`, SQLite's heap, and with `--trace` Python's), the posts
stored and the events the clients received; at the end, any warning or error logged, failed passes,
client errors, and whether memory stayed flat (last quarter vs first quarter,
after warm-up).

    python bench/soak.py                 # 30 minutes
    python bench/soak.py --minutes 5 --clients 50 --posts 20000
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import logging
import multiprocessing
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tagwatch.monitor.demo import describe, run_demo  # noqa: E402
from tagwatch.monitor.memory import release_free_memory, resident_mb  # noqa: E402


def _sqlite_memory() -> Callable[[], float]:
    """SQLite's own heap (page caches, statements) across every connection, in MB.

    Python's sqlite3 links the system libsqlite3, whose counter covers all
    connections in the process; tracemalloc cannot see this memory.
    """
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        lib.sqlite3_memory_used.restype = ctypes.c_int64
    except OSError:
        return lambda: float("nan")
    return lambda: lib.sqlite3_memory_used() / 2**20


sqlite_mb = _sqlite_memory()


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


class Walls:
    """The 50 screens, in a child process: their threads and connections are not the
    monitor's memory, so the RSS printed is the monitor's alone."""

    def __init__(self, url: str, n: int):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_walls_main, args=(url, n, child), daemon=True)
        self._process.start()

    def _ask(self, what: str) -> Any:
        self._conn.send(what)
        return self._conn.recv()

    def counts(self) -> tuple[int, int]:
        """(events received, reconnects) over all screens."""
        return self._ask("counts")

    def stop(self) -> list[str]:
        """Stops every screen; returns their errors (but the refusals at the end)."""
        if not self._process.is_alive():
            return ["the wall clients' process died"]
        faults = self._ask("stop")
        self._process.join(10)
        return faults


def _walls_main(url: str, n: int, conn: Any) -> None:
    stop = threading.Event()
    clients = [Client(url, stop) for _ in range(n)]
    for c in clients:
        c.start()
    while True:
        what = conn.recv()
        if what == "counts":
            conn.send((sum(c.events for c in clients), sum(c.reconnects for c in clients)))
        else:
            stop.set()
            conn.send([e for c in clients for e in c.faults()])
            return


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
    parser.add_argument(
        "--trace",
        action="store_true",
        help="track Python allocations (tracemalloc, slower) and print what grew",
    )
    parser.add_argument(
        "--trim",
        action="store_true",
        help="hand freed heap back to the OS (malloc_trim) before each sample: growth that"
        " remains is held memory, not fragmentation",
    )
    args = parser.parse_args()
    first_snapshot: tracemalloc.Snapshot | None = None
    last_snapshot: tracemalloc.Snapshot | None = None

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
    if args.trace:
        # From here on: the models loaded at start are not what could grow.
        tracemalloc.start(4)
    walls = Walls(f"{wall}/api/wall/events", args.clients)
    client_errors: list[str] | None = None

    samples: list[tuple[float, float]] = []  # (minute, RSS) while the wall is live
    live_until: float | None = None  # when the demo closed the wall to write its reports
    print(
        f"{'min':>6} {'RSS MB':>8} {'anon':>7} {'sqlite':>7} {'python':>7}"
        f" {'posts':>7} {'events':>8} {'reconn':>6} {'threads':>7}"
    )
    while runner.is_alive():
        elapsed = (time.monotonic() - start) / 60
        if args.trim:
            release_free_memory()
        rss = resident_mb()
        if live_until is None and not wait_for(f"{wall}/api/wall", 5):
            live_until = time.monotonic()
            # The live part is over: what follows is digests and the report.
            events, reconnects = walls.counts()
            client_errors = walls.stop()
            print("       (the demo closed the wall; writing digests and the report)")
        if live_until is None:
            samples.append((elapsed, rss))
            if args.trace:
                if first_snapshot is None and elapsed >= min(2.0, args.minutes / 5):
                    first_snapshot = tracemalloc.take_snapshot()
                elif first_snapshot is not None:
                    last_snapshot = tracemalloc.take_snapshot()
        traced = tracemalloc.get_traced_memory()[0] / 2**20 if args.trace else float("nan")
        if client_errors is None:
            events, reconnects = walls.counts()
        anon = resident_mb("RssAnon")
        print(
            f"{elapsed:6.1f} {rss:8.1f} {anon:7.1f} {sqlite_mb():7.1f} {traced:7.1f}"
            f" {posts_stored(out / 'demo.db'):7d} {events:8d} {reconnects:6d}"
            f" {threading.active_count():7d}",
            flush=True,
        )
        runner.join(args.every)
    if client_errors is None:
        events, reconnects = walls.counts()
        client_errors = walls.stop()

    print()
    if "error" in outcome:
        print(f"DEMO FAILED: {outcome['error']}")
    result = outcome.get("result")
    if result is not None:
        for line in describe(result):  # type: ignore[arg-type]
            if line.strip():
                print(line)
    print(
        f"wall clients: {events} events received, {reconnects} reconnects,"
        f" {len(client_errors)} errors"
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
    if first_snapshot is not None and last_snapshot is not None:
        print("Python allocations that grew while live (tracemalloc, top 15 by line):")
        for stat in last_snapshot.compare_to(first_snapshot, "lineno")[:15]:
            print(f"  {stat}")
        print("... and by call chain (top 5):")
        for stat in last_snapshot.compare_to(first_snapshot, "traceback")[:5]:
            print(f"  {stat.size_diff / 2**20:+.1f} MB in {stat.count_diff:+d} blocks")
            for line in stat.traceback.format()[-8:]:
                print(f"    {line}")
    failed = "error" in outcome or bool(client_errors and len(client_errors) > args.clients)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
