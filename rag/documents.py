"""Read a file (txt, md, rst, html, pdf, docx) into a Document whose text every citation points into."""

from __future__ import annotations

import bisect
import functools
import gzip
import hashlib
import io
import itertools
import os
import re
import stat
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from .cleaning import headline, section_heading
from .config import MAX_FILE_BYTES
from .errors import EmptyDocument, UnreadableDocument, UnsupportedFile
from .layout import Blocks, in_furniture, inline_text, main_content, read_html_blocks
from .markdown_text import markdown_blocks
from .pdf_text import pdf_blocks
from .rst_text import RST_SUFFIXES, rst_blocks
from .types import Block, Document

#: Suffixes the engine reads, and the reader of each.
#: A file named as documentation is by convention ("README", "NEWS", "README.Debian") is read
#: as plain text, and so is one compressed with gzip ("changelog.Debian.gz"); "notes.txt.gz"
#: and "manual.pdf.gz" are read as what they hold.
TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdwn", ".mkd", ".mdown")
HTML_SUFFIXES = (".html", ".htm")
GZIP_SUFFIX = ".gz"
SUPPORTED_SUFFIXES = (
    *TEXT_SUFFIXES,
    *MARKDOWN_SUFFIXES,
    *RST_SUFFIXES,
    *HTML_SUFFIXES,
    ".pdf",
    ".docx",
    GZIP_SUFFIX,
)
MAX_PDF_PAGES = 2000
#: A title longer than this is cut at a word (a page's title is a line, not its text).
MAX_TITLE_CHARS = 200
#: A PDF whose text comes to more characters than this is refused (about 10,000 pages of a
#: book): small files can repeat one content stream on every page and multiply their text.
MAX_PDF_TEXT_CHARS = 20_000_000
#: Limits on a DOCX (a zip archive), checked from its directory before unpacking.
MAX_UNZIPPED_BYTES = 256 * 1024 * 1024
MAX_ZIP_RATIO = 200
MAX_ZIP_MEMBERS = 10_000

# Control characters that never occur in real text (tab, newline, CR and form feed do).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: Markup may hold a control character per this many bytes (see ``decode_text``).
_STRAY_CONTROL_BYTES = 4096
# C1 control characters: a PDF font without a proper text mapping yields them ("Germany\x84").
_C1_CONTROL = re.compile("[\x80-\x9f]")


def is_supported(path: Path) -> bool:
    return _reader_suffix(path.name) is not None


def file_type(name: str) -> str:
    """A file name's extension, lowercased ("" for none). A part of the name written in mixed
    case is no extension: "README.Debian" has none, "REPORT.PDF" has ".pdf"."""
    suffix = PurePosixPath(name).suffix
    part = suffix[1:]
    if part and not (part.islower() or part.isupper() or part.isdigit()):
        return ""
    return suffix.lower()


def describe_type(name: str) -> str:
    """A file's type as a refusal names it: ".yaml", ".png.gz", "(none)"."""
    suffix = file_type(name)
    if suffix == GZIP_SUFFIX:
        suffix = file_type(name[: -len(GZIP_SUFFIX)]) + suffix
    return suffix or "(none)"


def _reader_suffix(name: str) -> str | None:
    """The extension whose reader reads the file ("" for plain text without one), seen
    through gzip; ``None`` when no reader does."""
    suffix = file_type(name)
    if suffix == GZIP_SUFFIX:
        name = name[: -len(GZIP_SUFFIX)]
        suffix = file_type(name)
    if suffix in _READERS:
        return suffix
    return "" if _plain_text_name(name) else None


def _plain_text_name(name: str) -> bool:
    """Whether a file without an extension we read is named as documentation is by
    convention, and so plain text: "README", "NEWS", "TUNING", "changelog.Debian", and with
    any extension when its name is in capitals ("INSTALL.unix"); not "Makefile",
    "configure", a program, nor "notes.py"."""
    first, _, rest = name.partition(".")
    # "INSTALL.unix", "README.debian": a lowercase part after a name in capitals ("LOGO.PNG" is an image)
    capitals = len(first) > 1 and first.isupper() and first.isalpha() and not any(ch.isupper() for ch in rest)
    return capitals or (file_type(name) == "" and first.casefold() in _GENERIC_NAMES - {"index"})


