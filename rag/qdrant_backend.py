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


def _is_server(location: str) -> bool:
    """Whether ``location`` is a Qdrant server's URL (else a folder for local mode)."""
    return location.startswith(("http://", "https://"))


def client_for(location: str):
    """One client per location (local mode allows a single client per folder)."""
    try:
        from qdrant_client import QdrantClient
    except ImportError as exc:
        raise MissingDependency("pip install qdrant-client") from exc
    if not _is_server(location):
        location = str(Path(location).resolve())  # one client per folder, however it is written
    with _clients_lock:
        if location not in _clients:
            if _is_server(location):
                _clients[location] = QdrantClient(url=location, api_key=os.environ.get("QDRANT_API_KEY"), timeout=60)
            else:
                Path(location).mkdir(parents=True, exist_ok=True)
                _clients[location] = _Serialised(QdrantClient(path=location))
        return _clients[location]


class _Serialised:
    """A local-mode client whose calls run one at a time: local mode is not thread-safe, and
    a search that ran while a write changed the collection failed (a server orders them itself)."""

    def __init__(self, client) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def serialised(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)

        return serialised


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

    ``update`` writes nothing: the new generation reaches Qdrant when it is saved, which
    the engine does under the index folder's writer lock, from the newest generation. A
    draft the engine builds outside the lock and throws away (another writer saved
    first) has touched nothing; one that is searched before it is saved (a test, a
    script) is written then. A generation saved from an older one than the newest that
    shares its collection (the newest was damaged, and the engine fell back) is written
    into a new collection, a copy, so the newer one stays whole for whoever still reads it.

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
        #: An update not written yet: the index it was made from, its mask and its new vectors.
        self._pending: tuple[QdrantIndex, np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()

    @classmethod
    def create(cls, dim: int, location: str, vectors: np.ndarray) -> QdrantIndex:
        """A new collection holding ``vectors`` as rows 0..n-1 (its first generation)."""
        index = cls(dim, location).update(np.zeros(0, dtype=bool), vectors)
        index._write()
        return index

    def __len__(self) -> int:
        return self._size

    def _filter(self):
        return None if self.generation is None else _visible(self.generation)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        from qdrant_client import models

        self._write()
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
        self._write()
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
        if len(found) < len(unique):
            raise IndexCorrupt(
                f"Qdrant collection {self.collection} lacks {len(unique) - len(found)} points of generation "
                f"{self.generation}: a writer pruned it meanwhile, or the collection was changed outside this index"
            )
        return np.array([found[p] for p in points], dtype=np.float32)

    def update(self, mask: np.ndarray, vectors: np.ndarray, ann_threshold: int = 0) -> QdrantIndex:
        """The next generation: rows where ``mask`` holds, then ``vectors``; written to
        Qdrant when saved (or first searched): only the new points, and marks on the
        removed ones; the collection is not copied."""
        mask = np.asarray(mask, dtype=bool)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(mask) != len(self):
            raise ValueError(f"a mask of {len(mask)} rows for an index of {len(self)}")
        self._write()  # an unsaved update made from an unsaved one: the first is written first
        nxt = QdrantIndex(self.dim, self.location, self.collection, int(mask.sum()) + len(vectors))
        nxt._pending = (self, mask, vectors)
        return nxt

    def _write(self, folder: Path | None = None, name: str = "") -> None:
        """Write a pending update to Qdrant (``folder``: the generation folder it is saved
        in, whose siblings tell whether a newer generation shares the collection)."""
        with self._lock:
            if self._pending is None:
                return
            base, mask, vectors = self._pending
            # The generation is numbered as the folder it is saved in (never reused, even after
            # a save that died), else as the one after its base.
            number = folder.name.removeprefix("gen-") if folder is not None else ""
            generation = int(number) if number.isdigit() else (base.generation or 0) + 1
            try:
                if base.generation is None or base.collection is None or _newer(base, folder, name):
                    # The older layout, a first write, or a base older than the newest
                    # generation in the collection: a new collection, the kept rows copied.
                    kept = base.vectors(np.flatnonzero(mask)) if len(base) else np.zeros((0, self.dim), np.float32)
                    collection = _new_collection(self.location, self.dim)
                    if folder is not None:  # a writer that dies filling it leaves a folder whose pruning drops it
                        self._point_to(folder, name, collection, generation)
                    try:
                        self._fill(collection, generation, np.concatenate([kept, vectors]))
                    except BaseException:
                        _drop_collection(self.location, collection)  # no generation will ever read it
                        raise
                else:
                    self._write_after(base, mask, vectors, max(generation, base.generation + 1))
            except IndexCorrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - the client's errors (network, server) are many
                raise RuntimeError(f"Qdrant at {self.location}: {exc}") from exc
            self._pending = None

    def _point_to(self, folder: Path, name: str, collection: str, generation: int) -> None:
        """Record in ``folder``, before any point is written, that ``collection`` is its: the
        record a complete save replaces, and by which pruning a dead save's folder drops it."""
        record = {"kind": self.kind, "location": self.location, "collection": collection, "rows": 0}
        (folder / f"{name}.qdrant.json").write_text(
            json.dumps({**record, "generation": generation, "next_id": 0}), "utf-8"
        )

    def _fill(self, collection: str, generation: int, vectors: np.ndarray) -> None:
        _upsert(self.location, collection, vectors, 0, generation)
        self.collection, self.generation = collection, generation
        self.ids, self.next_id = np.arange(len(vectors), dtype=np.int64), len(vectors)

    def _write_after(self, base: QdrantIndex, mask: np.ndarray, vectors: np.ndarray, generation: int) -> None:
        """Points for the new rows and marks on the removed ones, as ``generation``, after
        deleting what a write that was never saved left (points and marks later than ``base``)."""
        from qdrant_client import models

        client, collection = client_for(self.location), base.collection
        later = models.Filter(must=[models.FieldCondition(key="born", range=models.Range(gt=base.generation))])
        client.delete(collection, points_selector=models.FilterSelector(filter=later), wait=True)
        marked = models.Filter(
            must=[models.FieldCondition(key="died", range=models.Range(gt=base.generation, lt=_ALIVE))]
        )
        client.set_payload(collection, payload={"died": _ALIVE}, points=marked, wait=True)
        _upsert(self.location, collection, vectors, base.next_id, generation)
        removed = base.ids[~mask].tolist()
        for lo in range(0, len(removed), _BATCH * 8):
            chunk = removed[lo : lo + _BATCH * 8]
            client.set_payload(collection, payload={"died": generation}, points=chunk, wait=True)
        new_ids = np.arange(base.next_id, base.next_id + len(vectors), dtype=np.int64)
        self.collection, self.generation = collection, generation
        self.ids, self.next_id = np.concatenate([base.ids[mask], new_ids]), base.next_id + len(vectors)

    def save(self, folder: Path, name: str) -> list[str]:
        self._write(folder, name)
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
                generation, next_id = int(pointer["generation"]), int(pointer["next_id"])
                index = cls(dim, pointer["location"], pointer["collection"], rows, generation, ids, next_id)
            else:
                index = cls(dim, pointer["location"], pointer["collection"], rows, None)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorrupt(f"{path.name} is unreadable: {exc}") from exc
        index.location = _local_store(path.parent, index.location)
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


def _new_collection(location: str, dim: int) -> str:
    from qdrant_client import models

    client = client_for(location)
    name = f"rag-{uuid.uuid4().hex[:16]}"
    client.create_collection(name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.DOT))
    if _is_server(location):  # local mode has no payload indexes
        for key in ("born", "died"):
            client.create_payload_index(name, key, models.PayloadSchemaType.INTEGER)
    return name


