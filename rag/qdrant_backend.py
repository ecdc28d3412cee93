"""An optional VectorIndex on Qdrant, for vector sets larger than one machine should hold.

Selected with ``RAG_VECTOR_BACKEND=qdrant``. ``RAG_QDRANT_URL`` points at a server or
cluster (``QDRANT_API_KEY`` is read from the environment); without it, Qdrant's
local mode keeps the collections in ``<index>/qdrant`` (handy for tests and small
setups; one process at a time).

Each vector set is one collection that all its generations share, versioned like a
database's rows (multi-version concurrency control): a point carries the generation
that wrote it (``born``) and the one that removed it (``died``), and each generation
searches only its own points. A write adds the new points and marks the removed ones,
so it costs what changed, never a copy of the collection, and the generation before it
stays readable meanwhile. The index folder records each generation's number and its
row-to-point map in ``<set>.qdrant.json`` and ``<set>.qdrant.ids.npy``, so the
manifest swap stays the single commit point; the points a pruned generation removed are
deleted with it. Passages, documents, BM25 and the exact scoring stay in the engine;
Qdrant answers the nearest-neighbour searches.
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


#: ``died`` of a point no generation has removed yet: later than any generation.
_ALIVE = 2**62


def _visible(generation: int):
    """The points generation ``generation`` holds: written at or before it, removed after it."""
    from qdrant_client import models

    return models.Filter(
        must=[
            models.FieldCondition(key="born", range=models.Range(lte=generation)),
            models.FieldCondition(key="died", range=models.Range(gt=generation)),
        ]
    )


class QdrantIndex:
    """The rows of one generation of a vector set, in a Qdrant collection that every
    generation of that set shares.

    Each point is written once, by the generation that adds its row, with that
    generation's number as ``born``; a generation that removes a row marks its point's
    ``died`` instead of copying the rest, and a search sees only its own generation's
    points (``born <= g < died``). A write therefore costs what it adds and removes, not
    the size of the collection, and readers of the generation before it are untouched.
    ``ids`` maps each row to its point (increasing, as rows keep their order and new ones
    are appended); the generation folder keeps it with the collection's name, the
    generation's number and the next free point id. Points removed by a pruned generation
    are deleted with it.

    A collection written before this layout (one per generation, points ``0..n-1``, no
    ``born``) is still read; its first update copies it into the shared layout once.
    """

    kind = "qdrant"
    backend = "qdrant"

    def __init__(
        self,
        dim: int,
        location: str,
        collection: str | None = None,
        size: int = 0,
        generation: int | None = 0,
        ids: np.ndarray | None = None,
        next_id: int | None = None,
    ) -> None:
        self.dim = dim
        self.location = location
        self.collection = collection
        self._size = size
        #: None: a collection of the older layout, one per generation, without ``born``.
        self.generation = generation
        self.ids = np.arange(size, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
        self.next_id = int(self.ids[-1]) + 1 if next_id is None and len(self.ids) else int(next_id or 0)

    @classmethod
    def create(cls, dim: int, location: str, vectors: np.ndarray) -> QdrantIndex:
        """A new collection holding ``vectors`` as rows 0..n-1 (its first generation)."""
        return cls(dim, location).update(np.zeros(0, dtype=bool), vectors)

    def __len__(self) -> int:
        return self._size

    def _filter(self):
        return None if self.generation is None else _visible(self.generation)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from qdrant_client import models

        queries = np.asarray(queries, dtype=np.float32)
        k = min(k, len(self))
        if k <= 0 or self.collection is None:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        wanted = self._filter()
        requests = [models.QueryRequest(query=q.tolist(), limit=k, filter=wanted) for q in queries]
        responses = client_for(self.location).query_batch_points(self.collection, requests=requests)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        for i, response in enumerate(responses):
            for j, point in enumerate(response.points[:k]):
                scores[i, j], rows[i, j] = point.score, self._row(int(point.id))
        return scores, rows

    def _row(self, point: int) -> int:
        row = int(np.searchsorted(self.ids, point))
        if row >= len(self.ids) or self.ids[row] != point:
            raise IndexCorrupt(f"Qdrant collection {self.collection} returned point {point}, not of this generation")
        return row

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        points = [int(self.ids[r]) for r in np.asarray(rows, dtype=np.int64)]
        if not points:
            return np.zeros((0, self.dim), dtype=np.float32)
        found: dict[int, list[float]] = {}
        unique = sorted(set(points))
        for lo in range(0, len(unique), _BATCH):
            records = client_for(self.location).retrieve(
                self.collection, ids=unique[lo : lo + _BATCH], with_vectors=True
            )
            found.update({int(r.id): r.vector for r in records})
        return np.array([found[p] for p in points], dtype=np.float32)

    def update(self, mask: np.ndarray, vectors: np.ndarray, ann_threshold: int = 0) -> QdrantIndex:
        """The next generation: rows where ``mask`` holds, then ``vectors``. Only the new
        points are written and only the removed ones marked; the collection is not copied.

        The engine writes one generation at a time from the newest (under the index
        folder's writer lock), so points of a later generation than this one can only be
        a failed write's leftovers: they are deleted, and its removal marks undone, first.
        """
        from qdrant_client import models

        mask = np.asarray(mask, dtype=bool)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(mask) != len(self):
            raise ValueError(f"a mask of {len(mask)} rows for an index of {len(self)}")
        if self.generation is None:  # the older layout: copied once into a shared collection
            kept = self.vectors(np.flatnonzero(mask)) if len(self) else np.zeros((0, self.dim), np.float32)
            return QdrantIndex(self.dim, self.location).update(np.zeros(0, dtype=bool), np.concatenate([kept, vectors]))
        client = client_for(self.location)
        collection = self.collection or self._new_collection()
        generation = self.generation + 1
        if self.collection is not None:
            later = models.Filter(must=[models.FieldCondition(key="born", range=models.Range(gt=self.generation))])
            client.delete(collection, points_selector=models.FilterSelector(filter=later), wait=True)
            marked = models.Filter(
                must=[models.FieldCondition(key="died", range=models.Range(gt=self.generation, lt=_ALIVE))]
            )
            client.set_payload(collection, payload={"died": _ALIVE}, points=marked, wait=True)
        new_ids = np.arange(self.next_id, self.next_id + len(vectors), dtype=np.int64)
        alive = {"born": generation, "died": _ALIVE}
        for lo in range(0, len(vectors), _BATCH):
            chunk = vectors[lo : lo + _BATCH]
            ids = new_ids[lo : lo + _BATCH].tolist()
            batch = models.Batch(ids=ids, vectors=chunk.tolist(), payloads=[alive] * len(ids))
            client.upsert(collection, points=batch, wait=True)
        removed = self.ids[~mask].tolist()
        for lo in range(0, len(removed), _BATCH * 8):
            client.set_payload(
                collection, payload={"died": generation}, points=removed[lo : lo + _BATCH * 8], wait=True
            )
        ids = np.concatenate([self.ids[mask], new_ids])
        next_id = self.next_id + len(new_ids)
        return QdrantIndex(self.dim, self.location, collection, len(ids), generation, ids, next_id)

    def _new_collection(self) -> str:
        from qdrant_client import models

        client = client_for(self.location)
        name = f"rag-{uuid.uuid4().hex[:16]}"
        client.create_collection(name, vectors_config=models.VectorParams(size=self.dim, distance=models.Distance.DOT))
        if self.location.startswith(("http://", "https://")):  # local mode has no payload indexes
            for key in ("born", "died"):
                client.create_payload_index(name, key, models.PayloadSchemaType.INTEGER)
        return name

    def save(self, folder: Path, name: str) -> list[str]:
        pointer = {"kind": self.kind, "location": self.location, "collection": self.collection, "rows": len(self)}
        if self.generation is None:
            (folder / f"{name}.qdrant.json").write_text(json.dumps(pointer), encoding="utf-8")
            return [f"{name}.qdrant.json"]
        pointer.update(generation=self.generation, next_id=self.next_id)
        np.save(folder / f"{name}.qdrant.ids.npy", self.ids)
        (folder / f"{name}.qdrant.json").write_text(json.dumps(pointer), encoding="utf-8")
        return [f"{name}.qdrant.json", f"{name}.qdrant.ids.npy"]

    @classmethod
    def load(cls, path: Path, dim: int) -> QdrantIndex:
        """Reconnect to the collection a generation recorded, checking it holds that generation whole."""
        try:
            pointer = json.loads(path.read_text(encoding="utf-8"))
            rows = int(pointer["rows"])
            if "generation" in pointer:
                ids = np.load(path.with_name(path.name.replace(".qdrant.json", ".qdrant.ids.npy")))
                if ids.shape != (rows,) or (rows and np.any(np.diff(ids) <= 0)):
                    raise ValueError("its point ids do not match its rows")
                index = cls(
                    dim,
                    pointer["location"],
                    pointer["collection"],
                    rows,
                    int(pointer["generation"]),
                    ids,
                    int(pointer["next_id"]),
                )
            else:
                index = cls(dim, pointer["location"], pointer["collection"], rows, None)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorrupt(f"{path.name} is unreadable: {exc}") from exc
        if index.collection is not None:
            client = client_for(index.location)
            if not client.collection_exists(index.collection):
                raise IndexCorrupt(f"Qdrant collection {index.collection} of {path.name} is missing")
            count = client.count(index.collection, count_filter=index._filter(), exact=True).count
            if count != len(index):
                raise IndexCorrupt(
                    f"Qdrant collection {index.collection} holds {count} points of this generation, not {len(index)}"
                )
        return index


def drop_generation(folder: Path) -> None:
    """Release what a pruned generation folder held in Qdrant: a collection of the older
    layout, whole; in the shared one, the points no other generation folder beside it
    still reads (removed at or before the oldest of them), or the collection itself when
    none reads it any more."""
    from qdrant_client import models

    for pointer in folder.glob("*.qdrant.json"):
        try:
            data = json.loads(pointer.read_text(encoding="utf-8"))
            if not data.get("collection"):
                continue
            client = client_for(data["location"])
            if "generation" not in data:
                client.delete_collection(data["collection"])
                continue
            readers = [_read_pointer(p) for p in folder.parent.glob(f"*/{pointer.name}") if p.parent != folder]
            oldest = min(
                (
                    int(r["generation"])
                    for r in readers
                    if r.get("collection") == data["collection"] and "generation" in r
                ),
                default=None,
            )
            if oldest is None:
                client.delete_collection(data["collection"])
                continue
            dead = models.Filter(must=[models.FieldCondition(key="died", range=models.Range(lte=oldest))])
            client.delete(data["collection"], points_selector=models.FilterSelector(filter=dead), wait=True)
        except (OSError, ValueError, KeyError, MissingDependency, RuntimeError):
            continue  # best effort: an orphan point wastes space, never correctness


def _read_pointer(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


BACKEND = Backend(
    "qdrant",
    files=("qdrant.json", "qdrant.ids.npy"),
    required=("qdrant.json",),
    empty=lambda dim, location: QdrantIndex(dim, location),
    load=lambda folder, name, dim, files: QdrantIndex.load(folder / f"{name}.qdrant.json", dim),
    drop=drop_generation,
    single_process=lambda location: not location.startswith(("http://", "https://")),
)
