from rag.cleaning import shared_lines
from rag.documents import load_document
from rag.passages import paragraph_units, sentence_spans, split_passages, windows
from rag.types import Document

from .conftest import SEEDS


def doc(text: str, doc_id: str = "d.txt") -> Document:
    return Document(id=doc_id, title="T", path="/x", sha256="0", text=text)


def test_offsets_slice_the_document_exactly():
    for path in sorted(SEEDS.iterdir()):
        document = load_document(path, path.name)
        for p in split_passages(document):
            assert document.text[p.start : p.end] == p.text
            assert p.text == p.text.strip() and p.text
            for s, e in p.sentences:
                assert p.start <= s < e <= p.end


def test_crlf_document_offsets_match_open_read(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"A Heading\r\n\r\nThe first paragraph. It has two sentences.\r\n\r\nThe second one.\r\n")
    document = load_document(path, "crlf.txt")
    passages = split_passages(document)
    content = open(path, encoding="utf-8").read()
    assert [content[p.start : p.end] for p in passages] == [
        "The first paragraph. It has two sentences.",
        "The second one.",
    ]
    assert [p.paragraph for p in passages] == [2, 3]
    assert passages[0].heading == "A Heading"


def test_heading_is_context_not_a_passage():
    passages = split_passages(doc("Section one\n\nBody of section one.\n\nPart two\n\nBody two.\nMore body two."))
    assert [(p.heading, p.text) for p in passages] == [
        ("Section one", "Body of section one."),
        ("Part two", "Body two."),
        ("Part two", "More body two."),
    ]


def test_consecutive_headings_stack():
    passages = split_passages(doc("Book title\n\nChapter one\n\nIt begins here."))
    assert passages[0].heading == "Book title › Chapter one"


def test_repeated_captions_are_kept_once():
    caption = "A memorial to the commander, unveiled in the countryside of Aleppo on Wednesday. (Russia Today)"
    text = f"Title line\n\n{caption}\n{caption}\nTT\n\nTitle line\n\n{caption}\n{caption}\n\nThe story begins."
    passages = split_passages(doc(text))
    assert [p.text for p in passages] == [caption, "The story begins."]
    kinds = [u.kind for u in paragraph_units(text)]
    assert kinds == ["heading", "body", "duplicate", "furniture", "duplicate", "duplicate", "duplicate", "body"]


def test_paragraph_numbers_count_what_a_reader_sees():
    path = SEEDS / "001_6ca5efe176715221.txt"
    passages = split_passages(load_document(path, path.name))
    commander = next(p for p in passages if "current commander" in p.text)
    assert commander.paragraph == 4  # title, intro, definition, then this one


def test_furniture_is_dropped():
    texts = [(SEEDS / name).read_text(encoding="utf-8") for name in sorted(p.name for p in SEEDS.iterdir())]
    shared = shared_lines(texts)
    for path in sorted(SEEDS.iterdir()):
        for p in split_passages(load_document(path, path.name), shared):
            assert not p.text.startswith(("Sender's", "Receiver's", "Recommend article", "TT"))
            assert "News \xa0 /" not in p.text


def test_hard_wrapped_paragraphs_are_joined_and_long_lines_split():
    wrapped = (
        "This paragraph was wrapped by a mail client at a\n"
        "fixed width, so its lines must be read together as\n"
        "one paragraph.\n"
        "A new paragraph starts after a short line ending a\n"
        "sentence.\n"
    )
    passages = split_passages(doc(wrapped))
    assert [p.text.replace("\n", " ") for p in passages] == [
        "This paragraph was wrapped by a mail client at a fixed width, so its lines must be read together as "
        "one paragraph.",
        "A new paragraph starts after a short line ending a sentence.",
    ]
    long_lines = ("word " * 40).strip() + ".\n" + ("next " * 40).strip() + "."
    assert len(split_passages(doc(long_lines))) == 2


