"""`tagwatch check`: is everything in place for the event, proved by the cheapest requests.

Why: a refused app password, a token without search access or a Mastodon
instance closed to logged-out readers used to show up as a failed first pass,
or worse as a quiet hashtag. Each check here makes the one authenticated
request that proves it, through the collector's own client and error
messages (no second client to drift from the first), reads no posts, and
spends nothing but that request: the X line says so, because X bills its
counts endpoint per request. Every check returns a `CheckResult`; the CLI
prints one line each and exits 1 if one failed.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TypeVar

from tagwatch.collectors.base import Collector
from tagwatch.errors import PlatformError, TagwatchError
from tagwatch.settings import SHARED_MODERATOR, Config, wall_moderators
from tagwatch.storage.db import Store

__all__ = [
    "CheckResult",
    "run_checks",
    "check_bluesky",
    "check_x",
    "check_mastodon",
    "check_threads",
    "check_instagram",
    "check_smtp",
    "check_wall_token",
    "check_database",
    "check_disk",
    "BYTES_PER_POST",
    "POSTS_PER_DAY",
    "MIN_WALL_TOKEN",
]

C = TypeVar("C", bound="Collector")

MIN_WALL_TOKEN = 24  # characters: `secrets.token_urlsafe(32)` gives 43
# The disk forecast's assumptions, said in its line. 20,000 posts of X's recorded
# search page took 4.1 KB a post (raw payload, full-text index, indexes); twice that
# leaves room for bigger payloads (Bluesky's post views, Mastodon's HTML) and edits.
BYTES_PER_POST = 8_000
# Posts a day expected on a platform whose volume nothing measured (all but X).
POSTS_PER_DAY = 5_000


@dataclass(frozen=True)
class CheckResult:
    """One line of `tagwatch check`: what was checked, whether it passed, what to do if not."""

    name: str
    ok: bool
    detail: str
    todo: str = ""

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        text = f"{mark} {self.name:<10}{self.detail}"
        return f"{text}: {self.todo}" if self.todo else text


def _failed(name: str, exc: Exception, redact: Callable[[str], str] = str) -> CheckResult:
    """A platform's own error message: it names the cause and already says what to do."""
    return CheckResult(name, False, redact(str(exc)))


@contextmanager
def _collector(cls: type[C], config: Config, store: Store, now: datetime) -> Iterator[C]:
    """The platform's collector, without retries: a check asks once, and a failure is the answer."""
    collector = cls(config, store, now=lambda: now, sleep=lambda _s: None)
    collector.collect_cfg = dataclasses.replace(config.collect, max_retries=0)
    yield collector


# -- platforms ------------------------------------------------------------------------


def check_bluesky(config: Config, store: Store, now: datetime) -> CheckResult:
    """A fresh login (createSession) with the handle and app password from the environment."""
    from tagwatch.collectors.bluesky import BlueskyCollector

    with _collector(BlueskyCollector, config, store, now) as c:
        try:
            handle = c.check_login()
        except TagwatchError as exc:
            return _failed("bluesky", exc, c.redact)
    return CheckResult("bluesky", True, f"logged in as {handle} at {c.service}")


def check_x(config: Config, store: Store, now: datetime) -> tuple[CheckResult, float | None]:
    """The counts of the last 7 days (no posts read): search access, and the coming days' cost.

    Returns the line and the posts a day X counted (None when it could not say),
    which the disk forecast uses.
    """
    from tagwatch.collectors.x.estimate import estimate_backfill

    ev = config.event
    today = now.astimezone(ev.tz).date()
    try:
        est = estimate_backfill(config, store, now=now, first=today - timedelta(days=6), last=today)
    except TagwatchError as exc:
        secret = config.secret(config.x.bearer_token_env) or ""
        return _failed("x", exc, lambda t: t.replace(secret, "[redacted]") if secret else t), None
    days_counted = max((est.end - est.start).total_seconds() / 86400, 1 / 24)
    per_day = est.total / days_counted
    days = _days_ahead(config, now)
    posts = round(per_day * days)
    most = est.prices.post * posts + est.prices.user * posts
    billed = f"{est.requests} counts request(s), billed per request by X"
    if days == 0:
        ahead = "the event is over, nothing ahead to forecast"
    else:
        ahead = (
            f"the event's {days} day(s) ahead ~ {posts:,} posts, ~ ${est.prices.post * posts:,.2f}"
            f" for posts, up to ${most:,.2f} with their authors"
        )
    detail = f"search allowed; {per_day:,.0f} posts a day over the last 7 days, {ahead}"
    room = est.budget.room() if est.budget is not None else None
    if room is not None and posts > room:
        detail += (
            f" (more than the {room:,} posts left of the budget: raise x.monthly_post_budget"
            " or collection stops part way)"
        )
    return CheckResult("x", True, f"{detail} ({billed})"), per_day


