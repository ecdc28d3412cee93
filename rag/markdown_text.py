"""Markdown read with its structure: headings, paragraphs, list items, code and table rows
as blocks over the file's own text, so that every excerpt is an exact slice of the file.

The parser is markdown-it-py (CommonMark, with tables). Each block it finds is a span of
the source lines it came from; nothing is rendered or rewritten. A YAML front matter gives
the title and is no content; a MyST target line ("(label)=") marks a place, it says nothing.
"""

from __future__ import annotations

import re

from .cleaning import heading_text, section_heading
from .source_lines import lines_span, with_unread_lines
from .types import Block

# A front matter: "---" on the first line, "key: value" lines, then "---" or "...".
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n((?:.*\n){0,200}?)(?:---|\.\.\.)[ \t]*(?:\n|\Z)")
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
# A MyST target ("(ssl-certificate-verification)="): markup, not text.
_MYST_MARKUP = re.compile(r"^\s*\([^()\n]+\)=\s*$")
#: MyST directives whose body names other files to list or include: navigation, not text.
_MYST_INDEXES = frozenset({"{toctree}", "{contents}", "{include}", "{literalinclude}", "{autosummary}"})
# A link reference definition ("[PyPI]: https://pypi.org/"): markup, not text.
_LINK_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S")
#: Containers nested deeper than this are not parsed as such (markdown-it recurses per level);
#: their lines are still read, as text.
MAX_NESTING = 100
# Raw HTML blocks and comments hold no prose a reader sees as text.
_SKIPPED = frozenset({"html_block", "hr"})


def markdown_blocks(text: str) -> tuple[str | None, tuple[Block, ...]]:
    """The title (front matter's, else the first top-level heading) and the blocks of ``text``."""
    from markdown_it import MarkdownIt

    title = None
    source = text
    if front := _FRONT_MATTER.match(text):
        if found := _FRONT_TITLE.search(front.group(1)):
            title = found.group(1).strip("\"' ")
        # Blank the front matter's lines, keeping the line numbers the parser reports.
        source = "\n" * front.group(0).count("\n") + text[front.end() :]
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    starts.append(len(text) + 1)

    def span(lines: list[int] | None) -> tuple[int, int] | None:
        return lines_span(text, starts, lines)

    layout: list[Block] = []
    first_title: str | None = None
    containers: list[str] = []  # the open list items and blockquotes, innermost last
    row_kind = "row"
    try:
        tokens = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable("table").parse(source)
    except RecursionError:
        tokens = []
    accounted: set[int] = set()  # lines that are markup: HTML blocks, rules, the front matter
    if front:
        accounted.update(range(front.group(0).count("\n")))
    for i, token in enumerate(tokens):
        kind = token.type
        if kind in ("list_item_open", "blockquote_open"):
            containers.append(kind)
        elif kind in ("list_item_close", "blockquote_close"):
            containers.pop()
        elif kind == "thead_open":
            row_kind = "header"
        elif kind == "tbody_open":
            row_kind = "row"
        if kind in _SKIPPED:
            if token.map:
                accounted.update(range(*token.map))
            continue
        if kind == "heading_open":
            level = int(token.tag[1])
            heading = tokens[i + 1]  # its inline content (a setext heading's: without the underline)
            where = span(heading.map or token.map)
            if where:
                layout.append((*where, "heading", level))
                if level == 1 and first_title is None:
                    first_title = heading_text(heading.content)
        elif kind == "paragraph_open":
            where = span(token.map)
            if where and not _MYST_MARKUP.match(text[where[0] : where[1]]):
                in_item = "list_item_open" in containers
                layout.append((*where, "item" if in_item else "text", 0))
        elif kind == "fence" and token.info.strip().lower() in _MYST_INDEXES:
            if token.map:  # a list of other pages ("```{toctree}"): the site's navigation, no content
                accounted.update(range(*token.map))
        elif kind in ("fence", "code_block"):
            # A fenced block with its fences: an excerpt starting or ending inside it reads as
            # Markdown, with both ``` lines or neither.
            if where := _code_span(text, starts, token.map):
                layout.append((*where, "code", 0))
        elif kind == "tr_open":
            if where := span(token.map):
                layout.append((*where, row_kind, 0))
    # The first top-level heading is the title, unless others of its kind follow it (each
    # release of a changelog: "man-db 2.11.2", "man-db 2.11.1" ... title no document).
    if first_title is not None and section_heading(layout, text, first_title):
        first_title = None
    return title or first_title, tuple(with_unread_lines(text, starts, layout, accounted, _markup_line))


def _markup_line(line: str) -> bool:
    """A line that only marks something up: a link's definition, a MyST target."""
    return bool(_LINK_DEFINITION.match(line) or _MYST_MARKUP.match(line))


def _code_span(text: str, starts: list[int], lines: list[int] | None) -> tuple[int, int] | None:
    """A code block's lines, whole: their indentation is the code's."""
    return lines_span(text, starts, lines, keep_indent=True)
