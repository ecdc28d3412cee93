"""Structure-aware reading: each rule on a small file shaped like the real thing
(a Sphinx page, a DOCX with a table, a PDF with running headers and hyphenation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.documents import load_document
from rag.passages import code_spans, split_passages
from rag.types import Document
from tests.factories import make_pages_pdf

# tests/data/sphinx_page.html has the shape of a page of the Sphinx 5 manual: related-links
# bars, a sidebar with the table of contents and a search box, permalink marks, a code
# block, a definition list, a list with its lead-in, and a footer.
SPHINX_PAGE = (Path(__file__).parent / "data" / "sphinx_page.html").read_text(encoding="utf-8")


def read(path: Path, name: str | None = None) -> tuple[Document, list]:
    document = load_document(path, name or path.name)
    return document, split_passages(document)


def read_written(path: Path, text: str) -> tuple[Document, list]:
    """``text`` written to ``path``, read back and split."""
    path.write_text(text, encoding="utf-8")
    return read(path)


def read_page(path: Path, page: str) -> tuple[Document, list]:
    """``page`` written to ``path``, read and split, every passage checked to be an exact slice."""
    path.write_text(page, encoding="utf-8")
    document, passages = read(path)
    assert_exact_slices(document, passages)
    return document, passages


def read_pdf(path: Path, *pages: list[str]) -> tuple[Document, list]:
    """A PDF of ``pages`` (lists of lines) read and split, every passage checked to be an exact slice."""
    document, passages = read(make_pages_pdf(path, list(pages)))
    assert_exact_slices(document, passages)
    return document, passages


def assert_exact_slices(document: Document, passages: list) -> None:
    for p in passages:
        assert document.text[p.start : p.end] == p.text
        for s, e in p.sentences:
            assert p.start <= s < e <= p.end


@pytest.fixture
def sphinx(tmp_path: Path) -> tuple[Document, list]:
    page = tmp_path / "quickstart.html"
    page.write_text(SPHINX_PAGE, encoding="utf-8")
    return read(page)


def test_sphinx_page_furniture_and_permalinks_are_not_text(sphinx):
    document, passages = sphinx
    for furniture in ("Navigation", "Quick search", "Table of Contents", "Copyright", "next", "[source]", "¶"):
        assert furniture not in document.text
    assert_exact_slices(document, passages)


def test_headings_are_section_paths_not_excerpts(sphinx):
    document, passages = sphinx
    assert all(p.text.strip() not in ("Getting Started", "Installing", "Options") for p in passages)
    install = next(p for p in passages if "pip install widget" in p.text)
    assert install.heading == "Getting Started › Installing"


def test_code_keeps_its_exact_lines_and_travels_with_its_lead_in(sphinx):
    _, passages = sphinx
    install = next(p for p in passages if "pip install widget" in p.text)
    assert "$ pip install widget\n$ widget --version" in install.text
    assert install.text.startswith("Install Widget from the package index with pip:")


def test_a_list_lead_in_travels_with_its_items(sphinx):
    _, passages = sphinx
    options = next(p for p in passages if "three settings" in p.text)
    assert "theme, the look of the site;" in options.text and "output, the folder" in options.text


def test_a_definition_term_travels_with_its_description(sphinx):
    _, passages = sphinx
    to_hsv = next(p for p in passages if "RGB coordinates to HSV" in p.text)
    to_rgb = next(p for p in passages if "HSV coordinates to RGB" in p.text)
    assert "rgb_to_hsv(r, g, b)" in to_hsv.text and "hsv_to_rgb" not in to_hsv.text
    assert "hsv_to_rgb(h, s, v)" in to_rgb.text and to_hsv is not to_rgb


_API_PAGE = """<html><head><title>Application API</title></head><body><main><h1>Application API</h1>
<dl class="py method"><dt class="sig">Sphinx.connect(event, callback, priority=500)</dt>
<dd><p>Register callback to be called when event is emitted.</p>
<dl class="field-list"><dt class="field-odd">Parameters:</dt><dd><ul>
<li><p>event – The name of the target event</p></li>
<li><p>priority – The priority of the callback, in ascending order.</p></li></ul></dd>
<dt class="field-even">Returns:</dt><dd><p>A listener ID.</p></dd></dl>
<pre>app.connect("build-finished", on_done)</pre>
<p>Changed in version 3.0: Support priority</p></dd>
<dt class="sig">Sphinx.disconnect(listener_id)</dt><dd><p>Unregister callback by listener_id.</p>
<dl class="field-list"><dt>Parameters:</dt><dd><p>listener_id – A listener_id that connect() returns</p></dd></dl></dd>
<dt class="sig">Sphinx.add_node(node, **kwargs)</dt><dd><p>Register a Docutils node class.</p>
<dl class="field-list"><dt>Parameters:</dt><dd><ul>LONG</ul></dd></dl></dd>
<dt>Sphinx.emit(event)</dt><dd><p>Emit the event. EMITNOTE</p><table><tr><th>event</th><th>emitted</th></tr>
<tr><td>build-finished</td><td>when the build ends</td></tr></table></dd>
</dl><p>Events are emitted in the order they were connected, and a callback that raises an exception
stops the build with that exception's message. EVENTSNOTE</p>
<dl><dd>A description with no term of its own, long enough to be a passage by itself in this page, and
longer than a scrap.</dd></dl>
<h2>Nested</h2><dl><dt>one</dt><dd><dl><dt>two</dt><dd><dl><dt>three</dt><dd><p>FILLER</p><dl><dt>four</dt><dd><p>DEEP</p>
</dd></dl></dd></dl></dd></dl></dd></dl></main></body></html>"""


def test_a_definition_keeps_what_its_description_holds_and_its_later_pieces_name_it(tmp_path: Path):
    """An API entry is one passage with its "Parameters:" list, code and notes (each of those
    read alone was a passage that named no function); a description too long for one
    passage has its later pieces cited under the entry's name."""
    items = "".join(
        f"<li><p>visitor{i} – The visit function of output format number {i}, a pair.</p></li>" for i in range(40)
    )
    page = tmp_path / "appapi.html"
    filler = "A long note on the third level that fills the passage of its definition. " * 30
    # Long enough that what follows them could not join them by size alone.
    emit_note = "Every handler connected to the event is called with the application. " * 14
    events_note = "Handlers run one after the other, in the order of their priority. " * 5
    page.write_text(
        _API_PAGE.replace("LONG", items)
        .replace("FILLER", filler)
        .replace("EMITNOTE", emit_note)
        .replace("EVENTSNOTE", events_note),
        encoding="utf-8",
    )
    document, passages = read(page)
    assert_exact_slices(document, passages)
    connect = next(p for p in passages if "Register callback" in p.text)
    assert connect.text.startswith("Sphinx.connect(event, callback, priority=500)")
    for part in (
        "priority – The priority",
        "Returns:",
        "A listener ID.",
        'app.connect("build-finished"',
        "Support priority",
    ):
        assert part in connect.text
    assert "Unregister" not in connect.text and connect.heading == "Application API"
    disconnect = next(p for p in passages if "Unregister" in p.text)
    assert "listener_id – A listener_id" in disconnect.text and "Sphinx.add_node" not in disconnect.text
    later = [p for p in passages if "visitor39" in p.text or "visitor30" in p.text]
    assert later and all(p.heading.startswith("Application API › Sphinx.add_node(…)") for p in later)
    after = next(p for p in passages if "Events are emitted" in p.text)
    assert "Sphinx.add_node" not in after.heading
    emit = next(p for p in passages if "Emit the event." in p.text)  # a table inside a description
    assert "build-finished | when the build ends" in emit.text and emit.text.startswith("Sphinx.emit(event)")
    orphan = next(p for p in passages if "no term of its own" in p.text)
    assert orphan.heading == "Application API"  # no term lingers after its list has ended
    deep = next(p for p in passages if "DEEP" in p.text)
    assert deep.heading == "Application API › Nested › two › three"  # the innermost terms only


def test_main_content_is_read_when_the_page_marks_it(tmp_path: Path):
    page = tmp_path / "news.html"
    page.write_text(
        "<html><body><div class='masthead'>Daily Planet home</div>"
        "<article><h1>Harbour reopens</h1><p>The harbour reopened on Tuesday after repairs.</p></article>"
        "<div class='promo'>Subscribe for 1 dollar</div></body></html>"
    )
    document, passages = read(page)
    assert "Daily Planet" not in document.text and "Subscribe" not in document.text
    assert passages[0].heading == "Harbour reopens"


def test_data_table_rows_are_quotable_with_their_header(tmp_path: Path):
    page = tmp_path / "table.html"
    rows = "".join(f"<tr><td>v{i}.0</td><td>{2010 + i}</td><td>{'note ' * 30}</td></tr>" for i in range(12))
    page.write_text(
        f"<html><body><h1>Releases</h1><table><thead><tr><th>Version</th><th>Year</th><th>Notes</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>"
    )
    document, passages = read(page)
    assert "v3.0 | 2013 | note" in document.text
    later = [p for p in passages if "v11.0 | 2021" in p.text][0]
    assert later.heading == "Releases › Version | Year | Notes"  # its columns travel as context
    assert_exact_slices(document, passages)


def test_docx_headings_lists_and_a_table(tmp_path: Path):
    import docx

    d = docx.Document()
    d.add_heading("Field guide", level=1)
    d.add_heading("Equipment", level=2)
    d.add_paragraph("Pack the following before leaving:")
    d.add_paragraph("a map of the valley", style="List Bullet")
    d.add_paragraph("two litres of water", style="List Bullet")
    table = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Item", "Weight"), ("Tent", "2.1 kg"), ("Stove", "0.4 kg")]):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    path = tmp_path / "guide.docx"
    d.save(str(path))
    document, passages = read(path)
    pack = next(p for p in passages if "Pack the following" in p.text)
    assert "two litres of water" in pack.text and pack.heading == "Field guide › Equipment"
    assert "Tent | 2.1 kg" in document.text
    kinds = [kind for _, _, kind, _ in document.layout]
    assert kinds.count("heading") == 2 and "header" in kinds and kinds.count("item") == 2
    assert_exact_slices(document, passages)


