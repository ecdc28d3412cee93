"""The text analyser: what a text's terms are, for BM25, coverage and highlights.

Terms are lower-cased, accent- and apostrophe-folded, stemmed, with doubled letters
collapsed, so "al-Sa'eed" matches "al-Saeed" and "Liwaa" matches "Liwa"; stopwords
are dropped and common irregular past forms read as their verb ("led" is "lead").
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .errors import MissingDependency

_APOSTROPHES = re.compile(r"[’'ʼ‘`´]")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_REPEATS = re.compile(r"([a-z])\1+")

#: A version or other dotted number ("2.10.0", "v0.120", "3.0") is a term of its own besides
#: its parts, so that "man-db 2.10.0" is told from "man-db 2.11.2" (whose parts overlap).
_TOKENS = re.compile(r"(?P<dotted>(?<![\w.,])v?(?P<number>\d+(?:\.\d+)+)(?!\w|\.\d))|[0-9a-z]+")
_DOTTED_NUMBER = re.compile(r"\d\.\d")

#: Bumped whenever ``terms`` changes: saved term ids of another analyser are rebuilt, not used.
ANALYZER = 2
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves also one many much""".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer
    except ImportError as exc:
        raise MissingDependency("pip install PyStemmer") from exc
    return Stemmer.Stemmer("english")


# Irregular past forms a stemmer cannot reach ("led" is "lead"): common English verbs, leaving
# out forms that are also common words of their own (found, left, rose, saw, fell).
_IRREGULAR = {
    past: base
    for base, forms in (
        ("arise", "arose arisen"),
        ("become", "became"),
        ("begin", "began begun"),
        ("break", "broke broken"),
        ("bring", "brought"),
        ("build", "built"),
        ("buy", "bought"),
        ("catch", "caught"),
        ("choose", "chose chosen"),
        ("come", "came"),
        ("draw", "drew drawn"),
        ("drive", "drove driven"),
        ("eat", "ate eaten"),
        ("fall", "fallen"),
        ("feel", "felt"),
        ("fight", "fought"),
        ("flee", "fled"),
        ("fly", "flew flown"),
        ("forget", "forgot forgotten"),
        ("freeze", "froze frozen"),
        ("get", "got gotten"),
        ("give", "gave given"),
        ("go", "went gone"),
        ("grow", "grew grown"),
        ("hold", "held"),
        ("keep", "kept"),
        ("know", "knew known"),
        ("lead", "led"),
        ("lose", "lost"),
        ("make", "made"),
        ("mean", "meant"),
        ("meet", "met"),
        ("pay", "paid"),
        ("ride", "rode ridden"),
        ("rise", "risen"),
        ("run", "ran"),
        ("say", "said"),
        ("see", "seen"),
        ("seek", "sought"),
        ("sell", "sold"),
        ("send", "sent"),
        ("shake", "shook shaken"),
        ("shoot", "shot"),
        ("sing", "sang sung"),
        ("sink", "sank sunk"),
        ("speak", "spoke spoken"),
        ("spend", "spent"),
        ("stand", "stood"),
        ("steal", "stole stolen"),
        ("strike", "struck"),
        ("swim", "swam swum"),
        ("take", "took taken"),
        ("teach", "taught"),
        ("tell", "told"),
        ("think", "thought"),
        ("throw", "threw thrown"),
        ("understand", "understood"),
        ("wake", "woke woken"),
        ("wear", "wore worn"),
        ("win", "won"),
        ("write", "wrote written"),
    )
    for past in forms.split()
}


def terms(text: str) -> list[str]:
    """The content terms of a text, in order, stemmed and folded."""
    folded = text.lower()
    if not folded.isascii():  # ASCII needs no accent folding (and most text is ASCII)
        folded = unicodedata.normalize("NFKD", folded)
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = _APOSTROPHES.sub("", folded)
    if "." in folded and _DOTTED_NUMBER.search(folded):  # each dotted number's parts, then the number whole
        split = []
        for m in _TOKENS.finditer(folded):
            if m.group("dotted"):
                split.extend(w for w in _NON_WORD.split(m.group("dotted")) if w)
                split.append(m.group("number"))
            else:
                split.append(m.group())
    else:
        split = [w for w in _NON_WORD.split(folded) if w]
    words = [_IRREGULAR.get(w, w) for w in split if w not in STOPWORDS]
    # Doubled letters are a common transliteration variant (Liwa / Liwaa); fold them (in one
    # pass over the joined stems: a space separates them, so no run spans two).
    return _REPEATS.sub(r"\1", " ".join(_stemmer().stemWords(words))).split()


#: Pronouns that point back to something said before ("When was it formed?").
PRONOUNS = frozenset("it its they them their theirs he him his she her hers these those".split())
