"""From ranked passages to an Answer: verbatim excerpts with citations and highlights, or abstention."""

from __future__ import annotations

import numpy as np

from .config import Settings
from .search import Hit, Query, SearchIndex, answer_type
from .types import Answer, Citation, Excerpt, Span


def build_answer(
    question: str, query: Query, hits: list[Hit], index: SearchIndex, settings: Settings, k: int
) -> Answer:
    """Quote the passages that clear the relevance threshold, or abstain.

    The top passage must reach ``settings.min_score``; the excerpts after it need
    ``settings.min_support``.

    Near-identical passages are merged into one excerpt that cites them all. A
    passage of another document saying nearly the same as the top answer is moved
    up beside it, so that agreeing or conflicting sources are read together. When
    no passage clears ``settings.min_score`` the answer is not ``answered`` and
    carries at most ``settings.near_misses`` closest passages, marked as such.

    Args:
        question: the question as asked.
        query: the query that produced ``hits``.
        hits: passages ranked best first.
        index: the snapshot the hits point into.
        settings: threshold and grouping knobs.
        k: the most excerpts to return.
    """
    # With a re-ranker the order is its own; whether anything answers is still the evidence's call.
    if not hits or max(h.score for h in hits) < settings.min_score:
        near = hits[: min(k, settings.near_misses)]
        return Answer(question, False, tuple(_excerpt(h, query, index, settings, True) for h in near))
    top_span = index.highlight(hits[0].row, query, settings)
    answering = [h for h in hits if h.score >= min(settings.min_support, settings.min_score)]
    ordered = _with_other_sources(question, hits[0], top_span, answering, hits, index, settings)
    groups = _merge_duplicates(ordered, index, settings, k)
    excerpts = []
    for lead, duplicates in groups:
        span = top_span if lead is hits[0] else None
        excerpts.append(_excerpt(lead, query, index, settings, False, span, duplicates))
    return Answer(question=question, answered=True, excerpts=tuple(excerpts))


def _with_other_sources(
    question: str, top: Hit, span: Span, answering: list[Hit], hits: list[Hit], index: SearchIndex, settings: Settings
) -> list[Hit]:
    """``answering``, with the closest passage of another document moved up to third place.

    It qualifies when one of its sentences is close to the top answer's highlighted
    sentence, it is at least somewhat relevant to the question itself, and it holds
    what the question asks for when that is known (a year for "when", a number for
    "how many").
    """
    passages = index.snapshot.passages
    top_doc = passages.doc_id(top.row)
    wanted = answer_type(question)
    # Sources disagree on facts (dates, counts) in words the question may not use:
    # for such questions a weaker match qualifies if it holds a fact of that kind.
    floor = settings.corroboration_floor if wanted is not None else min(settings.min_support, settings.min_score)
    others = [
        h
        for h in hits
        if passages.doc_id(h.row) != top_doc
        and h.score >= floor
        and (wanted is None or wanted.search(passages[h.row].text))
    ]
    if not others:
        return answering
    similarity = index.similarity(top.row, span, [h.row for h in others])
    best = int(similarity.argmax())
    if similarity[best] < settings.corroboration_similarity:
        return answering
    chosen = others[best]
    if any(h.row == chosen.row for h in answering[:3]):
        return answering
    rest = [h for h in answering[1:] if h.row != chosen.row]
    # Third place: in view beside the top answer, while the runner-up keeps its place.
    return [top, *rest[:1], chosen, *rest[1:]]


def _merge_duplicates(hits: list[Hit], index: SearchIndex, settings: Settings, k: int) -> list[tuple[Hit, list[Hit]]]:
    """The first ``k`` groups of near-identical passages; the best-ranked one leads each."""
    lexical = index.lexical
    groups: list[tuple[Hit, list[Hit]]] = []
    for hit in hits:
        for lead, duplicates in groups:
            a, b = lexical.terms_of(lead.row), lexical.terms_of(hit.row)
            shared = len(np.intersect1d(a, b, assume_unique=True))
            if shared and shared / (len(a) + len(b) - shared) >= settings.duplicate_overlap:
                duplicates.append(hit)
                break
        else:
            if len(groups) < k:
                groups.append((hit, []))
    return groups


def _excerpt(
    hit: Hit,
    query: Query,
    index: SearchIndex,
    settings: Settings,
    near_miss: bool,
    span: Span | None = None,
    duplicates: list[Hit] | None = None,
) -> Excerpt:
    snap = index.snapshot
    passage = snap.passages[hit.row]
    document = snap.documents[passage.doc_id]
    also = []
    for dup in duplicates or ():
        p = snap.passages[dup.row]
        also.append(Citation(p.doc_id, snap.documents[p.doc_id].title, p.paragraph, p.start, p.end))
    return Excerpt(
        # Always the document's own characters: a citation must lead to exactly this text.
        text=document.text[passage.start : passage.end],
        source=document.id,
        title=document.title,
        paragraph=passage.paragraph,
        start=passage.start,
        end=passage.end,
        score=round(hit.score, 4),
        highlight=span or index.highlight(hit.row, query, settings),
        near_miss=near_miss,
        also=tuple(also),
    )
