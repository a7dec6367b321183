"""config.toml's sections as typed, frozen dataclasses (generated: do not edit).

Generated from SETTINGS in tagwatch/settings.py by `python -m tagwatch.monitor.docs`;
tests/test_settings_types.py fails when this file is out of date. Why generated: mypy
sees every setting's type (`config.x.budget_usd` is a float), while SETTINGS stays
the one table where a setting is declared, defaulted, checked and documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import TypeVar

__all__ = [
    "SectionBase",
    "PlatformSection",
    "EventSection",
    "StorageSection",
    "CollectSection",
    "BlueskySection",
    "XSection",
    "MastodonSection",
    "ThreadsSection",
    "InstagramSection",
    "ScheduleSection",
    "StreamsSection",
    "DigestSection",
    "SmtpSection",
    "WallSection",
    "AlertsSection",
    "SECTION_TYPES",
    "PLATFORM_SECTIONS",
    "TypedSections",
]


@dataclass(frozen=True)
class SectionBase:
    """One validated section, every default filled in; attribute names are the config keys."""

    def get(self, key: str) -> object:
        """A setting by its key, for code that walks SETTINGS (secret redaction)."""
        if key not in self.keys():
            raise KeyError(f"no setting {key!r} in this section")
        value: object = getattr(self, key)
        return value

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, object]:
        return {key: self.get(key) for key in self.keys()}


@dataclass(frozen=True)
class PlatformSection(SectionBase):
    """What every platform's section has, for code that picks a platform by name."""

    enabled: bool
    interval_minutes: float


@dataclass(frozen=True)
class EventSection(SectionBase):
    """[event]"""

    name: str
    hashtags: tuple[str, ...]
    timezone: str
    start: date
    end: date
    languages: tuple[str, ...]
    url: str
    call_to_post: str


@dataclass(frozen=True)
class StorageSection(SectionBase):
    """[storage]"""

    path: str
    vacuum_after_purge: bool
    backup_every_hours: float
    backup_keep: int
    backup_dir: str


@dataclass(frozen=True)
class CollectSection(SectionBase):
    """[collect]"""

    backfill_days: int
    refresh_max_age_days: float
    max_retries: int
    timeout_seconds: float
    pass_time_budget_seconds: float
    max_pages_per_pass: int
    refresh_requests_per_pass: int


@dataclass(frozen=True)
class BlueskySection(PlatformSection):
    """[bluesky]"""

    service: str
    handle_env: str
    password_env: str


@dataclass(frozen=True)
class XSection(PlatformSection):
    """[x]"""

    api_base_url: str
    bearer_token_env: str
    query: str
    full_archive: bool
    monthly_post_budget: int
    daily_post_budget: int
    budget_usd: float
    price_per_post_usd: float
    price_per_user_usd: float
    media: bool
    price_per_media_usd: float
    refresh_budget_share: float


@dataclass(frozen=True)
class MastodonSection(PlatformSection):
    """[mastodon]"""

    instances: tuple[str, ...]
    access_token_envs: Mapping[str, str]


@dataclass(frozen=True)
class ThreadsSection(PlatformSection):
    """[threads]"""

    api_base_url: str
    access_token_env: str
    daily_query_limit: int
    query_reserve: int


@dataclass(frozen=True)
class InstagramSection(PlatformSection):
    """[instagram]"""

    api_base_url: str
    api_version: str
    user_id: str
    access_token_env: str
    top_media: bool
    weekly_hashtag_limit: int


@dataclass(frozen=True)
class ScheduleSection(SectionBase):
    """[schedule]"""

    session_interval_minutes: float
    jitter_seconds: float
    digest_time: str
    failure_alert_after: int
    serve_wall: bool
    log_file: str
    log_max_bytes: int
    log_backups: int


@dataclass(frozen=True)
class StreamsSection(SectionBase):
    """[streams]"""

    jetstream_enabled: bool
    jetstream_endpoints: tuple[str, ...]
    jetstream_profiles_service: str
    mastodon_streaming: bool
    x_stream: bool
    silence_seconds: float
    replay_window_minutes: float
    reconnect_max_seconds: float


@dataclass(frozen=True)
class DigestSection(SectionBase):
    """[digest]"""

    out_dir: str
    recipients: tuple[str, ...]
    top_n: int
    webhook_url_env: str
    public_url: str


