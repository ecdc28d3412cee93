from pathlib import Path

import pytest

from rag.documents import decode_text, iter_files, load_document
from rag.errors import EmptyDocument, UnreadableDocument, UnsupportedFile

from .conftest import SEEDS
from .factories import docx_with_notes, make_docx, make_pages_pdf, make_pdf


def test_txt_text_is_the_decoded_file_content():
    path = SEEDS / "001_6ca5efe176715221.txt"
    doc = load_document(path, path.name)
    assert doc.text == path.read_text(encoding="utf-8")
    assert doc.title == "Glance at Palestinian movement Liwa Al-Quds supporting Syrian president Assad"
    assert len(doc.sha256) == 64 and doc.id == path.name


def test_title_skips_a_breadcrumb_line():
    doc = load_document(SEEDS / "002_e200820f57e197db.txt", "002")
    assert doc.title == "Iran, Syria share ‘practical approach’ in supporting Palestinians"


def test_crlf_text_matches_open_read(tmp_path: Path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"Heading\r\n\r\nFirst paragraph here.\r\nSecond line.\r\n")
    doc = load_document(path, "crlf.txt")
    assert doc.text == open(path, encoding="utf-8").read()
    assert "\r" not in doc.text


def test_title_falls_back_to_file_name(tmp_path: Path):
    path = tmp_path / "notes.md"
    path.write_text("This first line is a full sentence.\n\nAnother one.", encoding="utf-8")
    assert load_document(path, "notes.md").title == "notes"
    # A name that says only what kind of file it is takes its folder's name too.
    readme = tmp_path / "README.md"
    readme.write_text('<p align="center"><img src="logo.png" alt="Zstandard"></p>\n\nIt is fast.\n', encoding="utf-8")
    assert load_document(readme, "zstd/README.md").title == "zstd README"
    assert load_document(readme, "README.md").title == "README"
    assert load_document(path, "team/notes.md").title == "team notes"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Café déjà vu".encode("cp1252"), "Café déjà vu"),
        ("Le café “noir”".encode("cp1252"), "Le café “noir”"),
        (b"\xef\xbb\xbfWith BOM", "With BOM"),
        ("UTF-16 text".encode("utf-16"), "UTF-16 text"),
    ],
)
def test_decoding_of_common_encodings(data: bytes, expected: str):
    assert decode_text(data) == expected


def test_binary_file_is_refused(tmp_path: Path):
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    with pytest.raises(UnreadableDocument):
        load_document(path, "image.txt")


def test_empty_and_unsupported_files_are_refused(tmp_path: Path):
    (tmp_path / "blank.txt").write_text("  \n\n\t\n", encoding="utf-8")
    with pytest.raises(EmptyDocument):
        load_document(tmp_path / "blank.txt", "blank.txt")
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")
    with pytest.raises(UnsupportedFile):
        load_document(tmp_path / "sheet.xlsx", "sheet.xlsx")


