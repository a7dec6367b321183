"""Pure text analysis of one post: language, sentiment, noun phrases.

No database here: monitor/enrichment.py runs these functions once per post and
stores the result, so reports never recompute them. Everything works offline:
TextBlob's NLTK corpora are not needed (we use the bundled pattern parser via
`textblob.en.parse(..., chunks=True)` and its sentiment lexicon, never
`.noun_phrases`/`.words`/`.tags`, which need downloaded corpora).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder
from textblob.en import parse as _parse
from textblob.en import sentiment as _sentiment
from textblob.en.inflect import singularize

from tagwatch.reports.bcms import FAMILY, standard_of

__all__ = [
    "TextFeatures",
    "LanguageGuesser",
    "AuthorHistory",
    "analyze_text",
    "analyze_many",
    "clean_text",
    "noun_phrases",
    "tag",
    "phrase_key",
    "sentiment_of",
    "STOPWORDS",
]

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# @user, @user.bsky.social, @user@instance.social
_MENTION = re.compile(r"(?<![\w@])@[\w.\-]+(?:@[\w.\-]+)?", re.UNICODE)
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)", re.UNICODE)
# Hashtags standing as a label list rather than as words of a sentence: two or
# more in a row, or one closing the post ("#Refugees welcome here" keeps its word).
_TAG_LISTS = re.compile(r"(?<![\w#])#\w+(?:\s+#\w+)+|#\w+\s*$", re.UNICODE)
# X cuts retweets and long posts mid-word with "…"; the stump is not a word.
_TRUNCATED = re.compile(r"\S*…\s*$")
_SPACES = re.compile(r"\s+")
_WORDLIKE = re.compile(r"^[^\W_][\w'’.&-]*$")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")

# Words that make poor themes on their own; a phrase is trimmed of them at both ends.
STOPWORDS = frozenset(
    """
    a an the this that these those it its i me my we our us you your he him his she her they them
    their what which who whom whose there here some any all each every no none other another such
    own same so than too very just also only even still yet much many more most few less least lot
    lots thing things something anything nothing everything way ways time times day days today
    tomorrow yesterday tonight morning afternoon evening night week weeks year years moment
    minute minutes hour hours now then pm am rt via amp http https www com thanks thank thx lol
    omg pls please yes ok okay hi hello everyone everybody someone somebody anyone people folks
    guy guys great good best better nice amazing awesome excellent fantastic wonderful brilliant
    interesting important new old first last next big huge small full whole real true main key
    strong powerful inspiring fascinating incredible happy glad proud live part kind sort bit
    one two three mr mrs ms dr st etc
    """.split()
)

_PHRASE_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS", "JJ", "JJR", "JJS", "VBG", "VBN", "FW"})
_NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS", "FW"})
_MAX_PHRASE_WORDS = 4
_LINK_TAGS = frozenset({"DT", "PRP$", "CD", "JJ", "VBN", "VBG"})


def clean_text(text: str, tracked: Iterable[str] = ()) -> str:
    """Text with URLs, @mentions and the tracked hashtags removed; other hashtags become words.

    Tracked hashtags are in every post, so they carry no meaning and would
    dominate every theme; other hashtags inside a sentence are words
    ("a talk on #refugees rights"), so only their '#' goes, while hashtags
    listed as labels (several in a row, or one closing the post) are
    dropped: they are counted as hashtags anyway. A word cut off with "…" is
    dropped. Text arrives as its author wrote it (collectors undo platform
    escaping once), so an "&amp;" here was typed and is left alone.
    """
    tracked_set = {t.casefold().lstrip("#") for t in tracked}
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _TRUNCATED.sub(" ", text.rstrip())
    text = _TAG_LISTS.sub(" ", text.strip())
    text = _HASHTAG.sub(lambda m: " " if m.group(1).casefold() in tracked_set else m.group(1), text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class TextFeatures:
    lang: str | None  # ISO 639-1, or None when neither the text nor the platform tells
    lang_from_text: bool  # False when the platform tag (or nothing) decided
    polarity: float | None  # only for English text
    subjectivity: float | None
    phrases: tuple[str, ...]  # surface forms, lower-cased, deduplicated, in order


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
# Latin script), so `tagwatch.reports.bcms` decides the standard. Croatian's model always
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
    candidate, `tagwatch.reports.bcms.standard_of` tells them apart from the text, the
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


Tagged = list[list[list[str]]]  # sentences of [word, tag, chunk, ...] tokens


def tag(text: str) -> Tagged:
    """`textblob.en.parse(text, chunks=True)` as its raw token lists (split=True).

    The same parse as the slash-formatted string, minus building and re-splitting it.
    """
    return _parse(text, chunks=True, relations=False, lemmata=False, split=True)


def noun_phrases(tagged: Tagged) -> list[str]:
    """Noun phrases from pattern's chunked output, trimmed of stopwords at both ends.

    Besides each chunk (and the shorter phrases inside it), two chunks joined
    by "of" make one phrase too: "freedom of assembly", "rule of law" are
    themes, while "freedom" and "assembly" alone say little.
    """
    found: list[str] = []
    for sentence in map(_join_possessives, tagged):
        # (words, index of first token, index of last token) of each noun chunk
        chunks: list[tuple[list[tuple[str, str]], int, int]] = []
        current: list[tuple[str, str]] = []
        first = 0
        for i, token in enumerate(sentence):
            if len(token) < 3:
                continue
            word, pos, chunk = token[0], token[1], token[2]
            if chunk.endswith("NP") and pos in _PHRASE_TAGS:
                if chunk.startswith("B-") and current:
                    chunks.append((current, first, i - 1))
                    current = []
                if not current:
                    first = i
                current.append((word, pos))
            elif pos == "POS" and current:
                # "women 's rights" is one phrase: the possessive joins its noun.
                last, last_pos = current[-1]
                current[-1] = (last + word.replace("’", "'"), last_pos)
            elif current:
                chunks.append((current, first, i - 1))
                current = []
        if current:
            chunks.append((current, first, len(sentence) - 1))
        trimmed = [(_trim(words), start, end) for words, start, end in chunks]
        for words, _, _ in trimmed:
            if words:
                found.append(_join(words))
                found.extend(_sub_phrases(words))
        for (left, _, end), (right, start, _) in zip(trimmed, trimmed[1:], strict=False):
            modifiers = _linked_by_of(sentence, end, start)
            if left and right and modifiers is not None:
                right = modifiers + right
                # "freedom of assembly matters" also counts as "freedom of assembly".
                for size in range(len(right), 0, -1):
                    head = right[:size]
                    if head[-1][1] in _NOUN_TAGS and len(left) + size <= _MAX_PHRASE_WORDS + 1:
                        found.append(f"{_join(left)} of {_join(head)}")
    return list(dict.fromkeys(found))


def _join_possessives(sentence: list[list[str]]) -> list[list[str]]:
    """The tokenizer splits "women's" into "women", "'", "s"; put it back together,
    so "women's rights" is one phrase rather than "women'" and "rights"."""
    if not any(token[0] in ("'", "’") for token in sentence):
        return sentence
    out: list[list[str]] = []
    i = 0
    while i < len(sentence):
        token = sentence[i]
        if (
            out
            and token[0] in ("'", "’")
            and i + 1 < len(sentence)
            and sentence[i + 1][0].lower() == "s"
        ):
            out[-1] = [out[-1][0] + "'s", *out[-1][1:]]
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def _join(words: list[tuple[str, str]]) -> str:
    return " ".join(w.lower() for w, _ in words)


def _linked_by_of(sentence: list[list[str]], end: int, start: int) -> list[tuple[str, str]] | None:
    """When only "of", determiners and modifiers stand between two chunks: the modifiers
    ("release of [the] imprisoned colleagues"); None when the chunks are not linked."""
    between = sentence[end + 1 : start]
    if not between or between[0][0].lower() != "of":
        return None
    modifiers = []
    for token in between[1:]:
        if len(token) < 2 or token[1] not in _LINK_TAGS:
            return None
        if token[1] in _PHRASE_TAGS:
            modifiers.append((token[0], token[1]))
    return modifiers


def _sub_phrases(words: list[tuple[str, str]]) -> list[str]:
    """Shorter phrases inside a long one, so "human rights defenders" also counts for
    "human rights": without this the theme splits across every longer phrase."""
    out = []
    n = len(words)
    for size in range(n - 1, 1, -1):
        for i in range(n - size + 1):
            span = _trim(words[i : i + size])
            if span and len(span) == size:
                out.append(" ".join(w.lower() for w, _ in span))
    return out


@lru_cache(maxsize=50_000)
def _evaluative(word: tuple[str, str]) -> bool:
    """A strongly judging adjective ("terrible decision", "brilliant talk"): the judgement
    belongs to the tone, the noun to the theme. Mild ones stay ("free press", "legal aid")."""
    if not word[1].startswith(("JJ", "NNP")):  # sentence-initial capitals are tagged NNP
        return False
    scores = _sentiment.get(word[0].lower(), {}).get("JJ")
    return bool(scores) and abs(scores[0]) >= 0.5 and scores[1] >= 0.75


def _trim(words: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
    def meaningful(w: str) -> bool:
        lw = w.lower()
        return lw not in STOPWORDS and len(lw) > 1 and _LETTER.search(lw) is not None

    while words and (not meaningful(words[0][0]) or _evaluative(words[0])):
        words = words[1:]
    while words and (not meaningful(words[-1][0]) or words[-1][1] not in _NOUN_TAGS):
        words = words[:-1]
    if not words or len(words) > _MAX_PHRASE_WORDS:
        return None
    if any(not _LETTER.search(w) or not _WORDLIKE.match(w) for w, _ in words):
        return None  # "hunger!…", "s,shareholders": tokenizer leftovers, not words
    return words


@lru_cache(maxsize=100_000)
def phrase_key(phrase: str) -> str:
    """The form themes are merged on: case-folded, last word singular.

    "Human Rights" and "human right" become one theme ("human right").
    """
    words = phrase.casefold().split()
    if not words:
        return ""
    words[-1] = singularize(words[-1])
    return " ".join(words)


def sentiment_of(tokens: list[str]) -> tuple[float, float]:
    """TextBlob's pattern sentiment (polarity, subjectivity) of already tokenized words.

    Equal to `TextBlob(text).sentiment` (which tokenizes with the same parser),
    without tokenizing the text a second time.
    """
    score = _sentiment([w.lower() for w in tokens])
    return float(score[0]), float(score[1])


def analyze_text(
    text: str,
    *,
    guesser: LanguageGuesser,
    tracked: Iterable[str] = (),
    platform_tag: str | None = None,
) -> TextFeatures:
    """Everything stored for one post, from its raw text."""
    return analyze_many([text], [platform_tag], guesser=guesser, tracked=tracked)[0]


def analyze_many(
    texts: Sequence[str],
    platform_tags: Sequence[str | None],
    *,
    guesser: LanguageGuesser,
    tracked: Iterable[str] = (),
    authors: Sequence[Hashable | None] | None = None,
    history: AuthorHistory | None = None,
) -> list[TextFeatures]:
    """`analyze_text` for a batch (language detection runs in parallel).

    `authors` and `history`: see `LanguageGuesser.guess_many`; earlier texts are
    cleaned the same way as the batch's.
    """
    tracked = tuple(tracked)
    cleaned = [clean_text(text or "", tracked) for text in texts]
    cleaned_history: AuthorHistory | None = None
    if history is not None:
        raw_history = history

        def cleaned_history(wanted: Collection[Hashable]) -> Mapping[Hashable, Sequence[str]]:
            return {
                author: [clean_text(text or "", tracked) for text in earlier]
                for author, earlier in raw_history(wanted).items()
            }

    guesses = guesser.guess_many(cleaned, platform_tags, authors=authors, history=cleaned_history)
    out = []
    for text, (lang, from_text) in zip(cleaned, guesses, strict=True):
        if not (lang == "en" and from_text) or not text:
            # Noun phrases and sentiment come from an English model: applying it to
            # other languages would produce confident nonsense.
            out.append(TextFeatures(lang, from_text, None, None, ()))
            continue
        tagged = tag(text)
        tokens = [token[0] for sentence in tagged for token in sentence]
        polarity, subjectivity = sentiment_of(tokens)
        out.append(TextFeatures(lang, True, polarity, subjectivity, tuple(noun_phrases(tagged))))
    return out