def test_sentence_spans_respect_abbreviations():
    text = (
        "Dr. Talal Naji met U.S. envoys on Dec. 31 in Damascus. They talked. “It went well,” he said. J. Smith agreed."
    )
    sentences = [text[s:e] for s, e in sentence_spans(text)]
    assert sentences == [
        "Dr. Talal Naji met U.S. envoys on Dec. 31 in Damascus.",
        "They talked.",
        "“It went well,” he said.",
        "J. Smith agreed.",
    ]


def test_overlong_paragraph_is_cut_at_sentences_with_one_number():
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    passages = split_passages(doc(text), max_chars=500)
    assert len(passages) > 1
    assert all(p.end - p.start <= 500 for p in passages)
    assert {p.paragraph for p in passages} == {1}
    assert all(p.text.endswith("here.") for p in passages)


def test_single_enormous_line_is_bounded():
    text = "word " * 50_000
    passages = split_passages(doc(text), max_chars=2000)
    assert all(p.end - p.start <= 2000 for p in passages)
    assert sum(len(p.text) for p in passages) > 0.99 * len(text.strip())


def test_note_of_only_short_lines_is_still_indexed():
    passages = split_passages(doc("Dentist Tuesday 5pm\n\nCall Mum"))
    assert [p.text for p in passages] == ["Dentist Tuesday 5pm", "Call Mum"]


def test_windows_group_sentences_under_the_budget():
    text = "One two three. Four five six. Seven eight nine. Ten."
    passage = split_passages(doc(text))[0]
    spans = windows(passage, [5, 5, 5, 3], budget=10)
    assert [text[s:e] for s, e in spans] == ["One two three. Four five six.", "Seven eight nine. Ten."]


def test_a_changelogs_entries_are_quotable_lines_under_their_release():
    """A block of entries too long to be hard-wrapped, each on its line without end
    punctuation, is a list of lines: its first line heads it and every entry is quoted
    (read as headings, each stacked on the one before, none could be), each line its own
    sentence. Prose written a paragraph to a line stays paragraphs."""
    entries = [
        "perf: +20% faster huffman decompression for targets that can't compile x64 assembly (#3449, @terrelln)",
        "perf: up to +10% faster streaming compression at levels 1-2 (#3114, @embg) on every supported target",
        "api: New `ZSTD_CCtx_setCParams()` function, set all parameters defined in a `ZSTD_compressionParameters`"
        " structure (#3403, @Cyan4973)",
        "cli: Keep original files when result is concatenated into a single output with `-o` (#3450, @Cyan4973)",
    ]
    text = "zstd changelog\n\nv1.5.4 (Feb 2023)\n" + "\n".join(entries) + "\n"
    document = doc(text)
    passages = split_passages(document)
    assert [p.text for p in passages] == ["\n".join(entries)]
    assert passages[0].heading == "zstd changelog › v1.5.4 (Feb 2023)"
    assert [document.text[s:e] for s, e in passages[0].sentences] == entries
    prose = [
        "The brigade was formed in 2013 by Palestinians from the Nayrab camp in Aleppo, and it fought beside the army"
        " in the years of the siege.",
        "Its commander was killed in 2016 near the city, according to a statement of the brigade that was published"
        " later that week.",
        "A memorial to the commander was unveiled in the countryside of Aleppo on Wednesday, in front of his fighters"
        " and his family.",
    ]
    assert [p.text for p in split_passages(doc("Title line\n\n" + "\n".join(prose)))] == prose


def test_a_question_alone_is_read_with_its_answer():
    """In a FAQ in plain text, a question on its own line or in its own paragraph ("1.6  Why
    won't …?", "Q: …", "21. Is zlib thread-safe?") is one passage with the answer below it:
    alone, it was quoted as the answer to itself."""
    text = (
        "Frequently asked questions\n\n"
        "1.6  Why won't the OFL let me sell the fonts alone?\n"
        "The intent is to keep people from making money by simply redistributing the fonts. The only people who"
        " ought to profit directly from the fonts should be the original authors.\n\n"
        "Q:  What do the letters XZ mean?\n\n"
        "A:  Nothing. They are just two letters, which come from the file format\n"
        "    suffix .xz. It has no deeper meaning.\n\n"
        "21. Is zlib thread-safe?\n\n"
        "    Yes.  However any library routines that zlib uses must also be thread-safe.\n\n"
        "Why is the sky blue? Light of short wavelengths is scattered more.\n\n"
        "Rayleigh scattering explains it.\n"
    )
    passages = split_passages(doc(text))
    assert [p.text.split("\n")[0] for p in passages] == [
        "1.6  Why won't the OFL let me sell the fonts alone?",
        "Q:  What do the letters XZ mean?",
        "21. Is zlib thread-safe?",
        "Why is the sky blue? Light of short wavelengths is scattered more.",  # not a question alone
        "Rayleigh scattering explains it.",
    ]
    assert passages[1].text.endswith("It has no deeper meaning.")
    assert passages[2].text.endswith("must also be thread-safe.")


