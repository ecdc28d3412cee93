"""The read side of an engine: the documents of the index it serves, their files and passages."""

from __future__ import annotations

from collections.abc import Callable

from .config import Settings
from .documents import verified_original
from .errors import UnknownDocument
from .search import SearchIndex
from .types import Document, Passage


class Reading:
    """What anyone may read of the index an ``Engine`` serves; each call reads the snapshot
    served at that moment. ``Engine`` provides ``settings`` and ``_current``."""

    settings: Settings
    #: The index served now (``None``: none saved yet); ``Engine._current``.
    _current: Callable[[], SearchIndex | None]

    @property
    def notice(self) -> str:
        """Non-empty when the index was damaged and an earlier generation is served."""
        index = self._current()
        return index.snapshot.notice if index is not None else ""

    @property
    def exists(self) -> bool:
        """Whether an index was ever saved in the folder (it may hold no document now)."""
        return self._current() is not None

    def documents(self) -> list[Document]:
        """The indexed documents, in the order they were added."""
        index = self._current()
        return list(index.snapshot.documents.values()) if index else []

    def document(self, doc_id: str) -> Document:
        """One indexed document, with its full text (``UnknownDocument``: no such id)."""
        return self._reading(doc_id).document(doc_id)

    def original(self, doc_id: str) -> tuple[Document, bytes]:
        """One indexed document and the bytes of its file, only while they are exactly the
        bytes it was indexed from (the id is looked up, never used as a path).

        Raises:
            UnknownDocument: no such id.
            UnreadableDocument: the file is gone, unreadable, or changed since it was indexed.
        """
        document = self.document(doc_id)
        return document, verified_original(document, self.settings.max_file_bytes)

    def passage_count(self, doc_id: str) -> int:
        """How many passages a document has (0 for an unknown id); builds none of them."""
        index = self._current()
        return len(index.rows_by_doc.get(doc_id, ())) if index is not None else 0

    def passages(self, doc_id: str) -> list[Passage]:
        """The passages of one document, in reading order (``UnknownDocument``: no such id)."""
        return self._reading(doc_id).passages_of(doc_id)

    def neighbours(self, doc_id: str, start: int) -> tuple[Passage | None, Passage | None]:
        """The passages just before and after the one starting at ``start`` in ``doc_id``."""
        return self._reading(doc_id).neighbours(doc_id, start)

    def _reading(self, doc_id: str) -> SearchIndex:
        if (index := self._current()) is None:
            raise UnknownDocument(f"no document {doc_id!r} in the index")
        return index
