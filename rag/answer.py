"""From ranked passages to an Answer: verbatim excerpts with citations and highlights, or abstention."""

from __future__ import annotations

from .config import Settings
from .search import Hit, Query, SearchIndex
from .types import Answer, Excerpt


def build_answer(
    question: str, query: Query, hits: list[Hit], index: SearchIndex, settings: Settings, k: int
) -> Answer:
    """Quote the passages that clear the relevance threshold, or abstain.

    When no passage clears ``settings.min_score`` the answer is not ``answered``
    and carries at most ``settings.near_misses`` closest passages, marked as such.

    Args:
        question: the question as asked.
        query: the query that produced ``hits``.
        hits: passages ranked best first.
        index: the snapshot the hits point into.
        settings: threshold and near-miss count.
        k: the most excerpts to return.
    """
    answering = [h for h in hits if h.score >= settings.min_score][:k]
    answered = bool(answering)
    chosen = answering if answered else hits[: min(k, settings.near_misses)]
    excerpts = tuple(_excerpt(h, query, index, settings, near_miss=not answered) for h in chosen)
    return Answer(question=question, answered=answered, excerpts=excerpts)


def _excerpt(hit: Hit, query: Query, index: SearchIndex, settings: Settings, near_miss: bool) -> Excerpt:
    snap = index.snapshot
    passage = snap.passages[hit.row]
    document = snap.documents[passage.doc_id]
    return Excerpt(
        # Always the document's own characters: a citation must lead to exactly this text.
        text=document.text[passage.start : passage.end],
        source=document.id,
        title=document.title,
        paragraph=passage.paragraph,
        start=passage.start,
        end=passage.end,
        score=round(hit.score, 4),
        highlight=index.highlight(hit.row, query, settings),
        near_miss=near_miss,
    )
