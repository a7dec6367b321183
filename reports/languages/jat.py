"""The jat reflex of one word: ekavian (`vreme, mesto`), ijekavian (`vrijeme, mjesto`) or
neither, the strongest single sign of which BCMS standard a Latin-script post is written in.

Why a module of its own: it is a closed piece of phonology (a stem list, its regular
ekavian correspondence and the patterns for words no list holds), tested on its own and
read by `bcms.py`, which weighs it with the rest of the evidence.
"""

from __future__ import annotations

import re

__all__ = ["Weights", "jat_reflex"]

Weights = dict[str, float]

# Ekavian forms exist only in the Serbian standard.
_EK: Weights = {"sr": 2.0}
# Ijekavian: the Croatian, Bosnian and Montenegrin standard, and allowed in Serbian.
_IJ: Weights = {"hr": 1.5, "bs": 1.5, "cnr": 1.5, "sr": 0.25}

# --- jat -------------------------------------------------------------------------------
# Ijekavian stems (matched at the start of a word); the ekavian stem is derived.
_JAT_STEMS = (
    "mjest mjesec mjeren namjer smjer dječj dječij dječak dječac ljepš ljepot svjetsk "
    "vidjet vidjel željet željel voljet voljel živjet živjel razumjet razumijev htjel htjet "
    "umjetn sjedn sjedišt sjedi predsjedn vrijedn vrijedi posljedn posljedic sljedeć sljed "
    "riješit riješil riješen riješio rješen rješav cjelokup cjelin cjelovit cijenjen cijenit "
    "ocjen ocijen procjen procijen mijenj promjen promijen izmjen izmijen zamjen zamijen "
    "uspjeh uspješ uspjel posjet posjeć prijedlog primjer svjedo svijest svjesn obavijest "
    "obavješt izvještaj pjesm pjesn cvijet cvjet vijest vjerovat vjeruj vjersk vjernik "
    "vjerovatn nevjerovatn čovjek čovječ djetet bježa bjegun izbjeg prijetnj prijeteć "
    "nedjelj vječn zahtjev sjećanj sjećam sjeća sjetit osjeć podjel podijel razdijel "
    "djelovanj djelovat djeluj djelatn odjeljenj mlijek hljeb snijeg snjeg pobjed bjelorus "
    "njemač zvijezd ljekar liječ smijeh svjetl odjeć vjetar sjever donijet donijel prenijet "
    "prenijel ponijet ponijel unijet unijel dvjest uvjer povjer provjer savjet vjenča vježb "
    "djevojk tjelesn svjež osvjež ljevic rijetk bezbjed obezbjed uvrijed vrijeđ slijep "
    "vjeroispovijes"
).split()
# Ijekavian whole words whose ekavian stem would also catch shared words.
_JAT_WORDS = (
    "vrijeme djeca djecu djeci djecom dijete lijep lijepa lijepo lijepe lijepi lijepu "
    "lijepog lijepom lijepih riječ riječi riječima riječju rječnik svijet svijetu svijetom "
    "cijela cijelo cijelog cijelom cijelu cijele cijeli cijelim cijelih cijena cijene cijeni "
    "cijenu cijenom cijenama mjera mjere mjeru mjerom mjerama vjera vjere vjeru vjerom "
    "djelo djela djelu djelom dijela dijelu dijelom dijelovi dijelove dijelova dijeli "
    "dijelimo dijele srijeda srijedu srijede tijelo tijela tijelu tijelom tijelima vijek "
    "vijeka vijeku vjekova vjekovima rijeka rijeke rijeku rijekom lijek lijeka lijekovi "
    "lijekova bijela bijelo bijeli bijelu bijelog bijelom bijele ljeto ljetos ljetnji ljetnje "
    "prijevod prijevoda prijevodu prijevodom prijenos prijenosa prijenosu prijelaz prijelaza "
    "prijepodne poslijepodne prije poslije dvije dvjema uvijek gdje ovdje negdje nigdje "
    "svugdje ondje nijemci nijemce nijemaca"
).split()
# Jat before `o` is `i` in ijekavian and `e` in ekavian: not derivable.
_JAT_PAIRS = (
    ("cio", "ceo"),
    ("dio", "deo"),
    ("htio", "hteo"),
    ("želio", "želeo"),
    ("volio", "voleo"),
    ("živio", "živeo"),
    ("smio", "smeo"),
    ("umio", "umeo"),
    ("razumio", "razumeo"),
    ("uspio", "uspeo"),
    ("sjedio", "sedeo"),
    ("vrijedio", "vredeo"),
    ("vidio", ""),  # ekavian `video` is also "a video"
)


def _ekavian(ijekavian: str) -> str:
    """The regular correspondence: `ije` -> `e`, consonant + `je` -> `e` (`lje` -> `le`)."""
    return re.sub(r"(?<=[^aeiou])je", "e", ijekavian.replace("ije", "e"))


_IJ_STEMS = frozenset(_JAT_STEMS)
_IJ_WORDS = frozenset(_JAT_WORDS) | {ij for ij, _ in _JAT_PAIRS}
_EK_STEMS = frozenset(_ekavian(s) for s in _JAT_STEMS)
_EK_WORDS = frozenset(_ekavian(w) for w in _JAT_WORDS) | {ek for _, ek in _JAT_PAIRS if ek}
_JAT_STEM_LENGTHS = sorted({len(s) for s in _IJ_STEMS | _EK_STEMS}, reverse=True)

_CONS = "bcčćdđfghjklmnprsštvzž"
# Long jat: `ije` between consonants inside a word (`vrijeme`, `cijena`, `prijevod`).
_IJE = re.compile(f"[{_CONS}]ije[{_CONS}]")
# Short jat: `je` after a consonant other than `l`, `n` (`lj`, `nj` are letters), inside a
# word (`mjesto`, `gdje`). A word-initial `j` has no consonant before it.
_JE = re.compile(r"[bcčćdđfghkmprsštvzž]je")
# After `l` short jat shows only in the ending: `voljeti, željela, živjeli` (`lje` + verb).
_LJETI = re.compile(r"^\w{2,}lje(?:ti|la|lo|li|le)$")
# Shared words the patterns would catch: `nijedan`, loanwords, prefix + `j`, place names.
_NOT_JAT = re.compile(
    r"^nije|ijent|ijer|higijen|bijenal|vijetnam|kijev|danijel|gabrijel|prijem|orijen"
    r"|objek|subjek|izjedn|podjedn|objedin|sjedin|odjek|objelodan|adjek|sjenic|bijeljin"
)
# The present and participle of `piti, biti, kriti, liti, šiti, viti` (`pijemo, ubijen`).
_IJ_VERB = re.compile(r"(?:p|b|kr|l|š|v)ije(?:m|š|mo|te|n|na|no|ni|ne|nog|nom|nih|nim)$")


def jat_reflex(word: str) -> Weights | None:
    """Ekavian (`_EK`), ijekavian (`_IJ`) or neither, for one lower-case word."""
    if word in _EK_WORDS:
        return _EK
    if word in _IJ_WORDS:
        return _IJ
    for n in _JAT_STEM_LENGTHS:
        if n <= len(word):
            prefix = word[:n]
            if prefix in _EK_STEMS:
                return _EK
            if prefix in _IJ_STEMS:
                return None if _NOT_JAT.search(word) else _IJ
    if "je" not in word or _NOT_JAT.search(word):
        return None
    if (_IJE.search(word) and not _IJ_VERB.search(word)) or _JE.search(word):
        return _IJ
    if _LJETI.match(word):
        return _IJ
    return None
