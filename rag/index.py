"""The index stage, between passages and search: what an index holds, and how one is built.

A :class:`Snapshot` is everything one index generation holds: the documents, their
passages, two :class:`VectorSet` values (paragraph windows and sentences) and the
passages' terms for BM25. :func:`build` makes a new snapshot from an old one, some
documents to drop and some to add; it splits, embeds (only what no earlier vector
covers) and analyses. Saving and loading are store.py's; searching is search.py's.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from . import backends
from .cleaning import shared_lines
from .config import Settings
from .dense import VectorIndex
from .embedding import Embedder
from .lexical import LexicalIndex
from .passage_table import PassageTable
from .passages import contexts as passage_contexts
from .passages import fit_sentences, lexical_texts, sentence_budget, split_passages, windows
from .types import Document, Passage

#: Ingestion of more documents than this shows a progress bar.
PROGRESS_MIN_DOCUMENTS = 5
#: Texts handed to the embedder at a time (it groups them by length into its own batches).
ENCODE_CHUNK = 256

Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class VectorSet:
    """Vectors of one kind: row ``i`` embeds (part of) passage ``owner[i]``, and
    ``keys[i]`` is the content hash of the text it embeds (0: unknown). Owners are
    in passage order, so each passage's rows are contiguous."""

    index: VectorIndex
    owner: np.ndarray
    keys: np.ndarray | None

    def __post_init__(self) -> None:
        # ``keys`` may be given as None: unknown (an index saved before keys were kept).
        object.__setattr__(self, "owner", np.asarray(self.owner, dtype=np.int64))
        keys = np.zeros(len(self.owner), dtype=np.uint64) if self.keys is None else self.keys
        object.__setattr__(self, "keys", np.asarray(keys, dtype=np.uint64))

    @classmethod
    def empty(cls, dim: int, backend: str = "faiss", location: str = "") -> VectorSet:
        none = np.zeros(0, dtype=np.int64)
        return cls(backends.get(backend).empty(dim, location), none, none.astype(np.uint64))

    def __len__(self) -> int:
        return len(self.owner)

    def vectors(self, rows) -> np.ndarray:
        return self.index.vectors(rows)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)

    def merged(
        self, keep: np.ndarray, vectors: np.ndarray, owner: np.ndarray, keys: np.ndarray, ann_threshold: int
    ) -> VectorSet:
        """The rows of the passages ``keep`` (a mask over passage rows) renumbered as the
        kept passages are, then new rows for new passages (``owner`` counts on from them)."""
        mask = keep[self.owner] if len(self.owner) else np.zeros(0, dtype=bool)
        new_row = np.cumsum(keep) - 1  # old passage row -> row among the kept passages
        return VectorSet(
            self.index.update(mask, vectors, ann_threshold),
            np.concatenate([new_row[self.owner[mask]], owner]),
            np.concatenate([self.keys[mask], keys]),
        )

    def problem(self, passages: int) -> str | None:
        """What does not line up with a list of ``passages`` passages, if anything."""
        if len(self.index) != len(self.owner):
            return "vector count differs from the count of their owners"
        if len(self.keys) != len(self.owner):
            return "content keys do not line up with the vectors"
        owner = self.owner
        if len(owner) and (owner.min() < 0 or owner.max() >= passages or np.any(np.diff(owner) < 0)):
            return "vector owners point outside the passage list"
        return None


@dataclass(frozen=True)
class Snapshot:
    """Everything an index holds, immutable once built.

    ``windows`` embed each passage (one window, or several for a long one);
    ``sentences`` embed each sentence of each passage, in order.
    """

    model_id: str
    dim: int
    documents: dict[str, Document]
    passages: Sequence[Passage]
    windows: VectorSet
    sentences: VectorSet
    generation: int = 0
    checksum: str = field(default="", compare=False)
    #: Set when the current generation was damaged and an earlier one was loaded instead.
    notice: str = field(default="", compare=False)
    #: The passages' terms for BM25; built from the passages when not given.
    lexical: LexicalIndex | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Passages are held as columns over the documents' texts (see passage_table.py).
        if not isinstance(self.passages, PassageTable):
            object.__setattr__(self, "passages", PassageTable.build(self.passages, self.documents))
        if self.lexical is None:
            object.__setattr__(
                self, "lexical", LexicalIndex.build(lexical_texts(self.passages, _titles(self.documents)))
            )
        if self.lexical.n != len(self.passages):
            raise ValueError(f"the lexical index has {self.lexical.n} rows for {len(self.passages)} passages")

    @classmethod
    def empty(cls, model_id: str, dim: int, backend: str = "faiss", location: str = "") -> Snapshot:
        windows, sentences = VectorSet.empty(dim, backend, location), VectorSet.empty(dim, backend, location)
        return cls(model_id, dim, {}, (), windows, sentences)