def test_pdf_running_headers_page_numbers_hyphenation_and_headings(tmp_path: Path):
    topics = ["widgets", "gadgets", "sprockets", "levers"]
    pages = []
    for n, topic in enumerate(topics, start=1):
        pages.append(
            [
                "The Widget Manual",  # a running header on every page
                f"{n}.1 Configuring {topic}",
                f"The {topic} can be configured in many ways, and the configuration file is read at",
                f"start-up. Every {topic[:-1]} option has a default, so an empty file is a valid configu-",
                "ration. Options are read from top to bottom, as is well-known, and the well-",
                "known last one wins.",
                f"Chapter {n} of 4",  # a running footer, numbers aside
                str(n),  # the page number
            ]
        )
    path = make_pages_pdf(tmp_path / "manual.pdf", pages, title="The Widget Manual")
    document, passages = read(path)
    assert "The Widget Manual" not in document.text and "Chapter" not in document.text
    assert not any(p.text.strip().isdigit() for p in passages)
    assert "is a valid configuration." in document.text  # the line-end hyphen is undone
    # A line-end hyphen of a word the document also writes hyphenated elsewhere stays.
    assert "and the well-known last one wins." in document.text
    assert len(passages) == 4 and all("\n" not in p.text for p in passages)  # lines rejoined
    assert [p.heading for p in passages] == [f"{n}.1 Configuring {t}" for n, t in enumerate(topics, start=1)]
    assert_exact_slices(document, passages)


def test_pdf_contents_lines_are_not_passages(tmp_path: Path):
    contents = ["Contents", *(f"{i} Chapter number {i} . . . . . . . . . . . {10 * i}" for i in range(1, 8))]
    text = ["1 Introduction", "The introduction explains what widgets are and why they matter to everyone."]
    path = make_pages_pdf(tmp_path / "book.pdf", [contents, text])
    document, passages = read(path)
    assert "Chapter number" not in document.text
    assert passages and all(". . ." not in p.text for p in passages)


def test_furniture_shared_by_many_documents_is_dropped_whatever_its_length(tmp_path: Path):
    from rag.cleaning import shared_lines

    licence = "This page is licensed under the Widget Foundation License Version 2, see the notice for details."
    docs = []
    for i in range(3):
        page = tmp_path / f"p{i}.html"
        page.write_text(f"<html><body><h1>Page {i}</h1><p>Widget fact number {i} is unique.</p><p>{licence}</p>")
        docs.append(load_document(page, page.name))
    shared = shared_lines(d.text for d in docs)
    for d in docs:
        assert all(licence not in p.text for p in split_passages(d, shared))


def test_a_short_last_line_of_a_section_joins_the_passage_before_it(tmp_path: Path):
    page = tmp_path / "caption.html"
    body = "The harbour was rebuilt after the storm, and its northern pier now shelters the ferries. " * 5
    page.write_text(f"<html><body><h1>Harbour</h1><p>{body}</p><p>Figure 2: the pier</p><h2>Next</h2><p>{body}</p>")
    document, passages = read(page)
    assert not any(p.text == "Figure 2: the pier" for p in passages)
    assert passages[0].text.endswith("Figure 2: the pier")
    assert_exact_slices(document, passages)


def _man_page(tmp_path: Path, name: str, options: str) -> Document:
    page = tmp_path / f"{name}.html"
    page.write_text(
        f"<html><body><h1>{name}(1) Manual Page</h1><h2>NAME</h2><p>{name} - Record changes to the widget</p>"
        f"<h2>SYNOPSIS</h2><pre>{name} [-a | --all] [-q | --quiet | --silent] [-v | --verbose] &lt;file&gt;...</pre>"
        f"<h2>OPTIONS</h2><dl>{options}</dl><h2>EXAMPLES</h2><p>{name} --all records every widget of the folder.</p>"
        f"<h2>SEE ALSO</h2><p>widget-add(1), {name}-log(1)</p></body></html>"
    )
    return load_document(page, page.name)


def _lone(text: str) -> bool:
    """As benchmarks/realdocs.py counts a heading or scrap shown alone: one short line without end punctuation."""
    return "\n" not in text and len(text) < 80 and text.rstrip()[-1:] not in ".:;!?"


def test_a_man_page_has_no_scrap_passages(tmp_path: Path):
    """Shaped like Git's manual pages, three of them: terms common to every page ("-a",
    "--all") and several terms over one description stay with it; a description shared by
    every page, or repeated under another term, is kept under its own; the NAME line and
    the SEE ALSO line join a neighbour instead of standing alone, cited under the section
    holding both; a short last option does not swallow the next section."""
    from rag.cleaning import shared_lines

    same = "<dd><p>Do not print anything; the exit status tells the result.</p></dd>"
    options = (
        "<dt>-a</dt><dt>--all</dt><dd><p>Record every changed widget, not only the named ones.</p></dd>"
        f"<dt>-q</dt><dt>--quiet</dt>{same}<dt>--silent</dt>{same}"
        "<dt>-v</dt><dt>--verbose</dt><dd><p>Be verbose</p></dd>"
    )
    docs = [_man_page(tmp_path, f"widget-{n}", options) for n in ("commit", "push", "pull")]
    shared = shared_lines(d.text for d in docs)
    assert {"--all", "Do not print anything; the exit status tells the result."} <= shared  # on every page
    passages = split_passages(docs[0], shared)
    assert_exact_slices(docs[0], passages)
    texts = [p.text for p in passages]
    assert not [t for t in texts if _lone(t)], texts
    every = next(t for t in texts if "Record every changed widget" in t)
    assert every.startswith("-a\n\n--all\n\n")
    quiet, silent = (next(p for p in passages if p.text.startswith(term)) for term in ("-q", "--silent"))
    for p in (quiet, silent):  # the shared description is its definition's own, and a sentence of it
        assert "the exit status tells the result." in p.text[p.sentences[-1][0] - p.start :]
    assert texts[0].startswith("widget-commit - Record changes to the widget\n\nSYNOPSIS\n\nwidget-commit [-a")
    assert passages[0].heading == "widget-commit(1) Manual Page"  # NAME and SYNOPSIS: the page holds both
    verbose = next(p for p in passages if p.text.startswith("-v"))
    assert "EXAMPLES" not in verbose.text and verbose.heading.endswith("OPTIONS")
    see_also = next(p for p in passages if "widget-commit-log(1)" in p.text)
    assert see_also.text.startswith("widget-commit --all records every widget")  # EXAMPLES, then SEE ALSO
    assert see_also.heading == "widget-commit(1) Manual Page"


def test_short_sections_of_one_line_each_keep_their_own_labels(tmp_path: Path):
    page = tmp_path / "contact.html"
    page.write_text(
        "<html><body><h1>Harbour office</h1><p>The harbour office handles berths and fuel for visiting boats.</p>"
        "<h2>Phone</h2><p>+44 1234 567890</p><h2>Email</h2><p>office@harbour.example</p>"
        "<h2>Address</h2><p>1 Quay Street, Elin</p></body></html>"
    )
    document, passages = read(page)
    labelled = {p.text: p.heading for p in passages}
    assert labelled["+44 1234 567890"] == "Harbour office › Phone"
    assert labelled["1 Quay Street, Elin"] == "Harbour office › Address"


def test_a_lone_line_joining_a_section_with_no_parent_in_common_is_cited_under_that_section(tmp_path: Path):
    page = tmp_path / "release.html"
    body = "The widget renders a folder of notes as a website, with search and a table of contents."
    page.write_text(f"<html><body><h1>Version</h1><p>2.4.1</p><h1>Overview</h1><p>{body}</p></body></html>")
    document, passages = read(page)
    assert [(p.heading, p.text) for p in passages] == [("Overview", f"2.4.1\n\nOverview\n\n{body}")]


def test_pdf_compounds_options_and_web_addresses_split_at_a_line_end(tmp_path: Path):
    """A hyphen that belongs to the word stays ("cut-and-paste", "--with-internal-tzcode",
    "OS-dependent", "variable-length"), hyphenation goes ("configu- ration"), and a web
    address broken at a line end is joined without a space."""
    page = [
        "2 Installing",
        "The table can be copied with a cut-and-",
        "paste from the manual, and the build is configured with --with-",
        "internal-tzcode on systems whose time zone code is OS-",
        "dependent. Every variable-",
        "length field is read as text, and the configu-",
        "ration is kept. The length of a variable is fixed. Mirrors are listed at https://www.",
        "example.org/mirrors.html for everyone.",
    ]
    path = make_pages_pdf(tmp_path / "admin.pdf", [page])
    document, passages = read(path)
    for kept in ("cut-and-paste", "--with-internal-tzcode", "OS-dependent", "variable-length field"):
        assert kept in document.text, kept
    assert "configuration is kept" in document.text
    assert "https://www.example.org/mirrors.html for everyone." in document.text
    assert_exact_slices(document, passages)


def test_pdf_headings_that_ask_are_headings_and_figures_or_addresses_are_not(tmp_path: Path):
    """A FAQ's numbered question is a heading; a footnote's web address, a row of figures
    and a lone value are not; an appendix is a top-level heading."""
    pages = [
        [
            "2 R Basics",
            "This chapter answers the questions that new users ask most often about the system.",
            "2.10 What is CRAN?",
            "The Comprehensive R Archive Network is a collection of sites which carry identical material.",
            "25 https://example.org/faq.html",
            "59, 46, 58, 43)",
            "The figures above are the incomes of the sample, in thousands, as collected in the survey.",
            "K 0.7651",
            "The value above is the estimate of the rate constant that the model gives for this sample.",
            "49 \\wrongchoice{Claude Monet}",
            "The listing above, line by line, shows how a wrong choice is written in the source file.",
        ],
        [
            "Appendix A A sample session",
            "The following session introduces some features of the environment by using them directly.",
        ],
    ]
    path = make_pages_pdf(tmp_path / "faq.pdf", pages)
    document, passages = read(path)
    cran = next(p for p in passages if "Comprehensive R Archive Network" in p.text)
    assert cran.heading == "2 R Basics › 2.10 What is CRAN?"
    figures = next(p for p in passages if "incomes of the sample" in p.text)
    assert figures.heading == cran.heading  # no heading made of an address or of figures
    assert "59, 46, 58, 43)" in figures.text or "59, 46, 58, 43)" in cran.text
    value = next(p for p in passages if "rate constant" in p.text)
    assert value.heading == cran.heading
    listing = next(p for p in passages if "line by line" in p.text)
    assert listing.heading == cran.heading  # a numbered line of code is no heading
    session = next(p for p in passages if "sample session" in p.heading)
    assert session.heading == "Appendix A A sample session"
    assert_exact_slices(document, passages)


