"""The daily digest: what happened on the hashtag yesterday, readable in two minutes.

Why it is built this way: the analysis (`tagwatch.reports.analysis`) returns plain
figures; this module chooses what a communications team needs in the morning
and puts it into a `Digest` of plain values, which templates turn into HTML
(for e-mail and the file on disk), Markdown and text (`tagwatch.reports.digest.render`).
Reading only: the digest never writes to the database.

The scheduler's daily job calls `send_daily_digest`; `tagwatch digest` uses the
same pieces.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from tagwatch.errors import ConfigError, TagwatchError
from tagwatch.records import parse_iso, to_utc, utcnow
from tagwatch.reports import analysis
from tagwatch.reports.charts import bars_png, volume_per_hour_png
from tagwatch.reports.digest.health import collection_day
from tagwatch.reports.digest.model import (
    PLATFORM_NAMES,
    PLATFORMS,
    Account,
    AlertView,
    Digest,
    DigestResult,
    Figure,
    PostView,
    SessionView,
    Share,
    ThemeView,
)
from tagwatch.reports.figures import (
    ENGAGEMENT_LABEL,
    Analysis,
    PostRef,
    Summary,
    Theme,
    unknown_figures,
)
from tagwatch.reports.rows import CREATED, ID, PLATFORM, POLARITY, REPLIES, RESTRICTED, engagement
from tagwatch.settings import Config, EventConfig
from tagwatch.storage.alerts import alerts_between
from tagwatch.storage.db import connect

__all__ = [
    "Digest",
    "Figure",
    "PostView",
    "SessionView",
    "ThemeView",
    "DigestResult",
    "default_day",
    "build_digest",
    "write_digest",
    "send_digest",
    "post_digest_webhook",
    "send_daily_digest",
    "PLATFORMS",
]

# "Unusual engagement": well above what the day's posts typically drew.
UNUSUAL_FACTOR = 5
UNUSUAL_MIN = 10
RATIO_MIN_REPLIES = 5


def default_day(event: EventConfig, now: datetime | None = None) -> date:
    """Yesterday in the event's timezone: the digest is read the morning after."""
    now = now or utcnow()
    return now.astimezone(event.tz).date() - timedelta(days=1)


def _alert_after(config: Config) -> int:
    """`[schedule] failure_alert_after` (the scheduler's setting, #6), shared with `status`."""
    return config.schedule.failure_alert_after


@contextmanager
def _reader(config: Config, conn: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
    if conn is not None:
        yield conn
        return
    from tagwatch.storage.db import Store

    # Store.open migrates an older file; then read through a separate read-only connection.
    Store.open(config.db_path).close()
    own = connect(config.db_path, readonly=True)
    try:
        yield own
    finally:
        own.close()


def _local_time(at: datetime, event: EventConfig) -> str:
    return at.astimezone(event.tz).strftime("%H:%M")


def _view(ref: PostRef, event: EventConfig, reason: str = "") -> PostView:
    return PostView(
        platform=ref.platform,
        url=ref.url,
        author_handle=ref.author_handle,
        author_name=ref.author_name,
        text=ref.text,
        time=_local_time(ref.created_at, event),
        likes=ref.likes,
        reposts=ref.reposts,
        replies=ref.replies,
        quotes=ref.quotes,
        reason=reason,
    )


def _views(refs: Sequence[PostRef], event: EventConfig, n: int) -> list[PostView]:
    # Belt and braces: restricted posts are counted, never quoted, whatever the caller asked.
    return [_view(r, event) for r in refs if not r.restricted][:n]


def _engagement_note(s: Summary) -> str:
    """What the engagement figure adds up, and which platforms' counts it leaves out."""
    if not s.counts_unknown:
        return ENGAGEMENT_LABEL
    names = ", ".join(PLATFORM_NAMES.get(p, p) for p in s.counts_unknown)
    # Short: the note at the end of the digest says what each platform leaves out.
    return f"{ENGAGEMENT_LABEL}; counts not given by {names} left out, not 0"


def _language_name(code: str) -> str:
    if code in ("und", ""):
        return "unknown"
    try:
        from lingua import IsoCode639_1, Language

        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code)).name.title()
    except (ValueError, ImportError):
        return code


