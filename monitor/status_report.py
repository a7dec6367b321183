"""`tagwatch status`: one gathering of the facts, two renderings (text for people, JSON for tools).

`gather` reads everything `status` reports into a plain dict (JSON-ready:
strings, numbers, None, lists and dicts); `text_lines` renders it as the
familiar lines and `--json` prints it as one object, so a monitoring script
and a person always see the same facts. The JSON contract (#17):
`platforms.<name>` with `posts`, `last_success`, `last_error`,
`failures_in_a_row`; `platforms.x.spent_usd_month` and
`platforms.x.budget_usd_month`; `streams.<name>.state`; `backup.newest`.
None means unknown or no limit, never zero.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tagwatch.collectors import PLATFORMS
from tagwatch.collectors.meta.status import status_data as meta_status_data
from tagwatch.collectors.meta.status import status_text as meta_status_text
from tagwatch.collectors.streams.status import stream_states, stream_text
from tagwatch.collectors.x.budget import BudgetState, ledger_state
from tagwatch.monitor.alerts.summary import alerts_status, alerts_text
from tagwatch.monitor.health import read_schedule, runner_status, runner_text
from tagwatch.monitor.lock import lock_holder
from tagwatch.records import iso
from tagwatch.reports.wall.presets import preset_for
from tagwatch.reports.wall.team import Team
from tagwatch.settings import Config
from tagwatch.storage.backup import list_backups
from tagwatch.storage.db import Store
from tagwatch.storage.status import read_status

__all__ = ["gather", "text_lines", "human_size"]


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _backup(config: Config) -> dict[str, Any]:
    found = list_backups(config.db_path, config.backup_dir)
    newest = found[-1] if found else None
    return {
        "folder": str(config.backup_dir),
        "count": len(found),
        "newest": iso(newest.taken_at) if newest else None,
        "newest_size_bytes": newest.size if newest else None,
        "every_hours": config.storage.backup_every_hours or None,
    }


def gather(config: Config, now: datetime) -> dict[str, Any]:
    """Everything `tagwatch status` reports, as plain data (reads only)."""
    with Store.open(config.db_path) as store:
        st = read_status(store.conn, config.db_path)
        alive = lock_holder(config.db_path) is not None
        streams = stream_states(store.conn, now, alive=alive)
        budget = ledger_state(store.conn, config, now)
        alerts = alerts_status(store.conn, enabled=config.alerts.enabled, now=now)
    schedule = read_schedule(config.db_path)
    ev = config.event
    collectors: dict[str, dict[str, Any]] = {}
    for h in st.collectors:
        nxt = schedule.next_run(f"collect:{h.collector}") if schedule and schedule.alive else None
        collectors[h.collector] = {
            "last_status": h.last_status,
            "last_run": h.last_ended,
            "last_success": h.last_success,
            "last_error": h.last_error,
            "failures_in_a_row": h.consecutive_failures,
            "flagged": h.consecutive_failures >= config.schedule.failure_alert_after,
            "next_run": iso(nxt) if nxt is not None else None,
        }
    platforms: dict[str, dict[str, Any]] = {}
    for name in [*PLATFORMS, *sorted(set(st.posts_by_platform) - set(PLATFORMS))]:
        health = collectors.get(name, {})
        platforms[name] = {
            "enabled": bool(name in PLATFORMS and config.platform(name).enabled),
            "posts": st.posts_by_platform.get(name, 0),
            "deleted_upstream": st.deleted_by_platform.get(name, 0),
            "last_status": health.get("last_status"),
            "last_success": health.get("last_success"),
            "last_error": health.get("last_error"),
            "failures_in_a_row": health.get("failures_in_a_row", 0),
        }
    # Threads' and Instagram's ledgers (queries per 24 h, hashtags per 7 days), token expiry
    # and their warnings, under their platforms.
    for name, quota in meta_status_data(config, now).items():
        platforms.setdefault(name, {}).update(quota=quota)
    if "x" in platforms:
        x = config.x
        platforms["x"].update(
            # The ledger's spend this calendar month (UTC), at the configured prices.
            spent_usd_month=round(budget.spent_usd, 6) if budget is not None else 0.0,
            budget_usd_month=float(x.budget_usd) if x.budget_usd > 0 else None,
            budget=budget.as_dict() if budget is not None else None,
        )
    return {
        "event": {
            "name": ev.name,
            "hashtags": list(ev.hashtags),
            "start": ev.start.isoformat(),
            "end": ev.end.isoformat(),
            "timezone": str(ev.timezone),
        },
        "generated_at": iso(now),
        "database": {"path": st.path, "size_bytes": st.size_bytes},
        "posts": {
            "total": sum(st.posts_by_platform.values()),
            "authors": st.authors,
            "first": st.first_post,
            "last": st.last_post,
            # Platforms with stored posts only (the text lists exactly these).
            "by_platform": {
                p: {"posts": n, "deleted_upstream": st.deleted_by_platform.get(p, 0)}
                for p, n in sorted(st.posts_by_platform.items())
            },
        },
        "platforms": platforms,
        "collectors": collectors,
        "runner": runner_status(config.db_path),
        "backup": _backup(config),
        "streams": streams,
        "alerts": alerts,
        "wall": _wall(config),
    }


def _wall(config: Config) -> dict[str, Any]:
    """Who can moderate the wall and what its word lists miss (names only, never a token)."""
    wall = config.wall
    team = Team.from_config(config)
    preset = preset_for(config.event.languages) if wall.preset_words != "off" else None
    return {
        "moderation": wall.moderation,
        "open": team.enabled,
        "moderators": team.names,
        # name -> the environment variable that is not set, so that moderator cannot log in
        "moderators_missing": dict(team.missing),
        "preset_words": wall.preset_words,
        "languages_without_word_list": list(preset.missing) if preset is not None else [],
    }


def _wall_text(wall: dict[str, Any], config: Config) -> list[str]:
    mode = {"pre": "pre-moderation", "post": "post-moderation"}.get(wall["moderation"], "")
    if not wall["open"]:
        line = (
            f"Wall: closed, no moderator token is set (${config.wall.token_env} or a"
            " [wall] moderators variable): nothing reaches the screen"
        )
    else:
        line = f"Wall: {mode}, moderators {', '.join(wall['moderators'])}"
    lines = [line]
    for name, env in wall["moderators_missing"].items():
        lines.append(f"  moderator {name} cannot log in: ${env} is not set")
    if wall["languages_without_word_list"]:
        lines.append(
            "  no preset word list for "
            + ", ".join(wall["languages_without_word_list"])
            + ": add words to [wall] hold_words or blocked_words (docs/wall.md)"
        )
    return lines


def _backup_text(backup: dict[str, Any]) -> str:
    every = backup["every_hours"]
    plan = f"`tagwatch run` takes one every {every:g} h" if every else "none scheduled"
    folder = backup["folder"]
    if not backup["count"]:
        return f"Backups: none yet in {folder} ({plan}; `tagwatch backup` takes one now)"
    newest = backup["newest"]
    when = f"{newest[:10]} {newest[11:16]}"
    return (
        f"Backups: {backup['count']} in {folder}; newest {when} UTC"
        f" ({human_size(backup['newest_size_bytes'])}); {plan}"
    )


def text_lines(data: dict[str, Any], config: Config) -> list[str]:
    """The data as `tagwatch status` prints it for people."""
    ev = data["event"]
    lines = [
        f"{ev['name']}  #{' #'.join(ev['hashtags'])}  ({ev['start']} to {ev['end']},"
        f" {ev['timezone']})",
        f"Database: {data['database']['path']} ({human_size(data['database']['size_bytes'])})",
    ]
    posts = data["posts"]
    lines.append(f"Posts: {posts['total']}   Authors: {posts['authors']}")
    for platform, p in posts["by_platform"].items():
        extra = f" ({p['deleted_upstream']} deleted upstream)" if p["deleted_upstream"] else ""
        lines.append(f"  {platform:<10} {p['posts']:>8}{extra}")
    if posts["first"]:
        lines.append(f"Posts from {posts['first']} to {posts['last']}")
    lines.append("Collectors:")
    if not data["collectors"]:
        lines.append("  no pass has run yet: try `tagwatch collect`")
    for name, h in data["collectors"].items():
        line = (
            f"  {name:<18} last {h['last_status'] or '-'} at {h['last_run'] or '-'};"
            f" last success {h['last_success'] or 'never'}"
        )
        if h["failures_in_a_row"]:
            line += f"; {h['failures_in_a_row']} failure(s) in a row"
            if h["flagged"]:
                line += " [FLAGGED]"
        if h["next_run"] is not None:
            line += f"; next run {h['next_run']}"
        lines.append(line)
        if h["last_error"]:
            lines.append(f"      last error: {h['last_error']}")
    lines += runner_text(data["runner"], tz=config.event.tz)
    lines.append(_backup_text(data["backup"]))
    lines += _wall_text(data["wall"], config)
    lines += stream_text(data["streams"])
    lines += alerts_text(data["alerts"])
    x = data["platforms"].get("x") or {}
    if x.get("enabled") and x.get("budget") is not None:
        lines += BudgetState.from_dict(x["budget"]).lines()
    quotas = {n: p["quota"] for n, p in data["platforms"].items() if p.get("quota") is not None}
    lines += meta_status_text(quotas)
    return lines