def test_a_heading_that_links_back_to_the_contents_keeps_its_text(tmp_path: Path):
    """Sphinx FAQ pages put each question heading inside a link back to the page's contents
    (``toc-backref``): the link's words are the heading; its permalink mark is not."""
    page = tmp_path / "general.html"
    page.write_text(
        "<html><body><div role='main'><section><h1><a class='toc-backref' href='#id1' role='doc-backlink'>"
        "General FAQ</a><a class='headerlink' href='#general'>¶</a></h1>"
        "<section><h2><a class='toc-backref' href='#id2' role='doc-backlink'>Why is it called Widget?</a>"
        "<a class='headerlink' href='#why'>¶</a></h2><p>Its author was reading a book about widgets.</p></section>"
        "<section><h2><a class='toc-backref' href='#id3' role='doc-backlink'>Is it free?</a></h2>"
        "<p>Yes, it is free software under a permissive licence.</p></section></section></div></body></html>",
        encoding="utf-8",
    )
    document, passages = read(page)
    why = next(p for p in passages if "reading a book" in p.text)
    free = next(p for p in passages if "permissive licence" in p.text)
    assert why.heading == "General FAQ › Why is it called Widget?"
    assert free.heading == "General FAQ › Is it free?" and why is not free
    assert "¶" not in document.text
    assert_exact_slices(document, passages)


def test_a_bar_of_links_to_the_next_previous_and_parent_pages_is_not_text(tmp_path: Path):
    """Texinfo's HTML heads every node with "Next: …, Previous: …, Up: …" (links marked rel=next,
    prev and up); a sentence with an ordinary link in it stays."""
    nav = (
        "<div class='header'><p>Next: <a href='#b' rel='next'>Parser</a>, Previous: "
        "<a href='#a' rel='prev'>Exceptions</a>, Up: <a href='#top' rel='up'>Language Definition</a> "
        "[<a href='#toc' rel='contents'>Contents</a>]</p></div>"
    )
    page = tmp_path / "lang.html"
    page.write_text(
        f"<html><body>{nav}<h2>3 Evaluation</h2><p>Arguments are evaluated lazily, when first used; "
        "see <a href='#promises'>promises</a> for how.</p></body></html>",
        encoding="utf-8",
    )
    document, passages = read(page)
    assert "Next:" not in document.text and "Previous:" not in document.text
    assert "see promises for how." in document.text
    assert_exact_slices(document, passages)


def test_a_pdfs_title_on_its_cover_stays_though_its_running_footer_opens_with_it(tmp_path: Path):
    """LibreOffice: "Font Features for Padauk" atop the first page, and the footer "Font
    Features for Padauk 5.0 17 June 2021 Page N" on every page. The footer goes; the title
    stays, and titles the document."""
    body = "The Widget font includes a number of optional features that provide alternative rendering."
    pages = [
        [*(["Font Features for Widget"] if n == 1 else []), f"{body} Page {n} says more.", *[body] * 6]
        + [f"Font Features for Widget 5.0 17 June 2021 Page {n}"]
        for n in range(1, 5)
    ]
    document, passages = read_pdf(tmp_path / "features.pdf", *pages)
    assert document.title == "Font Features for Widget"
    assert "June 2021" not in document.text


def test_pdf_chapter_headings_alike_but_for_their_number_are_not_running_headers(tmp_path: Path):
    """ "2 Installing widgets under Linux", "3 Installing widgets under Windows", … open four
    chapters: their first words recur at the top of pages, but they are headings, not a
    running header (which the real one, "Chapter N: …", is)."""
    systems = ("Linux", "Windows", "macOS", "BSD")
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()

    def body(n: int, page: int) -> list[str]:  # lines unlike those of any other page
        return [
            f"Step {words[(n * 3 + page + k) % 13]} {k} of chapter {n} is described in this line." for k in range(4)
        ]

    pages = []
    for n, system in enumerate(systems, start=2):
        pages.append([f"{n} Installing widgets under {system}", *body(n, 0), str(3 * n)])
        for page in (1, 2, 3):  # the chapter's later pages carry its running header
            pages.append([f"Chapter {n}: Installing widgets under {system} {3 * n + page}", *body(n, page)])
    path = make_pages_pdf(tmp_path / "install.pdf", pages)
    document, passages = read(path)
    assert "Chapter" not in document.text
    assert {p.heading for p in passages} == {f"{n} Installing widgets under {s}" for n, s in enumerate(systems, 2)}


def test_pdf_lines_at_a_repl_prompt_keep_their_line_breaks(tmp_path: Path):
    """R's (and many REPLs') "> " prompt marks a code line, as "$ " and ">>> " do."""
    page = [
        "3 Means by group",
        "To calculate the sample mean income for each state we can now use the function tapply():",
        "> incmeans <- tapply(incomes, statef, mean)",
        "> incmeans",
        "giving a means vector with the components labelled by the levels.",
    ]
    document, passages = read(make_pages_pdf(tmp_path / "intro.pdf", [page]))
    assert "> incmeans <- tapply(incomes, statef, mean)\n> incmeans" in document.text
    assert_exact_slices(document, passages)


def test_a_command_at_a_prompt_keeps_what_it_printed_in_one_code_piece(tmp_path: Path):
    """A code block is cut into runs of lines for its sentence vectors and highlights; in a
    session at a prompt a run ends only before a prompt line, never between a command and
    its output. A block without prompts is still cut into runs of about 200 characters."""
    listing = "\n".join(f"-rw-r--r-- 1 root root {1000 + i:6d} Oct 16 21:25 /etc/file{i}" for i in range(8))
    script = "\n".join(f"value_{i} = compute_something(argument_{i}, option_{i}=True)" for i in range(12))
    page = tmp_path / "shell.html"
    page.write_text(
        "<html><head><title>Shell</title></head><body><main><h1>Files</h1><p>List them:</p>"
        f"<pre>$ cd /etc\n$ ls -l /etc\n{listing}\n$ ls -l /etc/shadow\n"
        "-rw-r----- 1 root shadow 1695 Aug 30 /etc/shadow</pre>"
        f"<p>A script:</p><pre>{script}</pre></main></body></html>",
        encoding="utf-8",
    )
    document, passages = read(page)
    assert_exact_slices(document, passages)
    pieces = [document.text[s:e] for p in passages for s, e in p.sentences]
    listed = next(piece for piece in pieces if "/etc/file7" in piece)
    assert "$ ls -l /etc\n" in listed and "/etc/file0" in listed  # the command with all it printed
    assert "$ ls -l /etc/shadow" not in listed
    assert next(piece for piece in pieces if "root shadow" in piece).startswith("$ ls -l /etc/shadow")
    script_pieces = [piece for piece in pieces if "compute_something" in piece]
    assert len(script_pieces) >= 3 and all(len(piece) < 300 for piece in script_pieces)


def test_pdf_footnote_marks_are_not_glued_to_words(tmp_path: Path):
    """A footnote's mark (set smaller and raised) is left out of the text: quoted, it read as
    part of the word ("models.1", "format1"). Digits set as text stay (command1, log10)."""
    body = [
        "GNU MathProg is a language for describing linear programming models.^{1} Model",
        "descriptions are written in plain text files that any editor can open and change.",
        "Read tables in the CSV format^{2} with the table statement of the language.",
        "Run command1 and then log10 of the value to see the result of the computation.",
        "^{1}The GNU MathProg language is a subset of the AMPL language.",
        "^{2}Comma-separated values, one record on each line of the file.",
    ]
    # Raised digits with no footnote are not marks: an exponent stays.
    maths = ["The identity sin^{2} x + cos^{2} x = 1 holds for every real number x in the model."]
    pdf = make_pages_pdf(tmp_path / "notes.pdf", [body, maths])
    document, passages = read(pdf)
    assert_exact_slices(document, passages)
    assert "programming models. Model descriptions" in document.text
    assert "the CSV format with the table" in document.text
    assert "command1" in document.text and "log10" in document.text
    assert "models.1" not in document.text and "format2" not in document.text
    assert "sin2 x + cos2 x = 1" in document.text


RUSTDOC_PAGE = """<html><head><title>read_to_string in std::fs - Rust</title></head><body>
<main><section id="main-content" class="content"><div class="main-heading">
<h1 class="fqn"><span class="in-band">Function <a href="index.html">std::fs</a>::<a class="fn">read_to_string</a>
<button id="copy-path" title="Copy item path to clipboard">Copy item path</button></span></h1>
<span class="out-of-band"><span class="since" title="Stable since Rust version 1.26.0">1.26.0</span> ·
<a class="srclink" href="../../src/std/fs.rs.html#310-312">source</a> ·
<a id="toggle-all-docs" href="javascript:void(0)">[<span>&#x2212;</span>]</a></span>
</div>
<details class="rustdoc-toggle top-doc" open><summary class="hideme"><span>Expand description</span></summary>
<div class="docblock"><p>Read the entire contents of a file into a string.</p>
<div class="example-wrap"><pre class="rust rust-example-rendered"><code><span class="boring">#![allow(unused)]
</span><span class="boring">fn main() {
</span>let text = fs::read_to_string("address.txt")?;
<span class="boring">}
</span></code></pre><a class="test-arrow" target="_blank"
href="https://play.rust-lang.org/?code=fn%20main()%20%7B%0Alet%20x%20%3D%201%3B%0A%7D&amp;edition=2021">Run</a></div>
<p>See <a href="https://example.org/search?q=read">the search</a> for more.</p>
<p>Check every claim against the original <a href="https://example.org/a">source</a>, write to
<a href="mailto:desk@example.org?subject=Tip&amp;body=Hello%0AThere">the news desk</a>, read
<a href="https://safelinks.example.org/?url=https%3A%2F%2Fexample.org%2Freport%2F2023%2Fannual-report-of-the-widget-board-with-all-its-tables-and-figures%2F&amp;data=05%7C01%7Cdesk%40example.org%7Cabcdef0123456789abcdef0123456789%7C0%7C0%7C638000000000000000&amp;sdata=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG%3D&amp;reserved=0">the
annual report</a>: sales rose <span class="hidden sm:inline">by a third</span> last year, Chrome
<span class="sr-only">Full support</span> 42.</p>
</div></details>
<details class="rustdoc-toggle method-toggle" open><summary><section id="method.into_inner" class="method has-srclink">
<span class="rightside"><a class="srclink" href="../../src/std/sync/mutex.rs.html#423">source</a></span>
<h4 class="code-header">pub fn into_inner(self) -&gt; LockResult&lt;T&gt; <span class="where fmt-newline">where<br>
&nbsp;&nbsp;&nbsp;&nbsp;T: Sized,&nbsp;</span></h4></section></summary>
<div class="docblock"><p>Consumes this mutex, returning the underlying data.</p></div></details>
</section></main></body></html>"""


