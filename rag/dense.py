"""Dense vector search behind a small VectorIndex protocol.

Two FAISS implementations, chosen by size (``build``):

- ``FlatIndex``: exact inner-product search over a float32 matrix, which is
  memory-mapped from disk when loaded (nothing is rebuilt at start).
- ``IVFIndex``: above ``ann_threshold`` rows, an inverted-file index of product-quantised
  codes (``PQ_BYTES`` bytes a row and an 8-byte id, where the float32 row takes 1,536 at
  384 dimensions) searched approximately; its best candidates (``RESCORE``, or twice
  the number asked for) are then scored exactly from the float32 rows, which stay on
  disk and are read with ``pread`` (not mapped, so re-scoring adds nothing to the
  process's memory). Its ``nprobe`` is calibrated at build time so that recall@10
  against exact search reaches ``TARGET_RECALL``.

Both are copy-on-write: ``update`` returns a new index and leaves the receiver
untouched, so a reader holding the old one is safe.
"""

from __future__ import annotations

import json
import math
import os
import weakref
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .backends import Backend
from .config import ANN_THRESHOLD
from .errors import IndexCorrupt, MissingDependency

#: Recall@10 against exact search that the calibration of ``nprobe`` aims for.
TARGET_RECALL = 0.98
_CALIBRATION_QUERIES = 300
#: Up to this many queries at once, exact search is one matrix product (see FlatIndex.search).
_SMALL_BATCH = 16
#: Below this many rows an inverted file has too few points per list to be worth it.
MIN_IVF_ROWS = 1000
#: Bytes of product-quantised code per row of an approximate index (8 bits for each of
#: this many sub-vectors; 384 dimensions make sub-vectors of 8).
PQ_BYTES = 48
#: An approximate search takes at least this many candidates by their codes, and twice
#: the number asked for, and re-scores them exactly: the order it returns is exact among
#: them. On 12k clustered 384-d rows the top 300 held .83 of the exact top 300 with the
#: margin, .69 without (the top 100: .91 and .76).
RESCORE = 100
#: At most this many candidates are re-scored (a search asked for every row, as a search
#: filtered by source is, gets the rest in the order of their codes).
RESCORE_AT_MOST = 2000
#: Fewer product-quantisation sub-vectors than this lose too much: 8-bit scalar codes then.
MIN_PQ_PARTS = 16


