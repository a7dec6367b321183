"""Which agenda session a post belongs to (pure; used by enrichment and the analysis).

A session hashtag or a mention of a speaker is the author telling us what they
talk about, so it wins over the clock; a post with neither belongs to the
session running when it was posted. When parallel sessions tie, the one
closest in time (then the one listed first) wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from monitor.config import AgendaSession

__all__ = ["attribute_session", "BY_HASHTAG", "BY_SPEAKER", "BY_TIME"]

BY_HASHTAG = "hashtag"
BY_SPEAKER = "speaker"
BY_TIME = "time"


def _distance(session: AgendaSession, at: datetime) -> timedelta:
    if at < session.start:
        return session.start - at
    if at >= session.end:
        return at - session.end
    return timedelta(0)


def _closest(candidates: list[int], sessions: Sequence[AgendaSession], at: datetime) -> int:
    return min(candidates, key=lambda i: (_distance(sessions[i], at), i))


def attribute_session(
    sessions: Sequence[AgendaSession],
    created_at: datetime,
    hashtags: Iterable[str] = (),
    mentions: Iterable[str] = (),
) -> tuple[int, str] | None:
    """(index into `sessions`, how) or None when the post belongs to no session."""
    if not sessions:
        return None
    tags = {t.casefold().lstrip("#") for t in hashtags}
    by_tag = [i for i, s in enumerate(sessions) if tags.intersection(s.hashtags)]
    if by_tag:
        return _closest(by_tag, sessions, created_at), BY_HASHTAG
    handles = {m.casefold().lstrip("@") for m in mentions}
    by_speaker = [
        i
        for i, s in enumerate(sessions)
        if handles.intersection(h.casefold().lstrip("@") for h in s.speakers)
    ]
    if by_speaker:
        return _closest(by_speaker, sessions, created_at), BY_SPEAKER
    running = [i for i, s in enumerate(sessions) if s.start <= created_at < s.end]
    if running:
        return _closest(running, sessions, created_at), BY_TIME
    return None
