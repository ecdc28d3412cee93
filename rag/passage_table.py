"""The passages of an index held as columns of numbers, each Passage made when asked for.

A Passage's text is a slice of its document's text, so the table keeps only
offsets (and the documents): at 100k passages that is about 9 MB instead of the
roughly 230 MB that 100k Passage objects with their texts and span tuples take.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from typing import overload

import numpy as np

from .types import Document, Passage


class PassageTable(Sequence[Passage]):
    """An immutable sequence of Passages over ``documents``.

    Build one with ``PassageTable.build``; ``select`` and ``extend`` give new tables.
    """

    def __init__(
        self,
        documents: Mapping[str, Document],
        doc_ids: Sequence[str],
        doc: np.ndarray,
        paragraph: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        headings: Sequence[str],
        heading: np.ndarray,
        sentence_ptr: np.ndarray,
        sentences: np.ndarray,
    ) -> None:
        self.documents = documents
        self.doc_ids = tuple(doc_ids)
        self.doc = np.asarray(doc, dtype=np.int32)
        self.paragraph = np.asarray(paragraph, dtype=np.int32)
        self.start = np.asarray(start, dtype=np.int64)
        self.end = np.asarray(end, dtype=np.int64)
        self.headings = tuple(headings)
        self.heading = np.asarray(heading, dtype=np.int32)
        self.sentence_ptr = np.asarray(sentence_ptr, dtype=np.int64)
        self.sentences = np.asarray(sentences, dtype=np.int64).reshape(-1, 2)

    @classmethod
    def build(cls, passages: Iterable[Passage], documents: Mapping[str, Document]) -> PassageTable:
        """The table of ``passages``, whose texts must be slices of ``documents``' texts."""
        return cls.empty(documents).extend(passages, documents)

    @classmethod
    def empty(cls, documents: Mapping[str, Document] | None = None) -> PassageTable:
        none = np.zeros(0, dtype=np.int64)
        return cls(documents or {}, (), none, none, none, none, (), none, np.zeros(1, np.int64), none)

    def __len__(self) -> int:
        return len(self.doc)

    @overload
    def __getitem__(self, i: int) -> Passage: ...

    @overload
    def __getitem__(self, i: slice) -> list[Passage]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = operator.index(i)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("passage row out of range")
        doc_id = self.doc_ids[self.doc[i]]
        start, end = int(self.start[i]), int(self.end[i])
        spans = self.sentences[self.sentence_ptr[i] : self.sentence_ptr[i + 1]].tolist()
        return Passage(
            doc_id=doc_id,
            paragraph=int(self.paragraph[i]),
            start=start,
            end=end,
            text=self.documents[doc_id].text[start:end],
            sentences=tuple((s, e) for s, e in spans),
            heading=self.headings[self.heading[i]],
        )

    def text(self, i: int) -> str:
        """The text of passage ``i``, without building the Passage."""
        return self.documents[self.doc_ids[self.doc[i]]].text[int(self.start[i]) : int(self.end[i])]

    def __iter__(self) -> Iterator[Passage]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # mutable-looking sequences compare by value and are not hashable

    def __repr__(self) -> str:
        return f"PassageTable({len(self)} passages of {len(set(self.doc.tolist()))} documents)"

    def of_documents(self, doc_ids: Container[str]) -> np.ndarray:
        """A mask of the rows that belong to any of ``doc_ids``."""
        wanted = [i for i, d in enumerate(self.doc_ids) if d in doc_ids]
        return np.isin(self.doc, wanted)

    def rows_by_document(self) -> dict[str, np.ndarray]:
        """Each document's rows, ascending."""
        order = np.argsort(self.doc, kind="stable")
        bounds = np.cumsum(np.bincount(self.doc, minlength=len(self.doc_ids)))[:-1]
        groups = np.split(order, bounds)
        return {self.doc_ids[i]: rows for i, rows in enumerate(groups) if len(rows)}

    def doc_id(self, row: int) -> str:
        """The document id of passage ``row`` (without making the Passage)."""
        return self.doc_ids[self.doc[row]]

    def select(self, keep: np.ndarray, documents: Mapping[str, Document]) -> PassageTable:
        """The rows where ``keep`` is true, over ``documents`` (which must hold their documents)."""
        keep = np.asarray(keep, dtype=bool)
        counts = np.diff(self.sentence_ptr)
        rows = np.flatnonzero(keep)
        spans = np.repeat(keep, counts)
        # Documents and headings no kept row uses leave the table.
        used_docs, doc = np.unique(self.doc[rows], return_inverse=True)
        used_headings, heading = np.unique(self.heading[rows], return_inverse=True)
        return PassageTable(
            documents,
            [self.doc_ids[i] for i in used_docs.tolist()],
            doc.reshape(-1),
            self.paragraph[rows],
            self.start[rows],
            self.end[rows],
            [self.headings[i] for i in used_headings.tolist()],
            heading.reshape(-1),
            np.concatenate([[0], np.cumsum(counts[rows])]),
            self.sentences[spans],
        )

    def extend(self, passages: Iterable[Passage], documents: Mapping[str, Document]) -> PassageTable:
        """This table with ``passages`` appended, over ``documents``.

        Raises:
            ValueError: a passage's text is not the slice of its document it claims to be.
        """
        doc_index = {d: i for i, d in enumerate(self.doc_ids)}
        heading_index = {h: i for i, h in enumerate(self.headings)}
        # Typed arrays, not lists: 8 bytes an entry where a list of ints took about 36, so
        # that opening an index of 500k passages does not pass through 150 MB of int objects.
        doc, heading, paragraph, counts = (array("i") for _ in range(4))
        start, end, spans = array("q"), array("q"), array("q")
        for p in passages:
            document = documents.get(p.doc_id)
            if document is None or document.text[p.start : p.end] != p.text:
                raise ValueError(f"passage {p.doc_id} ¶{p.paragraph} does not match its document's text")
            doc.append(doc_index.setdefault(p.doc_id, len(doc_index)))
            heading.append(heading_index.setdefault(p.heading, len(heading_index)))
            paragraph.append(p.paragraph)
            start.append(p.start)
            end.append(p.end)
            counts.append(len(p.sentences))
            for sentence in p.sentences:
                if len(sentence) != 2:
                    raise ValueError(f"passage {p.doc_id} ¶{p.paragraph} has a malformed sentence span {sentence!r}")
                spans.extend(sentence)
        if not doc:
            columns = (self.doc, self.paragraph, self.start, self.end, self.headings, self.heading)
            return PassageTable(documents, self.doc_ids, *columns, self.sentence_ptr, self.sentences)
        new_spans = np.frombuffer(spans, dtype=np.int64).reshape(-1, 2)
        ends = self.sentence_ptr[-1] + np.cumsum(np.frombuffer(counts, dtype=np.int32), dtype=np.int64)
        return PassageTable(
            documents,
            list(doc_index),
            np.concatenate([self.doc, np.frombuffer(doc, dtype=np.int32)]),
            np.concatenate([self.paragraph, np.frombuffer(paragraph, dtype=np.int32)]),
            np.concatenate([self.start, np.frombuffer(start, dtype=np.int64)]),
            np.concatenate([self.end, np.frombuffer(end, dtype=np.int64)]),
            list(heading_index),
            np.concatenate([self.heading, np.frombuffer(heading, dtype=np.int32)]),
            np.concatenate([self.sentence_ptr, ends]),
            np.concatenate([self.sentences, new_spans]),
        )
