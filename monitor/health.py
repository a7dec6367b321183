"""What the runner tells `tagwatch status`: each job's next run, beside the database.

The runner writes `<db>.schedule.json` whenever a job's next run changes
(written to a temporary file and renamed, so a reader never sees half of it).
A file rather than a table: the schedule belongs to one live process, not to
the data, and a stale file is harmless because readers trust it only while
the runner's lock is held (`tagwatch.monitor.lock.lock_holder`).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tagwatch.monitor.lock import lock_holder
from tagwatch.records import iso, parse_iso

__all__ = [
    "JobState",
    "RunnerState",
    "schedule_path",
    "write_schedule",
    "read_schedule",
    "runner_lines",
    "runner_status",
    "runner_text",
]


@dataclass
class JobState:
    job: str  # "collect:bluesky", "digest", ...
    next_run_at: str | None  # fixed-width UTC text (tagwatch.records.iso)
    interval_seconds: float | None = None


@dataclass
class RunnerState:
    pid: int | None
    host: str | None
    since: str | None
    alive: bool
    jobs: dict[str, JobState]

    def next_run(self, job: str) -> datetime | None:
        state = self.jobs.get(job)
        if state is None or state.next_run_at is None:
            return None
        return parse_iso(state.next_run_at)


def schedule_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.schedule.json")


def write_schedule(
    db_path: str | Path,
    next_runs: dict[str, tuple[datetime | None, float | None]],
    *,
    since: datetime,
) -> None:
    """Record each job's next run (UTC) and interval; replaces the file atomically."""
    path = schedule_path(db_path)
    data: dict[str, Any] = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": iso(since),
        "jobs": [
            asdict(JobState(job, iso(when) if when else None, interval))
            for job, (when, interval) in sorted(next_runs.items())
        ],
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_schedule(db_path: str | Path) -> RunnerState | None:
    """The last schedule a runner wrote, with `alive` saying whether it still runs."""
    path = schedule_path(db_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    holder = lock_holder(db_path)
    alive = holder is not None and holder.get("pid") == data.get("pid")
    jobs = {}
    for item in data.get("jobs", []):
        try:
            state = JobState(**item)
        except TypeError:
            continue
        jobs[state.job] = state
    return RunnerState(
        pid=data.get("pid"), host=data.get("host"), since=data.get("since"), alive=alive, jobs=jobs
    )


def runner_status(db_path: str | Path) -> dict[str, Any]:
    """The runner as plain data: `state` is "running", "busy" (another command holds
    the database) or "stopped"; `next_digest` is UTC text or None."""
    state = read_schedule(db_path)
    if state is None or not state.alive:
        holder = lock_holder(db_path)
        if holder is not None:
            return {
                "state": "busy",
                "command": holder.get("command", "run"),
                "pid": holder.get("pid"),
            }
        return {"state": "stopped"}
    digest = state.next_run("digest")
    return {
        "state": "running",
        "pid": state.pid,
        "host": state.host,
        "since": state.since,
        "next_digest": iso(digest) if digest is not None else None,
    }


def runner_text(runner: dict[str, Any], *, tz: Any = None) -> list[str]:
    """`tagwatch status`'s lines about the runner, from `runner_status`."""
    if runner["state"] == "busy":
        return [f"Runner: `tagwatch {runner['command']}` is running (pid {runner['pid'] or '?'})"]
    if runner["state"] != "running":
        return ["Runner: not running (start it with `tagwatch run`)"]
    lines = [f"Runner: running since {runner['since']} (pid {runner['pid']} on {runner['host']})"]
    if runner.get("next_digest"):
        digest = parse_iso(runner["next_digest"])
        local = f" ({digest.astimezone(tz):%Y-%m-%d %H:%M} {tz})" if tz is not None else ""
        lines.append(f"  next digest {iso(digest)}{local}")
    return lines


def runner_lines(db_path: str | Path, *, tz: Any = None) -> list[str]:
    """`tagwatch status`'s lines about the runner: alive or not, and the digest's next run."""
    return runner_text(runner_status(db_path), tz=tz)
