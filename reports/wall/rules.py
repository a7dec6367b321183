"""What may reach the wall: the moderation rules as plain, testable logic.

The rules are evaluated on every read rather than stored, so changing the
config (blocked words, mode) and restarting the wall re-judges every post, and
a moderator's decision always wins over the defaults where it should:

- never shown: posts deleted upstream, posts whose author asked for no
  logged-out visibility (`no_unauthenticated`), reposts (the original is the
  post), blocked authors, posts matching a blocked word or phrase, and
  everything when no moderation token is configured (nobody could remove a
  post, so the wall stays closed);
- pre-moderation: shown only once approved; post-moderation: shown unless
  hidden;
- sensitive or media-flagged posts wait for an explicit approval in both modes
  when `hide_sensitive` is on;
- held (queued for a moderator even in post-moderation, issue 21): posts that
  meet a hold rule (young account, many links, a hold word or preset word, a
  reply to a speaker past the hourly limit), and in allow-list mode
  (`trusted_authors`) every post by someone not on the list. An approval
  releases a held post; a trusted author's posts skip holds and pre-moderation.

The reply-rate rule needs the author's other posts, so rows read from the
database are judged in batches with `judge`, one query per batch.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any

from tagwatch.records import iso, parse_iso
from tagwatch.reports.wall.presets import Preset, preset_for
from tagwatch.settings import Config, trusted_entry

__all__ = [
    "awaits_moderator",
    "MODES",
    "PostRow",
    "WallRules",
    "HoldRules",
    "TrustList",
    "PresetFilter",
    "fold",
    "WordFilter",
    "visible_reason",
    "hold_reason",
    "judge",
    "reply_ranks",
    "speakers_of",
]

MODES = ("pre", "post")
# A row of `feed.POST_SQL` (sqlite3.Row), or a dict with the same keys in tests.
PostRow = sqlite3.Row | Mapping[str, Any]
HOUR = timedelta(hours=1)


@lru_cache(maxsize=16)
def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, drop combining marks, casefold.

    NFKD also maps compatibility forms (full-width letters, ligatures, math
    bold) to plain letters, which is how people dodge naive word lists.
    Cached for a few texts: the blocked and the hold words read the same post
    one after the other, so its text is folded once.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


class WordFilter:
    """Matches blocked words and phrases as whole words in folded text.

    Whole words, so that blocking "ass" does not hide "assembly"; phrases
    match across any run of whitespace (folding leaves one space). The words
    compile into one regex shaped as a trie (one branch per next letter), so a
    list of hundreds of words costs about what a short one does: the engine
    tries a letter once per position, not once per word.
    """

    def __init__(self, words: Iterable[str]):
        self.words = tuple(dict.fromkeys(w for w in (fold(x) for x in words) if w))
        if self.words:
            trie: dict[str, Any] = {}
            for word in self.words:
                node = trie
                for ch in word:
                    node = node.setdefault(ch, {})
                node[""] = {}
            self._re: re.Pattern[str] | None = re.compile(rf"(?<!\w){_trie_pattern(trie)}(?!\w)")
        else:
            self._re = None

    def __bool__(self) -> bool:
        return self._re is not None

    def match(self, *texts: str | None) -> str | None:
        """The first blocked word found in any of the texts, or None."""
        if self._re is None:
            return None
        for text in texts:
            if text:
                m = self._re.search(fold(text))
                if m:
                    return m.group(0)
        return None


def _trie_pattern(node: dict[str, Any]) -> str:
    """The regex of a trie node: its branches, optional where a word ends here.

    Greedy, so the longest word is tried first; the trailing word-boundary check makes the
    engine fall back to a shorter one that ends on a word boundary.
    """
    branches = [
        (r"\s+" if ch == " " else re.escape(ch)) + _trie_pattern(child)
        for ch, child in sorted(node.items())
        if ch
    ]
    if not branches:
        return ""
    alternatives = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" not in node:
        return alternatives
    return f"(?:{alternatives})?" if len(branches) == 1 else alternatives + "?"


@dataclass(frozen=True)
class TrustList:
    """`[wall] trusted_authors`: handles shown at once; non-empty turns allow-list mode on.

    An entry names a handle on any platform, or on one ("bluesky:ana.bsky.social"), so
    the same handle taken by someone else on another platform can be left out.
    """

    anywhere: frozenset[str] = frozenset()
    on: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, entries: Iterable[str]) -> TrustList:
        anywhere: set[str] = set()
        on: set[tuple[str, str]] = set()
        for entry in entries:
            platform, handle = trusted_entry(entry)
            if handle:
                if platform is None:
                    anywhere.add(handle)
                else:
                    on.add((platform, handle))
        return cls(frozenset(anywhere), frozenset(on))

    @property
    def active(self) -> bool:
        return bool(self.anywhere or self.on)

    def trusts(self, platform: str, handle: str | None) -> bool:
        if not handle:
            return False
        h = handle.lstrip("@").casefold()
        return h in self.anywhere or (platform, h) in self.on


# No language: none given, ISO 639-2 "undetermined", "no linguistic content", "multiple",
# and X's codes for posts of only media, hashtags, mentions, cashtags or very short text.
_UNDETERMINED = frozenset({"", "und", "zxx", "mul", "qme", "qht", "qam", "qct", "qst"})


@dataclass(frozen=True)
class PresetFilter:
    """The preset word lists, each applied to posts in its own language.

    Why by language: the lists are per language, and a word crude in one is
    ordinary in another ("puta" is a Portuguese slur and Croatian for "times",
    "fan" a Norwegian curse and an English fan). A post is matched against its
    language's list plus the English one (English swearing travels); a post of
    unknown language against every list of the event's languages.
    """

    by_language: Mapping[str, WordFilter] = field(default_factory=dict)
    anywhere: WordFilter = WordFilter(())

    @classmethod
    def of(cls, preset: Preset) -> PresetFilter:
        english = preset.by_language.get("en", ())
        return cls(
            {
                lang: WordFilter([*english, *words] if lang != "en" else words)
                for lang, words in preset.by_language.items()
            },
            WordFilter(preset.words),
        )

    def __bool__(self) -> bool:
        return bool(self.anywhere)

    def match(self, lang: str | None, *texts: str | None) -> str | None:
        if not self.anywhere:
            return None
        code = (lang or "").lower().split("-")[0]
        if code in _UNDETERMINED:
            return self.anywhere.match(*texts)
        words = self.by_language.get(code) or self.by_language.get("en")
        return words.match(*texts) if words is not None else None


@dataclass(frozen=True)
class HoldRules:
    """Rules that send a post to the moderation queue, even in post-moderation.

    Each is off at its zero value. A hold is a question to a moderator, not a
    verdict: an approval releases the post, so crude signals (a young account,
    a preset word) may hold generously without silencing anyone.
    """

    account_days: int = 0
    unknown_age: bool = False
    links_over: int = 0
    words: WordFilter = WordFilter(())
    replies_per_hour: int = 0
    speakers: frozenset[str] = frozenset()

    @property
    def counts_replies(self) -> bool:
        return self.replies_per_hour > 0 and bool(self.speakers)


def speakers_of(config: Config) -> frozenset[str]:
    """The agenda's speakers and the alerts' protected accounts, folded, without @."""
    handles = [s for session in config.event.sessions for s in session.speakers]
    handles += list(config.alerts.protected_accounts)
    return frozenset(h.strip().lstrip("@").casefold() for h in handles if h.strip())


@dataclass(frozen=True)
class WallRules:
    mode: str = "pre"
    open: bool = False  # a moderation token is configured
    hide_sensitive: bool = True
    words: WordFilter = WordFilter(())
    holds: HoldRules = HoldRules()
    trusted: TrustList = TrustList()
    # The bundled lists of the event's languages; `preset_words` says what a match does.
    preset: PresetFilter = PresetFilter()
    preset_words: str = "hold"
    # Event languages without a bundled preset list (the wall says so at start).
    preset_missing: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Config, *, token: str | None) -> WallRules:
        wall = config.wall  # moderation is one of MODES: the loader refuses others
        preset = preset_for(config.event.languages) if wall.preset_words != "off" else None
        speakers = speakers_of(config)
        trusted = list(wall.trusted_authors) + (sorted(speakers) if wall.trust_speakers else [])
        return cls(
            mode=wall.moderation,
            open=bool(token),
            hide_sensitive=wall.hide_sensitive,
            words=WordFilter(wall.blocked_words),
            holds=HoldRules(
                account_days=wall.hold_new_accounts_days,
                unknown_age=wall.hold_unknown_account_age,
                links_over=wall.hold_links_over,
                words=WordFilter(wall.hold_words),
                replies_per_hour=wall.hold_replies_per_hour,
                speakers=speakers,
            ),
            trusted=TrustList.of(trusted),
            preset=PresetFilter.of(preset) if preset is not None else PresetFilter(),
            preset_words=wall.preset_words,
            preset_missing=preset.missing if preset is not None else (),
        )

    def sql_filter(self) -> str:
        """The part of the rules SQL can decide (`p` posts, `m` moderation, `b` blocked_authors).

        Blocked words need Unicode folding, so `visible_reason` applies them
        in Python on the rows this filter lets through; so do holds and trusted
        authors, which is why allow-list mode lets unapproved posts through here.
        """
        if not self.open:
            return "0"
        state = (
            "m.state = 'approved'"
            if self.mode == "pre" and not self.trusted.active
            else "coalesce(m.state, '') != 'hidden'"
        )
        parts = [
            "p.deleted = 0",
            "p.no_unauthenticated = 0",
            "p.repost_of is null",
            "b.platform is null",
            state,
        ]
        if self.hide_sensitive:
            parts.append("(p.sensitive = 0 or m.state = 'approved')")
        return " and ".join(parts)


# What `judge` found for a reply to a speaker over the limit: its rank in the hour, the speaker.
ReplyRank = tuple[int, str]


def visible_reason(rules: WallRules, row: PostRow, reply: ReplyRank | None = None) -> str | None:
    """Why a post is kept off the wall, or None when it may be shown.

    The moderation page shows this reason next to each post, so a moderator
    knows why an approved post still is not on screen, or why a post waits.
    Order matters: removals (blocked, blocked words, hidden) win over
    everything; an approval wins over every hold; a trusted author skips the
    holds and pre-moderation. `reply` is the reply-rate rule's finding, which
    needs other posts: use `judge` for rows from the database.
    """
    if not rules.open:
        return "moderation is off (no token configured)"
    if row["deleted"]:
        return "deleted upstream"
    if row["no_unauthenticated"]:
        return "author limits visibility to logged-in users"
    if row["repost_of"]:
        return "repost"
    if row["blocked"]:
        return "author blocked"
    texts = (row["text"], row["author_name"], row["author_handle"])
    word = rules.words.match(*texts)
    if not word and rules.preset_words == "hide":
        word = rules.preset.match(row["lang"], *texts)
    if word:
        return f"blocked word: {word}"
    state = row["state"] or "pending"
    if state == "hidden":
        return "hidden by a moderator"
    if state != "approved":
        trusted = rules.trusted.active and rules.trusted.trusts(
            row["platform"], row["author_handle"]
        )
        if not trusted:
            held = hold_reason(rules.holds, row, reply)
            if not held and rules.preset_words == "hold":
                word = rules.preset.match(row["lang"], *texts)
                held = f"held: word '{word}'" if word else None
            if held:
                return held
            if rules.trusted.active:
                return "held: not a trusted author"
            if rules.mode == "pre":
                return "waiting for approval"
    if rules.hide_sensitive and row["sensitive"] and state != "approved":
        return "sensitive: needs approval"
    return None


def hold_reason(holds: HoldRules, row: PostRow, reply: ReplyRank | None = None) -> str | None:
    """The first hold rule a post meets, worded for the moderators, or None."""
    if holds.account_days:
        created = row["account_created_at"]
        if created is None:
            if holds.unknown_age:
                return "held: account age unknown"
        else:
            age = parse_iso(row["created_at"]) - parse_iso(created)
            if age < timedelta(days=holds.account_days):
                return f"held: account {_age(age)} old"
    if holds.links_over and row["links"]:
        links = len(json.loads(row["links"]))
        if links > holds.links_over:
            return f"held: {links} links"
    word = holds.words.match(row["text"], row["author_name"], row["author_handle"])
    if word:
        return f"held: word '{word}'"
    if reply is not None:
        rank, speaker = reply
        return f"held: {_ordinal(rank)} reply to @{speaker} this hour"
    return None


def _age(age: timedelta) -> str:
    if age.days >= 1:
        return f"{age.days} day{'s' if age.days > 1 else ''}"
    return "less than a day"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def replied_speaker(speakers: frozenset[str], row: PostRow) -> str | None:
    """The speaker a reply answers: its stored parent's author, else a speaker it mentions."""
    if not row["reply_to"] or not speakers:
        return None
    parent = (row["parent_handle"] or "").lstrip("@").casefold()
    if parent in speakers:
        return parent
    for mention in json.loads(row["mentions"] or "[]"):
        handle = mention.lstrip("@").casefold()
        if handle in speakers:
            return handle
    return None


