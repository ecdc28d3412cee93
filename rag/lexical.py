"""Lexical retrieval: BM25 over the analyser's terms (analysis.py), with spelling-variant
expansion: a query term also matches index terms one edit away ("Buthaina" / "Bouthaina").

The index is each passage's distinct term ids and counts (a CSR matrix), saved with
the index as NumPy files: opening an index reads them instead of re-analysing every
passage, and an update analyses only the new passages. BM25 is Lucene's variant, as
bm25s computes it (``tests/test_lexical.py`` checks the scores against bm25s).
"""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .analysis import ANALYZER, terms
from .arrays import ranges

#: Terms at least this long also match index terms one edit away.
VARIANT_MIN_LENGTH = 6
#: BM25 parameters (bm25s' and Lucene's defaults).
K1, B = 1.5, 0.75
#: The files a saved index is made of (each named ``<name>.<file>``).
FILES = ("vocab.json", "ptr.npy", "terms.npy", "tf.npy")


def _deletions(term: str) -> set[str]:
    return {term[:i] + term[i + 1 :] for i in range(len(term))}


#: Postings scored at a time when an index is built or opened.
_SLICE = 1 << 20


class LexicalIndex:
    """BM25 over passages plus what abstention needs: each passage's terms and their IDFs.

    Row ``i`` holds the distinct term ids of passage ``i`` (ascending) and their counts:
    ``term_ids[ptr[i]:ptr[i + 1]]`` and ``tf[...]``; ``vocab[id]`` is the term. Build one
    with ``LexicalIndex.build(texts)``, then ``update`` or ``save``/``load`` it.
    """

    def __init__(self, vocab: list[str], ptr: np.ndarray, term_ids: np.ndarray, tf: np.ndarray) -> None:
        self.vocab = vocab
        self.ids = {term: i for i, term in enumerate(vocab)}
        self.ptr = np.asarray(ptr, dtype=np.int64)
        self.term_ids = np.asarray(term_ids, dtype=np.int32)
        self.tf = np.asarray(tf, dtype=np.int32)
        self.n = len(self.ptr) - 1
        self.df = np.bincount(self.term_ids, minlength=len(vocab)).astype(np.int64)
        # BM25 contributions, precomputed per (term, passage) and grouped by term, so a
        # query sums a few posting lists (as bm25s does with its sparse matrix).
        row = np.repeat(np.arange(self.n, dtype=np.int32), np.diff(self.ptr))
        # An empty passage counts as one (empty) token, as bm25s indexes it.
        length = np.maximum(np.bincount(row, weights=self.tf, minlength=self.n), 1.0)
        idf = np.log1p((self.n - self.df + 0.5) / (self.df + 0.5))
        mean = length.mean() if self.n else 1.0
        order = np.argsort(self.term_ids, kind="stable")
        self._post_rows = row[order]
        del row
        self._post_scores = np.empty(len(order), dtype=np.float32)
        # In slices: at 500k passages whole-array temporaries took 250 MB at every open.
        for lo in range(0, len(order), _SLICE):
            at = order[lo : lo + _SLICE]
            tf = self.tf[at].astype(np.float64)
            norm = K1 * (1 - B + B * length[self._post_rows[lo : lo + _SLICE]] / mean)
            self._post_scores[lo : lo + _SLICE] = idf[self.term_ids[at]] * tf / (tf + norm)
        self._post_ptr = np.concatenate([[0], np.cumsum(self.df)])
        # Deletion neighbourhoods (hashed, sorted) find index terms one edit from a query
        # term in O(len): a few binary searches, whatever the vocabulary's size.
        keys: list[int] = []
        owners: list[int] = []
        for i, term in enumerate(vocab):
            if len(term) >= VARIANT_MIN_LENGTH:
                for key in _deletions(term) | {term}:
                    keys.append(hash(key))
                    owners.append(i)
        by_key = np.argsort(np.array(keys, dtype=np.int64), kind="stable")
        self._neighbour_keys = np.array(keys, dtype=np.int64)[by_key]
        self._neighbour_terms = np.array(owners, dtype=np.int32)[by_key]

    # -- building ----------------------------------------------------------------------

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """The index of ``texts`` (one per passage)."""
        vocabulary: dict[str, int] = {}
        ptr, term_ids, tf = _analyse(texts, vocabulary)
        return cls(list(vocabulary), ptr, term_ids, tf)

    def update(self, keep: np.ndarray, texts: Sequence[str]) -> LexicalIndex:
        """A new index: the rows where ``keep`` is true, then ``texts`` analysed and appended.

        Only ``texts`` are analysed; terms no passage uses any more leave the vocabulary.
        """
        keep = np.asarray(keep, dtype=bool)
        sizes = np.diff(self.ptr)[keep]
        kept = np.repeat(keep, np.diff(self.ptr))  # the entries of the kept rows
        vocabulary = dict(self.ids)
        new_ptr, new_ids, new_tf = _analyse(texts, vocabulary)
        term_ids = np.concatenate([self.term_ids[kept], new_ids])
        tf = np.concatenate([self.tf[kept], new_tf])
        ptr = np.concatenate([[0], np.cumsum(np.concatenate([sizes, np.diff(new_ptr)]))])
        used = np.bincount(term_ids, minlength=len(vocabulary)) > 0
        renumber = (np.cumsum(used) - 1).astype(np.int32)  # keeps the order, so rows stay sorted
        vocab = [term for term, u in zip(vocabulary, used, strict=True) if u]
        return LexicalIndex(vocab, ptr, renumber[term_ids], tf)

    # -- persistence -------------------------------------------------------------------

    def save(self, folder: Path, name: str = "lexical") -> list[str]:
        """Write the index as ``name.*`` files in ``folder``; returns their names."""
        vocab = {"analyzer": ANALYZER, "terms": self.vocab}
        (folder / f"{name}.vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        np.save(folder / f"{name}.ptr.npy", self.ptr, allow_pickle=False)
        np.save(folder / f"{name}.terms.npy", self.term_ids, allow_pickle=False)
        np.save(folder / f"{name}.tf.npy", self.tf, allow_pickle=False)
        return [f"{name}.{suffix}" for suffix in FILES]

    @classmethod
    def load(cls, folder: Path, name: str = "lexical") -> LexicalIndex | None:
        """The index saved in ``folder``, or ``None`` when it was made by another analyzer
        (then it must be rebuilt from the passages).

        Raises:
            ValueError: the files are malformed or do not line up.
        """
        vocab = json.loads((folder / f"{name}.vocab.json").read_text(encoding="utf-8"))
        if not isinstance(vocab, dict) or not isinstance(vocab.get("terms"), list):
            raise ValueError(f"{name}.vocab.json is not a vocabulary")
        if vocab.get("analyzer") != ANALYZER:
            return None
        ptr = np.load(folder / f"{name}.ptr.npy", allow_pickle=False)
        term_ids = np.load(folder / f"{name}.terms.npy", allow_pickle=False)
        tf = np.load(folder / f"{name}.tf.npy", allow_pickle=False)
        terms_list = vocab["terms"]
        if (
            ptr.ndim != 1
            or len(ptr) == 0
            or ptr[0] != 0
            or np.any(np.diff(ptr) < 0)
            or ptr[-1] != len(term_ids)
            or len(tf) != len(term_ids)
            or (len(term_ids) and (term_ids.min() < 0 or term_ids.max() >= len(terms_list) or tf.min() < 1))
            or not all(isinstance(t, str) for t in terms_list)
        ):
            raise ValueError(f"the {name} files do not line up")
        return cls(terms_list, ptr, term_ids, tf)

    # -- querying ----------------------------------------------------------------------

    def expand(self, query_terms: Sequence[str]) -> dict[str, set[str]]:
        """Each query term and the index terms that count as it (itself and its spelling variants)."""
        expanded: dict[str, set[str]] = {}
        for term in dict.fromkeys(query_terms):
            found = {term} if term in self.ids else set()
            if len(term) >= VARIANT_MIN_LENGTH - 1 and len(self._neighbour_keys):
                keys = np.array([hash(key) for key in _deletions(term) | {term}], dtype=np.int64)
                lo = np.searchsorted(self._neighbour_keys, keys, side="left")
                hi = np.searchsorted(self._neighbour_keys, keys, side="right")
                for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                    found.update(
                        v for v in (self.vocab[i] for i in self._neighbour_terms[a:b].tolist()) if _one_edit(term, v)
                    )
            expanded[term] = found
        return expanded

    def idf(self, term: str) -> float:
        df = int(self.df[self.ids[term]]) if term in self.ids else 0
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def rows_with(self, term: str) -> np.ndarray:
        """The rows whose text holds ``term`` (its posting list; empty for a term no row holds)."""
        i = self.ids.get(term)
        return self._post_rows[self._post_ptr[i] : self._post_ptr[i + 1]] if i is not None else self._post_rows[:0]

    def bm25(self, weights: list[tuple[set[str], float]]) -> np.ndarray:
        """BM25 score of every passage for the expanded query (see ``weights``)."""
        ids = sorted({self.ids[v] for variants, _ in weights for v in variants if v in self.ids})
        if not self.n or not ids:
            return np.zeros(self.n, dtype=np.float32)
        rows = np.concatenate([self._post_rows[self._post_ptr[i] : self._post_ptr[i + 1]] for i in ids])
        scores = np.concatenate([self._post_scores[self._post_ptr[i] : self._post_ptr[i + 1]] for i in ids])
        return np.bincount(rows, weights=scores, minlength=self.n).astype(np.float32)

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

    def coverage_of(self, weights: list[tuple[set[str], float]], rows: np.ndarray) -> np.ndarray:
        """``coverage`` of each passage in ``rows``, from its stored terms."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float32)
        sizes = self.ptr[rows + 1] - self.ptr[rows]
        present = self.term_ids[ranges(self.ptr[rows], sizes)]
        owner = np.repeat(np.arange(len(rows)), sizes)
        for variants, weight in weights:
            ids = [self.ids[v] for v in variants if v in self.ids]
            if ids and weight:
                covered = np.zeros(len(rows), dtype=bool)
                covered[owner[np.isin(present, ids)]] = True
                out += np.float32(weight) * covered
        return out

    def terms_of(self, row: int) -> np.ndarray:
        """The distinct term ids of passage ``row``, ascending."""
        return self.term_ids[self.ptr[row] : self.ptr[row + 1]]


def _analyse(texts: Sequence[str], vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each text's distinct term ids (ascending) and counts, as CSR arrays; new terms are
    added to ``vocabulary``."""
    ptr = array("q", [0])
    term_ids = array("i")
    tf = array("i")
    for text in texts:
        counts: dict[int, int] = {}
        for term in terms(text):
            i = vocabulary.setdefault(term, len(vocabulary))
            counts[i] = counts.get(i, 0) + 1
        for i in sorted(counts):
            term_ids.append(i)
            tf.append(counts[i])
        ptr.append(len(term_ids))
    return (
        np.frombuffer(ptr, dtype=np.int64).copy(),
        np.frombuffer(term_ids, dtype=np.int32).copy(),
        np.frombuffer(tf, dtype=np.int32).copy(),
    )


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
