"""Lexical retrieval: BM25 (bm25s) over folded, stemmed terms, with spelling-variant expansion.

Terms are lower-cased, accent- and apostrophe-folded, stemmed, with doubled letters
collapsed, so "al-Sa'eed" matches "al-Saeed" and "Liwaa" matches "Liwa". A query
term also matches index terms one edit away ("Buthaina" / "Bouthaina").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from .errors import MissingDependency

_APOSTROPHES = re.compile(r"[’'ʼ‘`´]")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_REPEATS = re.compile(r"([a-z])\1+")

#: Terms at least this long also match index terms one edit away.
VARIANT_MIN_LENGTH = 6

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
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    words = [_IRREGULAR.get(w, w) for w in _NON_WORD.split(_APOSTROPHES.sub("", folded)) if w and w not in STOPWORDS]
    # Doubled letters are a common transliteration variant (Liwa / Liwaa); fold them.
    return [_REPEATS.sub(r"\1", stem) for stem in _stemmer().stemWords(words)]


def _deletions(term: str) -> set[str]:
    return {term[:i] + term[i + 1 :] for i in range(len(term))}


class LexicalIndex:
    """BM25 over passages plus what abstention needs: each passage's term set and IDFs.

    Args:
        texts: the lexical text of each passage (its words and its context's).
    """

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        # Terms are interned: a corpus repeats the same few thousand words millions of
        # times, and one string object per distinct term keeps 100k passages in memory.
        vocabulary: dict[str, str] = {}
        docs = [[vocabulary.setdefault(term, term) for term in terms(t)] for t in texts]
        self.sets = [frozenset(d) for d in docs]
        self.df: Counter[str] = Counter()
        for s in self.sets:
            self.df.update(s)
        self.n = len(docs)
        self._bm25 = bm25s.BM25()
        if self.n:
            self._bm25.index([d or [""] for d in docs], show_progress=False)
        del docs  # bm25s keeps its own token ids; only the term sets are needed later
        # Deletion neighbourhoods find index terms one edit from a query term in O(len).
        self._neighbours: dict[str, set[str]] = defaultdict(set)
        for term in self.df:
            if len(term) >= VARIANT_MIN_LENGTH:
                for key in _deletions(term) | {term}:
                    self._neighbours[key].add(term)

    def expand(self, query_terms: Sequence[str]) -> dict[str, set[str]]:
        """Each query term and the index terms that count as it (itself and its spelling variants)."""
        expanded: dict[str, set[str]] = {}
        for term in dict.fromkeys(query_terms):
            found = {term} if term in self.df else set()
            if len(term) >= VARIANT_MIN_LENGTH - 1:
                for key in _deletions(term) | {term}:
                    found |= {v for v in self._neighbours.get(key, ()) if _one_edit(term, v)}
            expanded[term] = found
        return expanded

    def idf(self, term: str) -> float:
        return math.log(1 + (self.n - self.df.get(term, 0) + 0.5) / (self.df.get(term, 0) + 0.5))

    def bm25(self, weights: list[tuple[set[str], float]]) -> np.ndarray:
        """BM25 score of every passage for the expanded query (see ``weights``)."""
        tokens = sorted({v for variants, _ in weights for v in variants})
        if not self.n or not tokens:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def weights(self, expanded: dict[str, set[str]]) -> list[tuple[set[str], float]]:
        """Each query term's variants with its share of the query's IDF mass (shares sum to 1).

        A term absent from the whole corpus weighs as much as the rarest term: a
        question about something the documents never mention is not covered.
        """
        unseen = math.log(1 + (self.n + 0.5) / 0.5)
        raw = [(variants, self.idf(t) if variants else unseen) for t, variants in expanded.items()]
        total = sum(w for _, w in raw)
        return [(v, w / total) for v, w in raw] if total > 0 else []

    def coverage(self, weights: list[tuple[set[str], float]], present: set[str]) -> float:
        """IDF-weighted share of the query's terms found in ``present`` (0..1)."""
        return sum(w for variants, w in weights if not variants.isdisjoint(present))


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by at most one insertion, deletion or substitution."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]
