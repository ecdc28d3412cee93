"""An optional VectorIndex on Qdrant, for vector sets larger than one machine should hold.

Selected with ``RAG_VECTOR_BACKEND=qdrant``. ``RAG_QDRANT_URL`` points at a server or
cluster (``QDRANT_API_KEY`` is read from the environment); without it, Qdrant's
local mode keeps the collections in ``<index>/qdrant`` (handy for tests and small
setups; one process at a time).

Each vector set of each index generation is one collection, written once and never
changed (the engine's snapshots are copy-on-write): point ``i`` is row ``i``. A write
creates the next collection and the index folder records its name in
``<set>.qdrant.json``, so the manifest swap stays the single commit point; collections
of pruned generations are dropped. Passages, documents, BM25 and the exact scoring
stay in the engine; Qdrant answers the nearest-neighbour searches.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import uuid
from pathlib import Path

import numpy as np

from .backends import Backend
from .errors import IndexCorrupt, MissingDependency

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()
_BATCH = 512


@atexit.register
def _close_clients() -> None:
    """Close clients before interpreter shutdown (local mode's finaliser fails after it)."""
    with _clients_lock:
        for client in _clients.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001, S110 - closing at exit is best effort
                pass
        _clients.clear()


def client_for(location: str):
    """One client per location (local mode allows a single client per folder)."""
    try:
        from qdrant_client import QdrantClient
    except ImportError as exc:
        raise MissingDependency("pip install qdrant-client") from exc
    with _clients_lock:
        if location not in _clients:
            if location.startswith(("http://", "https://")):
                _clients[location] = QdrantClient(url=location, api_key=os.environ.get("QDRANT_API_KEY"), timeout=60)
            else:
                Path(location).mkdir(parents=True, exist_ok=True)
                _clients[location] = QdrantClient(path=location)
        return _clients[location]


class QdrantIndex:
    """Rows of vectors in one immutable Qdrant collection (points 0..n-1)."""

    kind = "qdrant"
    backend = "qdrant"

    def __init__(self, dim: int, location: str, collection: str | None = None, size: int = 0) -> None:
        self.dim = dim
        self.location = location
        self.collection = collection
        self._size = size

    @classmethod
    def create(cls, dim: int, location: str, vectors: np.ndarray) -> QdrantIndex:
        """A new collection holding ``vectors`` as rows 0..n-1."""
        from qdrant_client import models

        client = client_for(location)
        name = f"rag-{uuid.uuid4().hex[:16]}"
        client.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT))
        vectors = np.asarray(vectors, dtype=np.float32)
        for lo in range(0, len(vectors), _BATCH):
            chunk = vectors[lo : lo + _BATCH]
            client.upsert(
                name, points=models.Batch(ids=list(range(lo, lo + len(chunk))), vectors=chunk.tolist()), wait=True
            )
        return cls(dim, location, name, len(vectors))

    def __len__(self) -> int:
        return self._size

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from qdrant_client import models

        queries = np.asarray(queries, dtype=np.float32)
        k = min(k, len(self))
        if k <= 0 or self.collection is None:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        requests = [models.QueryRequest(query=q.tolist(), limit=k) for q in queries]
        responses = client_for(self.location).query_batch_points(self.collection, requests=requests)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for i, response in enumerate(responses):
            for j, point in enumerate(response.points[:k]):
                scores[i, j], rows[i, j] = point.score, int(point.id)
        return scores, rows

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = [int(r) for r in np.asarray(rows, dtype=np.int64)]
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        found: dict[int, list[float]] = {}
        unique = sorted(set(rows))
        for lo in range(0, len(unique), _BATCH):
            records = client_for(self.location).retrieve(
                self.collection, ids=unique[lo : lo + _BATCH], with_vectors=True
            )
            found.update({int(r.id): r.vector for r in records})
        return np.array([found[r] for r in rows], dtype=np.float32)

    def update(self, mask: np.ndarray, vectors: np.ndarray, ann_threshold: int = 0) -> QdrantIndex:
        mask = np.asarray(mask, dtype=bool)
        kept = self.vectors(np.flatnonzero(mask)) if len(self) else np.zeros((0, self.dim), np.float32)
        merged = np.concatenate([kept, np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)])
        return QdrantIndex.create(self.dim, self.location, merged)

    def save(self, folder: Path, name: str) -> list[str]:
        pointer = {"kind": self.kind, "location": self.location, "collection": self.collection, "rows": len(self)}
        (folder / f"{name}.qdrant.json").write_text(json.dumps(pointer), encoding="utf-8")
        return [f"{name}.qdrant.json"]

    @classmethod
    def load(cls, path: Path, dim: int) -> QdrantIndex:
        """Reconnect to the collection a generation recorded, checking it is whole."""
        try:
            pointer = json.loads(path.read_text(encoding="utf-8"))
            index = cls(dim, pointer["location"], pointer["collection"], int(pointer["rows"]))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorrupt(f"{path.name} is unreadable: {exc}") from exc
        if index.collection is not None:
            client = client_for(index.location)
            if not client.collection_exists(index.collection):
                raise IndexCorrupt(f"Qdrant collection {index.collection} of {path.name} is missing")
            count = client.count(index.collection, exact=True).count
            if count != len(index):
                raise IndexCorrupt(f"Qdrant collection {index.collection} holds {count} points, not {len(index)}")
        return index


def drop_generation(folder: Path) -> None:
    """Delete the collections a pruned generation folder points to."""
    for pointer in folder.glob("*.qdrant.json"):
        try:
            data = json.loads(pointer.read_text(encoding="utf-8"))
            if data.get("collection"):
                client_for(data["location"]).delete_collection(data["collection"])
        except (OSError, ValueError, MissingDependency, RuntimeError):
            continue  # best effort: an orphan collection wastes space, never correctness


BACKEND = Backend(
    "qdrant",
    files=("qdrant.json",),
    required=("qdrant.json",),
    empty=lambda dim, location: QdrantIndex(dim, location),
    load=lambda folder, name, dim, files: QdrantIndex.load(folder / f"{name}.qdrant.json", dim),
    drop=drop_generation,
)