def _themes(
    a: Analysis, event: EventConfig, n: int, shown: set[int]
) -> tuple[list[ThemeView], bool]:
    """New and rising themes (two examples each), else the day's main ones (one example).

    Examples already shown as top posts, or under an earlier theme, are not repeated:
    the digest is read in two minutes.
    """
    pool: list[Theme] = [*a.themes.phrases, *a.themes.hashtags]
    fresh = [t for t in pool if t.trend in ("new", "rising")]
    chosen, are_new = (fresh, True) if fresh else (pool, False)
    chosen = sorted(chosen, key=lambda t: (-t.posts, t.label.casefold()))[:n]
    seen = set(shown)
    views = []
    for t in chosen:
        examples = [r for r in t.examples if not r.restricted and r.id not in seen]
        examples = examples[: 2 if are_new else 1]
        seen.update(r.id for r in examples)
        views.append(
            ThemeView(
                label=t.label,
                kind=t.kind,
                posts=t.posts,
                previous=t.previous_posts,
                trend=t.trend,
                examples=tuple(_view(r, event) for r in examples),
            )
        )
    return views, are_new


def _sessions(a: Analysis, event: EventConfig, day: date) -> list[SessionView]:
    out = []
    for s in a.sessions:
        if s.start.astimezone(event.tz).date() != day:
            continue
        labels = [t.label for t in [*s.themes.phrases, *s.themes.hashtags]]
        top = _views(s.top_posts, event, 1)
        out.append(
            SessionView(
                title=s.title,
                time=f"{_local_time(s.start, event)}–{_local_time(s.end, event)}",
                room=s.room,
                posts=s.counts.posts,
                authors=s.counts.unique_authors,
                engagement=s.counts.engagement,
                themes=tuple(labels[:3]),
                top_post=top[0] if top else None,
            )
        )
    return out


def _hourly_by_platform(
    period: analysis.Period, hours: Sequence[datetime]
) -> dict[str, list[tuple[datetime, int]]]:
    """Posts per platform in each local hour of the day (keyed by instant: DST-safe)."""
    tz = period.event.tz
    per_minute: Counter[tuple[str, str]] = Counter()
    for r in period.rows:
        # Parsing 100,000 timestamps is most of the cost: count per minute, convert once each.
        per_minute[(r[PLATFORM], r[CREATED][:16])] += 1
    counts: Counter[tuple[str, datetime]] = Counter()
    hour_of: dict[str, datetime] = {}
    for (platform, minute), n in per_minute.items():
        if minute not in hour_of:
            local = parse_iso(minute + ":00Z").astimezone(tz)
            hour_of[minute] = to_utc(local.replace(minute=0, second=0, microsecond=0))
        counts[(platform, hour_of[minute])] += n
    platforms = sorted({p for p, _ in counts})
    return {p: [(h, counts[(p, to_utc(h))]) for h in hours] for p in platforms}


@dataclass(frozen=True)
class _Signal:
    engagement: int
    concerns: tuple[str, ...]  # negative attention: worth a look before anyone amplifies it
    unusual: str  # engagement far above the day's typical post, or ""


def _signals(period: analysis.Period) -> dict[int, _Signal]:
    """Per post id, why the team might want to open it. Restricted posts are never picked."""
    rows = [r for r in period.rows if not r[RESTRICTED]]
    if not rows:
        return {}
    typical = median(engagement(r) for r in rows)
    threshold = max(UNUSUAL_MIN, UNUSUAL_FACTOR * typical)
    found: dict[int, _Signal] = {}
    for r in rows:
        eng = engagement(r)
        replies = r[REPLIES] or 0
        approval = eng - replies
        concerns = []
        if replies >= RATIO_MIN_REPLIES and replies > approval:
            concerns.append(f"more replies ({replies}) than likes and reposts: possibly contested")
        polarity = r[POLARITY]
        if polarity is not None and polarity < analysis.NEGATIVE_BELOW and eng >= threshold / 2:
            concerns.append(f"negative tone with engagement {eng:,}")
        unusual = ""
        if eng >= threshold:
            unusual = f"engagement {eng:,}, {eng / max(typical, 1):.0f}x the day's typical post"
        if concerns or unusual:
            found[r[ID]] = _Signal(eng, tuple(concerns), unusual)
    return found


def _to_look_at(
    conn: sqlite3.Connection,
    signals: dict[int, _Signal],
    event: EventConfig,
    n: int,
    shown: set[int],
) -> list[PostView]:
    """Negative attention first; then unusual engagement not already among the top posts."""
    picked = {i: s for i, s in signals.items() if s.concerns or i not in shown}
    ranked = sorted(picked, key=lambda i: (not picked[i].concerns, -picked[i].engagement, i))[:n]
    refs = {ref.id: ref for ref in analysis.post_refs(conn, ranked)}
    reasons = {i: "; ".join(filter(None, (picked[i].unusual, *picked[i].concerns))) for i in ranked}
    return [_view(refs[i], event, reasons[i]) for i in ranked if i in refs]


