"""Markdown read with its structure: headings, paragraphs, list items, code and table rows
as blocks over the file's own text, so that every excerpt is an exact slice of the file.

The parser is markdown-it-py (CommonMark, with tables). Each block it finds is a span of
the source lines it came from; nothing is rendered or rewritten. A YAML front matter gives
the title and is no content; a MyST target line ("(label)=") marks a place, it says nothing.
"""

from __future__ import annotations

import re

from .types import Block

# A front matter: "---" on the first line, "key: value" lines, then "---" or "...".
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n((?:.*\n){0,200}?)(?:---|\.\.\.)[ \t]*(?:\n|\Z)")
_FRONT_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)
# A MyST target ("(ssl-certificate-verification)=") or comment ("% note"): markup, not text.
_MYST_MARKUP = re.compile(r"^\s*(?:\([^()\n]+\)=|%.*)\s*$")
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
        if not lines:
            return None
        start, end = starts[lines[0]], starts[min(lines[1], len(starts) - 1)] - 1
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return (start, end) if end > start else None

    layout: list[Block] = []
    first_title: str | None = None
    containers: list[str] = []  # the open list items and blockquotes, innermost last
    row_kind = "row"
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    for i, token in enumerate(tokens):
        kind = token.type
        if kind.endswith("_open") and token.nesting == 1 and kind in ("list_item_open", "blockquote_open"):
            containers.append(kind)
        elif kind in ("list_item_close", "blockquote_close"):
            containers.pop()
        elif kind == "thead_open":
            row_kind = "header"
        elif kind == "tbody_open":
            row_kind = "row"
        if kind in _SKIPPED:
            continue
        if kind == "heading_open":
            level = int(token.tag[1])
            heading = tokens[i + 1]  # its inline content (a setext heading's: without the underline)
            where = span(heading.map or token.map)
            if where:
                layout.append((*where, "heading", level))
                if level == 1 and first_title is None:
                    first_title = heading.content
        elif kind == "paragraph_open":
            where = span(token.map)
            if where and not _MYST_MARKUP.match(text[where[0] : where[1]]):
                in_item = "list_item_open" in containers
                layout.append((*where, "item" if in_item else "text", 0))
        elif kind in ("fence", "code_block"):
            # A fenced block with its fences: an excerpt starting or ending inside it reads as
            # Markdown, with both ``` lines or neither.
            if where := _code_span(text, starts, token.map):
                layout.append((*where, "code", 0))
        elif kind == "tr_open":
            if where := span(token.map):
                layout.append((*where, row_kind, 0))
    return title or first_title, tuple(layout)


def _code_span(text: str, starts: list[int], lines: list[int] | None) -> tuple[int, int] | None:
    """A code block's lines, whole (their indentation is the code's), blank lines trimmed."""
    if not lines:
        return None
    start, end = starts[lines[0]], starts[min(lines[1], len(starts) - 1)] - 1
    while start < end and text[start] == "\n":
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if text[start:end].strip() else None
