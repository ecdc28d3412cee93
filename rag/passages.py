"""Split a Document into Passages (paragraphs) with exact character offsets and sentence spans.

A paragraph is what a reader sees as one: a block between blank lines, or one
line of a block whose lines are too long to be hard-wrapped. Paragraph numbers
count every paragraph a reader sees in the source, so ``¶4`` is the fourth.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from .analysis import PRONOUNS
from .cleaning import (
    CODE_PROMPT,
    CONTENTS_LEADER,
    PROMPT,
    ends_sentence,
    heading_text,
    is_furniture,
    looks_like_heading,
    normalise,
    rst_heading_text,
)
from .rst_text import is_rst
from .types import Block, Document, Passage, Span

#: Lines up to this long may be hard-wrapped prose (PDF extracts, e-mails, plain-text books).
WRAP_WIDTH = 120

_BULLET = re.compile(r"^\s*(?:[-*•▪◦]|\d{1,3}[.)])\s+")
# End of a sentence: terminal punctuation, optional closing quotes/brackets, then space.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
#: A remark in brackets standing after a sentence's end: a reference, not a sentence.
_REMARK = re.compile(r"[(\[][^()\[\]\n]{0,80}(?:\[[^\]\n]*\][^()\[\]\n]*)?[)\]][.;,]?")
#: A numbered list's marker alone, as a sentence would start with it ("1.", "12.", "iv.").
_LIST_MARKER = re.compile(r"\s*(?:\d{1,3}|[ivxlc]{1,5})\.", re.IGNORECASE)
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr gen col lt maj capt sgt cpl gov sen rep pres rev hon no nos vs etc "
    "e.g i.e inc ltd co corp dept est fig vol ed al approx jan feb mar apr jun jul aug sep sept oct "
    "nov dec u.s u.k u.n a.m p.m mt ft".split()
)


#: Joins the headings of a section path ("Installation › From source").
SECTION_SEPARATOR = " › "
#: A passage shorter than this is a fragment: the blocks after it in its section join it.
FRAGMENT_CHARS = 300
#: Blocks join a passage (a list, a table, fragments) until it is about this long.
TARGET_CHARS = 900


@dataclass(frozen=True)
class Unit:
    """One paragraph as a reader sees it, classified."""

    start: int
    end: int
    number: int
    kind: str  # "body", "lines" (a list of lines, each its own sentence), "heading", "furniture" or "duplicate"


def split_passages(document: Document, shared: frozenset[str] = frozenset(), max_chars: int = 2000) -> list[Passage]:
    """Cut a document into passages, one per content paragraph.

    Furniture and repeated paragraphs are dropped, headings become the ``heading``
    of the passages below them, and a paragraph over ``max_chars`` is cut at
    sentence boundaries into passages that share its paragraph number.

    Args:
        document: the document to split.
        shared: normalised short lines that appear in several documents.
        max_chars: the longest passage kept whole.
    """
    if document.layout:
        return layout_passages(document, shared, max_chars)
    text = document.text
    units = paragraph_units(text, shared)
    if not any(u.kind in _BODY for u in units):
        # A note of a few short lines: its "headings" are all the content there is.
        units = [Unit(u.start, u.end, u.number, "body" if u.kind == "heading" else u.kind) for u in units]
    units = _heading_runs(units)
    passages: list[Passage] = []
    headings: list[str] = []
    heading_open = False  # consecutive headings stack ("Part" then "Chapter")
    for unit in _gather(text, units):
        if unit.kind == "heading":
            heading = heading_text(text[unit.start : unit.end])
            headings = [*headings, heading] if heading_open else [heading]
            heading_open = True
        elif unit.kind in _BODY:
            heading_open = False
            for start, end, spans in _bounded(text, unit.start, unit.end, max_chars, unit.kind == "lines"):
                passages.append(
                    Passage(
                        doc_id=document.id,
                        paragraph=unit.number,
                        start=start,
                        end=end,
                        text=text[start:end],
                        sentences=tuple(spans),
                        heading=SECTION_SEPARATOR.join(headings),
                    )
                )
    return passages


def _heading_runs(units: list[Unit]) -> list[Unit]:
    """Units where a run of at least ``_HEADING_RUN`` headings with no body between them is a
    list (a README's contents: "Suexec", "Documentation", "Upgrades", …), read as one
    passage, not a section path of them all; the run's last heading still heads what
    follows it. Headings stack two or three deep ("Part I", "Chapter 1")."""
    out: list[Unit] = []
    pending: list[Unit] = []  # the units since the last body, headings and dropped ones

    def close(last: bool = False) -> None:
        headings = [u for u in pending if u.kind == "heading"]
        # A title underlined ("Contents" / "========") heads the list rather than opens it; the
        # last heading heads what follows it, unless nothing does.
        titled = len(pending) > 1 and pending[0].kind == "heading" and pending[1].kind == "furniture"
        listed = headings[1 if titled else 0 : None if last else -1]
        if len(listed) >= _HEADING_RUN - 1:
            first, listed_end = listed[0], listed[-1].end
            out.extend(u for u in pending if u.end <= first.start)
            out.append(Unit(first.start, listed_end, first.number, "body"))
            out.extend(u for u in pending if u.start > listed_end)
        else:
            out.extend(pending)
        pending.clear()

    for unit in units:
        if unit.kind in _BODY:
            close()
            out.append(unit)
        else:
            pending.append(unit)
    close(last=True)
    return out


_HEADING_RUN = 4


def _gather(text: str, units: list[Unit]) -> list[Unit]:
    """Body paragraphs joined where a reader sees one: a list's items, with the short lead-in
    before them ("You can get there by:"), up to ``TARGET_CHARS`` together, and a question
    with its answer; never across a heading or dropped furniture."""
    out: list[Unit] = []
    for unit in units:
        prev = out[-1] if out else None
        if prev is not None and prev.kind in _BODY and unit.kind == "body" and _SIGNATURE.match(text, unit.start):
            # A signature (" -- Name <mail>  date") closes the entry before it, and dates it.
            out[-1] = Unit(prev.start, unit.end, prev.number, prev.kind)
            continue
        if prev is not None and prev.kind == "body" and unit.kind in _BODY and _asks(text[prev.start : prev.end]):
            # A question alone ("1.6  Why won't the OFL let me sell the fonts alone?", "Q: What
            # do the letters XZ mean?") is read with its answer, which it is not without.
            out[-1] = Unit(prev.start, unit.end, prev.number, unit.kind)
            continue
        if prev is not None and prev.kind == unit.kind == "body" and unit.end - prev.start <= TARGET_CHARS:
            before = text[prev.start : prev.end]
            item = _BULLET.match(text[unit.start : unit.end])
            lead_in = _introduces(before)
            # A lead-in stays with its list's items, or with a short example it introduces
            # ("… plus the EDITOR variable:" / 'Defaults env_keep+="EDITOR"').
            if (lead_in and (_example(text, unit) or _indented(text, unit) or _commands(text, unit))) or (
                item and (lead_in or any(_BULLET.match(line) for line in before.split("\n")))
            ):
                out[-1] = Unit(prev.start, unit.end, prev.number, "body")
                continue
        out.append(unit)
    return out


@dataclass
class _Group:
    """Consecutive blocks of one section that become one passage."""

    path: str  # the section it belongs to
    section: str  # what the passage shows as its section (a table's rows add the table's header)
    blocks: list[tuple[int, int, str, int]]  # (start, end, kind, paragraph number)
    #: How many definitions' descriptions its first block is in (a term: those it is nested in).
    inside: int = 0

    @property
    def definition(self) -> bool:
        return self.blocks[0][2] == "term"

    @property
    def size(self) -> int:
        return self.blocks[-1][1] - self.blocks[0][0]

    @property
    def last(self) -> str:
        return self.blocks[-1][2]


def layout_passages(document: Document, shared: frozenset[str] = frozenset(), max_chars: int = 2000) -> list[Passage]:
    """Passages of a document read with its layout (HTML, DOCX, PDF).

    Every passage is one contiguous slice of the text and knows its section path.
    A definition term travels with its description, a lead-in ("... as follows:")
    with the list, code or table below it, list items and table rows are gathered,
    and fragments join the blocks after them in the same section, so that no
    excerpt is a heading alone or a scrap. Furniture (short lines shared with other
    documents, any line shared with many) and repeated blocks are dropped.
    """
    text = document.text
    read_heading = rst_heading_text if is_rst(document) else heading_text  # "Docutils_ Bugs" is rst's markup
    path: list[tuple[int, str]] = []
    seen: set[str] = set()
    groups: list[_Group] = []
    header = ""  # the header row of the table being read
    defined: dict[int, str] = {}  # the term being described at each depth of nested definitions
    for number, (start, end, kind, level) in enumerate(document.layout, 1):
        body = text[start:end]
        if kind == "heading":
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, read_heading(body)))
            header = ""
            defined.clear()
            continue
        inside = level + (kind == "desc")  # how many descriptions the block is in
        if kind == "term":
            # Terms in a row ("-a", "--all") name one definition: the first names it.
            same = number > 1 and document.layout[number - 2][2:] == ("term", level) and level in defined
            defined = {d: t for d, t in defined.items() if d < level or (same and d == level)}
            defined.setdefault(level, term_line(body))
        else:  # a block outside a description closes its definition
            defined = {d: t for d, t in defined.items() if d < inside}
        key = normalise(body)
        where = SECTION_SEPARATOR.join(h for _, h in path)
        current = groups[-1] if groups else None
        # A definition's term ("-a", "--all") and description are its own content, however
        # short, common or repeated under another term ("New in version 1.5.").
        defining = kind == "term" or (
            kind == "desc" and current is not None and current.path == where and current.blocks[0][2] == "term"
        )
        # Cells joined by " | " look like a breadcrumb: a table row is furniture only when shared.
        if kind in ("header", "row", "code", "field"):
            furniture = key in shared
        else:
            furniture = not defining and is_furniture(body, shared)
        # A paragraph repeated in a page (a caption under a photo and again below) is kept once;
        # table rows, items, code and descriptions repeat because their context differs (the
        # options of two commands, a summary table and its details).
        if furniture or (key in seen and kind == "text" and not defining):
            continue
        seen.add(key)
        if kind == "header":
            header = key
        elif kind != "row":
            header = ""
        if (
            current is not None
            and current.path == where
            and _joins(current, kind, body, end - current.blocks[0][0], max_chars, text, inside)
            and not _markup_between(
                text, current.blocks[-1][1], start, document.layout[current.blocks[-1][3] : number - 1]
            )
        ):
            current.blocks.append((start, end, kind, number))
            continue
        section = where
        if kind == "row" and header:  # rows read away from their header say what their columns are
            section = f"{where}{SECTION_SEPARATOR}{header}" if where else header
        elif inside and (owner := [defined[d] for d in range(inside) if defined.get(d)][-_OWNERS:]):
            # A description read away from its term, or what it holds (a function's "Parameters:"),
            # says what it belongs to (the innermost terms, however deep the nesting).
            section = SECTION_SEPARATOR.join([where, *owner] if where else owner)
        groups.append(_Group(where, section, [(start, end, kind, number)], inside))
    passages = []
    for group in _join_scraps(groups, max_chars, document.layout, text):
        spans = [span for s, e, kind, _ in group.blocks for span in _block_sentences(text, s, e, kind)]
        for i, (start, end, piece) in enumerate(_pieces(text, spans, max_chars)):
            section = group.section
            if i and group.definition:  # a long definition's later pieces say whose they are
                term = term_line(text[group.blocks[0][0] : group.blocks[0][1]])
                section = f"{section}{SECTION_SEPARATOR}{term}" if section else term
            passages.append(
                Passage(
                    doc_id=document.id,
                    paragraph=group.blocks[0][3],
                    start=start,
                    end=end,
                    text=text[start:end],
                    sentences=tuple(piece),
                    heading=section,
                )
            )
    return passages


def _join_scraps(groups: list[_Group], max_chars: int, layout: tuple[Block, ...], text: str) -> list[_Group]:
    """Scraps that nothing after them in their section could join, joined to a neighbour.

    A short last line of a section (a caption, a lone item) joins the block just before
    it. A single line that is no sentence and all its section has (a man page's NAME
    line) leads the next section's first passage, unless that is such a line too (a
    contact page's Phone, Email, Address sections keep their own labels); at the end of
    the document (a SEE ALSO line) it ends the passage before it. Only headings may lie
    between them, and the passage is cited under the section holding both.
    """
    _hand_on_titles(groups, max_chars, text)
    out: list[_Group] = []
    for group in groups:
        prev = out[-1] if out else None
        if prev is not None and prev.path != group.path and _lone_line(prev, text) and not _lone_line(group, text):
            if _joinable(prev, group, max_chars, layout, text):
                out[-1] = _spanning(prev, group)
                continue
        elif prev is not None and prev.path == group.path and _scrap(group):
            if _joinable(prev, group, max_chars, layout, text):
                prev.blocks.extend(group.blocks)
                continue
        out.append(group)
    last = out[-1] if out else None
    if len(out) > 1 and _lone_line(last, text) and not _lone_line(out[-2], text) and out[-2].path != last.path:
        if _joinable(out[-2], last, max_chars, layout, text):
            out[-2:] = [_spanning(out[-2], last)]
    return out


def _hand_on_titles(groups: list[_Group], max_chars: int, text: str) -> None:
    """A title that ends a passage ("Maximum Number Of Columns", the bold first line of the
    next item of a list; an item's label) is handed on to the passage after it in the same
    section, which it introduces: no excerpt ends with the next one's title."""
    for group, then in zip(groups, groups[1:], strict=False):
        start, end, kind, _ = group.blocks[-1]
        # An item's label may be a lowercase name and longer ("macaddress (scalar)", "driver
        # (scalar or sequence of scalars) – sequence since 0.104", pandoc's reference lists).
        item = kind == "item"
        if (
            len(group.blocks) > 1
            and kind in ("text", "item")
            and then.path == group.path
            and then.blocks[0][2] == kind
            and end - start < FRAGMENT_CHARS // (3 if item else 5)
            # a lowercase label, not the first item of a list that a lead-in introduces
            and (
                text[start].isupper()
                or (item and not text[group.blocks[-2][0] : group.blocks[-2][1]].rstrip().endswith(":"))
            )
            and not ends_sentence(text[start:end])
            # what it introduces is a body of text, not the next entry of a list of short ones
            and then.blocks[0][1] - then.blocks[0][0] >= FRAGMENT_CHARS // 3
            and ends_sentence(text[then.blocks[0][0] : then.blocks[0][1]])
            and then.blocks[-1][1] - start <= max_chars
        ):
            then.blocks.insert(0, group.blocks.pop())


#: A section path names at most this many of the definitions a passage is nested in.
_OWNERS = 2


def term_line(body: str, longest: int = 60) -> str:
    """A term as a section name: its first line, a signature without its parameters
    ("subprocess.run(…)": they would fill the passage's context with their words), cut at
    a word near ``longest`` characters."""
    line = " ".join(body.split("\n", 1)[0].split()).rstrip(":")
    name, paren, rest = line.partition("(")
    if paren and name.strip() and rest.strip(" )"):
        line = f"{name.rstrip()}(…)"
    return line if len(line) <= longest else line[:longest].rsplit(" ", 1)[0] + " …"


def _spanning(first: _Group, then: _Group) -> _Group:
    """Two groups of neighbouring sections as one, cited under the section holding both (or,
    when none does, the later one); the later group's section is the one that further
    blocks may continue."""
    a, b = first.section.split(SECTION_SEPARATOR), then.section.split(SECTION_SEPARATOR)
    common = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common.append(x)
    # Sections with no parent in common: the later one, which holds most of the passage.
    section = SECTION_SEPARATOR.join(common) or then.section
    return _Group(then.path, section, [*first.blocks, *then.blocks])


def _joinable(first: _Group, then: _Group, max_chars: int, layout: tuple[Block, ...], text: str) -> bool:
    """Whether two groups could be one passage: only headings between them, a definition
    not swallowed by what is before it, no markup between them, and within the size limit."""
    between = layout[first.blocks[-1][3] : then.blocks[0][3] - 1]  # blocks are numbered from 1
    return (
        all(block[2] == "heading" for block in between)
        and not _markup_between(text, first.blocks[-1][1], then.blocks[0][0], between)
        and then.blocks[0][2] != "term"
        and then.blocks[-1][1] - first.blocks[0][0] <= max_chars
    )


def _markup_between(text: str, end: int, start: int, blocks: Sequence[Block] = ()) -> bool:
    """Whether the text between two blocks holds what no block reads (``blocks``: those
    between them, headings or dropped ones): a Markdown file's HTML comment, link definition,
    MyST target or table of contents, which an excerpt across them would quote. A table's
    "|---|" line and a quote's ">" are no such."""
    pos = end
    for s, e, _, _ in sorted(b for b in blocks if end <= b[0] and b[1] <= start):
        if _markup(text, pos, s):
            return True
        pos = max(pos, e)
    return _markup(text, pos, start)


def _markup(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]``, between two blocks, holds markup an excerpt should not run
    across. A reStructuredText directive's options (":widths: 15, 30", a csv-table's
    ":header: " before the header it names) are its settings, quoted as the directive's
    line is, not a comment or a link's target."""
    if not _MARKUP_CHAR.search(text, start, end):
        return False
    return bool(_MARKUP_CHAR.search(_OPTION_LINE.sub("", text[start:end])))


#: A character of the text between blocks that is more than white space, a table's rule
#: ("|---|", reStructuredText's "+===+" and "=====  =====") or a quote's mark.
_MARKUP_CHAR = re.compile(r"[^\s|:>=+-]")
#: A reStructuredText directive's option line (":widths: 15, 30"), or its start (":header: ").
_OPTION_LINE = re.compile(r"^[ \t]*:[\w-]+:(?:[ \t][^\n]*)?$", re.M)


def _scrap(group: _Group) -> bool:
    return group.size < FRAGMENT_CHARS // 3


def _lone_line(group: _Group, text: str) -> bool:
    """A single line, no definition, short and no sentence: shown alone it reads as a stray
    heading (a few lines of code under their own heading read as what they are)."""
    if len(group.blocks) != 1 or group.blocks[0][2] == "term":
        return False
    body = text[group.blocks[0][0] : group.blocks[-1][1]]
    if group.blocks[0][2] == "code" and "\n" in body:
        return False
    return _scrap(group) and not ends_sentence(body)


def _joins(group: _Group, kind: str, body: str, joined: int, max_chars: int, text: str, inside: int = 0) -> bool:
    """Whether a block of ``kind`` continues ``group`` (``joined``: the size together;
    ``inside``: how many definitions' descriptions the block is in)."""
    last = group.last
    if joined > max_chars:
        return False
    if group.definition and group.inside < inside:
        return True  # inside this definition's description: its items, code, "Parameters:" list
    if inside < group.inside or (group.definition and kind != "term"):
        return False  # the description the group is in, or this definition, has ended
    if kind == "desc" and last in ("term", "desc"):
        return True  # a description stays with its term
    s, e = group.blocks[-1][:2]
    if last in ("text", "item", "desc", "field") and text[s:e].rstrip().endswith(":"):
        return True  # a lead-in stays with what it introduces
    if kind == "term":
        return last == "term"  # each definition is a passage of its own, with all its terms
    if last == "code" and kind != "code":
        return group.size < FRAGMENT_CHARS
    if last == kind == "code" and group.size < FRAGMENT_CHARS // 3:
        return True  # a code block's directive line (".. code-block:: python") with its code
    if kind == last and kind in ("item", "row") or (kind == "row" and last == "header"):
        return joined <= TARGET_CHARS
    return (group.size < FRAGMENT_CHARS or len(body) < FRAGMENT_CHARS // 3) and joined <= TARGET_CHARS


#: A code block's "sentences" are runs of lines of about this many characters.
CODE_PIECE_CHARS = 200


def _block_sentences(text: str, start: int, end: int, kind: str) -> list[Span]:
    """A block's sentence spans: code by runs of lines (its "sentences"), the rest by sentences.

    In a session at a prompt, a run ends only before a prompt line, so that what a command
    printed stays with the command (up to three runs' size).
    """
    if kind != "code":
        return sentence_spans(text, start, end)
    lines = text[start:end].split("\n")
    session = sum(bool(PROMPT.match(line)) for line in lines) >= 2
    spans: list[Span] = []
    pos = start
    piece_start = None
    for line in lines:
        line_end = pos + len(line)
        if line.strip():
            if session and piece_start is not None and PROMPT.match(line) and pos - piece_start >= CODE_PIECE_CHARS:
                spans.append(_trim(text, piece_start, pos))
                piece_start = None
            piece_start = pos if piece_start is None else piece_start
            size = line_end - piece_start
            if size >= CODE_PIECE_CHARS * (3 if session else 1):
                spans.append(_trim(text, piece_start, line_end))
                piece_start = None
        pos = line_end + 1
    if piece_start is not None:
        spans.append(_trim(text, piece_start, end))
    return spans


def _pieces(text: str, spans: list[Span], max_chars: int) -> list[tuple[int, int, list[Span]]]:
    """Sentence spans grouped into passages of at most ``max_chars``."""
    pieces: list[tuple[int, int, list[Span]]] = []
    group: list[Span] = []
    for span in (part for s in spans for part in _cut_long(text, s, max_chars)):
        if group and span[1] - group[0][0] > max_chars:
            pieces.append((group[0][0], group[-1][1], group))
            group = []
        group.append(span)
    if group:
        pieces.append((group[0][0], group[-1][1], group))
    return pieces


#: Kinds of unit that are quoted.
_BODY = ("body", "lines")


def paragraph_units(text: str, shared: frozenset[str] = frozenset()) -> list[Unit]:
    """Every paragraph of ``text`` in order, with trimmed offsets and its kind.

    A block of lines each a paragraph of its own (a changelog's entries, lines too long
    to be hard-wrapped) is a list of lines: its first line may head it, and the rest are
    read in runs of lines up to ``TARGET_CHARS``, never as headings (which no excerpt
    quotes: "perf: +20% faster huffman decompression" under "v1.5.4 (Feb 2023)").
    """
    units: list[Unit] = []
    seen: set[str] = set()
    running = _running_lines(text)
    for lines in _blocks(text):
        groups = _split_block(text, lines, shared)
        if len(groups) >= 3 and len(groups) == len(lines) and _entries(text, lines):
            units.extend(_line_list(text, groups, shared, seen, len(units)))
            continue
        for group in groups:
            start, end = _trim(text, group[0][0], group[-1][1])
            body = text[start:end]
            key = normalise(body)
            if len(group) == 1 and (is_furniture(body, shared) or start in running) or _contents(text, group):
                kind = "furniture"
            elif key in seen:
                kind = "duplicate"
            elif (
                len(group) == 1
                and looks_like_heading(body)
                and not _BULLET.match(body)
                and not _not_a_title(body, start - group[0][0])
                # an indented line a lead-in introduces ("… make this change permanent:" /
                # "  systemctl enable ssh.socket") is its example, not a heading
                and not (start > group[0][0] and units and _introduces(text[units[-1].start : units[-1].end]))
            ):
                kind = "heading"
            else:
                kind = "body"
            seen.add(key)
            units.append(Unit(start, end, len(units) + 1, kind))
    return units


#: What numbers or labels a question in a list of questions: "21.", "1.6", "Q:".
_ENUMERATOR = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3})*\.?|[A-Za-z][.)]|Q[:.])\s+")


