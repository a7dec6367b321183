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
  Ijekavian is found by *pattern*, as the descriptions state it: long jat is
  `ije` between consonants (`vrijeme, lijep, cijena, svijet, prijevod`), short
  jat `je` after a consonant (`mjesto, djeca, gdje, tjedan, bjeloruski`), and
  after `l` the verb forms `voljeti, željela`. The pattern is guarded against
  what both standards share: `nije/nijedan`, the genitive `-ije` of nouns in
  `-ija` (Srbije, policije: word-final, so never between consonants), `lj`/`nj`
  before `je` (ljudi, zemlje, njegov), a prefix before `j` (objekat, izjednačiti,
  podjednako, sjedinjen, odjek), loanwords (klijent, orijentacija, karijera,
  premijer, higijena, bijenale, Kijev) and the present of `piti, biti, kriti`
  (pijemo, ubijen: `ij` + ending, not jat). Ekavian `e` is everywhere, so it
  cannot be a pattern: ekavian forms are a list, generated from the ijekavian
  stems by the regular correspondence (`ije` -> `e`, consonant + `je` -> `e`) so
  the two lists cannot drift; where the ekavian form would also be a shared
  word (`cena`/`cenzura`, `deca`/`decembar`, `reka`/`rekao`, `telo`/`televizija`)
  only whole words are listed. After `r` short jat is `e` in both
  (`vremena, trebati, sreća`), so those forms are not counted.
- Words and constructions: `hiljada/tisuća`, `saradnja/suradnja`,
  `istorija/povijest` (Bosnian: `historija`), `opština/općina`, `ko/tko`,
  `šta/što` ('what', after a verb of knowing or saying), `da li/je li, hoće li`,
  `porodica/obitelj`, `univerzitet/sveučilište`, `vazduh/zrak`, `muzika/glazba`,
  `pozorište/kazalište`, `uhapsiti/uhititi`, `opozicija/oporba`, `pauza/stanka`,
  `aplauz/pljesak`, `ujutru/ujutro`, `srećan/sretan`, `ćutati/šutjeti`,
  `sprat/kat`, `savremen/suvremen`, Croatian month names,
  `-tija/-cija` (`demokratija/demokracija`), future `biću, radićemo` vs
  `bit ću, radit ćemo`, `da` + present after a modal (Serbian) vs the
  infinitive (prescribed in Croatian, allowed in Serbian), `-ovati/-isati` vs
  `-irati` verbs (organizovati/organizirati), and weakly `sa` vs `s` before a
  consonant. Each is weighted by how reliable it is: words both standards use
  (Serbian also says `sigurnost`, `dvorana`, `osigurati`; Croatian also says
  `pauza`, `link`, `avion`) count little. Bosnian shares most eastern words
  with Serbian but is ijekavian and keeps `h` (`historija, lahko, kahva`).
- A wider lexicon (fourth round), mostly Croatian purisms against the international or
  eastern word Serbian takes: `povjerenstvo/komisija`, `knjižnica/biblioteka`,
  `nogomet/fudbal`, `autocesta/autoput`, `putovnica/pasoš`, `postotak/procenat`,
  `milijun/milion`, `desetljeće/decenija`, `tvrtka, poduzeće/preduzeće`,
  `gospodarstvo/privreda`, `kazneni/krivični`, `glasovanje/glasanje`, `sudac/sudija`,
  `osobno/lično`, `vlastiti/sopstveni`, `poticaj/podsticaj`, `otok/ostrvo`,
  `euro/evro`, `prevoditelj/prevodilac`, `ministrica/ministarka`, `glede`, `dakako`,
  the clitic `ju`; and words Croatian prefers though Serbian also says them, weighted
  low: `rasprava` (Serbian often `debata`), `povlastica` (`privilegija`), `regija`
  (`region`), `ponovno` (`ponovo`), `temelj`, `veseliti se` (`radovati se`), the hour
  written `u 17 sati` (Serbian `17 časova`).
