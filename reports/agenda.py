"""Which agenda session a post belongs to (pure; used by enrichment and the analysis).

A session hashtag or a mention of a speaker is the author telling us what they
talk about, so it wins over the clock; a post with neither belongs to the
session running when it was posted. When parallel sessions tie, the one
closest in time (then the one listed first) wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from tagwatch.records import iso, parse_iso
from tagwatch.settings import AgendaSession

__all__ = ["attribute_session", "SessionMatcher", "BY_HASHTAG", "BY_SPEAKER", "BY_TIME"]

BY_HASHTAG = "hashtag"
BY_SPEAKER = "speaker"
BY_TIME = "time"


def _distance(session: AgendaSession, at: datetime) -> timedelta:
    if at < session.start:
        return session.start - at
    if at >= session.end:
        return at - session.end
    return timedelta(0)


def _fold(values: Iterable[str], strip: str) -> set[str]:
    return {v.casefold().lstrip(strip) for v in values}


class SessionMatcher:
    """Attribution for many posts: the agenda's hashtags, speakers and times indexed once."""

    def __init__(self, sessions: Sequence[AgendaSession]):
        self.sessions = tuple(sessions)
        self.by_tag: dict[str, list[int]] = {}
        self.by_speaker: dict[str, list[int]] = {}
        for i, s in enumerate(self.sessions):
            for tag in _fold(s.hashtags, "#"):
                self.by_tag.setdefault(tag, []).append(i)
            for handle in _fold(s.speakers, "@"):
                self.by_speaker.setdefault(handle, []).append(i)
        # Fixed-width UTC text compares like time, so most posts need no datetime at all.
        self.windows = [(iso(s.start), iso(s.end)) for s in self.sessions]

    def match(
        self,
        created_at: datetime | str,
        hashtags: Iterable[str] = (),
        mentions: Iterable[str] = (),
    ) -> tuple[int, str] | None:
        """(index into the sessions, how) or None when the post belongs to no session."""
        if not self.sessions:
            return None
        when = created_at if isinstance(created_at, str) else iso(created_at)
        if self.by_tag:
            found = {i for t in _fold(hashtags, "#") for i in self.by_tag.get(t, ())}
            if found:
                return self._closest(found, when), BY_HASHTAG
        if self.by_speaker:
            found = {i for m in _fold(mentions, "@") for i in self.by_speaker.get(m, ())}
            if found:
                return self._closest(found, when), BY_SPEAKER
        running = [i for i, (lo, hi) in enumerate(self.windows) if lo <= when < hi]
        if running:
            return self._closest(running, when), BY_TIME
        return None

    def _closest(self, candidates: Iterable[int], when: str) -> int:
        ordered = sorted(candidates)
        if len(ordered) == 1:
            return ordered[0]
        at = parse_iso(when)
        return min(ordered, key=lambda i: (_distance(self.sessions[i], at), i))


def attribute_session(
    sessions: Sequence[AgendaSession],
    created_at: datetime,
    hashtags: Iterable[str] = (),
    mentions: Iterable[str] = (),
) -> tuple[int, str] | None:
    """(index into `sessions`, how) or None; for many posts use one `SessionMatcher`."""
    return SessionMatcher(sessions).match(created_at, hashtags, mentions)
