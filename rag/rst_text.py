"""reStructuredText read with its structure: section titles, paragraphs, list items, literal
and code blocks, definitions, table rows and directives' content as blocks over the file's
own text, so that every excerpt is an exact slice of the file (its markup shown as written).

A line scanner, not docutils: docutils does not say where in the source a node's text lies,
and the blocks must be spans of the source. Explicit markup is read by kind: a code
directive's body is code; navigation and markup (``toctree``, ``include``, ``image``,
targets, substitutions, comments) is no content; an object's description
(``.. py:function:: spam(eggs)``) is a definition; any other directive (``note``, ``tab``,
``versionadded``) holds content, read as the rest of the file is. Lines no rule reads are
still read, as text.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from .cleaning import heading_text, rst_heading_text, section_heading
from .source_lines import lines_span, with_unread_lines
from .types import Block, Document

#: The suffixes of reStructuredText files.
RST_SUFFIXES = (".rst", ".rest")


def is_rst(document: Document) -> bool:
    """Whether ``document`` was read from a reStructuredText file (gzipped or not)."""
    name = PurePosixPath(document.path or document.id).name.lower().removesuffix(".gz")
    return name.endswith(RST_SUFFIXES)


#: Bodies nested deeper than this (a directive in an item in a directive ...) are not parsed;
#: their lines are still read, as text.
MAX_NESTING = 100
# A section title's over- or underline, or a transition: one punctuation mark repeated.
_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+[ \t]*$")
_EXPLICIT = re.compile(r"^\s*\.\.(?:\s|$)")
# (The argument is matched from and to a non-space: ".*?" before "\s*$" backtracks quadratically.)
_DIRECTIVE = re.compile(r"^\s*\.\.\s+([\w:.+-]+)::(?:\s+(\S(?:.*\S)?))?\s*$")
_FOOTNOTE = re.compile(r"^\s*\.\.\s+\[[^\]\n]+\](?:\s|$)")
_BULLET = re.compile(r"^\s*(?:[-*+•‣⁃]|\(?(?:\d+|[A-Za-z#]|[ivxlcdm]+|[IVXLCDM]+)[.)])\s+\S")
_MARKER = re.compile(r"^\s*\S+\s+")  # a list item's marker and the space after it
_FIELD = re.compile(r"^\s*:(?![\w.+-]+:`)[^:\n`]+:(?:\s|$)")
_GRID = re.compile(r"^\s*\+(?:[-=]+\+)+\s*$")
_GRID_ROW = re.compile(r"^\s*[|+]")
_OUTER_BARS = re.compile(r"^\s*\|\s*(\S(?:.*\S)?)\s*\|\s*$")  # "| Linux | yes |": "Linux | yes"
_SIMPLE_BORDER = re.compile(r"^\s*=+(?:\s+=+)+\s*$")  # two columns or more: one "=====" is a rule
_CSV_HEADER = re.compile(r"^\s*:header:[ \t]+(\S(?:[^\n]*\S)?)[ \t]*$")  # linear: one \S anchors each end
_OPTION = re.compile(r"^\s*:[\w-]+:(?:\s|$)")  # ":linenos:", ":caption: …"; not a role (":ref:`…`")

#: Directives whose body is code (or a formula): shown as written.
_CODE = frozenset(
    "code code-block sourcecode doctest testcode testoutput testsetup testcleanup parsed-literal "
    "math prompt productionlist literalinclude-text".split()
)
#: Directives that are navigation or markup, with nothing a reader reads as text.
_SKIP = frozenset(
    "toctree contents include literalinclude index raw image highlight "
    "autosummary meta sectnum tabularcolumns default-role role title target-notes header footer "
    "spelling codeauthor sectionauthor moduleauthor program".split()
)
#: Directives naming the module that follows: no text.
_MODULE_MARKERS = frozenset({"module", "currentmodule"})
#: Directives describing an object (and any directive of a domain: "py:function", "rst:role"):
#: their line names it (a signature), their body says what it does.
_OBJECTS = frozenset("function class method attribute data exception option envvar describe object confval".split())
#: Directives whose argument is text of their own: a box's first words (".. note:: Read this
#: first."), a version ("versionadded:: 2.0"), a label ("tab:: Windows"). Any other directive's
#: argument (a file, a language, a generator's settings) is markup; its body is read.
_ARGUMENT_IS_TEXT = frozenset(
    "note warning tip important caution attention danger error hint seealso admonition topic sidebar "
    "versionadded versionchanged deprecated versionremoved tab tab-item group-tab dropdown card "
    "centered glossary table csv-table list-table".split()
)
#: An "only" directive for builders other than HTML ("latex", "man", "not html"): the HTML
#: page says the same in its own words, so a reader of both would find everything twice.
_OTHER_BUILDERS = re.compile(r"^\s*(?:not\s+html\b|(?:latex|man|texinfo|text|epub|pdf|latexpdf)\b(?!.*\bhtml\b))")
#: Sphinx's file-wide settings, written as fields at a file's top: no text.
_FILE_SETTINGS = re.compile(r"^:(?:tocdepth|orphan|nocomments|nosearch):")
# An anonymous hyperlink's target ("__ quickref.html"): markup.
_ANONYMOUS_TARGET = re.compile(r"^\s*__\s+\S")


def rst_blocks(text: str) -> tuple[str | None, tuple[Block, ...]]:
    """The title (the first section title, unless others of its kind follow it) and the blocks of ``text``."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    scanner = _Scanner(text, lines, starts)
    scanner.scan(0, len(lines))
    layout = sorted(scanner.layout)
    first = next((text[s:e] for s, e, kind, _ in layout if kind == "heading"), None)
    title = rst_heading_text(first) if first is not None else None
    if first is not None and section_heading(layout, text, heading_text(first)):
        title = None
    return title or None, tuple(with_unread_lines(text, starts, layout, scanner.accounted))