def check_mastodon(config: Config, store: Store, now: datetime) -> list[CheckResult]:
    """Each instance's `/api/v2/instance`: reachable, and its hashtag timeline open or closed."""
    from tagwatch.collectors.mastodon import MastodonCollector, token_env_for

    results = []
    with _collector(MastodonCollector, config, store, now) as c:
        if not c.instances:
            return [
                CheckResult("mastodon", False, "no instances", "list some in mastodon.instances")
            ]
        try:
            for instance in c.instances:
                try:
                    modes = c.check_instance(instance)
                except PlatformError as exc:
                    failed = _failed("mastodon", exc, c.redact)
                    if exc.retryable:  # down or slow: the message names the address only
                        todo = "check the address, or remove it from mastodon.instances"
                        todo += " while it is down"
                        failed = dataclasses.replace(failed, todo=todo)
                    results.append(failed)
                    continue
                host = instance.split("://", 1)[-1]
                env = token_env_for(config.mastodon.access_token_envs, instance)
                if c.token(instance):
                    how = f"read with the token in ${env}"
                elif modes == {"public"}:
                    how = "hashtag timeline open to logged-out readers"
                else:
                    how = (
                        "hashtag timeline not announced (Mastodon before 4.5): the first pass"
                        " will say if it is closed"
                    )
                results.append(CheckResult("mastodon", True, f"{host} reachable, {how}"))
        finally:
            c.close_clients()
    return results


def check_threads(config: Config, store: Store, now: datetime) -> CheckResult:
    """debug_token (scopes) and `me`: the token works, and search is approved or own-posts only."""
    from tagwatch.collectors.threads import ThreadsCollector
    from tagwatch.collectors.threads.client import ThreadsClient
    from tagwatch.collectors.threads.collector import OWN_POSTS_ONLY

    with _collector(ThreadsCollector, config, store, now) as c:
        if not c.token():
            return CheckResult(
                "threads", False, f"no access token in ${c.token_env}", "export it there"
            )
        try:
            c.check_token()
            client = c.client()
            assert isinstance(client, ThreadsClient)
            owner = str(c.call("me", client.me).get("username") or "?")
        except TagwatchError as exc:
            return _failed("threads", exc, c.redact)
        finally:
            if c._client is not None:
                c._client.close()
        scopes = c.record.details.get("token_scopes")
    if isinstance(scopes, list) and "threads_keyword_search" not in scopes:
        return CheckResult("threads", False, OWN_POSTS_ONLY.format(owner=owner))
    approval = (
        "keyword search approved"
        if isinstance(scopes, list)
        else "search approval unknown (debug_token gave no scopes)"
    )
    return CheckResult("threads", True, f"token of @{owner} accepted, {approval}")


def check_instagram(config: Config, store: Store, now: datetime) -> CheckResult:
    """debug_token, then the 7-day hashtag ledger: room for the event's hashtags."""
    from tagwatch.collectors.instagram import InstagramCollector
    from tagwatch.collectors.instagram.collector import WINDOW
    from tagwatch.storage import quotas

    with _collector(InstagramCollector, config, store, now) as c:
        if not c.token():
            return CheckResult(
                "instagram", False, f"no access token in ${c.token_env}", "export it there"
            )
        if not config.instagram.user_id:
            return CheckResult(
                "instagram",
                False,
                "instagram.user_id is not set",
                "set it to the id of the Business or Creator account the searches are made for",
            )
        try:
            c.check_token()
        except TagwatchError as exc:
            return _failed("instagram", exc, c.redact)
        finally:
            if c._client is not None:
                c._client.close()
    limit = int(config.instagram.weekly_hashtag_limit)
    used = set(quotas.distinct_queries_since(store.conn, "instagram", now - WINDOW))
    needed = [t for t in c.tags if t not in used]
    left = max(0, limit - len(used))
    detail = (
        f"token accepted; {left} of {limit} hashtags left in the last 7 days (this database's"
        f" ledger), the event needs {len(needed)} more"
    )
    if len(needed) > left:
        return CheckResult(
            "instagram",
            False,
            detail,
            "drop hashtags from event.hashtags or wait until older ones leave the 7-day window",
        )
    return CheckResult("instagram", True, detail)


