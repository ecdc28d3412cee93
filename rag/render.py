"""Answers and documents as HTML and Markdown for people. All document text is escaped first.

Document text, titles and file names are untrusted: every piece is passed through
``html.escape`` before any markup (the highlight, the layout) is added around it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape as _escape
from urllib.parse import quote

from .passages import code_spans
from .types import Answer, Document, Excerpt, Passage

#: Invisible characters that reorder or hide the text around them (bidirectional
#: overrides, isolates and marks; zero-width characters). Left as they are, they can
#: make a quote show ``$100`` where the document says ``001 $``.
_CONTROLS = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_CONTROL_NAMES = {
    "\u061c": "ALM",
    "\u200b": "ZWSP",
    "\u200c": "ZWNJ",
    "\u200d": "ZWJ",
    "\u200e": "LRM",
    "\u200f": "RLM",
    "\u202a": "LRE",
    "\u202b": "RLE",
    "\u202c": "PDF",
    "\u202d": "LRO",
    "\u202e": "RLO",
    "\u2066": "LRI",
    "\u2067": "RLI",
    "\u2068": "FSI",
    "\u2069": "PDI",
    "\ufeff": "BOM",
}


def visible_controls(text: str) -> str:
    """``text`` with each invisible reordering character written out as ``⟨RLO⟩`` etc.

    For display only: offsets always refer to the document's own text.
    """
    return _CONTROLS.sub(lambda m: f"⟨{_CONTROL_NAMES.get(m.group(), f'U+{ord(m.group()):04X}')}⟩", text)


def escape(text: str) -> str:
    """Document text as HTML: escaped, with invisible reordering characters shown."""
    return _escape(visible_controls(text))


STYLE = """
.qa-turn{margin:0 0 1.2em 0;color:var(--body-text-color)}
.qa-question{font-weight:600;margin:.2em 0 .6em 0}
.qa-searched{font-size:.85em;color:var(--body-text-color-subdued);margin:-.4em 0 .5em 0}
.qa-scope{font-size:.85em;color:var(--body-text-color);margin:-.4em 0 .5em 0}
.qa-none{padding:.6em .8em;border-left:4px solid var(--color-accent);background:var(--background-fill-secondary);
 color:var(--body-text-color)}
.qa-near{margin:.8em 0 .2em 0;font-size:.9em;color:var(--body-text-color-subdued);text-transform:uppercase;
 letter-spacing:.04em}
.qa-answer{padding:.5em .8em;margin:0 0 .6em 0;border-left:4px solid var(--color-accent);
 background:var(--background-fill-secondary);color:var(--body-text-color);font-family:Georgia,serif}
.qa-answer-label{font-family:var(--font);font-size:.8em;font-weight:600;text-transform:uppercase;
 letter-spacing:.04em;margin-right:.4em}
.qa-ref{font:inherit;font-size:.85em;font-family:var(--font);font-weight:600;color:inherit;background:none;border:0;
 padding:0 .15em;cursor:pointer;text-decoration:underline;vertical-align:super;line-height:1}
.qa-ref:hover,.qa-ref:focus-visible{background:var(--color-accent-soft)}
.qa-more>summary{cursor:pointer;font-size:.9em;margin:.6em 0 .2em 0;color:var(--body-text-color)}
.qa-excerpt{border:1px solid var(--border-color-primary);border-radius:8px;padding:.6em .8em;margin:.5em 0;
 background:var(--block-background-fill);color:var(--body-text-color)}
.qa-excerpt.near-miss{opacity:.8;border-style:dashed}
.qa-quote{margin:0;padding-left:.8em;border-left:3px solid var(--border-color-accent);white-space:pre-wrap;
 font-family:Georgia,serif;color:var(--body-text-color)}
.qa-quote mark{background:var(--color-accent-soft);color:var(--body-text-color);padding:0 .1em;
 box-shadow:inset 0 -2px var(--color-accent)}
/* Code as written: its own font, its lines kept (the quote keeps line breaks: pre-wrap). */
.qa-code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:.88em}
.qa-answer .qa-code{white-space:pre-wrap}
.qa-cite{font-size:.85em;color:var(--body-text-color);margin-top:.4em;cursor:pointer}
.qa-cite:hover{text-decoration:underline}
.qa-note{font-size:.85em;font-weight:600;color:var(--body-text-color);margin-bottom:.3em;padding-left:.4em;
 border-left:3px solid var(--color-accent)}
.qa-bar{display:inline-block;height:.5em;background:var(--color-accent);border-radius:3px;vertical-align:middle;
 margin-left:.4em}