def test_a_pages_controls_and_hidden_lines_are_not_text(tmp_path: Path):
    """rustdoc and mdBook: a script's link ("[−]"), a source link, a toggle's hidden label
    ("Expand description"), the playground's "Run" (its address carries the code) and the
    lines an example hides are no text; the version they stood beside is, and so is an
    ordinary link."""
    document, passages = read_page(tmp_path / "fn.read_to_string.html", RUSTDOC_PAGE)
    text = document.text
    for control in ("Expand description", "· source", "[−]", "Run", "allow(unused)", "fn main", "Copy item path"):
        assert control not in text
    assert "1.26.0\n\n" in text and "·" not in text
    assert 'let text = fs::read_to_string("address.txt")?;' in text
    assert "See the search for more." in text
    # Links in prose are text, whatever they say or carry; so is what wider screens show.
    assert "against the original source, write to the news desk, read the annual report:" in text
    assert "sales rose by a third last year, Chrome Full support 42." in text
    # A heading broken by a line break is one heading; a section holding a source link is no furniture.
    consumes = next(p for p in passages if "Consumes this mutex" in p.text)
    assert consumes.heading.endswith("pub fn into_inner(self) -> LockResult<T> where T: Sized,")


def test_a_list_items_label_stays_with_what_the_item_says(tmp_path: Path):
    """pandoc's reference lists: an item is a label ("macaddress (scalar)") and a quoted
    description. Items are gathered into passages, and a passage never ends with a label
    whose description opens the next one."""
    description = "Device's permanent address in the form given, which the match compares. " * 5
    items = "".join(
        f"<li><p><strong>{name}</strong> (scalar)</p><blockquote><p>{description}</p></blockquote></li>"
        for name in ("name", "macaddress", "driver", "path")
    )
    document, passages = read_page(tmp_path / "netplan.html", f"<html><body><ul>{items}</ul></body></html>")
    for name in ("name", "macaddress", "driver", "path"):
        label = f"{name} (scalar)"
        holding = next(p for p in passages if label in p.text)
        assert not holding.text.endswith(label)
    assert all(len(p.text) <= 900 for p in passages)


def test_a_pages_body_is_never_furniture_and_a_scripts_link_that_names_something_is_text(tmp_path: Path):
    """Asciidoctor marks its body "article toc2 toc-left" (the table of contents sits at the
    left): the page was refused as holding no text. Erlang's reference links run a script
    ("javascript:erlhref(…)") but name functions; Haddock's "#" beside a name is a mark."""
    page = (
        '<html><body class="article toc2 toc-left"><div id="toc" class="toc2"><ul><li>Intro</li></ul></div>'
        "<div id=\"content\"><p>Creating timers using <a href=\"javascript:erlhref('../../','erts','erlang.html');\">"
        "erlang:send_after/3</a> is more efficient.</p>"
        '<p><a href="#v:cancel" class="def">cancel</a> :: Async a -&gt; IO ()'
        ' <a href="src/Control.Concurrent.Async.html#cancel" class="link">Source</a>'
        ' <a href="#v:cancel" class="selflink">#</a></p>'
        "</div></body></html>"
    )
    document, passages = read_page(tmp_path / "guide.html", page)
    assert "Creating timers using erlang:send_after/3 is more efficient." in document.text
    assert "cancel :: Async a -> IO ()" in document.text and "#" not in document.text
    assert "Source" not in document.text  # Haddock's link to the function's code
    # Operators linking to their own place are names, not marks; a prose "source" link, a
    # page's kicker before its headline, and what only dark mode styles stay as they were.
    page = (
        '<html><body><article><div class="meta"><h3>Politics</h3></div><h1>Headline</h1>'
        '<p>Compose two actions with <a href="#v:-62--62--61-">&gt;&gt;=</a>, see the'
        ' <a href="https://opensource.org/licenses/source-code">source</a> for the licence.</p>'
        '<p class="hidden dark:bg-gray-800">Never shown.</p><h2>Reactions</h2><p>They came.</p></article></body></html>'
    )
    document, passages = read_page(tmp_path / "news.html", page)
    assert "Compose two actions with >>=, see the source for the licence." in document.text
    assert "Never shown" not in document.text
    assert next(p for p in passages if "They came." in p.text).heading == "Headline › Reactions"
    assert "Intro" not in document.text


def test_a_heading_of_higher_rank_inside_an_article_is_one_of_its_parts(tmp_path: Path):
    """Erlang's reference: each function is an <article> headed by an <h4>, with its "Types"
    under an <h3> inside. The h3 had outranked every function, and all 49 passages of lists
    sat under "Types". Headings of one rank in one article stay siblings."""

    def function(name: str) -> str:
        return (
            f'<article class="func"><h4>{name}(Pred, List) -&gt; boolean()</h4><div><h3>Types</h3>'
            f"<p>Pred = fun((Elem :: T) -&gt; boolean())</p></div><p>Returns true if {name} holds.</p></article>"
        )

    page = f"<html><body><h1>lists</h1><h3>Exports</h3>{function('all')}{function('any')}"
    page += "<article><h2>First</h2><p>One thing.</p><h2>Second</h2><p>Another thing.</p></article></body></html>"
    document, passages = read_page(tmp_path / "lists.html", page)
    sections = {p.text.split("\n")[-1]: p.heading for p in passages}
    assert sections["Returns true if all holds."] == "lists › Exports › all(Pred, List) -> boolean() › Types"
    assert sections["Returns true if any holds."] == "lists › Exports › any(Pred, List) -> boolean() › Types"
    assert sections["Another thing."].endswith("Second") and "First" not in sections["Another thing."]


def test_pod_fields_with_their_values_stay_in_their_entry(tmp_path: Path):
    """pod2html writes an API entry's notes as a definition list of "label: value" terms
    ("obj: $table", "ret: no return value", "since: 2.0.00"), most with no description.
    A label that recurs across the page's entries makes them fields of the entry, read
    with it, not passages of a few words; an attribute's name and type, its own in each
    entry ("data_version: int"), stays a definition."""

    def entry(name: str) -> str:
        return (
            f"<h2>{name}</h2><p>Eliminate redundant entries in the table by {name}:</p>"
            f"<pre><code>  $table-&gt;{name}($flags);</code></pre><dl>"
            "<dt>obj: <code>$table</code> ( APR::Table object )</dt><dd><p>The table to work on.</p></dd>"
            "<dt>ret: no return value</dt><dd></dd><dt>since: 2.0.00</dt><dd></dd></dl>"
            f"<p>Converts multi-valued keys into single-valued keys when {name} is called.</p>"
        )

    attributes = (
        "<h2>Domain</h2><dl><dt>data_version: int = 0</dt><dd><p>The version of the data, bumped on changes.</p></dd>"
        "<dt>label: str</dt><dd><p>The domain's label, shown in the index.</p></dd></dl>"
    )
    page = f"<html><body>{entry('compress')}{entry('overlap')}{entry('merge')}{attributes}</body></html>"
    document, passages = read_page(tmp_path / "Table.html", page)
    compress = [p for p in passages if p.heading == "compress"]
    assert len(compress) == 1 and "since: 2.0.00" in compress[0].text and "$table->compress" in compress[0].text
    assert not any(p.text.strip() in ("since: 2.0.00", "ret: no return value") for p in passages)
    version = next(p for p in passages if "data_version" in p.text)
    assert "label: str" not in version.text  # each attribute a definition of its own
    # A FAQ written as a definition list keeps each question with its own answer.
    faq = "".join(f"<dt>Q: How do I reset part {n}?</dt><dd><p>Press the button {n} times.</p></dd>" for n in range(4))
    document, passages = read_page(tmp_path / "faq.html", f"<html><body><h1>FAQ</h1><dl>{faq}</dl></body></html>")
    assert len(passages) == 4


def test_pdf_words_set_apart_without_a_space_are_two_words(tmp_path: Path):
    """groff sets the spaces of justified lines as moves, and pdfium writes no space for some
    of them: quoted, "as theyare executed" read as one word. Two glyphs of a line a word's
    gap apart are two words; kerned letters, a raised exponent and a footnote mark on the
    same page are not split."""
    body = [
        "-x Print commands and their arguments as they{+}are executed, and the shell{+}behaves",
        "identically to sh when it is started^{1} with the name{+}sh instead of bash in a script.",
        "The identity sin^{2} x + cos^{2} x = 1 holds, and AVAVAVA keeps its kerned letters.",
        "^{1}Or with the --posix option, which changes the behaviour where the standard says so.",
    ]
    document, passages = read_pdf(tmp_path / "bash.pdf", body)
    assert "as they are executed, and the shell behaves" in document.text
    assert "started with the name sh instead" in document.text  # the mark dropped, the gap after it kept
    assert "sin2 x + cos2 x = 1" in document.text and "AVAVAVA" in document.text
    plain = read_pdf(tmp_path / "plain.pdf", [line.replace("{+}", " ") for line in body])[0]
    assert plain.text == document.text  # a gap set as a space glyph reads the same
    # A heading set with tracking keeps its words: its letters all stand apart alike.
    tracked = read_pdf(tmp_path / "tracked.pdf", ["{tracked}CHAPTER ONE", *body])[0]
    assert tracked.text.startswith("CHAPTER ONE")


# A README in the shape of pip's and zstd's docs: front matter, a MyST target, headings,
# fenced commands, a lead-in with its list, a table, and link definitions.
README_MD = """---
title: Getting Started With Widget
layout: page
---

(getting-started)=

# Getting started

To get started with Widget, you should [install Python] on your system.

[install Python]: https://example.org/python

## Upgrade a package

```console
$ widget install --upgrade sampleproject
Successfully installed sampleproject
```

## Tests

Short tests run on every commit.
They consist of the following tests:
- Compilation on all supported targets
- `tests/play.sh` on x86_64, without the long data tests
  - nested: the small tests

| Level | Speed |
|---|---|
| 1 | 510 MB/s |
| 19 | 6 MB/s |
"""