@dataclass(frozen=True)
class Built:
    """What :func:`build` made: the snapshot, the ids of documents left out for having no
    passage, and how many texts it ran through the model."""

    snapshot: Snapshot
    empty: list[str]
    embedded: int


def build(
    base: Snapshot,
    remove: set[str],
    documents: list[Document],
    embedder: Embedder | None,
    settings: Settings,
    progress: Progress | None = None,
    cache: dict[int, np.ndarray] | None = None,
) -> Built:
    """A new snapshot: ``base`` without the ``remove`` documents, plus ``documents``.

    Vectors come from ``base`` or ``cache`` (content key -> vector, filled with what
    this call embeds) when they hold the same text; only the rest is embedded, so a
    redone merge embeds nothing and an edited file only its changed passages.

    Args:
        base: the snapshot to start from.
        remove: ids of documents to leave out (a document being replaced, too).
        documents: documents to add, already read.
        embedder: the model; may be ``None`` when ``documents`` is empty (a removal
            splits and embeds nothing, so it loads no model).
        settings: splitting limits, late chunking and the approximate-index threshold.
        progress: called with (fraction done, description) while embedding.
        cache: see above; filled in place.

    Returns:
        The snapshot, the ids of ``documents`` left out for having no passage, and how
        many texts (late-chunked: windows) ran through the model.
    """
    if documents and embedder is None:
        raise ValueError("adding documents needs an embedder")
    keep = ~base.passages.of_documents(remove)
    kept = int(keep.sum())
    docs = {i: d for i, d in base.documents.items() if i not in remove}
    texts = [d.text for d in docs.values()] + [d.text for d in documents]
    folders = [posixpath.dirname(d.id) for d in (*docs.values(), *documents)]
    shared = shared_lines(texts, folders) if documents else frozenset()
    new_passages: list[Passage] = []
    empty: list[str] = []
    for doc in documents:
        passages = fit_sentences(
            split_passages(doc, shared, settings.max_passage_chars),
            embedder.count_tokens,
            sentence_budget(embedder.max_tokens),
        )
        if passages:
            docs[doc.id] = doc
            new_passages.extend(passages)
        else:
            empty.append(doc.id)
    inputs = _Inputs.of(new_passages, kept, _titles(docs), embedder)
    late = bool(inputs.windows) and settings.late_chunking and hasattr(embedder, "encode_late")
    if late:
        # A late-chunked sentence vector depends on its window: keyed by both.
        sentence_keys = [content_key(f"{inputs.windows[w]}\x00{a}:{b}") for w, a, b in inputs.refs]
    else:
        sentence_keys = [content_key(t) for t in inputs.sentences]
    keys = np.array([content_key(t) for t in inputs.windows] + sentence_keys, dtype=np.uint64)
    cache = {} if cache is None else cache
    # The document of each text: texts are batched only with their own document's (see
    # ``_Embedding._chunks``).
    number = {doc_id: i for i, doc_id in enumerate(docs)}
    doc_of_passage = np.array([number[p.doc_id] for p in new_passages], dtype=np.int64)
    groups = doc_of_passage[np.concatenate([inputs.window_owner, inputs.sentence_owner]) - kept]
    embed = _Embedding(embedder, base, cache, progress, len(documents))
    if late:
        vectors = embed.late(inputs.windows, inputs.refs, keys, groups[: len(inputs.windows)])
    else:
        vectors = embed.each(inputs.all_texts, keys, groups)
    n = len(inputs.windows)
    snapshot = Snapshot(
        model_id=base.model_id,
        dim=base.dim,
        # The generation it was built from, until saved: the save keeps that one as a fallback.
        generation=base.generation,
        documents=docs,
        passages=base.passages.select(keep, docs).extend(new_passages, docs),
        windows=base.windows.merged(keep, vectors[:n], inputs.window_owner, keys[:n], settings.ann_threshold),
        sentences=base.sentences.merged(keep, vectors[n:], inputs.sentence_owner, keys[n:], settings.ann_threshold),
        # Only the new passages are analysed; the kept ones keep their terms.
        lexical=base.lexical.update(keep, lexical_texts(new_passages, _titles(docs))),
    )
    return Built(snapshot, empty, embed.embedded)


