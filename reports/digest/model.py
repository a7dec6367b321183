"""The digest's plain data: what the templates render (HTML, Markdown, text, chat).

Kept apart from the queries in `tagwatch.reports.digest.build` so the shape a template may rely on
is visible at a glance; nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from tagwatch.reports.charts import PLATFORM_LABELS
from tagwatch.reports.digest.health import CollectorDay
from tagwatch.reports.figures import author_label, engagement, known_counts

__all__ = [
    "PLATFORMS",
    "PLATFORM_NAMES",
    "Figure",
    "PostView",
    "ThemeView",
    "SessionView",
    "Account",
    "Share",
    "AlertView",
    "Digest",
    "DigestResult",
]

PLATFORMS = ("bluesky", "x", "mastodon", "threads", "instagram")
PLATFORM_NAMES = PLATFORM_LABELS


@dataclass(frozen=True)
class Figure:
    """A headline number with the day before, so a reader sees the direction."""

    label: str
    value: int
    previous: int | None
    note: str = ""

    @property
    def change(self) -> str:
        if self.previous is None:
            return ""
        diff = self.value - self.previous
        if self.previous == 0:
            return "new" if self.value else "no change"
        if diff == 0:
            return "no change"
        pct = round(100 * diff / self.previous)
        return f"{diff:+,} ({pct:+d}%)"

    @property
    def short_change(self) -> str:
        """The difference alone, for inline lists: "+2", "new", ""."""
        if self.previous is None or self.value == self.previous:
            return ""
        return "new" if self.previous == 0 else f"{self.value - self.previous:+,}"

    @property
    def direction(self) -> str:
        if self.previous is None or self.value == self.previous:
            return "flat"
        return "up" if self.value > self.previous else "down"


@dataclass(frozen=True)
class PostView:
    platform: str
    url: str
    author_handle: str
    author_name: str
    text: str
    time: str  # local HH:MM
    likes: int | None  # None: the platform does not give it (unknown, not zero)
    reposts: int | None
    replies: int | None
    quotes: int | None
    reason: str = ""  # why it is in "to look at"

    @property
    def engagement(self) -> int:
        return engagement(self.likes, self.reposts, self.replies, self.quotes)

    @property
    def who(self) -> str:
        """The author's name, else handle, else "an Instagram account" (no author given)."""
        return author_label(self.platform, self.author_handle, self.author_name)

    @property
    def counts(self) -> list[tuple[int, str, str]]:
        """The counts the platform gave, for `plural`; unknown counts are not shown as 0."""
        return known_counts(self.likes, self.reposts, self.replies, self.quotes)

    @property
    def platform_name(self) -> str:
        return PLATFORM_NAMES.get(self.platform, self.platform)


@dataclass(frozen=True)
class ThemeView:
    label: str
    kind: str  # "phrase" or "hashtag"
    posts: int
    previous: int | None
    trend: str | None
    examples: tuple[PostView, ...] = ()


@dataclass(frozen=True)
class SessionView:
    title: str
    time: str  # "10:00–11:30"
    room: str
    posts: int
    authors: int
    engagement: int
    themes: tuple[str, ...]
    top_post: PostView | None


@dataclass(frozen=True)
class Account:
    handle: str
    name: str
    platform: str
    posts: int
    engagement: int


@dataclass(frozen=True)
class Share:
    label: str
    count: int
    share: float  # 0..1


@dataclass(frozen=True)
class AlertView:
    """One alert of the day as the digest lists it: what, when, and what reached people.

    Counts are of the alert's own message per channel (not its "back to normal"):
    sent, held back by quiet hours or the daily cap, or failed after retries.
    """

    kind: str
    title: str
    target: str
    fired: str  # local HH:MM
    resolved: str  # local HH:MM, with the date when a later day; "" while still on
    sent: int = 0
    quiet_hours: int = 0
    daily_cap: int = 0
    failed: int = 0
    queued: int = 0  # not yet sent when the digest was made

    @property
    def outcome(self) -> str:
        """ "sent 2, held back by quiet hours 1", or "not sent (no channel)"."""
        parts = [
            f"{label} {n}"
            for label, n in (
                ("sent", self.sent),
                ("held back by quiet hours", self.quiet_hours),
                ("held back by the daily cap", self.daily_cap),
                ("failed", self.failed),
                ("waiting to be sent", self.queued),
            )
            if n
        ]
        return ", ".join(parts) or "not sent (no channel)"


@dataclass
class Digest:
    event_name: str
    hashtags: tuple[str, ...]
    day: date
    timezone: str
    generated_at: datetime
    posts: int
    headline: list[Figure] = field(default_factory=list)
    platforms: list[Figure] = field(default_factory=list)
    peak_hour: str = ""
    sessions: list[SessionView] = field(default_factory=list)
    top_posts: list[PostView] = field(default_factory=list)
    themes: list[ThemeView] = field(default_factory=list)
    themes_are_new: bool = True  # False: nothing new or rising, the day's main themes instead
    voices: list[Account] = field(default_factory=list)
    mentioned: list[Share] = field(default_factory=list)
    languages: list[Share] = field(default_factory=list)
    sentiment: list[Share] = field(default_factory=list)
    sentiment_scored: int = 0
    sentiment_unscored: int = 0
    to_look_at: list[PostView] = field(default_factory=list)
    alerts: list[AlertView] = field(default_factory=list)  # newest first
    health: list[CollectorDay] = field(default_factory=list)
    restricted_posts: int = 0
    reach: int = 0
    reach_label: str = ""
    # Which figures leave which platform out (Threads: engagement; Instagram: authors,
    # voices, reach), for the platforms with posts this day.
    notes: list[str] = field(default_factory=list)
    charts: dict[str, bytes] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.posts == 0

    @property
    def health_problems(self) -> list[CollectorDay]:
        return [h for h in self.health if h.problem]

    @property
    def collection_ok(self) -> bool:
        """Passes ran and none failed: an empty day really was quiet."""
        return any(h.passes for h in self.health) and not self.health_problems

    @property
    def summary_line(self) -> str:
        """One line for the inbox preview: the count, its change, and any warning."""
        if self.empty:
            parts = ["No posts"]
        else:
            first = self.headline[0]
            parts = [f"{self.posts:,} posts" + (f" ({first.change})" if first.change else "")]
            if self.to_look_at:
                parts.append(f"{len(self.to_look_at)} to look at")
        if self.health_problems:
            parts.append("collection problems: " + ", ".join(h.label for h in self.health_problems))
        return " · ".join(parts)

    @property
    def title(self) -> str:
        return f"{self.event_name}: daily digest for {self.day_label}"

    @property
    def day_label(self) -> str:
        return f"{self.day:%A} {self.day.day} {self.day:%B %Y}"

    @property
    def subject(self) -> str:
        posts = f"{self.posts:,} post{'s' if self.posts != 1 else ''}"
        warn = " (collection problems)" if self.health_problems else ""
        return (
            f"{self.event_name} digest, {self.day:%a} {self.day.day} {self.day:%b}: {posts}{warn}"
        )

    @property
    def file_stem(self) -> str:
        return f"digest-{self.day.isoformat()}"


@dataclass
class DigestResult:
    day: date
    digest: Digest
    paths: dict[str, Path] = field(default_factory=dict)
    emailed_to: list[str] = field(default_factory=list)
    webhook_posted: bool = False
