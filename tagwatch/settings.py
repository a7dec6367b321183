"""config.toml: every setting declared once, with its type, default and meaning.

`SETTINGS` is the single table of truth: validation, defaults, and the README's
config reference all come from it (a test checks every key is documented).
Secrets never live here: the config names environment variables, and
`Config.secret()` reads them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tagwatch.errors import ConfigError
from tagwatch.settings_types import (
    SECTION_TYPES,
    AlertsSection,
    EventSection,
    InstagramSection,
    MastodonSection,
    SectionBase,
    SmtpSection,
    StreamsSection,
    TypedSections,
    WallSection,
)
from tagwatch.urls import safe_url

__all__ = [
    "Setting",
    "SETTINGS",
    "SESSION_SETTINGS",
    "Config",
    "EventConfig",
    "AgendaSession",
    "Check",
    "SectionBase",
    "time_of_day",
    "time_range",
    "is_address",
    "load_config",
    "parse_config",
    "default_config_path",
    "image_type",
    "WALL_LAYOUTS",
    "SHARED_MODERATOR",
    "wall_moderators",
    "PRESET_WORD_MODES",
    "PLATFORMS",
    "trusted_entry",
]

REQUIRED = object()


@dataclass(frozen=True)
class Check:
    """A rule one setting's value must keep, and what the loader says when it does not.

    `says` is formatted with `key` (e.g. `x.query`) and `value` (for a list:
    the offending entry); the loader puts the config file's name in front.
    """

    ok: Callable[[Any], bool]
    says: str


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    type: Any  # a type, or a tuple meaning "list of that type"
    default: Any
    description: str
    secret_env: bool = False  # the value names an environment variable holding a secret
    check: Check | None = None  # for a list: applied to each entry


def _s(section: str, key: str, type_: Any, default: Any, description: str, **kw: Any) -> Setting:
    return Setting(section, key, type_, default, description, **kw)


def above(low: float, says: str) -> Check:
    return Check(lambda v: v > low, says)


def at_least(low: float, says: str) -> Check:
    return Check(lambda v: v >= low, says)


QR_LINKS = ("event", "bluesky", "x", "threads", "mastodon")
WALL_LAYOUTS = ("featured", "grid", "ticker")
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# `[wall] media_hosts` entries: a host name, or "*." and a domain of at least two labels
# (so "*.com" cannot open the proxy to every .com host).
_MEDIA_HOST = re.compile(
    r"^(?:\*\.[a-z0-9-]+(?:\.[a-z0-9-]+)+|[a-z0-9-]+(?:\.[a-z0-9-]+)*)$", re.IGNORECASE
)
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
# One address, no display name: what SMTP's RCPT TO takes.
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def time_of_day(value: str) -> time | None:
    """'HH:MM' as a time; None for '' or anything else (the loader refuses anything else)."""
    match = _HHMM.match(value.strip())
    return time(int(match[1]), int(match[2])) if match else None


def time_range(value: str) -> tuple[time, time] | None:
    """'HH:MM-HH:MM' as (start, end); None for '' or anything else (refused by the loader)."""
    parts = value.split("-")
    if len(parts) != 2:
        return None
    start, end = time_of_day(parts[0]), time_of_day(parts[1])
    return (start, end) if start is not None and end is not None else None


def is_address(value: str) -> bool:
    return bool(_ADDRESS.match(value.strip()))


_ADDRESS_SAYS = '{key} entry {value!r} is not an e-mail address; write each as "name@example.org".'
_NO_LIMIT = at_least(0, "{key} must be 0 (no limit) or more.")
_POSITIVE = above(0, "{key} must be greater than 0.")
_AT_LEAST_1 = at_least(1, "{key} must be at least 1.")


LIST_STR = (str,)

PRESET_WORD_MODES = ("hold", "hide", "off")
# Platforms a trusted_authors entry may name before a colon.
PLATFORMS = ("bluesky", "x", "mastodon", "threads", "instagram")
_NO_RULE_OR_MORE = at_least(0, "{key} must be 0 (rule off) or more, got {value}.")


def trusted_entry(entry: str) -> tuple[str | None, str]:
    """A trusted_authors entry as (platform or None, handle folded, without @)."""
    platform, sep, handle = entry.strip().partition(":")
    if not sep:
        platform, handle = "", platform
    return (platform.strip().lower() or None), handle.strip().lstrip("@").casefold()


def _trusted_entry_ok(entry: str) -> bool:
    platform, handle = trusted_entry(entry)
    return bool(handle) and not any(c.isspace() for c in handle) and platform in (None, *PLATFORMS)


_TRUSTED_SAYS = (
    '{key} entry {value!r} is not a handle; write it as "ana.bsky.social", "@ana" or'
    ' "bluesky:ana.bsky.social" (platforms: ' + ", ".join(PLATFORMS) + ")."
)

SETTINGS: list[Setting] = [
    # [event]
    _s("event", "name", str, REQUIRED, "The event's name, shown on the wall, digest and report."),
    _s(
        "event",
        "hashtags",
        LIST_STR,
        REQUIRED,
        "Hashtags to follow, without '#'; matched case-insensitively. At least one.",
    ),
    _s(
        "event",
        "timezone",
        str,
        "UTC",
        "IANA timezone of the event (e.g. Europe/Belgrade): days and hours are counted in it.",
    ),
    _s(
        "event",
        "start",
        date,
        REQUIRED,
        "First day of the event (YYYY-MM-DD); backfill starts here.",
    ),
    _s("event", "end", date, REQUIRED, "Last day of the event (YYYY-MM-DD)."),
    _s(
        "event",
        "languages",
        LIST_STR,
        ["en"],
        "ISO 639-1 languages expected in the conversation (and `cnr`, Montenegrin); language "
        "detection chooses among them. List the host country's first: it decides Serbian, "
        "Croatian, Bosnian posts that nothing else tells apart.",
    ),
    _s("event", "url", str, "", "The event's web page, linked from the wall and reports."),
    _s(
        "event",
        "call_to_post",
        str,
        "",
        "Invitation shown on the wall, e.g. 'Join the conversation with #HRHN2016'.",
    ),
    # [storage]
    _s(
        "storage",
        "path",
        str,
        "tagwatch.db",
        "SQLite database file; relative paths are relative to the config file.",
    ),
    _s(
        "storage",
        "vacuum_after_purge",
        bool,
        False,
        "Run VACUUM after deleted posts are purged, so their text leaves the file.",
    ),
    _s(
        "storage",
        "backup_every_hours",
        float,
        6.0,
        "`tagwatch run` copies the database this often (verified, while collecting); 0 = never.",
        check=at_least(0, "{key} must be 0 (no backups) or more."),
    ),
    _s(
        "storage",
        "backup_keep",
        int,
        8,
        "Backups kept; the oldest beyond this are deleted.",
        check=at_least(1, "{key} must be at least 1."),
    ),
    _s(
        "storage",
        "backup_dir",
        str,
        "",
        "Folder for backups; empty = `<database name>-backups` beside the database.",
    ),
    # [collect]
    _s(
        "collect",
        "backfill_days",
        int,
        0,
        "Extra days before event.start to backfill on the first run (0 = from the start day).",
    ),
    _s(
        "collect",
        "refresh_max_age_days",
        float,
        3.0,
        "Posts younger than this get their engagement counts refreshed.",
    ),
    _s(
        "collect",
        "max_retries",
        int,
        4,
        "Retries for timeouts and 5xx answers before a pass fails.",
    ),
    _s("collect", "timeout_seconds", float, 30.0, "Timeout of one HTTP request."),
    _s(
        "collect",
        "pass_time_budget_seconds",
        float,
        300.0,
        "A pass waits out a rate limit only if the wait fits in this budget.",
    ),
    _s("collect", "max_pages_per_pass", int, 500, "Upper bound on pages read per query per pass."),
    _s(
        "collect",
        "refresh_requests_per_pass",
        int,
        20,
        "Request budget per pass for refreshing engagement counts.",
    ),
    # [bluesky]
    _s("bluesky", "enabled", bool, False, "Collect from Bluesky."),
    _s("bluesky", "service", str, "https://bsky.social", "Bluesky/AT Protocol service URL."),
    _s(
        "bluesky",
        "handle_env",
        str,
        "TAGWATCH_BLUESKY_HANDLE",
        "Environment variable holding the Bluesky handle to log in with.",
    ),
    _s(
        "bluesky",
        "password_env",
        str,
        "TAGWATCH_BLUESKY_APP_PASSWORD",
        "Environment variable holding a Bluesky app password.",
        secret_env=True,
    ),
    _s(
        "bluesky",
        "interval_minutes",
        float,
        5.0,
        "Minutes between two Bluesky passes.",
        check=_POSITIVE,
    ),
    # [x]
    _s("x", "enabled", bool, False, "Collect from X (paid API)."),
    _s("x", "api_base_url", str, "https://api.twitter.com", "X API base URL."),
    _s(
        "x",
        "bearer_token_env",
        str,
        "TAGWATCH_X_BEARER_TOKEN",
        "Environment variable holding the X API bearer token.",
        secret_env=True,
    ),
    _s("x", "interval_minutes", float, 15.0, "Minutes between two X passes.", check=_POSITIVE),
    _s(
        "x",
        "query",
        str,
        "#{tag} -is:retweet",
        "Search query per hashtag; {tag} is replaced by each event hashtag.",
        check=Check(
            lambda v: "{tag}" in v,
            "{key} {value!r} must contain {{tag}}, where each hashtag goes,"
            ' e.g. "#{{tag}} -is:retweet".',
        ),
    ),
    _s(
        "x",
        "full_archive",
        bool,
        False,
        "Backfill older than 7 days through full-archive search (needs an access level with it).",
    ),
    _s(
        "x",
        "monthly_post_budget",
        int,
        10000,
        "Posts read per calendar month before collection stops (0 = no post limit).",
        check=_NO_LIMIT,
    ),
    _s(
        "x",
        "daily_post_budget",
        int,
        0,
        "Posts read per UTC day before collection pauses until tomorrow (0 = no daily limit).",
        check=_NO_LIMIT,
    ),
    _s(
        "x",
        "budget_usd",
        float,
        0.0,
        "Money to spend per calendar month on posts, users and media read, at the prices"
        " below (0 = no money limit).",
        check=_NO_LIMIT,
    ),
    _s(
        "x",
        "price_per_post_usd",
        float,
        0.005,
        "Price X charges per post read, expanded posts included (once per post per UTC day).",
        check=above(
            0,
            "{key} must be greater than 0 (X's price per post read; see the X developer console).",
        ),
    ),
    _s(
        "x",
        "price_per_user_usd",
        float,
        0.010,
        "Price X charges per user read, e.g. a post's author (once per user per UTC day).",
        check=above(
            0,
            "{key} must be greater than 0 (X's price per user read; see the X developer console).",
        ),
    ),
    _s(
        "x",
        "media",
        bool,
        False,
        "Ask X for posts' pictures (attachments.media_keys): each media item read is billed"
        " at x.price_per_media_usd ($0.005 by default, up to 4 a post); off, posts show"
        " no pictures from X.",
    ),
    _s(
        "x",
        "price_per_media_usd",
        float,
        0.005,
        "Price X charges per media item read (once per item per UTC day).",
        check=above(
            0,
            "{key} must be greater than 0 (X's price per media read; see the X developer console).",
        ),
    ),
    _s(
        "x",
        "refresh_budget_share",
        float,
        0.2,
        "Share of the monthly budget that engagement refreshes may use (0 = never refresh).",
        check=Check(lambda v: 0 <= v <= 1, "{key} must be between 0 and 1."),
    ),
    # [mastodon]
    _s("mastodon", "enabled", bool, False, "Collect from Mastodon."),
    _s(
        "mastodon",
        "instances",
        LIST_STR,
        ["https://mastodon.social"],
        "Instances whose public hashtag timelines are read.",
        check=Check(
            lambda v: v.startswith(("http://", "https://")),
            "{key} entry {value!r} must start with https://",
        ),
    ),
    _s(
        "mastodon",
        "interval_minutes",
        float,
        5.0,
        "Minutes between two Mastodon passes.",
        check=_POSITIVE,
    ),
    _s(
        "mastodon",
        "access_token_envs",
        dict,
        {},
        "Only for instances that show hashtag timelines to logged-in users alone: a table"
        " from instance (URL or host) to the environment variable holding its access token,"
        ' e.g. { "mastodon.social" = "TAGWATCH_MASTODON_SOCIAL_TOKEN" }.',
        secret_env=True,
    ),
    # [threads]: Meta's Threads keyword search (issue #20)
    _s("threads", "enabled", bool, False, "Collect from Threads (keyword search by topic tag)."),
    _s("threads", "api_base_url", str, "https://graph.threads.net", "Threads API base URL."),
    _s(
        "threads",
        "access_token_env",
        str,
        "TAGWATCH_THREADS_ACCESS_TOKEN",
        "Environment variable holding a Threads user token with threads_basic and"
        " threads_keyword_search (long-lived: 60 days).",
        secret_env=True,
    ),
    _s(
        "threads",
        "interval_minutes",
        float,
        15.0,
        "Minutes between two Threads passes.",
        check=_POSITIVE,
    ),
    _s(
        "threads",
        "daily_query_limit",
        int,
        2200,
        "Searches per rolling 24 hours Meta allows the token's user (across all apps).",
    ),
    _s(
        "threads",
        "query_reserve",
        int,
        200,
        "Searches of that limit tagwatch leaves unused, for other apps of the same user.",
    ),
    # [instagram]: Instagram API with Facebook Login, hashtag search (issue #20)
    _s("instagram", "enabled", bool, False, "Collect from Instagram (hashtag search)."),
    _s("instagram", "api_base_url", str, "https://graph.facebook.com", "Graph API base URL."),
    _s("instagram", "api_version", str, "v21.0", "Graph API version in request paths."),
    _s(
        "instagram",
        "user_id",
        str,
        "",
        "Instagram user id of the Business or Creator account the searches are made for.",
    ),
    _s(
        "instagram",
        "access_token_env",
        str,
        "TAGWATCH_INSTAGRAM_ACCESS_TOKEN",
        "Environment variable holding a Facebook user token with instagram_basic and"
        " Instagram Public Content Access (long-lived: 60 days).",
        secret_env=True,
    ),
    _s(
        "instagram",
        "interval_minutes",
        float,
        30.0,
        "Minutes between two Instagram passes.",
        check=_POSITIVE,
    ),
    _s(
        "instagram",
        "top_media",
        bool,
        True,
        "Also read each hashtag's top media (popular posts older than recent_media's 24 h).",
    ),
    _s(
        "instagram",
        "weekly_hashtag_limit",
        int,
        30,
        "Unique hashtags per rolling 7 days Meta allows the account.",
    ),
    # [schedule]: `tagwatch run`
    _s(
        "schedule",
        "session_interval_minutes",
        float,
        0.0,
        "Minutes between passes of every collector while an agenda session runs"
        " (0 = no faster rhythm during sessions).",
        check=at_least(0, "{key} must be 0 or more."),
    ),
    _s(
        "schedule",
        "jitter_seconds",
        float,
        20.0,
        "Each pass starts up to this many seconds late at random, so runs do not align.",
        check=at_least(0, "{key} must be 0 or more."),
    ),
    _s(
        "schedule",
        "digest_time",
        str,
        "07:30",
        "Local time (HH:MM, event timezone) of the daily digest of the day before"
        " ('' = no daily digest).",
        check=Check(
            lambda v: not v.strip() or time_of_day(v) is not None,
            "{key} {value!r} is not a time of day; write it as HH:MM in the event's"
            ' timezone, e.g. digest_time = "07:30".',
        ),
    ),
    _s(
        "schedule",
        "failure_alert_after",
        int,
        3,
        "A collector failing this many passes in a row is flagged in status and the digest.",
        check=at_least(1, "{key} must be 1 or more."),
    ),
    _s(
        "schedule",
        "serve_wall",
        bool,
        False,
        "Also serve the live wall inside `tagwatch run`, on [wall] host and port.",
    ),
    _s(
        "schedule",
        "log_file",
        str,
        "tagwatch.log",
        "Log file of `tagwatch run` and `collect`, rotated; relative to the config file"
        " ('' = stderr only).",
    ),
    _s("schedule", "log_max_bytes", int, 5_000_000, "Size at which the log file is rotated."),
    _s("schedule", "log_backups", int, 5, "Rotated log files kept."),
    # [streams]: live streams inside `tagwatch run` (issue 13)
    _s("streams", "jetstream_enabled", bool, False, "Follow Bluesky live through Jetstream."),
    _s(
        "streams",
        "jetstream_endpoints",
        LIST_STR,
        [
            "wss://jetstream1.us-east.bsky.network/subscribe",
            "wss://jetstream2.us-east.bsky.network/subscribe",
            "wss://jetstream1.us-west.bsky.network/subscribe",
            "wss://jetstream2.us-west.bsky.network/subscribe",
        ],
        "Jetstream hosts, tried in turn when one fails.",
    ),
    _s(
        "streams",
        "jetstream_profiles_service",
        str,
        "https://public.api.bsky.app",
        "Public AppView asked for the handles of Jetstream authors (empty: show DIDs).",
    ),
    _s(
        "streams",
        "mastodon_streaming",
        bool,
        False,
        "Follow each [mastodon] instance's hashtag stream (on instances that allow it).",
    ),
    _s("streams", "x_stream", bool, False, "Follow X's filtered stream (plans that include it)."),
    _s(
        "streams",
        "silence_seconds",
        float,
        120.0,
        "A stream silent this long is reconnected and reported (hashtag streams: in sessions).",
        check=above(
            0,
            "{key} must be more than 0 (seconds without an event before a stream is reconnected).",
        ),
    ),
    _s(
        "streams",
        "replay_window_minutes",
        float,
        1440.0,
        "How far back Jetstream replays from a cursor; longer gaps are filled by search.",
        check=at_least(0, "{key} must be 0 or more."),
    ),
    _s(
        "streams",
        "reconnect_max_seconds",
        float,
        60.0,
        "Longest wait between reconnect attempts (exponential backoff with jitter).",
        check=above(0, "{key} must be more than 0."),
    ),
    # [digest]: `tagwatch digest` and the scheduler's daily digest
    _s(
        "digest",
        "out_dir",
        str,
        "digests",
        "Directory the digest files (HTML, Markdown, text) are written to; relative to the"
        " config file.",
    ),
    _s(
        "digest",
        "recipients",
        LIST_STR,
        [],
        "E-mail addresses the digest is sent to (by `digest --send` and the daily job).",
        check=Check(is_address, _ADDRESS_SAYS),
    ),
    _s(
        "digest",
        "top_n",
        int,
        5,
        "Posts, voices, themes and accounts listed in each section.",
        check=at_least(1, "{key} must be 1 or more, got {value}."),
    ),
    _s(
        "digest",
        "webhook_url_env",
        str,
        "TAGWATCH_DIGEST_WEBHOOK_URL",
        "Environment variable holding a Slack-compatible webhook URL; when set, a short summary"
        " is posted there with the e-mail.",
        secret_env=True,
    ),
    _s(
        "digest",
        "public_url",
        str,
        "",
        "Web address where out_dir is published; the chat summary links to the day's HTML there.",
        check=Check(
            lambda v: not v or bool(safe_url(v)),
            "{key} {value!r} is not an http(s) URL; give the web address where the"
            ' digests are published, e.g. "https://example.org/digests".',
        ),
    ),
    # [smtp]: how the digest is mailed
    _s("smtp", "host", str, "", "SMTP server that sends the digest ('' = e-mail not set up)."),
    _s(
        "smtp",
        "port",
        int,
        587,
        "SMTP port: 587 with STARTTLS, 465 with ssl, 25 plain.",
        check=Check(
            lambda v: 0 < v < 65536,
            "{key} {value} is not a TCP port; use 587 (STARTTLS), 465 (ssl = true) or 25.",
        ),
    ),
    _s("smtp", "starttls", bool, True, "Upgrade the connection with STARTTLS before logging in."),
    _s("smtp", "ssl", bool, False, "Use TLS from the first byte (port 465) instead of STARTTLS."),
    _s("smtp", "user", str, "", "SMTP login name ('' = no login)."),
    _s(
        "smtp",
        "password_env",
        str,
        "TAGWATCH_SMTP_PASSWORD",
        "Environment variable holding the SMTP password.",
        secret_env=True,
    ),
    _s(
        "smtp",
        "sender",
        str,
        "",
        "From address of the digest e-mails, e.g. 'Comms <comms@example.org>'.",
    ),
    _s(
        "smtp",
        "timeout_seconds",
        float,
        30.0,
        "Timeout of the SMTP conversation.",
        check=above(0, "{key} must be more than 0, got {value}."),
    ),
    # [wall]
    _s("wall", "host", str, "127.0.0.1", "Address the wall listens on (loopback unless public)."),
    _s(
        "wall",
        "port",
        int,
        8080,
        "Port the wall listens on.",
        check=Check(
            lambda v: 0 < v < 65536, "{key} {value} is not a TCP port; use 1-65535 (e.g. 8080)."
        ),
    ),
    _s(
        "wall",
        "public",
        bool,
        False,
        "Allow a non-loopback host, i.e. the wall reachable from the network.",
    ),
    _s(
        "wall",
        "moderation",
        str,
        "pre",
        "'pre': a post appears only once approved; 'post': at once, moderators remove.",
        check=Check(
            lambda v: v in ("pre", "post"), "{key} must be 'pre' or 'post', got {value!r}."
        ),
    ),
    _s(
        "wall",
        "token_env",
        str,
        "TAGWATCH_WALL_TOKEN",
        "Environment variable holding the moderation token; unset = moderation off, wall empty.",
        secret_env=True,
    ),
    _s(
        "wall",
        "moderators",
        dict,
        {},
        "Named moderators: a table from name to the environment variable holding that"
        ' moderator\'s token, e.g. { ana = "TAGWATCH_WALL_TOKEN_ANA" }; every action is logged'
        " under the name. token_env's token still works, as the moderator named 'moderator'.",
        secret_env=True,
    ),
    _s(
        "wall",
        "blocked_words",
        LIST_STR,
        [],
        "Words and phrases never shown (case- and accent-insensitive, whole words).",
    ),
    _s(
        "wall",
        "hide_sensitive",
        bool,
        True,
        "Keep posts flagged sensitive (or with flagged media) off the wall unless approved.",
    ),
    _s("wall", "highlights", bool, True, "Show the strip of the day's top posts and counters."),
    _s(
        "wall",
        "max_posts",
        int,
        30,
        "Most recent posts the wall keeps in its rotation.",
        check=at_least(1, "{key} must be 1 or more, got {value}."),
    ),
    _s(
        "wall",
        "rotate_seconds",
        float,
        8.0,
        "Seconds each featured post stays on screen.",
        check=above(0, "{key} must be more than 0, got {value}."),
    ),
    # Layout and branding of the wall (issue 21).
    _s(
        "wall",
        "layout",
        str,
        "featured",
        "'featured': one large post rotating, the newest beside it; 'grid': a masonry of"
        " cards filling the screen; 'ticker': a strip at the bottom of a transparent page,"
        " to overlay a livestream.",
        check=Check(
            lambda v: v in WALL_LAYOUTS,
            "{key} must be 'featured', 'grid' or 'ticker', got {value!r}.",
        ),
    ),
    _s(
        "wall",
        "logo",
        str,
        "",
        "Logo shown on the wall: a PNG, JPEG, WebP or GIF file, relative to the config file"
        " ('' = none).",
        check=Check(
            lambda v: not v.lower().endswith((".svg", ".svgz")),
            "{key} {value!r} is an SVG; export the logo as PNG (the wall serves raster images"
            " only).",
        ),
    ),
    _s(
        "wall",
        "accent_color",
        str,
        "#ffd23f",
        "Accent colour of the hashtag, labels and borders, as #rrggbb.",
        check=Check(
            lambda v: bool(_HEX_COLOR.match(v)),
            '{key} {value!r} is not a colour; write it as #rrggbb, e.g. "#ffd23f".',
        ),
    ),
    _s(
        "wall",
        "theme",
        str,
        "dark",
        "'dark' (light text on dark, for projectors) or 'light'.",
        check=Check(
            lambda v: v in ("dark", "light"), "{key} must be 'dark' or 'light', got {value!r}."
        ),
    ),
    _s(
        "wall",
        "font_scale",
        float,
        1.0,
        "Multiplies the wall's text sizes (0.5-3), e.g. 1.3 for a deep hall; the top bar grows"
        " at most 1.5 times.",
        check=Check(lambda v: 0.5 <= v <= 3, "{key} must be between 0.5 and 3, got {value}."),
    ),
    _s(
        "wall",
        "qr",
        bool,
        True,
        "Show a QR code of [event] url beside the call to post (only when the url is set).",
    ),
    _s(
        "wall",
        "qr_link",
        str,
        "event",
        "What the QR code opens: 'event' ([event] url), or a new post already holding the"
        " event's hashtag on 'bluesky', 'x', 'threads' or 'mastodon' (the first of"
        " [mastodon] instances).",
        check=Check(
            lambda v: v in QR_LINKS,
            "{key} must be one of 'event', 'bluesky', 'x', 'threads', 'mastodon', got {value!r}.",
        ),
    ),
    # Pictures on the wall (issue 21): what the image proxy may fetch and keep.
    _s(
        "wall",
        "media_hosts",
        LIST_STR,
        [],
        "Further hosts the wall's image proxy may fetch pictures from, besides the platforms'"
        " own media hosts and the [mastodon] instances: an exact host or '*.domain', e.g. an"
        ' instance\'s bucket "*.s3.eu-central-1.amazonaws.com".',
        check=Check(
            lambda v: bool(_MEDIA_HOST.match(v)),
            "{key} entry {value!r} is not a host name; write it as 'files.example.org' or"
            " '*.example.org' (no scheme, path or port).",
        ),
    ),
    _s(
        "wall",
        "media_cache_mb",
        int,
        500,
        "Disk space in MB for the wall's picture cache (beside the database; oldest-used"
        " pictures go first).",
        check=at_least(1, "{key} must be 1 or more, got {value}."),
    ),
    # Help against waves (issue 21): hold rules, preset word lists, allow-list mode.
    # Judged on read (reports/wall/rules.py), so a changed value re-judges every post.
    _s(
        "wall",
        "trusted_authors",
        LIST_STR,
        [],
        "Allow-list mode when not empty: these authors' posts are shown at once, everyone"
        " else's wait for approval. Handles with or without @, optionally platform-qualified"
        ' ("bluesky:ana.bsky.social").',
        check=Check(_trusted_entry_ok, _TRUSTED_SAYS),
    ),
    _s(
        "wall",
        "trust_speakers",
        bool,
        False,
        "Add the agenda's speakers and [alerts] protected_accounts to trusted_authors.",
    ),
    _s(
        "wall",
        "preset_words",
        str,
        "hold",
        "What the bundled word lists of [event] languages do: 'hold' (queue the post for a"
        " moderator), 'hide' (never show it, like blocked_words) or 'off'.",
        check=Check(
            lambda v: v in PRESET_WORD_MODES,
            "{key} must be 'hold', 'hide' or 'off', got {value!r}.",
        ),
    ),
    _s(
        "wall",
        "hold_words",
        LIST_STR,
        [],
        "Words and phrases that send a post to the moderation queue (blocked_words hide it).",
    ),
    _s(
        "wall",
        "hold_new_accounts_days",
        int,
        0,
        "Hold posts by accounts younger than this many days when they posted (0 = off).",
        check=_NO_RULE_OR_MORE,
    ),
    _s(
        "wall",
        "hold_unknown_account_age",
        bool,
        False,
        "With hold_new_accounts_days on, also hold authors whose platform does not say the"
        " account's age.",
    ),
    _s(
        "wall",
        "hold_links_over",
        int,
        0,
        "Hold posts with more than this many links (0 = off).",
        check=_NO_RULE_OR_MORE,
    ),
    _s(
        "wall",
        "hold_replies_per_hour",
        int,
        0,
        "Hold an author's replies to a speaker beyond this many in an hour (0 = off).",
        check=_NO_RULE_OR_MORE,
    ),
    # [alerts]: alerts while it happens (issue 22); rules and channels in monitor/alerts/
    _s("alerts", "enabled", bool, False, "Raise alerts as posts arrive (needs a channel below)."),
    _s(
        "alerts",
        "webhook_url_env",
        str,
        "TAGWATCH_ALERTS_WEBHOOK_URL",
        "Environment variable holding a Slack-compatible incoming webhook URL (Slack,"
        " Mattermost, Rocket.Chat); unset = no chat webhook.",
        secret_env=True,
    ),
    _s(
        "alerts",
        "matrix_homeserver",
        str,
        "",
        "Matrix homeserver URL, e.g. https://matrix.org ('' = no Matrix room).",
        check=Check(
            lambda v: not v or v.startswith(("http://", "https://")),
            "{key} {value!r} must start with https://.",
        ),
    ),
    _s("alerts", "matrix_room", str, "", "Matrix room id the alerts go to, e.g. !abc:matrix.org."),
    _s(
        "alerts",
        "matrix_token_env",
        str,
        "TAGWATCH_ALERTS_MATRIX_TOKEN",
        "Environment variable holding the access token of the Matrix account that posts.",
        secret_env=True,
    ),
    _s(
        "alerts",
        "email_recipients",
        LIST_STR,
        [],
        "E-mail addresses alerts are mailed to, through the [smtp] settings ([] = no e-mail).",
        check=Check(is_address, _ADDRESS_SAYS),
    ),
    _s(
        "alerts",
        "protected_accounts",
        LIST_STR,
        [],
        "Handles watched for pile-ons besides the agenda's speakers (the organisation, guests).",
    ),
    _s("alerts", "surge", bool, True, "Alert when posts in the last minutes far exceed the usual."),
    _s(
        "alerts",
        "surge_window_minutes",
        float,
        15.0,
        "Minutes a surge is counted over.",
        check=_POSITIVE,
    ),
    _s(
        "alerts",
        "surge_factor",
        float,
        3.0,
        "A surge: posts in the window at least this many times the same window on earlier days.",
        check=_POSITIVE,
    ),
    _s(
        "alerts",
        "surge_min_posts",
        int,
        20,
        "Floor: fewer posts than this in the window never make a surge, whatever the baseline.",
        check=_AT_LEAST_1,
    ),
    _s("alerts", "pile_on", bool, True, "Alert when replies and mentions pile onto one account."),
    _s(
        "alerts",
        "pile_on_window_minutes",
        float,
        30.0,
        "Minutes a pile-on is counted over.",
        check=_POSITIVE,
    ),
    _s(
        "alerts",
        "pile_on_min_posts",
        int,
        5,
        "Fewest posts aimed at one account (replies, mentions) before a pile-on is considered.",
        check=_AT_LEAST_1,
    ),
    _s(
        "alerts",
        "pile_on_min_score",
        float,
        8.0,
        "Pile-on score to alert at: each aimed post counts 1, plus 1 each for negative tone, a"
        " blocked word ([wall] blocked_words) and an author new to the hashtag.",
    ),
    _s(
        "alerts",
        "collection",
        bool,
        True,
        "Alert when collection stops: failing passes ([schedule] failure_alert_after), X budget"
        " at 80 % and 100 %, a stream silent during a session.",
    ),
    _s(
        "alerts",
        "post_to_look_at",
        bool,
        True,
        "Alert when one post's engagement is far above the event's typical post.",
    ),
    _s(
        "alerts",
        "post_factor",
        float,
        10.0,
        "A post to look at: engagement at least this many times the typical recent post.",
        check=_POSITIVE,
    ),
    _s(
        "alerts",
        "post_every_minutes",
        float,
        60.0,
        "At most one 'post to look at' alert this often, so busy days do not spend the"
        " daily cap that a surge or pile-on may need.",
    ),
    _s(
        "alerts",
        "post_min_engagement",
        int,
        50,
        "Floor: a post with less engagement (likes, reposts, replies, quotes) never alerts.",
        check=_AT_LEAST_1,
    ),
    _s(
        "alerts",
        "cooldown_minutes",
        float,
        30.0,
        "After a cause is back to normal, the same cause does not alert again for this long.",
        check=at_least(0, "{key} must be 0 or more."),
    ),
    _s(
        "alerts",
        "quiet_hours",
        str,
        "",
        "Local times (HH:MM-HH:MM, event timezone) when alerts are stored but not sent,"
        " e.g. '23:00-07:00' ('' = none).",
        check=Check(
            lambda v: not v.strip() or time_range(v) is not None,
            "{key} {value!r} is not a range of local times; write it as HH:MM-HH:MM in"
            ' the event\'s timezone, e.g. quiet_hours = "23:00-07:00".',
        ),
    ),
    _s(
        "alerts",
        "daily_cap",
        int,
        20,
        "Most alerts sent per channel per local day; the rest are stored, not sent.",
        check=_AT_LEAST_1,
    ),
]

SESSION_SETTINGS: list[Setting] = [
    _s("event.sessions", "title", str, REQUIRED, "Session title."),
    _s(
        "event.sessions",
        "start",
        datetime,
        REQUIRED,
        "Local start time in the event's timezone (e.g. 2016-11-24T10:00:00).",
    ),
    _s("event.sessions", "end", datetime, REQUIRED, "Local end time in the event's timezone."),
    _s("event.sessions", "room", str, "", "Room or venue."),
    _s("event.sessions", "speakers", LIST_STR, [], "Speakers' handles; mentions attribute posts."),
    _s("event.sessions", "hashtags", LIST_STR, [], "Session hashtags (without '#')."),
    _s(
        "event.sessions", "prompt", str, "", "Prompt to post, shown on the wall during the session."
    ),
]

_SUBSECTIONS = {"event": {"sessions"}}


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return f"list of {t[0].__name__}"
    return {
        str: "string",
        int: "integer",
        float: "number",
        bool: "true/false",
        date: "date (YYYY-MM-DD)",
        datetime: "date-time",
        time: "time",
        dict: "table",
    }.get(t, str(t))


def _check_type(value: Any, t: Any, where: str, source: str) -> Any:
    def fail() -> ConfigError:
        return ConfigError(
            f"{source}: {where} must be a {_type_name(t)}, got {value!r} ({type(value).__name__})."
        )

    if isinstance(t, tuple):
        if not isinstance(value, list):
            raise fail()
        for item in value:
            if not isinstance(item, t[0]) or isinstance(item, bool) and t[0] is not bool:
                raise fail()
        return tuple(value)
    if t is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail()
        return float(value)
    if t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        return value
    if t is date:
        # TOML dates are date objects; a datetime is a subclass, reject it.
        if isinstance(value, datetime) or not isinstance(value, date):
            raise fail()
        return value
    if t is datetime:
        if not isinstance(value, datetime):
            raise fail()
        return value
    if not isinstance(value, t):
        raise fail()
    return value


@dataclass(frozen=True)
class AgendaSession:
    title: str
    start: datetime  # aware, event timezone
    end: datetime
    room: str = ""
    speakers: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    prompt: str = ""


@dataclass(frozen=True)
class EventConfig:
    name: str
    hashtags: tuple[str, ...]
    tz: ZoneInfo
    start: date
    end: date
    languages: tuple[str, ...] = ("en",)
    url: str = ""
    call_to_post: str = ""
    sessions: tuple[AgendaSession, ...] = ()

    @property
    def tags(self) -> frozenset[str]:
        """The tracked hashtags case-folded, for matching; `hashtags` keeps the display form."""
        return frozenset(t.casefold() for t in self.hashtags)

    @property
    def timezone(self) -> str:
        return self.tz.key

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Start and end (exclusive) of a local calendar day, as aware datetimes."""
        start = datetime.combine(day, time(0), tzinfo=self.tz)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz)
        return start, end

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass
class Config(TypedSections):
    """A validated config: `config.event` parsed, `config.<section>` typed (settings_types.py).

    `sections` keeps the same section objects by name, for code that picks a
    platform by name: `config.platform("x")` gives its enabled and interval.
    """

    path: Path
    event: EventConfig
    sections: dict[str, SectionBase] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        p = Path(self.storage.path).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    @property
    def backup_dir(self) -> Path:
        """`[storage] backup_dir` (relative to the config file), or beside the database."""
        configured = self.storage.backup_dir
        if not configured:
            return self.db_path.parent / f"{self.db_path.stem}-backups"
        p = Path(configured).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    @property
    def wall_logo(self) -> Path | None:
        """`[wall] logo` resolved against the config file's folder; None when unset."""
        if not self.wall.logo:
            return None
        p = Path(self.wall.logo).expanduser()
        return p if p.is_absolute() else (self.path.parent / p)

    def secret(self, env_name: str) -> str | None:
        value = os.environ.get(env_name, "")
        return value or None


