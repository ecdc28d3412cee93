from rag.cleaning import ends_sentence, heading_text, headline, is_furniture, looks_like_heading, shared_lines


def test_empty_form_labels_are_furniture():
    assert is_furniture("Sender's Email:")
    assert is_furniture("Receiver’s Name:  ")
    assert not is_furniture("Press TV’s website can also be accessed at the following alternate addresses:")
    assert not is_furniture("Note: the meeting was postponed.")


def test_tiny_and_breadcrumb_lines_are_furniture():
    assert is_furniture("TT")
    assert is_furniture("News \xa0 / \xa0 Politics \xa0 / \xa0 Syria")
    assert is_furniture("Home › World › Middle East")
    assert not is_furniture("Iran / Syria talks resume")


def test_short_lines_shared_by_documents_are_furniture():
    texts = ["Story one.\n\nRecommend article\n", "Story two.\n\nRecommend article\n", "Other.\n"]
    shared = shared_lines(texts)
    assert shared == frozenset({"Recommend article"})
    assert is_furniture("Recommend article", shared)
    assert not is_furniture("Recommend article")  # on its own, a line is not furniture


def test_long_lines_shared_by_documents_are_not_furniture():
    disclaimer = "This article was translated and edited by The Syrian Observer and has not been verified."
    assert shared_lines([disclaimer, disclaimer]) == frozenset()


def test_headings_are_short_lines_without_end_punctuation():
    assert looks_like_heading("Liwa al-Quds Modus Operandi")
    assert looks_like_heading("Assad Calls for Expanding Iran-Led ‘Axis of Resistance’")
    assert looks_like_heading("## Installation")
    assert not looks_like_heading("The brigade was formed in 2013.")
    assert not looks_like_heading("“We are one people,” said the general.")
    assert ends_sentence("He said “no.”")


def test_headline_skips_furniture_and_refuses_prose():
    assert headline("News / Politics / Syria\n\nIran, Syria share views\n\nBody text.") == "Iran, Syria share views"
    assert headline("This is a sentence, not a headline.\n\nMore.") is None


def test_site_names_are_title_parts_many_documents_share():
    from rag.cleaning import page_title, site_names

    titles = [f"{page} — Python 3.11.2 documentation" for page in ("os — Miscellaneous interfaces", "json", "re")]
    names = site_names([*titles, "R FAQ", "Acme | Home"])
    assert names == {"Python 3.11.2 documentation"}
    assert page_title(titles[0], names) == "os — Miscellaneous interfaces"
    assert page_title("Python 3.11.2 documentation", names) == "Python 3.11.2 documentation"  # never empty
    assert page_title("R FAQ", names) == "R FAQ"


def test_a_line_atop_most_pages_of_one_folder_is_furniture_whatever_the_collection():
    """SQLite's tagline in each of its 20 pages, among 118 documents: under 20% of them, but
    every page of its folder."""
    tagline = "Small. Fast. Reliable."
    site = [f"{tagline}\nPage {i} says something of its own." for i in range(4)]
    others = [f"Another manual's page {i} with its own text." for i in range(30)]
    folders = ["sqlite"] * 4 + ["other"] * 30
    assert tagline not in shared_lines(site + others)  # 4 of 34: not many
    assert tagline in shared_lines(site + others, folders)
    # A sentence in two pages of a folder of five is no furniture.
    pages = [f"New in version 1.3.\nText {i}." if i < 2 else f"Text {i}." for i in range(5)]
    assert "New in version 1.3." not in shared_lines(pages, ["sphinx"] * 5)


def test_a_label_atop_a_commented_banner_is_not_the_headline():
    assert headline("##\n#  File:\n#    upstream\n##\n\nAn upstream block lists servers.") == "upstream"


def test_a_site_name_in_parentheses_or_in_one_folder_is_left_out_of_page_titles():
    from rag.cleaning import page_title, site_names

    flex = [f"{name} (Lexical Analysis With Flex, for Flex 2.6.4)" for name in ("Scanner Options", "Actions", "EOF")]
    others = [f"Page {i} — Another Manual" for i in range(20)]
    names = site_names(flex + others, ["flex"] * 3 + ["other"] * 20)
    assert [page_title(t, names) for t in flex] == ["Scanner Options", "Actions", "EOF"]
    assert page_title("Page 3 — Another Manual", names) == "Page 3"
    assert site_names(flex + others) == frozenset({"Another Manual"})  # 3 of 23: not without folders


