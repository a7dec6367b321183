"""The plain data the analysis returns: frozen dataclasses, no behaviour beyond arithmetic.

Kept apart from the queries so templates (digest, wall, impact report) can
import the shapes without pulling in SQL. Engagement is defined here, once
(`engagement`, `engagement_sql`): every figure, ranking and query that adds
up likes, reposts, replies and quotes goes through these two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "engagement",
    "engagement_sql",
    "ENGAGEMENT_COUNTS",
    "ENGAGEMENT_LABEL",
    "UNKNOWN_AUTHOR_LABELS",
    "author_label",
    "known_counts",
    "counts_text",
    "UNKNOWN_FIGURES",
    "unknown_figures",
    "Counts",
    "Summary",
    "PlatformFigures",
    "HourFigures",
    "DayFigures",
    "PostRef",
    "Voice",
    "Voices",
    "MentionCount",
    "LanguageCount",
    "SentimentSummary",
    "Theme",
    "Themes",
    "SessionReport",
    "GrowthPoint",
    "Analysis",
    "REACH_LABEL",
    "RISING",
    "NEW",
    "FADING",
    "STEADY",
]

# How outputs name the author of a post whose platform does not say who wrote it
# (Instagram hashtag media): a neutral label, never a guess.
UNKNOWN_AUTHOR_LABELS = {"instagram": "an Instagram account"}
_COUNT_NAMES = (
    ("likes", "like", "likes"),
    ("reposts", "repost", "reposts"),
    ("replies", "reply", "replies"),
    ("quotes", "quote", "quotes"),
)


# Which figures leave a platform's posts out, because its API does not give what
# they count. The one set of sentences: the digest (HTML, Markdown, text) and the
# impact report's methodology (HTML and PDF) say them, for each platform whose
# posts in the period lack counts or an author (`Summary.counts_unknown`,
# `Summary.authorless_platforms`), and nothing when there is none.
UNKNOWN_FIGURES = {
    "threads": "Threads search results come without like, reply, repost and quote counts: "
    "Threads posts count in posts and authors but add nothing to engagement (unknown, not 0).",
    "instagram": "Instagram hashtag media come without their author: Instagram posts count in "
    "posts and engagement but not in authors, top voices or estimated reach.",
}


def unknown_figures(counts_unknown: Iterable[str], authorless: Iterable[str] = ()) -> list[str]:
    """The sentences for the platforms whose posts lack counts or an author, in a fixed order.

    Threads and Instagram have their own (UNKNOWN_FIGURES); any other platform
    whose posts lack something gets a sentence saying what, so no figure leaves
    posts out without the output saying so.
    """
    no_counts, no_author = set(counts_unknown), set(authorless)
    present = no_counts | no_author
    notes = [text for name, text in UNKNOWN_FIGURES.items() if name in present]
    for name in sorted(present - set(UNKNOWN_FIGURES)):
        label = "X" if name == "x" else name.capitalize()
        if name in no_counts:
            notes.append(
                f"Some {label} posts come without like, reply, repost or quote counts: "
                "those counts add nothing to engagement (unknown, not 0)."
            )
        if name in no_author:
            notes.append(
                f"Some {label} posts come without their author: they count in posts and "
                "engagement but not in authors, top voices or estimated reach."
            )
    return notes


def author_label(platform: str, handle: str, name: str = "") -> str:
    """Who wrote a post, for a reader: the name, else the handle, else a neutral label."""
    return name or handle or UNKNOWN_AUTHOR_LABELS.get(platform, "an unknown account")


def known_counts(
    likes: int | None, reposts: int | None, replies: int | None, quotes: int | None
) -> list[tuple[int, str, str]]:
    """(count, singular, plural) of the counts the platform gave; unknown ones left out."""
    values = (likes, reposts, replies, quotes)
    pairs = zip(values, _COUNT_NAMES, strict=True)
    return [(v, one, many) for v, (_, one, many) in pairs if v is not None]


def counts_text(
    likes: int | None, reposts: int | None, replies: int | None, quotes: int | None
) -> str:
    """ "3 likes · 1 reply" of the known counts; says so when the platform gave none."""
    known = known_counts(likes, reposts, replies, quotes)
    parts = [f"{n:,} {one if n == 1 else many}" for n, one, many in known]
    return " · ".join(parts) if parts else "no counts given by the platform"


REACH_LABEL = "Estimated potential reach: the sum of unique authors' latest follower counts"
RISING, NEW, FADING, STEADY = "rising", "new", "fading", "steady"

# What engagement adds up, in this order, wherever it is written out.
ENGAGEMENT_COUNTS = ("likes", "reposts", "replies", "quotes")
ENGAGEMENT_LABEL = "likes, reposts, replies, quotes"


def engagement(
    likes: int | None, reposts: int | None, replies: int | None, quotes: int | None
) -> int:
    """The one definition: likes + reposts + replies + quotes, over the counts known.

    A count the platform does not give (None: Threads gives none) is left out of
    the sum rather than read as 0; outputs name the platforms it leaves out
    (`Summary.counts_unknown`).
    """
    return sum(c for c in (likes, reposts, replies, quotes) if c is not None)


def engagement_sql(alias: str = "") -> str:
    """`engagement` as a SQL expression over the posts table (`alias`: "p." or "").

    For the live wall, which must not load a period to rank or total it.
    """
    return "(" + " + ".join(f"coalesce({alias}{c}, 0)" for c in ENGAGEMENT_COUNTS) + ")"


@dataclass(frozen=True)
class Counts:
    """Posts, authors and engagement of a set of posts (a period, platform, hour, session…).

    Authors are counted by stable account id (a handle change is the same author),
    posts without a known author not at all; unknown counts add nothing.
    """

    posts: int = 0
    unique_authors: int = 0
    likes: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    views: int = 0  # X only: see posts_with_views
    posts_with_views: int = 0
    authorless_posts: int = 0  # counted in posts and engagement, never as authors
    # ENGAGEMENT_COUNTS none of these posts gave (Threads: all four): a table shows
    # them empty, unknown, not 0.
    counts_missing: tuple[str, ...] = ()

    @property
    def authors_unknown(self) -> bool:
        """Posts, none with a known author (Instagram): "authors" is unknown, not 0."""
        return self.posts > 0 and self.authorless_posts == self.posts

    @property
    def engagement_unknown(self) -> bool:
        """Posts, none with any count given (Threads): engagement is unknown, not 0."""
        return self.posts > 0 and len(self.counts_missing) == len(ENGAGEMENT_COUNTS)

    @property
    def engagement(self) -> int:
        return engagement(self.likes, self.reposts, self.replies, self.quotes)

    def _per_post(self, value: int) -> float:
        return value / self.posts if self.posts else 0.0

    @property
    def likes_per_post(self) -> float:
        return self._per_post(self.likes)

    @property
    def reposts_per_post(self) -> float:
        return self._per_post(self.reposts)

    @property
    def replies_per_post(self) -> float:
        return self._per_post(self.replies)

    @property
    def quotes_per_post(self) -> float:
        return self._per_post(self.quotes)

    @property
    def engagement_per_post(self) -> float:
        return self._per_post(self.engagement)

    def as_dict(self) -> dict[str, Any]:
        """Fields plus the derived figures, for JSON and templates."""
        out = asdict(self)
        for name in (
            "engagement",
            "likes_per_post",
            "reposts_per_post",
            "replies_per_post",
            "quotes_per_post",
            "engagement_per_post",
        ):
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class Summary:
    start: datetime
    end: datetime
    counts: Counts
    # An estimate, always labelled as one: followers overlap and most never see a given post.
    potential_reach: int
    reach_label: str = REACH_LABEL
    authors_with_followers: int = 0  # authors whose follower count is known (the rest add 0)
    restricted_posts: int = 0  # counted, but their authors asked not to be shown logged-out
    peak_hour: datetime | None = None  # start of the busiest hour, event timezone (earliest tie)
    peak_hour_posts: int = 0
    platforms: tuple[str, ...] = ()  # platforms with posts in the period, sorted
    days_with_posts: int = 0
    # Platforms with posts whose likes/reposts/replies/quotes are not given: left out of sums.
    counts_unknown: tuple[str, ...] = ()
    authorless_posts: int = 0  # counted as posts and engagement, never as authors or reach
    authorless_platforms: tuple[str, ...] = ()

    # The names the impact report's tables and templates use.
    @property
    def posts(self) -> int:
        return self.counts.posts

    @property
    def authors(self) -> int:
        return self.counts.unique_authors

    @property
    def engagement(self) -> int:
        return self.counts.engagement

    @property
    def likes(self) -> int:
        return self.counts.likes

    @property
    def reposts(self) -> int:
        return self.counts.reposts

    @property
    def replies(self) -> int:
        return self.counts.replies

    @property
    def quotes(self) -> int:
        return self.counts.quotes

    @property
    def views(self) -> int:
        return self.counts.views

    @property
    def posts_with_views(self) -> int:
        return self.counts.posts_with_views

    @property
    def reach(self) -> int:
        return self.potential_reach

    @property
    def authors_without_followers(self) -> int:
        return self.counts.unique_authors - self.authors_with_followers


@dataclass(frozen=True)
class PlatformFigures:
    platform: str
    counts: Counts


@dataclass(frozen=True)
class HourFigures:
    hour: datetime  # start of the hour, aware, in the event's timezone
    counts: Counts
    by_platform: dict[str, int] = field(default_factory=dict)  # posts per platform


@dataclass(frozen=True)
class DayFigures:
    day: date  # calendar day in the event's timezone
    counts: Counts


@dataclass(frozen=True)
class PostRef:
    """A post to show. `restricted` posts never reach here with text unless asked for."""

    id: int
    platform: str
    platform_id: str
    url: str
    author_handle: str
    author_name: str
    text: str
    created_at: datetime  # aware UTC
    likes: int | None  # None: the platform does not give it (unknown, not zero)
    reposts: int | None
    replies: int | None
    quotes: int | None
    lang: str | None = None
    session: str | None = None
    restricted: bool = False  # no_unauthenticated: text blanked, never quote it publicly

    @property
    def engagement(self) -> int:
        return engagement(self.likes, self.reposts, self.replies, self.quotes)


@dataclass(frozen=True)
class Voice:
    platform: str
    handle: str
    display_name: str
    posts: int
    engagement: int  # received on their posts in the period
    followers: int | None


@dataclass(frozen=True)
class Voices:
    by_posts: list[Voice]
    by_engagement: list[Voice]
    by_followers: list[Voice]
    restricted_authors: int = 0  # left out of the lists (restricted posts), still counted


@dataclass(frozen=True)
class MentionCount:
    handle: str  # as mentioned, without '@', case-folded
    posts: int


@dataclass(frozen=True)
class LanguageCount:
    lang: str  # ISO 639-1, or "und" when unknown
    posts: int
    share: float  # of the period's posts, 0..1
    detected: int  # of these, how many were decided from the text (the rest: platform tag)


@dataclass(frozen=True)
class SentimentSummary:
    """English posts only: other languages have no score rather than a wrong one."""

    scored: int
    positive: int  # polarity > POSITIVE_ABOVE
    neutral: int
    negative: int  # polarity < NEGATIVE_BELOW
    mean_polarity: float | None
    mean_subjectivity: float | None
    unscored: int  # posts in other languages, or not enriched yet


@dataclass(frozen=True)
class Theme:
    kind: str  # "phrase" or "hashtag"
    key: str  # merge key: case-folded, last word singular
    label: str  # the form people wrote most often
    posts: int  # posts in the period that contain it
    previous_posts: int | None  # same, in the previous period of equal length (None: not compared)
    trend: str | None  # rising / new / fading / steady; None when not compared
    examples: tuple[PostRef, ...] = ()


@dataclass(frozen=True)
class Themes:
    phrases: list[Theme]
    hashtags: list[Theme]  # co-occurring hashtags, the tracked ones excluded
    fading: list[Theme] = field(default_factory=list)  # strong last period, fell away now


@dataclass(frozen=True)
class SessionReport:
    title: str
    start: datetime
    end: datetime
    room: str
    speakers: tuple[str, ...]
    hashtags: tuple[str, ...]
    counts: Counts
    by_hashtag: int  # posts attributed by a session hashtag
    by_speaker: int  # … by mentioning a speaker
    by_time: int  # … by being posted while the session ran
    themes: Themes
    top_posts: list[PostRef]


@dataclass(frozen=True)
class GrowthPoint:
    """Engagement of the period's posts as known at `at` (from snapshots)."""

    at: datetime  # aware, event timezone
    posts_tracked: int
    likes: int
    reposts: int
    replies: int
    quotes: int

    @property
    def engagement(self) -> int:
        return engagement(self.likes, self.reposts, self.replies, self.quotes)


@dataclass(frozen=True)
class Analysis:
    summary: Summary
    platforms: list[PlatformFigures]
    hours: list[HourFigures]
    days: list[DayFigures]
    top_posts: list[PostRef]
    voices: Voices
    mentions: list[MentionCount]
    languages: list[LanguageCount]
    sentiment: SentimentSummary
    themes: Themes
    sessions: list[SessionReport]
    growth: list[GrowthPoint]
