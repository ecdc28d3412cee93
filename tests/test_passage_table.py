"""PassageTable: passages held as columns give back exactly the Passages they were built from."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rag.passage_table import PassageTable
from rag.passages import split_passages
from rag.types import Document


def _document(doc_id: str, text: str) -> Document:
    return Document(id=doc_id, title=doc_id, path=doc_id, sha256="0" * 64, text=text)


@pytest.fixture
def corpus():
    docs = {
        "a.md": _document("a.md", "# Alpha\n\nThe first paragraph. It has two sentences.\n\nA second one."),
        "b.txt": _document("b.txt", "Beta text about boats.\n\nMore about sails, and masts."),
        "c.txt": _document("c.txt", "Gamma is short."),
    }
    passages = [p for d in docs.values() for p in split_passages(d, frozenset(), 2000)]
    return docs, passages


def test_rows_give_back_the_passages(corpus):
    docs, passages = corpus
    table = PassageTable.build(passages, docs)
    assert len(table) == len(passages) and list(table) == passages
    assert table[-1] == passages[-1] and table[1:3] == passages[1:3]
    assert any(p.heading for p in table) and any(len(p.sentences) > 1 for p in table)
    assert [table.doc_id(i) for i in range(len(table))] == [p.doc_id for p in passages]
    with pytest.raises(IndexError):
        table[len(passages)]


def test_select_and_extend_are_list_operations(corpus):
    docs, passages = corpus
    table = PassageTable.build(passages, docs)
    keep = ~table.of_documents({"b.txt"})
    assert keep.tolist() == [p.doc_id != "b.txt" for p in passages]
    kept_docs = {i: d for i, d in docs.items() if i != "b.txt"}
    kept = table.select(keep, kept_docs)
    assert list(kept) == [p for p in passages if p.doc_id != "b.txt"]
    assert "b.txt" not in kept.doc_ids
    again = kept.extend([p for p in passages if p.doc_id == "b.txt"], docs)
    assert list(again) == [p for p in passages if p.doc_id != "b.txt"] + [p for p in passages if p.doc_id == "b.txt"]
    rows = again.rows_by_document()
    assert {d: r.tolist() for d, r in rows.items()} == {
        d: [i for i, p in enumerate(again) if p.doc_id == d] for d in docs
    }
    assert len(table) == len(passages)  # the original is untouched


def test_a_passage_that_is_not_its_documents_text_is_refused(corpus):
    docs, passages = corpus
    with pytest.raises(ValueError, match="does not match"):
        PassageTable.build([replace(passages[0], text=passages[0].text.upper())], docs)
    with pytest.raises(ValueError, match="does not match"):
        PassageTable.build([replace(passages[0], doc_id="missing.txt")], docs)


def test_an_empty_table(corpus):
    docs, _ = corpus
    empty = PassageTable.build([], docs)
    assert len(empty) == 0 and list(empty) == [] and empty.rows_by_document() == {}
    assert empty.select(np.zeros(0, dtype=bool), docs) == []
