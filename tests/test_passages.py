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