- Modal and phase verbs: the infinitive after them (`moramo razgovarati`, `počinjemo
  raditi`, `nemojte kasniti`, `kako zaštititi`, `drago mi je upoznati`) counts for
  Croatian, most after personal `trebati` (`trebamo učiniti`; Serbian `treba da`);
  `da` + present counts for Serbian only when its subject is the modal's (same
  person ending: `želim da idem`, `možemo da vidimo`), since Croatian also writes `da`
  when the subject changes (`želimo da ovo postane tradicija`).

What it cannot do: a post whose every word both standards use (`Hvala svima!`,
`Solidarnost!`) has no answer in its text; `standard_of` reports it as not decided
by the text, and enrichment then looks at the author's other posts (see
`tagwatch.reports.languages.guess.LanguageGuesser.guess_many`).

Sources:
- Wikipedia, "Comparison of standard Bosnian, Croatian, Montenegrin and Serbian"
  (en.wikipedia.org/wiki/Comparison_of_standard_Bosnian,_Croatian_and_Serbian):
  jat, pronouns `tko/ko` and `što/šta`, infinitive vs `da` + present, `je li/da
  li`, future `pisat ću/pisaću`, internationalisms, vocabulary, month names;
  Serbian and Bosnian accept loanwords, Croatian prefers its own coinages.
- "Differences between standard Serbian, Croatian and Bosnian"
  (sites.google.com/view/bosniancroatianserbianlessons; also the older
  encyclopedia4u.com "Differences in official languages in Serbia, Croatia and
  Bosnia"): Serbian recognises ekavian and ijekavian as equal, Croatian uses only
  ijekavian; in Bosnia and Montenegro ijekavian is used almost exclusively;
  `vetar/vjetar, mleko/mlijeko, hteti/htjeti`.
- "Pričaj srpski: ijekavica i ekavica" (zapadnisrbi.com) and hr.wikipedia
  "Refleksi jata": long jat `ije`, short `je`; `e` in both after consonant + `r`
  (`vremena, trebati, mreža, sreća`) and in the prefixes `pre-`, `ne-`
  (`negdje`); `i` before `o` (`htio, cio, dio`); `nije` is not jat; `prijevod,
  prijenos, prijelaz` lengthen the prefix.
- EasyCroatian rev. 47, appendix "Bosnian, Serbian and Montenegrin"
  (easy-croatian.com/2014/11/a9.html): Serbs in Belgrade write ekavian, Serbs
  outside Serbia mostly ijekavian; `pisat ću/pisaću`; a list that calls
  `bijeli` Croatian and `beli` Serbian oversimplifies.
- Word pairs (`hleb/kruh` and others): talkpal.ai "Hrvatski vs. Srpski" and the
  Wikipedia comparison above (its sections "Vocabulary", "Infinitive vs. subjunctive"
  and "Trebati (need)", also read in the gutenberg.us copy); cs.wiktionary "Příloha:
  Rozdílné lexémy v bosenštině, chorvatštině a srbštině" (`autocesta/autoput`,
  `kazalište/pozorište`, `nogomet/fudbal`, `zrakoplov/avion`, `vlak/voz`, months);
  Wikipedia "Croatian linguistic purism" (Croatian coins native words where Serbian,
  Bosnian and Montenegrin take loanwords) and I. Klajn's Srpski jezički priručnik as
  quoted on vokabular.org (Serbian open to loanwords even where a native synonym
  exists). Bosnian's `h` forms and Turkish loans: Wikipedia
  "Bosnian language".

The platform's tag only breaks a tie (a post tagged Croatian but written in
Cyrillic is Serbian); when nothing tells the standards apart, the tag decides,
else the first of them in the event's configured languages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tagwatch.reports.languages.jat import Weights, jat_reflex

__all__ = ["FAMILY", "standard_of"]

FAMILY = ("sr", "hr", "bs", "cnr")

