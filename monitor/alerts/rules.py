"""What raises an alert: four rules over the last minutes, as plain findings.

Each rule reads a bounded window through `tagwatch.storage.alerts` (never the whole
table) and returns `Finding`s: a cause (one alert per cause at a time), the
target, the figures that tripped it and the posts that drive it. A rule that
finds nothing for a cause that has an open alert is what makes that alert
"back to normal" (the engine decides; the rules only describe the present).

* surge: posts of one platform in the last `surge_window_minutes` against the
  same window on each earlier day of the event's own history (the usual for
  that hour), never below the floor `surge_min_posts`;
* pile-on: replies and mentions aimed at one speaker (agenda) or protected
  account, weighed by negative tone (English, where the tone model applies),
  blocked words and authors new to the hashtag;
* collection: a collector failing `[schedule] failure_alert_after` passes in a
  row, the X budget at 80 % and 100 %, a stream silent during a session;
* post: one recent post's engagement far above the typical recent post.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from tagwatch.collectors.meta.client import TOKEN_WARN_DAYS
from tagwatch.records import iso, parse_iso
from tagwatch.settings import Config
from tagwatch.storage import alerts as db
from tagwatch.storage.alerts import StoredExample

__all__ = [
    "Finding",
    "RuleState",
    "KINDS",
    "POST_KINDS",
    "COLLECTION_KIND",
    "protected_accounts",
    "evaluate_posts",
    "evaluate_collection",
]

POST_KINDS = ("surge", "pile_on", "post")
COLLECTION_KIND = "collection"
KINDS = (*POST_KINDS, COLLECTION_KIND)

BASELINE_DAYS = 7
# The earlier days' windows change little: they are re-read at most this often.
BASELINE_TTL = timedelta(minutes=1)
# The typical post: the median engagement of the newest posts of the last day.
POST_SAMPLE = 2000
POST_WINDOW = timedelta(hours=24)
POST_ALERTS_PER_PASS = 3
# An author with no stored post before the pile-on's window is new to the hashtag.
EXAMPLES = 3
# The share of a budget that warns, and the one that stops.
BUDGET_LEVELS = (80, 100)
# Posts stamped a little ahead of our clock (a platform's clock, a phone's) still count
# in the current window.
SKEW = timedelta(minutes=5)
NEGATIVE_BELOW = -0.1  # tagwatch.reports.analysis.NEGATIVE_BELOW: one definition of negative tone

_WORD = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Finding:
    kind: str
    cause: str
    target: str
    title: str
    lines: tuple[str, ...] = ()
    examples: tuple[StoredExample, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    # Whether its end is announced ("back to normal"); a post to look at just ages out.
    announce_end: bool = True


@dataclass
class RuleState:
    """What the rules keep between evaluations so a page costs a few index ranges."""

    baseline_at: datetime | None = None
    baseline: dict[str, float | None] = field(default_factory=dict)
    first_post: dict[str, str] = field(default_factory=dict)


def protected_accounts(config: Config) -> list[str]:
    """The agenda's speakers and `[alerts] protected_accounts`, each once, without '@'."""
    seen: dict[str, str] = {}
    for session in config.event.sessions:
        for handle in session.speakers:
            seen.setdefault(handle.casefold().lstrip("@"), handle.lstrip("@"))
    for handle in config.alerts.protected_accounts:
        seen.setdefault(handle.casefold().lstrip("@"), handle.lstrip("@"))
    return list(seen.values())


def evaluate_posts(
    conn: sqlite3.Connection,
    config: Config,
    now: datetime,
    state: RuleState,
    *,
    blocked: Any = None,
) -> tuple[list[Finding], set[str]]:
    """(findings, kinds evaluated) of the rules that read posts."""
    cfg = config.alerts
    found: list[Finding] = []
    kinds: set[str] = set()
    if cfg.surge:
        kinds.add("surge")
        found += _surges(conn, config, now, state)
    if cfg.pile_on:
        kinds.add("pile_on")
        found += _pile_ons(conn, config, now, blocked)
    if cfg.post_to_look_at:
        kinds.add("post")
        found += _posts_to_look_at(conn, config, now)
    return found, kinds


