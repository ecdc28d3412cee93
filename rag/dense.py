"""Dense vector search behind a small VectorIndex protocol; FAISS exact inner product by default."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import IndexCorrupt, MissingDependency


@runtime_checkable
class VectorIndex(Protocol):
    """Rows of L2-normalised vectors searched by inner product (= cosine).

    Implementations are copy-on-write: ``keep`` and ``extend`` return a new index
    and leave the receiver untouched, so a reader holding the old one is safe.
    """

    dim: int

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` scores and row numbers per query; rows are -1 where fewer exist."""
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray: ...

    def keep(self, mask: np.ndarray) -> VectorIndex: ...

    def extend(self, vectors: np.ndarray) -> VectorIndex: ...

    def save(self, path: Path) -> None: ...


def _faiss():
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependency("pip install faiss-cpu") from exc
    return faiss


class FlatIndex:
    """Exact search with ``faiss.IndexFlatIP``."""

    def __init__(self, dim: int, index=None) -> None:
        self.dim = dim
        self._index = index if index is not None else _faiss().IndexFlatIP(dim)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self))
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        return self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(rows)

    def keep(self, mask: np.ndarray) -> FlatIndex:
        kept = FlatIndex(self.dim)
        if len(self):
            kept._index.add(self._index.reconstruct_n(0, len(self))[np.asarray(mask, dtype=bool)])
        return kept

    def extend(self, vectors: np.ndarray) -> FlatIndex:
        grown = self.keep(np.ones(len(self), dtype=bool))
        if len(vectors):
            if vectors.shape[1] != self.dim:
                raise ValueError(f"vectors have dimension {vectors.shape[1]}, index has {self.dim}")
            grown._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return grown

    def save(self, path: Path) -> None:
        _faiss().write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> FlatIndex:
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexCorrupt(f"{path.name} is not a readable FAISS index: {exc}") from exc
        if index.d != dim:
            raise IndexCorrupt(f"{path.name} holds {index.d}-d vectors, the manifest says {dim}")
        return cls(dim, index)