def test_markdown_keeps_code_lists_and_tables_and_loses_only_markup(tmp_path: Path):
    path = tmp_path / "README.md"
    path.write_text(README_MD, encoding="utf-8")
    document, passages = read(path)
    assert document.title == "Getting Started With Widget"  # the front matter's
    assert document.text == README_MD  # excerpts are slices of the file itself
    assert_exact_slices(document, passages)
    assert all("layout: page" not in p.text and "(getting-started)=" not in p.text for p in passages)
    upgrade = next(p for p in passages if "--upgrade" in p.text)
    assert upgrade.heading == "Getting started › Upgrade a package"  # not a heading of its own
    assert "$ widget install --upgrade sampleproject\nSuccessfully installed sampleproject" in upgrade.text
    assert upgrade.text.startswith("```console") and upgrade.text.endswith("```")
    tests = next(p for p in passages if "Compilation on all" in p.text)
    assert tests.text.startswith("Short tests run") and "nested: the small tests" in tests.text
    assert tests.heading == "Getting started › Tests"
    row = next(p for p in passages if "510 MB/s" in p.text)
    assert "| 19 | 6 MB/s |" in row.text
    # Nothing a reader sees as text is in no passage: only headings and markup are left out.
    covered = set()
    for p in passages:
        covered.update(range(p.start, p.end))
    left = "".join(ch for i, ch in enumerate(README_MD) if i not in covered)
    for word in ("Compilation", "sampleproject", "MB/s", "commit", "install Python"):
        assert word not in left.replace("[install Python]: https", "")


def test_markdown_title_is_the_first_top_heading_else_the_file_name(tmp_path: Path):
    titled = tmp_path / "a.md"
    titled.write_text("Intro line.\n\nHTTPS Certificates\n==================\n\nText here.\n", encoding="utf-8")
    assert load_document(titled, "a.md").title == "HTTPS Certificates"
    plain = tmp_path / "notes.md"
    plain.write_text("This first line is a full sentence.\n\n## Sub\n\nAnother one.", encoding="utf-8")
    assert load_document(plain, "notes.md").title == "notes"


NGINX_NOTE = """An upstream block allows you to set a list of upstream locations.

Examples of upstream blocks follow.

# Multiple backend Apache instances on separate servers
upstream apache {
\t# Adding a weight alters the chance the upstream server will be used.
\tserver apache1.domain.com weight 5;
\t# Adding 'down' keeps the upstream from being used.
\tserver apache4.domain.com down;
}

You can get there by:
  * Client
  * Browser

For a higher level overview, try: perf report --sort comm,dso
Sample related events with: perf record -e cycles
Compare performance results with: perf diff
"""


def test_plain_text_code_lists_and_short_lines_are_quotable(tmp_path: Path):
    document, passages = read_page(tmp_path / "upstream.txt", NGINX_NOTE)
    config = next(p for p in passages if "upstream apache {" in p.text)
    # A configuration block is one passage with its comments and line breaks, not headings.
    assert config.text.startswith("# Multiple backend") and config.text.endswith("}")
    assert "\tserver apache4.domain.com down;" in config.text
    assert all("Adding" not in p.heading for p in passages)
    items = next(p for p in passages if "* Client" in p.text)
    assert items.text == "You can get there by:\n  * Client\n  * Browser"
    tips = next(p for p in passages if "perf diff" in p.text)
    assert "perf report --sort comm,dso" in tips.text  # short lines in a row are not headings


def test_pdf_lines_of_example_data_are_not_numbered_headings(tmp_path: Path):
    """gnuplot's manual: "44 55 66 second line of data" had headed 1,364 passages."""
    page = [
        "Datafile",
        "Each line of a data file holds the values of one point, separated by blanks.",
        "44 55 66 second line of data",
        "1 -10 0xffaabb # integer constants",
        "Blank lines separate the blocks of a data file, as the example shows.",
        "2 Plotting styles",
        "The style of a plot is chosen with the with keyword of the plot command.",
    ]
    _, passages = read_pdf(tmp_path / "gnuplot.pdf", page)
    assert all("second line of data" not in p.heading and "integer" not in p.heading for p in passages)
    assert any("second line of data" in p.text for p in passages)
    assert passages[-1].heading.endswith("2 Plotting styles")


def test_a_docbook_note_labels_its_box_and_does_not_open_a_section(tmp_path: Path):
    """PostgreSQL's pages: 55 of pg_dump's options had been cited under "Options › Note"."""
    page = """<html><head><title>pg_dump</title></head><body><div class="refsect1"><h2>Options</h2>
    <dl><dt><span class="term">-e pattern</span></dt><dd><p>Dump only extensions matching the pattern.</p>
    <div class="note"><h3 class="title">Note</h3><p>When -e is specified, pg_dump makes no attempt to dump
    the objects the extension depends upon.</p></div></dd>
    <dt><span class="term">-E encoding</span></dt><dd><p>Create the dump in the specified character set
    encoding.</p></dd></dl>
    <div class="tip"><h3 class="title">Tip</h3><p>Use the directory format to dump in parallel.</p></div>
    <p>The options after a tip are still options of pg_dump, as the page says here.</p>
    </div></body></html>"""
    document, passages = read_page(tmp_path / "app-pgdump.html", page)
    assert all("Note" not in p.heading and "Tip" not in p.heading for p in passages), [p.heading for p in passages]
    encoding = next(p for p in passages if "character set" in p.text)
    assert encoding.heading.startswith("Options") and "-E encoding" in encoding.text
    note = next(p for p in passages if "makes no attempt" in p.text)
    assert "Note" in note.text  # the box's label is read with it
    after = next(p for p in passages if "after a tip" in p.text)
    assert after.heading == "Options"


def test_a_man_page_option_indented_by_style_travels_with_its_description(tmp_path: Path):
    """groff -Thtml writes options as paragraphs indented 11% and their descriptions 22%."""
    page = """<html><head><title>MSGFMT</title></head><body><h2>DESCRIPTION</h2>
    <p style="margin-left:11%; margin-top: 1em">Generate binary message catalog from textual translation
    description.</p>
    <p style="margin-left:11%;"><b>-o</b>, <b>--output-file</b>=<i>FILE</i></p>
    <p style="margin-left:22%;">write output to specified file</p>
    <p style="margin-left:11%;"><b>--check-format</b></p>
    <p style="margin-left:22%;">check language dependent format strings</p>
    <p style="margin-left:22%;">This is also done by --check.</p>
    <p style="margin-left:11%;"><b>-C</b>, <b>--check-compatibility</b></p>
    <p style="margin-left:22%;">check that GNU msgfmt behaves like X/Open msgfmt</p>
    </body></html>"""
    document, passages = read_page(tmp_path / "msgfmt.1.html", page)
    check = next(p for p in passages if "language dependent" in p.text)
    assert check.text == "--check-format\n\ncheck language dependent format strings\n\nThis is also done by --check."
    output = next(p for p in passages if "write output" in p.text)
    assert output.text.startswith("-o, --output-file=FILE")
    assert all("Generate binary" not in p.text or "--output-file" not in p.text for p in passages)


def test_pdf_accents_set_apart_from_their_letters_are_composed(tmp_path: Path):
    """TeX's fonts set an accent as a glyph of its own before its letter: "Br¨oker"."""
    # Bytes 0xC8 and 0xC2 are the dieresis and acute glyphs of the font's standard encoding.
    page = ["Authors", "The package was written by Thomas Br\u00c8oker and P\u00c2eter Juh\u00c2asz in Budapest."]
    document, _ = read_pdf(tmp_path / "authors.pdf", page)
    assert "Thomas Bröker and Péter Juhász" in document.text


def test_no_excerpt_ends_with_the_title_of_the_next_item(tmp_path: Path):
    """SQLite's limits page: each limit is a list item, a bold title then its text; an
    excerpt had ended with "Maximum Number Of Columns", the next limit's title."""

    def item(name: str) -> str:
        body = f"The limit on {name.lower()} is set at compile time and may be lowered at run time. " * 5
        return f"<li><p><b>Maximum Number Of {name}</b></p><p>{body}</p></li>"

    items = "".join(item(name) for name in ("Columns", "Pages", "Tables"))
    page = f"<html><head><title>Limits</title></head><body><h1>Limits</h1><ol>{items}</ol></body></html>"
    document, passages = read_page(tmp_path / "limits.html", page)
    assert not any(p.text.endswith(("Columns", "Pages", "Tables")) for p in passages), [p.text[-40:] for p in passages]
    assert any(p.text.startswith("Maximum Number Of Tables") for p in passages)


def test_a_list_of_links_to_the_page_itself_is_its_table_of_contents(tmp_path: Path):
    """SQLite's FAQ lists its questions as links to "#q1", "#q2", ... above the answers."""
    questions = ["How do I create an AUTOINCREMENT field?", "What datatypes does SQLite support?", "Is it threadsafe?"]
    contents = "".join(f'<li><a href="#q{i}">{q}</a></li>' for i, q in enumerate(questions))
    answers = "".join(f'<h2 id="q{i}">{q}</h2><p>Answer {i} is a full sentence.</p>' for i, q in enumerate(questions))
    links = '<ul><li><a href="#q0">First</a> and more words here</li><li>Second</li><li>Third</li></ul>'
    page = f"<html><head><title>FAQ</title></head><body><ol>{contents}</ol>{answers}{links}</body></html>"
    path = tmp_path / "faq.html"
    path.write_text(page, encoding="utf-8")
    document, passages = read(path)
    assert document.text.count("How do I create an AUTOINCREMENT field?") == 1
    assert "Second" in document.text  # a list that is not only links to the page stays
    assert_exact_slices(document, passages)


def test_a_short_table_of_contents_atop_a_page_of_text_is_dropped(tmp_path: Path):
    """CAD.asy's manual: "Contents", four entries with page numbers, then the first section."""
    page = [
        "The CAD package",
        "Contents",
        "1 Introduction 1",
        "2 Important rules for using this package 1",
        "3 Usage 2",
        "1 Introduction",
        "The package provides basic pen definitions and measurement functions for drawings.",
    ]
    document, passages = read_pdf(tmp_path / "cad.pdf", page)
    assert "Contents" not in document.text and "3 Usage 2" not in document.text
    assert any("basic pen definitions" in p.text for p in passages)


