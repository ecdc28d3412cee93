"""Build small real PDF and DOCX files for tests."""

from __future__ import annotations

import re
from pathlib import Path


def make_pdf(path: Path, lines: list[str], title: str | None = None) -> Path:
    """A valid one-page PDF showing ``lines`` in Helvetica, with an optional /Title."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
    for line in lines:
        ops.append(f"({escape(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    info = b"<< /Title (%s) >>" % escape(title).encode("latin-1") if title else None
    return pdf_with_stream(path, b"/Length %d" % len(stream), stream, info)


def make_pages_pdf(path: Path, pages: list[list[str]], title: str | None = None) -> Path:
    """A PDF of several pages, each showing its ``lines`` top to bottom in Helvetica at 11
    points; ``^{...}`` in a line is set smaller and raised, as a footnote mark is, and ``{+}``
    is a word gap of a quarter of an em set as character spacing after the word's last
    letter, with no space glyph, as ghostscript sets groff's justified lines; a line opening
    with ``{tracked}`` is set with its letters spaced apart (tracking, as headings are)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    def gapped(run: str) -> str:
        # The gap is character spacing after the word's last letter, in the string that holds
        # the next word's first letter; a kern cancels it after that letter.
        first, *others = run.split("{+}")
        ops, rest = [], first
        for word in others:
            pair = escape(rest[-1] + word[0])
            ops.append(f"({escape(rest[:-1])}) Tj 2.75 Tc [({pair}) 250] TJ 0 Tc")
            rest = word[1:]
        return " ".join([*ops, f"({escape(rest)}) Tj"])

    def show(line: str) -> str:
        if line.startswith("{tracked}"):  # a line set with tracking: every letter a little apart
            return f"1.8 Tc ({escape(line.removeprefix('{tracked}'))}) Tj 0 Tc T*"
        runs = re.split(r"\^\{(.*?)\}", line)  # text, raised, text, raised, ...
        ops = [
            f"/F1 7 Tf 4 Ts ({escape(run)}) Tj /F1 11 Tf 0 Ts" if i % 2 else gapped(run) for i, run in enumerate(runs)
        ]
        return " ".join(ops) + " T*"

    n = len(pages)
    font = 3 + 2 * n  # catalog, pages tree, then a page and its stream per page, then the font
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode()]
    for i, lines in enumerate(pages):
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td", *(show(line) for line in lines), "ET"]
        stream = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    trailer = b""
    if title:
        objects.append(b"<< /Title (%s) >>" % escape(title).encode("latin-1"))
        trailer = b" /Info %d 0 R" % len(objects)
    return _write_pdf(path, objects, trailer)


def pdf_with_stream(path: Path, stream_header: bytes, stream: bytes, info: bytes | None = None) -> Path:
    """A one-page PDF whose content stream has ``stream_header`` as its dictionary body
    (so tests can declare any /Length or /Filter), with an optional /Info dictionary."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< " + stream_header + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *([info] if info else []),
    ]
    return _write_pdf(path, objects, b" /Info 6 0 R" if info else b"")


def _write_pdf(path: Path, objects: list[bytes], trailer_extra: bytes = b"") -> Path:
    """Objects numbered from 1 (the catalog first), with their cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer_extra, xref)
    path.write_bytes(bytes(out))
    return path


def make_docx(path: Path, heading: str, paragraphs: list[str], title: str | None = None) -> Path:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    document.save(str(path))
    return path


def docx_with_notes(path: Path, paragraphs: list[tuple[str, str | None]], contents: list[str]) -> Path:
    """A DOCX whose table of contents field shows ``contents`` (paragraphs styled "TOC 1"),
    then a heading and ``paragraphs``, each (text, footnote or None): a footnote is called
    at the paragraph's end and its text kept in the footnotes part, as Word writes them."""
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    document.styles.add_style("TOC 1", WD_STYLE_TYPE.PARAGRAPH)
    for entry in contents:
        document.add_paragraph(entry, style="TOC 1")
    document.add_heading("Runbook", level=1)
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    notes = ['<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>']
    for number, (text, note) in enumerate(paragraphs, start=1):
        paragraph = document.add_paragraph(text)
        if note is not None:
            reference = OxmlElement("w:footnoteReference")
            reference.set(qn("w:id"), str(number))
            paragraph.add_run()._r.append(reference)
            run = f'<w:r><w:t xml:space="preserve"> {note}</w:t></w:r>'
            notes.append(f'<w:footnote w:id="{number}"><w:p>{run}</w:p></w:footnote>')
    header = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    blob = f'{header}<w:footnotes xmlns:w="{ns}">{"".join(notes)}</w:footnotes>'
    content_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
    part = Part(PackURI("/word/footnotes.xml"), content_type, blob.encode(), document.part.package)
    document.part.relate_to(part, RELATIONSHIP_TYPE.FOOTNOTES)
    document.save(str(path))
    return path


def shared_stream_pdf(path: Path, pages: int, lines: list[str]) -> Path:
    """A PDF of ``pages`` pages that all show one content stream (one object, many references)."""
    ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td", *(f"({line}) Tj T*" for line in lines), "ET"]
    stream = "\n".join(ops).encode("latin-1")
    kids = " ".join(f"{6 + i} 0 R" for i in range(pages)).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Font << /F1 5 0 R >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources 3 0 R >>"] * pages,
    ]
    return _write_pdf(path, objects)


#: The fields of one excerpt in the JSON answer (CLI ``--json`` and the app's ``/ask``), written
#: out rather than read from the dataclass so that a field added or dropped fails the tests.
EXCERPT_FIELDS = {
    "text",
    "source",
    "title",
    "paragraph",
    "start",
    "end",
    "score",
    "highlight",
    "near_miss",
    "also",
    "section",
    "note",
    "missing",
    "code",
}
