"""A vector backend defined outside rag/: exact search, each vector set saved as one
``.rows.npz`` file. It shows that a new backend is one module (see rag/backends.py);
tests/test_dense.py runs an engine on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.backends import Backend
from rag.dense import FlatIndex


class NpzIndex(FlatIndex):
    backend = "tests.npz_backend"
    kind = "npz"

    def update(self, mask: np.ndarray, vectors: np.ndarray, ann_threshold: int = 0) -> NpzIndex:
        kept = self._x[np.asarray(mask, dtype=bool)]
        return NpzIndex(self.dim, np.concatenate([kept, np.asarray(vectors, np.float32).reshape(-1, self.dim)]))

    def save(self, folder: Path, name: str) -> list[str]:
        with open(folder / f"{name}.rows.npz", "wb") as fh:
            np.savez(fh, rows=np.asarray(self._x))
        return [f"{name}.rows.npz"]


def _load(folder: Path, name: str, dim: int, files: set[str]) -> NpzIndex:
    with np.load(folder / f"{name}.rows.npz") as saved:
        return NpzIndex(dim, saved["rows"])


BACKEND = Backend(
    "tests.npz_backend",
    files=("rows.npz",),
    required=("rows.npz",),
    empty=lambda dim, location: NpzIndex(dim),
    load=_load,
)
