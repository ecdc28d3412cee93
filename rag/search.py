"""Retrieval over one snapshot: dense paragraph and sentence scores fused with lexical coverage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Settings
from .lexical import Lexicon, terms
from .store import Snapshot
from .types import Passage, Span

#: Words that make a question lean on the one before it ("When was it formed?").
_REFERRING = frozenset("it its they them their theirs he him his she her hers this that these those there".split())


@dataclass(frozen=True)
class Query:
    """A question ready to search: its text, vector and lexical terms."""

    text: str
    vector: np.ndarray
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Hit:
    """A passage and the evidence that it answers."""

    row: int
    score: float
    paragraph: float
    sentence: float
    lexical: float


def retrieval_text(question: str, history: list[str] | None) -> str:
    """The question, joined with the previous one when it only makes sense after it.

    A follow-up that refers back ("When was it formed?") or has almost no content
    words of its own borrows the last question's words for retrieval.
    """
    if not history:
        return question
    words = question.lower().replace("?", " ").split()
    if _REFERRING.intersection(words) or len(terms(question)) <= 2:
        return f"{history[-1].strip()} {question}"
    return question


class SearchIndex:
    """A snapshot plus what searching it needs (term statistics), built once per snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        contexts = [_lexical_text(snapshot, p) for p in snapshot.passages]
        self.lexicon = Lexicon(contexts)
        self._passage_terms = [set(terms(c)) for c in contexts]
        self._sentence_bounds = np.searchsorted(snapshot.sentence_owner, np.arange(len(snapshot.passages) + 1))

    def rank(self, query: Query, settings: Settings, sources: set[str] | None = None, limit: int = 50) -> list[Hit]:
        """Passages ordered by fused relevance, best first.

        Args:
            query: the question.
            settings: fusion weights.
            sources: if given, only passages of these document ids.
            limit: how many passages to score in depth.
        """
        snap = self.snapshot
        if not snap.passages:
            return []
        paragraph = _best_per_passage(snap.windows, snap.window_owner, query.vector, max(4 * limit, 200))
        sentence = _best_per_passage(snap.sentences, snap.sentence_owner, query.vector, max(8 * limit, 400))
        floor_p = min(paragraph.values(), default=0.0)
        floor_s = min(sentence.values(), default=0.0)
        candidates = set(paragraph) | set(sentence)
        if sources is not None:
            candidates = {r for r in candidates if snap.passages[r].doc_id in sources}
            # A filter can exclude every dense hit: fall back to scoring the filtered passages exactly.
            if not candidates:
                candidates = {r for r, p in enumerate(snap.passages) if p.doc_id in sources}
        sw, lw = settings.sentence_weight, settings.lexical_weight
        hits = []
        for row in candidates:
            p_score = paragraph.get(row, floor_p)
            s_score = sentence.get(row, floor_s)
            lex = self.lexicon.coverage(query.terms, self._passage_terms[row])
            dense = (1 - sw) * p_score + sw * s_score
            fused = (1 - lw) * dense + lw * lex
            hits.append(Hit(row, float(fused), float(p_score), float(s_score), float(lex)))
        hits.sort(key=lambda h: (-h.score, h.row))
        return hits[:limit]

    def highlight(self, row: int, query: Query, settings: Settings) -> Span:
        """The ``(start, end)`` span, relative to the passage text, of its best-answering sentence."""
        passage = self.snapshot.passages[row]
        lo, hi = int(self._sentence_bounds[row]), int(self._sentence_bounds[row + 1])
        if hi <= lo:
            return 0, len(passage.text)
        vectors = self.snapshot.sentences.vectors(np.arange(lo, hi))
        dense = vectors @ query.vector
        lexical = [
            self.lexicon.coverage(query.terms, set(terms(passage.text[s - passage.start : e - passage.start])))
            for s, e in passage.sentences
        ]
        best = int(np.argmax(dense + settings.lexical_weight * 2 * np.asarray(lexical)))
        start, end = passage.sentences[best]
        return start - passage.start, end - passage.start


def _lexical_text(snapshot: Snapshot, passage: Passage) -> str:
    return f"{passage.heading}\n{passage.text}" if passage.heading else passage.text


def _best_per_passage(index, owner: np.ndarray, vector: np.ndarray, k: int) -> dict[int, float]:
    """The best score of each passage among the top ``k`` rows of ``index``."""
    scores, rows = index.search(vector[None, :], k)
    best: dict[int, float] = {}
    for score, row in zip(scores[0], rows[0], strict=True):
        if row < 0:
            continue
        passage = int(owner[row])
        if score > best.get(passage, -1.0):
            best[passage] = float(score)
    return best