def _contents(text: str, lines: list[tuple[int, int]]) -> bool:
    """Whether a paragraph is a table of contents: most of its lines end in dot leaders
    and a page number ("1.1.  Compiling Sendmail ........ 7")."""
    return sum(bool(CONTENTS_LEADER.search(text[s:e])) for s, e in lines) * 2 > len(lines)


def _running_lines(text: str) -> set[int]:
    """The offsets of a paginated text's running headers and footers ("Sendmail Installation
    and Operation Guide  SMM:08-7", "Fielding, et al.  Standards Track  [Page 12]"): a short
    line with a number that recurs, numbers aside and its words in any order (left and right pages),
    at least ``_RUNNING_MIN_PAGES`` times, most of them a page's length apart. A release's
    heading in a changelog recurs too, but not at a regular interval."""

    def candidates():
        pos = 0
        for number, line in enumerate(text.split("\n")):
            stripped = line.strip()
            if (
                0 < len(stripped) <= _RUNNING_LINE_CHARS
                and _DIGITS.search(stripped)  # a page's number or date: what makes it run
                and len(_LETTERS.findall(stripped)) >= 2
                and not ends_sentence(stripped)  # a header is no sentence ("… was 7 on day 1.")
            ):
                yield " ".join(sorted(_DIGITS.sub("#", stripped).split())), number, pos + len(line) - len(line.lstrip())
            pos += len(line) + 1

    # Two passes, so that only lines that recur are held (a large file has many that do not).
    recurring = {key for key, n in Counter(key for key, _, _ in candidates()).items() if n >= _RUNNING_MIN_PAGES}
    where: dict[str, list[tuple[int, int]]] = {}
    for key, number, offset in candidates():
        if key in recurring:
            where.setdefault(key, []).append((number, offset))
    running: set[int] = set()
    for found in where.values():
        gaps = [b[0] - a[0] for a, b in zip(found, found[1:], strict=False)]
        page = Counter(gaps).most_common(1)[0][0]
        regular = sum(abs(gap - page) <= 2 for gap in gaps)
        if page >= _PAGE_MIN_LINES and regular >= 0.6 * len(gaps):
            running.update(offset for _, offset in found)
    # Headers and footers are a line or two of a page's tens: lines that recur this often
    # are the text itself (a survey's notes, a log).
    lines = text.count("\n") + 1
    return running if len(running) <= _RUNNING_SHARE * lines else set()


