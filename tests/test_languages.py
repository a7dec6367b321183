"""Serbian, Croatian, Bosnian (and Montenegrin): telling the standards of one language apart (#18).

The corpora in tests/fixtures/languages/ were written for these tests from public
descriptions of the standards (see its README); `heldout.jsonl` was written before
the rule and never tuned on.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from collectors.fakes.simulation import simulate_event
from monitor.config import parse_config
from monitor.demo import LANGUAGES as DEMO_LANGUAGES
from reports.bcms import scores, standard_of
from reports.text import LanguageGuesser, clean_text

CORPUS = Path(__file__).parent / "fixtures" / "languages"
# A Belgrade event: the host country's language first, Bosnian expected too.
BELGRADE = ["en", "sr", "hr", "bs", "pl", "hu"]


def _rows(name: str) -> list[dict[str, Any]]:
    with (CORPUS / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _accuracy(
    languages: list[str], rows: list[dict[str, Any]], *, tags: bool
) -> dict[str, tuple[int, int]]:
    guesser = LanguageGuesser(languages)
    found = guesser.guess_many(
        [r["text"] for r in rows], [r["tag"] if tags else None for r in rows]
    )
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for row, (lang, _) in zip(rows, found, strict=True):
        key = f"{row['expected']}-{row['script']}"
        total[key] += 1
        right[key] += lang == row["expected"]
    return {key: (right[key], total[key]) for key in total}


@pytest.mark.parametrize("languages", [DEMO_LANGUAGES, BELGRADE], ids=["demo", "with-bs"])
def test_first_corpus_serbian_and_croatian_without_platform_tags(languages: list[str]):
    """heldout.jsonl: held out for the rule's first version (sr 60/60, Cyrillic 15/15,
    hr 53/60), development text since; kept as a regression test."""
    rows = [r for r in _rows("heldout.jsonl") if r["expected"] in ("sr", "hr")]
    accuracy = _accuracy(languages, rows, tags=False)
    assert set(accuracy) == {"sr-Latn", "hr-Latn", "sr-Cyrl"}
    for key, (right, total) in accuracy.items():
        assert total >= 15
        assert right / total >= 0.9, (key, right, total)


def test_first_corpus_bosnian_without_platform_tags():
    """Bosnian shares its words with Serbian and its jat with Croatian: told apart when a
    post has a feature of each (or an `h` form); the rest goes to the first listed."""
    rows = [r for r in _rows("heldout.jsonl") if r["expected"] == "bs"]
    right, total = _accuracy(BELGRADE, rows, tags=False)["bs-Latn"]
    assert total == 15
    assert right / total >= 0.7, (right, total)


@pytest.mark.parametrize("languages", [DEMO_LANGUAGES, BELGRADE], ids=["demo", "with-bs"])
def test_second_corpus_serbian_found_and_text_decisions_right(languages: list[str]):
    """heldout2.jsonl: held out for the rule's second version (sr 60/60, hr 26/60), since
    then development text. Serbian: at least 9 in 10. Croatian posts with nothing that
    tells the standards apart go to the first listed standard (`sr` in Belgrade), so
    Croatian recall stays below that here; but whatever the text decided is right,
    and what it did not decide is not claimed as detected."""
    rows = _rows("heldout2.jsonl")
    found = LanguageGuesser(languages).guess_many([r["text"] for r in rows], [None] * len(rows))
    serbian = [lang for r, (lang, _) in zip(rows, found, strict=True) if r["expected"] == "sr"]
    assert serbian.count("sr") / len(serbian) >= 0.9
    croatian = [lang for r, (lang, _) in zip(rows, found, strict=True) if r["expected"] == "hr"]
    assert croatian.count("hr") / len(croatian) >= 0.7
    decided = [(r["expected"], lang) for r, (lang, text) in zip(rows, found, strict=True) if text]
    assert {expected for expected, _ in decided} == {"sr", "hr"}
    assert all(expected == lang for expected, lang in decided)


def _held_out_3(languages: list[str]) -> dict[str, tuple[int, int]]:
    return _accuracy(languages, _rows("heldout3.jsonl"), tags=False)


@pytest.mark.parametrize("languages", [DEMO_LANGUAGES, BELGRADE], ids=["demo", "with-bs"])
def test_third_corpus_held_out_as_measured(languages: list[str]):
    """heldout3.jsonl, written before the rule's third round and evaluated once, never
    tuned on: Serbian 60/60, Croatian 49/60 (`sr` listed first, no tags). Of the 11
    Croatian misses 10 are ties the text did not decide (4 lines are word for word the
    same in Serbian); one (`želimo da ovo postane`) the `da` + present rule got wrong."""
    accuracy = _held_out_3(languages)
    assert set(accuracy) == {"sr-Latn", "hr-Latn"}
    assert accuracy["sr-Latn"][0] / accuracy["sr-Latn"][1] >= 0.9, accuracy
    assert accuracy["hr-Latn"][0] / accuracy["hr-Latn"][1] >= 0.8, accuracy


@pytest.mark.xfail(strict=True, reason="issue #18's bar for Croatian not met: 49/60 held out")
def test_third_corpus_meets_the_issue_bar_for_croatian():
    """The issue's bar, 9 in 10 for Croatian without tags on text not tuned to, is not met
    (49/60 = 82%). Strict: when a later rule meets it, this fails and must be turned into
    a plain test, on a new held-out set."""
    right, total = _held_out_3(BELGRADE)["hr-Latn"]
    assert right / total >= 0.9


def test_dev_corpus_with_and_without_tags():
    rows = _rows("dev.jsonl")
    untagged = _accuracy(BELGRADE, [r for r in rows if r["tag"] is None], tags=False)
    assert untagged["sr-Latn"][0] == untagged["sr-Latn"][1]
    assert untagged["sr-Cyrl"][0] == untagged["sr-Cyrl"][1]
    # Every tagged line is right: the tag breaks ties and a wrong tag loses to the text.
    tagged = [r for r in rows if r["tag"] is not None]
    assert len(tagged) >= 10
    assert all(right == total for right, total in _accuracy(BELGRADE, tagged, tags=True).values())


def test_cyrillic_is_serbian_whatever_the_tag():
    guesser = LanguageGuesser(["en", "sr", "hr"])
    assert guesser.guess("Медији у Србији су под огромним притиском.", "hr") == ("sr", True)
    # Croatian is not configured: the tag makes it a candidate, and still loses to the script.
    only_sr = LanguageGuesser(["en", "sr"])
    assert only_sr.guess("Хвала на подршци, ово нам много значи.", "hr") == ("sr", True)


def test_text_beats_the_tag_and_the_tag_breaks_ties():
    guesser = LanguageGuesser(["en", "sr", "hr"])
    assert guesser.guess("Deset tisuća ljudi potpisalo je peticiju.", "sr") == ("hr", True)
    assert guesser.guess("Lepo je videti toliko dece na skupu.", "hr") == ("sr", True)
    neutral = "Mediji su pod ogromnim pritiskom."
    assert guesser.guess(neutral, "hr") == ("hr", False)
    assert guesser.guess(neutral, "sr") == ("sr", False)
    # No tag, nothing to tell: the first of them in the event's list, not claimed as detected.
    assert guesser.guess(neutral, None) == ("sr", False)
    assert LanguageGuesser(["en", "hr", "sr"]).guess(neutral, None) == ("hr", False)


def test_one_standard_configured_takes_the_whole_family():
    """An event expecting only Serbian labels Serbian in Latin script `sr`, as before."""
    guesser = LanguageGuesser(["en", "sr"])
    assert guesser.guess("Vreme je da država prestane da napada novinare.") == ("sr", True)
    assert guesser.guess("Vrijeme je da država prestane napadati novinare.") == ("sr", True)


def test_jat_and_words_score_the_standards():
    found = scores("Bit ćemo tamo: povijest, suradnja i obitelj.", ["sr", "hr", "bs"])
    assert found["hr"] > found["bs"] > found["sr"]
    found = scores("Hiljade ljudi, porodice i djeca, došli su na skup.", ["sr", "hr", "bs"])
    assert found["bs"] > found["sr"] and found["bs"] > found["hr"]
    # Stems do not catch shared words: censorship, delegations, "said", "holy".
    assert scores("Cenzura, delegacija, rečeno, sveti", ["sr", "hr"]) == {"sr": 0.0, "hr": 0.0}


def test_bosnian_h_forms_and_montenegrin_letters():
    three = ("sr", "hr", "bs")
    assert standard_of("Nije lahko biti novinar, ali kahva pomaže.", three) == ("bs", True)
    four = ("sr", "hr", "bs", "cnr")
    assert standard_of("Śutra nastavljamo, vidimo se đe smo se dogovorili.", four) == (
        "cnr",
        True,
    )


def test_montenegrin_is_accepted_as_a_configured_language(tmp_path: Path, config_dict: dict):
    config_dict["event"]["languages"] = ["en", "sr", "cnr"]
    config = parse_config(config_dict, path=tmp_path / "config.toml")
    assert config.event.languages == ("en", "sr", "cnr")
    guesser = LanguageGuesser(config.event.languages)
    # Ijekavian with eastern words: not Belgrade's standard, and Montenegrin is configured.
    assert guesser.guess("Hiljade ljudi su došle, a djeca su nosila slike nestalih.") == (
        "cnr",
        True,
    )
    assert guesser.guess("Hiljade ljudi su došle, deca su nosila slike nestalih.") == ("sr", True)


def test_standard_of_needs_a_candidate():
    with pytest.raises(ValueError, match="at least one candidate"):
        standard_of("tekst", ())


def test_demo_reports_serbian_as_second_language():
    """The simulated Belgrade assembly, with no platform tags at all: Serbian is second
    after English, and neither Serbian nor Croatian posts are taken for the other."""
    event = simulate_event()
    posts = [p for p in event.posts if p.repost_of is None]
    texts = [clean_text(p.text, [event.hashtag]) for p in posts]
    found = LanguageGuesser(DEMO_LANGUAGES).guess_many(texts, [None] * len(posts))
    ranking = [lang for lang, _ in Counter(lang for lang, _ in found).most_common()]
    assert ranking[:2] == ["en", "sr"]
    for expected in ("sr", "hr"):
        labels = [lang for p, (lang, _) in zip(posts, found, strict=True) if p.lang == expected]
        assert labels.count(expected) / len(labels) >= 0.9, (expected, Counter(labels))


def test_ijekavian_found_by_pattern_and_shared_words_not():
    """Jat as a pattern (`ije` between consonants, consonant + `je`, `-ljeti`), guarded
    against what both standards share; ekavian forms derived from the ijekavian stems."""
    ijekavian = (
        "vrijeme lijepa rijeka cijena svijet dijete prijevod vjeroispovijest mlijeko mjesto "
        "vjera djeca sjećanje pjesma tjedan gdje ovdje bjeloruski cvjetovi svjetski vidjeti "
        "živjeli htjela voljeti razumjeti željeli podjela"
    ).split()
    shared = (
        "nije nijedan Srbije policije Azije objekat objava izjava razjasniti projekat "
        "subjekt higijena klijent orijentacija Dijana bijenale pijemo ubijeni karijera premijer "
        "Kijev Sjedinjene izjednačiti podjednako ljudi zemlje njegov vremena sreća prijem"
    ).split()
    ekavian = (
        "vreme mesto deca lepa reka cena svet dete prevod pesma gde ovde videti živeli hteo "
        "razumeti nedelja verovatno primer savet vest pre posle mleko telo beloruski sećanje "
        "veroispovest podela"
    ).split()
    for word in ijekavian:
        found = scores(word, ["sr", "hr"])
        assert found["hr"] > found["sr"], word
    for word in shared:
        assert scores(word, ["sr", "hr"]) == {"sr": 0.0, "hr": 0.0}, word
    for word in ekavian:
        found = scores(word, ["sr", "hr"])
        assert found["sr"] > found["hr"], word
    # Shared words an ekavian stem would catch: censorship, December, "said", television.
    assert scores("cenzura decembar rekao televizija", ["sr", "hr"])["hr"] == 0.0