def _alert_view(alert: dict[str, Any], event: EventConfig, day: date) -> AlertView:
    """An alert row as the digest lists it; the alert's own message is what was counted."""
    fired = parse_iso(alert["fired_at"]).astimezone(event.tz)
    resolved = ""
    if alert["resolved_at"]:
        back = parse_iso(alert["resolved_at"]).astimezone(event.tz)
        resolved = f"{back:%H:%M}" if back.date() == day else f"{back:%Y-%m-%d %H:%M}"
    counts: Counter[str] = Counter()
    for d in alert["deliveries"]:
        if d["message"] != "alert":
            continue
        status = d["status"]
        if status == "suppressed":
            # The engine's reasons: "quiet hours (…)" or "daily cap of N reached".
            reason = d["reason"] or ""
            status = "quiet_hours" if reason.startswith("quiet hours") else "daily_cap"
        counts[status] += 1
    return AlertView(
        kind=alert["kind"],
        title=alert["title"],
        target=alert["target"],
        fired=f"{fired:%H:%M}",
        resolved=resolved,
        sent=counts["sent"],
        quiet_hours=counts["quiet_hours"],
        daily_cap=counts["daily_cap"],
        failed=counts["failed"],
        queued=counts["queued"],
    )


def build_digest(
    config: Config,
    day: date | None = None,
    *,
    now: datetime | None = None,
    conn: sqlite3.Connection | None = None,
) -> Digest:
    """The digest of one local day (default: yesterday in the event's timezone)."""
    event = config.event
    now = now or utcnow()
    day = day or default_day(event, now)
    n = config.digest.top_n  # 1 or more: the loader refuses less
    start, end = event.day_bounds(day)
    prev_start, prev_end = event.day_bounds(day - timedelta(days=1))
    enabled = tuple(p for p in PLATFORMS if config.platform(p).enabled)
    with _reader(config, conn) as c:
        # Each day is read once: the day before gives its totals and the themes' trends.
        previous = analysis.Period(c, event, prev_start, prev_end)
        period = analysis.Period(c, event, start, end, before=previous)
        a = analysis.analyze_period(period, top=n, n_themes=n, examples=4, with_growth=False)
        before = previous.summary()
        before_platforms = previous.per_platform()
        health = collection_day(
            c,
            start,
            end,
            event.tz,
            enabled=enabled,
            alert_after=_alert_after(config),
        )
        signals = _signals(period)
        top_ids = {ref.id for ref in a.top_posts if not ref.restricted}
        look = _to_look_at(c, signals, event, n, top_ids)
        alerts = [_alert_view(x, event, day) for x in alerts_between(c, start, end)]
    cnt, prev = a.summary.counts, before.counts
    digest = Digest(
        event_name=event.name,
        hashtags=event.hashtags,
        day=day,
        timezone=event.timezone,
        generated_at=now,
        posts=cnt.posts,
        headline=[
            Figure("Posts", cnt.posts, prev.posts),
            Figure("Unique authors", cnt.unique_authors, prev.unique_authors),
            Figure("Engagement", cnt.engagement, prev.engagement, _engagement_note(a.summary)),
            Figure("Estimated reach", a.summary.potential_reach, before.potential_reach),
        ],
        health=health,
        restricted_posts=a.summary.restricted_posts,
        reach=a.summary.potential_reach,
        reach_label=a.summary.reach_label,
        sessions=_sessions(a, event, day),
        alerts=alerts,
    )
    if digest.empty:
        return digest
    today = {p.platform: p.counts.posts for p in a.platforms}
    # The same sentences as the impact report's methodology, from the same figures.
    digest.notes = unknown_figures(a.summary.counts_unknown, a.summary.authorless_platforms)
    prev_platform = {p.platform: p.counts.posts for p in before_platforms}
    # A platform silent today but busy yesterday is news too: show it at 0.
    order = [p.platform for p in a.platforms] + sorted(set(prev_platform) - set(today))
    digest.platforms = [
        Figure(PLATFORM_NAMES.get(name, name), today.get(name, 0), prev_platform.get(name, 0))
        for name in order
    ]
    peak = max(a.hours, key=lambda h: (h.counts.posts, -h.hour.timestamp()))
    end_hour = peak.hour + timedelta(hours=1)
    posts = peak.counts.posts
    digest.peak_hour = (
        f"{peak.hour:%H}:00–{end_hour:%H}:00 ({posts:,} post{'' if posts == 1 else 's'})"
    )
    digest.top_posts = [
        _view(ref, event, signals[ref.id].unusual if ref.id in signals else "")
        for ref in a.top_posts
        if not ref.restricted
    ][:n]
    digest.themes, digest.themes_are_new = _themes(a, event, n, top_ids)
    # analyze() never names authors of restricted posts (include_restricted is off).
    digest.voices = [
        Account(v.handle, v.display_name, v.platform, v.posts, v.engagement)
        for v in a.voices.by_engagement
    ][:n]
    digest.mentioned = [Share("@" + m.handle, m.posts, m.posts / cnt.posts) for m in a.mentions[:n]]
    digest.languages = [
        Share(_language_name(lang.lang), lang.posts, lang.share) for lang in a.languages[:6]
    ]
    s = a.sentiment
    digest.sentiment_scored, digest.sentiment_unscored = s.scored, s.unscored
    if s.scored:
        digest.sentiment = [
            Share(label, count, count / s.scored)
            for label, count in (
                ("positive", s.positive),
                ("neutral", s.neutral),
                ("negative", s.negative),
            )
        ]
    digest.to_look_at = look
    hours = [h.hour for h in a.hours]
    digest.charts["volume"] = volume_per_hour_png(
        _hourly_by_platform(period, hours),
        event.tz,
        sessions=[x for x in event.sessions if x.start.astimezone(event.tz).date() == day],
        title="Posts per hour",
    )
    if digest.themes:
        digest.charts["themes"] = bars_png(
            [(t.label if t.kind == "phrase" else "#" + t.label, t.posts) for t in digest.themes],
            title="Themes (posts)",
        )
    return digest