.qa-context{font-size:.85em;color:var(--body-text-color);white-space:pre-wrap;margin:.4em 0}
.qa-also{font-size:.8em;color:var(--body-text-color-subdued)}
.qa-missing{font-size:.8em;color:var(--body-text-color-subdued)}
.qa-missing b,.qa-unwritten b{font-weight:600;color:var(--body-text-color)}
.qa-source{position:relative;white-space:pre-wrap;font-family:Georgia,serif;max-height:32em;overflow:auto;
 padding:.6em;border:1px solid var(--border-color-primary);border-radius:8px;background:var(--block-background-fill);
 color:var(--body-text-color)}
.qa-source mark{background:var(--color-accent-soft);color:var(--body-text-color);
 box-shadow:inset 0 -2px var(--color-accent)}
.qa-source .qa-target{outline:2px solid var(--color-accent);display:inline-block;width:100%;box-sizing:border-box}
.qa-tools{display:flex;flex-wrap:wrap;gap:.4em;margin-top:.4em}
.qa-tool{font:inherit;font-size:.8em;padding:.15em .6em;border:1px solid var(--border-color-primary);border-radius:6px;
 background:var(--button-secondary-background-fill);color:var(--button-secondary-text-color);cursor:pointer;
 text-decoration:none}
.qa-tool:hover,.qa-tool:focus-visible{background:var(--button-secondary-background-fill-hover)}
.qa-excerpt.stale{border-style:dashed}
.qa-excerpt.stale .qa-cite{cursor:default;text-decoration:none}
.qa-ref.stale{text-decoration:line-through}
.qa-removed-badge{display:inline-block;font-size:.8em;font-weight:600;padding:.1em .5em;margin-bottom:.3em;
 border:1px solid var(--color-accent);border-radius:6px;color:var(--body-text-color);
 background:var(--background-fill-secondary)}
/* A long file name or title wraps rather than widening the page (a phone is 390 px wide). */
.qa-turn code,.qa-cite,.qa-also,.qa-missing,.qa-unwritten{overflow-wrap:anywhere}
"""


def _with_code(text: str, code: Sequence[tuple[int, int]], a: int = 0, b: int | None = None) -> str:
    """``text[a:b]`` escaped, the parts of it inside ``code`` spans set as code (one element a
    run, overlapping spans merged): one pass over the spans in order."""
    b = len(text) if b is None else b
    out = []
    pos = a
    for s, e in _merged(code, a, b):
        out.append(escape(text[pos:s]))
        out.append(f'<code class="qa-code">{escape(text[s:e])}</code>')
        pos = e
    out.append(escape(text[pos:b]))
    return "".join(out)


def _merged(spans: Sequence[tuple[int, int]], a: int, b: int) -> list[tuple[int, int]]:
    """``spans`` clipped to ``[a, b)``, sorted, overlapping or touching ones merged, empty ones dropped."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted((max(s, a), min(e, b)) for s, e in spans):
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _marked(text: str, span: tuple[int, int], code: Sequence[tuple[int, int]] = (), mark: str = "<mark>") -> str:
    """``text`` escaped, ``span`` inside one ``mark`` element, and each ``code`` span set as code
    (cut where the mark begins and ends, so the elements nest and the mark is one)."""
    s, e = span
    return f"{_with_code(text, code, 0, s)}{mark}{_with_code(text, code, s, e)}</mark>{_with_code(text, code, e)}"


def _highlighted(excerpt: Excerpt) -> str:
    return _marked(excerpt.text, excerpt.highlight, excerpt.code)


def citation(excerpt: Excerpt, offsets: bool = False) -> str:
    """Plain-text citation: title › section (file, ¶n), and with ``offsets`` the characters it spans."""
    where = f"{excerpt.source}, ¶{excerpt.paragraph}"
    if offsets:
        where += f", characters {excerpt.start}–{excerpt.end}"
    return f"{excerpt.section or excerpt.title} ({where})"


#: The second excerpt joins the answer line when its score is at most this far below the first's.
ANSWER_LINE_MARGIN = 0.05
#: Excerpts scoring more than this below the first are folded under "More passages".
FOLD_BELOW = 0.15
_EPSILON = 1e-9  # scores are floats: 0.80 - 0.75 is a hair over 0.05


def _attr(value: object) -> str:
    """A value for an HTML attribute: escaped, quotes too, and otherwise as it is (ids stay exact)."""
    return _escape(str(value), quote=True)