def _drop_collection(location: str, collection: str) -> None:
    """Delete ``collection``, best effort (the server may be what failed)."""
    try:
        client_for(location).delete_collection(collection)
    except Exception:  # noqa: BLE001, S110 - an orphan collection wastes space, never correctness
        pass


def _upsert(location: str, collection: str, vectors: np.ndarray, first_id: int, generation: int) -> None:
    """``vectors`` as points ``first_id``... born in ``generation``."""
    from qdrant_client import models

    alive = {"born": generation, "died": _ALIVE}
    for lo in range(0, len(vectors), _BATCH):
        chunk = vectors[lo : lo + _BATCH]
        ids = list(range(first_id + lo, first_id + lo + len(chunk)))
        batch = models.Batch(ids=ids, vectors=chunk.tolist(), payloads=[alive] * len(ids))
        client_for(location).upsert(collection, points=batch, wait=True)


def _newer(base: QdrantIndex, folder: Path | None, name: str) -> bool:
    """Whether a generation folder beside ``folder`` holds a later generation of ``base``'s
    collection. A folder numbered past the index's current generation is a save that never
    became current (a writer died before the manifest swap): its points are not a
    generation's, and the write from ``base`` deletes them."""
    if folder is None:
        return False
    from .store import current_generation

    current = current_generation(folder.parent)
    for pointer in folder.parent.glob(f"gen-*/{name}.qdrant.json"):
        number = pointer.parent.name.removeprefix("gen-")
        if pointer.parent == folder or (current is not None and number.isdigit() and int(number) > current):
            continue
        data = _read_pointer(pointer)
        if data is None:
            return True  # unreadable: it may be a newer generation, which must stay whole
        if data.get("collection") == base.collection and int(data.get("generation") or 0) > base.generation:
            return True
    return False


def drop_generation(folder: Path) -> None:
    """Release what a pruned generation folder held in Qdrant: a collection of the older
    layout, whole; in the shared one, the points no other generation folder beside it
    still reads (removed at or before the oldest of them), or the collection itself when
    none reads it any more. Nothing is dropped when a folder beside it cannot be read."""
    from qdrant_client import models

    for pointer in folder.glob("*.qdrant.json"):
        try:
            data = _read_pointer(pointer)
            if not data or not data.get("collection"):
                continue
            client = client_for(_local_store(folder, data["location"]))
            if "generation" not in data:
                client.delete_collection(data["collection"])
                continue
            readers = [_read_pointer(p) for p in folder.parent.glob(f"*/{pointer.name}") if p.parent != folder]
            if any(r is None for r in readers):
                continue
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
        except Exception:  # noqa: BLE001, S112 - best effort: an orphan point wastes space, never correctness
            continue


def _local_store(gen_dir: Path, recorded: str) -> str:
    """Where a generation folder's collections are: a server as recorded; in local mode, the
    index folder's own ``qdrant`` folder when there is one (the engine keeps them there),
    whatever path was recorded (a relative one, another machine's), else the recorded one."""
    own = gen_dir.parent / "qdrant"
    return recorded if _is_server(recorded) or not own.is_dir() else str(own)


def _read_pointer(path: Path) -> dict | None:
    """A generation folder's record of a vector set in Qdrant; None if it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


BACKEND = Backend(
    "qdrant",
    files=("qdrant.json", "qdrant.ids.npy"),
    required=("qdrant.json",),
    empty=lambda dim, location: QdrantIndex(dim, location),
    load=lambda folder, name, dim, files: QdrantIndex.load(folder / f"{name}.qdrant.json", dim),
    drop=drop_generation,
    single_process=lambda location: not _is_server(location),
)