class _Scanner:
    """Reads lines ``[a, b)`` into blocks; nested bodies (a directive's, an item's) are read the same way."""

    def __init__(self, text: str, lines: list[str], starts: list[int]) -> None:
        self.text, self.lines, self.starts = text, lines, starts
        self.layout: list[Block] = []
        self.accounted: set[int] = set()  # lines that are markup
        self.styles: list[tuple[str, bool]] = []  # title adornments in the order met: their levels
        self.depth = 0  # descriptions the current lines are in
        self.nesting = 0  # bodies being read, one inside the other

    # -- helpers ---------------------------------------------------------------------------

    def blank(self, i: int) -> bool:
        return not self.lines[i].strip()

    def indent(self, i: int) -> int:
        """Line ``i``'s indentation, a tab counting to the next multiple of 8 (as docutils reads it)."""
        line = self.lines[i]
        if "\t" in line[: len(line) - len(line.lstrip())]:
            line = line.expandtabs(8)
        return len(line) - len(line.lstrip())

    def body_end(self, i: int, b: int, indent: int | None = None) -> int:
        """The first line after ``i`` (below ``b``) indented no deeper than ``indent`` (line
        ``i``'s by default) that is not blank: where the body below line ``i`` ends."""
        indent = self.indent(i) if indent is None else indent
        j = i + 1
        while j < b and (self.blank(j) or self.indent(j) > indent):
            j += 1
        return j

    def add(self, a: int, b: int, kind: str, level: int | None = None, keep_indent: bool = False) -> None:
        """Lines ``[a, b)`` as a block. Inside a description, its text is the description
        (as deep as its term); other blocks count the descriptions they are in."""
        if level is None:
            level = self.depth
            if kind == "text" and self.depth:
                kind, level = "desc", self.depth - 1
        if where := lines_span(self.text, self.starts, [a, b], keep_indent):
            self.layout.append((*where, kind, level))

    def markup(self, a: int, b: int) -> None:
        self.accounted.update(range(a, b))

    def level(self, style: tuple[str, bool]) -> int:
        if style not in self.styles:
            self.styles.append(style)
        return min(self.styles.index(style) + 1, 6)

    def adornment(self, i: int, b: int) -> str | None:
        """The punctuation mark a title's over- or underline repeats (line ``i``), if it is one:
        two marks or more, and not "::" alone (an expanded literal block's marker)."""
        found = _ADORNMENT.match(self.lines[i]) if i < b else None
        return found.group(1) if found and len(self.lines[i].strip()) >= 2 and self.lines[i].strip() != "::" else None

    # -- the reader ------------------------------------------------------------------------

    def scan(self, a: int, b: int) -> None:
        if self.nesting >= MAX_NESTING:  # deeper bodies are read as text, not parsed
            return
        self.nesting += 1
        i = a
        while i < b:
            if self.blank(i):
                i += 1
                continue
            i = self.block(i, b)
        self.nesting -= 1

    def block(self, i: int, b: int) -> int:
        """Read the construct starting at line ``i``; the line after it."""
        line = self.lines[i]
        mark = self.adornment(i, b)
        # A title with an overline: "=====" / "Title" / "=====".
        if mark and i + 2 < b and not self.blank(i + 1) and self.adornment(i + 2, b) == mark:
            self.add(i + 1, i + 2, "heading", self.level((mark, True)))
            self.markup(i, i + 1)
            self.markup(i + 2, i + 3)
            return i + 3
        if mark and len(line.strip()) >= 4 and not (line.lstrip().startswith("..") or _BULLET.match(line)):
            self.markup(i, i + 1)  # a transition ("----" or longer), or an adornment out of place
            return i + 1
        # A title with an underline: "Title" / "-----" (at least as long as the title, or 4).
        under = self.adornment(i + 1, b)
        if under and self.indent(i) == 0 and len(self.lines[i + 1].strip()) >= min(len(line.strip()), 4):
            self.add(i, i + 1, "heading", self.level((under, False)))
            self.markup(i + 1, i + 2)
            return i + 2
        if _SIMPLE_BORDER.match(line):
            return self.simple_table(i, b)
        if _EXPLICIT.match(line):
            return self.explicit(i, b)
        if _GRID.match(line):
            return self.grid_table(i, b)
        if _FILE_SETTINGS.match(line) or _ANONYMOUS_TARGET.match(line):
            self.markup(i, i + 1)
            return i + 1
        if _BULLET.match(line) or _FIELD.match(line):
            # A list item or field: its first paragraph, then whatever its body holds.
            end = self.body_end(i, b)
            first = i + 1
            while first < end and not self.blank(first):
                first += 1
            self.add(i, first, "item")
            self.scan(self.literal(i, first, end), end)
            return end
        return self.paragraph(i, b)

    def paragraph(self, i: int, b: int) -> int:
        j = i + 1
        while j < b and not self.blank(j) and self.indent(j) == self.indent(i):
            j += 1
        if j < b and not self.blank(j) and self.indent(j) > self.indent(i) and j == i + 1:
            # A definition: the term on one line, its description indented right below it.
            end = self.body_end(i, b)
            self.add(i, i + 1, "term")
            self.depth += 1
            self.scan(i + 1, end)
            self.depth -= 1
            return end
        body = "\n".join(self.lines[i:j]).strip()
        if body == "::":
            self.markup(i, j)
        elif body.startswith(">>>"):
            self.add(i, j, "code", keep_indent=True)  # a doctest block
        else:
            self.add(i, j, "text")
        return self.literal(i, j, b)

    def literal(self, i: int, j: int, b: int) -> int:
        """After a paragraph (lines ``[i, j)``) ending in "::", its literal block, indented
        below it, is code: the line after that block, else ``j``."""
        if not "\n".join(self.lines[i:j]).rstrip().endswith("::"):
            return j
        k = j
        while k < b and self.blank(k):
            k += 1
        # Indented past the paragraph's text (an item's text begins after its marker).
        marker = _MARKER.match(self.lines[i]) if _BULLET.match(self.lines[i]) else None
        text_indent = self.indent(j - 1) if j - 1 > i else len(marker.group()) if marker else self.indent(i)
        if k >= b or self.indent(k) <= text_indent:
            return j
        end = self.body_end(k - 1, b, text_indent)
        self.add(k, end, "code", keep_indent=True)
        return end

    def explicit(self, i: int, b: int) -> int:
        if self.lines[i].strip() == ".." and (i + 1 >= b or self.blank(i + 1)):
            self.markup(i, i + 1)  # an empty comment: it holds nothing, not even what is indented below it
            return i + 1
        end = self.body_end(i, b)
        directive = _DIRECTIVE.match(self.lines[i])
        if directive is None:
            if _FOOTNOTE.match(self.lines[i]):
                self.add(i, end, "text")  # a footnote or citation: text the page shows
            else:
                self.markup(i, end)  # a comment, a target, a substitution's definition
            return end
        name = directive.group(1).lower()
        kind = name.rsplit(":", 1)[-1]
        argument = directive.group(2) or ""
        body = i + 1  # its options (":linenos:", ":caption: …") are right below it
        while body < end and _OPTION.match(self.lines[body]):
            option = body
            body += 1
            while body < end and not self.blank(body) and self.indent(body) > self.indent(option):
                body += 1  # the option's value goes on, indented deeper
        options = (i + 1, body)  # markup, unless the block they belong to shows them
        if kind == "rubric" and argument:  # a heading outside the contents: the deepest level
            start = self.starts[i] + directive.start(2)
            self.layout.append((start, start + len(argument), "heading", 6))
            self.markup(*options)
            self.scan(body, end)
        elif kind in _CODE or name in _CODE:
            # With its directive line and options, as a Markdown fence is read with its fences:
            # an excerpt of it reads as the file does, and a lead-in above it joins it. They are
            # a block apart from the code's lines, so that a highlight can be the code alone.
            self.add(i, body, "code", keep_indent=True)
            self.add(body, end, "code", keep_indent=True)
        elif kind in _MODULE_MARKERS or (name == "class" and all(self.blank(k) for k in range(body, end))):
            self.markup(i, end)  # a module's name, or docutils' "class" (a style for what follows)
        elif kind == "only" and _OTHER_BUILDERS.match(argument):
            self.markup(i, end)  # what only a PDF or a man page shows: the page's HTML says it again
        elif ":" in name or kind in _OBJECTS:  # ".. py:function:: spam(eggs)", ".. rst:role:: external"
            # Its name (what follows "::": the directive's name is markup), with the fields it
            # shows under it (":type: str", ":default: 'alabaster'").
            start = self.starts[i] + directive.start(2) if argument else self.starts[i]
            stop = lines_span(self.text, self.starts, [i, body])
            self.layout.append((start, stop[1] if stop else start, "term", self.depth))
            self.depth += 1
            self.scan(body, end)
            self.depth -= 1
        elif name in _SKIP:
            self.markup(i, end)
        elif kind == "csv-table":
            self.csv_table(i, body, end, bool(argument))
        elif argument and kind in _ARGUMENT_IS_TEXT:
            # ".. note:: Read this first." with the lines that go on with it, then the rest of its body.
            first = i + 1
            while body == i + 1 and first < end and not self.blank(first):  # no options between
                first += 1
            self.add(i, first, "text")
            self.markup(*options)
            self.scan(max(first, body), end)
        else:
            self.markup(i, body)  # the directive's line and options
            self.scan(body, end)
        return end

    def csv_table(self, i: int, body: int, end: int, captioned: bool) -> None:
        """A csv-table: its caption (on the directive's line), its ":header:" option's value as
        the header, each line of its body a row; its other options are markup. (A quoted value
        running over two lines is read as two rows.)"""
        if captioned:
            self.add(i, i + 1, "text")
        else:
            self.markup(i, i + 1)
        k = i + 1
        while k < body:
            option = k
            k += 1
            while k < body and not _OPTION.match(self.lines[k]):
                k += 1  # the option's value, continued on the lines below
            header = _CSV_HEADER.match(self.lines[option])
            if header and header.group(1):
                start = self.starts[option] + header.start(1)
                stop = self.starts[k - 1] + len(self.lines[k - 1].rstrip())
                self.layout.append((start, stop, "header", self.depth))
            else:
                self.markup(option, k)
        for k in range(body, end):
            if not self.blank(k):
                self.add(k, k + 1, "row")

    def grid_table(self, i: int, b: int) -> int:
        """A grid table: each row between its rules, the rows above a "+===+" rule the header."""
        end = i
        while end < b and _GRID_ROW.match(self.lines[end]):
            end += 1
        header = next((k for k in range(i, end) if "=" in self.lines[k] and _GRID.match(self.lines[k])), None)
        row_start = None
        for k in range(i, end):
            if _GRID.match(self.lines[k]):
                if row_start is not None:
                    self.row(row_start, k, "header" if header is not None and k <= header else "row")
                row_start = k + 1
                self.markup(k, k + 1)
        return end

    def row(self, a: int, b: int, kind: str) -> None:
        """A grid table's row: a one-line row without its outer "|" (its cells as the page
        shows them), a row of several lines as written."""
        line = self.lines[a]
        if b == a + 1 and (cells := _OUTER_BARS.match(line)):
            start = self.starts[a] + cells.start(1)
            self.layout.append((start, start + len(cells.group(1)), kind, self.depth))
        else:
            self.add(a, b, kind)

    def simple_table(self, i: int, b: int) -> int:
        """A simple table: "=====  =====" rules; with three, the rows between the first two
        are the header. As docutils reads it: blank lines may stand between its rows, and it
        ends at its third rule, or at a rule followed by a blank line or the end."""
        borders = [i]
        width = len(self.lines[i].strip())
        for k in range(i + 1, b):
            if _SIMPLE_BORDER.match(self.lines[k]):
                if len(self.lines[k].strip()) != width:  # docutils: a malformed table, no table
                    borders = borders[:1]
                    break
                borders.append(k)
                if len(borders) == 3 or k + 1 >= b or self.blank(k + 1):
                    break
        else:
            borders = borders[:1]
        if len(borders) < 2:  # no table after all: a line of "=" runs
            self.add(i, i + 1, "text")
            return i + 1
        for border in borders:
            self.markup(border, border + 1)
        header = borders[1] if len(borders) >= 3 else i
        ruled = set(borders)
        for row in range(i + 1, borders[-1]):
            if not self.blank(row) and row not in ruled:
                self.add(row, row + 1, "header" if row < header else "row")
        return borders[-1] + 1