def _target(excerpt: Excerpt) -> str:
    """The attributes that let a click open ``excerpt``'s passage in the Source view."""
    return f'data-source="{_attr(excerpt.source)}" data-start="{excerpt.start}" data-end="{excerpt.end}"'


def excerpt_label(number: int, excerpt: Excerpt, words: int = 6) -> str:
    """A short, distinct name for an excerpt: ``[1] Title ¶3 — “first words of the excerpt…”``."""
    first = excerpt.text.split()
    opening = " ".join(first[:words]) + ("…" if len(first) > words else "")
    return f"[{number}] {visible_controls(excerpt.title)} ¶{excerpt.paragraph} — “{visible_controls(opening)}”"


def answer_line(answer: Answer) -> list[tuple[int, Excerpt, str]]:
    """The answering sentences to show above the cards, as ``(number, excerpt, sentence)``.

    Each sentence is ``excerpt.text[highlight]``, verbatim: the first excerpt's, and the
    second's when it quotes another passage and scores within ``ANSWER_LINE_MARGIN`` of
    the first. Nothing when the question is not answered.
    """
    if not answer.answered or not answer.excerpts:
        return []
    first = answer.excerpts[0]
    picks = [(1, first)]
    if len(answer.excerpts) > 1:
        second = answer.excerpts[1]
        other = (second.source, second.start, second.end) != (first.source, first.start, first.end)
        if other and not second.near_miss and first.score - second.score <= ANSWER_LINE_MARGIN + _EPSILON:
            picks.append((2, second))
    line: list[tuple[int, Excerpt, str]] = []
    for number, excerpt in picks:
        s, t = excerpt.highlight
        sentence = excerpt.text[s:t]
        if sentence.strip() and sentence not in [shown for _, _, shown in line]:
            line.append((number, excerpt, sentence))
    return line


def is_weak(excerpt: Excerpt, first: Excerpt) -> bool:
    """Folded under "More passages": a near-miss, or scoring more than ``FOLD_BELOW`` below the first.

    An excerpt with a note (another source, which differs) is never folded away.
    """
    if excerpt.note or excerpt is first:
        return False
    return excerpt.near_miss or excerpt.score < first.score - FOLD_BELOW - _EPSILON


#: What a card says when its quote is no longer in the index as it was answered.
STALE = {
    "removed": "Removed from the index: its source can no longer be opened",
    "changed": "Changed since this answer: its document was indexed again without this quote here",
}


def stale(excerpt: Excerpt, documents: Mapping[str, Document]) -> str:
    """ "removed" when the excerpt's document is no longer indexed, "changed" when it no longer
    holds the quote at its offsets (indexed again since), else ""."""
    document = documents.get(excerpt.source)
    if document is None:
        return "removed"
    return "" if document.text[excerpt.start : excerpt.end] == excerpt.text else "changed"


def answer_line_html(answer: Answer, marks: Sequence[str] = ()) -> str:
    """The answer line: each answering sentence, quoted verbatim, with a clickable ``[n]`` marker.

    A marker whose excerpt is stale (``marks[n - 1]``, see :func:`stale`) is struck through and says so.
    """
    line = answer_line(answer)
    if not line:
        return ""
    parts = []
    for number, excerpt, _ in line:
        status = marks[number - 1] if number <= len(marks) else ""
        kind = f"qa-ref stale {status}" if status else "qa-ref"
        title = f"[{number}] {STALE[status].split(':')[0].lower()}" if status else f"Show [{number}] in its document"
        s, t = excerpt.highlight
        said = _with_code(excerpt.text, excerpt.code, s, t)  # the sentence, verbatim
        parts.append(
            f'<q>{said}</q><button type="button" class="{kind}" {_target(excerpt)} title="{title}">[{number}]</button>'
        )
    return f'<div class="qa-answer"><span class="qa-answer-label">Answer, quoted:</span>{" ".join(parts)}</div>'


def original_url(doc_id: str) -> str:
    """Where the page downloads a document's original file: relative, so it holds behind a proxy's prefix."""
    return f"original/{quote(doc_id, safe='')}"


def _tools(excerpt: Excerpt, original: bool) -> str:
    """The buttons under a card: copy the exact quote, copy its citation, and with ``original``
    open the original file.

    What to copy travels in ``data-copy``; the page's script puts it on the clipboard.
    """
    line = visible_controls(citation(excerpt, offsets=True))
    buttons = [
        f'<button type="button" class="qa-tool qa-copy" data-copy="{_attr(excerpt.text)}">Copy quote</button>',
        f'<button type="button" class="qa-tool qa-copy" data-copy="{_attr(line)}">Copy citation</button>',
    ]
    if original:
        buttons.append(
            f'<a class="qa-tool qa-original" href="{_attr(original_url(excerpt.source))}" target="_blank" '
            'rel="noopener noreferrer" title="Download the file this passage is quoted from">Open original</a>'
        )
    return f'<div class="qa-tools">{"".join(buttons)}</div>'