@dataclass(frozen=True)
class SmtpSection(SectionBase):
    """[smtp]"""

    host: str
    port: int
    starttls: bool
    ssl: bool
    user: str
    password_env: str
    sender: str
    timeout_seconds: float


@dataclass(frozen=True)
class WallSection(SectionBase):
    """[wall]"""

    host: str
    port: int
    public: bool
    moderation: str
    token_env: str
    moderators: Mapping[str, str]
    blocked_words: tuple[str, ...]
    hide_sensitive: bool
    highlights: bool
    max_posts: int
    rotate_seconds: float
    layout: str
    logo: str
    accent_color: str
    theme: str
    font_scale: float
    qr: bool
    qr_link: str
    media_hosts: tuple[str, ...]
    media_cache_mb: int
    trusted_authors: tuple[str, ...]
    trust_speakers: bool
    preset_words: str
    hold_words: tuple[str, ...]
    hold_new_accounts_days: int
    hold_unknown_account_age: bool
    hold_links_over: int
    hold_replies_per_hour: int


@dataclass(frozen=True)
class AlertsSection(SectionBase):
    """[alerts]"""

    enabled: bool
    webhook_url_env: str
    matrix_homeserver: str
    matrix_room: str
    matrix_token_env: str
    email_recipients: tuple[str, ...]
    protected_accounts: tuple[str, ...]
    surge: bool
    surge_window_minutes: float
    surge_factor: float
    surge_min_posts: int
    pile_on: bool
    pile_on_window_minutes: float
    pile_on_min_posts: int
    pile_on_min_score: float
    collection: bool
    post_to_look_at: bool
    post_factor: float
    post_every_minutes: float
    post_min_engagement: int
    cooldown_minutes: float
    quiet_hours: str
    daily_cap: int


SECTION_TYPES: dict[str, type[SectionBase]] = {
    "event": EventSection,
    "storage": StorageSection,
    "collect": CollectSection,
    "bluesky": BlueskySection,
    "x": XSection,
    "mastodon": MastodonSection,
    "threads": ThreadsSection,
    "instagram": InstagramSection,
    "schedule": ScheduleSection,
    "streams": StreamsSection,
    "digest": DigestSection,
    "smtp": SmtpSection,
    "wall": WallSection,
    "alerts": AlertsSection,
}
PLATFORM_SECTIONS = ("bluesky", "x", "mastodon", "threads", "instagram")

_S = TypeVar("_S", bound=SectionBase)


def _section(sections: Mapping[str, SectionBase], name: str, kind: type[_S]) -> _S:
    section = sections[name]
    if not isinstance(section, kind):
        raise TypeError(f"[{name}] holds a {type(section).__name__}, not a {kind.__name__}")
    return section


class TypedSections:
    """`config.<section>`: each section as its dataclass (Config inherits this)."""

    sections: dict[str, SectionBase]

    def platform(self, name: str) -> PlatformSection:
        """A platform's section by its name (`bluesky`, `x`, ...): enabled, interval_minutes."""
        return _section(self.sections, name, PlatformSection)

    @property
    def storage(self) -> StorageSection:
        return _section(self.sections, "storage", StorageSection)

    @property
    def collect(self) -> CollectSection:
        return _section(self.sections, "collect", CollectSection)

    @property
    def bluesky(self) -> BlueskySection:
        return _section(self.sections, "bluesky", BlueskySection)

    @property
    def x(self) -> XSection:
        return _section(self.sections, "x", XSection)

    @property
    def mastodon(self) -> MastodonSection:
        return _section(self.sections, "mastodon", MastodonSection)

    @property
    def threads(self) -> ThreadsSection:
        return _section(self.sections, "threads", ThreadsSection)

    @property
    def instagram(self) -> InstagramSection:
        return _section(self.sections, "instagram", InstagramSection)

    @property
    def schedule(self) -> ScheduleSection:
        return _section(self.sections, "schedule", ScheduleSection)

    @property
    def streams(self) -> StreamsSection:
        return _section(self.sections, "streams", StreamsSection)

    @property
    def digest(self) -> DigestSection:
        return _section(self.sections, "digest", DigestSection)

    @property
    def smtp(self) -> SmtpSection:
        return _section(self.sections, "smtp", SmtpSection)

    @property
    def wall(self) -> WallSection:
        return _section(self.sections, "wall", WallSection)

    @property
    def alerts(self) -> AlertsSection:
        return _section(self.sections, "alerts", AlertsSection)
