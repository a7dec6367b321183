"""Themes of a set of posts: top noun phrases and co-occurring hashtags, with their trend.

Counts are posts, not occurrences: a post repeating a phrase five times is one
voice. Phrases and hashtags merge across case and plural (`phrase_key`); the
tracked hashtags are excluded because every post has them.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from tagwatch.reports.figures import FADING, NEW, RISING, STEADY, PostRef, Theme, Themes
from tagwatch.reports.rows import CREATED, HASHTAGS, ID, PHRASES, RESTRICTED, Row, engagement
from tagwatch.reports.text import STOPWORDS, phrase_key, singularize

__all__ = ["compute_themes", "ThemeKeys", "trend", "MIN_POSTS", "TREND_FACTOR", "TREND_MIN_CHANGE"]

MIN_POSTS = 2  # a phrase one person wrote once is not yet a theme
TREND_FACTOR = 1.5  # rising: at least 1.5x the previous period; fading: at most 1/1.5
TREND_MIN_CHANGE = 2  # …and by at least this many posts, so 1 → 2 is not "rising"
SUBSUMED_SHARE = 0.9  # a phrase is dropped when a longer one holding it has 90% of its posts


def trend(current: int, previous: int, scale: float = 1.0) -> str:
    """rising / new / fading / steady, from a theme's posts in two periods of equal length.

    `scale` is the ratio of all posts now to all posts before: a theme is rising
    when it gains share of the conversation, not merely because the whole
    conversation grew (on a day twice as busy, twice the posts is steady).
    """
    if previous == 0:
        return NEW if current > 0 else STEADY
    expected = previous * scale
    change = current - expected
    if current >= expected * TREND_FACTOR and change >= TREND_MIN_CHANGE:
        return RISING
    if current * TREND_FACTOR <= expected and -change >= TREND_MIN_CHANGE:
        return FADING
    return STEADY


@lru_cache(maxsize=100_000)
def _words(key: str) -> tuple[str, ...]:
    """Every word singular, so "human right" is found inside "human rights defender"."""
    return tuple(singularize(w) for w in key.split())


def _contains(longer: tuple[str, ...], words: tuple[str, ...]) -> bool:
    size = len(words)
    return any(longer[i : i + size] == words for i in range(len(longer) - size + 1))


class _Tally:
    """Posts per merge key, with the surface forms seen (for the label)."""

    def __init__(self) -> None:
        self.posts: Counter[str] = Counter()
        self.engagement: Counter[str] = Counter()
        self.surface: Counter[tuple[str, str]] = Counter()  # (key, form) -> posts
        self._forms: dict[str, dict[str, int]] | None = None

    def add(self, keys: dict[str, str], eng: int) -> None:
        # Counter.update over an iterable counts in C: this runs once per post and theme.
        self.posts.update(keys.keys())
        self.surface.update(keys.items())
        if eng:
            engagement = self.engagement
            for key in keys:
                engagement[key] += eng

    def ranked(self, n: int) -> list[str]:
        """Top `n` keys, without phrases that (nearly) only occur inside a longer one.

        "rights defenders" in 161 posts, each also saying "human rights
        defenders", is the same theme twice; "human rights" in 195 posts, 141
        of them "human rights houses", is a theme of its own.
        """
        keys = [k for k, c in self.posts.items() if c >= MIN_POSTS]
        order = heapq.nsmallest(4 * n, keys, key=lambda k: (-self.posts[k], -self.engagement[k], k))
        kept = [k for k in order if not self._inside_longer(k, order)]
        return kept[:n]

    def _inside_longer(self, key: str, candidates: list[str]) -> bool:
        words = _words(key)
        for other in candidates:
            if other != key and self.posts[other] >= SUBSUMED_SHARE * self.posts[key]:
                longer = _words(other)
                if len(longer) > len(words) and _contains(longer, words):
                    return True
        return False

    def label(self, key: str) -> str:
        if self._forms is None:
            self._forms = defaultdict(dict)
            for (k, form), count in self.surface.items():
                self._forms[k][form] = count
        forms = self._forms.get(key)
        return min(forms, key=lambda f: (-forms[f], f)) if forms else key


class ThemeKeys:
    """Merge keys of a row's phrases and hashtags, memoized by the stored JSON text.

    Hashtag lists repeat a lot (most posts carry just the tracked tag), and the
    same rows are tallied for the period, its examples and each session: one
    cache per period saves most of the JSON parsing.
    """

    def __init__(self, tracked: Iterable[str]):
        excluded = frozenset(t.casefold().lstrip("#") for t in tracked)
        self.excluded = excluded | frozenset(phrase_key(t) for t in excluded)
        self._phrases: dict[str, dict[str, str]] = {}
        self._tags: dict[str, dict[str, str]] = {}

    def phrases(self, r: Row) -> dict[str, str]:
        return self._keys(r[PHRASES], self._phrases, self._phrase_keys)

    def tags(self, r: Row) -> dict[str, str]:
        return self._keys(r[HASHTAGS], self._tags, self._tag_keys)

    @staticmethod
    def _keys(
        raw: str | None, cache: dict[str, dict[str, str]], parse: Callable[[list[str]], dict]
    ) -> dict[str, str]:
        if not raw or raw == "[]":
            return {}
        found = cache.get(raw)
        if found is None:
            found = cache[raw] = parse(json.loads(raw))
        return found

    def _phrase_keys(self, phrases: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for phrase in phrases:
            key = phrase_key(phrase)
            if key and key not in self.excluded and key not in STOPWORDS:
                found.setdefault(key, phrase)
        return found

    def _tag_keys(self, tags: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for tag in tags:
            folded = tag.casefold().lstrip("#")
            if folded not in self.excluded:
                found.setdefault(phrase_key(folded), folded)
        return found


def _tally(rows: Iterable[Row], keys: ThemeKeys) -> tuple[_Tally, _Tally]:
    phrases, tags = _Tally(), _Tally()
    for r in rows:
        eng = engagement(r)
        found = keys.phrases(r)
        if found:
            phrases.add(found, eng)
        found = keys.tags(r)
        if found:
            tags.add(found, eng)
    return phrases, tags


def compute_themes(
    rows: Sequence[Row],
    previous: Sequence[Row] | None,
    *,
    keys: ThemeKeys,
    n: int,
    examples: int,
    to_refs: Callable[[list[Row]], list[PostRef]],
) -> Themes:
    """Top `n` phrases and hashtags of `rows`; trends only when `previous` is given."""
    phrases, tags = _tally(rows, keys)
    before = _tally(previous, keys) if previous is not None else None
    scale = len(rows) / len(previous) if previous else 1.0
    top_phrases, top_tags = phrases.ranked(n), tags.ranked(n)

    picks = _examples(rows, keys, set(top_phrases), set(top_tags), examples)
    chosen = {r[ID]: r for heap in picks.values() for _, r in heap}
    refs = {ref.id: ref for ref in to_refs(list(chosen.values()))} if chosen else {}

    def theme(kind: str, key: str, tally: _Tally, old: _Tally | None) -> Theme:
        prev = old.posts[key] if old is not None else None
        heap = sorted(picks.get((kind, key), []), key=lambda x: x[0], reverse=True)
        return Theme(
            kind=kind,
            key=key,
            label=tally.label(key),
            posts=tally.posts[key],
            previous_posts=prev,
            trend=trend(tally.posts[key], prev, scale) if prev is not None else None,
            examples=tuple(refs[r[ID]] for _, r in heap if r[ID] in refs),
        )

    fading: list[Theme] = []
    if before is not None:
        for kind, now, old, top in (
            ("phrase", phrases, before[0], top_phrases),
            ("hashtag", tags, before[1], top_tags),
        ):
            for key in old.ranked(n):
                if key not in top and trend(now.posts[key], old.posts[key], scale) == FADING:
                    fading.append(
                        Theme(
                            kind=kind,
                            key=key,
                            label=old.label(key),
                            posts=now.posts[key],
                            previous_posts=old.posts[key],
                            trend=FADING,
                        )
                    )
    return Themes(
        phrases=[theme("phrase", k, phrases, before[0] if before else None) for k in top_phrases],
        hashtags=[theme("hashtag", k, tags, before[1] if before else None) for k in top_tags],
        fading=fading,
    )


def _examples(
    rows: Iterable[Row],
    keys: ThemeKeys,
    phrase_keys: set[str],
    tag_keys: set[str],
    k: int,
) -> dict[tuple[str, str], list[tuple[tuple[int, str, int], Row]]]:
    """The `k` most engaged quotable posts for each top theme (restricted posts never)."""
    picks: dict[tuple[str, str], list[tuple[tuple[int, str, int], Row]]] = defaultdict(list)
    if k <= 0:
        return picks
    for r in rows:
        if r[RESTRICTED]:
            continue
        rank = (engagement(r), r[CREATED], r[ID])
        for kind, found, wanted in (
            ("phrase", keys.phrases(r), phrase_keys),
            ("hashtag", keys.tags(r), tag_keys),
        ):
            for key in wanted.intersection(found):
                heap = picks[(kind, key)]
                if len(heap) < k:
                    heapq.heappush(heap, (rank, r))
                elif rank > heap[0][0]:
                    heapq.heapreplace(heap, (rank, r))
    return picks