def excerpt_html(
    number: int,
    excerpt: Excerpt,
    before: Passage | None = None,
    after: Passage | None = None,
    mark: str = "",
    originals: bool = True,
) -> str:
    """One excerpt card: the verbatim quote with its highlight, citation, relevance, tools and context.

    The card and its ``[n]`` carry ``data-source``/``data-start``/``data-end``: clicking the
    citation line opens the passage in the Source view. A card with a ``mark`` ("removed" or
    "changed", see :func:`stale`) says so and offers no original to open; with
    ``originals`` off, no card does.
    """
    width = max(4, int(round(excerpt.score * 80)))
    context = ""
    if before is not None or after is not None:
        parts = []
        if before is not None:
            parts.append(f'<div class="qa-context">¶{before.paragraph}: {escape(before.text)}</div>')
        parts.append('<div class="qa-context"><em>(the excerpt)</em></div>')
        if after is not None:
            parts.append(f'<div class="qa-context">¶{after.paragraph}: {escape(after.text)}</div>')
        context = f"<details><summary>Paragraphs before and after</summary>{''.join(parts)}</details>"
    also = ""
    if excerpt.also:
        cites = "; ".join(f"{escape(c.title)} ({escape(c.source)}, ¶{c.paragraph})" for c in excerpt.also)
        also = f'<div class="qa-also">Also, nearly word for word, in: {cites}</div>'
    kind = (" near-miss" if excerpt.near_miss else "") + (f" stale {mark}" if mark else "")
    badge = f'<div><span class="qa-removed-badge">{STALE[mark]}</span></div>' if mark else ""
    note = f'<div class="qa-note">{escape(excerpt.note.capitalize())}</div>' if excerpt.note else ""
    hint = STALE[mark].split(":")[0] if mark else "Show in its document"
    tools = _tools(excerpt, originals and not mark)
    lacks = ", ".join(f"<b>{escape(w)}</b>" for w in excerpt.missing)
    missing = f'<div class="qa-missing">Not in this excerpt: {lacks}</div>' if lacks else ""
    return (
        f'<div class="qa-excerpt{kind}" {_target(excerpt)}>'
        f'{badge}{note}<blockquote class="qa-quote">{_highlighted(excerpt)}</blockquote>'
        f'<div class="qa-cite" role="button" tabindex="0" title="{hint}">'
        f'<span class="qa-num">[{number}]</span> {escape(excerpt.section or excerpt.title)} — '
        f"<code>{escape(excerpt.source)}</code>, "
        f"¶{excerpt.paragraph}, characters {excerpt.start}–{excerpt.end} · relevance {excerpt.score:.2f}"
        f'<span class="qa-bar" style="width:{width}px"></span></div>{missing}{tools}{also}{context}</div>'
    )


def answer_html(
    answer: Answer,
    neighbours: Sequence[tuple[Passage | None, Passage | None]] | None = None,
    scope: Sequence[str] | None = None,
    marks: Sequence[str] = (),
    originals: bool = True,
) -> str:
    """A question and its answer: the answer line and excerpt cards, or a plain statement that nothing answers.

    Weak excerpts of an answer (see ``is_weak``) are folded under "More passages".
    ``scope`` names the documents the search was limited to, shown above the answer.
    ``marks[i]`` marks excerpt ``i`` (and its marker) as removed or changed since (see
    :func:`stale`); ``originals`` offers each excerpt's original file.
    """
    neighbours = neighbours or [(None, None)] * len(answer.excerpts)
    body = [f'<div class="qa-question">Q: {escape(answer.question)}</div>']
    if scope:
        body.append(f'<div class="qa-scope">Searched only in: {escape(", ".join(scope))}</div>')
    if answer.searched_as and answer.searched_as != answer.question:
        body.append(
            f'<div class="qa-searched">Searched together with the previous question: '
            f"“{escape(answer.searched_as)}”</div>"
        )
    if not answer.answered:
        which = "The documents you chose" if scope else "The documents"
        body.append(f'<div class="qa-none">{which} do not answer this question.</div>')
    if answer.unwritten:
        words = ", ".join(f"<b>{escape(w)}</b>" for w in answer.unwritten)
        body.append(f'<div class="qa-searched qa-unwritten">Not in any document: {words}</div>')
    if not answer.answered:
        if answer.excerpts:
            body.append('<div class="qa-near">Closest passages (not answers)</div>')
    else:
        body.append(answer_line_html(answer, marks))
    cards = list(zip(answer.excerpts, neighbours, strict=True))
    weak = []
    for number, (excerpt, (before, after)) in enumerate(cards, start=1):
        mark = marks[number - 1] if number <= len(marks) else ""
        card = excerpt_html(number, excerpt, before, after, mark=mark, originals=originals)
        if answer.answered and is_weak(excerpt, answer.excerpts[0]):
            weak.append(card)
        else:
            body.append(card)
    if weak:
        body.append(f'<details class="qa-more"><summary>More passages</summary>{"".join(weak)}</details>')
    return f'<div class="qa-turn">{"".join(body)}</div>'


