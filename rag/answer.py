"""From ranked passages to an Answer: verbatim excerpts with citations and highlights, or abstention."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from .analysis import terms
from .config import Settings
from .embedding import Embedder
from .errors import BadQuestion
from .passages import code_spans
from .rerank import Reranker
from .search import (
    ORDER_ONLY,
    Hit,
    Query,
    SearchIndex,
    borrows_subject,
    follow_up_text,
    named_fragment,
    question_names,
    question_type,
    weight,
)
from .types import Answer, Citation, Excerpt, Span


def prepare(question: str, history: Sequence[str] | None, max_chars: int) -> tuple[str, list[str]]:
    """The question and the conversation's earlier questions as they are searched.

    Compatibility forms (fullwidth letters, ligatures) read as the letters they stand
    for, and runs of white space as one space.

    Raises:
        BadQuestion: the question is longer than ``max_chars`` (checked before any work on it).
    """
    question = str(question)
    if len(question) > max_chars:
        raise BadQuestion(
            f"the question is {len(question):,} characters long; ask in at most {max_chars:,} (a sentence or two)"
        )
    question = " ".join(unicodedata.normalize("NFKC", question).split())
    return question, [unicodedata.normalize("NFKC", str(h))[:max_chars] for h in history or []]


def respond(
    question: str,
    history: list[str],
    index: SearchIndex,
    allowed: set[str] | None,
    k: int,
    embedder: Embedder,
    settings: Settings,
    reranker: Reranker | None = None,
) -> Answer:
    """Answer ``question`` (normalised; ``history``: the questions before it) from ``index``.

    A question that refers back (``follow_up_text``: "When was it formed?", "And in
    2014?") may be searched joined with the previous question:

    - one that takes its subject from the previous question (``borrows_subject``: "What
      is its default value?", "How do I install it?") is searched joined only, and that
      answer is its answer, answered or refused: alone it matches any default value, any
      installing, and after "What is Kubernetes?" of manuals that never name Kubernetes
      it is no question about installing whatever they document;
    - a fragment naming something of its own (``named_fragment``: "And Hamas?") is
      searched both ways, the joined answer taken when it clears the same abstention bar,
      beats the fragment's own and writes what the fragment names;
    - any other is searched alone, as is a question that does not refer back ("What is
      the capital of Australia?"): neither borrows an answer from the conversation.
    """

    def search(text: str) -> Answer:
        vector = embedder.encode_queries([text])[0]
        read_tokens = getattr(embedder, "encode_tokens", None)  # an embedder may not have token vectors
        query = Query(text, vector, tuple(terms(text)), question_type(question) or "", read_tokens)
        hits = index.rank(query, settings, allowed, limit=max(50, k))
        if reranker is not None and hits:
            # The top hits in the cross-encoder's order; the rest after.
            head, tail = hits[: settings.rerank_depth], hits[settings.rerank_depth :]
            scores = reranker.score(text, [index.snapshot.passages[h.row].text for h in head])
            hits = [head[i] for i in sorted(range(len(head)), key=lambda i: (-float(scores[i]), i))] + tail
        return replace(build_answer(question, query, hits, index, settings, k), searched_as=text)

    joined = follow_up_text(question, history)
    names = index.names(question) if joined is not None else frozenset()
    if joined is not None and borrows_subject(question, names):
        # Its pronoun can only mean what was asked before ("What is its default value?", "How
        # do I install it?"): the joined search is its answer, answered or refused. What it
        # matches alone (any default value, any installing) is no answer to it.
        return search(joined)
    answer = search(question)
    if joined is not None and named_fragment(question, names):
        # "And Hamas?": the question before, asked of Hamas. The joined search is taken when
        # it answers better and its answer writes what the fragment names (the earlier
        # question's words weigh in it); alone, the fragment still finds what it names.
        followed = search(joined)
        top = followed.excerpts[0] if followed.answered else None
        if (
            top is not None
            and not names.isdisjoint(terms(f"{top.title} {top.section} {top.text}"))
            and (not answer.answered or top.score > answer.excerpts[0].score)
        ):
            return followed
    # Any other question is answered by itself: joined with the one before, a search for
    # "and who won the 2022 world cup?" after "how do I install Sphinx?" finds pip.
    return answer


def deciding_score(hit: Hit, settings: Settings) -> float:
    """``hit``'s relevance as whether it answers is decided: without the signals that only
    reorder passages (``ORDER_ONLY``), so that a definition the question does not name,
    moved below the description of what it asks about, is still an answer when it is one."""
    return hit.score - sum(weight(settings, name) * hit.evidence.get(name, 0.0) for name in ORDER_ONLY)


def _thin(hit: Hit | None, settings: Settings) -> bool:
    """Whether ``hit`` matched the question only thinly: its meaning (best window's and best
    sentence's cosine), its tokens (late interaction) and the words of its best sentence (IDF
    share) are all far from the question's (``settings.thin_*``). A signal weighted 0 is not
    computed, and then the rule does not apply."""
    if hit is None or settings.thin_similarity <= 0:
        return False
    evidence = hit.evidence
    if not {"paragraph", "sentence", "tokens", "sentence_coverage"} <= evidence.keys():
        return False
    return (
        max(evidence["paragraph"], evidence["sentence"]) < settings.thin_similarity
        and evidence["tokens"] < settings.thin_tokens
        and evidence["sentence_coverage"] < settings.thin_coverage
    )


def _names_none(hit: Hit, query: Query, index: SearchIndex, settings: Settings, asked: str | None = None) -> bool:
    """Whether ``hit``, not far above the bar, names none of what the question (as ``asked``)
    names, those names weighing ``settings.names_none_refusal`` or more: the same task in
    another tool. A question that names nothing is never refused by this rule."""
    return _refuses(
        hit, settings.names_none_refusal, settings.names_none_ceiling, lambda: index.names_none(query, hit.row, asked)
    )


def _closing_absent(hit: Hit, query: Query, index: SearchIndex, settings: Settings, asked: str | None = None) -> bool:
    """Whether ``hit``, not far above the bar, comes from a document that never writes the
    names of the question's closing phrase (as ``asked``: "… for my GitHub account?"), those
    names weighing ``settings.closing_absent_refusal`` or more: an answer about another place
    or tool. A question without such names is never refused by this rule."""
    return _refuses(
        hit,
        settings.closing_absent_refusal,
        settings.closing_absent_ceiling,
        lambda: index.closing_absent(query, hit.row, asked),
    )


def _refuses(hit: Hit, refusal: float, ceiling: float, share: Callable[[], float]) -> bool:
    """Whether a rule with this ``ceiling`` (0: off) and ``refusal`` share refuses ``hit``: its
    relevance below the ceiling and the ``share`` it weighs (read only then) above 0 and at
    least ``refusal``."""
    return 0 < ceiling and hit.score < ceiling and (weight := share()) > 0 and weight >= refusal


def build_answer(
    question: str, query: Query, hits: list[Hit], index: SearchIndex, settings: Settings, k: int
) -> Answer:
    """Quote the passages that clear the relevance threshold, or abstain.

    The top passage must reach ``settings.min_score``; the excerpts after it need
    ``settings.min_support``. A question whose weight lies mostly in names no document
    contains (``settings.unknown_names_refusal``) is refused whatever the scores, and the
    best passage's relevance counts less, for this decision only, by
    ``settings.absent_names_penalty`` times the question's weight in names its document
    never writes (``SearchIndex.absent_names``); the excerpts keep their scores and order.
    A best passage that matched only thinly (``_thin``: far in meaning and in its tokens, and
    no sentence of it holding much of the question's words) does not answer either, nor does
    one below ``settings.names_none_ceiling`` that names none of what the question names
    (``_names_none``), nor one below ``settings.closing_absent_ceiling`` whose document never
    writes the names of the question's closing phrase (``_closing_absent``).

    Excerpts are in relevance order. Near-identical passages are merged into one
    excerpt that cites them all. The closest passage of another document saying
    nearly the same as the top answer is labelled "another source", with the facts
    when they differ ("2014 here, 2013 in [1]"); a source that differs on the fact
    asked for is moved up to third place so that the disagreement is seen, and its
    label says why it is there. When
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
    # A question mostly about names no document holds is not answered by what matches the rest,
    # and one whose names the top passage's document never writes must clear a higher bar.
    unknown = -hits[0].evidence.get("unknown_names", 0.0) if hits else 0.0
    if hits and question != query.text:
        # A follow-up searched with the question before it: its own unknown names count
        # whole ("How do I host it on Vercel?" after a question on building HTML), not
        # diluted by the earlier question's words.
        unknown = max(unknown, index.unknown_share(Query(question, query.vector, tuple(terms(question)))))
    best = max(hits, key=lambda h: deciding_score(h, settings)) if hits else None
    if best is not None:
        best = replace(best, score=deciding_score(best, settings))
    relevance = best.score if best else 0.0
    if best and relevance >= settings.min_score and settings.absent_names_penalty:
        relevance -= settings.absent_names_penalty * index.absent_names(query, best.row)
    if (
        not hits
        or relevance < settings.min_score
        or unknown >= settings.unknown_names_refusal
        or _thin(best, settings)
        or _names_none(best, query, index, settings, question)
        or _closing_absent(best, query, index, settings, question)
    ):
        near = hits[: min(k, settings.near_misses)]
        near_misses = tuple(_excerpt(h, query, index, settings, True) for h in near)
        return Answer(question, False, near_misses, unwritten=index.unwritten(query))
    top_span = index.highlight(hits[0].row, query, settings)
    answering = [h for h in hits if deciding_score(h, settings) >= min(settings.min_support, settings.min_score)]
    other = _other_source(query, hits[0], top_span, hits, index, settings)
    groups, variants = _merge_duplicates(answering, index, settings, k)
    table = index.snapshot.passages

    def key(row: int) -> tuple[str, int]:
        return table.doc_id(row), int(table.start[row])

    excerpts = []
    for lead, duplicates in groups:
        span = top_span if lead is hits[0] else None
        excerpt = _excerpt(lead, query, index, settings, False, span, duplicates)
        if other is not None and lead.row == other.row and lead.row not in variants:
            excerpt = replace(excerpt, note=_other_note(query, excerpts, excerpt, index))
        excerpts.append(excerpt)
    shown = {h.row for lead, dups in groups for h in (lead, *dups)}
    if other is not None and other.row not in shown and len(excerpts) > 1:
        # A source that disagrees on the fact asked for (2014 here, 2013 there) is kept in
        # view, third at most, and says so; one that merely agrees is not moved up.
        excerpt = _excerpt(other, query, index, settings, False)
        excerpts.append(replace(excerpt, note=_other_note(query, excerpts, excerpt, index)))
    moving = key(other.row) if other is not None and other.row not in variants else None
    for i, excerpt in enumerate(excerpts):
        if i > 2 and (excerpt.source, excerpt.start) == moving and "differs" in excerpt.note:
            # A source that differs on the fact asked for (2014 here, 2013 there) is moved up
            # to third place, where it is seen beside the answer; its label says why. It
            # must differ from one of the two above it there, and names that one ("in [1]").
            note = _other_note(query, excerpts[:2], excerpt, index)
            if "differs" in note:
                moved = replace(excerpt, note=note)
                excerpts = [*excerpts[:2], moved, *(e for e in excerpts[2:] if e is not excerpt)]
            else:
                excerpts[i] = replace(excerpt, note=note)
            break
    excerpts = excerpts[:k]
    # Worded like an excerpt above, with other figures: says so, naming that one where it now is.
    at = {(e.source, e.start): n for n, e in enumerate(excerpts, 1)}
    for row, lead in variants.items():
        if key(row) in at and key(lead) in at:
            n = at[key(row)] - 1
            excerpts[n] = replace(excerpts[n], note=_variant_note(index, row, lead, at[key(lead)]))
    return Answer(question=question, answered=True, excerpts=tuple(excerpts), unwritten=index.unwritten(query))


#: Of the question's names that an answer's highlight, section or title holds, the share (by
#: IDF weight) another source must hold too to disagree with it: less, and the two state
#: facts about different things (see ``_same_subject``).
SAME_SUBJECT_SHARE = 0.35

#: A count as a fact to compare: a whole number ("1,500", "2.5"; not the digits of "ISO8601")
#: or a number word.
#: A figure: a whole or decimal number standing alone ("0.35", "1,500", "2013").
_FIGURE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?!\w)")
_COUNT = re.compile(
    _FIGURE.pattern + r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|twenty|thirty|forty|fifty|hundreds?|thousands?|millions?|billions?|dozens?)\b",
    re.IGNORECASE,
)


def _other_note(query: Query, before: list[Excerpt], other: Excerpt, index: SearchIndex) -> str:
    """ "another source", saying how its fact differs from the answer's when the question asks
    for a fact of a kind (a year, a number), the highlights hold different ones (the
    answer's: the first excerpt above whose highlight holds one) and both are about the
    same subject (``_same_subject``): two release notes' versions of two features are no
    disagreement."""
    wanted = _COUNT if query.kind == "how many" else query.wanted if query.kind == "when" else None
    if wanted is None:
        return "another source"

    def facts(excerpt: Excerpt) -> list[str]:
        s, e = excerpt.highlight
        return list(dict.fromkeys(m.group(0) for m in wanted.finditer(excerpt.text[s:e])))

    mine = facts(other)
    for number, excerpt in enumerate(before, start=1):
        if excerpt.source != other.source and (theirs := facts(excerpt)):
            if mine and not set(mine) & set(theirs) and _same_subject(query, excerpt, other, index):
                return f"another source, which differs: {', '.join(mine)} here, {', '.join(theirs)} in [{number}]"
            break
    return "another source"


def _same_subject(query: Query, answer: Excerpt, other: Excerpt, index: SearchIndex) -> bool:
    """Whether two excerpts state their facts about the same thing, by the question's subject
    as the answer's highlighted sentence, section and title hold it: each number the
    question writes ("PostgreSQL 15") is in both, and of the names it writes
    ("Liwa al-Quds", "UPSERT") the other holds at least ``SAME_SUBJECT_SHARE`` by IDF
    weight (names are spelled and shortened differently by different sources). So "the
    Quds Force militia was established in 2014" disagrees with "Liwa al-Quds was formed in
    2013", but "version 3.6.18 added recursive triggers" does not with "UPSERT was added
    in 3.24.0". A question naming nothing ("What year was the brigade established?") is
    not judged."""

    def said(excerpt: Excerpt) -> set[str]:
        s, e = excerpt.highlight
        return set(terms(f"{excerpt.title} {excerpt.section} {excerpt.text[s:e]}"))

    held, theirs = said(answer), said(other)
    if any(t.isdigit() and (t not in held or t not in theirs) for t in query.terms):
        return False  # one of them is not about the version or year the question names
    names = question_names(query.text)
    pairs = index.term_weights(query).items()
    named = [(variants, w) for t, (variants, w) in pairs if t in names and not variants.isdisjoint(held)]
    total = sum(w for _, w in named)
    return not total or sum(w for variants, w in named if not variants.isdisjoint(theirs)) >= SAME_SUBJECT_SHARE * total


def _other_source(
    query: Query, top: Hit, span: Span, hits: list[Hit], index: SearchIndex, settings: Settings
) -> Hit | None:
    """The closest passage of another document to the top answer, if one qualifies.

    It qualifies when one of its sentences is close to the top answer's highlighted
    sentence, it is at least somewhat relevant to the question itself, and it holds
    what the question asks for when that is known (a year for "when", a number for
    "how many").
    """
    passages = index.snapshot.passages
    top_doc = passages.doc_id(top.row)
    wanted = query.wanted
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
        return None
    similarity = index.similarity(top.row, span, [h.row for h in others])
    best = int(similarity.argmax())
    return others[best] if similarity[best] >= settings.corroboration_similarity else None


_NUMBER = re.compile(r"[\d.,]+")  # a term that is a figure ("0.35"), not a name with digits ("x86")
#: Figures a variant's note names, each way.
_SHOWN_FIGURES = 3
#: Passages whose lengths differ by more than this share are never near-identical.
_LENGTH_SPREAD = 0.25
#: ... or share less than this share of their indexed terms (a lower bar than
#: ``Settings.duplicate_overlap``: two documents' contexts differ).
_STORED_OVERLAP = 0.5


def _figures(text: str) -> Counter[str]:
    """The numbers a passage writes ("0.35", "2013", the digits of "CVE-2025-15467")."""
    return Counter(_FIGURE.findall(text))


def _variant_note(index: SearchIndex, row: int, lead: int, number: int) -> str:
    """The note of a passage worded like excerpt ``number`` (passage ``lead``) whose figures differ."""
    table = index.snapshot.passages
    mine, theirs = _figures(table[row].text), _figures(table[lead].text)
    here = ", ".join(list(mine - theirs)[:_SHOWN_FIGURES])
    there = ", ".join(list(theirs - mine)[:_SHOWN_FIGURES])
    said = f"which differs: {here or 'fewer figures'} here, {there or 'fewer figures'} in [{number}]"
    same_document = table.doc_id(row) == table.doc_id(lead)
    return f"nearly the same words as [{number}], {said}" if same_document else f"another source, {said}"


def _merge_duplicates(
    hits: list[Hit], index: SearchIndex, settings: Settings, k: int
) -> tuple[list[tuple[Hit, list[Hit]]], dict[int, int]]:
    """The first ``k`` groups of near-identical passages; the best-ranked one leads each.

    Passages are compared by the terms of their own text, not of their context: two entries
    of one reference page share their title and section path ("copy — Shallow and deep copy
    operations"), and "Return a shallow copy of x." is not "Return a deep copy of x.".
    Passages worded alike whose figures differ (a policy's two versions: "0.35 EUR per
    kilometre", "0.30 EUR per kilometre"; two release notes' CVE numbers) are never one:
    the later one leads a group of its own, and is returned as a variant of the first, by row.
    """
    own: dict[int, set[str]] = {}
    table = index.snapshot.passages

    def words(row: int) -> set[str]:  # its words; its figures are compared apart
        if row not in own:
            own[row] = {t for t in set().union(*index.sentence_terms(row)) if not _NUMBER.fullmatch(t)}
        return own[row]

    def near_identical(a: int, b: int) -> bool:
        # Cheap first: near-identical passages are about as long, and share most of their
        # indexed terms (their own and their context's) ...
        length_a, length_b = int(table.end[a] - table.start[a]), int(table.end[b] - table.start[b])
        if abs(length_a - length_b) > _LENGTH_SPREAD * max(length_a, length_b):
            return False
        stored_a, stored_b = index.lexical.terms_of(a), index.lexical.terms_of(b)
        common = len(np.intersect1d(stored_a, stored_b, assume_unique=True))
        if common < _STORED_OVERLAP * (len(stored_a) + len(stored_b) - common):
            return False
        # ... then by their own words alone.
        x, y = words(a), words(b)
        shared = len(x & y)
        return bool(shared) and shared / len(x | y) >= settings.duplicate_overlap

    groups: list[tuple[Hit, list[Hit]]] = []
    variants: dict[int, int] = {}
    for hit in hits:
        variant_of = None
        for lead, duplicates in groups:
            if near_identical(lead.row, hit.row):
                if _figures(table[lead.row].text) == _figures(table[hit.row].text):
                    duplicates.append(hit)
                    break
                variant_of = lead.row if variant_of is None else variant_of
        else:
            if len(groups) < k:
                groups.append((hit, []))
                if variant_of is not None:
                    variants[hit.row] = variant_of
    return groups, variants


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
        section=index.section(document.title, passage.heading),
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
        missing=index.missing(query, hit.row),
        code=code_spans(document, passage.start, passage.end),
    )
