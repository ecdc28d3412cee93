"""The composition root: open an index folder, add and remove documents, ask questions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import backends, ingest, sandbox, store
from .answer import prepare, respond
from .config import Settings
from .embedding import Embedder, embedder_for, encoder_of, model_id_for, resolve_encoder
from .errors import IndexCorrupt, RagError
from .index import Progress, Snapshot, build
from .reading import Reading
from .rerank import CrossEncoderReranker, Reranker
from .search import SearchIndex
from .search import weight as signal_weight
from .served import Served
from .types import AddReport, Answer, Document, Refusal

log = logging.getLogger(__name__)


class Engine(Reading):
    """Documents in, cited verbatim excerpts out.

    Build one with ``Engine.open(index_dir)``. Queries may run from many threads
    while writers add or remove documents: each query reads one immutable
    snapshot, and writers publish a new snapshot only once it is saved.

    Several engines, in one process or many, may share an index folder. A writer
    parses and embeds without any lock, then takes the folder's writer lock, merges
    its change into the newest saved index (re-embedding nothing it already
    embedded) and saves: no writer's documents are ever lost to another's save.
    Readers switch to an index saved elsewhere within ``settings.reload_interval``.
    """

    def __init__(
        self,
        settings: Settings,
        snapshot: Snapshot | None,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        version: tuple[int, int, int] | None = None,
        parser: sandbox.Parser | None = None,
    ) -> None:
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        self._embedder = embedder
        self._reranker = reranker
        self._parser = parser
        self._embedder_lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._served = Served(
            self.index_dir,
            settings.vector_backend,
            settings.reload_interval,
            snapshot,
            version,
            lambda: self._embedder.model_id if self._embedder is not None else None,
        )
        #: How many texts the last add or refresh actually ran through the model.
        self.last_embedded = 0

    @classmethod
    def open(
        cls,
        index_dir: str | Path | None = None,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        parser: sandbox.Parser | None = None,
    ) -> Engine:
        """Open (or prepare to create) the index in ``index_dir``.

        Args:
            index_dir: the index folder; ``settings.index_dir`` by default.
            settings: engine settings; read from the environment by default.
            embedder: the model to use; built from ``settings.model`` on first need.
            reranker: a cross-encoder for the top passages; built from
                ``settings.reranker`` when that is set, else none.
            parser: what reads files; by default a worker process bounded in time and
                memory (``sandbox.shared``), shared by the engines of this process.

        Raises:
            ModelMismatch: the index was built with another model or dimension.
            IndexCorrupt: the index folder is damaged.
        """
        settings = settings or Settings.from_env()
        if index_dir is not None:
            settings = replace(settings, index_dir=Path(index_dir))
        for name, _ in settings.weights:
            signal_weight(settings, name)  # a misspelt RAG_<NAME>_WEIGHT is refused, not ignored
        version = store.version(Path(settings.index_dir))  # before the load: a save meanwhile is seen later
        snapshot = store.load(Path(settings.index_dir), settings.vector_backend)
        recorded = snapshot.model_id if snapshot is not None else None
        settings = replace(settings, encoder=resolve_encoder(settings.encoder, settings.model, recorded))
        if embedder is not None and settings.encoder == "auto":  # a new index: the injected model decides
            settings = replace(settings, encoder=encoder_of(embedder))
        if snapshot is not None:
            model_id = embedder.model_id if embedder else model_id_for(settings.model, settings.encoder)
            store.check_model(snapshot, model_id, embedder.dim if embedder else None)
        if reranker is None and settings.reranker:
            reranker = CrossEncoderReranker(settings.reranker)
        return cls(settings, snapshot, embedder, reranker, version, parser)

    # -- reading -----------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The model, loaded on first use (listing documents never needs it)."""
        with self._embedder_lock:
            if self._embedder is None:
                served = self._current()  # an index saved since open decides "auto"'s precision
                embedder = embedder_for(self.settings, self.index_dir, served.snapshot.model_id if served else None)
                if served is not None:
                    store.check_model(served.snapshot, embedder.model_id, embedder.dim)
                if self.settings.encoder == "auto":  # settled by what loaded: an ingest child loads the same
                    self.settings = replace(self.settings, encoder=encoder_of(embedder))
                self._embedder = embedder
            return self._embedder

    def sync(self, force: bool = False) -> bool:
        """Serve the newest index saved in the folder, by this process or another (see ``Served.sync``)."""
        return self._served.sync(force)

    def _current(self) -> SearchIndex | None:
        return self._served.current()

    def ask(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[str] | None = None,
        sources: Iterable[str] | None = None,
    ) -> Answer:
        """Answer with verbatim excerpts, or abstain.

        Args:
            question: what the user asked.
            k: the most excerpts to return (``settings.k`` by default).
            history: earlier questions of the conversation, oldest first; used to
                resolve follow-ups such as "When was it formed?".
            sources: restrict the search to these document ids.

        Returns:
            An Answer whose excerpts are exact slices of their documents.

        Raises:
            BadQuestion: the question is longer than ``settings.max_question_chars``.
        """
        question, history = prepare(question, history, self.settings.max_question_chars)
        k = self.settings.k if k is None else max(1, int(k))
        index = self._current()  # one snapshot for the whole query, whatever writers do meanwhile
        if not question or index is None or not index.snapshot.passages:
            return Answer(question=question, answered=False)
        allowed = set(sources) if sources is not None else None
        return respond(question, history, index, allowed, k, self.embedder, self.settings, self._reranker)

    # -- writing -----------------------------------------------------------------------

    def add(self, paths: Iterable[str | Path], progress: Progress | None = None, replace: bool = False) -> AddReport:
        """Index files and folders (recursively); unchanged files are not embedded again.

        Args:
            paths: files or folders; relative paths are read from the current
                folder. A document's id is its path relative to the folder it was
                given in (a file given directly: its name).
            progress: called with (fraction done, description) while indexing.
            replace: a file whose id is held by a document read from another file
                replaces that document. By default both are kept: the new one
                gets a new id (``folder/name`` or ``name (2)``), with a warning.

        Returns:
            What was added, updated, left unchanged, and refused (with reasons).
        """
        report = AddReport()
        self.sync(force=True)
        pairs = ingest.assign_ids(paths, self.documents(), replace, self.settings.follow_links, report)[0]
        return self._add_files(pairs, report, progress, bar=True, take_over=replace)

    def add_isolated(
        self, paths: Iterable[str | Path], progress: Progress | None = None, replace: bool = False
    ) -> AddReport:
        """``add`` run by a separate process (``python -m rag ingest``) over this index folder.

        Parsing, splitting, embedding and saving happen in the child, whose memory is
        returned to the system when it exits; this process only loads the saved
        result. A server should add documents this way: whatever it is sent, its
        own memory grows only by the index it then serves.

        Where only one process at a time may open the vector store (Qdrant's local mode),
        the documents are added by this process instead.

        Raises:
            IndexWriteError: the child failed without a report (its last words are in the message).
        """
        if backends.get(self.settings.vector_backend).single_process(self._location()):
            return self.add(paths, progress, replace)
        if self._embedder is not None and self._embedder.model_id != model_id_for(
            self.settings.model, self.settings.encoder
        ):
            raise RagError("an engine with an injected embedder cannot ingest in a separate process")
        if self._parser is not None:
            raise RagError("an engine with an injected parser cannot ingest in a separate process")
        try:
            return ingest.add_in_child(paths, self.settings, progress, replace)
        finally:
            self.sync(force=True)

    def _add_files(
        self,
        pairs: list[tuple[Path, str]],
        report: AddReport,
        progress: Progress | None,
        bar: bool = False,
        take_over: bool = False,
    ) -> AddReport:
        self.sync(force=True)
        known = self._served.index.snapshot.documents if self._served.index is not None else {}
        parser = self._parser or sandbox.shared(self.settings.parse_timeout, self.settings.parse_memory_mb)
        loaded = ingest.read_files(pairs, known, parser, self.settings.max_file_bytes, report, bar)
        return self._commit(loaded, report, progress, take_over)

    def conflicts(self, paths: Iterable[str | Path]) -> list[tuple[str, str]]:
        """The ``(file, indexed document id)`` pairs that ``add(paths)`` would rename
        (or, with ``replace``, replace): files whose id another file's document holds."""
        return ingest.assign_ids(paths, self.documents(), False, self.settings.follow_links, AddReport())[1]

    def remove(self, *doc_ids: str) -> None:
        """Remove documents and their passages from the index, all in one save.

        Raises:
            UnknownDocument: one of the ids is not in the index (nothing is removed).
        """
        with self._write_lock, store.writer_lock(self.index_dir):
            self.sync(force=True)
            for doc_id in doc_ids:
                self.document(doc_id)
            if doc_ids:
                self._served.publish(build(self._snapshot(), set(doc_ids), [], None, self.settings).snapshot)

    def refresh(self, progress: Progress | None = None) -> AddReport:
        """Re-index documents whose file changed on disk since they were indexed.

        Files that no longer exist are left in the index and reported as refused.
        """
        report = AddReport()
        pairs = ingest.still_on_disk(self.documents(), self.settings.follow_links, report)
        return self._add_files(pairs, report, progress)

    def restore(self, documents: Iterable[Document]) -> AddReport:
        """Put documents back from their own stored text: the undo of a removal.

        Nothing is read from disk (the file may be gone). A document whose id another
        file has taken meanwhile comes back under a new id, with a warning.
        """
        self.sync(force=True)
        report = AddReport()
        # Any document holding the id now is newer than this one: it stays, this one is renamed.
        back = ingest.rename_taken(
            {d.id: d for d in documents}, self._snapshot().documents, report, "is taken by a newer document"
        )
        return self._commit(back, report, None, take_over=False)

    def _commit(
        self, loaded: dict[str, Document], report: AddReport, progress: Progress | None, take_over: bool
    ) -> AddReport:
        """Index ``loaded`` (documents already read) into the newest saved index."""
        if not loaded:
            return report
        # Split and embed without any lock, against the index as it is now; then merge
        # into the newest saved index under the writer lock. When another writer saved
        # meanwhile, the merge is redone on its index from the vectors embedded here.
        cache: dict[int, np.ndarray] = {}
        base = self._snapshot()
        try:
            draft = build(base, set(loaded), list(loaded.values()), self.embedder, self.settings, progress, cache)
        except IndexCorrupt:  # the base was pruned while read (other writers saved twice): merge as below
            draft = None
        with self._write_lock, store.writer_lock(self.index_dir):
            self.sync(force=True)
            current = self._snapshot()
            if draft is None or (current.generation, current.checksum) != (base.generation, base.checksum):
                if not take_over:  # another writer may have given one of these ids to another file meanwhile
                    loaded = ingest.rename_taken(
                        loaded, current.documents, report, "was just given to another file", same_file_keeps=True
                    )
                draft = build(current, set(loaded), list(loaded.values()), self.embedder, self.settings, None, cache)
            self._served.publish(draft.snapshot)
        self.last_embedded = draft.embedded
        for doc_id, doc in loaded.items():
            if doc_id in draft.empty:
                report.refused.append(Refusal(doc.path, "no paragraph of content (only page furniture)"))
            else:
                (report.updated if doc_id in current.documents else report.added).append(doc_id)
        return report

    def _snapshot(self) -> Snapshot:
        return self._served.snapshot(self._empty)

    def _location(self) -> str:
        """Where the vector backend keeps what is not in the index folder: a server, or a folder in it."""
        return self.settings.qdrant_url or str(self.index_dir / "qdrant")

    def _empty(self) -> Snapshot:
        return Snapshot.empty(self.embedder.model_id, self.embedder.dim, self.settings.vector_backend, self._location())