#: A running header or footer is a line at most this long, found on at least this many
#: pages of at least this many lines.
_RUNNING_LINE_CHARS = 100
_RUNNING_SHARE = 0.1
_RUNNING_MIN_PAGES = 3
_PAGE_MIN_LINES = 20
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_DIGITS = re.compile(r"\d+")


def _example(text: str, unit: Unit) -> bool:
    """Whether a unit is a single line set apart as an example (see ``_not_a_title``)."""
    line = text[unit.start : unit.end]
    return "\n" not in line and _not_a_title(line, unit.start - (text.rfind("\n", 0, unit.start) + 1))


def _commands(text: str, unit: Unit) -> bool:
    """Whether a unit is code: lines typed at a prompt ("$ make"), or a block shaped like code."""
    body = text[unit.start : unit.end]
    lines = [line for block in _blocks(body) for line in block]
    return bool(lines) and (all(PROMPT.match(body[s:e]) for s, e in lines) or _code_like(body, lines))


def _introduces(paragraph: str) -> bool:
    """A short paragraph ending with a colon: a lead-in to what follows it."""
    return len(paragraph) < FRAGMENT_CHARS and paragraph.rstrip().endswith(":")


def _indented(text: str, unit: Unit) -> bool:
    """Whether every line of a unit is indented: an example set apart (commands to run)."""
    line_start = text.rfind("\n", 0, unit.start) + 1
    lines = text[line_start : unit.end].split("\n")
    return all(line[:1] == "\t" or line[:2] == "  " for line in lines if line.strip())


