"""From the text lines of a PDF's pages to blocks a reader recognises: paragraphs rejoined
from their lines, words split at line ends rejoined, running headers, footers, page
numbers and table-of-contents lines dropped, headings, list items and code found.

A PDF has no paragraphs, only positioned lines; everything here is read from the lines'
text and repetition, so it holds for any generator (LaTeX, office suites, DocBook).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from .cleaning import CONTENTS_LEADER, PROMPT, ends_sentence, normalise
from .layout import Blocks
from .types import Block

#: Lines this close to the top or bottom of a page may be running headers or footers.
_EDGE_LINES = 2
#: A line at a page edge that recurs on this many pages (digits ignored) is a running header.
_RUNNING_MIN_PAGES = 3

_PAGE_NUMBER = re.compile(r"^(?:page\s+)?[-–—\s]*(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:/|of)\s*\d{1,4})?[-–—\s]*$", re.I)
_ENDS_WITH_PAGE = re.compile(r"^\s*(?:[\dA-Z]+(?:\.\d+)*\.?\s+)?\S.{0,90}?\s+(?:\d{1,4}|[ivxlc]{1,6})\s*$")
_CONTENTS_TITLE = re.compile(r"^\s*(?:table of\s+)?contents\s*$", re.IGNORECASE)
#: A "Contents" line opens a table of contents when at least this many entries follow it.
_CONTENTS_MIN_ENTRIES = 2
_NUMBERED_HEADING = re.compile(
    r"^(?:(?i:chapter|part|section|appendix)\s+)?(\d{1,2}(?:\.\d{1,2}){0,4}\.?|[A-Z](?:\.\d{1,2}){1,3}\.?|[A-Z]\.)\s+\S"
)
#: A line ending where no heading ends: on a comma or a word that needs what follows.
_RUNS_ON = re.compile(r"(?:,|\b(?:and|or|of|the|a|an|to|in|for|with|by|from|on|at|as|is|are))$", re.I)
_BULLET = re.compile(r"^(?:[•●▪◦‣∙·\-*–]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+")
_CODE_CHARS = set("{}()[];=<>|&$\\/_*#")
_SOFT_HYPHENS = ("\u00ad", "\x02", "\ufffe")
_INNER_SOFT_HYPHEN = re.compile("[\u00ad\x02\ufffe](?!$)")


# Spacing accents that TeX's fonts set as glyphs of their own before the letter ("Br¨oker",
# "P´eter"), and the combining marks they stand for.
_SPACING_ACCENTS = {
    "\u00a8": "\u0308",  # diaeresis
    "\u00b4": "\u0301",  # acute
    "\u02c6": "\u0302",  # circumflex
    "\u02dc": "\u0303",  # tilde
    "\u02c7": "\u030c",  # caron
    "\u02da": "\u030a",  # ring
    "\u00b8": "\u0327",  # cedilla
}
_ACCENTED = re.compile(f"([{''.join(_SPACING_ACCENTS)}])([^\\W\\d_])")


_CONTRACTION = re.compile(r"(?:s|t|d|m|ll|re|ve)(?![^\W\d_])")


def compose_accents(text: str) -> str:
    """Letters with their accents, where the accent was extracted as a character of its own
    before the letter ("Br¨oker" is "Bröker")."""

    def composed(match: re.Match) -> str:
        if match.group(1) == "\u00b4" and _CONTRACTION.match(match.string, match.start(2)):
            return match.group(0)  # an acute typed for an apostrophe: "it´s", "don´t"
        letter = "i" if match.group(2) == "ı" else match.group(2)  # TeX accents a dotless i
        return unicodedata.normalize("NFC", letter + _SPACING_ACCENTS[match.group(1)])

    return _ACCENTED.sub(composed, text) if any(ch in text for ch in _SPACING_ACCENTS) else text


def pdf_blocks(pages: list[str]) -> tuple[str, tuple[Block, ...]]:
    """The blocks of a PDF whose pages extracted to ``pages`` (one string per page)."""
    pages = [compose_accents(page) for page in pages]
    lines = [[line.rstrip() for line in re.split(r"\r\n|\r|\n", page) if line.strip()] for page in pages]
    lines = _drop_running(lines)
    lines = [_drop_contents(page) for page in lines]
    flat = [line for page in lines for line in page]
    long_lines = sorted(len(line) for line in flat if len(line) > 20)
    width = long_lines[int(0.9 * (len(long_lines) - 1))] if long_lines else 80
    vocabulary = Counter(w.lower() for line in flat for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", line))
    # pdfium marks a word it rejoined across a line end with a soft hyphen ("well\x02known"): it
    # becomes a hyphen when the document writes the word hyphenated elsewhere, else nothing.
    lines = [[_rejoin(line, vocabulary) for line in page] for page in lines]

    out = Blocks()
    paragraph: list[str] = []
    kind = "text"
    code: list[str] = []

    def close() -> None:
        nonlocal kind
        if code:
            out.add("\n".join(code), "code")
            code.clear()
        if paragraph:
            out.add(_join(paragraph, vocabulary), kind)
            paragraph.clear()
        kind = "text"

    for number, page in enumerate(lines):
        for i, line in enumerate(page):
            text = line.strip()
            nxt = page[i + 1].strip() if i + 1 < len(page) else ""
            if _is_code(text):
                if paragraph:
                    close()
                code.append(line.rstrip())
                continue
            if code:
                close()
            level = _heading_level(text, paragraph, nxt, width, top=i == 0)
            if level:
                close()
                out.add(normalise(text), "heading", level)
                continue
            if _BULLET.match(text) and (paragraph or kind != "item"):
                close()
                kind = "item"
            paragraph.append(text)
            if _ends_paragraph(text, nxt, width):
                close()
        # A paragraph runs on to the next page only when it stops mid-sentence.
        following = next((p[0].strip() for p in lines[number + 1 :] if p), "")
        if paragraph and (ends_sentence(paragraph[-1]) or not following[:1].islower()):
            close()
    close()
    return out.result()


def _drop_running(pages: list[list[str]]) -> list[list[str]]:
    """Pages without their running headers and footers and page numbers: lines at a
    page's top or bottom that recur (numbers aside) on several pages."""

    def whole(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(normalise(line).lower().split()))

    def keys(line: str) -> set[str]:
        # The whole line, numbers aside; for a short line also its first and last three
        # words, numbers and all, since a running header often pairs the book's title with
        # the section's (numbers aside, "2 Installing R" and "3 Installing R" would be one).
        words = normalise(line).lower().split()
        found = {whole(line)}
        if 3 < len(words) <= 10:
            found |= {"^" + " ".join(words[:3]), " ".join(words[-3:]) + "$"}
        return found

    counts: Counter[str] = Counter()
    for page in pages:
        counts.update(set().union(*(keys(line) for line in page[:_EDGE_LINES] + page[-_EDGE_LINES:])))
    needed = _RUNNING_MIN_PAGES if len(pages) >= 6 else max(2, (len(pages) + 1) // 2)
    out = []
    for number, page in enumerate(pages):
        n = len(page)
        kept, running = [], []
        for i, line in enumerate(page):
            edge = i < _EDGE_LINES or i >= n - _EDGE_LINES
            if edge and _PAGE_NUMBER.match(line.strip()):
                continue
            # The first page's first lines are the document's title ("Font Features for
            # Padauk"), which a running footer may open with: they go only if they recur whole.
            cover = number == 0 and i < _EDGE_LINES
            found = {whole(line)} if cover else keys(line)
            if edge and any(counts[k] >= needed for k in found):
                running.append(line)
                continue
            kept.append(line)
        # A page made only of a recurring line (a leaflet repeating one notice) keeps it.
        out.append(kept or running)
    return out


def _drop_contents(page: list[str]) -> list[str]:
    """The page without table-of-contents lines: dot leaders anywhere, and on a page
    that is mostly a list of titles ending in page numbers, those lines."""
    page = [line for line in page if not CONTENTS_LEADER.search(line)]
    numbered = [bool(_ENDS_WITH_PAGE.match(line)) and not ends_sentence(line.rstrip(" 0123456789")) for line in page]
    if page and sum(numbered) >= max(4, 0.6 * len(page)):
        return [line for line, toc in zip(page, numbered, strict=True) if not toc]
    # A short table of contents atop a page of text: "Contents", then titles with page numbers.
    for i, line in enumerate(page):
        if _CONTENTS_TITLE.match(line):
            end = i + 1
            while end < len(page) and numbered[end]:
                end += 1
            if end - i > _CONTENTS_MIN_ENTRIES:
                return page[:i] + page[end:]
    return page


def _is_code(line: str) -> bool:
    """A command or program line: a shell or REPL prompt, or dense with code symbols."""
    if PROMPT.match(line) or line.startswith(("# ", "... ")):  # a root prompt, a continuation line
        return True
    stripped = line.replace(" ", "")
    if len(stripped) < 3 or ends_sentence(line) and not line.endswith(";"):
        return False
    symbols = sum(ch in _CODE_CHARS for ch in stripped)
    return symbols >= 3 and symbols >= 0.18 * len(stripped)


def _heading_level(line: str, paragraph: list[str], nxt: str, width: int, top: bool = False) -> int:
    """The level of a heading line (0 when it is not one): short, unpunctuated, on a line
    of its own after a finished paragraph, and either numbered ("2.1 Layout") or followed
    by text that starts a sentence."""
    numbered = _NUMBERED_HEADING.match(line)
    # A paragraph that stops mid-sentence runs on, unless the line is a section number
    # with a dot ("2.1.2 IRC Channels") or a numbered line atop a page (a chapter's first
    # page): strong enough signs on their own.
    strong = numbered and (top or "." in numbered.group(1).rstrip("."))
    if paragraph and not ends_sentence(paragraph[-1]) and not strong:
        return 0
    words = line.split()
    asks = numbered is not None and line.rstrip().endswith("?")  # "2.10 What is CRAN?", a FAQ's question
    if not words or len(words) > 12 or len(line) > 0.7 * width or (ends_sentence(line) and not asks):
        return 0
    if line.endswith("-") or not re.search(r"[^\W\d_]{3}", line) or re.search(r"://|www\.|[\\{}=]", line):
        return 0  # a word broken at the line's end, figures ("59, 46, 58, 43)"), a web address, code
    if _RUNS_ON.search(line) or (
        numbered and numbered.group(1).isdigit() and line[len(numbered.group(0)) - 1].islower()
    ):
        return 0  # a line that runs on ("… the Latin, Greek and"), a footnote ("17 which cover …")
    if re.match(r"^appendix\s+[A-Z]\b", line, re.I):
        return 1
    if not (words[0][:1].isupper() or words[0][:1].isdigit()) or _BULLET.match(line):
        return 0
    if numbered and re.search(r"\s\d{1,4}$", line):
        return 0  # "2 Coding model description 9": a contents line, not a heading
    if numbered and not re.match(r"[\"'“‘(]?[^\W\d_]", line[numbered.end(1) :].lstrip()):
        return 0  # "44 55 66 second line of data", "1 -10 0xffaabb # integer": data, not a title
    if numbered:
        if sum(ch.isalpha() for ch in line) < 3:
            return 0
        if re.match(r"^(chapter|part)\b", line, re.I):
            return 1
        return min(6, numbered.group(1).count(".") + 1)
    if not nxt[:1].isupper() and not nxt[:1].isdigit() and not _BULLET.match(nxt):
        return 0
    if re.search(r":\s|://|@|[=<>{}|]", line):
        return 0  # "Package: bumprace", a URL, an address or code: a field, not a title
    return 2 if len(words) <= 8 else 0


def _ends_paragraph(line: str, nxt: str, width: int) -> bool:
    """Whether a short line closes its paragraph: it ends a sentence or leads in (a comma or
    a semicolon before a word in lower case does not: "In each case," runs on), or a list
    item follows."""
    if not nxt or _BULLET.match(nxt):
        return True
    runs_on = line.rstrip().endswith((",", ";")) and nxt[:1].islower()  # "In each case," / "the file …"
    return ends_sentence(line) and not runs_on and len(line) < 0.8 * width


def _rejoin(line: str, vocabulary: Counter[str]) -> str:
    """A line's inner soft hyphens resolved (see ``pdf_blocks``); one at its end is left for ``_join``."""
    return _INNER_SOFT_HYPHEN.sub(
        lambda m: "-" if _keeps_hyphen(line[: m.start()], line[m.end() :], vocabulary) else "", line
    )


def _keeps_hyphen(before: str, after: str, vocabulary: Counter[str]) -> bool:
    """Whether a hyphen at a line's end belongs to the word ("cut-and-paste", "--with-x",
    "OS-dependent", "variable-length") rather than to hyphenation ("configu- ration").

    By the document's own words (``vocabulary``: every word and hyphenated word, lowercased):
    the hyphenated form written elsewhere keeps it, the joined one written elsewhere drops
    it. Otherwise it stays in a compound or an option (a hyphen before the split part),
    after an abbreviation or a name ("OS-", "Debian-"), and between two words the document
    uses on their own; else it was hyphenation.
    """
    head = re.search(r"(-?)([^\W\d_]+)$", before)
    tail = re.match(r"[^\W\d_]+", after)
    if not head or not tail:
        return False
    joined_on, part, rest = head.group(1), head.group(2), tail.group(0)
    if vocabulary[f"{part}-{rest}".lower()] > 0:
        return True
    if vocabulary[f"{part}{rest}".lower()] > 0:
        return False
    if joined_on or (len(part) > 1 and part[1:] != part[1:].lower()):
        return True
    # Each part is counted once where it is split: "used on its own" means elsewhere too.
    if part[:1].isupper() and vocabulary[part.lower()] > 1:
        return True
    return len(part) >= 3 and vocabulary[part.lower()] > 1 and vocabulary[rest.lower()] > 1


#: A line ending inside a web address ("https://www.", "example.org/"), and a next line that
#: goes on with it ("gnumeric.org", "mirrors.html"): joined without a space.
_URL_END = re.compile(r"(?:https?://|www\.)\S*[./\-_#?=&]$")
_URL_GOES_ON = re.compile(r"^[\w-]+[./#?=&]\S")


def _join(lines: list[str], vocabulary: Counter[str]) -> str:
    """Lines of one paragraph as one line; a word split at a line end is rejoined, keeping
    its hyphen when it belongs to the word (see ``_keeps_hyphen``); a web address split at
    a line end is rejoined without a space."""
    out = lines[0].rstrip("".join(_SOFT_HYPHENS)) if len(lines) == 1 else lines[0]
    for line in lines[1:]:
        soft = out.endswith(_SOFT_HYPHENS)
        if soft or (len(out) > 1 and out.endswith("-") and out[-2].isalpha() and line[:1].islower()):
            out = out[:-1] + ("-" if _keeps_hyphen(out[:-1], line, vocabulary) else "") + line
        elif _URL_END.search(out) and _URL_GOES_ON.match(line):
            out = out + line
        else:
            out = f"{out} {line}"
    return " ".join(out.rstrip("".join(_SOFT_HYPHENS)).split())