def test_oversized_file_is_refused_before_reading(tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_text("word " * 1000, encoding="utf-8")
    with pytest.raises(UnreadableDocument, match="limit"):
        load_document(path, "big.txt", max_bytes=100)


def test_html_title_paragraphs_and_no_script(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>The &amp; Title</title><style>p{color:red}</style></head><body>"
        "<nav>Home | About</nav><h1>Main heading</h1><p>First <b>bold</b> paragraph.</p>"
        "<script>alert('x')</script><div>Second<br>line</div></body></html>",
        encoding="utf-8",
    )
    doc = load_document(path, "page.html")
    assert doc.title == "The & Title"
    assert doc.text == "Main heading\n\nFirst bold paragraph.\n\nSecond\n\nline"
    assert "alert" not in doc.text and "color" not in doc.text and "Home" not in doc.text


def test_pdf_metadata_title_and_text(tmp_path: Path):
    path = make_pdf(tmp_path / "report.pdf", ["Quarterly report", "Revenue grew by ten percent."], title="Q3 Report")
    doc = load_document(path, "report.pdf")
    assert doc.title == "Q3 Report"
    assert "Revenue grew by ten percent." in doc.text


def test_pdf_without_title_uses_its_first_line(tmp_path: Path):
    path = make_pdf(tmp_path / "untitled.pdf", ["Quarterly report", "Revenue grew by ten percent."])
    assert load_document(path, "untitled.pdf").title == "Quarterly report"


def test_malformed_pdf_is_refused(tmp_path: Path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    with pytest.raises(UnreadableDocument):
        load_document(path, "broken.pdf")
    # A scan (pages with no text) says so, rather than "holds no text".
    with pytest.raises(EmptyDocument, match=r"2 page\(s\) hold no text \(scanned images\?\): it needs OCR"):
        load_document(make_pages_pdf(tmp_path / "scan.pdf", [[], []]), "scan.pdf")


def test_docx_heading_becomes_title(tmp_path: Path):
    path = make_docx(tmp_path / "memo.docx", "Budget memo", ["The budget was approved on Monday.", "Second."])
    doc = load_document(path, "memo.docx")
    assert doc.title == "Budget memo"
    assert doc.text == "Budget memo\n\nThe budget was approved on Monday.\n\nSecond."


def test_folders_expand_recursively_with_relative_ids(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "top.txt").write_text("x", encoding="utf-8")
    (tmp_path / "a" / "b" / "deep.md").write_text("y", encoding="utf-8")
    (tmp_path / "a" / ".hidden.txt").write_text("z", encoding="utf-8")
    ids = [doc_id for _, doc_id in iter_files(tmp_path / "a")[0]]
    assert ids == ["top.txt", "b/deep.md"]
    assert iter_files(tmp_path / "a" / "top.txt")[0][0][1] == "top.txt"


def test_a_link_to_a_folder_is_reported_not_silently_skipped(tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "note.txt").write_text("x", encoding="utf-8")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "top.txt").write_text("y", encoding="utf-8")
    (tmp_path / "a" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    found, skipped = iter_files(tmp_path / "a")
    assert [doc_id for _, doc_id in found] == ["top.txt"]
    assert [(file.name, "not followed" in reason) for file, reason in skipped] == [("linked", True)]


def test_a_page_with_a_stray_control_character_is_read_and_a_binary_one_refused(tmp_path: Path):
    """commons-lang3's StringUtils.html holds one DEL byte in an example: a page, not a binary."""
    page = tmp_path / "StringUtils.html"
    page.write_bytes(b"<html><body><p>isBlank returns true for null.</p><pre>a\x7fb</pre>" + b"<p>x</p>" * 600)
    assert "isBlank returns true for null." in load_document(page, "StringUtils.html").text
    binary = tmp_path / "blob.html"
    binary.write_bytes(b"<html>" + bytes(range(32)) * 200 + b"</html>")
    with pytest.raises(UnreadableDocument):
        load_document(binary, "blob.html")
    note = tmp_path / "note.txt"  # plain text is quoted as it is on disk: no control characters
    note.write_bytes(b"A line.\x7f" + b" More text." * 600)
    with pytest.raises(UnreadableDocument):
        load_document(note, "note.txt")


def test_a_documentation_folders_text_without_extension_and_gzip_files_are_read(tmp_path: Path):
    """Debian's doc folders ship "README", "NEWS", "README.Debian" and "changelog.Debian.gz":
    read as plain text, as names documentation goes by (a mixed-case part of a name is no
    extension), and "notes.txt.gz" or
    "manual.pdf.gz" as what they hold; the id and the checksum are the file's own. A gzip
    file that unpacks past the size limit, one that is no gzip, a binary file without an
    extension and a compressed image are refused with what is wrong."""
    import gzip
    import hashlib

    (tmp_path / "README.Debian").write_text("Widget for Debian\n\nThe widget starts at boot.\n", encoding="utf-8")
    packed = gzip.compress(b"widget (1.2-1) unstable; urgency=medium\n\n  * Start at boot.\n")
    (tmp_path / "changelog.Debian.gz").write_bytes(packed)
    make_pdf(tmp_path / "manual.pdf", ["The widget manual explains how to start it."], title="Widget Manual")
    (tmp_path / "manual.pdf.gz").write_bytes(gzip.compress((tmp_path / "manual.pdf").read_bytes()))
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"Release notes\n\nFaster.\n") + gzip.compress(b"Smaller.\n"))

    readme = load_document(tmp_path / "README.Debian", "README.Debian")
    assert readme.title == "Widget for Debian" and "starts at boot" in readme.text
    changelog = load_document(tmp_path / "changelog.Debian.gz", "changelog.Debian.gz")
    assert (
        changelog.text.startswith("widget (1.2-1) unstable") and changelog.sha256 == hashlib.sha256(packed).hexdigest()
    )
    manual = load_document(tmp_path / "manual.pdf.gz", "manual.pdf.gz")
    assert manual.title == "Widget Manual" and "explains how to start it" in manual.text
    notes = load_document(tmp_path / "notes.txt.gz", "notes.txt.gz")
    assert notes.text == "Release notes\n\nFaster.\nSmaller.\n"  # every member of the file
    (tmp_path / "REPORT.TXT").write_text("Sales are up.", encoding="utf-8")
    assert load_document(tmp_path / "REPORT.TXT", "REPORT.TXT").text == "Sales are up."

    (tmp_path / "bomb.txt.gz").write_bytes(gzip.compress(b"a" * 200_000))
    with pytest.raises(UnreadableDocument, match="unpacks to over 100,000 bytes"):
        load_document(tmp_path / "bomb.txt.gz", "bomb.txt.gz", max_bytes=100_000)
    (tmp_path / "fake.txt.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UnreadableDocument, match="not a readable gzip file"):
        load_document(tmp_path / "fake.txt.gz", "fake.txt.gz")
    (tmp_path / "NEWS").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    with pytest.raises(UnreadableDocument, match="binary"):
        load_document(tmp_path / "NEWS", "NEWS")
    # Only names that documentation goes by are read without an extension: not a build
    # script, a program or "notes.py".
    for name in ("Makefile", "configure", "widget", "notes.py", "LOGO.PNG"):
        (tmp_path / name).write_text("all:\n\tmake widget\n", encoding="utf-8")
        with pytest.raises(UnsupportedFile):
            load_document(tmp_path / name, name)
    (tmp_path / "INSTALL.unix").write_text("Installing on Unix\n\nRun make.\n", encoding="utf-8")
    assert load_document(tmp_path / "INSTALL.unix", "INSTALL.unix").title == "Installing on Unix"
    # Many members, bytes after the last, and a file cut short.
    many = gzip.compress(b"") * 20_000 + gzip.compress(b"End.") + b"\0\0trailing"
    (tmp_path / "many.txt.gz").write_bytes(many)
    assert load_document(tmp_path / "many.txt.gz", "many.txt.gz").text == "End."
    (tmp_path / "cut.txt.gz").write_bytes(gzip.compress(b"Some text. " * 200)[:-12])
    with pytest.raises(UnreadableDocument, match="cut short"):
        load_document(tmp_path / "cut.txt.gz", "cut.txt.gz")
    (tmp_path / "logo.png.gz").write_bytes(gzip.compress(b"\x89PNG"))
    with pytest.raises(UnsupportedFile, match="'.png.gz'"):
        load_document(tmp_path / "logo.png.gz", "logo.png.gz")


def test_a_docx_reads_its_footnotes_where_they_are_called_and_not_its_table_of_contents(tmp_path: Path):
    """Word keeps footnotes in a part of their own, which python-docx does not read: they were
    lost ("When was smearing switched on?" was in one). A table of contents field's entries
    ("1 Purpose and scope 1") are no content."""
    path = docx_with_notes(
        tmp_path / "runbook.docx",
        [
            ("Leap seconds are smeared over 24 hours on all four servers.", "Smearing was switched on in Nov 2021."),
            ("Hosts never use public pool servers.", None),
        ],
        ["1 Purpose and scope\t1", "2 Reference servers\t1"],
    )
    document = load_document(path, "runbook.docx")
    assert "Purpose and scope" not in document.text
    assert document.text.index("all four servers.") < document.text.index("switched on in Nov 2021.")
    assert document.text.index("switched on in Nov 2021.") < document.text.index("public pool servers")