@runtime_checkable
class VectorIndex(Protocol):
    """Rows of L2-normalised vectors searched by inner product (= cosine)."""

    dim: int
    #: The name of the backend it belongs to (see backends.py).
    backend: str

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` scores and row numbers per query; rows are -1 where fewer exist."""
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """The exact stored vectors of ``rows``."""
        ...

    def update(self, mask: np.ndarray, vectors: np.ndarray, ann_threshold: int = ANN_THRESHOLD) -> VectorIndex:
        """A new index: the rows where ``mask`` is true, then ``vectors`` appended."""
        ...

    def save(self, folder: Path, name: str) -> list[str]:
        """Write the index as files named ``name.*`` in ``folder``; returns their names."""
        ...


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependency("pip install faiss-cpu") from exc
    return faiss


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    if isinstance(vectors, np.memmap) and vectors.dtype == np.float32 and vectors.flags.c_contiguous:
        return vectors  # keep the mapping: rows are paged in from disk as they are read
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.size == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"vectors have shape {vectors.shape}, index dimension is {dim}")
    return np.ascontiguousarray(vectors)


def _empty_result(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)


def build(vectors: np.ndarray, dim: int, ann_threshold: int = ANN_THRESHOLD, trained=None) -> VectorIndex:
    """The index for ``vectors``: exact below ``ann_threshold`` rows, approximate above."""
    vectors = _as_matrix(vectors, dim)
    if len(vectors) < max(ann_threshold, MIN_IVF_ROWS):
        return FlatIndex(dim, vectors)
    return IVFIndex.build(vectors, dim, trained=trained)


class _Rows:
    """The float32 rows an index holds (possibly memory-mapped): length and exact lookup."""

    backend = "faiss"
    dim: int
    _x: np.ndarray

    def __len__(self) -> int:
        return len(self._x)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        return np.array(self._x[rows], dtype=np.float32) if len(rows) else np.zeros((0, self.dim), np.float32)


class RowFile:
    """The rows of a saved float32 matrix (``.npy``), read with ``pread``.

    Nothing is mapped: rows read to re-score stay in the kernel's page cache, shared and
    reclaimable, and never count in this process's memory (memory-mapped rows did, up to
    the whole file, as the kernel maps pages around each one read). The file stays open
    while the index is in use, so a generation pruned meanwhile is still read whole.
    """

    def __init__(self, matrix: np.memmap) -> None:
        self.dim = matrix.shape[1]
        self._offset = int(matrix.offset)
        self._row_bytes = 4 * self.dim
        self._fd = os.open(matrix.filename, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (any order, repeats allowed) as a float32 matrix."""
        wanted, where = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
        out = np.empty((len(wanted), self.dim), dtype=np.float32)
        # One read per run of consecutive rows (a passage's windows or sentences are one run).
        breaks = np.flatnonzero(np.diff(wanted) != 1) + 1
        for lo, hi in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(wanted)]]), strict=True):
            size = (hi - lo) * self._row_bytes
            data = os.pread(self._fd, size, self._offset + int(wanted[lo]) * self._row_bytes)
            if len(data) != size:
                raise IndexCorrupt(f"vector rows end early: wanted row {int(wanted[hi - 1])}")
            out[lo:hi] = np.frombuffer(data, dtype=np.float32).reshape(hi - lo, self.dim)
        return out[where.reshape(-1)]


class FlatIndex(_Rows):
    """Exact search (``faiss.knn``, BLAS) over a float32 matrix, possibly memory-mapped."""

    kind = "flat"

    def __init__(self, dim: int, vectors: np.ndarray | None = None) -> None:
        self.dim = dim
        self._x = _as_matrix(vectors if vectors is not None else np.zeros((0, dim)), dim)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0:
            return _empty_result(len(queries))
        queries = _as_matrix(queries, self.dim)
        if len(queries) > _SMALL_BATCH:
            scores, rows = _faiss().knn(queries, self._x, k, metric=_faiss().METRIC_INNER_PRODUCT)
            return scores.astype(np.float32), rows.astype(np.int64)
        # A few queries: one BLAS matrix product (multi-threaded) and a partial sort beat
        # faiss.knn, which scans row by row on one thread when there are few queries.
        all_scores = queries @ self._x.T
        top = np.argpartition(-all_scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(all_scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        rows = np.take_along_axis(top, order, axis=1)
        return np.take_along_axis(top_scores, order, axis=1).astype(np.float32), rows.astype(np.int64)

    def update(self, mask: np.ndarray, vectors: np.ndarray, ann_threshold: int = ANN_THRESHOLD) -> VectorIndex:
        kept = self._x[np.asarray(mask, dtype=bool)] if len(self._x) else self._x
        return build(np.concatenate([kept, _as_matrix(vectors, self.dim)]), self.dim, ann_threshold)

    def save(self, folder: Path, name: str) -> list[str]:
        np.save(folder / f"{name}.vec.npy", self._x, allow_pickle=False)
        return [f"{name}.vec.npy"]


class IVFIndex(_Rows):
    """Approximate search: FAISS ``IndexIVFPQ`` (inner product; 8-bit scalar codes when the
    dimension splits into too few sub-vectors) with a calibrated ``nprobe``, whose best
    candidates are re-scored exactly from the float32 rows (read from disk through
    ``RowFile`` once saved)."""

    def __init__(
        self, dim: int, vectors: np.ndarray, index, nprobe: int, recall: float, rows: RowFile | None = None
    ) -> None:
        self.dim = dim
        self._x = vectors  # memory-mapped once loaded: read whole only to build a new index
        self._index = index
        self._rows = rows
        self.nprobe = nprobe
        self.recall = recall
        # Indexes saved before product quantisation hold 8-bit scalar codes: read as they are.
        self.kind = "ivf-pq" if isinstance(index, _faiss().IndexIVFPQ) else "ivf-sq8"

    @classmethod
    def build(cls, vectors: np.ndarray, dim: int, trained=None) -> IVFIndex:
        """Index ``vectors``, reusing the centroids and codebooks of ``trained`` when they fit."""
        faiss = _faiss()
        n = len(vectors)
        nlist = max(8, min(4096, int(math.sqrt(n))))
        parts = max(d for d in range(1, min(PQ_BYTES, dim) + 1) if dim % d == 0)  # sub-vectors
        kind = faiss.IndexIVFPQ if parts >= MIN_PQ_PARTS else faiss.IndexIVFScalarQuantizer
        same = type(trained) is kind and (kind is not faiss.IndexIVFPQ or trained.pq.M == parts)
        if same and trained.d == dim and nlist / 8 <= trained.nlist <= 2 * nlist:
            index = faiss.clone_index(trained)  # its codes are a few dozen bytes a row
            index.reset()
        else:
            if kind is faiss.IndexIVFPQ:
                index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, parts, 8, faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexIVFScalarQuantizer(
                    faiss.IndexFlatIP(dim), dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
                )
            # Enough rows for the coarse centroids and for 256 codes in each sub-vector space.
            size = min(n, max(nlist * 64, 256 * 64))
            sample = vectors[np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))]
            index.train(np.ascontiguousarray(sample, dtype=np.float32))
        for lo in range(0, n, 65536):
            index.add(np.ascontiguousarray(vectors[lo : lo + 65536], dtype=np.float32))
        built = cls(dim, vectors, index, 1, 0.0)
        built.nprobe, built.recall = _calibrate(built, vectors)
        # Real questions sit farther from their answers than the calibration's queries
        # (measured: recall@10 .95 at the calibrated nprobe, .97-.99 at a quarter of the
        # lists), and probing a quarter costs a few ms at 300k rows: take the larger.
        built.nprobe = max(built.nprobe, index.nlist // 4)
        return built

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        if self._rows is None:
            return super().vectors(rows)
        rows = np.asarray(rows, dtype=np.int64)
        return self._rows.read(rows) if len(rows) else np.zeros((0, self.dim), np.float32)

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0:
            return _empty_result(len(queries))
        queries = _as_matrix(queries, self.dim)
        params = _faiss().SearchParametersIVF(nprobe=nprobe or self.nprobe)
        coded, found = self._index.search(queries, min(len(self), max(RESCORE, 2 * k)), params=params)
        scores = np.full((len(queries), k), np.finfo(np.float32).min, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for i, (query, candidates, approximate) in enumerate(zip(queries, found, coded, strict=True)):
            keep = candidates >= 0
            candidates, approximate = candidates[keep], approximate[keep]
            head = candidates[:RESCORE_AT_MOST]
            exact = self.vectors(head) @ query
            order = np.lexsort((head, -exact))
            best = np.concatenate([head[order], candidates[RESCORE_AT_MOST:]])[:k]
            # The rest keep their codes' order, scored no higher than the last re-scored row.
            rest = np.minimum(approximate[RESCORE_AT_MOST:], exact.min(initial=np.finfo(np.float32).max))
            values = np.concatenate([exact[order], rest])[:k]
            scores[i, : len(best)], rows[i, : len(best)] = values, best
        return scores, rows

    def update(self, mask: np.ndarray, vectors: np.ndarray, ann_threshold: int = ANN_THRESHOLD) -> VectorIndex:
        merged = np.concatenate([self._x[np.asarray(mask, dtype=bool)], _as_matrix(vectors, self.dim)])
        return build(merged, self.dim, ann_threshold, trained=self._index)

    def save(self, folder: Path, name: str) -> list[str]:
        np.save(folder / f"{name}.vec.npy", np.asarray(self._x, dtype=np.float32), allow_pickle=False)
        _faiss().write_index(self._index, str(folder / f"{name}.ivf.faiss"))
        meta = {"kind": self.kind, "nprobe": self.nprobe, "recall_at_10": self.recall}
        (folder / f"{name}.ivf.json").write_text(json.dumps(meta), encoding="utf-8")
        return [f"{name}.vec.npy", f"{name}.ivf.faiss", f"{name}.ivf.json"]


def _calibrate(index: IVFIndex, vectors: np.ndarray) -> tuple[int, float]:
    """The smallest ``nprobe`` whose recall@10 against exact search reaches ``TARGET_RECALL``.

    The queries are stored rows moved off their place by random noise (cosine about .7 to
    the row, as a question is to its answer): querying with the rows themselves would
    only test that a row finds itself, or its copies."""
    faiss = _faiss()
    rng = np.random.default_rng(1)
    picks = np.sort(rng.choice(len(vectors), size=min(_CALIBRATION_QUERIES, len(vectors)), replace=False))
    rows = np.asarray(vectors[picks], dtype=np.float32)
    noisy = rows + rng.normal(size=rows.shape).astype(np.float32) / np.sqrt(rows.shape[1])
    queries = np.ascontiguousarray(noisy / np.linalg.norm(noisy, axis=1, keepdims=True))
    exact_scores, _ = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    nlist = index._index.nlist
    recall = 0.0
    nprobe = 1
    while nprobe <= nlist:
        _, found = index.search(queries, 10, nprobe=nprobe)
        recall = recall_at(vectors, queries, exact_scores[:, 9], found)
        if recall >= TARGET_RECALL or nprobe == nlist:
            break
        nprobe = min(nlist, nprobe * 2)
    return nprobe, recall


def recall_at(vectors: np.ndarray, queries: np.ndarray, kth: np.ndarray, found: np.ndarray) -> float:
    """Recall of ``found`` rows against exact search, ties included: a found row counts when
    its exact score reaches the exact k-th best (``kth``). Identical vectors (a sentence
    quoted in several passages) make row ids of equal score interchangeable."""
    hits = 0
    for query, threshold, rows in zip(queries, kth, found, strict=True):
        rows = rows[rows >= 0]
        if len(rows):
            hits += int(np.sum(np.asarray(vectors[np.sort(rows)]) @ query >= threshold - 1e-5))
    return hits / found.size


def load(folder: Path, name: str, dim: int, files: set[str]) -> VectorIndex:
    """Load the vector set ``name`` from a generation folder, memory-mapping the rows.

    Raises:
        IndexCorrupt: a file is unreadable or does not match the dimension.
    """
    faiss = _faiss()
    try:
        if f"{name}.vec.npy" in files:
            vectors = np.load(folder / f"{name}.vec.npy", mmap_mode="r", allow_pickle=False)
        else:  # index format 1-2: a faiss IndexFlatIP holds the rows
            flat = faiss.read_index(str(folder / f"{name}.faiss"))
            vectors = flat.reconstruct_n(0, flat.ntotal) if flat.ntotal else np.zeros((0, flat.d), np.float32)
        if vectors.dtype != np.float32 or vectors.ndim != 2 or (len(vectors) and vectors.shape[1] != dim):
            raise IndexCorrupt(
                f"{name} vectors have shape {vectors.shape} {vectors.dtype}, expected (n, {dim}) float32"
            )
        if f"{name}.ivf.faiss" not in files:
            return FlatIndex(dim, vectors)
        meta = json.loads((folder / f"{name}.ivf.json").read_text(encoding="utf-8"))
        # Read into memory, not mapped (IO_FLAG_MMAP): measured at 100k passages, mapped
        # inverted lists made answers 1.6x slower (p50 16 vs 10 ms) and peak RSS higher.
        index = faiss.read_index(str(folder / f"{name}.ivf.faiss"))
    except IndexCorrupt:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise IndexCorrupt(f"{name} vectors are unreadable: {exc}") from exc
    if index.d != dim or index.ntotal != len(vectors):
        raise IndexCorrupt(f"{name}.ivf.faiss holds {index.ntotal} {index.d}-d codes for {len(vectors)} rows")
    rows = RowFile(vectors) if isinstance(vectors, np.memmap) and vectors.flags.c_contiguous else None
    return IVFIndex(dim, vectors, index, int(meta["nprobe"]), float(meta["recall_at_10"]), rows)


BACKEND = Backend(
    "faiss",
    files=("vec.npy", "ivf.faiss", "ivf.json"),
    required=("vec.npy",),
    empty=lambda dim, location: FlatIndex(dim),
    load=load,
)