def _not_a_title(line: str, indent: int) -> bool:
    """A short line that is still no heading: an indented example ('    Defaults
    env_keep+="EDITOR"', a line of code set apart) or a signature (a Debian changelog's
    " -- Name <mail>  date" closing its entry)."""
    return bool(_SIGNATURE.match(line)) or (indent >= 4 and any(ch in _CODE_MARKS for ch in line))


_CODE_MARKS = frozenset("=;{}$")
#: A signature closing a changelog's entry: " -- Name <mail>  date".
_SIGNATURE = re.compile(r"--\s+\S[^\n<]*<[^>\s@]+@[^>\s]+>")


def _asks(paragraph: str) -> bool:
    """Whether a paragraph is only a question: short, ending in a question mark, no other
    sentence before it."""
    body = paragraph.strip()
    question = _ENUMERATOR.sub("", body)  # "21. Is zlib thread-safe?": a number is no sentence
    return len(body) < FRAGMENT_CHARS and body.endswith("?") and len(sentence_spans(question)) == 1


def _entries(text: str, lines: list[tuple[int, int]]) -> bool:
    """Whether most of the lines end without ending a sentence: entries of a list, not
    paragraphs of prose written one to a line."""
    return sum(not ends_sentence(text[s:e].strip()) for s, e in lines) * 2 > len(lines)


