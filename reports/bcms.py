"""Which standard of Serbo-Croatian a post is written in: Serbian, Croatian, Bosnian, Montenegrin.

lingua tells this family from English or Polish well, but not its standards
from one another: they are one pluricentric language, and its Croatian model
takes any Serbian written in Latin script. Within the family, `standard_of`
decides with what does tell them apart, each rule taken from public
descriptions of the standards (not from any event's posts):

- Script. Serbian is written in Cyrillic and Latin; Croatian and (in practice)
  Bosnian in Latin only. Cyrillic text is Serbian.
- The reflex of old *jat*. Serbia writes ekavian (`vreme, mesto, deca, lepo`);
  Croatian and Bosnian are ijekavian only (`vrijeme, mjesto, djeca, lijepo`),
  and so is Montenegrin. The Serbian standard allows ijekavian too, and Serbs
  in Bosnia and Montenegro mostly write it, so ijekavian counts a little for
  Serbian and much for the others; ekavian counts only for Serbian.
- Words and constructions: `hiljada/tisuća`, `saradnja/suradnja`,
  `istorija/povijest` (Bosnian: `historija`), `opština/općina`, `ko/tko`,
  `da li/je li`, `porodica/obitelj`, `univerzitet/sveučilište`, Croatian month
  names, `-tija/-cija` (`demokratija/demokracija`), `biću` vs `bit ću`, and
  `da` + present after a modal (Serbian) vs the infinitive (prescribed in
  Croatian, allowed in Serbian). Bosnian shares most eastern words with Serbian
  but is ijekavian and keeps `h` (`historija, lahko, kahva, sahat`).

Sources:
- Wikipedia, "Comparison of standard Bosnian, Croatian, Montenegrin and Serbian"
  (en.wikipedia.org/wiki/Comparison_of_standard_Bosnian,_Croatian_and_Serbian):
  jat, pronouns `tko/ko` and `što/šta`, infinitive vs `da` + present, `je li/da
  li`, future `pisat ću/pisaću`, internationalisms, vocabulary, month names;
  Serbian and Bosnian accept loanwords, Croatian prefers its own coinages.
- "Differences between standard Serbian, Croatian and Bosnian"
  (sites.google.com/view/bosniancroatianserbianlessons): Serbian recognises
  ekavian and ijekavian as equal, Croatian and Bosnian use only ijekavian; in
  Bosnia and Montenegro ijekavian is used almost exclusively.
- EasyCroatian rev. 47, appendix "Bosnian, Serbian and Montenegrin": Serbs in
  Belgrade write ekavian, Serbs outside Serbia mostly ijekavian; a list that
  calls `bijeli` Croatian and `beli` Serbian oversimplifies.
- Bosnian's `h` forms and Turkish loans: Wikipedia "Bosnian language".

The platform's tag only breaks a tie (a post tagged Croatian but written in
Cyrillic is Serbian); when nothing tells the standards apart, the tag decides,
else the first of them in the event's configured languages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["FAMILY", "standard_of"]

FAMILY = ("sr", "hr", "bs", "cnr")

Weights = dict[str, float]

# Ekavian forms exist only in the Serbian standard.
_EK: Weights = {"sr": 2.0}
# Ijekavian: the Croatian, Bosnian and Montenegrin standard, and allowed in Serbian.
_IJ: Weights = {"hr": 1.5, "bs": 1.5, "cnr": 1.5, "sr": 0.25}
_HR: Weights = {"hr": 2.0}  # Croatian only
_HR_BS: Weights = {"hr": 1.5, "bs": 1.0}  # Croatian, also usual in Bosnian
_EAST: Weights = {"sr": 1.5, "bs": 1.5, "cnr": 1.5}  # Serbian, Bosnian, Montenegrin
_SR: Weights = {"sr": 2.0, "cnr": 1.0}  # Serbian (and Montenegrin), not Bosnian
_BS: Weights = {"bs": 2.5}  # Bosnian h-forms and loans
# `sedmica` "week": Bosnian's word; Serbian says `nedelja` more often, Croatian `tjedan`.
_WEEK: Weights = {"bs": 2.0, "cnr": 1.5, "sr": 1.0}
_CNR: Weights = {"cnr": 3.0}  # Montenegrin letters and jotation

# (stems matched at the start of a word, whole words, weights). Stems are chosen
# long enough not to catch unrelated words (`cen` would catch `cenzura`, `del`
# `delegacija`, `reč` the shared `rečeno`, `svet` the shared `sveti` "holy").
_MARKERS: list[tuple[str, str, Weights]] = [
    (
        "vreme vremen mest dečj dečak dečac lep svetsk videt videl želet želeo želel volet voleo "
        "volel živet živeo živel razumet razumeo razumel hteo htel hteti umetn sedet sedeo sedel "
        "sedn sedišt predsedn vredi vredn poslednj poslep posledic sledeć sled rešen rešit rešil "
        "rešav rešio celokup celin ceniti cenjen menja promen izmen zamen uspeh uspeš uspel uspeo "
        "poset predlog primer meren svedok svedoc svedoč svest svesn obavešt obavest izvešt pesm "
        "pesnik cvet verovat veruj verovao verovali verovanj versk čovek čoveč bezbed beža begun "
        "izbeg pretnj preteć nedelj telesn večn zahtev sećanj sećam podel delimi delovanj delovat "
        "delatn odeljen mlek hleb sneg pobed nemač nemc zvezd lekar lečen lečit smeh svetl odeć "
        "vetar sever mesec verovatn donet donel doneo prenet prenel preneo ponet ponel poneo unet "
        "unel uneo dvest uver pover prover poseć izvest",
        "deca decu deci decom reč reči rečima rečju rečnik svet svetu svetom pre posle gde ovde "
        "negde nigde svugde cela celo celog celom celu ceo cena cene ceni cenu cenom mera mere "
        "meru merama vest vesti vestima vera vere veru dete deteta sreda sredu telo tela telu vek "
        "veka veku vekova uvek dve dvema leto letos deo delo dela delu delimo deliti reka reke "
        "reku beo bela belo beli belu",
        _EK,
    ),
    (
        "vrijem mjest riječ djec dječ lijep svijet svjet vidjet vidjel željet željel voljet "
        "voljel živjet živjel razumjet htjel htjet umjetn sjedn sjedi sjedišt predsjedn vrijed "
        "posljed sljed rješen riješ cijel cijen mijenj promjen izmjen zamjen uspjeh uspješ posjet "
        "prijedlog primjer mjer svjed svijest svjesn obavijest obavješt izvještaj pjesm pjesn "
        "cvijet vijest vjerov vjeruj vjersk čovjek čovječ dijete djetet bezbjed bježa bjegun "
        "izbjeg prijetnj prijeteć nedjelj srijed tijel vijek vijeć vječn zahtjev sjećanj sjećam "
        "dijel podjel "
        "djelovanj djelovat djelatn odjel mlijek hljeb snijeg rijek pobjed bijel njemač nijem "
        "zvijezd ljekar liječ lijek smijeh svjetl odjeć vjetar sjever mjesec vjerovatn "
        "podijel razdijel donijet donijel prenijet prenijel ponijet ponijel unijet unijel "
        "dvjest uvjer povjer provjer posjeć izvijest",
        "prije poslije gdje ovdje negdje nigdje svugdje cio uvijek dvije ljeto dio djelo "
        "djela djelu želio volio živio htio vidio razumio sjedio smio vrijedio uspio",
        _IJ,
    ),
    (
        "tisuć surad surađ povijes obitelj sveučiliš kruh tjed siječ veljač ožuj travanj travnj "
        "svib lipanj lipnj srpanj srpnj kolovoz rujan rujn listopad prosin europ tijekom jučer "
        "točn točk veleposlan sudionik sudionic sudjelova izvješć priopćen udrug glazb kazališ "
        "znanost znanstv tvornic zrakoplov prosvjed obran branitelj odvjetni izvanred neovis "
        "sustav obvez inozem kemij kirurg pravobranitelj pučk nazočn ravnatelj tajnik tajnic "
        "dopust dopušt iznimn vjerojatn demokracij diplomacij birokracij autokracij "
        "aristokracij uvjet navečer",
        "tko netko nitko itko svatko studeni studenoga vlak vlaka vlakom ured ureda kava kave kavu",
        _HR,
    ),
    ("općin uopće općenit također", "opće opći opća opću", _HR_BS),
    (
        "hiljad sarad sarađ porodic univerzitet tokom evrop odbran učesni učestvova tačn tačk "
        "pozoriš fabrik ambasad kancelarij nezavis sistem obavez inostran advokat izuzetn dozvol "
        "udruženj hemij hirurg komšij demokratij diplomatij birokratij autokratij "
        "aristokratij uslov",
        "ko niko neko iko šta voz voza vozom kafa januar februar mart april maj jun juni jul juli "
        "avgust septembar oktobar novembar decembar",
        _EAST,
    ),
    (
        "istorij opšt uopšt saopšt takođ",
        "juče uveče biću bićeš bićemo bićete časova",
        _SR,
    ),
    ("historij lahk polahk mehk kahv sahat hudov", "", _BS),
    ("sedmic", "", _WEEK),
    ("", "đe sjutra śutra", _CNR),
]

_STEMS: dict[str, Weights] = {}
_WORDS: dict[str, Weights] = {}
for _stems, _words, _weights in _MARKERS:
    for _stem in _stems.split():
        _STEMS[_stem] = _weights
    for _word in _words.split():
        _WORDS[_word] = _weights
_STEM_LENGTHS = sorted({len(s) for s in _STEMS}, reverse=True)

_WORD = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[a-zA-Z\u00C0-\u024F]")
_MONTENEGRIN_LETTERS = re.compile(r"[śź]")
# Questions: `je li` is Croatian; `da li` Serbian and Bosnian (Wikipedia, interrogatives).
_JE_LI: Weights = {"hr": 1.5}
_DA_LI: Weights = {"sr": 1.5, "bs": 1.5, "cnr": 1.5}
# Future with the infinitive written apart (`bit ću`, `pisat ćemo`): Croatian and Bosnian;
# Serbian and Montenegrin write `biću`, `pisaćemo`.
_FUTURE_APART: Weights = {"hr": 2.0, "bs": 2.0}
_FUTURE_AUX = frozenset({"ću", "ćeš", "će", "ćemo", "ćete"})
# After a modal: `da` + present is preferred in Serbian and Montenegrin, the infinitive is
# prescribed in Croatian but also correct in Serbian, so it counts less.
_MODALS = frozenset(
    "mora moram moramo morate moraju treba trebaju trebamo trebate želim želimo želi žele "
    "hoću hoćemo hoće može možemo mogu možete smemo smijemo sme smije".split()
)
_DA_PRESENT: Weights = {"sr": 1.0, "cnr": 1.0, "bs": 0.5}
_INFINITIVE: Weights = {"hr": 0.5}


# Verbs from international words: Croatian `-irati` (organizirati, dokumentirati), Serbian
# `-ovati`/`-isati` (organizovati, dokumentovati, definisati); Bosnian uses both. Some
# `-irati` verbs are shared (komunicirati), so that ending counts less.
_IRATI = re.compile(
    r"^\w{3,}ir(?:ati|am|aš|amo|ate|aju|ao|ala|alo|ali|ale|an|ana|ano|ani|ane|anje|anja|anju)$"
)
_OVATI = re.compile(
    r"^\w{2,}(?:iz|ent|est|ag)(?:ov(?:ati|ao|ala|alo|ali|ale|an|ana|ano|ani|anje|anja)"
    r"|uj(?:e|em|eš|emo|ete|u))$|^\w{3,}[lnm]isa(?:ti|o|la|lo|li|le|n|na|no|ni|nje)$"
)
_HR_VERB: Weights = {"hr": 0.75}
_SR_VERB: Weights = {"sr": 1.5, "bs": 1.0, "cnr": 1.5}


def _add(scores: dict[str, float], weights: Weights) -> None:
    for code, weight in weights.items():
        if code in scores:
            scores[code] += weight


def _marker(word: str) -> Weights | None:
    found = _WORDS.get(word)
    if found is not None:
        return found
    for n in _STEM_LENGTHS:
        if n <= len(word):
            found = _STEMS.get(word[:n])
            if found is not None:
                return found
    return None


def scores(text: str, candidates: Iterable[str]) -> dict[str, float]:
    """How much the text speaks for each candidate standard (Latin-script features)."""
    out = dict.fromkeys(candidates, 0.0)
    lowered = text.casefold()
    if _MONTENEGRIN_LETTERS.search(lowered):
        _add(out, _CNR)
    words = _WORD.findall(lowered)
    for i, word in enumerate(words):
        weights = _marker(word)
        if weights is not None:
            _add(out, weights)
        elif len(word) > 6:
            if _IRATI.match(word):
                _add(out, _HR_VERB)
            elif _OVATI.match(word):
                _add(out, _SR_VERB)
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if nxt == "li":
            if word == "je":
                _add(out, _JE_LI)
            elif word == "da":
                _add(out, _DA_LI)
        elif nxt in _FUTURE_AUX and len(word) > 2 and word.endswith(("at", "it", "jet", "ut")):
            if word not in ("put", "kat", "svat"):
                _add(out, _FUTURE_APART)
        elif word in _MODALS and nxt:
            if nxt == "da":
                _add(out, _DA_PRESENT)
            elif nxt.endswith(("ti", "ći")):
                _add(out, _INFINITIVE)
    return out


def standard_of(
    text: str, candidates: Sequence[str], platform_tag: str | None = None
) -> tuple[str, bool]:
    """(standard, decided_by_text) among `candidates`, in the event's configured order.

    Cyrillic is Serbian. Otherwise the highest score wins; on a tie (or when
    nothing in the text tells them apart) the platform's tag decides if it is
    one of the tied, else the first tied candidate, and the answer is marked as
    not decided by the text.
    """
    if not candidates:
        raise ValueError("standard_of needs at least one candidate")
    if len(candidates) == 1:
        return candidates[0], True
    if "sr" in candidates and len(_CYRILLIC.findall(text)) > len(_LATIN.findall(text)):
        return "sr", True
    found = scores(text, candidates)
    best = max(found.values())
    tied = [c for c in candidates if found[c] == best]
    if len(tied) == 1 and best > 0:
        return tied[0], True
    if platform_tag in tied:
        return platform_tag, False
    return tied[0], False
