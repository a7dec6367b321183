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
  when `hide_sensitive` is on.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tagwatch.settings import Config

__all__ = ["MODES", "PostRow", "WallRules", "fold", "WordFilter", "visible_reason"]

MODES = ("pre", "post")
# A row of `feed.POST_SQL` (sqlite3.Row), or a dict with the same keys in tests.
PostRow = sqlite3.Row | Mapping[str, Any]


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, drop combining marks, casefold.

    NFKD also maps compatibility forms (full-width letters, ligatures, math
    bold) to plain letters, which is how people dodge naive word lists.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


class WordFilter:
    """Matches blocked words and phrases as whole words in folded text.

    Whole words, so that blocking "ass" does not hide "assembly"; phrases
    match across any run of whitespace.
    """

    def __init__(self, words: Iterable[str]):
        self.words = tuple(dict.fromkeys(w for w in (fold(x) for x in words) if w))
        if self.words:
            alternatives = "|".join(
                r"\s+".join(re.escape(part) for part in w.split()) for w in self.words
            )
            self._re: re.Pattern[str] | None = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
        else:
            self._re = None

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


@dataclass(frozen=True)
class WallRules:
    mode: str = "pre"
    open: bool = False  # a moderation token is configured
    hide_sensitive: bool = True
    words: WordFilter = WordFilter(())

    @classmethod
    def from_config(cls, config: Config, *, token: str | None) -> WallRules:
        wall = config.wall  # moderation is one of MODES: the loader refuses others
        return cls(
            mode=wall.moderation,
            open=bool(token),
            hide_sensitive=wall.hide_sensitive,
            words=WordFilter(wall.blocked_words),
        )

    def sql_filter(self) -> str:
        """The part of the rules SQL can decide (`p` posts, `m` moderation, `b` blocked_authors).

        Blocked words need Unicode folding, so `visible_reason` applies them
        in Python on the rows this filter lets through.
        """
        if not self.open:
            return "0"
        state = (
            "m.state = 'approved'" if self.mode == "pre" else "coalesce(m.state, '') != 'hidden'"
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


def visible_reason(rules: WallRules, row: PostRow) -> str | None:
    """Why a post is kept off the wall, or None when it may be shown.

    The moderation page shows this reason next to each post, so a moderator
    knows why an approved post still is not on screen.
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
    word = rules.words.match(row["text"], row["author_name"], row["author_handle"])
    if word:
        return f"blocked word: {word}"
    state = row["state"] or "pending"
    if state == "hidden":
        return "hidden by a moderator"
    if rules.mode == "pre" and state != "approved":
        return "waiting for approval"
    if rules.hide_sensitive and row["sensitive"] and state != "approved":
        return "sensitive: needs approval"
    return None
