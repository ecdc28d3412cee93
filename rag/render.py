"""Answers and documents as HTML and Markdown for people. All document text is escaped first.

Document text, titles and file names are untrusted: every piece is passed through
``html.escape`` before any markup (the highlight, the layout) is added around it.
"""

from __future__ import annotations

import re
from html import escape as _escape

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
.qa-turn{margin:0 0 1.2em 0}
.qa-question{font-weight:600;margin:.2em 0 .6em 0}
.qa-searched{font-size:.85em;color:#6b7280;margin:-.4em 0 .5em 0}
.qa-scope{font-size:.85em;color:#1d4ed8;margin:-.4em 0 .5em 0}
.qa-none{padding:.6em .8em;border-left:4px solid #b45309;background:#fff7ed;color:#7c2d12}
.qa-near{margin:.8em 0 .2em 0;font-size:.9em;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}
.qa-excerpt{border:1px solid #e5e7eb;border-radius:8px;padding:.6em .8em;margin:.5em 0;background:#fff;color:#111827}
.qa-excerpt.near-miss{opacity:.8;border-style:dashed}
.qa-quote{margin:0;padding-left:.8em;border-left:3px solid #9ca3af;white-space:pre-wrap;font-family:Georgia,serif}
.qa-quote mark{background:#fde68a;color:inherit;padding:0 .1em}
.qa-cite{font-size:.85em;color:#374151;margin-top:.4em}
.qa-note{font-size:.85em;font-weight:600;color:#92400e;margin-bottom:.3em}
.qa-bar{display:inline-block;height:.5em;background:#10b981;border-radius:3px;vertical-align:middle;margin-left:.4em}
.qa-context{font-size:.85em;color:#4b5563;white-space:pre-wrap;margin:.4em 0}
.qa-also{font-size:.8em;color:#6b7280}
.qa-source{white-space:pre-wrap;font-family:Georgia,serif;max-height:32em;overflow:auto;padding:.6em;
 border:1px solid #e5e7eb;border-radius:8px;background:#fff;color:#111827}
.qa-source mark{background:#fde68a;color:inherit}
.qa-source .qa-target{background:#fef3c7;outline:2px solid #f59e0b}
"""


def _highlighted(excerpt: Excerpt) -> str:
    s, e = excerpt.highlight
    t = excerpt.text
    return f"{escape(t[:s])}<mark>{escape(t[s:e])}</mark>{escape(t[e:])}"


def citation(excerpt: Excerpt) -> str:
    """Plain-text citation: title › section (file, ¶n)."""
    return f"{excerpt.section or excerpt.title} ({excerpt.source}, ¶{excerpt.paragraph})"


def excerpt_html(number: int, excerpt: Excerpt, before: Passage | None = None, after: Passage | None = None) -> str:
    """One excerpt card: the verbatim quote with its highlight, citation, relevance and context."""
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
    kind = " near-miss" if excerpt.near_miss else ""
    note = f'<div class="qa-note">{escape(excerpt.note.capitalize())}</div>' if excerpt.note else ""
    return (
        f'<div class="qa-excerpt{kind}" data-source="{escape(excerpt.source)}" data-start="{excerpt.start}">'
        f'{note}<blockquote class="qa-quote">{_highlighted(excerpt)}</blockquote>'
        f'<div class="qa-cite">[{number}] {escape(excerpt.section or excerpt.title)} — '
        f"<code>{escape(excerpt.source)}</code>, "
        f"¶{excerpt.paragraph}, characters {excerpt.start}–{excerpt.end} · relevance {excerpt.score:.2f}"
        f'<span class="qa-bar" style="width:{width}px"></span></div>{also}{context}</div>'
    )


def answer_html(
    answer: Answer,
    neighbours: list[tuple[Passage | None, Passage | None]] | None = None,
    scope: list[str] | None = None,
) -> str:
    """A question and its answer: excerpt cards, or a plain statement that nothing answers.

    ``scope`` names the documents the search was limited to, shown above the answer.
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
        if answer.excerpts:
            body.append('<div class="qa-near">Closest passages (not answers)</div>')
    for number, (excerpt, (before, after)) in enumerate(zip(answer.excerpts, neighbours, strict=True), start=1):
        body.append(excerpt_html(number, excerpt, before, after))
    return f'<div class="qa-turn">{"".join(body)}</div>'


def answer_markdown(answer: Answer) -> str:
    """An answer as Markdown, each excerpt a block quote followed by its citation."""
    lines = [f"## {answer.question}", ""]
    if not answer.answered:
        lines += ["*The documents do not answer this question.*", ""]
        if answer.excerpts:
            lines += ["Closest passages (not answers):", ""]
    for number, e in enumerate(answer.excerpts, start=1):
        if e.note:
            lines += [f"*{e.note.capitalize()}:*", ""]
        lines += [f"> {line}" if line else ">" for line in e.text.split("\n")]
        s, t = e.highlight
        lines += [
            "",
            f"[{number}] {citation(e)}, characters {e.start}–{e.end}, relevance {e.score:.2f}",
            f"Answering sentence: “{e.text[s:t]}”",
            "",
        ]
    return "\n".join(lines)


def source_html(document: Document, start: int, end: int) -> str:
    """The whole document with one span highlighted; the span has id ``qa-target`` to scroll to."""
    text = document.text
    return (
        f"<h3>{escape(document.title)}</h3><div><code>{escape(document.id)}</code></div>"
        f'<div class="qa-source" id="qa-source">{escape(text[:start])}'
        f'<mark class="qa-target" id="qa-target">{escape(text[start:end])}</mark>{escape(text[end:])}</div>'
    )