# -- surge --------------------------------------------------------------------------


def _baseline(
    conn: sqlite3.Connection,
    now: datetime,
    window: timedelta,
    state: RuleState,
    platforms: set[str],
) -> dict[str, float | None]:
    """Mean posts per platform in the same window on each earlier day with history.

    A day before the platform's first stored post is unknown, not zero: it is
    left out, and a platform with no earlier day at all has no baseline (None).
    """
    fresh = state.baseline_at is not None and timedelta(0) <= now - state.baseline_at < BASELINE_TTL
    if fresh and platforms <= set(state.baseline):
        return state.baseline
    for p in platforms - set(state.first_post):
        first = db.first_post_at(conn, p)
        if first:
            state.first_post[p] = first
    per_day: dict[str, list[int]] = defaultdict(list)
    for d in range(1, BASELINE_DAYS + 1):
        end = now - timedelta(days=d)
        start = end - window
        counts = db.window_counts(conn, start, end)
        for p in platforms:
            first = state.first_post.get(p)
            if first is not None and first <= iso(start):
                per_day[p].append(counts.get(p, 0))
    state.baseline = {p: (sum(v) / len(v) if (v := per_day.get(p)) else None) for p in platforms}
    state.baseline_at = now
    return state.baseline


def _surges(
    conn: sqlite3.Connection, config: Config, now: datetime, state: RuleState
) -> list[Finding]:
    cfg = config.alerts
    window = timedelta(minutes=cfg.surge_window_minutes)
    since = now - window
    counts = db.window_counts(conn, since, now + SKEW)
    if not counts:
        return []
    baseline = _baseline(conn, now, window, state, set(counts))
    minutes = f"{cfg.surge_window_minutes:g}"
    out = []
    for platform, n in sorted(counts.items()):
        usual = baseline.get(platform)
        threshold = max(float(cfg.surge_min_posts), cfg.surge_factor * (usual or 0.0))
        if n < threshold:
            continue
        if usual is None:
            compared = "no earlier day of the event to compare with"
        else:
            compared = (
                f"usually {usual:.1f} at this hour ({n / max(usual, 1.0):.1f}x,"
                f" mean of the earlier days)"
            )
        out.append(
            Finding(
                kind="surge",
                cause=f"surge:{platform}",
                target=platform,
                title=f"Surge on {platform}: {n} posts in the last {minutes} min",
                lines=(
                    f"{n} posts on {platform} in the last {minutes} min; {compared}.",
                    f"Alerting from {threshold:.0f} posts (floor {cfg.surge_min_posts},"
                    f" factor {cfg.surge_factor:g}).",
                ),
                examples=tuple(
                    db.window_examples(conn, platform, since, now + SKEW, limit=EXAMPLES)
                ),
                facts={
                    "posts": n,
                    "usual": usual,
                    "threshold": threshold,
                    "window_minutes": cfg.surge_window_minutes,
                },
            )
        )
    return out


# -- pile-on ------------------------------------------------------------------------


def _negative(row: dict[str, Any]) -> bool | None:
    """Negative tone, from enrichment when done, else from the English lexicon; None: unknown."""
    polarity = row.get("sentiment_polarity")
    if polarity is None and (row.get("lang") or "").lower().startswith("en") and row.get("text"):
        from tagwatch.reports.text import sentiment_of

        polarity, _ = sentiment_of(_WORD.findall(row["text"]))
    if polarity is None:
        return None
    return bool(polarity < NEGATIVE_BELOW)