def test_a_footer_that_differs_only_by_its_date_is_furniture_of_its_folder():
    pages = [f"Page {i} text.\nThis page last modified on 2017-0{i}-02 23:5{i}:23 UTC" for i in range(1, 5)]
    notes = [f"Release date: 2022-10-1{i}\nRelease {i} fixes bugs." for i in range(4)]
    shared = shared_lines(pages + notes, ["sqlite"] * 4 + ["release"] * 4)
    assert "This page last modified on 2017-03-02 23:53:23 UTC" in shared
    assert not any(line.startswith("Release") for line in shared)  # a short dated line is content


def test_clauses_that_versions_of_one_document_share_are_content():
    """The folder rule reads only a page's first and last lines: three versions of a policy
    in one folder share their clauses, which are what the documents say."""
    clauses = "\n".join(f"Clause {n}: staff may take leave of {n} days a year." for n in range(1, 6))
    versions = [f"Leave policy {year}\n{clauses}\nThis version takes effect in {year}." for year in (2022, 2023, 2024)]
    shared = shared_lines(versions + [f"Other page {i}." for i in range(20)], ["policies"] * 3 + ["misc"] * 20)
    assert not any(line.startswith("Clause") for line in shared)
    notes = [f"Notes\n\nVersion 1.{i} was released on 2022-01-1{i} with security fixes." for i in range(4)]
    assert not any(line.startswith("Version") for line in shared_lines(notes, ["release"] * 4))


def test_a_texinfo_navigation_bar_is_furniture_as_text_too():
    """Converted to DOCX or PDF, Texinfo's bars lose their links' rel: their labels remain."""
    assert is_furniture("Next: Special arguments, Previous: Defining a macro, Up: Macros   [Contents][Index]")
    assert not is_furniture("The next: field says what follows; up: names the parent.")


def test_a_headline_ends_its_sentence_and_is_no_notice_setting_or_comment_of_a_configuration():
    """A plain-text file's title: not the first line of a paragraph that goes on ("NOTE: …
    to include only" / "those sections …"), not a setting ("version: 2"), nothing in a file
    that opens with a directive ("#cloud-config"); a copyright banner is passed over. A title
    with its subtitle on the next line is still a title."""
    assert headline("NOTE: This file was modified to include only\nthose sections that apply.\n\nMore.") is None
    assert headline("version: 2\nnetwork:\n  ethernets: {}\n") is None
    assert (
        headline("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: sudo\n")
        is None
    )
    assert headline("#cloud-config\n# Add primary apt repositories\napt:\n  primary: []\n") is None
    assert headline("#!/bin/sh\n# Install the tools\nmake install\n") is None
    banner = "# Copyright (c) 2001-2003 Proofpoint, Inc.\n#\tAll rights reserved.\n#\n\nTuning Guide\n\nBody."
    assert headline(banner) == "Tuning Guide"
    assert headline("OFL FAQ - Frequently Asked Questions\nVersion 1.1 - December 2020\n\nBody.") == (
        "OFL FAQ - Frequently Asked Questions"
    )
    assert headline("# Getting started\n\nInstall it.") == "Getting started"
    assert headline("std::fs\n\nread_to_string\n") == "std::fs"  # a path, not a setting
    # A title above its subtitle, a title about copyright, a hashtag: titles still.
    assert headline("Pride and Prejudice\nby Jane Austen\n\nIt is a truth.") == "Pride and Prejudice"
    assert headline("zstd\nzstd is a fast compression algorithm.\n") == "zstd"
    assert headline("Copyright Law Basics\nA primer for authors\n\nBody.") == "Copyright Law Basics"
    assert headline("#MeToo five years on\n\nBody.") == "MeToo five years on"


def test_restructuredtext_references_are_dropped_from_its_headings_only():
    """A second review: applied to every format, the rules took "`__init__` vs `__new__`" of a
    Markdown heading for a reference ("__init__ vs new__") and "object.__init__" for a name
    with a link's underscore."""
    from rag.cleaning import rst_heading_text

    for markdown in ("`__init__` vs `__new__`", "Using `foo` with `_bar`"):
        assert "`" not in heading_text(markdown) and heading_text(markdown).count("_") == markdown.count("_")
    for written in ("Overriding object.__init__", "The self.__dict__ attribute", "class_", "CONFIG_X86_"):
        assert heading_text(written) == written
    assert rst_heading_text("Docutils_ Bugs") == "Docutils Bugs"
    assert rst_heading_text(":ref:`Install <install>` and `PyPI`_") == "Install and PyPI"
    assert rst_heading_text("`__init__` vs `__new__`") == "__init__ vs __new__"
    assert rst_heading_text("Overriding object.__init__") == "Overriding object.__init__"