def default_config_path() -> Path:
    return Path(os.environ.get("TAGWATCH_CONFIG") or "config.toml")


def load_config(path: str | Path | None = None) -> Config:
    path = Path(path) if path is not None else default_config_path()
    if not path.exists():
        raise ConfigError(
            f"Config file {path} not found. Write one for your event with `tagwatch init`, "
            "or pass --config PATH (or set TAGWATCH_CONFIG)."
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the syntax at that line.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc}). Save the file as UTF-8.") from exc
    return parse_config(data, path=path)


def _validate_table(
    table: dict[str, Any], specs: list[Setting], where: str, source: str
) -> dict[str, Any]:
    known = {s.key: s for s in specs}
    allowed_sub = _SUBSECTIONS.get(where, set())
    for key in table:
        if key not in known and key not in allowed_sub:
            hint = ", ".join(sorted(known))
            raise ConfigError(f"{source}: unknown key '{where}.{key}'. Known keys: {hint}.")
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.key in table:
            key = f"{where}.{spec.key}"
            value = values[spec.key] = _check_type(table[spec.key], spec.type, key, source)
            if spec.check is not None:
                for item in value if isinstance(value, tuple) else [value]:
                    if not spec.check.ok(item):
                        raise ConfigError(
                            f"{source}: {spec.check.says.format(key=key, value=item)}"
                        )
        elif spec.default is REQUIRED:
            raise ConfigError(
                f"{source}: missing required key '{where}.{spec.key}' ({spec.description})"
            )
        else:
            default = spec.default
            values[spec.key] = tuple(default) if isinstance(default, list) else default
    return values