def _pile_ons(
    conn: sqlite3.Connection, config: Config, now: datetime, blocked: Any
) -> list[Finding]:
    cfg = config.alerts
    targets = protected_accounts(config)
    if not targets:
        return []
    window = timedelta(minutes=cfg.pile_on_window_minutes)
    since = now - window
    rows = db.aimed_posts(conn, since, now + SKEW, targets)
    by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_target[row["target"]].append(row)
    candidates = {t: r for t, r in by_target.items() if len(r) >= cfg.pile_on_min_posts}
    if not candidates:
        return []
    seen = db.authors_seen_before(
        conn, (r["author_id"] for rs in candidates.values() for r in rs), since
    )
    minutes = f"{cfg.pile_on_window_minutes:g}"
    out = []
    for target, posts in sorted(candidates.items()):
        negative = unknown_tone = with_blocked = new = 0
        for r in posts:
            tone = _negative(r)
            word = blocked.match(r["text"]) if blocked is not None else None
            is_new = r["author_id"] is not None and r["author_id"] not in seen
            r["score"] = 1 + bool(tone) + bool(word) + is_new
            negative += bool(tone)
            unknown_tone += tone is None
            with_blocked += bool(word)
            new += is_new
        score = float(sum(r["score"] for r in posts))
        authors = len({r["author_handle"] for r in posts})
        if score < cfg.pile_on_min_score or authors < 2:
            continue
        worst = sorted(posts, key=lambda r: (-r["score"], r["created_at"]), reverse=False)
        examples = tuple(
            StoredExample(
                url=r["url"] or "",
                author=r["author_handle"] or "",
                platform=r["platform"],
                text=None if r["no_unauthenticated"] else (r["text"] or ""),
            )
            for r in worst[:EXAMPLES]
        )
        tone_note = (
            f" (tone unknown for {unknown_tone}: no tone model for their language)"
            if unknown_tone
            else ""
        )
        out.append(
            Finding(
                kind="pile_on",
                cause=f"pile_on:{target.casefold()}",
                target=target,
                title=f"Pile-on against @{target}: {len(posts)} posts from {authors} accounts"
                f" in {minutes} min",
                lines=(
                    f"{len(posts)} replies and mentions aimed at @{target} in the last {minutes}"
                    f" min, from {authors} accounts.",
                    f"{negative} negative in tone{tone_note}, {with_blocked} with blocked words,"
                    f" {new} from accounts new to the hashtag; score {score:g}"
                    f" (alerting from {cfg.pile_on_min_score:g}).",
                ),
                examples=examples,
                facts={
                    "posts": len(posts),
                    "authors": authors,
                    "negative": negative,
                    "tone_unknown": unknown_tone,
                    "blocked_words": with_blocked,
                    "new_accounts": new,
                    "score": score,
                },
            )
        )
    return out


# -- post to look at -------------------------------------------------------------------


def _posts_to_look_at(conn: sqlite3.Connection, config: Config, now: datetime) -> list[Finding]:
    cfg = config.alerts
    sample = db.recent_engagement(conn, now - POST_WINDOW, limit=POST_SAMPLE)
    open_ = [r for r in sample if not r["no_unauthenticated"]]
    if not open_:
        return []
    typical = float(median(r["engagement"] for r in open_))
    threshold = max(float(cfg.post_min_engagement), cfg.post_factor * typical)
    hits = sorted(
        (r for r in open_ if r["engagement"] >= threshold), key=lambda r: -r["engagement"]
    )
    out = []
    for r in hits[:POST_ALERTS_PER_PASS]:
        eng = int(r["engagement"])
        out.append(
            Finding(
                kind="post",
                cause=f"post:{r['platform']}:{r['platform_id']}",
                target=r["author_handle"] or "",
                title=f"A post to look at: engagement {eng:,}, "
                f"{eng / max(typical, 1.0):.0f}x the typical post",
                lines=(
                    f"@{r['author_handle']} on {r['platform']}: engagement {eng:,} (likes, reposts,"
                    f" replies, quotes; unknown counts left out); the typical post of the last"
                    f" day has {typical:g}.",
                ),
                examples=(
                    StoredExample(
                        url=r["url"] or "",
                        author=r["author_handle"] or "",
                        platform=r["platform"],
                        text=r["text"] or "",
                        engagement=eng,
                    ),
                ),
                facts={"engagement": eng, "typical": typical, "threshold": threshold},
                announce_end=False,
            )
        )
    return out


# -- collection -----------------------------------------------------------------------