def test_a_paginated_texts_running_headers_and_footers_are_dropped():
    """nroff and RFC text: a header or footer on every page, its page number changing and
    its parts swapped on left and right pages, is neither a section nor a passage. Release
    headings that recur at no regular interval stay headings."""
    pages = []
    for number in range(1, 6):
        header = "RFC 2616        HTTP/1.1        June 1999" if number % 2 else "   June 1999     HTTP/1.1     RFC 2616"
        body = [f"Section {number} text line {i} of the protocol, which goes on for a while." for i in range(18)]
        footer = f"Fielding, et al.        Standards Track        [Page {number}]"
        pages.append("\n".join([header, "", *body, "", footer]))
    text = "HTTP/1.1\n\n" + "\n\f\n".join(pages) + "\n"
    passages = split_passages(doc(text))
    assert passages and all("RFC 2616" not in p.text and "[Page" not in p.text for p in passages)
    assert all(p.heading == "HTTP/1.1" for p in passages)
    assert sum(p.text.count("text line") for p in passages) == 5 * 18  # every line of the pages kept
    # Lines that recur as often as a page's are the text itself: a survey's notes stay.
    notes = "\n\n".join(f"Survey note {i}: the {('otter', 'heron')[i % 2]} count at pond {i}" for i in range(200))
    assert len(split_passages(doc(notes))) > 0

    releases = []
    for n, size in zip(range(6, 0, -1), (3, 9, 2, 14, 5, 7), strict=True):
        fixes = [f"Fixed bug {n}{i} in the parser." for i in range(size)]
        releases.append(f"Version {n}.0 (released in 20{10 + n})\n\n" + "\n\n".join(fixes))
    notes = split_passages(doc("\n\n".join(releases)))
    assert {p.heading for p in notes} == {f"Version {n}.0 (released in 20{10 + n})" for n in range(1, 7)}


def test_a_plain_texts_numbered_headings_and_table_of_contents():
    """nroff's guide: "1.1.  Compiling Sendmail" is a heading (a section's number is no
    sentence), and a table of contents (dot leaders and page numbers) is no passage."""
    text = (
        "Installation Guide\n\n"
        "                 TABLE OF CONTENTS\n\n"
        "1.  BASIC INSTALLATION ........................    7\n"
        "   1.1.  Compiling Sendmail ...................    7\n"
        "   1.2.  Configuration Files ..................   10\n\n"
        "   1.1.  Compiling Sendmail\n\n"
        "      All sendmail source is in the sendmail subdirectory. To compile sendmail,\n"
        "      cd into the sendmail directory and type ./Build to build it.\n"
    )
    passages = split_passages(doc(text))
    assert [(p.heading.split(" › ")[-1], p.text[:19]) for p in passages] == [
        ("1.1. Compiling Sendmail", "All sendmail source")
    ]