def content_key(text: str) -> int:
    """A 64-bit content hash of an embedded text (never 0, which means "unknown")."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


def _titles(documents: dict[str, Document]) -> dict[str, str]:
    return {doc_id: doc.title for doc_id, doc in documents.items()}


@dataclass
class _Inputs:
    """What to embed for new passages: each passage in windows that fit the model (with
    its title and section path as context), and each sentence; for each sentence also
    the window holding it and its span in that window's text (for late chunking)."""

    windows: list[str]
    window_owner: np.ndarray
    sentences: list[str]
    sentence_owner: np.ndarray
    refs: list[tuple[int, int, int]]  # (window, start, end) of each sentence

    @property
    def all_texts(self) -> list[str]:
        return self.windows + self.sentences

    @classmethod
    def of(cls, passages: list[Passage], offset: int, titles: dict[str, str], embedder: Embedder) -> _Inputs:
        """``offset``: the passage row of the first of ``passages``."""
        none = np.zeros(0, dtype=np.int64)
        if not passages:  # a removal: nothing to embed, so no model to load
            return cls([], none, [], none.copy(), [])
        window_texts: list[str] = []
        window_owner: list[int] = []
        sentence_texts: list[str] = []
        sentence_owner: list[int] = []
        sentence_refs: list[tuple[int, int, int]] = []
        contexts = [f"{c}\n" if c else "" for c in passage_contexts(passages, titles)]
        # A context may take half the model's input; a longer one is left out, so that
        # context + a window of fitted sentences never exceeds the input size.
        context_tokens = embedder.count_tokens(contexts)
        contexts = [c if n <= embedder.max_tokens // 2 else "" for c, n in zip(contexts, context_tokens, strict=True)]
        # One batched count of every sentence; a passage's length is the sum of its
        # sentences' (each count includes the 2 special tokens the passage has once).
        sentence_counts = iter(
            embedder.count_tokens([p.text[s - p.start : e - p.start] for p in passages for s, e in p.sentences])
        )
        for row, (passage, context, n_context) in enumerate(zip(passages, contexts, context_tokens, strict=True)):
            owner = offset + row
            counts = [next(sentence_counts) for _ in passage.sentences]
            budget = embedder.max_tokens - (n_context if context else 0)
            spans = [(passage.start, passage.end)]
            if sum(counts) - 2 * (len(counts) - 1) > budget:
                spans = windows(passage, counts, budget)
            first_window = len(window_texts)
            for s, e in spans:
                window_texts.append(context + passage.text[s - passage.start : e - passage.start])
                window_owner.append(owner)
            w = 0
            for s, e in passage.sentences:
                sentence_texts.append(passage.text[s - passage.start : e - passage.start])
                sentence_owner.append(owner)
                while w + 1 < len(spans) and s >= spans[w][1]:
                    w += 1
                base = len(context) - spans[w][0]
                sentence_refs.append((first_window + w, s + base, e + base))
        return cls(
            window_texts,
            np.array(window_owner, dtype=np.int64),
            sentence_texts,
            np.array(sentence_owner, dtype=np.int64),
            sentence_refs,
        )


class _Embedding:
    """Vectors for content keys: from ``cache`` or ``base`` when known, else from the model."""

    def __init__(
        self,
        embedder: Embedder,
        base: Snapshot,
        cache: dict[int, np.ndarray],
        progress: Progress | None,
        n_documents: int,
    ) -> None:
        self.embedder = embedder
        self.base = base
        self.cache = cache
        self.progress = progress
        self.n_documents = n_documents
        #: How many texts (or, late-chunked, windows) ran through the model.
        self.embedded = 0

    def each(self, texts: list[str], keys: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Vectors of ``texts``, embedding only those whose content key neither the index
        nor the cache holds (an unchanged passage of an edited file, a sentence seen
        before) and each distinct text once."""
        out, found = self._known(keys)
        first: dict[int, int] = {}  # key -> index in ``texts`` of its first miss
        misses: list[int] = []
        copies: list[tuple[int, int]] = []
        for i, key in enumerate(keys.tolist()):
            if found[i]:
                continue
            if key in first:
                copies.append((i, first[key]))
            else:
                first[key] = i
                misses.append(i)
        if misses:
            for rows in self._chunks(misses, groups, lambda i: len(texts[i])):
                out[rows] = self.embedder.encode_documents([texts[i] for i in rows])
        self.cache.update((int(keys[i]), out[i]) for i in misses)
        for i, j in copies:
            out[i] = out[j]
        self.embedded = len(misses)
        return out

    def late(
        self, windows: list[str], refs: list[tuple[int, int, int]], keys: np.ndarray, groups: np.ndarray
    ) -> np.ndarray:
        """Vectors of the windows, then of the sentences (``refs``: window, start, end),
        each window read once by the model for itself and all its sentences. A window
        is embedded again only when it or one of its sentences is not known yet."""
        out, found = self._known(keys)
        n = len(windows)
        spans: list[list[tuple[int, int]]] = [[] for _ in windows]
        rows: list[list[int]] = [[] for _ in windows]
        for j, (w, a, b) in enumerate(refs):
            spans[w].append((a, b))
            rows[w].append(n + j)
        todo = [w for w in range(n) if not found[w] or not all(found[r] for r in rows[w])]
        for chunk in self._chunks(todo, groups, lambda w: len(windows[w])):
            vectors, span_vectors = self.embedder.encode_late([windows[w] for w in chunk], [spans[w] for w in chunk])
            out[chunk] = vectors
            out[[r for w in chunk for r in rows[w]]] = span_vectors
        embedded = [*todo, *(r for w in todo for r in rows[w])]
        self.cache.update((int(keys[i]), out[i]) for i in embedded)
        self.embedded = len(todo)
        return out

    def _known(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The vectors of ``keys`` already held by the cache or stored in ``base``, and which were found."""
        out = np.zeros((len(keys), self.base.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        sets = (self.base.windows, self.base.sentences)
        known: dict[int, tuple[int, int]] = {}
        for kind, vector_set in enumerate(sets):
            for row, key in enumerate(vector_set.keys.tolist()):
                if key:
                    known.setdefault(key, (kind, row))
        hits: list[list[tuple[int, int]]] = [[], []]
        for i, key in enumerate(keys.tolist()):
            if key in self.cache:
                out[i] = self.cache[key]
                found[i] = True
            elif key in known:
                kind, row = known[key]
                hits[kind].append((i, row))
                found[i] = True
        for kind, pairs in enumerate(hits):
            if pairs:
                at, rows = zip(*pairs, strict=True)
                out[list(at)] = sets[kind].vectors(np.array(rows, dtype=np.int64))
        return out, found

    def _chunks(self, todo: list[int], groups: np.ndarray, length: Callable[[int], int]) -> Iterator[list[int]]:
        """``todo`` in chunks to embed, each of one group (document) only, shortest texts
        first, with a progress bar (for large batches) and progress calls. The int8 model
        quantises activations over its whole batch, so a text's vector depends on the texts
        batched with it: batched only with its own document's, a new file's vectors do not
        depend on the files ingested with it (they still do on which of its texts were
        known before: an edited file's, or one sharing a text with another file)."""
        by_group: dict[int, list[int]] = {}
        for i in todo:
            by_group.setdefault(int(groups[i]), []).append(i)
        chunks: list[list[int]] = []
        for group in sorted(by_group):
            members = sorted(by_group[group], key=length)
            chunks += [members[lo : lo + ENCODE_CHUNK] for lo in range(0, len(members), ENCODE_CHUNK)]
        bar = tqdm(total=len(todo), desc="embedding", unit="text", disable=self.n_documents <= PROGRESS_MIN_DOCUMENTS)
        done = 0
        for chunk in chunks:
            yield chunk
            done += len(chunk)
            bar.update(len(chunk))
            if self.progress is not None:
                self.progress(min(1.0, done / len(todo)), "embedding")
        bar.close()