# -- outputs and the machine ----------------------------------------------------------


def check_smtp(config: Config, *, send_test: bool, now: datetime) -> CheckResult | None:
    """The SMTP login (None when no mail is set up); a test message only with `send_test`."""
    from tagwatch.reports.mailer import check_login, send_message, smtp_settings

    recipients = list(dict.fromkeys([*config.digest.recipients, *config.alerts.email_recipients]))
    if not config.smtp.host and not recipients:
        return None
    try:
        settings = smtp_settings(config)
        where = f"{settings.host}:{settings.port}"
        if not send_test:
            check_login(settings)
            who = f" as {settings.user}" if settings.user else " (no login configured)"
            return CheckResult("smtp", True, f"{where} accepted the connection{who}")
        if not recipients:
            return CheckResult(
                "smtp", False, "--send-test has no one to mail", "set [digest] recipients"
            )
        msg = EmailMessage()
        msg["Subject"] = f"tagwatch check: test message for {config.event.name}"
        msg["From"] = settings.sender
        msg["To"] = ", ".join(recipients)
        msg["Date"] = formatdate(now.timestamp(), localtime=False)
        msg["Message-ID"] = make_msgid(domain="tagwatch.local")
        msg.set_content(
            "This is a test message from `tagwatch check --send-test`: the digest and the"
            " alerts will reach this address.\n"
        )
        accepted = send_message(settings, msg, recipients)
    except TagwatchError as exc:
        return _failed("smtp", exc)
    return CheckResult("smtp", True, f"{where} sent a test message to {', '.join(accepted)}")


def check_wall_token(config: Config) -> CheckResult:
    """The moderation token: set and long enough to resist guessing.

    Without one the wall shows nothing; that is a failure only where the wall is
    served by `tagwatch run` (schedule.serve_wall), else it is said and passes.
    """
    if config.wall.moderators:
        return _check_wall_team(config)
    env = config.wall.token_env
    token = config.secret(env)
    fix = f"export {env}=\"$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\""
    if token is None:
        if config.schedule.serve_wall:
            return CheckResult("wall", False, f"no moderation token in ${env}", fix)
        return CheckResult(
            "wall",
            True,
            f"no moderation token in ${env}: not needed unless you serve the wall"
            " (`tagwatch wall` would show nothing)",
        )
    if len(token) < MIN_WALL_TOKEN:
        return CheckResult(
            "wall",
            False,
            f"the moderation token in ${env} has {len(token)} characters, fewer than"
            f" {MIN_WALL_TOKEN}",
            fix,
        )
    return CheckResult("wall", True, f"moderation token in ${env} set ({len(token)} characters)")


def _check_wall_team(config: Config) -> CheckResult:
    """Named moderators (`[wall] moderators`): each one's token set and long enough.

    One whose variable is unset cannot log in: said, and a failure where the wall is served
    by `tagwatch run`; the shared `token_env` token is optional once people have their own.
    """
    fix = "export {}=\"$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\""
    ready, missing = [], []
    for name, env in wall_moderators(config).items():
        token = config.secret(env)
        if token is None:
            if name != SHARED_MODERATOR:
                missing.append((name, env))
            continue
        if len(token) < MIN_WALL_TOKEN:
            return CheckResult(
                "wall",
                False,
                f"moderator {name}'s token in ${env} has {len(token)} characters, fewer than"
                f" {MIN_WALL_TOKEN}",
                fix.format(env),
            )
        ready.append(name)
    said = f"moderators ready: {', '.join(ready) or 'none'}"
    if missing:
        said += "; cannot log in: " + ", ".join(f"{n} (${e} is not set)" for n, e in missing)
    ok = not missing or not config.schedule.serve_wall
    return CheckResult("wall", ok, said, "" if ok else fix.format(missing[0][1]))