# Posts by one author that the reply-rate rule reads: replies in a time range.
_REPLIES_SQL = """
select p.id, p.author_id, p.created_at, p.reply_to, p.mentions, pp.author_handle as parent_handle
from posts p
left join posts pp on pp.platform = p.platform and pp.platform_id = p.reply_to
where p.author_id in ({marks}) and p.reply_to is not null
  and p.created_at > ? and p.created_at <= ?
"""


def reply_ranks(
    rules: WallRules, conn: sqlite3.Connection, rows: Sequence[PostRow]
) -> dict[int, ReplyRank]:
    """The reply-rate rule for a batch: post id -> (rank this hour, speaker), over the limit only.

    A post's rank counts its author's replies to any speaker in the hour up to
    and including it (by time, then id), however they were moderated: one
    query per 500 authors over the batch's time span, on the (author_id,
    created_at) index, then a bisect per post.
    """
    holds = rules.holds
    if not (rules.open and holds.counts_replies):
        return {}
    todo = [
        (r, speaker)
        for r in rows
        if (r["state"] or "pending") == "pending"
        and r["author_id"] is not None
        and (speaker := replied_speaker(holds.speakers, r)) is not None
    ]
    if not todo:
        return {}
    low = iso(min(parse_iso(r["created_at"]) for r, _ in todo) - HOUR)
    high = max(r["created_at"] for r, _ in todo)
    authors = sorted({int(r["author_id"]) for r, _ in todo})
    times: dict[int, list[tuple[str, int]]] = {}
    for i in range(0, len(authors), 500):
        chunk = authors[i : i + 500]
        sql = _REPLIES_SQL.format(marks=",".join("?" * len(chunk)))
        for reply in conn.execute(sql, [*chunk, low, high]):
            if replied_speaker(holds.speakers, reply) is not None:
                times.setdefault(int(reply["author_id"]), []).append(
                    (reply["created_at"], int(reply["id"]))
                )
    for keys in times.values():
        keys.sort()
    ranks: dict[int, ReplyRank] = {}
    for r, speaker in todo:
        keys = times.get(int(r["author_id"]), [])
        since = iso(parse_iso(r["created_at"]) - HOUR)
        rank = bisect_right(keys, (r["created_at"], int(r["id"]))) - bisect_right(
            keys, (since, sys.maxsize)
        )
        if rank > holds.replies_per_hour:
            ranks[int(r["id"])] = (rank, speaker)
    return ranks


def judge(rules: WallRules, conn: sqlite3.Connection, rows: Sequence[PostRow]) -> list[str | None]:
    """`visible_reason` for a batch of database rows, with the reply counts they need."""
    ranks = reply_ranks(rules, conn, rows)
    return [visible_reason(rules, r, ranks.get(int(r["id"]))) for r in rows]


def awaits_moderator(reason: str | None) -> bool:
    """Whether a post kept off the wall for `reason` is one a moderator should decide.

    Held posts, posts waiting for approval (pre-moderation) and sensitive ones do; hidden,
    blocked, blocked words, reposts and deleted posts do not (nothing to decide).
    """
    return reason is not None and (
        reason.startswith("held:")
        or reason in ("waiting for approval", "sensitive: needs approval")
    )
