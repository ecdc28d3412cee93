"""Generic line heuristics: page furniture, headings, and lines shared across documents.

Nothing here knows about any particular file; each rule describes a kind of web or
office page debris (empty form labels, breadcrumbs, widget captions) by its shape.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import Block

# A form label with nothing after it ("Sender's Email:"): a few words and a colon.
_EMPTY_LABEL = re.compile(r"^[^\W\d_][\w'’ .\-]{0,40}:$")
# A navigation bar's labels ("Next: …, Previous: …, Up: …", as Texinfo writes them), and
# the longest such bar.
_PAGE_NAVIGATION = re.compile(r"(?:^|[\s,;|\[(])(?:Next|Previous|Prev|Up|Top):\s")
_NAVIGATION_BAR_CHARS = 300
# Breadcrumb separators ("News / Politics / Syria").
_CRUMB_SEPARATORS = re.compile(r"\s[/|»›>]\s")
# What may close a sentence after its final punctuation mark.
_CLOSERS = "\"'”’)]»*_"
_TERMINAL = ".!?…:;,"
_INNER_SENTENCE_END = re.compile(r"\w[.!?…][\"'”’)]*\s+[\"'“‘(]*[A-Z(]")
#: The number of a section of a section ("1.1.", "2.3.4") before its title.
_SECTION_NUMBER = re.compile(r"^\d{1,3}(?:\.\d{1,3})+\.?\s+")
#: A table-of-contents line: a title, dot leaders, a page number ("1.1. Compiling …… 7").
CONTENTS_LEADER = re.compile(r"(?:\.\s?){4,}\s*\d{1,4}\s*$|…\s*\d{1,4}\s*$|\s[.·](?:\s[.·]){3,}")

#: A line is "short" (a candidate for a heading or shared furniture) up to this many words.
SHORT_LINE_WORDS = 16
#: Lines that appear in this many documents are page furniture when short.
SHARED_LINE_MIN_DOCUMENTS = 2
#: Shared furniture is at most this many words ("Recommend article", "Share this") ...
SHARED_LINE_MAX_WORDS = 8
#: ... or any line, a sentence too, when it appears in this many documents and in this share
#: of them (a licence line in every page's footer; not "New in version 1.3." on a few pages).
SHARED_LONG_LINE_MIN_DOCUMENTS = 3
SHARED_LONG_LINE_MIN_SHARE = 0.2
#: A line with a date or a time ("last modified on 2017-02-02 23:55:23") of at least this many
#: words counts as the same line in every document whatever its numbers, for the folder rule.
STAMPED_LINE_MIN_WORDS = 5
_STAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b")
#: ... or any short line, or line that is no sentence, among the first or last few of this
#: share of one folder's documents (at least 3 of them): a site's furniture, when the site
#: is a small part of the collection.
SHARED_FOLDER_LINE_MIN_SHARE = 0.5
FOLDER_EDGE_LINES = 3


def normalise(line: str) -> str:
    """Collapse whitespace (including no-break spaces) so that copies compare equal."""
    return " ".join(line.split())


_CODE_PROMPTS = r"\$|>>>|[\w.-]+@[\w.-]+:\S*[$#]"
#: A line typed at a prompt that only code follows ("$ make", ">>> json.dumps(x)",
#: "user@host:~$ ls"): R's "> " and csh's "% " also open quoted mail and prose ("% of …").
CODE_PROMPT = re.compile(rf"^\s*(?:{_CODE_PROMPTS})\s")
#: A line typed at a shell or REPL prompt ("$ make", ">>> json.dumps(x)", "> summary(x)",
#: "user@host:~$ ls"). A bare "#" is not one: it opens comments as often as a root prompt.
PROMPT = re.compile(rf"^\s*(?:{_CODE_PROMPTS}|%|>)\s")


def ends_sentence(line: str) -> bool:
    """Whether the line ends like a sentence, ignoring closing quotes and brackets."""
    stripped = line.rstrip().rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in _TERMINAL


def is_furniture(line: str, shared: frozenset[str] = frozenset()) -> bool:
    """Whether a line is page debris rather than content.

    Args:
        line: one line of text.
        shared: normalised short lines known to appear in several documents.
    """
    text = normalise(line)
    if sum(ch.isalnum() for ch in text) < 3:
        return True
    if _EMPTY_LABEL.match(text) and len(text.split()) <= 4:
        return True
    if (
        len(_PAGE_NAVIGATION.findall(text)) >= 2
        and len(text) <= _NAVIGATION_BAR_CHARS
        and not _INNER_SENTENCE_END.search(text)
        and not text.endswith(".")
    ):
        return True  # "Next: Parser, Previous: Lexer, Up: Language [Contents][Index]"
    segments = _CRUMB_SEPARATORS.split(text)
    if len(segments) >= 3 and all(len(s.split()) <= 3 for s in segments):
        return True
    return text in shared


def looks_like_heading(line: str) -> bool:
    """A short single line without end punctuation: a title or section heading."""
    text = normalise(line)
    if not text or "\n" in line.strip():
        return False
    if text.startswith("#"):  # a Markdown heading
        return True
    words = text.split()
    if len(words) > SHORT_LINE_WORDS or len(text) > 120 or ends_sentence(text):
        return False
    # A sentence end inside the line ("... on Wednesday. (Russia Today)") makes it a caption;
    # a section's number ("1.1.  Compiling Sendmail") is no sentence.
    return not _INNER_SENTENCE_END.search(_SECTION_NUMBER.sub("", text))


#: Markdown inline syntax in a heading, as a reader of the rendered page never sees it: an
#: image (a build badge), a link's target, a backslash escape, code and strong marks. Bounded,
#: and not tried on long lines: a heading is a line, and a long one is no Markdown heading.
_MD_IMAGE = re.compile(r"!\[[^\]\n]{0,200}\]\(\S{1,300}?(?:\s+\"[^\"\n]{0,200}\")?\)")
_MD_LINK = re.compile(r"\[([^\]\n]{1,200})\]\(\S{1,300}?(?:\s+\"[^\"\n]{0,200}\")?\)")
_MD_EMPTY_LINK = re.compile(r"\[\]\((?:https?://|/|\.\.?/|#)\S{0,300}?\)")  # a badge's link, its image gone
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_MD_CODE = re.compile(r"(`+)([^`\n]{1,300}?)\1")
_MD_STRONG = re.compile(r"\*\*(?=\S)([^*\n]{1,300}?)(?<=\S)\*\*")  # not __: "__init__" is a name
_MD_CLOSING = re.compile(r"\s+#+\s*$")  # "## Install ##"
_MD_LONGEST = 300


def heading_text(line: str) -> str:
    """The heading as a reader sees it: Markdown's markers and inline syntax dropped
    ("# pkgconf [![test](…badge.svg)](…)" is "pkgconf", "man\\_db-2.3.18" is "man_db-2.3.18");
    code is kept as written ("`operator[](size_type)`" is "operator[](size_type)")."""
    text = _MD_CLOSING.sub("", normalise(line).lstrip("#").strip())
    if len(text) > _MD_LONGEST or not any(mark in text for mark in "[\\`*"):
        return text
    parts = _MD_CODE.split(text)  # outside code, code's fence, code, outside code ...
    out = []
    for i in range(0, len(parts), 3):
        plain = _MD_LINK.sub(r"\1", _MD_EMPTY_LINK.sub("", _MD_IMAGE.sub("", parts[i])))
        out.append(_MD_ESCAPE.sub(r"\1", _MD_STRONG.sub(r"\1", plain)))
        if i + 2 < len(parts):
            out.append(parts[i + 2])
    return " ".join("".join(out).split())


# reStructuredText's roles and references, as the rendered page shows them (docutils' inline
# rules: no space just inside the backquotes, none of them inside a word): ":ref:`Install
# <install>`" is "Install", "`PyPI`_" is "PyPI", "Docutils_ Bugs" is "Docutils Bugs".
_RST_ROLE = re.compile(r"(?<![\w`]):[\w.+-]{1,40}:`(?! )([^`<\n]{1,300}?)(?<! )(?:\s*<[^`>\n]{1,300}>)?`(?![\w`])")
_RST_REFERENCE = re.compile(r"(?<![\w`:])`(?! )([^`<\n]{1,300}?)(?<! )(?:\s*<[^`>\n]{1,300}>)?`__?(?!\w)")
# A bare reference name: words joined by single "-", ".", "+" or ":" (no "_" of its own), then "_".
_RST_BARE_REFERENCE = re.compile(r"(?<![\w.])((?:(?!_)\w)+(?:[-.+:](?:(?!_)\w)+)*)__?(?=[\s,;:!?)]|$)")


def rst_heading_text(line: str) -> str:
    """A reStructuredText heading as the rendered page shows it: ``heading_text``, roles and
    references dropped to their text. For reStructuredText only: a Markdown heading's
    "`__init__` vs `__new__`" or "class_" is written as it reads."""
    if len(line) <= _MD_LONGEST and "`" in line:
        line = _RST_REFERENCE.sub(r"\1", _RST_ROLE.sub(r"\1", line))
    if len(line) <= _MD_LONGEST and "_" in line:
        line = _RST_BARE_REFERENCE.sub(r"\1", line)
    return heading_text(line)


#: A section's number opening a heading ("1.", "2.3", "IV."): headings so numbered are of one kind.
_HEADING_NUMBER = re.compile(r"(?:\d+(?:\.\d+)*|[ivxlc]+)[.)]?")


def section_heading(layout: Sequence[Block], text: str, first: str | None = None) -> bool:
    """Whether the document's first heading (or the first one reading ``first``) names a
    section, not the document: a heading after it at its level or above is another of its
    kind, opening with the same word ("man-db 2.11.2", then "man-db 2.11.1"; "Chapter 1",
    then "Chapter 2"). "User Guide" above "Installation" at one level still titles its file."""
    headings = [(start, end, level) for start, end, kind, level in layout if kind == "heading"]
    at = next((i for i, (s, e, _) in enumerate(headings) if first is None or heading_text(text[s:e]) == first), None)
    if at is None:
        return False

    def opening(start: int, end: int) -> str:  # a section number ("1.", "2.3", "IV.") opens as "#"
        words = heading_text(text[start:end]).casefold().split()
        return ("#" if _HEADING_NUMBER.fullmatch(words[0]) else words[0]) if words else ""

    word = opening(*headings[at][:2])
    return (word == "#" or len(word) > 1) and any(
        level <= headings[at][2] and opening(s, e) == word for s, e, level in headings[at + 1 :]
    )


def shared_lines(texts: Iterable[str], folders: Iterable[str] | None = None) -> frozenset[str]:
    """Lines that appear verbatim in several documents: short ones that are no sentence in
    two ("Recommend article"), any in many ("This page is licensed under ..."), and any
    among the first or last lines of most pages of one folder, a site's own furniture
    ("Small. Fast. Reliable." atop every page of a manual that is a small part of the
    collection; a dated footer, "This page last modified on 2017-02-02", whatever its date).

    Args:
        texts: the full text of each document, one per document.
        folders: the folder of each document, in the same order (none: one folder).
    """
    counts: Counter[str] = Counter()
    by_folder: dict[str, Counter[str]] = {}
    stamped: dict[str, Counter[str]] = {}  # per folder: a dated line's form ("… on #-#-#") -> documents
    forms: dict[tuple[str, str], set[str]] = {}  # (folder, form) -> the lines of that form
    sizes: Counter[str] = Counter()
    for text, folder in zip(texts, repeat("") if folders is None else folders, strict=False):
        every = [normalised for line in text.split("\n") if (normalised := normalise(line))]
        lines = set(every)
        counts.update(lines)
        sizes[folder] += 1
        # A site's furniture sits at a page's top or bottom and is a label, a tagline or a
        # line that is no sentence; the sentences that versions of one document share (its
        # clauses) are content.
        edges = {
            line
            for line in every[:FOLDER_EDGE_LINES] + every[-FOLDER_EDGE_LINES:]
            if len(line.split()) <= SHARED_LINE_MAX_WORDS or not ends_sentence(line)
        }
        by_folder.setdefault(folder, Counter()).update(edges)
        dated = {
            line
            for line in edges
            if _STAMP.search(line) and len(line.split()) >= STAMPED_LINE_MIN_WORDS and not ends_sentence(line)
        }
        for line in dated:
            forms.setdefault((folder, re.sub(r"\d+", "#", line)), set()).add(line)
        stamped.setdefault(folder, Counter()).update({re.sub(r"\d+", "#", line) for line in dated})
    many = max(SHARED_LONG_LINE_MIN_DOCUMENTS, SHARED_LONG_LINE_MIN_SHARE * sum(sizes.values()))
    shared = {
        line
        for line, n in counts.items()
        if n >= many
        or (n >= SHARED_LINE_MIN_DOCUMENTS and len(line.split()) <= SHARED_LINE_MAX_WORDS and not ends_sentence(line))
    }
    shared.update(line for _, line in _in_most_of_a_folder(by_folder, sizes))
    # "This page last modified on 2017-02-02 23:55:23 UTC": the same line but for its date.
    for folder, form in _in_most_of_a_folder(stamped, sizes):
        shared.update(forms[folder, form])
    return frozenset(shared)


def _in_most_of_a_folder(by_folder: dict[str, Counter[str]], sizes: Counter[str]) -> Iterator[tuple[str, str]]:
    """``(folder, key)`` for each key counted in at least half of its folder's documents, and
    in at least 3 of them."""
    for folder, folder_counts in by_folder.items():
        most = max(SHARED_LONG_LINE_MIN_DOCUMENTS, SHARED_FOLDER_LINE_MIN_SHARE * sizes[folder])
        yield from ((folder, key) for key, n in folder_counts.items() if n >= most)


def headline(text: str) -> str | None:
    """The first content line when it reads like a headline, else ``None``.

    A headline ends its sentence: the first line of a paragraph that goes on below it
    ("NOTE: This file was modified by … to include only") is not one, nor a line of configuration
    ("version: 2"), nor anything in a file that opens with a directive ("#cloud-config",
    "#!/bin/sh"). A copyright notice or a line of HTML (a logo) is passed over to the line
    after it."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if not line.strip() or is_furniture(line) or is_furniture(heading_text(line)):
            continue  # "#  File:" atop a commented banner is a label, not the title
        if _DIRECTIVE.match(line):
            return None  # a script or a configuration: its comments are no title
        if _NOTICE.match(heading_text(line)) or _MARKUP.match(line):  # a commented banner, a logo
            continue
        following = heading_text(lines[i + 1]) if i + 1 < len(lines) else ""
        # The line's sentence goes on below it: a wrapped line ending in a lowercase word, not
        # a title above its subtitle ("Pride and Prejudice" / "by Jane Austen").
        words = line.split()
        goes_on = following[:1].islower() and len(line.strip()) >= _WRAPPED_LINE and words[-1][:1].islower()
        if not goes_on and looks_like_heading(line) and not _SETTING.match(line):
            return heading_text(line)
        return None
    return None


