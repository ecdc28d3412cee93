"""Builders of hostile and broken files: parser bombs, broken PDFs, XXE documents."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

from tests.factories import make_docx, make_pdf, pdf_with_stream


def _deflate_zeros(size: int) -> bytes:
    """``size`` zero bytes, deflated, without ever holding them in memory."""
    packer = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush()


def nested_flate_bomb(path: Path, unpacked: int = 4 << 30, layers: int = 3) -> Path:
    """A content stream that inflates to ``unpacked`` bytes through nested FlateDecode filters."""
    data = _deflate_zeros(unpacked)
    for _ in range(layers - 1):
        data = zlib.compress(data, 9)
    filters = b"[" + b" ".join([b"/FlateDecode"] * layers) + b"]"
    return pdf_with_stream(path, b"/Length %d /Filter %s" % (len(data), filters), data)


def huge_length_pdf(path: Path) -> Path:
    """A content stream declaring a /Length of a petabyte."""
    stream = b"BT /F1 11 Tf 72 740 Td (Hello) Tj ET"
    return pdf_with_stream(path, b"/Length 1000000000000000", stream)


def encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(path.with_suffix(".plain.pdf"), ["A secret paragraph about the harbour."])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="open sesame", owner_password="owner", algorithm="RC4-128")
    with open(path, "wb") as fh:
        writer.write(fh)
    plain.unlink()
    return path


def truncated_pdf(path: Path) -> Path:
    whole = make_pdf(path, ["A paragraph that will be cut in half by a failed download."]).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def malformed_pdf(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(32, 127)) * 40 + b"\n1 0 obj << /Type /Catalog /Pages 9 0 R >>")
    return path


def docx_zip_bomb(path: Path, unpacked: int = 1 << 30) -> Path:
    """A DOCX whose document.xml declares ``unpacked`` bytes (of spaces)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        with archive.open("word/document.xml", "w", force_zip64=True) as fh:
            block = b" " * (1 << 20)
            for _ in range(unpacked >> 20):
                fh.write(block)
    path.write_bytes(buffer.getvalue())
    return path


def docx_with_entities(path: Path, doctype: str, body: str) -> Path:
    """A real DOCX whose document.xml is rewritten with ``doctype`` and a paragraph ``body``."""
    make_docx(path, "Entity test", ["PLACEHOLDER PARAGRAPH"])
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    xml = members["word/document.xml"].decode("utf-8")
    declaration, rest = xml.split("?>", 1)
    xml = declaration + "?>" + doctype + rest.replace("PLACEHOLDER PARAGRAPH", body)
    members["word/document.xml"] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