def _local(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt.astimezone(tz)


def _clean_tag(tag: str) -> str:
    return tag.strip().lstrip("#").strip()


# Checks that read more than one setting of a section; a setting's own range,
# choices and form are its `check` in SETTINGS.


def _check_mastodon(section: MastodonSection, source: str) -> None:
    """Each access_token_envs entry names a listed instance and an environment variable."""
    known: set[str] = set()
    for url in section.instances:
        base = url.strip().rstrip("/").lower()
        known |= {base, base.split("://", 1)[-1]}
    for key, env in section.access_token_envs.items():
        if not isinstance(env, str) or not env:
            raise ConfigError(
                f"{source}: mastodon.access_token_envs[{key!r}] must be the name of an "
                f"environment variable, got {env!r}."
            )
        if key.strip().rstrip("/").lower() not in known:
            raise ConfigError(
                f"{source}: mastodon.access_token_envs has {key!r}, which is not in "
                "mastodon.instances; use an instance's URL or host name."
            )


def _check_instagram(ig: InstagramSection, source: str) -> None:
    if ig.enabled and not ig.user_id.strip():
        raise ConfigError(
            f"{source}: instagram.user_id is empty: set it to the Instagram user id of the"
            " Business or Creator account (GET /me/accounts?fields=instagram_business_account"
            " gives it)."
        )


def _check_streams(cfg: StreamsSection, source: str) -> None:
    if cfg.jetstream_enabled and not cfg.jetstream_endpoints:
        raise ConfigError(
            f"{source}: streams.jetstream_endpoints is empty: list at least one Jetstream"
            " host (wss://…/subscribe) or set streams.jetstream_enabled = false."
        )


def _check_smtp(smtp: SmtpSection, source: str) -> None:
    if smtp.ssl and smtp.starttls:
        raise ConfigError(
            f"{source}: smtp.ssl and smtp.starttls are both true; use ssl = true for port 465 "
            "or starttls = true for port 587, not both."
        )


def _check_alerts(cfg: AlertsSection, source: str) -> None:
    if bool(cfg.matrix_homeserver) != bool(cfg.matrix_room):
        raise ConfigError(
            f"{source}: alerts.matrix_homeserver and alerts.matrix_room go together; set"
            ' both (e.g. matrix_homeserver = "https://matrix.org",'
            ' matrix_room = "!abc:matrix.org") or neither.'
        )


# What each raster format's file starts with: the logo is checked by its bytes,
# not its name, so an SVG renamed .png is refused too.
IMAGE_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


def image_type(head: bytes) -> str | None:
    """The content type of a PNG, JPEG, GIF or WebP file from its first bytes, else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    for kind, magics in IMAGE_MAGIC.items():
        if head.startswith(magics):
            return kind
    return None


def _check_wall(config: Config, source: str) -> None:
    logo = config.wall_logo
    if logo is None:
        return
    try:
        with logo.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ConfigError(
            f"{source}: wall.logo {config.wall.logo!r}: cannot read {logo} ({exc.strerror});"
            " give a PNG, JPEG, WebP or GIF file, relative to the config file."
        ) from exc
    if image_type(head) is None:
        raise ConfigError(
            f"{source}: wall.logo {config.wall.logo!r} is not a PNG, JPEG, WebP or GIF image;"
            " export the logo in one of these formats."
        )


# The name the token in [wall] token_env moderates under (the single-token setup).
SHARED_MODERATOR = "moderator"
_MODERATOR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_moderators(wall: WallSection, source: str) -> None:
    """Names that read well in the log ("ana approved #123"), variables that look like
    variables, and no token shared: a shared variable would log two people as one."""
    used = {wall.token_env: f"wall.token_env ({SHARED_MODERATOR!r})"}
    for name, env in wall.moderators.items():
        where = f"wall.moderators.{name}"
        if not _MODERATOR_NAME.match(name):
            raise ConfigError(
                f"{source}: wall.moderators has the name {name!r}; a moderator's name is a short"
                " identifier (a letter, then letters, digits, _ or -, at most 32), e.g. ana."
            )
        if name == SHARED_MODERATOR:
            raise ConfigError(
                f"{source}: wall.moderators cannot name someone {SHARED_MODERATOR!r}: it is the"
                f" name of the token in wall.token_env; pick the person's own name."
            )
        if not isinstance(env, str) or not _ENV_NAME.match(env):
            raise ConfigError(
                f"{source}: {where} must be the name of an environment variable holding"
                f' {name}\'s token, e.g. "TAGWATCH_WALL_TOKEN_{name.upper().replace("-", "_")}";'
                f" got {env!r}."
            )
        if env in used:
            raise ConfigError(
                f"{source}: {where} names ${env}, already used by {used[env]}; give each"
                " moderator a variable of their own, so the log tells them apart."
            )
        used[env] = where


def wall_moderators(config: Config) -> dict[str, str]:
    """Every moderator's name and the environment variable holding their token: the
    [wall] token_env one as SHARED_MODERATOR, then [wall] moderators in config order."""
    return {SHARED_MODERATOR: config.wall.token_env, **config.wall.moderators}


def _check_sections(config: Config, source: str) -> None:
    _check_wall(config, source)
    _check_moderators(config.wall, source)
    _check_mastodon(config.mastodon, source)
    _check_instagram(config.instagram, source)
    _check_streams(config.streams, source)
    _check_smtp(config.smtp, source)
    _check_alerts(config.alerts, source)


def parse_config(data: dict[str, Any], *, path: str | Path = "config.toml") -> Config:
    """Validate a parsed TOML document; every error names the key and the file."""
    path = Path(path)
    source = str(path)
    by_section: dict[str, list[Setting]] = {}
    for spec in SETTINGS:
        by_section.setdefault(spec.section, []).append(spec)
    for name, value in data.items():
        if name not in by_section:
            raise ConfigError(
                f"{source}: unknown section [{name}]. Known sections: "
                f"{', '.join(sorted(by_section))}."
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{name}] must be a table (a [{name}] section).")
    if "event" not in data:
        raise ConfigError(f"{source}: missing [event] section with name, hashtags, start, end.")
    sections: dict[str, SectionBase] = {
        name: SECTION_TYPES[name](**_validate_table(data.get(name, {}), specs, name, source))
        for name, specs in by_section.items()
    }
    ev = sections["event"]
    assert isinstance(ev, EventSection)
    hashtags = tuple(
        {_clean_tag(t).casefold(): _clean_tag(t) for t in ev.hashtags if _clean_tag(t)}.values()
    )
    if not hashtags:
        raise ConfigError(
            f'{source}: event.hashtags is empty; list at least one, e.g. hashtags = ["HRHN2016"].'
        )
    for tag in hashtags:
        if any(c.isspace() for c in tag):
            raise ConfigError(
                f"{source}: event.hashtags entry {tag!r} contains spaces; a hashtag is one word."
            )
    try:
        tz = ZoneInfo(ev.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{source}: event.timezone {ev.timezone!r} is not a known IANA timezone; "
            "use a name like 'Europe/Belgrade' or 'UTC'."
        ) from exc
    if ev.end < ev.start:
        raise ConfigError(f"{source}: event.end ({ev.end}) is before event.start ({ev.start}).")
    raw_sessions = data["event"].get("sessions", [])
    if not isinstance(raw_sessions, list):
        raise ConfigError(f"{source}: event.sessions must be written as [[event.sessions]] tables.")
    sessions = []
    for i, item in enumerate(raw_sessions):
        where = f"event.sessions[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: {where} must be a table.")
        values = _validate_table(item, SESSION_SETTINGS, "event.sessions", source)
        start, end = _local(values["start"], tz), _local(values["end"], tz)
        if end <= start:
            raise ConfigError(f"{source}: {where} ('{values['title']}') ends before it starts.")
        sessions.append(
            AgendaSession(
                title=values["title"],
                start=start,
                end=end,
                room=values["room"],
                speakers=tuple(s.lstrip("@") for s in values["speakers"]),
                hashtags=tuple(_clean_tag(h).casefold() for h in values["hashtags"]),
                prompt=values["prompt"],
            )
        )
    event = EventConfig(
        name=ev.name,
        hashtags=hashtags,
        tz=tz,
        start=ev.start,
        end=ev.end,
        languages=tuple(ev.languages),
        url=ev.url,
        call_to_post=ev.call_to_post,
        sessions=tuple(sorted(sessions, key=lambda s: s.start)),
    )
    config = Config(path=path, event=event, sections=sections, raw=data)
    _check_sections(config, source)
    return config