#: A copyright notice: no title, but one may follow it.
_NOTICE = re.compile(r"^\s*(?:(?i:copyright)\s+(?:\((?i:c)\)|©|\d{4})|\((?i:c)\)\s+\d{4}|©|(?i:all rights reserved))")
#: A line of HTML, as a README's logo is ('<p align="center"><img …></p>').
_MARKUP = re.compile(r"^\s*<[A-Za-z!/]")
#: A directive opening a script or a configuration file ("#!/bin/sh", "#cloud-config").
_DIRECTIVE = re.compile(r"^(?:#!|#[a-z][\w-]*\s*$)")
#: A line at least this long may be a line of a wrapped paragraph.
_WRAPPED_LINE = 40
#: A setting of a configuration file: a key and a value of one word ("version: 2"), or a
#: field whose value is an address ("Format: https://www.debian.org/…", atop a copyright file).
_SETTING = re.compile(r"^\s*(?:[a-z_][\w.-]*\s*(?::(?!:)|=)\s*[^\s:]*|[A-Z][\w-]*:\s+[a-z][a-z+.-]*://\S+)\s*$")


#: What separates a page's own title from its site's name ("Quickstart — Sphinx 5.3.0 documentation").
_TITLE_SEPARATOR = re.compile(r"\s+[—–|·:-]\s+|\s+(?=\([^()]+\)$)")


