"""Lexical evidence: which of the question's terms a passage or sentence contains.

Terms are lower-cased, accent- and apostrophe-folded, stemmed and de-duplicated,
so "al-Sa'eed" matches "al-Saeed" and "Liwaa" matches "Liwa". Coverage is the
IDF-weighted share of the question's terms found, a number in [0, 1].
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

_APOSTROPHES = re.compile(r"[’'ʼ‘`´]")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_REPEATS = re.compile(r"([a-z])\1+")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves also did does one many much""".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """The content terms of a text, in order, stemmed and folded."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    words = [w for w in _NON_WORD.split(_APOSTROPHES.sub("", folded)) if w and w not in STOPWORDS]
    # Doubled letters are a common transliteration variant (Liwa / Liwaa); fold them.
    return [_REPEATS.sub(r"\1", stem) for stem in _stemmer().stemWords(words)]


class Lexicon:
    """Document frequencies of terms over a set of passages."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.df: Counter[str] = Counter()
        self.n = 0
        for text in texts:
            self.df.update(set(terms(text)))
            self.n += 1

    def idf(self, term: str) -> float:
        return math.log(1 + (self.n + 1) / (self.df.get(term, 0) + 0.5))

    def coverage(self, query_terms: Iterable[str], text_terms: set[str]) -> float:
        """IDF-weighted share of ``query_terms`` present in ``text_terms``."""
        unique = set(query_terms)
        total = sum(self.idf(t) for t in unique)
        if total == 0:
            return 0.0
        return sum(self.idf(t) for t in unique if t in text_terms) / total