def load_document(path: Path, doc_id: str, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read and decode one file.

    Args:
        path: the file.
        doc_id: its stable id (path relative to the folder it was added from).
        max_bytes: files larger than this are refused without being read.

    Returns:
        The Document, with its title, sha256 and text.

    Raises:
        UnsupportedFile, UnreadableDocument, EmptyDocument.
    """
    suffix = _reader_suffix(path.name)
    if suffix is None:
        raise UnsupportedFile(
            f"unsupported file type {describe_type(path.name)!r}; supported: {', '.join(SUPPORTED_SUFFIXES)},"
            " and plain text named README, NEWS, INSTALL and the like"
        )
    data, info = read_regular_file(path, max_bytes)
    compressed = file_type(path.name) == GZIP_SUFFIX
    name = path.name[: -len(GZIP_SUFFIX)] if compressed else path.name
    title, text, layout = _READERS.get(suffix, _read_text)(_gunzip(data, max_bytes) if compressed else data)
    stem = name[: -len(suffix)] if suffix else name
    if not text.strip():
        raise EmptyDocument("the file holds no text")
    title = (title or "").strip() or _first_line_title(text, layout) or _file_title(stem, doc_id)
    title = " ".join(title.split())
    if len(title) > MAX_TITLE_CHARS:  # every passage is searched with its title: keep it a title
        title = title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] + " …"
    return Document(
        id=doc_id,
        title=title,
        path=str(path.resolve()),
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        layout=layout,
    )


#: File names that say what kind of file it is, not what it is about: such a file is
#: titled with its folder's name too ("zstd README", not "README").
_GENERIC_NAMES = frozenset(
    "readme index news changes changelog history install todo faq contributing authors copying license licence "
    "notes thanks hacking bugs copyright credits maintainers".split()
)


def _first_line_title(text: str, layout: tuple[Block, ...]) -> str | None:
    """The text's first line as its title when it reads like one, and is not the first of
    several headings of one level (see ``section_heading``)."""
    line = headline(text)
    return None if line is None or section_heading(layout, text, line) else line


def _file_title(stem: str, doc_id: str) -> str:
    """A title from the file's name, when the file gives none."""
    folder = PurePosixPath(doc_id).parent.name
    if folder and stem.split(".")[0].casefold() in _GENERIC_NAMES:
        return f"{folder} {stem}"
    return stem


def _gunzip(data: bytes, limit: int) -> bytes:
    """What a gzip file holds (every member of it), refused past ``limit`` bytes: a small
    file may unpack to gigabytes. Bytes after the last member are ignored, as gzip does."""
    out = bytearray()
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as unpacked:
        try:
            while chunk := unpacked.read1(min(_GUNZIP_CHUNK, limit + 1 - len(out))):
                out += chunk
                if len(out) > limit:
                    raise UnreadableDocument(f"the file unpacks to over {limit:,} bytes; refused")
        except EOFError as exc:
            raise UnreadableDocument("the gzip file is cut short") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            if not out:
                raise UnreadableDocument(f"the file is not a readable gzip file: {exc}") from exc
    return bytes(out)


_GUNZIP_CHUNK = 1 << 20


#: A file still changing after this many reads is refused.
_READ_ATTEMPTS = 3


def verified_original(document: Document, max_bytes: int) -> bytes:
    """The bytes of a document's file, only while they are exactly the bytes it was
    indexed from.

    Raises:
        UnreadableDocument: the file is gone, unreadable, or changed since it was indexed.
    """
    data, _ = read_regular_file(Path(document.path), max(max_bytes, document.size))
    if hashlib.sha256(data).hexdigest() != document.sha256:
        raise UnreadableDocument("the file has changed since it was indexed; index it again to open it")
    return data


def read_regular_file(
    path: Path, max_bytes: int, read: Callable[[int, int], bytes] = os.read
) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file, read whole and unchanged while read.

    The file is opened without blocking and checked through its open descriptor,
    so a FIFO, socket or device is refused before any read (never hangs), and
    at most ``max_bytes`` + 1 bytes are read whatever size the file claims. A
    file whose size or modification time changes while it is read (someone is
    writing it) is read again, and refused if it keeps changing.

    Args:
        path: the file.
        max_bytes: the most bytes to read.
        read: ``os.read``, or a stand-in that tests use to change the file mid-read.

    Raises:
        UnreadableDocument: not a regular file, too large, unreadable, or changing.
    """
    for _ in range(_READ_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise UnreadableDocument(f"cannot read file: {exc.strerror or exc}") from exc
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise UnreadableDocument("not a regular file (a device, pipe or socket); refused unread")
            if before.st_size > max_bytes:
                raise UnreadableDocument(f"file is {before.st_size:,} bytes, over the {max_bytes:,}-byte limit")
            chunks, size = [], 0
            while chunk := read(fd, min(1 << 20, max_bytes + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise UnreadableDocument(f"file is over the {max_bytes:,}-byte limit")
            after = os.fstat(fd)
        except OSError as exc:
            raise UnreadableDocument(f"cannot read file: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and size == after.st_size:
            return b"".join(chunks), after
    raise UnreadableDocument("the file kept changing while it was read (is it still being written?); try again")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decode_text(data: bytes, stray_controls: bool = False) -> str:
    """Decode bytes of unknown encoding the way a careful reader would.

    BOMs are honoured and dropped, UTF-8 is tried strictly, then the most likely
    legacy encoding; text that still looks binary is refused. Newlines are
    translated as ``open()`` does, so offsets match ``open(path).read()``.
    With ``stray_controls`` (markup, whose text is rebuilt), a few control characters
    (at most one per ``_STRAY_CONTROL_BYTES`` bytes: a DEL in an example, NULs named in a
    description) are left for the reader to drop instead of refusing the file.
    """
    few = stray_controls and _at_most(_CONTROL_BYTES.finditer(data), len(data) // _STRAY_CONTROL_BYTES)
    text: str | None = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _decode(data, "utf-16")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = _decode(data, "utf-8-sig")
    elif (utf16 := _utf16_without_bom(data)) is not None:
        text = _decode(data, utf16)
    elif _CONTROL_BYTES.search(data) and not few:
        raise UnreadableDocument("the file looks binary, not text (it contains control characters)")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if _mostly_utf8(data):
                raise UnreadableDocument(
                    f"the file is UTF-8 with stray bytes of another encoding (first at byte {exc.start}); "
                    "save it as UTF-8"
                ) from exc
            text = _guess(data)
    stray = stray_controls and _at_most(_CONTROL.finditer(text), len(text) // _STRAY_CONTROL_BYTES)
    if _CONTROL.search(text) and not stray:
        raise UnreadableDocument("the file looks binary, not text (it contains control characters)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _at_most(matches, limit: int) -> bool:
    """Whether an iterator of matches holds at most ``limit`` of them (reading no further)."""
    return sum(1 for _ in itertools.islice(matches, limit + 1)) <= limit


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"the file is not valid {encoding}: {exc.reason}") from exc


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when the bytes look like UTF-16 text without a BOM:
    every other byte zero, as Latin-script text in UTF-16 is."""
    sample = data[:4096]
    if len(sample) < 8 or len(sample) % 2:
        return None
    even, odd = sample[0::2], sample[1::2]
    half = len(sample) // 2
    if odd.count(0) >= 0.6 * half and even.count(0) <= 0.05 * half:
        return "utf-16-le"
    if even.count(0) >= 0.6 * half and odd.count(0) <= 0.05 * half:
        return "utf-16-be"
    return None


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _mostly_utf8(data: bytes) -> bool:
    """Invalid UTF-8 that is nonetheless mostly well-formed UTF-8 sequences: a file
    with two encodings mixed, which no single decoding reads right."""
    sequences = _UTF8_SEQUENCE.findall(data)
    stray = sum(b >= 0x80 for b in data) - sum(len(s) for s in sequences)
    return len(sequences) >= 2 and len(sequences) >= stray


#: Encodings that read Western European text as cp1252 does.
_WESTERN = {"cp1252", "latin_1", "iso8859_15", "iso8859_1"}


def _guess(data: bytes) -> str:
    # Western text that is not UTF-8 is almost always Windows-1252 (browsers read
    # "Latin-1" as it too). Accept it when accented letters stay a minority, as in
    # real Western prose; otherwise ask a detector (Cyrillic, Greek, CJK ...), and
    # refuse when even the detector cannot recognise a language in the result.
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        letters = [ch for ch in text if ch.isalpha()]
        if letters and sum(not ch.isascii() for ch in letters) <= 0.3 * len(letters):
            return text
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise UnreadableDocument("cannot tell the file's text encoding; save it as UTF-8")
    if text is not None and _WESTERN & set(best.could_be_from_charset):
        return text
    if best.coherence < 0.2 or best.chaos > 0.1:
        raise UnreadableDocument(
            f"cannot tell the file's text encoding (it might be {best.encoding}, but the result "
            "does not read as any language); save it as UTF-8"
        )
    return _decode(data, best.encoding)


#: What a reader returns: the title it found, the text, and the layout of the text
#: (empty when the paragraphs are to be found from the text itself).
Read = tuple[str | None, str, tuple[Block, ...]]


def _read_text(data: bytes) -> Read:
    return None, decode_text(data), ()


def _read_markdown(data: bytes) -> Read:
    text = decode_text(data)
    title, layout = markdown_blocks(text)
    return title, text, _markup_only(text, layout)


def _read_rst(data: bytes) -> Read:
    text = decode_text(data)
    title, layout = rst_blocks(text)
    return title, text, _markup_only(text, layout)


def _markup_only(text: str, layout: tuple[Block, ...]) -> tuple[Block, ...]:
    """The layout of a file read as markup. With no block, the file is read as plain text
    (a Markdown page written in raw HTML still has words to quote), unless nothing but markup
    is left once comments, tags and reStructuredText's explicit markup lines are taken out
    (a page that only includes another, ".. include:: ../CHANGES.rst"): that is refused, not
    quoted as its markup."""
    if not layout and text.strip():
        visible = _EXPLICIT_MARKUP.sub(" ", _TAGS.sub(" ", _HTML_COMMENT.sub(" ", text)))
        if not any(ch.isalnum() for ch in visible):
            raise EmptyDocument("the file holds only markup (an include, a table of contents, comments): no text")
    return layout


_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_TAGS = re.compile(r"<[^<>\n]{0,2000}>")
_EXPLICIT_MARKUP = re.compile(r"^[ \t]*\.\.(?:[ \t].*)?$", re.M)  # ".. include:: x", ".. _target:", ".."


#: Deeper element nesting is refused: the HTML parser's time grows with the square of the
#: depth (100,000 nested <div>s took about a minute), and browsers stop nesting at 512.
MAX_HTML_DEPTH = 2000
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
# Elements that never nest content, or whose end tag may be left out (the parser closes them).
_FLAT_TAGS = frozenset(
    "area base br col embed hr img input link meta source track wbr p li dt dd tr td th option optgroup "
    "thead tbody tfoot colgroup rp rt caption".split()
)
#: Raw-text elements and comments: what is inside them is not markup.
_OPAQUE = re.compile(r"<(script|style|textarea)\b|<!--", re.IGNORECASE)
_OPAQUE_END = {
    "script": re.compile(r"</script", re.IGNORECASE),
    "style": re.compile(r"</style", re.IGNORECASE),
    "textarea": re.compile(r"</textarea", re.IGNORECASE),
    None: re.compile(r"-->"),
}


def _markup_spans(text: str) -> list[tuple[int, int]]:
    """The stretches of ``text`` outside scripts, styles, text areas and comments (one linear pass)."""
    spans, pos = [], 0
    while (opening := _OPAQUE.search(text, pos)) is not None:
        spans.append((pos, opening.start()))
        name = opening.group(1).lower() if opening.group(1) else None
        closing = _OPAQUE_END[name].search(text, opening.end())
        if closing is None:
            return spans
        pos = closing.end()
    spans.append((pos, len(text)))
    return spans


def _html_depth(text: str, limit: int) -> int:
    """How deep elements nest, as far as a linear scan of the tags can tell (stops past ``limit``).

    ``<div/>`` nests like ``<div>`` (HTML ignores the slash), except inside SVG and MathML.
    """
    depth = deepest = foreign = 0
    for start, end in _markup_spans(text):
        for tag in _TAG.finditer(text, start, end):
            closing, name = tag.group(1), tag.group(2).lower()
            if name in _FLAT_TAGS:
                continue
            if closing:
                depth = max(depth - 1, 0)
                if name in ("svg", "math"):
                    foreign = max(foreign - 1, 0)
                continue
            if name in ("svg", "math") or foreign:
                stop = text.find(">", tag.end(), end)
                if stop > 0 and text[stop - 1] == "/":  # self-closing, as in foreign content
                    continue
                foreign += name in ("svg", "math")
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
    return deepest


def _read_html(data: bytes) -> Read:
    from selectolax.lexbor import LexborHTMLParser

    text = decode_text(data, stray_controls=True)
    if (depth := _html_depth(text, MAX_HTML_DEPTH)) > MAX_HTML_DEPTH:
        raise UnreadableDocument(f"elements nest over {MAX_HTML_DEPTH:,} levels deep (at least {depth:,}); refused")
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    title = title_node.text() if title_node is not None else None
    body, layout = read_html_blocks(main_content(tree))
    if not (title or "").strip():
        # No <title>: its first <h1>, else what the page marks as its title (Doxygen's
        # <div class="title">), else its top heading; not its first line ("Public Member Functions | …").
        headings = [(level, body[start:end]) for start, end, kind, level in layout if kind == "heading"]
        top = min(headings, key=lambda heading: heading[0]) if headings else None
        marked = next((inline_text(node) for node in tree.css(".title") if not in_furniture(node)), "")
        title = top[1] if top and (top[0] == 1 or not marked) else marked or None
    return _CONTROL.sub(" ", title) if title else title, _CONTROL.sub(" ", body), layout


def _read_pdf(data: bytes) -> Read:
    # pdfium (Chrome's PDF engine) extracts words and reading order as a viewer shows
    # them, ten times faster than pypdf on real manuals (benchmarks/realdocs.py).
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = "the PDF is encrypted" if "password" in str(exc).lower() else f"the PDF cannot be parsed: {exc}"
        raise UnreadableDocument(reason) from exc
    try:
        if len(document) > MAX_PDF_PAGES:
            raise UnreadableDocument(f"the PDF has {len(document)} pages, over the {MAX_PDF_PAGES} limit")
        title = (document.get_metadata_dict().get("Title") or "").strip() or None
        # Pages that share their content stream and resources show the same text: extract it
        # once (a 318 KB file of 1,999 pages sharing one heavy stream took minutes page by page).
        keys = _page_keys(data, len(document))
        extracted: dict[tuple, str] = {}
        pages: list[str] = []
        total = 0
        for number in range(len(document)):
            key = keys[number]
            if key is not None and key in extracted:
                text = extracted[key]
            else:
                page = document[number]
                textpage = page.get_textpage()
                # pdfium marks a word it sees broken at a line end with \x02: a soft hyphen
                # for pdf_blocks, which decides whether the word keeps its hyphen.
                raw = _page_text(textpage).replace("\x02", "\u00ad")
                text = _C1_CONTROL.sub(" ", _CONTROL.sub(" ", raw))
                textpage.close()
                page.close()
                if key is not None:
                    extracted[key] = text
            pages.append(text)
            total += len(text)
            if total > MAX_PDF_TEXT_CHARS:
                raise UnreadableDocument(
                    f"the PDF's text comes to over {MAX_PDF_TEXT_CHARS:,} characters by page {len(pages)}; refused"
                )
    except pdfium.PdfiumError as exc:
        raise UnreadableDocument(f"the PDF cannot be parsed: {exc}") from exc
    finally:
        document.close()
    if pages and not any(page.strip() for page in pages):
        raise EmptyDocument(
            f"the PDF's {len(pages)} page(s) hold no text (scanned images?): it needs OCR before it can be read"
        )
    body, layout = pdf_blocks(pages)
    return title, body, layout


#: Digits right after a word of three letters or more, or after its punctuation, and before a
#: space or a line end: where a footnote's mark sits ("models.1 Model", "the CSV format1").
_MARK_PLACE = re.compile(r"(?<=[^\W\d_]{3})([.,;:)’”]?)(\d{1,2})(?=\s|$)")
#: A line opening with digits and then its text: where a footnote may begin ("¹The GNU …").
_NOTE_OPENS = re.compile(r"(?m)^[ \t]*(\d{1,2})[ \t]*(?=[^\d\s])")


#: What pdfium writes for a word broken at a line end (see ``_read_pdf``).
_SOFT_HYPHEN_MARKS = ("\x02", "\ufffe", "\u00ad")


def _page_text(textpage) -> str:
    """A page's text as a viewer shows it: without footnote marks, and with a space wherever
    two words stand apart on the line but the PDF set no space between them."""
    text, glyphs = textpage.get_text_bounded(), textpage.get_text_range()
    gaps = _word_gaps(textpage, text, glyphs)
    text, removed = _drop_footnote_marks(textpage, text, glyphs)
    if not gaps:
        return text
    # The gaps are offsets into the text before the marks were taken out: move them back.
    shift = [0, *itertools.accumulate(b - a for a, b in removed)]
    starts = [a for a, _ in removed]
    pieces, last = [], 0
    for at in gaps:
        k = bisect.bisect_right(starts, at)
        if k and at < removed[k - 1][1]:
            continue  # inside a dropped mark
        at -= shift[k]
        pieces.append(text[last:at])
        last = at
    pieces.append(text[last:])
    return " ".join(pieces)


#: Two glyphs of one line whose advance boxes stand at least this far apart (in heights of
#: the glyph's box, about an em) are two words: a space's width is about a quarter of an em,
#: kerning a few hundredths. groff sets the spaces of justified lines as moves, and pdfium
#: writes no space for some of them ("as theyare executed").
_WORD_GAP = 0.12


def _word_gaps(textpage, text: str, glyphs: str) -> list[int]:
    """Offsets in ``text`` (the page's bounded text) before which a space is missing: the
    glyph there starts a word's gap after the glyph before it, on the same line, with
    no space between. Measured on each glyph's advance box (its loose box), so that narrow
    letters of a monospaced font ("il") stand no farther apart than any others. ``glyphs``:
    the page's text in glyph order (``get_text_range``)."""
    at = _offsets(glyphs, text)
    if at is None:
        return []
    import pypdfium2.raw as pdfium_c

    raw, box = textpage.raw, pdfium_c.FS_RECTF()
    gaps: list[int] = []
    line: list[int] = []  # the gaps of the line being read
    pairs = 0  # how many glyphs of the line follow another of its word
    right = bottom = height = None
    for i, ch in enumerate(glyphs):
        if ch in "\r\n":
            # A line whose letters mostly stand apart is set with tracking ("C H A P T E R"), not
            # words without spaces: it keeps its text.
            gaps.extend(line if len(line) * 2 < pairs else ())
            line, pairs = [], 0
        if ch.isspace():
            right = None
            continue
        if ch in _SOFT_HYPHEN_MARKS or not pdfium_c.FPDFText_GetLooseCharBox(raw, i, box):
            continue
        if right is not None and 0 < height and abs(box.bottom - bottom) < 0.2 * height:
            pairs += 1
            if _WORD_GAP * height < box.left - right < 5 * height and at[i] >= 0:
                line.append(at[i])
        right, bottom, height = box.right, box.bottom, box.top - box.bottom
    gaps.extend(line if len(line) * 2 < pairs else ())
    return gaps


def _offsets(glyphs: str, text: str) -> list[int] | None:
    """For each character of ``glyphs`` (pdfium's text in glyph order), its offset in ``text``
    (the bounded text, which may lack a line break that ``glyphs`` has), or -1 for one
    ``text`` lacks; ``None`` when the two differ otherwise."""
    at, j = [], 0
    for ch in glyphs:
        if j < len(text) and (text[j] == ch or (text[j] in _SOFT_HYPHEN_MARKS and ch in _SOFT_HYPHEN_MARKS)):
            at.append(j)
            j += 1
        elif ch.isspace():
            at.append(-1)
        else:
            return None
    return at if j == len(text) else None


def _drop_footnote_marks(textpage, text: str, chars: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` (the page's bounded text) without its footnote marks. A mark is digits set
    smaller than the word before them and raised above its baseline, whose footnote
    follows on the page: a line opening with the same digits, set small too ("¹The GNU
    MathProg language is a subset of AMPL"). Left in, a mark glues to the word
    ("Australia1") and is quoted as part of it. Digits set as text (command1, log10),
    lowered ones (H2O) and raised ones with no footnote (sin² x, metres²) stay.

    Fonts are read per character index, which ``get_text_range`` follows (``text`` may lack
    a line break that it has): the two texts' candidate marks are paired in order, and a
    page whose candidates differ keeps its text as it is.

    Returns:
        The text, and the ``(start, end)`` spans taken out of it, in order.
    """
    here = list(_MARK_PLACE.finditer(text))
    if not here:
        return text, []
    there = list(_MARK_PLACE.finditer(chars))
    if len(chars) != textpage.count_chars() or [m.group(0) for m in here] != [m.group(0) for m in there]:
        return text, []
    import pypdfium2.raw as pdfium_c

    def size(i: int) -> float:
        return pdfium_c.FPDFText_GetFontSize(textpage.raw, i)

    def small(i: int, than: int) -> bool:
        return 0 < size(i) < 0.85 * size(than)

    def raised(mark: re.Match) -> bool:
        letter = mark.start(2) - 1 - len(mark.group(1))  # the word's last letter, on the baseline
        bottom, height = textpage.get_charbox(letter)[1], size(letter)
        return all(
            small(i, letter) and textpage.get_charbox(i)[1] > bottom + 0.15 * height for i in range(*mark.span(2))
        )

    # The last line of the page that each footnote number opens, set small (read once per page).
    last_note: dict[str, int] = {}
    for line in _NOTE_OPENS.finditer(chars):
        if small(line.start(1), line.end(0)):
            last_note[line.group(1)] = line.start(1)
    kept, end, removed = [], len(text), []
    for mark, at in reversed(list(zip(here, there, strict=True))):
        if last_note.get(at.group(2), -1) > at.end(2) and raised(at):
            kept.append(text[mark.end(2) : end])
            end = mark.start(2)
            removed.append(mark.span(2))
    kept.append(text[:end])
    return "".join(reversed(kept)), removed[::-1]


def _page_keys(data: bytes, count: int) -> list[tuple | None]:
    """Each page's :func:`_page_key`, read with pypdf from the file's structure (no text is
    extracted); all ``None`` when pypdf cannot read the structure."""
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")
        keys = [_page_key(page) for page in reader.pages]
    except Exception:  # noqa: BLE001 - any failure only means "extract every page"
        return [None] * count
    return keys if len(keys) == count else [None] * count


def _page_key(page) -> tuple | None:
    """What a page's text depends on, by object reference: its content streams and resources
    (``None`` when either is not a plain reference, so the page is extracted on its own)."""
    from pypdf.generic import ArrayObject, IndirectObject

    def ref(value) -> tuple[int, int] | None:
        return (value.idnum, value.generation) if isinstance(value, IndirectObject) else None

    def raw(key: str):  # the value as written (a reference), looked up the page tree like /Resources
        node = page
        for _ in range(64):
            if node is None:
                return None
            if key in node:
                return node.raw_get(key)
            node = node.get("/Parent")
        return None

    contents, resources = raw("/Contents"), raw("/Resources")
    if isinstance(contents, ArrayObject):
        streams = tuple(ref(item) for item in contents)
    else:
        streams = (ref(contents),)
    if not streams or None in streams or ref(resources) is None:
        return None
    return (streams, ref(resources))


_DOCX_HEADING = re.compile(r"^(?:heading|überschrift|titre|título|titolo)\s*(\d)$", re.IGNORECASE)
_DOCX_CODE_STYLES = ("code", "source code", "html preformatted", "preformatted text", "plain text", "macro text")


def _read_docx(data: bytes) -> Read:
    import zipfile

    import docx
    from docx.table import Table

    try:
        _check_zip(data)
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, OSError) as exc:
        raise UnreadableDocument(f"the DOCX cannot be parsed: {exc}") from exc
    title = document.core_properties.title or None
    first_heading: tuple[str, int] | None = None  # its text, and 0 if styled as the title
    styled: str | None = None
    out = Blocks()
    style_names: dict[str | None, str] = {}
    notes = _docx_footnotes(document)
    numbering = _Numbering(document)
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            _docx_table(block, out)
            _add_notes(block._tbl, notes, out)
            continue
        heading = _read_docx_paragraph(block, style_names, out, numbering)
        if heading:
            first_heading = first_heading or heading
            if heading[1] == 0 and styled is None:
                styled = heading[0]
        # A footnote is read after the paragraph that calls it, where its words belong.
        _add_notes(block._p, notes, out)
    body, layout = out.result()
    # Else the paragraph styled as the title, else the first heading unless it names a section.
    if not title and first_heading is not None:
        title = styled or (None if section_heading(layout, body) else first_heading[0])
    return title, body, layout


def _read_docx_paragraph(
    block, style_names: dict[str | None, str], out: Blocks, numbering: _Numbering | None = None
) -> tuple[str, int] | None:
    """Add one paragraph's block; when it is a heading, its text and 1 (0 if styled as the title)."""
    # python-docx resolves a paragraph's style by scanning every style of the file: once
    # per style id here, not once per paragraph (100k paragraphs took minutes).
    style_id = block._p.style
    if style_id not in style_names:
        style_names[style_id] = (block.style.name if block.style is not None else "") or ""
    style = style_names[style_id].strip().lower()
    if style.startswith(("toc ", "toc heading", "table of figures")):
        return None  # a table of contents field's entries ("1 Purpose and scope 1")
    if style.startswith(_DOCX_CODE_STYLES):
        code = "\n".join(line.rstrip() for line in _CONTROL.sub(" ", block.text).split("\n")).strip("\n")
        out.add(code, "code")
        return None
    text = " ".join(_CONTROL.sub(" ", block.text).split())
    if not text:
        return None
    heading = _DOCX_HEADING.match(style)
    if style == "title" or heading:
        out.add(text, "heading", int(heading.group(1)) if heading else 1)
        return text, 1 if heading else 0
    numbered = block._p.pPr is not None and block._p.pPr.numPr is not None
    if style.startswith("list") or numbered:
        out.add(numbering.item(block, style, text) if numbering is not None else text, "item")
    else:
        out.add(text, "text")
    return None


class _Numbering:
    """The numbers and bullets of a DOCX's list items, which Word draws and its text lacks:
    "1." before the first step, "•" before a bullet, two spaces a level of nesting (the
    minutes' tasks under each person's name), counted per list as Word counts them."""

    def __init__(self, document) -> None:
        from docx.oxml.ns import qn

        #: numId -> ilvl -> (format, text with %1..%9, start)
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        self.counts: dict[str, list[int]] = {}
        self._styles: dict[str | None, tuple[str | None, int]] = {}
        try:
            root = document.part.numbering_part.element
        except NotImplementedError:  # no numbering part: python-docx cannot make the empty one it would
            return
        abstract = {a.get(qn("w:abstractNumId")): a for a in _xpath(root, "./w:abstractNum")}
        for num in _xpath(root, "./w:num"):
            ids = _xpath(num, "./w:abstractNumId/@w:val")
            definition = abstract.get(ids[0]) if ids else None
            levels: dict[int, tuple[str, str, int]] = {}
            for lvl in _xpath(definition, "./w:lvl") if definition is not None else ():
                try:
                    level, start = int(lvl.get(qn("w:ilvl"), "0")), int(_first(lvl, "./w:start/@w:val", "1"))
                except ValueError:
                    continue
                levels[level] = (
                    _first(lvl, "./w:numFmt/@w:val", "decimal"),
                    _first(lvl, "./w:lvlText/@w:val", ""),
                    start,
                )
            self.levels[num.get(qn("w:numId"))] = levels

    def item(self, block, style: str, text: str) -> str:
        """``text`` with its marker and indentation."""
        num_id, level = self._list_of(block)
        depth = level
        if digit := re.search(r"(\d)$", style):  # "List Bullet 2": the second level, in a list of its own
            depth = max(depth, int(digit.group(1)) - 1)
        marker = self._marker(num_id, level) if num_id is not None else ""
        return "  " * min(depth, 8) + (f"{marker} {text}" if marker else text)

    def _list_of(self, block) -> tuple[str | None, int]:
        """The list (numId) and level of a paragraph: its own, else its style's (or a style it
        is based on; looked up once per style, as resolving a style scans them all)."""
        if (own := _num_pr(block._p)) is not None:
            return own
        style_id = block._p.style
        if style_id not in self._styles:
            chain = (_num_pr(s.element) for s in _style_chain(block.style))
            self._styles[style_id] = next((found for found in chain if found is not None), (None, 0))
        return self._styles[style_id]

    def _marker(self, num_id: str, level: int) -> str:
        levels = self.levels.get(num_id)
        if not levels or level > 8:
            return ""
        counts = self.counts.setdefault(num_id, [0] * 9)
        counts[level] += 1
        counts[level + 1 :] = [0] * (8 - level)
        form, text, _ = levels.get(level, ("decimal", f"%{level + 1}.", 1))
        if form == "bullet":
            return "•"
        if form == "none":
            return ""

        def number(match: re.Match[str]) -> str:
            k = int(match.group(1)) - 1
            f, _, start = levels.get(k, ("decimal", "", 1))
            return _list_number(start + max(counts[k], 1) - 1 if 0 <= k < 9 else 1, f)

        return re.sub(r"%([1-9])", number, text).strip()


def _num_pr(element) -> tuple[str, int] | None:
    """The list (numId) and level an element's paragraph properties name, if any."""
    found = _xpath(element, "./w:pPr/w:numPr")
    num_id = _xpath(found[0], "./w:numId/@w:val") if found else []
    if not num_id:
        return None
    level = _xpath(found[0], "./w:ilvl/@w:val")
    return num_id[0], int(level[0]) if level and level[0].isdigit() else 0


def _first(element, path: str, default: str) -> str:
    """The first value ``path`` finds under ``element``, else ``default``."""
    return (_xpath(element, path) or [default])[0]


@functools.lru_cache(maxsize=32)
def _compiled(path: str):
    from lxml import etree

    return etree.XPath(path, namespaces=_W)


def _xpath(element, path: str) -> list:
    """``path`` (with the ``w:`` prefix) evaluated under any element, python-docx's or lxml's."""
    return _compiled(path)(element)


def _style_chain(style, limit: int = 8) -> list:
    """A paragraph style and the styles it is based on, nearest first."""
    chain = []
    while style is not None and len(chain) < limit:
        chain.append(style)
        style = style.base_style
    return chain


def _list_number(n: int, form: str) -> str:
    """``n`` as a list numbers it: 3, c, C, iii, III."""
    if form in ("lowerLetter", "upperLetter"):
        letters = ""
        while n > 0:
            n, r = divmod(n - 1, 26)
            letters = chr(ord("a") + r) + letters
        return letters.upper() if form == "upperLetter" else letters
    if form in ("lowerRoman", "upperRoman"):
        numerals = ""
        for value, digits in (
            (1000, "m"),
            (900, "cm"),
            (500, "d"),
            (400, "cd"),
            (100, "c"),
            (90, "xc"),
            (50, "l"),
            (40, "xl"),
            (10, "x"),
            (9, "ix"),
            (5, "v"),
            (4, "iv"),
            (1, "i"),
        ):
            while n >= value:
                numerals, n = numerals + digits, n - value
        return numerals.upper() if form == "upperRoman" else numerals
    return str(n)


def _add_notes(element, notes: dict[str, str], out: Blocks) -> None:
    """The footnotes that ``element`` (a paragraph or a table) calls, as blocks of text."""
    if notes:
        for number in element.xpath(".//w:footnoteReference/@w:id"):
            out.add(notes.get(number, ""), "text")


_WORD_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_W = {"w": _WORD_NS}


def _docx_footnotes(document) -> dict[str, str]:
    """The text of each footnote of a DOCX, by its id (python-docx does not read them)."""
    part = next((rel.target_part for rel in document.part.rels.values() if rel.reltype.endswith("/footnotes")), None)
    if part is None:
        return {}
    from docx.oxml import parse_xml  # python-docx's parser: no entities, its element classes
    from lxml import etree

    try:
        root = parse_xml(part.blob)
    except etree.XMLSyntaxError:
        return {}
    from docx.text.paragraph import Paragraph

    notes = {}
    for note in root.iterfind(f"{{{_WORD_NS}}}footnote"):
        # Paragraph by paragraph, as Word shows them: tabs and breaks as spaces, no field
        # codes, no deleted text.
        paragraphs = (Paragraph(p, None).text for p in note.iterfind(f"{{{_WORD_NS}}}p"))
        text = " ".join(_CONTROL.sub(" ", " ".join(paragraphs)).split())
        if text:  # the separators (ids -1 and 0) hold none
            notes[note.get(f"{{{_WORD_NS}}}id")] = text
    return notes


def _docx_table(table, out: Blocks) -> None:
    """A table row by row, cells joined by " | "; its first row is its header. A merged
    cell, which python-docx repeats in every column it spans, is read once."""
    for number, row in enumerate(table.rows):
        cells: list[str] = []
        seen: list = []  # the cells' XML elements (lxml keeps one proxy per element while referenced)
        for cell in row.cells:
            if any(cell._tc is tc for tc in seen):
                continue
            seen.append(cell._tc)
            cells.append(" ".join(_CONTROL.sub(" ", cell.text).split()))
        if any(cells):
            out.add(" | ".join(cells), "header" if number == 0 and len(table.rows) > 1 else "row")


def _check_zip(data: bytes) -> None:
    """Refuse a zip bomb from its declared sizes, before anything is decompressed.

    Python's zipfile never inflates a member past its declared size (and checks
    its CRC), so the declared sizes bound the real work.
    """
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise UnreadableDocument(f"the DOCX holds {len(members):,} files, over the {MAX_ZIP_MEMBERS:,} limit")
    total = sum(m.file_size for m in members)
    if total > MAX_UNZIPPED_BYTES:
        raise UnreadableDocument(
            f"the DOCX would unpack to {total:,} bytes, over the {MAX_UNZIPPED_BYTES:,}-byte limit (a zip bomb?)"
        )
    for m in members:
        if m.file_size > 1024 * 1024 and m.file_size > MAX_ZIP_RATIO * max(m.compress_size, 1):
            raise UnreadableDocument(
                f"{m.filename} in the DOCX is compressed {m.file_size // max(m.compress_size, 1):,} to 1, "
                f"over the {MAX_ZIP_RATIO} to 1 limit (a zip bomb?)"
            )


_READERS: dict[str, Callable[[bytes], Read]] = {
    **dict.fromkeys(TEXT_SUFFIXES, _read_text),
    **dict.fromkeys(MARKDOWN_SUFFIXES, _read_markdown),
    **dict.fromkeys(RST_SUFFIXES, _read_rst),
    **dict.fromkeys(HTML_SUFFIXES, _read_html),
    ".pdf": _read_pdf,
    ".docx": _read_docx,
}


def iter_files(path: Path, follow_links: bool = False) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Expand a file or folder (recursively) into ``(file, doc_id)`` pairs.

    A file's id is its path relative to the folder it was added from; a file
    named directly gets its own name. Hidden files and folders are skipped, and
    so are symbolic links to folders (reported as skipped). A symbolic link inside the folder whose
    target lies outside it is skipped too, unless ``follow_links``: a folder of
    documents must not smuggle in ``/etc/passwd``.

    Returns:
        The files, and the ``(file, reason)`` pairs that were skipped.
    """
    path = path.absolute()
    if not path.is_dir():
        return [(path, path.name)], []
    root = path.resolve()
    found: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in dirnames:  # os.walk does not descend into them: say so instead of nothing
            folder = Path(dirpath) / name
            if folder.is_symlink():
                reason = f"a link to the folder {folder.resolve()}; not followed (add that folder itself)"
                skipped.append((folder, reason))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = Path(dirpath) / name
            if file.is_symlink() and not follow_links:
                target = file.resolve()
                if not target.is_relative_to(root):
                    reason = f"a link to {target}, outside the folder; refused (RAG_FOLLOW_LINKS=1 allows it)"
                    skipped.append((file, reason))
                    continue
            found.append((file, file.relative_to(path).as_posix()))
    return found, skipped