def evaluate_collection(
    conn: sqlite3.Connection,
    config: Config,
    now: datetime,
    *,
    budget: Any = None,
    streams: dict[str, dict[str, Any]] | None = None,
    tokens: dict[str, str | None] | None = None,
) -> list[Finding]:
    """Collection that stopped or is about to: failing passes, the X budget, silent streams,
    tokens about to expire.

    `budget` (an X `BudgetState`, or None), `streams` (`stream_states`) and
    `tokens` (platform → the token's expiry, UTC ISO text, where the platform
    tells it: Meta's debug_token) are read by the caller, which may import the
    collectors' modules.
    """
    from tagwatch.storage.status import collector_health

    if not config.alerts.collection:
        return []
    after = config.schedule.failure_alert_after
    out = []
    for h in collector_health(conn):
        if h.consecutive_failures >= after:
            out.append(
                Finding(
                    kind=COLLECTION_KIND,
                    cause=f"collection:failing:{h.collector}",
                    target=h.collector,
                    title=f"Collection from {h.collector} has failed"
                    f" {h.consecutive_failures} passes in a row",
                    lines=(
                        f"Last error: {h.last_error or h.last_status}.",
                        f"Last successful pass: {h.last_success or 'none yet'}."
                        " See `tagwatch status`.",
                    ),
                    facts={"failures_in_a_row": h.consecutive_failures, "after": after},
                )
            )
    if budget is not None:
        out += _budget(budget)
    for name, expires_at in (tokens or {}).items():
        if not expires_at:
            continue
        when = parse_iso(expires_at)
        if when - now > timedelta(days=TOKEN_WARN_DAYS):
            continue
        verb = "has expired" if when <= now else "expires"
        env = (
            config.threads.access_token_env
            if name == "threads"
            else config.instagram.access_token_env
        )
        out.append(
            Finding(
                kind=COLLECTION_KIND,
                cause=f"collection:token:{name}",
                target=name,
                title=f"The {name} token in {env} {verb} {when:%Y-%m-%d %H:%M} UTC",
                lines=(
                    "Renew the long-lived token (it lasts 60 days) and restart tagwatch run;"
                    " see `tagwatch status`.",
                ),
                facts={"expires_at": expires_at},
            )
        )
    for name, s in (streams or {}).items():
        error = s.get("last_error") or ""
        lag = s.get("lag_seconds")
        silent_for = float(config.streams.silence_seconds)
        in_session = any(x.start <= now < x.end for x in config.event.sessions)
        quiet = lag is not None and lag >= silent_for
        if in_session and s.get("state") != "stopped" and (quiet or "silent" in error):
            out.append(
                Finding(
                    kind=COLLECTION_KIND,
                    cause=f"collection:stream:{name}",
                    target=name,
                    title=f"Stream {name} silent during a session",
                    lines=(
                        f"Last event {s.get('last_event_at') or 'never'}; state {s.get('state')}."
                        + (f" Last error: {error}." if error else ""),
                    ),
                    facts={"lag_seconds": lag, "state": s.get("state")},
                )
            )
    return out


def _budget(b: Any) -> list[Finding]:
    shares: list[tuple[float, str]] = []
    if b.month_limit:
        shares.append(
            (
                b.month.posts / b.month_limit,
                f"{b.month.posts:,} of {b.month_limit:,} posts this month",
            )
        )
    if b.day_limit:
        shares.append(
            (b.today.posts / b.day_limit, f"{b.today.posts:,} of {b.day_limit:,} posts today")
        )
    if b.money_limit:
        shares.append(
            (
                b.spent_usd / b.money_limit,
                f"${b.spent_usd:,.2f} of ${b.money_limit:,.2f} this month",
            )
        )
    if not shares:
        return []
    share, what = max(shares)
    out = []
    for level in BUDGET_LEVELS:
        if share * 100 >= level - 1e-9:
            out.append(
                Finding(
                    kind=COLLECTION_KIND,
                    cause=f"collection:budget:x:{level}",
                    target="x",
                    title=f"X budget at {level} %: {what}"
                    + (" — X collection stops" if level >= 100 else ""),
                    lines=("Raise the [x] budget settings to read more, or let it rest.",),
                    facts={"share": round(share, 4), "level": level},
                )
            )
    return out