_HR: Weights = {"hr": 2.0}  # Croatian only
_HR_WEAK: Weights = {"hr": 1.0}  # Croatian's word, but Serbian uses it too
_HR_BS: Weights = {"hr": 1.5, "bs": 1.0}  # Croatian, also usual in Bosnian
_EAST: Weights = {"sr": 1.5, "bs": 1.5, "cnr": 1.5}  # Serbian, Bosnian, Montenegrin
_EAST_WEAK: Weights = {"sr": 0.5, "bs": 0.5, "cnr": 0.5}  # eastern, but Croatian says it too
_EAST_MID: Weights = {"sr": 1.0, "bs": 1.0, "cnr": 1.0}
_SR: Weights = {"sr": 2.0, "cnr": 1.0}  # Serbian (and Montenegrin), not Bosnian
_BS: Weights = {"bs": 2.5}  # Bosnian h-forms and loans
# `sedmica` "week": Bosnian's word; Serbian says `nedelja` more often, Croatian `tjedan`.
_WEEK: Weights = {"bs": 2.0, "cnr": 1.5, "sr": 1.0}
_CNR: Weights = {"cnr": 3.0}  # Montenegrin letters and jotation

# --- words -----------------------------------------------------------------------------
# (stems matched at the start of a word, whole words, weights). Stems are chosen long
# enough not to catch unrelated words.
_MARKERS: list[tuple[str, str, Weights]] = [
    (
        "tisuć surad surađ povijes obitelj sveučiliš kruh tjed siječ veljač ožuj travanj travnj "
        "svib lipanj lipnj srpanj srpnj kolovoz rujan rujn listopad prosin europ tijekom jučer "
        "točn točk veleposlan sudionik sudionic sudjel izvješć priopćen udrug glazb kazališ "
        "znanost znanstv tvornic zrakoplov zračn prosvjed obran branitelj odvjetni izvanred "
        "neovis sustav obvez inozem kemij kirurg pravobranitelj pučk nazočn ravnatelj tajnik "
        "tajnic iznimn vjerojat nevjerojat demokracij diplomacij birokracij autokracij "
        "aristokracij uvjet navečer oporb uhit uhić pljes poveznic sretn šutnj šutj prešut "
        "ušutk kolodvor otvorenj tiskovn suvremen talijan španjol stoljeć promatra gledatelj "
        "slušatelj čitatelj tužitelj prevoditelj tražitelj povjerenstv knjižnic zapovijed "
        "zapovjed nogomet autocest putovnic čimbeni postot postoc ozračj tvrtk poduzeć mirovin "
        "gospodarstv gospodarsk kaznen postrojb promidžb sukladn zadać pozornic "
        "glasovanj glasovat glasoval desetljeć milijun spoln liječnik ministric sportaš "
        "poticaj potaknu osobn odgoj računaln",
        "tko netko nitko itko svatko studeni studenoga vlak vlaka vlakom ured ureda kava kave "
        "kavu stanka stanke stanku stankom sretan pljesak kat katu katom stol šuti šute šutimo "
        "šutite šutim tisak dakako primjerice glede svezi otok otoka otoku otoci otocima euro "
        "računalo računalu računalom eura euru eurima spol spola spolu sudac suca sucu sucem "
        "suci sucima glasovao ju",
        _HR,
    ),
    # Croatian's words where Serbian usually takes the international one (purism: rasprava
    # for debata, povlastica for privilegija, regija for region), but also says them.
    ("rasprav", "ponovno veselim veselimo veseliti", {"hr": 0.75}),
    ("povlastic regij zastupni tisk", "vani", _HR_WEAK),
    ("temelj vlastit", "veseli", {"hr": 0.5}),
    (
        "dvoran sigurnost osigura mrežn potpor izvrsn dopust dopušt",
        "ujutro zrak zraka zraku",
        _HR_WEAK,
    ),
    ("iduć kolegic središt", "", {"hr": 0.5}),
    ("općin uopće općenit također", "opće opći opća opću", _HR_BS),
    (
        "hiljad sarad sarađ porodic univerzitet tokom evrop odbran učesni učestv tačn tačk "
        "pozoriš fabrik ambasad kancelarij nezavis sistem obavez inostran advokat izuzetn dozvol "
        "udruženj hemij hirurg komšij demokratij diplomatij birokratij autokratij "
        "aristokratij uslov vazduh opozicij uhaps uhapš srećn savremen italijan španski "
        "vanred ćutanj ćutat prećut ućutk sprat bezbjed obezbjed posmatra gledaoc slušaoc čitaoc "
        "tužioc branioc prevodioc tražioc fudbal autoput pasoš privred krivičn tužilaštv "
        "računar decenij milion preduzeć saobraćaj ostrv sudij sportist vaspita ministark "
        "sopstven podstic podstak podstič",
        "ko niko neko iko šta voz voza vozom prevodilac tražilac procenat procenta procentu "
        "procenata procente evro evra evru evrima lično lični lična lične ličnog ličnom ličnu "
        "ličnih napolju kafa januar februar mart april maj jun juni jul juli "
        "avgust septembar oktobar novembar decembar srećan ujutru ćuti ćute ćutimo ćutite ćutim "
        "gledalac gledalaca slušalac slušalaca čitalac čitalaca tužilac tužilaca branilac "
        "branilaca",
        _EAST,
    ),
    (
        "muzik koleginic štamp dešava bibliotek kompjuter penzij sprovodi sprovođ sprovest "
        "sproveden sproveo sprovel",
        "sala sale salu salom sali aplauz sajt sajtu region regiona regionu regionom",
        _EAST_MID,
    ),
    ("pauz aerodrom debat privilegij sekretar oblast", "link avion ponovo", _EAST_WEAK),
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

_WORD = re.compile(r"[^\W_]+")  # words and numbers (`u 17 sati`)
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[a-zA-Z\u00C0-\u024F]")
_MONTENEGRIN_LETTERS = re.compile(r"[śź]")
# Questions: `je li` is Croatian; `da li` Serbian and Bosnian (Wikipedia, interrogatives).
# A verb + `li` (`hoće li, zna li, može li`) is the Croatian question; Serbian says `da li
# će`, though it allows the other too.
_JE_LI: Weights = {"hr": 1.5}
_VERB_LI: Weights = {"hr": 1.0}
_VERBS_LI = frozenset(
    "hoće hoćeš hoćemo hoćete zna znaš znamo znate znaju može možeš možemo možete mogu "
    "smije smijem treba trebaju biste bismo jesi jeste jesu".split()
)
_DA_LI: Weights = {"sr": 1.5, "bs": 1.5, "cnr": 1.5}
# `što` for 'what' is Croatian (Serbian `šta`); Serbian `što` is 'that, because'. Counted
# only where it can be 'what': after a verb of knowing or saying, or asking `što mislite`.
_STO_AFTER = frozenset(
    "znam znaš zna znamo znate znaju reći kažem kaže kažu pitam pita pitaju vidi vidite "
    "mislim razumijem učiniti napraviti".split()
)
_STO_BEFORE = frozenset("mislite misliš kažete kažeš radite radiš želite očekujete".split())
_STO: Weights = {"hr": 1.5}
# Future with the infinitive written apart (`bit ću`, `pisat ćemo`): Croatian and Bosnian;
# Serbian and Montenegrin write `biću`, `pisaćemo` (and `biće`, unless "a being").
_FUTURE_APART: Weights = {"hr": 2.0, "bs": 2.0}
_FUTURE_AUX = frozenset({"ću", "ćeš", "će", "ćemo", "ćete"})
_FUTURE_FUSED = re.compile(r"^\w{2,}[aie]ć(?:emo|ete|eš)$|^\w{2,}aću$")
_NOT_FUTURE = frozenset({"braću", "plaću", "hoćemo", "hoćete", "hoćeš"})
_FUTURE_TOGETHER: Weights = {"sr": 1.5, "cnr": 1.5}
_BEING = frozenset({"ljudsko", "ljudskog", "živo", "svako", "jedno"})
# After a modal or phase verb the Croatian standard prescribes the infinitive (`moramo
# razgovarati`, `počinjemo raditi`); Serbian prefers `da` + present (`moramo da
# razgovaramo`) but allows the infinitive, so the infinitive counts moderately, and less
# after phase verbs, where Serbian writes it too. `da` + present counts for Serbian only
# when the subject stays the same (`želim da idem`, `možemo da vidimo`): with a new
# subject (`želimo da ovo postane`) Croatian uses it too (Wikipedia comparison, "Infinitive
# vs. subjunctive"). Personal `trebati` + infinitive (`trebamo učiniti`, `trebali bi
# čuti`) is Croatian; Serbian says `treba da`, `trebalo bi da`.
_P1S, _P2S, _P3S, _P1P, _P2P, _P3P = "1s", "2s", "3s", "1p", "2p", "3p"


def _persons(table: str) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for entry in table.split():
        word, persons = entry.split(":")
        out[word] = frozenset(persons.split(","))
    return out


_MODALS = _persons(
    "moram:1s moraš:2s mora:3s moramo:1p morate:2p moraju:3p "
    "mogu:1s,3p možeš:2s može:3s možemo:1p možete:2p "
    "želim:1s želiš:2s želi:3s želimo:1p želite:2p žele:3p "
    "hoću:1s hoćeš:2s hoće:3s,3p hoćemo:1p hoćete:2p "
    "smem:1s smemo:1p sme:3s smijem:1s smijemo:1p smije:3s smiju:3p smeju:3p "
    "mogao:1s,2s,3s mogla:1s,2s,3s mogli:1p,2p,3p mogle:1p,2p,3p "
    "morao:1s,2s,3s morala:1s,2s,3s morali:1p,2p,3p "
    "htio:1s,2s,3s hteo:1s,2s,3s htjela:1s,2s,3s htela:1s,2s,3s htjeli:1p,2p,3p "
    "hteli:1p,2p,3p"
)
_PHASE = _persons(
    "počinjem:1s počinjemo:1p počinje:3s počinju:3p počeo:1s,2s,3s počela:1s,2s,3s "
    "počeli:1p,2p,3p nastavljamo:1p nastavljam:1s nastavlja:3s nastavljaju:3p "
    "prestanite:2p prestani:2s prestao:1s,2s,3s prestala:1s,2s,3s prestali:1p,2p,3p "
    "pokušavamo:1p pokušavam:1s pokušajte:2p pokušao:1s,2s,3s pokušala:1s,2s,3s "
    "pokušali:1p,2p,3p odlučili:1p,2p,3p odlučio:1s,2s,3s odlučila:1s,2s,3s "
    "volim:1s voli:3s volimo:1p vole:3p planiramo:1p planiram:1s "
    "prestati:1s,2s,3s,1p,2p,3p početi:1s,2s,3s,1p,2p,3p"
)
# Personal `trebati` ("we need to"): Croatian with the infinitive, Serbian `treba da`.
_TREBATI = frozenset("trebam trebaš trebamo trebate trebaju trebao trebala trebali trebale".split())
_IMPERSONAL = frozenset({"treba", "trebalo"})
_NEMOJ = frozenset({"nemoj", "nemojte", "nemojmo"})
_CLITICS = frozenset("se si mi ti mu ga joj nam vam im ih me te ju bi bih bismo biste".split())
_NOT_INFINITIVE = frozenset(
    "ti vijesti obavijesti svijesti savjesti vlasti strasti kući noći peti šesti deseti "
    "četvrti dvadeseti trideseti".split()
)
_INFINITIVE_MODAL: Weights = {"hr": 0.75}
_INFINITIVE_PHASE: Weights = {"hr": 0.5}
_INFINITIVE_TREBATI: Weights = {"hr": 1.5}
_INFINITIVE_NEMOJ: Weights = {"hr": 1.0}
_DA_PRESENT: Weights = {"sr": 1.0, "cnr": 1.0, "bs": 0.5}
# `je, su` after `da`: `mora da je teško` ("it must be hard") is said in both.
_BE = frozenset("je su sam si smo ste bi".split())
_DRAGO_GAP = frozenset("mi nam ti vam mu joj im je bilo bi".split())
# `u 17 sati`: Croatian writes the hour with `sati`; Serbian's standard usage is `časova`
# (or `17h`), though `sati` is heard in speech, so this counts moderately.
_HOUR_SATI: Weights = {"hr": 0.75}


def _is_infinitive(word: str) -> bool:
    return (
        word.endswith(("ti", "ći"))
        and len(word) > 2
        and word not in _NOT_INFINITIVE
        and not word.endswith("osti")
    )


def _next_content(words: Sequence[str], i: int) -> tuple[str, int]:
    """The first word after `i` that is not a clitic (`moramo im pomoći`), and its index."""
    j = i + 1
    while j < len(words) and j <= i + 3 and words[j] in _CLITICS:
        j += 1
    return (words[j], j) if j < len(words) else ("", j)


def _person(verb: str) -> frozenset[str]:
    """Who a present-tense form speaks of, from its ending (`idemo` 1p, `vidi` 3s)."""
    if verb.endswith("mo"):
        return frozenset({_P1P})
    if verb.endswith("te"):
        return frozenset({_P2P})
    if verb.endswith("š"):
        return frozenset({_P2S})
    if verb.endswith("m"):
        return frozenset({_P1S})
    if verb.endswith("u"):
        return frozenset({_P1S, _P3P})
    return frozenset({_P3S, _P3P})


def _modal_evidence(words: Sequence[str], i: int) -> Weights | None:
    """What a modal, phase or `trebati` verb at `i` and what follows it say, if anything."""
    word = words[i]
    nxt, j = _next_content(words, i)
    if not nxt:
        return None
    if word == "kako":  # `kako zaštititi` (Croatian) / `kako da zaštitimo` (both)
        return _INFINITIVE_PHASE if _is_infinitive(nxt) else None
    if word == "drago":  # `drago mi je (bilo) upoznati` / Serbian `drago mi je da upoznam`
        k = i + 1
        while k < len(words) and k <= i + 4 and words[k] in _DRAGO_GAP:
            k += 1
        return _INFINITIVE_NEMOJ if k < len(words) and _is_infinitive(words[k]) else None
    if word in _NEMOJ:
        return _DA_PRESENT if nxt == "da" else _INFINITIVE_NEMOJ if _is_infinitive(nxt) else None
    if word in _IMPERSONAL:
        if nxt == "da":
            return _DA_PRESENT
        return None  # `treba reći` is said in both
    if word in _TREBATI:
        if nxt == "da":
            return _DA_PRESENT
        return _INFINITIVE_TREBATI if _is_infinitive(nxt) else None
    persons = _MODALS.get(word)
    phase = persons is None
    if phase:
        persons = _PHASE.get(word)
    if persons is None:
        return None
    if nxt == "da":
        verb, _ = _next_content(words, j)
        if verb and verb not in _BE and persons & _person(verb):
            return _DA_PRESENT
        return None
    if _is_infinitive(nxt):
        return _INFINITIVE_PHASE if phase else _INFINITIVE_MODAL
    return None


# `sa` before a consonant other than s, z, š, ž (and `mnom`): Serbian usage; Croatian writes
# `s` there (Croatian norm). Both norms allow some overlap, so this counts little.
_SA: Weights = {"sr": 0.5, "bs": 0.25, "cnr": 0.5}
_S: Weights = {"hr": 0.5}


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
        jat = jat_reflex(word)
        if jat is not None:
            _add(out, jat)
        prev = words[i - 1] if i else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word == "sati" and prev.isdigit():
            _add(out, _HOUR_SATI)
        if word == "biće" and prev not in _BEING:
            _add(out, _FUTURE_TOGETHER)
        elif _FUTURE_FUSED.match(word) and word not in _NOT_FUTURE:
            _add(out, _FUTURE_TOGETHER)
        elif word == "što" and (prev in _STO_AFTER or nxt in _STO_BEFORE):
            _add(out, _STO)
        elif word == "sa" and nxt and nxt[0] not in "aeiousšzž" and nxt != "mnom":
            _add(out, _SA)
        elif word == "s" and nxt and nxt[0] not in "aeiousšzž":
            _add(out, _S)
        if nxt == "li":
            if word == "je":
                _add(out, _JE_LI)
            elif word == "da":
                _add(out, _DA_LI)
            elif word in _VERBS_LI:
                _add(out, _VERB_LI)
        elif nxt in _FUTURE_AUX and len(word) > 2 and word.endswith(("at", "it", "jet", "ut")):
            if word not in ("put", "kat", "svat"):
                _add(out, _FUTURE_APART)
        else:
            modal = _modal_evidence(words, i)
            if modal is not None:
                _add(out, modal)
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