def test_debian_plain_text_examples_and_signatures():
    """README.Debian: an indented example is no heading of what follows, and stays with the
    lead-in that introduces it; a changelog entry's signature (" -- Name <mail>  date") closes
    its entry, not heads the next one."""
    readme = (
        "sudo for Debian\n\n"
        "Preserve the default variables plus the EDITOR variable:\n\n"
        '    Defaults env_keep+="EDITOR"\n\n'
        "If you also want LC_ variables kept, list them the same way in the sudoers file.\n"
    )
    passages = split_passages(doc(readme))
    assert (
        passages[0].text
        == 'Preserve the default variables plus the EDITOR variable:\n\n    Defaults env_keep+="EDITOR"'
    )
    assert all(p.heading == "sudo for Debian" for p in passages)
    changelog = (
        "cron (3.0pl1-137) unstable; urgency=medium\n\n"
        "  * Fix the build with the new compiler.\n\n"
        " -- Georges Khaznadar <georgesk@debian.org>  Wed, 24 Feb 2021 10:00:00 +0100\n\n"
        "cron (3.0pl1-136) unstable; urgency=medium\n\n"
        "  * Translate the messages into Basque.\n\n"
        " -- Georges Khaznadar <georgesk@debian.org>  Mon, 11 Jan 2021 09:00:00 +0100\n"
    )
    entries = split_passages(doc(changelog))
    assert [p.heading for p in entries] == [
        "cron (3.0pl1-137) unstable; urgency=medium",
        "cron (3.0pl1-136) unstable; urgency=medium",
    ]
    assert entries[0].text.endswith("Wed, 24 Feb 2021 10:00:00 +0100")


def test_a_man_page_set_as_text_keeps_its_options_and_its_symbols():
    """`man chronyc | col -b`: an option ("       -4") above its description indented
    further is read with it, not dropped as a scrap of symbols; a sentence going on into a
    line of symbols ("just use" / "``*/2''.") keeps it; a title's underline is no text."""
    text = (
        "CHRONYC\n=======\n\n"
        "OPTIONS\n"
        "       -4\n"
        "\t   With this option hostnames will be resolved only to IPv4 addresses.\n\n"
        "       -c\n"
        "\t   This option enables printing of reports in a comma-separated values\n"
        "\t   (CSV) format.\n\n"
        "STEPS\n"
        "       Steps are also permitted after an asterisk, so if you want to say\n"
        "       ``every two hours'', just use\n"
        "       ``*/2''.\n"
    )
    passages = split_passages(doc(text))
    csv = next(p for p in passages if "(CSV)" in p.text)
    assert csv.text.startswith("-c\n") and csv.heading.endswith("OPTIONS")
    assert any(p.text.startswith("-4\n") for p in passages)
    steps = next(p for p in passages if "every two hours" in p.text)
    assert steps.text.endswith("``*/2''.")
    assert not any("====" in p.text for p in passages)
    # A configuration's key stays above its values, though alone it reads as an empty label.
    config = (
        "#cloud-config\n# run once at boot\n# only slightly after the boothook\nbootcmd:\n  - echo one\n  - echo two\n"
    )
    assert any(p.text.startswith("bootcmd:\n  - echo one") for p in split_passages(doc(config)))


def test_a_run_of_headings_is_a_list_not_a_section_path():
    """A README's contents, one short line each ("Suexec", "Documentation", "Upgrades", …),
    had stacked into the section path of the text after it. Four or more headings in a row
    are a list, read as one passage; the last still heads what follows. Two or three stack."""
    text = (
        "Contents\n========\n\n\tSuexec\n\n\tDocumentation\n\n\tUpgrades\n\n\tCommon Problems\n\n"
        "Apache2 Configuration under Debian\n==================================\n\n"
        "Debian's default installation makes adding and removing modules easy.\n\n"
        "Part One\n\nChapter One\n\nIt begins here.\n"
    )
    passages = split_passages(doc(text))
    assert passages[0].text.startswith("Suexec") and passages[0].text.endswith("Common Problems")
    assert passages[0].heading == "Contents"  # an underlined title heads its list
    modules = next(p for p in passages if "modules" in p.text)
    assert modules.heading == "Apache2 Configuration under Debian"
    assert passages[-1].heading == "Part One › Chapter One"