def check_database(config: Config) -> CheckResult:
    """The database can be written: an existing file takes a write lock, else its folder a file."""
    path = config.db_path
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        return CheckResult(
            "database",
            False,
            f"the folder {folder} for the database {what}",
            "create it, or change [storage] path",
        )
    try:
        if path.exists():
            conn = sqlite3.connect(path, timeout=5)
            try:
                conn.execute("BEGIN IMMEDIATE")  # a write lock, nothing written
                conn.rollback()
            finally:
                conn.close()
            return CheckResult("database", True, f"{path} writable ({_mb(path.stat().st_size)})")
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tagwatch-check-"):
            pass
    except (OSError, sqlite3.Error) as exc:
        if isinstance(exc, OSError):
            reason = exc.strerror or str(exc)
            todo = f"give this user write access to {folder}, or change [storage] path"
        else:
            reason = str(exc)
            todo = "the file is damaged or not a tagwatch database: `tagwatch restore` a backup"
            todo += ", or change [storage] path"
        return CheckResult("database", False, f"{path} cannot be written ({reason})", todo)
    return CheckResult("database", True, f"{path} will be created; {folder} is writable")


def check_disk(config: Config, now: datetime, x_posts_per_day: float | None) -> CheckResult:
    """Free space beside the database against the event's forecast volume, assumptions said."""
    from tagwatch.collectors import enabled_platforms

    folder = _existing(config.db_path.parent)
    free = shutil.disk_usage(folder).free
    days = _days_ahead(config, now)
    per_day = 0.0
    basis = []
    for platform in enabled_platforms(config):
        if platform == "x" and x_posts_per_day is not None:
            per_day += x_posts_per_day
            basis.append(f"X {x_posts_per_day:,.0f}/day from its counts")
        else:
            per_day += POSTS_PER_DAY
            basis.append(f"{platform} {POSTS_PER_DAY:,}/day assumed")
    copies = 1 + (config.storage.backup_keep if config.storage.backup_every_hours > 0 else 0)
    posts = round(per_day * days)
    need = posts * BYTES_PER_POST * copies
    assumption = (
        f"{posts:,} posts over {days} day(s) ahead ({', '.join(basis) or 'no platform enabled'})"
        f" x {BYTES_PER_POST / 1000:g} KB a post x {copies} (database + kept backups)"
    )
    detail = f"{_mb(free)} free in {folder}, forecast needs {_mb(need)}: {assumption}"
    if need > free:
        return CheckResult(
            "disk",
            False,
            detail,
            "free space, put [storage] path or backup_dir on a larger disk, or lower backup_keep",
        )
    return CheckResult("disk", True, detail)


def _days_ahead(config: Config, now: datetime) -> int:
    """Local days of the event still to come, today included (0 once it is over)."""
    ev = config.event
    today = now.astimezone(ev.tz).date()
    first = max(ev.start, today)
    return max(0, (ev.end - first).days + 1)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


# -- all of them ------------------------------------------------------------------------


def run_checks(config: Config, *, now: datetime, send_test: bool = False) -> list[CheckResult]:
    """Every check that applies to this config, in the order a newcomer fixes things."""
    results = [check_database(config)]
    path = config.db_path
    # The event's database when it exists (the X and Instagram ledgers live there);
    # a new event is checked against an empty one in memory, so `check` creates nothing.
    store = Store.open(path if path.exists() and results[0].ok else ":memory:")
    try:
        x_per_day = None
        if config.bluesky.enabled:
            results.append(check_bluesky(config, store, now))
        if config.x.enabled:
            result, x_per_day = check_x(config, store, now)
            results.append(result)
        if config.mastodon.enabled:
            results.extend(check_mastodon(config, store, now))
        if config.threads.enabled:
            results.append(check_threads(config, store, now))
        if config.instagram.enabled:
            results.append(check_instagram(config, store, now))
    finally:
        store.close()
    smtp = check_smtp(config, send_test=send_test, now=now)
    if smtp is not None:
        results.append(smtp)
    results.append(check_wall_token(config))
    results.append(check_disk(config, now, x_per_day))
    return results
