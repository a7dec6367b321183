"""The preset word lists bundled for the wall's hold rules, one file per language.

Why bundled rather than fetched: the wall must work offline in a conference hall, and
a list that changes under a running event would re-judge posts nobody asked it to.
The lists are LDNOOBW's (CC BY 4.0, see `wordlists/README.txt`), copied unchanged
with a header naming their source; `[wall] preset_words` decides what they do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

__all__ = ["Preset", "preset_for", "available_languages", "words_of"]

_FOLDER = "wordlists"


@dataclass(frozen=True)
class Preset:
    """The preset words of an event's languages, and which languages had no list."""

    words: tuple[str, ...]
    covered: tuple[str, ...]
    missing: tuple[str, ...]
    by_language: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _files() -> resources.abc.Traversable:
    return resources.files("tagwatch.reports.wall").joinpath(_FOLDER)


@cache
def available_languages() -> tuple[str, ...]:
    """Languages with a bundled list (ISO 639-1 codes, as `[event] languages` writes them)."""
    names = (f.name for f in _files().iterdir() if f.is_file())
    return tuple(sorted(n[:-4] for n in names if n.endswith(".txt") and n not in _NOT_LISTS))


_NOT_LISTS = {"LICENSE.txt", "README.txt"}


@cache
def words_of(language: str) -> tuple[str, ...]:
    """One language's list: its lines, without the header's comments and blank lines."""
    text = _files().joinpath(f"{language}.txt").read_text(encoding="utf-8")
    return tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def preset_for(languages: tuple[str, ...] | list[str]) -> Preset:
    """The words of every listed language that has a list; the others are named as missing."""
    have = set(available_languages())
    covered: list[str] = []
    missing: list[str] = []
    words: list[str] = []
    by_language: dict[str, tuple[str, ...]] = {}
    for lang in dict.fromkeys(code.strip().lower().split("-")[0] for code in languages):
        if not lang:
            continue
        if lang in have:
            covered.append(lang)
            words.extend(words_of(lang))
            by_language[lang] = words_of(lang)
        else:
            missing.append(lang)
    return Preset(tuple(dict.fromkeys(words)), tuple(covered), tuple(missing), by_language)
