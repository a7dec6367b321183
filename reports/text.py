"""Pure text analysis of one post: language, sentiment, noun phrases.

No database here: monitor/enrichment.py runs these functions once per post and
stores the result, so reports never recompute them. Everything works offline:
TextBlob's NLTK corpora are not needed (we use the bundled pattern parser via
`textblob.en.parse(..., chunks=True)` and its sentiment lexicon, never
`.noun_phrases`/`.words`/`.tags`, which need downloaded corpora).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from textblob.en import parse as _parse
from textblob.en import sentiment as _sentiment
from textblob.en.inflect import singularize

from tagwatch.reports.languages.guess import AuthorHistory, LanguageGuesser

__all__ = [
    "TextFeatures",
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