def test_plain_text_rules_do_not_misfire_on_ordinary_text():
    """Second review's cases: dialogue opening with "--", a "--- Configuration ---" heading, a
    breadcrumb after a heading, a list of items ending the text, a centred quoted title, a
    paragraph's short last line above a more indented one, and a fence after a sentence."""
    dialogue = "Chapitre\n\n" + "\n\n".join(f"--Bonjour, dit-il pour la {n}e fois ce matin-là." for n in range(5))
    assert len(split_passages(doc(dialogue))) == 5
    config = "Intro text that ends here.\n\n--- Configuration ---\n\nSet the port to 80 before starting the server.\n"
    assert split_passages(doc(config))[-1].heading == "--- Configuration ---"
    crumb = "Installing the tool on Linux\nHome > Docs > Install > Linux\n\nThe tool installs with one command.\n"
    assert split_passages(doc(crumb))[0].heading == "Installing the tool on Linux"
    shopping = "Shopping\n\nMilk\n\nEggs\n\nBread\n\nButter\n\nJam\n"
    assert "Jam" in " ".join(p.text for p in split_passages(doc(shopping)))
    story = '        "THE RED-HEADED LEAGUE"\n\nI had called upon my friend, Mr. Sherlock Holmes, one day.\n'
    assert split_passages(doc(story))[0].heading == '"THE RED-HEADED LEAGUE"'
    margins = (
        "  The journey was long, and at the end of it\n  they were glad.\n"
        "      Next morning they set out again for the hills.\n"
    )
    assert any(p.text.endswith("they were glad.") for p in split_passages(doc(margins)))
    fence = "Run the tool, for example\n```\n\nThen read its output carefully.\n"
    assert not any(p.text.endswith("```") for p in split_passages(doc(fence)))


def test_a_list_number_and_a_bracketed_reference_are_no_sentences():
    item = "1. The root user owns everything. ([CVE-2025-15467])"
    assert [item[s:e] for s, e in sentence_spans(item)] == ["1. The root user owns everything. ([CVE-2025-15467])"]
    steps = "Steps:\n1. Open it.\n2. Close it."
    assert [steps[s:e] for s, e in sentence_spans(steps)] == ["Steps:\n1. Open it.", "2. Close it."]
    text = "He left. (See below.) Then he came back."
    assert [text[s:e] for s, e in sentence_spans(text)] == ["He left. (See below.)", "Then he came back."]


def test_a_plain_text_lead_in_keeps_the_indented_commands_it_introduces():
    """A README's "To roll back this change, run:" and its commands are one passage, and a
    one-line command after "… permanent:" is its example, not a heading."""
    text = (
        "Socket activation\n-----------------\n\nIf you want systemd to listen on port 22, then you can run:\n\n"
        "  systemctl disable --now ssh.service\n  systemctl start ssh.socket\n\n"
        "To roll back this change, run:\n\n  systemctl stop ssh.socket\n  systemctl enable --now ssh.service\n\n"
        "Or if you want to make this change permanent:\n\n  systemctl enable ssh.socket\n\n"
        "The unit file sets ListenStream=22 for you, and the rest follows from it.\n"
    )
    passages = split_passages(Document("README", "OpenSSH", "/README", "0", text))
    texts = [p.text for p in passages]
    assert (
        "To roll back this change, run:\n\n  systemctl stop ssh.socket\n  systemctl enable --now ssh.service" in texts
    )
    assert "Or if you want to make this change permanent:\n\n  systemctl enable ssh.socket" in texts
    assert {p.heading for p in passages} == {"Socket activation"}


def test_a_plain_text_lead_in_keeps_the_commands_typed_at_a_prompt_below_it():
    """Commands written at a prompt at the line's start (not indented) are the lead-in's too;
    a lead-in followed by prose is not joined to it."""
    text = (
        "Building\n\nTo build it from source, type the following:\n\n$ ./configure --prefix=/usr\n$ make\n\n"
        "Note the following:\n\nThe build needs about two gigabytes of free disk space and a C compiler.\n"
    )
    texts = [p.text for p in split_passages(Document("INSTALL", "Building", "/INSTALL", "0", text))]
    assert "To build it from source, type the following:\n\n$ ./configure --prefix=/usr\n$ make" in texts
    assert "Note the following:" not in " ".join(t for t in texts if "$ make" in t)