@dataclass(frozen=True)
class Turn:
    """One question and its answer, kept as data so the page can be drawn again when documents come and go."""

    answer: Answer
    neighbours: tuple[tuple[Passage | None, Passage | None], ...] = ()
    scope: tuple[str, ...] = ()


def conversation_html(turns: Sequence[Turn], documents: Mapping[str, Document], originals: bool = True) -> str:
    """The turns, in the order given, each excerpt checked against the ``documents`` indexed
    now: one whose document was removed, or no longer holds the quote, is marked."""
    return "".join(
        answer_html(
            t.answer,
            t.neighbours or None,
            t.scope or None,
            [stale(e, documents) for e in t.answer.excerpts],
            originals,
        )
        for t in turns
    )


#: Characters that Markdown would read as markup (HTML, links, emphasis, code, tables,
#: entities) rather than show: escaped with a backslash in what documents and users wrote.
_MARKDOWN_ACTIVE = re.compile(r"([\\`*_\[\]<>&|~])")


def markdown_text(text: str) -> str:
    """``text`` as Markdown that shows it as written: no HTML, link, image or emphasis a
    document (or a file name) could carry into a reader's viewer, and direction controls
    written out as on the page (``⟨RLO⟩``)."""
    return _MARKDOWN_ACTIVE.sub(r"\\\1", visible_controls(text))


def answer_markdown(answer: Answer, scope: Sequence[str] | None = None) -> str:
    """An answer as Markdown: the answer line, then each excerpt as a block quote followed by
    its citation. What documents and users wrote is escaped (``markdown_text``)."""
    md = markdown_text
    lines = [f"## {md(answer.question)}", ""]
    if scope:
        lines += [f"*Searched only in: {md(', '.join(scope))}*", ""]
    if answer.searched_as and answer.searched_as != answer.question:
        lines += [f"*Searched together with the previous question: “{md(answer.searched_as)}”*", ""]
    if not answer.answered:
        lines += ["*The documents do not answer this question.*", ""]
    if answer.unwritten:
        lines += [f"*Not in any document: {md(', '.join(answer.unwritten))}*", ""]
    if not answer.answered and answer.excerpts:
        lines += ["Closest passages (not answers):", ""]
    line = answer_line(answer)
    if line:
        lines += ["**Answer, quoted:** " + " ".join(f"“{md(sentence)}” [{n}]" for n, _, sentence in line), ""]
    for number, e in enumerate(answer.excerpts, start=1):
        if e.note:
            lines += [f"*{md(e.note.capitalize())}:*", ""]
        lines += [f"> {md(text)}" if text else ">" for text in e.text.split("\n")]
        s, t = e.highlight
        lines += [
            "",
            f"[{number}] {md(citation(e, offsets=True))}, relevance {e.score:.2f}",
            f"Answering sentence: “{md(e.text[s:t])}”",
            *([f"Not in this excerpt: {md(', '.join(e.missing))}"] if e.missing else []),
            "",
        ]
    return "\n".join(lines)


def conversation_markdown(turns: Sequence[Turn]) -> str:
    """A whole conversation as Markdown, oldest turn first (``turns`` are given newest first, as shown)."""
    return "\n".join(["# Conversation", "", *(answer_markdown(t.answer, t.scope) for t in reversed(turns))])


def source_html(document: Document, start: int, end: int) -> str:
    """The whole document with one span highlighted; the span has id ``qa-target`` to scroll to."""
    text = document.text
    target = '<mark class="qa-target" id="qa-target">'
    return (
        f"<h3>{escape(document.title)}</h3><div><code>{escape(document.id)}</code></div>"
        f'<div class="qa-source" id="qa-source">{_marked(text, (start, end), code_spans(document), target)}</div>'
    )