def site_names(titles: Iterable[str], folders: Iterable[str] | None = None) -> frozenset[str]:
    """Title parts that many documents share, as a site puts its name at one end of every
    page's title ("… — Python 3.11.2 documentation", "Acme Docs | …", "… (Lexical Analysis
    With Flex)"): in at least 3 of the titles and 20% of them, as furniture shared by many
    documents is, or in most titles of one folder (``folders``: each title's document's)."""
    counts: Counter[str] = Counter()
    by_folder: dict[str, Counter[str]] = {}
    sizes: Counter[str] = Counter()
    for title, folder in zip(titles, repeat("") if folders is None else folders, strict=False):
        sizes[folder] += 1
        parts = _TITLE_SEPARATOR.split(title.strip())
        if len(parts) > 1:
            counts.update({parts[0], parts[-1]})
            # In one folder only the tail: titles that open alike ("Annual Report (2021)") keep it.
            by_folder.setdefault(folder, Counter()).update({parts[-1]})
    many = max(SHARED_LONG_LINE_MIN_DOCUMENTS, SHARED_LONG_LINE_MIN_SHARE * sum(sizes.values()))
    names = {part for part, n in counts.items() if n >= many}
    names.update(part for _, part in _in_most_of_a_folder(by_folder, sizes))
    return frozenset(names)


def page_title(title: str, names: frozenset[str]) -> str:
    """``title`` without a site name (see ``site_names``) at either end; never empty."""
    parts = _TITLE_SEPARATOR.split(title.strip())
    if len(parts) < 2 or not names:
        return title
    separators = _TITLE_SEPARATOR.findall(title.strip())
    start, end = (1 if parts[0] in names else 0), (len(parts) - 1 if parts[-1] in names else len(parts))
    if start >= end:
        return title
    kept = parts[start]
    for separator, part in zip(separators[start : end - 1], parts[start + 1 : end], strict=True):
        kept += separator + part
    return kept
