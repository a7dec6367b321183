"""Which language, and which standard of Serbian, Croatian, Bosnian and Montenegrin, a post
is written in.

    guess.py   `LanguageGuesser`: lingua over the event's languages, tags and authors as hints
    bcms.py    the standard among sr, hr, bs, cnr from what the text says (`standard_of`)
    jat.py     one word's jat reflex (ekavian or ijekavian), bcms.py's strongest sign
"""

from __future__ import annotations

from tagwatch.reports.languages.bcms import FAMILY, scores, standard_of
from tagwatch.reports.languages.guess import AuthorHistory, LanguageGuesser

__all__ = ["FAMILY", "AuthorHistory", "LanguageGuesser", "scores", "standard_of"]