def _line_list(
    text: str, groups: list[list[tuple[int, int]]], shared: frozenset[str], seen: set[str], numbered: int
) -> list[Unit]:
    """The units of a block of one-line paragraphs (see ``paragraph_units``); ``numbered``:
    how many units come before it."""
    units: list[Unit] = []
    run: list[Span] = []

    def close() -> None:
        if run:
            units.append(Unit(run[0][0], run[-1][1], numbered + len(units) + 1, "lines" if len(run) > 1 else "body"))
            run.clear()

    for i, ((line_start, line_end),) in enumerate(groups):
        span = _trim(text, line_start, line_end)
        body = text[span[0] : span[1]]
        key = normalise(body)
        furniture = is_furniture(body, shared)
        if furniture or key in seen:
            close()
            units.append(Unit(*span, numbered + len(units) + 1, "furniture" if furniture else "duplicate"))
        elif i == 0 and looks_like_heading(body) and not _BULLET.match(body):
            units.append(Unit(*span, numbered + len(units) + 1, "heading"))
        else:
            if run and span[1] - run[0][0] > TARGET_CHARS:
                close()
            run.append(span)
        seen.add(key)
    close()
    return units


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Absolute ``(start, end)`` spans of the sentences of ``text[start:end]``.

    A rule-based splitter: terminal punctuation followed by space and a capital,
    digit or opening quote ends a sentence, unless the word before is a known
    abbreviation or a single initial ("Dr. Naji", "J. Smith", "Dec. 31").
    """
    end = len(text) if end is None else end
    spans: list[Span] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        nxt = _next_visible(text, match.end(), end)
        if nxt is None or not (nxt.isupper() or nxt.isdigit() or nxt in "\"'“‘(["):
            continue
        if text[match.start()] == "." and _is_abbreviation(text, cursor, match.start()):
            continue
        if _LIST_MARKER.fullmatch(text, max(cursor, text.rfind("\n", cursor, match.start()) + 1), match.end()):
            continue  # "1." opening an item of a numbered list (on a line of its own) ends no sentence
        spans.append(_trim(text, cursor, match.end()))
        cursor = match.end()
    if text[cursor:end].strip():
        spans.append(_trim(text, cursor, end))
    spans = [s for s in spans if s[1] > s[0]]
    for i in range(len(spans) - 1, 0, -1):
        if _REMARK.fullmatch(text, *spans[i]):  # "([CVE-2025-15467])" closes the sentence before it
            spans[i - 1 : i + 1] = [(spans[i - 1][0], spans[i][1])]
    return spans


def _blocks(text: str) -> list[list[tuple[int, int]]]:
    """Runs of non-blank lines, as ``(start, end)`` line spans (newline excluded)."""
    blocks: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        span = (pos, pos + len(line))
        pos = span[1] + 1
        if line.strip():
            current.append(span)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _split_block(text: str, lines: list[tuple[int, int]], shared: frozenset[str]) -> list[list[tuple[int, int]]]:
    """Cut a block into paragraphs: at every line when lines are too long to be
    hard-wrapped, else where a line ends a paragraph (short with end punctuation,
    a heading, furniture, a repeat, or a list item below)."""
    width = max(len(text[s:e].strip()) for s, e in lines)
    wrapped = width <= WRAP_WIDTH
    if _code_like(text, lines):
        return [lines]  # code or a configuration keeps its lines together, comments among them
    groups: list[list[tuple[int, int]]] = [[lines[0]]]
    for prev, line in zip(lines, lines[1:], strict=False):
        before, after = text[prev[0] : prev[1]].strip(), text[line[0] : line[1]].strip()
        if _term_above(text, prev, line):
            groups[-1].append(line)  # a term and the description indented below it
        elif not wrapped or _ends_paragraph(before, after, width, shared):
            groups.append([line])
        else:
            groups[-1].append(line)
    return groups


def _term_above(text: str, term: tuple[int, int], below: tuple[int, int]) -> bool:
    """Whether a line is a term whose description is indented further below it, as a man
    page set as text writes an option ("       -4" / "\t   With this option …"): an indented
    short line, not a section's heading at the margin ("OPTIONS"), nor a paragraph's short
    last line; or a key above its values ("bootcmd:")."""
    line = text[term[0] : term[1]]
    key = line.rstrip().endswith(":")  # a key above its values ("bootcmd:" / "  - echo …"), at any margin
    if len(line.strip()) > _TERM_CHARS or not key and ends_sentence(line):
        return False
    indent = _indent(line)
    return (key or indent > 0) and indent < _indent(text[below[0] : below[1]])


def _indent(line: str) -> int:
    return len(line.expandtabs()) - len(line.expandtabs().lstrip())


#: A term above its description is at most this long (an option and its arguments).
_TERM_CHARS = 60


_RULE_LINE = re.compile(r"^\s*([^\w\s])(?:\s?\1){2,}\s*$")  # "=====", "```", "* * *"
_PAGE_NUMBER_LINE = re.compile(r"^[\s\-–—\[(]*(?:\d{1,4}|[ivxlc]{1,6})[\s\-–—\])]*$", re.IGNORECASE)


def _ends_paragraph(before: str, after: str, width: int, shared: frozenset[str]) -> bool:
    """Whether a hard-wrapped line ``before`` closes its paragraph."""
    if is_furniture(before, shared):
        return True
    if is_furniture(after, shared):
        # A sentence that goes on into a short line of symbols ("… just use" / "``*/2''.") keeps
        # it; a page's number, a breadcrumb or navigation line, or a line other documents share
        # is debris.
        goes_on = (
            not ends_sentence(before)
            and sum(ch.isalnum() for ch in after) < 3  # debris for its few letters alone
            and any(not ch.isalnum() and not ch.isspace() for ch in after)  # symbols, not "TT"
            and not _PAGE_NUMBER_LINE.match(after)
            and not _RULE_LINE.match(after)  # a title's underline ("============")
            and normalise(after) not in shared
        )
        return not goes_on
    if normalise(before) == normalise(after) or _BULLET.match(after):
        return True
    if ends_sentence(before) and len(before) < 0.85 * width:
        return True
    # A short line before another one is an item of a list of short lines, not a heading.
    return looks_like_heading(before) and len(before) < 0.6 * width and not looks_like_heading(after)


# A line of code or configuration: it ends in a brace, a semicolon or a continuation, or
# closes a brace, or is typed at a prompt.
_BRACE_LINE = re.compile(r"[{}]\s*$|^\s*}")
_CODE_LINE = re.compile(r"(?:[{};\\]|\(|\[)\s*$|^\s*[}\])]")


def _code_like(text: str, lines: list[tuple[int, int]]) -> bool:
    """Whether a block of plain text is code: at least three lines, a third of them code-shaped
    (ending in ``{``, ``;`` or ``\\``, closing a brace, or typed at a prompt) and one of them
    with a brace or a prompt, or two thirds of them code-shaped."""
    if len(lines) < 3:
        return False
    code = sum(bool(_CODE_LINE.search(text[s:e]) or PROMPT.match(text[s:e])) for s, e in lines)
    # A list of clauses ending in ";" is prose: code also opens or closes a brace, or is typed
    # at a prompt, unless nearly all its lines are code-shaped.
    marked = any(_BRACE_LINE.search(text[s:e]) or PROMPT.match(text[s:e]) for s, e in lines)
    return code * 3 >= len(lines) and (marked or code * 3 >= 2 * len(lines))


def code_spans(document: Document, start: int = 0, end: int | None = None) -> tuple[Span, ...]:
    """The code blocks within ``document.text[start:end]``, as spans relative to ``start``:
    the blocks a structured reader marked as code, or, in plain text, the blocks of lines
    that read as code (``_code_like``, as passages are cut)."""
    end = len(document.text) if end is None else end
    if document.layout:
        found = []
        for s, e, kind, _ in document.layout:
            if kind == "code" and s < end and e > start:
                if found and not document.text[found[-1][1] : s].strip():  # one block of code read as two
                    found[-1] = (found[-1][0], e)
                else:
                    found.append((s, e))
    else:
        text = document.text[start:end]
        found = []
        for lines in _blocks(text):
            # Shown as code with a mark of code (a brace, a shell's or Python's prompt) or when
            # two lines in three end as code does (";", "\\"): quoted e-mail ("> …") and lines
            # opening with "%" are shaped like prompts, and are neither.
            if _code_like(text, lines) and (
                any(_CODE_MARK.search(text[s:e]) for s, e in lines)
                or sum(bool(_CODE_LINE.search(text[s:e])) for s, e in lines) * 3 >= 2 * len(lines)
            ):
                # A sentence of prose before or after the code, in the same block, is not code.
                while lines and _PROSE_LINE.search(text[lines[0][0] : lines[0][1]]):
                    lines = lines[1:]
                while lines and _PROSE_LINE.search(text[lines[-1][0] : lines[-1][1]]):
                    lines = lines[:-1]
                if lines:
                    found.append((start + lines[0][0], start + lines[-1][1]))
    return tuple((max(s, start) - start, min(e, end) - start) for s, e in found)


# A line of prose: words, ending as a sentence or a lead-in ends (never a prompt's line).
_PROSE_LINE = re.compile(r"^\s*(?![$#>%] )[A-Z][a-z]+(?:\b[^;{}\\]*[\w)\"'”])?[.:!?]$")
# A mark of code on a line: a brace, or a shell's or Python's prompt (not "> " or "% ").
_CODE_MARK = re.compile(rf"[{{}}]|{CODE_PROMPT.pattern}")


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _next_visible(text: str, pos: int, end: int) -> str | None:
    while pos < end and text[pos].isspace():
        pos += 1
    return text[pos] if pos < end else None


def _is_abbreviation(text: str, lo: int, dot: int) -> bool:
    word_start = dot
    while word_start > lo and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"'“‘":
        word_start -= 1
    word = text[word_start:dot].lower()
    return (len(word) == 1 and word.isalpha()) or word in _ABBREVIATIONS


def _bounded(text: str, start: int, end: int, max_chars: int, lines: bool = False) -> list[tuple[int, int, list[Span]]]:
    """The paragraph as one piece, or cut at sentence boundaries when over ``max_chars``;
    ``lines``: no sentence runs on past the end of a line either, whatever its punctuation."""
    blocks = _blocks(text[start:end])
    # No sentence runs on past a blank line (a question and its answer, a list's items).
    parts = (line for block in blocks for line in block) if lines else ((b[0][0], b[-1][1]) for b in blocks)
    spans = [span for s, e in parts for span in sentence_spans(text, start + s, start + e)]
    if end - start <= max_chars:
        return [(start, end, spans)]
    return _pieces(text, spans, max_chars)


def _cut_long(text: str, span: Span, max_chars: int) -> list[Span]:
    """A sentence over ``max_chars`` cut at the last whitespace before each limit."""
    start, end = span
    parts: list[Span] = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        parts.append(_trim(text, start, cut))
        start = _trim(text, cut, end)[0]
    parts.append((start, end))
    return [p for p in parts if p[1] > p[0]]


def windows(passage: Passage, sentence_tokens: list[int], budget: int) -> list[Span]:
    """Group a long passage's sentences into windows of at most ``budget`` tokens.

    The passage is still cited as one paragraph; only its embedding is split.
    Sentences are cut to fit the model first (:func:`fit_sentences`), so a window
    is over the budget only when a context prefix is; the engine drops long ones.

    Args:
        passage: the passage.
        sentence_tokens: the token count of each of its sentences.
        budget: the model's input size, less what the context prefix takes.
    """
    groups: list[Span] = []
    start = end = None
    used = 0
    for (s, e), n in zip(passage.sentences, sentence_tokens, strict=True):
        if start is not None and used + n > budget:
            groups.append((start, end))
            start, used = None, 0
        start = s if start is None else start
        end = e
        used += n
    if start is not None:
        groups.append((start, end))
    return groups


def sentence_budget(max_tokens: int) -> int:
    """The most tokens one sentence may hold: half the model's input, leaving the
    other half for a context prefix (see ``Engine._embedding_inputs``)."""
    return max(8, max_tokens // 2)


def fit_sentences(
    passages: Sequence[Passage], count_tokens: Callable[[list[str]], list[int]], budget: int
) -> list[Passage]:
    """Cut every sentence longer than ``budget`` tokens into pieces that fit.

    A "sentence" of thousands of characters (a table flattened to one line, a
    minified blob, a text without punctuation) would otherwise be truncated by
    the model, leaving its tail unsearchable. Pieces end at whitespace where
    there is any, and each becomes a sentence span of its passage.
    """
    # A token covers at least one character, so short sentences need no counting.
    # The rest are counted in one batch per round (the tokenizer is parallel).
    spans = [list(p.sentences) for p in passages]
    todo = [(i, j) for i, p in enumerate(passages) for j, sp in enumerate(spans[i]) if sp[1] - sp[0] + 2 > budget]
    while todo:
        counts = count_tokens([_span_text(passages[i], spans[i][j]) for i, j in todo])
        cuts: dict[int, dict[int, list[Span]]] = {}
        for (i, j), n in zip(todo, counts, strict=True):
            span = spans[i][j]
            if n > budget and span[1] - span[0] > 1:
                cuts.setdefault(i, {})[j] = _cut_even(passages[i], span, -(-n // budget) + 1)
        todo = []
        for i, replaced in cuts.items():
            flat: list[Span] = []
            for j, span in enumerate(spans[i]):
                if j in replaced:
                    todo.extend((i, len(flat) + k) for k in range(len(replaced[j])))
                    flat.extend(replaced[j])
                else:
                    flat.append(span)
            spans[i] = flat
    return [
        p if len(sp) == len(p.sentences) else replace(p, sentences=tuple(sp))
        for p, sp in zip(passages, spans, strict=True)
    ]


def _span_text(passage: Passage, span: Span) -> str:
    return passage.text[span[0] - passage.start : span[1] - passage.start]


def _cut_even(passage: Passage, span: Span, parts: int) -> list[Span]:
    """``span`` cut into about ``parts`` pieces of equal length, at whitespace when possible."""
    text, base = passage.text, passage.start
    lo, hi = span[0] - base, span[1] - base
    step = max(1, (hi - lo) // parts)
    pieces: list[Span] = []
    start = lo
    while hi - start > step:
        cut = text.rfind(" ", start + step // 2, start + step)
        cut = cut if cut > start else start + step
        piece = _trim(text, start, cut)
        if piece[1] > piece[0]:
            pieces.append((piece[0] + base, piece[1] + base))
        start = _trim(text, cut, hi)[0]
    if hi > start:
        pieces.append((start + base, hi + base))
    return pieces


#: First words that make a paragraph lean on the one before it ("It belongs to ...", "This ...").
_ANAPHORS = PRONOUNS | {"this", "there", "such"}


def contexts(passages: Sequence[Passage], titles: Mapping[str, str] | None = None) -> list[str]:
    """What each passage needs around it to be understood: its document's title and
    section path ("Manual › Installation › From source"), and the previous passage's
    last sentence when it opens with a pronoun ("It belongs to ...").

    The context is embedded and indexed with the passage; the quote stays the passage alone.
    """
    out = []
    prev = None
    for p in passages:
        parts = [section_path(titles.get(p.doc_id, "") if titles else "", p.heading)]
        first = p.text.lstrip("\"'“‘( ").split(maxsplit=1)[:1]
        if first and first[0].lower().strip(",.;:") in _ANAPHORS and prev is not None and prev.doc_id == p.doc_id:
            s, e = prev.sentences[-1] if prev.sentences else (prev.start, prev.end)
            parts.append(prev.text[s - prev.start : e - prev.start])
        out.append("\n".join(part for part in parts if part))
        prev = p
    return out


def section_path(title: str, heading: str) -> str:
    """The title and the section path; a first heading that repeats the title is left out
    ("Quickstart — Sphinx 5.3 documentation" above "Quickstart")."""
    headings = heading.split(SECTION_SEPARATOR) if heading else []
    if headings and title and normalise(headings[0]).casefold() in normalise(title).casefold():
        headings = headings[1:]
    return SECTION_SEPARATOR.join([title, *headings] if title else headings)


def lexical_texts(passages: Sequence[Passage], titles: Mapping[str, str] | None = None) -> list[str]:
    """What BM25 indexes for each passage: its context (see ``contexts``) and its text."""
    return [f"{c}\n{p.text}" for c, p in zip(contexts(passages, titles), passages, strict=True)]