def test_markdown_nothing_is_left_unread(tmp_path: Path):
    """Past markdown-it's nesting limit, and for lines that look like MyST comments, the
    text is still read (review findings)."""
    deep = "".join("  " * i + f"- item {i}\n" for i in range(150))
    path = tmp_path / "deep.md"
    path.write_text(deep + "\n# Next section\n\nImportant paragraph after the list.\n\n%Y is the year.\n", "utf-8")
    document, passages = read(path)
    assert_exact_slices(document, passages)
    assert any("Important paragraph" in p.text for p in passages)
    assert any("%Y is the year." in p.text for p in passages)


def test_plain_text_clauses_ending_in_semicolons_are_prose_and_acute_apostrophes_stay(tmp_path: Path):
    from rag.passages import _code_like
    from rag.pdf_text import compose_accents

    clauses = "The licensee shall:\n(a) keep the notice;\n(b) not remove marks;\n(c) pay the fee;\nand so on.\n"
    lines, pos = [], 0
    for line in clauses.splitlines():
        lines.append((pos, pos + len(line)))
        pos += len(line) + 1
    assert not _code_like(clauses, lines)
    assert compose_accents("it\u00b4s and don\u00b4t, but caf\u00b4e") == "it\u00b4s and don\u00b4t, but café"


def test_javadoc_method_details_keep_their_name_and_fields(tmp_path: Path):
    """commons-lang3's StopWatch: each method's details under its name, with its "Since:"."""

    def method(name: str, since: str) -> str:
        return (
            f'<li><section class="detail" id="{name}()"><h3>{name}</h3>'
            f'<div class="member-signature">public static StopWatch {name}()</div>'
            f'<div class="block">Creates a stopwatch named {name} for convenience.</div>'
            f'<dl class="notes"><dt>Returns:</dt><dd>StopWatch a stopwatch.</dd>'
            f"<dt>Since:</dt><dd>{since}</dd></dl></section></li>"
        )

    page = (
        "<html><head><title>StopWatch</title></head><body><main><h1>Class StopWatch</h1>"
        '<section class="method-details"><h2>Method Details</h2><ul class="member-list">'
        f"{method('create', '3.10')}{method('createStarted', '3.5')}</ul></section></main></body></html>"
    )
    document, passages = read_page(tmp_path / "StopWatch.html", page)
    started = next(p for p in passages if "createStarted()" in p.text)
    assert started.heading == "Class StopWatch › Method Details › createStarted"
    assert started.text.endswith("Since:\n\n3.5")  # the repeated label and the short value are kept


def test_repeated_rows_and_anchored_headings_are_kept(tmp_path: Path):
    """MkDocs' CLI page: `serve` has the options `build` has; a heading whose id is "nav"."""
    rows = "".join(f"<tr><td>{o}</td><td>Option {o} of the command.</td></tr>" for o in ("-f", "-s, --strict"))
    table = f"<table><thead><tr><th>Option</th><th>Meaning</th></tr></thead><tbody>{rows}</tbody></table>"
    page = (
        "<html><head><title>CLI</title></head><body><h1>CLI</h1><h2>mkdocs build</h2>"
        f"{table}<h2>mkdocs serve</h2>{table}<h2 id='nav'>nav</h2><p>The nav setting lists the pages.</p>"
        "</body></html>"
    )
    document, passages = read_page(tmp_path / "cli.html", page)
    strict = [p for p in passages if "--strict" in p.text]
    assert {p.heading.split(" › ")[1] for p in strict} == {"mkdocs build", "mkdocs serve"}
    assert next(p for p in passages if "nav setting" in p.text).heading == "CLI › nav"


def test_a_texinfo_bar_linking_to_contents_and_index_is_navigation(tmp_path: Path):
    bar = (
        '<div class="header"><p>Next: <a href="b.html">Special arguments</a>, Previous: <a href="a.html">Defining'
        '</a>, Up: <a href="u.html">Macros</a> [<a href="index.html#SEC_Contents" rel="contents">Contents</a>]'
        '[<a href="Indices.html" rel="index">Index</a>]</p></div>'
    )
    body = f"<h3>5.2 Arguments</h3><p>Macros take arguments.</p>{bar}"
    page = f"<html><head><title>m4</title></head><body>{body}</body></html>"
    path = tmp_path / "Arguments.html"
    path.write_text(page, encoding="utf-8")
    document, _ = read(path)
    assert "Macros take arguments." in document.text and "Previous:" not in document.text


def test_doxygen_code_fragments_keep_their_lines_without_tooltips(tmp_path: Path):
    lines = ["char *key = NULL;", "struct json_object *val = NULL;", "for (;;) {", "}"]
    fragment = "".join(f'<div class="line">    {line}</div>' for line in lines)
    tooltip = '<div class="ttc" id="a1"><div class="ttname">json_object</div>'
    tooltip += '<div class="ttdef">Definition: x.h:89</div></div>'
    page = (
        "<html><head><title>json_object.h</title></head><body><h2>Macros</h2><p>Iterates over an object:</p>"
        f'<div class="fragment">{fragment}{tooltip}</div></body></html>'
    )
    document, passages = read_page(tmp_path / "json_object_8h.html", page)
    assert "    char *key = NULL;\n    struct json_object *val = NULL;\n    for (;;) {\n    }" in document.text
    assert "Definition:" not in document.text


def test_a_pdf_line_ending_in_a_comma_does_not_end_its_paragraph(tmp_path: Path):
    """find(1) set by groff: "In each case," then "the file specified is checked."."""
    page = [
        "OPTIONS",
        "The -H, -L and -P options control the treatment of symbolic links, which are read",
        "when the command line names them. Command line arguments are followed as said.",
        "In each case,",
        "the file specified on the command line is checked against the expression.",
        "The next paragraph says something else entirely, and it is long enough to be.",
    ]
    document, _ = read_pdf(tmp_path / "find.pdf", page)
    assert "In each case, the file specified on the command line is checked" in document.text


def test_a_page_without_a_title_element_is_titled_by_what_it_marks_as_its_title(tmp_path: Path):
    """jsoncpp's Doxygen pages have no <title>: not "Public Member Functions | ...", but the
    page's own title; icon-font glyphs are not text."""
    page = (
        '<html><head></head><body><div class="header"><div class="summary">Public Member Functions | '
        'Static Public Member Functions | List of all members</div><div class="title">Json::Features Class '
        "Reference</div></div><h2>Public Member Functions \uf0c1</h2><p>Features() is a constructor.</p></body></html>"
    )
    path = tmp_path / "class_json_1_1_features.html"
    path.write_text(page, encoding="utf-8")
    document, passages = read(path)
    assert document.title == "Json::Features Class Reference"
    assert "\uf0c1" not in document.text
    assert_exact_slices(document, passages)


def test_a_signature_laid_out_in_a_table_reads_as_one_line(tmp_path: Path):
    signature = (
        '<table class="memname"><tr><td class="memname">JSON_EXPORT int json_object_put</td><td>(</td>'
        '<td class="paramtype">struct json_object *</td><td class="paramname"><em>obj</em></td><td>)</td></tr></table>'
    )
    data = "<table><tr><th>Level</th><th>Speed</th></tr><tr><td>1</td><td>510 MB/s</td></tr></table>"
    body = f"<h2>json_object_put()</h2>{signature}{data}"
    page = f"<html><head><title>json_object.h</title></head><body>{body}</body></html>"
    path = tmp_path / "json__object_8h.html"
    path.write_text(page, encoding="utf-8")
    document, _ = read(path)
    assert "JSON_EXPORT int json_object_put ( struct json_object * obj )" in document.text
    assert "1 | 510 MB/s" in document.text  # a table of data is still read row by row


def test_review_cases_for_labels_fields_signatures_titles_and_lines(tmp_path: Path):
    """Findings of a review: each rule of this kind stays within its shape."""

    def page(name: str, body: str, head: str = "<title>T</title>") -> Document:
        path = tmp_path / name
        path.write_text(f"<html><head>{head}</head><body>{body}</body></html>", encoding="utf-8")
        document, passages = read(path)
        assert_exact_slices(document, passages)
        return document, passages

    # A heading in a list item labels the item: the paragraph after the list is not under it.
    _, passages = page(
        "features.html",
        "<h1>Product</h1><h2>Features</h2><ul><li><h4>Small</h4><p>It fits in a pocket and weighs little.</p></li>"
        "</ul><p>All of these features are free of charge for everyone who registers.</p>",
    )
    assert next(p for p in passages if "free of charge" in p.text).heading == "Product › Features"
    # A glossary whose terms end in ":" keeps each term with its long description.
    entry = "A fruit that grows on trees in temperate climates and is eaten raw or cooked. " * 5
    glossary = f"<dl><dt>Apple:</dt><dd>{entry}</dd><dt>Banana:</dt><dd>{entry}</dd></dl>"
    document, passages = page("glossary.html", glossary)
    assert any(p.text.startswith("Banana:") for p in passages)
    # A table of data whose first column holds "(" is read row by row, not as a signature.
    rows = "".join(f"<tr><td>{c}</td><td>{m}</td></tr>" for c, m in (("(", "Opens a group."), (")", "Closes it.")))
    document, _ = page("regex.html", f"<table><tr><th>Char</th><th>Meaning</th></tr>{rows}</table>")
    assert "( | Opens a group." in document.text
    # A ".title" inside navigation is not the page's title; a div's own text stays text.
    lines = '<div class="line">a = 1</div><div class="line">b = 2</div>'
    document, _ = page(
        "portal.html",
        f'<nav><a class="title" href="/">ACME Portal Home</a></nav><h2>Usage</h2><div>Read this aloud. {lines}</div>',
        head="",
    )
    assert document.title == "Usage" and "Read this aloud." in document.text


def test_review_cases_for_prose_that_looks_like_navigation_and_generic_it():
    from rag.cleaning import is_furniture
    from rag.search import points_back_first

    assert not is_furniture("Up: moves the cursor up one line. Top: jumps to the first line of the file.")
    assert not points_back_first("Is it safe to delete the cache folder?")
    assert not points_back_first("Does it matter which version I install?")
    assert points_back_first("Is it still maintained?")


