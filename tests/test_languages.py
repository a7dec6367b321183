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

from tagwatch.collectors.fakes.simulation import simulate_event
from tagwatch.monitor.demo import LANGUAGES as DEMO_LANGUAGES
from tagwatch.reports.languages import LanguageGuesser, scores, standard_of
from tagwatch.reports.text import clean_text
from tagwatch.settings import parse_config

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


def _by_class(
    languages: list[str], name: str
) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Per standard: (right, total) over all lines and over lines not marked ambiguous."""
    rows = _rows(name)
    found = LanguageGuesser(languages).guess_many([r["text"] for r in rows], [None] * len(rows))
    out: dict[str, list[int]] = {}
    for row, (lang, _) in zip(rows, found, strict=True):
        counts = out.setdefault(row["expected"], [0, 0, 0, 0])
        right = lang == row["expected"]
        counts[0] += right
        counts[1] += 1
        if not row["ambiguous"]:
            counts[2] += right
            counts[3] += 1
    return {k: ((v[0], v[1]), (v[2], v[3])) for k, v in out.items()}


@pytest.mark.parametrize("languages", [DEMO_LANGUAGES, BELGRADE], ids=["demo", "with-bs"])
def test_third_corpus_now_development_text(languages: list[str]):
    """heldout3.jsonl: held out for the third round (sr 60/60, hr 49/60), development text
    for the fourth (sr 60/60, hr 55/60; the 5 misses are all marked ambiguous)."""
    found = _by_class(languages, "heldout3.jsonl")
    (sr_right, sr_total), (sr_clear, sr_clear_total) = found["sr"]
    assert sr_right == sr_total and sr_clear == sr_clear_total
    (hr_right, hr_total), (hr_clear, hr_clear_total) = found["hr"]
    assert hr_right / hr_total >= 0.9, found
    assert hr_clear == hr_clear_total, found


@pytest.mark.parametrize("languages", [DEMO_LANGUAGES, BELGRADE], ids=["demo", "with-bs"])
def test_fourth_corpus_held_out_meets_the_bar_on_unambiguous_lines(languages: list[str]):
    """heldout4.jsonl, written and its ambiguous lines marked before the fourth round, then
    evaluated once, never tuned on (no tags, `sr` listed first). Issue #18's bar, 9 in
    10 per standard, met on the lines a speaker can tell apart: Serbian 48/49, Croatian
    45/48. Over all lines: Serbian 59/60, Croatian 46/60 (the 12 ambiguous Croatian
    lines go to `sr`, listed first, as any rule without tags or authors must)."""
    found = _by_class(languages, "heldout4.jsonl")
    for code in ("sr", "hr"):
        _, (right, total) = found[code]
        assert total >= 45
        assert right / total >= 0.9, (code, found)
    (sr_right, sr_total), _ = found["sr"]
    assert sr_right / sr_total >= 0.95, found
    (hr_right, hr_total), _ = found["hr"]
    assert hr_right / hr_total >= 0.75, found


def test_serbian_never_pulled_to_croatian_in_development_text():
    """No Serbian line (Latin or Cyrillic) of the sets the rule was developed on is taken
    for Croatian. (Held-out 4 has one: `rasprava` outweighed `sa`; see its README.)"""
    for name in ("dev.jsonl", "heldout.jsonl", "heldout2.jsonl", "heldout3.jsonl"):
        rows = [r for r in _rows(name) if r["expected"] == "sr"]
        found = LanguageGuesser(BELGRADE).guess_many([r["text"] for r in rows], [None] * len(rows))
        pulled = [r["text"] for r, (lang, _) in zip(rows, found, strict=True) if lang != "sr"]
        assert pulled == [], (name, pulled)


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


NEUTRAL = "Mediji su pod ogromnim pritiskom."


def test_ties_take_the_authors_majority_of_text_decided_posts():
    """A post the text does not decide goes to what the same author's other posts in the
    batch were decided as by their text; ties elsewhere stay with tag or event order."""
    guesser = LanguageGuesser(["en", "sr", "hr"])
    texts = [
        "Deset tisuća ljudi potpisalo je peticiju.",  # a: Croatian by its text
        NEUTRAL,  # a: tie -> a's majority
        NEUTRAL,  # b: tie, no other post -> first listed
        "Lepo je videti toliko dece na skupu.",  # c: Serbian by its text
        "Tko je bio na panelu jučer?",  # c: Croatian by its text
        NEUTRAL,  # c: one each, no majority -> first listed
        NEUTRAL,  # None: unknown author -> first listed
        NEUTRAL,  # a again, tagged Serbian: the author's majority beats the tag
    ]
    authors = ["a", "a", "b", "c", "c", "c", None, "a"]
    tags = [None] * 7 + ["sr"]
    found = guesser.guess_many(texts, tags, authors=authors)
    assert found == [
        ("hr", True),
        ("hr", False),
        ("sr", False),
        ("sr", True),
        ("hr", True),
        ("sr", False),
        ("sr", False),
        ("hr", False),
    ]
    # Without authors nothing changes.
    assert guesser.guess_many(texts[:2], [None, None])[1] == ("sr", False)


def test_author_history_is_asked_only_for_tied_authors_and_cleaned():
    asked: list[set] = []

    def history(wanted):
        asked.append(set(wanted))
        return {"a": ["#HRHN2016 Bit ćemo tamo sutra, vidimo se u dvorani."]}

    guesser = LanguageGuesser(["en", "sr", "hr"])
    found = guesser.guess_many(
        [NEUTRAL, "Lepo je videti toliko dece na skupu."],
        [None, None],
        authors=["a", "d"],
        history=history,
    )
    assert found == [("hr", False), ("sr", True)]
    assert asked == [{"a"}]  # `d` was decided by its text: nothing to ask


def test_modal_verbs_infinitive_and_da_with_the_same_subject():
    two = ("sr", "hr")
    # The infinitive after a modal or phase verb (clitics skipped) is Croatian evidence.
    for text in (
        "Moramo im pomoći.",
        "Počinjemo raditi u devet.",
        "Nemojte kasniti.",
        "Trebamo učiniti više.",
    ):
        assert standard_of(text, two) == ("hr", True), text
    # `da` + present with the modal's own subject is Serbian evidence...
    for text in ("Moramo da im pomognemo.", "Želim da idem.", "Nemojte da kasnite."):
        assert standard_of(text, two) == ("sr", True), text
    # ...but not with a new subject, which Croatian writes too, nor `mora da je` ("must be").
    assert standard_of("Želimo da ovo postane tradicija.", two) == ("sr", False)
    assert standard_of("Mora da je teško.", two) == ("sr", False)


def test_purisms_hours_and_the_clitic_ju():
    two = ("sr", "hr")
    for hr_text, sr_text in (
        ("Povjerenstvo je objavilo postotak.", "Komisija je objavila procenat."),
        ("Sudac je osobno došao.", "Sudija je lično došao."),
        ("Milijun eura za nogomet.", "Milion evra za fudbal."),
        ("Konferencija je u 17 sati.", "Konferencija je u 17 časova."),
    ):
        assert standard_of(hr_text, two) == ("hr", True), hr_text
        assert standard_of(sr_text, two) == ("sr", True), sr_text
    assert standard_of("Vidjela sam ju na panelu.", two)[0] == "hr"
    # Shared words the new stems must not catch: "they counted", votes, outside.
    assert scores("računali glasova spolja", two) == {"sr": 0.0, "hr": 0.0}
