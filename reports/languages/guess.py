"""Which of the event's languages a post is in: lingua over the event's languages, the
platform's tag as a hint, the BCMS standard decided by `bcms.py`, and an author's earlier
posts breaking ties.

Why apart from the rest of the text analysis (`tagwatch.reports.text`): language is the one
step with models to load (seconds, once per process) and its own evidence (platform tags,
author history), and enrichment asks it for whole batches at a time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from tagwatch.reports.languages.bcms import FAMILY, standard_of

__all__ = ["AuthorHistory", "LanguageGuesser"]

_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")


def _iso(code: str | None) -> str | None:
    if not code:
        return None
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base or None


# Codes platforms use that lingua knows under another name (Norwegian: Bokmål).
_ALIASES = {"no": "nb", "iw": "he", "in": "id", "ji": "yi"}


@lru_cache(maxsize=256)
def _lingua_language(code: str) -> Language | None:
    code = _ALIASES.get(code, code)
    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
    except (ValueError, AttributeError):
        return None


# One lingua answer for the Serbo-Croatian family: lingua tells it from other languages
# well but not its standards from one another (its Croatian model takes any Serbian in
# Latin script), so `bcms.py` decides the standard. Croatian's model always
# stands in for the family's Latin script, Serbian's for Cyrillic. (Bosnian's model
# is used only when `bs` is configured: as a further stand-in it changed no result on
# our samples and cost 15% of the speed.)
_FAMILY = "hbs"  # ISO 639-3 for the macrolanguage; never returned
_FAMILY_MODELS = {"sr": ("sr", "hr"), "hr": ("hr",), "bs": ("bs", "hr"), "cnr": ("hr",)}
# With one configured language lingua cannot decide anything (it needs a rival),
# so a single-language event is compared against these widely used ones.
_CONTRAST = ("en", "es", "fr", "de", "pt", "it", "ru", "sr", "tr", "ar")


# Given the authors asked about, the texts of their earlier posts (at most a few dozen
# each) that were labelled one of the family's standards. The caller (enrichment) reads
# them from storage; this module only decides from text.
AuthorHistory = Callable[[Collection[Hashable]], Mapping[Hashable, Sequence[str]]]


def _known(code: str | None) -> bool:
    return code is not None and (code in FAMILY or _lingua_language(code) is not None)


class LanguageGuesser:
    """Detect a post's language among the event's languages; the platform tag is a hint.

    The detector is restricted to the configured languages (faster and more
    accurate); a platform tag naming another language adds that language as a
    candidate, so a German post tagged 'de' can still be found German, while a
    wrong tag cannot override what the text says. Serbian, Croatian, Bosnian and
    Montenegrin (`cnr`) are one family to lingua; when more than one of them is a
    candidate, `bcms.standard_of` tells them apart from the text, the
    tag only breaking ties.
    """

    def __init__(self, languages: Iterable[str]):
        self.languages = tuple(dict.fromkeys(c for c in (_iso(x) for x in languages) if c))
        self._detectors: dict[
            frozenset[str], tuple[LanguageDetector, dict[Language, str], tuple[str, ...]]
        ] = {}

    def _detector(
        self, extra: str | None
    ) -> tuple[LanguageDetector, dict[Language, str], tuple[str, ...]]:
        codes = set(self.languages)
        if len(codes) < 2:
            codes.update(_CONTRAST)
        if extra:
            codes.add(extra)
        key = frozenset(codes)
        cached = self._detectors.get(key)
        if cached is not None:
            return cached
        # The family's standards in the event's order (the fallback when nothing tells).
        ordered = [*self.languages, *sorted(codes - set(self.languages))]
        family = tuple(c for c in ordered if c in FAMILY)
        mapping: dict[Language, str] = {}
        for code in sorted(codes):
            if code in FAMILY:
                continue
            lang = _lingua_language(code)
            if lang is not None:
                mapping[lang] = code
        for code in family:
            for model in _FAMILY_MODELS[code]:
                lang = _lingua_language(model)
                if lang is not None:
                    mapping[lang] = family[0] if len(family) == 1 else _FAMILY
        if not mapping:
            mapping[Language.ENGLISH] = "en"
        detector = LanguageDetectorBuilder.from_languages(*mapping).build()
        self._detectors[key] = (detector, mapping, family)
        return self._detectors[key]

    def guess(self, text: str, platform_tag: str | None = None) -> tuple[str | None, bool]:
        """(language, decided_by_text)."""
        return self.guess_many([text], [platform_tag])[0]

    def guess_many(
        self,
        texts: Sequence[str],
        platform_tags: Sequence[str | None],
        *,
        authors: Sequence[Hashable | None] | None = None,
        history: AuthorHistory | None = None,
    ) -> list[tuple[str | None, bool]]:
        """`guess` for a batch: lingua runs over the batch on all cores (it releases the GIL).

        The family rule runs only on the posts lingua put in the family. With
        `authors` (one key per text, None when unknown), a post whose standard its
        text does not decide takes its author's majority among the author's posts
        the text did decide, in this batch and (through `history`) stored earlier;
        that beats the platform tag and the event's order, and is still marked as
        not decided by the text.
        """
        hints = [_iso(t) for t in platform_tags]
        out: list[tuple[str | None, bool]] = [(h, False) for h in hints]
        groups: dict[str | None, list[int]] = {}
        for i, text in enumerate(texts):
            if len(_LETTER.findall(text)) >= 3:
                hint = hints[i]
                extra = hint if _known(hint) else None
                groups.setdefault(extra, []).append(i)
        families: dict[int, tuple[str, ...]] = {}  # posts lingua put in the family
        for extra, indices in groups.items():
            detector, mapping, family = self._detector(extra)
            batch = [texts[i] for i in indices]
            if len(batch) == 1:
                found = [detector.detect_language_of(batch[0])]
            else:
                found = detector.detect_languages_in_parallel_of(batch)
            for i, language in zip(indices, found, strict=True):
                if language is None:
                    if hints[i] == "en" and _CYRILLIC.search(texts[i]):
                        # Unsure among the candidates: never claim English for Cyrillic text.
                        out[i] = (None, False)
                    continue
                code = mapping[language]
                if code == _FAMILY:
                    out[i] = standard_of(texts[i], family, hints[i])
                    families[i] = family
                else:
                    out[i] = (code, True)
        if authors is not None and families:
            self._settle_by_author(out, families, authors, history)
        return out

    def _settle_by_author(
        self,
        out: list[tuple[str | None, bool]],
        families: Mapping[int, tuple[str, ...]],
        authors: Sequence[Hashable | None],
        history: AuthorHistory | None,
    ) -> None:
        """Ties within the family go to the author's majority of text-decided posts.

        People write in one standard: a Croatian participant's short `Hvala svima!`
        is Croatian because her longer posts are. Only posts the text decided vote,
        so one guess never feeds another.
        """
        tied = [i for i in families if not out[i][1] and authors[i] is not None]
        if not tied:
            return
        wanted = {authors[i] for i in tied}
        votes: dict[Hashable, Counter[str]] = {}
        for i in families:
            lang, by_text = out[i]
            if by_text and lang is not None and authors[i] in wanted:
                votes.setdefault(authors[i], Counter())[lang] += 1
        if history is not None:
            family = self._detector(None)[2]
            for author, earlier in history(wanted).items():
                for text in earlier:
                    lang, by_text = standard_of(text, family) if family else (None, False)
                    if by_text and lang is not None:
                        votes.setdefault(author, Counter())[lang] += 1
        for i in tied:
            counted = votes.get(authors[i])
            if not counted:
                continue
            ranked = sorted(((counted[c], c) for c in families[i] if counted[c]), reverse=True)
            if ranked and (len(ranked) == 1 or ranked[0][0] > ranked[1][0]):
                out[i] = (ranked[0][1], False)