def test_a_changelog_is_titled_by_its_file_and_its_releases_are_sections_side_by_side(tmp_path: Path):
    """Each release is a top-level heading: the first one is no title of the whole file, and
    the others are its siblings, not its children."""
    news = tmp_path / "NEWS.md"
    news.write_text(
        "man-db 2.11.2 (8 January 2023)\n==============================\n\nFixed a crash in mandb.\n\n"
        "man-db 2.10.0 (7 February 2022)\n===============================\n\nAdded zstd support to man.\n",
        encoding="utf-8",
    )
    (tmp_path / "plain.md").write_text("## polkit 122\n\nNew rules.\n\n## polkit 121\n\nOld rules.\n", "utf-8")
    document, passages = read(news)
    assert document.title == "NEWS"
    older = next(p for p in passages if "zstd" in p.text)
    assert older.heading == "man-db 2.10.0 (7 February 2022)"
    assert read(tmp_path / "plain.md")[0].title == "plain"
    (tmp_path / "one.md").write_text("# The one title\n\nText.\n\n## A section\n\nMore.\n", "utf-8")
    assert read(tmp_path / "one.md")[0].title == "The one title"  # a single top heading still titles


def test_headings_and_titles_read_as_rendered_not_as_markdown_source(tmp_path: Path):
    document, passages = read_written(
        tmp_path / "README.md",
        "# pkgconf [![test](https://example.org/badge.svg)](https://example.org/ci)\n\n"
        "`pkgconf` configures compiler flags.\n\n## man\\_db and `--all` **flags** ##\n\nThe flags are listed.\n",
    )
    assert document.title == "pkgconf"
    assert next(p for p in passages if "listed" in p.text).heading == "pkgconf › man_db and --all flags"
    assert_exact_slices(document, passages)


def test_a_docx_without_a_title_style_is_not_titled_by_its_first_numbered_section(tmp_path: Path):
    import docx

    d = docx.Document()
    for heading, text in (("1. Purpose", "Why the policy exists."), ("2. Scope", "Who it covers.")):
        d.add_heading(heading, level=1)
        d.add_paragraph(text)
    d.save(str(tmp_path / "policy.docx"))
    assert read(tmp_path / "policy.docx")[0].title == "policy"
    d = docx.Document()
    d.add_heading("Travel Expense Policy", level=0)  # the Title style
    d.add_heading("1. Purpose", level=1)
    d.add_heading("2. Scope", level=1)
    d.save(str(tmp_path / "titled.docx"))
    assert read(tmp_path / "titled.docx")[0].title == "Travel Expense Policy"


def test_docx_list_items_keep_the_numbers_and_bullets_word_draws_and_their_nesting(tmp_path: Path):
    """Word draws "1." and "•" from the list's definition; the text lacks them. Without them
    "What is step 3?" has nothing to find, and whose tasks are whose is lost."""
    import docx

    d = docx.Document()
    d.add_paragraph("Steps to book a trip:")
    for step in ("Log in to TravelDesk.", "Choose the cheapest fare.", "Attach the invitation."):
        d.add_paragraph(step, style="List Number")
    d.add_paragraph("Actions:")
    d.add_paragraph("Tomasz Kowalski", style="List Bullet")
    d.add_paragraph("Prepare the capacity plan.", style="List Bullet 2")
    d.add_paragraph("Aiko Tanaka", style="List Bullet")
    d.add_paragraph("Write the runbook.", style="List Bullet 2")
    d.save(str(tmp_path / "minutes.docx"))
    document, passages = read(tmp_path / "minutes.docx")
    items = [document.text[s:e] for s, e, kind, _ in document.layout if kind == "item"]
    assert items == [
        "1. Log in to TravelDesk.",
        "2. Choose the cheapest fare.",
        "3. Attach the invitation.",
        "• Tomasz Kowalski",
        "  • Prepare the capacity plan.",
        "• Aiko Tanaka",
        "  • Write the runbook.",
    ]
    assert any("Steps to book a trip:\n\n1. Log in" in p.text and "3. Attach" in p.text for p in passages)
    assert_exact_slices(document, passages)


def test_a_myst_table_of_contents_is_navigation_not_content(tmp_path: Path):
    document, passages = read_written(
        tmp_path / "index.md",
        "# pip\n\npip is the package installer for Python.\n\n```{toctree}\n:hidden:\n\ngetting-started\n"
        "installation\n```\n\n```{pip-cli}\n$ pip install sampleproject\n```\n",
    )
    assert not any("getting-started" in p.text or "toctree" in p.text for p in passages)
    assert any("$ pip install sampleproject" in p.text for p in passages)  # other directives are content
    assert_exact_slices(document, passages)


def test_a_title_heading_above_sections_of_other_names_still_titles_its_file(tmp_path: Path):
    """Only headings of one kind ("man-db 2.11.2", "man-db 2.10.0"; "1. Purpose", "2. Scope")
    make the first a section: "User Guide" above "Installation" and "Usage" titles its file,
    in Markdown and in a PDF without a title in its metadata alike."""
    (tmp_path / "guide.md").write_text("# User Guide\n\nIntro.\n\n# Installation\n\nRun it.\n\n# Usage\n\nUse it.\n")
    assert read(tmp_path / "guide.md")[0].title == "User Guide"
    report = read_pdf(
        tmp_path / "report.pdf",
        [
            "Annual Report",
            "The year went well for every part of the company and its staff.",
            "Results",
            "Sales grew by a tenth over the year before, and costs fell a little.",
            "Discussion",
            "The growth came from the new markets that opened in the spring of the year.",
        ],
    )[0]
    assert report.title == "Annual Report"


def test_a_docx_with_list_styles_but_no_numbering_part_is_read_without_markers(tmp_path: Path):
    """Some writers leave out numbering.xml: python-docx cannot make the empty one it would,
    so such a file's list items are read as they are, not refused."""
    import re
    import zipfile

    import docx

    d = docx.Document()
    d.add_paragraph("Bring:")
    d.add_paragraph("a map of the valley", style="List Bullet")
    d.save(str(tmp_path / "full.docx"))
    with zipfile.ZipFile(tmp_path / "full.docx") as full, zipfile.ZipFile(tmp_path / "bare.docx", "w") as bare:
        for item in full.infolist():
            data = full.read(item.filename)
            if item.filename == "word/numbering.xml":
                continue
            if item.filename == "word/_rels/document.xml.rels":
                data = re.sub(rb"<Relationship [^>]*numbering\.xml\"/>", b"", data)
            bare.writestr(item, data)
    document, _ = read(tmp_path / "bare.docx")
    assert [document.text[s:e] for s, e, kind, _ in document.layout if kind == "item"] == ["a map of the valley"]


def test_code_blocks_are_known_as_code_in_every_format(tmp_path: Path, sphinx):
    """What is shown as code: an HTML <pre>, a Markdown fence or indented block, and in plain
    text a block of lines typed at a prompt; spans are exact and relative to the slice asked."""
    document, _ = sphinx
    assert [document.text[s:e] for s, e in code_spans(document)] == ["$ pip install widget\n$ widget --version"]
    markdown, passages = read_written(
        tmp_path / "guide.md",
        "# Guide\n\nTo install it, run:\n\n```bash\npip install widget\n```\n\nThen restart.\n\n    indented line\n",
    )
    blocks = ["```bash\npip install widget\n```", "    indented line"]
    assert [markdown.text[s:e] for s, e in code_spans(markdown)] == blocks
    passage = next(p for p in passages if "pip install" in p.text)
    inside = code_spans(markdown, passage.start, passage.end)
    assert [passage.text[s:e] for s, e in inside] == blocks
    assert "To install it" not in "".join(passage.text[s:e] for s, e in inside)
    notes = "Notes\n\nType:\n\n$ ./configure\n$ make\n$ make install\n\nDone.\n"
    plain, _ = read_written(tmp_path / "notes.txt", notes)
    assert [plain.text[s:e] for s, e in code_spans(plain)] == ["$ ./configure\n$ make\n$ make install"]
    assert code_spans(plain, 0, plain.text.index("Type:") + 5) == ()


# tests/data/guide.rst has the shape of a Sphinx project's page: a file-wide setting, a target,
# an overlined title, a comment, a toctree, a literal block after "::", a code-block with
# options, a note, a definition list, a bullet list, a rubric, a simple and a grid table, a
# doctest block and an object's description.
GUIDE_RST = (Path(__file__).parent / "data" / "guide.rst").read_text(encoding="utf-8")


def test_restructuredtext_is_read_with_its_sections_code_definitions_and_tables(tmp_path: Path):
    document, passages = read_written(tmp_path / "guide.rst", GUIDE_RST)
    assert_exact_slices(document, passages)
    assert document.title == "User Guide"
    texts = "\n".join(p.text for p in passages)
    # Markup is no text: the setting, the target, the comment, the toctree and its entries.
    for markup in (":tocdepth:", ".. _top:", "maintainers", "toctree", "install\n   usage"):
        assert markup not in texts, markup
    by_start = {p.text.split("\n")[0]: p for p in passages}
    installing = by_start["To install the package, run the installer like so::"]
    assert installing.heading == "User Guide › Installing"
    code = [document.text[s:e] for s, e in code_spans(document)]  # blocks of code one after another: one span
    assert code[0].startswith("    python -m pip install widget\n\n")  # the literal block after "::"
    checkout = ".. code-block:: shell\n   :caption: From a checkout\n\n   git clone https://example.org/widget.git\n"
    assert code[0].endswith(checkout + "   cd widget && pip install .")
    assert code[1] == ">>> import widget\n>>> widget.version()\n'2.1'"  # a doctest block
    assert "Widget needs Python" not in "".join(code)
    assert ".. note:: Widget needs Python 3.9 or later." in installing.text  # a note's words are text
    # A definition's term travels with its description, under the section it is in.
    verbose = by_start["``--verbose``"]
    assert "Print every step as it runs." in verbose.text and verbose.heading.endswith("Installing › Options")
    described = next(p for p in passages if p.text.startswith("widget.run(task, retries=3)"))  # its name
    assert "Run ``task``, trying again" in described.text
    # A rubric is a heading; a table's header and rows are one passage with their rules.
    table = next(p for p in passages if "timeout    30 seconds" in p.text)
    assert table.heading.endswith("Options › Limits")
    assert "Setting    Default" in table.text and "| Windows   | no        |" in table.text
    rows = [document.text[s:e] for s, e, kind, _ in document.layout if kind in ("header", "row")]
    assert rows[-3:] == ["Platform  | Supported", "Linux     | yes", "Windows   | no"]
    assert {kind for *_, kind, _ in document.layout} >= {"heading", "text", "code", "term", "desc", "item", "row"}