def write_digest(digest: Digest, out_dir: Path) -> dict[str, Path]:
    """digest-DAY.html (charts inside), .md (charts as side PNGs) and .txt; returns the paths.

    Rendered first, written last: a template error never leaves half a set of files.
    """
    from tagwatch.reports.digest.render import render_html, render_markdown, render_text

    files: dict[str, tuple[Path, str | bytes]] = {
        f"chart:{name}": (out_dir / f"{digest.file_stem}-{name}.png", png)
        for name, png in digest.charts.items()
    }
    files["html"] = (out_dir / f"{digest.file_stem}.html", render_html(digest, inline="data"))
    files["md"] = (out_dir / f"{digest.file_stem}.md", render_markdown(digest))
    files["txt"] = (out_dir / f"{digest.file_stem}.txt", render_text(digest))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, content in files.values():
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise TagwatchError(
            f"Cannot write the digest to {out_dir}: {exc.strerror or exc}. Check [digest] out_dir"
            " (or --out): it must be a directory you can write to."
        ) from None
    return {kind: path for kind, (path, _) in files.items()}


def out_dir(config: Config) -> Path:
    p = Path(config.digest.out_dir).expanduser()
    return p if p.is_absolute() else config.path.parent / p


def send_digest(config: Config, digest: Digest) -> list[str]:
    """E-mail the digest to [digest] recipients; returns who the server accepted."""
    from tagwatch.reports.digest.render import email_parts
    from tagwatch.reports.mailer import build_message, send_message, smtp_settings

    recipients = list(config.digest.recipients)
    if not recipients:
        raise ConfigError(
            f"{config.path}: digest.recipients is empty; list the addresses to mail the digest to, "
            'e.g. recipients = ["comms@example.org"].'
        )
    settings = smtp_settings(config)
    recipients = [r.strip() for r in recipients]
    text, html, images = email_parts(digest)
    msg = build_message(
        sender=settings.sender,
        recipients=recipients,
        subject=digest.subject,
        text=text,
        html=html,
        images=images,
        date=digest.generated_at.timestamp(),
    )
    return send_message(settings, msg, recipients)


def post_digest_webhook(config: Config, digest: Digest) -> bool:
    """Post the short summary when the webhook variable is set; False when it is not."""
    from tagwatch.reports.digest.render import webhook_text
    from tagwatch.reports.mailer import post_webhook, webhook_url

    url = webhook_url(config)
    if not url:
        return False
    link = ""
    if config.digest.public_url:
        link = config.digest.public_url.rstrip("/") + f"/{digest.file_stem}.html"
    post_webhook(url, {"text": webhook_text(digest, link)}, timeout=config.smtp.timeout_seconds)
    return True


def send_daily_digest(
    config: Config,
    day: date | None = None,
    *,
    conn: sqlite3.Connection | None = None,
    send: bool = True,
    now: datetime | None = None,
    out: Path | None = None,
) -> DigestResult:
    """Build, write and (when `send`) deliver one day's digest: the scheduler's daily job.

    Files are written before anything is sent, so a mail failure never loses the digest.
    """
    digest = build_digest(config, day, now=now, conn=conn)
    result = DigestResult(day=digest.day, digest=digest)
    result.paths = write_digest(digest, out or out_dir(config))
    if send:
        if config.digest.recipients:
            result.emailed_to = send_digest(config, digest)
        result.webhook_posted = post_digest_webhook(config, digest)
    return result