def test_restructuredtext_nested_past_the_limit_is_still_read_and_quick(tmp_path: Path):
    """Bodies nested 3,000 deep (each a note in the one before) would overflow a recursive
    reader: past ``MAX_NESTING`` they are read as text, nothing lost."""
    from rag.rst_text import MAX_NESTING

    depth = MAX_NESTING * 30
    text = "".join(" " * i + ".. note::\n\n" for i in range(depth)) + " " * depth + "The deepest words.\n"
    document, passages = read_written(tmp_path / "deep.rst", text)
    assert_exact_slices(document, passages)
    assert any("The deepest words." in p.text for p in passages)


_MALFORMED = (
    "Ports\n=====\n\n=====  =====\nName   Port\n=====  =====\nhttp   80\n======  =====\n\n"
    "Configure the firewall first.\n\n=====  =====\nUser   Role\n=====  =====\nroot   admin\n=====  =====\n"
)


@pytest.mark.parametrize(
    ("source", "kind", "expected"),
    [
        # Found by review, each checked against docutils.
        (".. rst:role:: external\n\n   Use it for external projects.\n", "desc", "Use it for external projects."),
        (".. [#n]\n   Footnote text on the next line.\n", "text", ".. [#n]\n   Footnote text on the next line."),
        (".. note::\n   :ref:`install` first, then read on.\n", "text", ":ref:`install` first, then read on."),
        ("Para.\n\n..\n\n    A block quote after an empty comment.\n", "text", "A block quote after an empty comment."),
        ("Para.\n\n--\n\nMore.\n", "text", "--"),
        ("Intro paragraph.\n\n::\n\n    literal via the expanded form\n", "code", "    literal via the expanded form"),
        ("* An item with a tab-indented literal::\n\n\tcode line one\n", "code", "\tcode line one"),
        (
            ".. note:: First line\n   goes on here.\n\n   Second para.\n",
            "text",
            ".. note:: First line\n   goes on here.",
        ),
        (".. autoclass:: Foo\n\n   Basic test of the class.\n", "text", "Basic test of the class."),
        (".. csv-table:: Frozen delights\n   :header: Treat, Price\n\n   Albatross, 2.99\n", "row", "Albatross, 2.99"),
        # A csv-table's header is its ":header:" option's value, as the page shows it.
        (".. csv-table:: Frozen delights\n   :header: Treat, Price\n\n   Albatross, 2.99\n", "header", "Treat, Price"),
        (".. csv-table::\n   :widths: 10, 20\n\n   Crunchy Frog, 1.49\n   Gannet, 1.99\n", "row", "Gannet, 1.99"),
        # A header option's value may go on below it.
        (
            '.. csv-table:: T\n   :header: "Treat", "Quantity",\n            "Description"\n'
            "   :widths: 15, 10, 30\n\n   a, 1, b\n",
            "header",
            '"Treat", "Quantity",\n            "Description"',
        ),
        # A border of another width makes a malformed table (docutils): no table swallows what follows.
        (_MALFORMED, "text", "Configure the firewall first."),
        (_MALFORMED, "header", "User   Role"),
        # Blank lines may stand between a simple table's rows: the rows after one are rows too.
        ("=====  =====\nName   Port\n=====  =====\nhttp   80\n\nhttps  443\n=====  =====\n", "row", "https  443"),
        ("=====  =====\nhttp   80\n\nhttps  443\n=====  =====\n\nAfter.\n", "row", "https  443"),
    ],
)
def test_restructuredtext_constructs_read_as_docutils_reads_them(source: str, kind: str, expected: str):
    from rag.rst_text import rst_blocks

    _, layout = rst_blocks(source)
    assert (kind, expected) in [(k, source[s:e]) for s, e, k, _ in layout]


def test_restructuredtext_markup_is_no_text():
    from rag.rst_text import rst_blocks

    source = (
        "Para (quickref__)\n\n__ quickref.html\n\n.. py:module:: spam\n\n"
        ".. csv-table:: T\n   :header: A, B\n\n   1, 2\n"
    )
    _, layout = rst_blocks(source)
    read = "\n".join(source[s:e] for s, e, *_ in layout)
    assert "quickref.html" not in read and "py:module" not in read and ":header:" not in read


def test_restructuredtext_long_lines_are_read_in_linear_time():
    """A directive's argument or a table row padded with spaces made the patterns backtrack
    quadratically (100 KB took 57 s)."""
    import time

    from rag.rst_text import rst_blocks

    pad = " " * 1_000_000
    started = time.perf_counter()
    rst_blocks(f".. note:: a{pad}b\n\n+---+\n| a{pad}b |x\n+---+\n")
    # Simple tables' borders that no border closes, each of another width, above 450,000 lines.
    rst_blocks("\n\n".join("=" + " " * k + "=" for k in range(1, 301)) + "\n\n" + "x\n" * 450_000)
    assert time.perf_counter() - started < 10  # hours before


def test_quoted_mail_and_percent_lines_are_not_shown_as_code():
    """Shaped like prompts ("> ", "% "), but no code: a brace or a shell's or Python's prompt is."""
    mail = (
        "Re: meeting\n\nOn Monday, Bob wrote:\n> We meet on Tuesday.\n> The room is booked.\n> Tell me if it works.\n"
    )
    shares = "Figures\n\n% of requests from cache rose to 80\n% of errors fell by half\n% of users saw no change\n"
    for text in (mail, shares):
        assert code_spans(Document("a.txt", "a", "a.txt", "0", text)) == ()
    c_code = "Notes\n\n#include <stdio.h>\nint x = 1;\nint y = 2;\nreturn_value(x);\n"  # no brace, but code
    assert [c_code[s:e] for s, e in code_spans(Document("c.txt", "c", "c.txt", "0", c_code))] == [c_code[7:-1]]
    commands = "Notes\n\nRun:\n$ make\n$ make install\nThen it is done, version 2.\n"
    assert [commands[s:e] for s, e in code_spans(Document("b.txt", "b", "b.txt", "0", commands))] == [
        "$ make\n$ make install"
    ]


def test_restructuredtext_settings_show_their_default_and_are_cited_by_name(tmp_path: Path):
    """Found by a new-user trial on Sphinx's and pytest's references: a setting's ":default:"
    was in no passage, and its description was cited under ".. confval:: html_theme"."""
    more = "More about themes, at length, in a second paragraph of its own. " * 30
    text = (
        "Options\n=======\n\n.. confval:: html_theme\n   :type: :code-py:`str`\n   :default: :code-py:`'alabaster'`\n\n"
        f"   The theme for HTML output.\n\n   {more}\n\n"
        ".. class:: field-indent-13em\n\n.. only:: latex\n\n   The same, set for print.\n\n"
        "Docutils_ Bugs\n==============\n\nReport them.\n"
    )
    document, passages = read_written(tmp_path / "conf.rst", text)
    assert_exact_slices(document, passages)
    setting = next(p for p in passages if p.text.startswith("html_theme\n   :type:"))  # the name, not the directive
    assert ":default: :code-py:`'alabaster'`" in setting.text and "The theme for HTML output." in setting.text
    read = "\n".join(p.text for p in passages)
    assert "field-indent-13em" not in read and "set for print" not in read  # a style; what only a PDF shows
    assert {p.heading for p in passages if "Report them" in p.text} == {"Docutils Bugs"}
    # A part of the description read away from the setting is cited under the setting's name.
    assert {p.heading for p in passages if p.text.startswith("More about themes")} == {"Options › html_theme"}


def test_a_markup_file_with_no_text_is_refused_not_read_as_plain_text(tmp_path: Path):
    from rag.errors import EmptyDocument

    for name, text in (("changes.rst", ".. include:: ../CHANGES.rst\n"), ("notes.md", "<!-- nothing yet -->\n")):
        (tmp_path / name).write_text(text, encoding="utf-8")
        with pytest.raises(EmptyDocument, match="only markup"):
            load_document(tmp_path / name, name)


def test_second_review_of_the_restructuredtext_reader(tmp_path: Path):
    """A domain's class without a body is still a term (only docutils' own "class" is a style);
    a code-block's directive line stays with code too long to join otherwise; a Markdown page
    written in raw HTML is read, not refused as markup."""
    from rag.rst_text import rst_blocks

    source = ".. py:class:: Widget(name)\n\n.. py:class:: Gadget\n   :module: tools\n"
    _, layout = rst_blocks(source)
    assert [source[s:e] for s, e, kind, _ in layout if kind == "term"][:1] == ["Widget(name)"]
    code = "".join(f"   value_{i} = compute_something_long(argument_{i})\n" for i in range(20))
    document, passages = read_written(tmp_path / "example.rst", f"Example\n=======\n\n.. code-block:: python\n\n{code}")
    assert len(code) > 900 and [p.text.split("\n")[0] for p in passages] == [".. code-block:: python"]
    html_page = (
        '<h1 align="center">Frobnicator</h1>\n<p align="center">\nFrobnicator turns widgets into gadgets.\n</p>\n'
    )
    markdown, passages = read_written(tmp_path / "README.md", html_page)
    assert any("Frobnicator turns widgets into gadgets." in p.text for p in passages)


def test_a_csv_table_is_one_passage_with_its_header_and_caption(tmp_path: Path):
    """Its ":header:" option was markup, and the options between caption, header and rows
    kept them apart (a caption alone, then the rows without the header they are under)."""
    text = (
        "Prices\n======\n\n.. csv-table:: Frozen delights\n   :header: Treat, Quantity, Description\n"
        "   :widths: 15, 10, 30\n\n   Albatross, 2.99, On a stick!\n   Crunchy Frog, 1.49, If we took the bones out\n"
    )
    document, passages = read_written(tmp_path / "prices.rst", text)
    assert_exact_slices(document, passages)
    assert len(passages) == 1
    assert passages[0].text.startswith(".. csv-table:: Frozen delights") and "Crunchy Frog, 1.49" in passages[0].text
