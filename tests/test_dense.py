"""The VectorIndex contract, run against every backend: exact FAISS, approximate FAISS (IVF-PQ), Qdrant."""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rag import backends, dense

DIM = 48
QDRANT_DIR = tempfile.mkdtemp(prefix="rag-qdrant-")  # Qdrant's local mode: the same API as a server
# Removed when the run ends, whether or not a test of this module ran (a run used to leave one in /tmp).
atexit.register(shutil.rmtree, QDRANT_DIR, ignore_errors=True)


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters, like sentence embeddings (random ones would be unrealistically hard)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(4, n // 50), DIM))
    x = centres[rng.integers(0, len(centres), size=n)] + 0.35 * rng.normal(size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _near(vectors: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """Queries near the stored rows (as questions are near their answers), not equal to them."""
    rng = np.random.default_rng(seed)
    x = vectors[rng.integers(0, len(vectors), size=n)] + 0.3 * rng.normal(size=(n, DIM)) / np.sqrt(DIM)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _make(backend: str, vectors: np.ndarray) -> dense.VectorIndex:
    if backend == "flat":
        return dense.build(vectors, DIM, ann_threshold=10**9)
    if backend == "ivf":
        return dense.build(vectors, DIM, ann_threshold=1)
    if backend == "qdrant":
        from rag.qdrant_backend import QdrantIndex

        return QdrantIndex.create(DIM, QDRANT_DIR, vectors)
    raise ValueError(backend)


def _threshold(backend: str) -> int:
    return 10**9 if backend == "flat" else 1


# Qdrant's local mode searches by brute force with its filters in Python: its contract runs
# take seconds each, so they run with the slow tests (the in-place tests below stay fast).
BACKENDS = ["flat", "ivf", pytest.param("qdrant", marks=pytest.mark.slow)]


def _recall(index: dense.VectorIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :k]
    _, found = index.search(queries, k)
    return float(np.mean([len(set(e) & set(f)) / k for e, f in zip(exact, found, strict=True)]))


def test_recall_counts_ties_as_hits():
    base = _clustered(100)
    vectors = np.concatenate([base, base[:1]])  # row 100 is row 0 again
    queries = base[:1]
    kth = np.sort(queries @ vectors.T)[:, ::-1][:, 1]  # the 2nd best exact score
    assert dense.recall_at(vectors, queries, kth, np.array([[100, 0]])) == 1.0
    assert dense.recall_at(vectors, queries, kth, np.array([[100, 5]])) == 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_search_finds_the_nearest_rows(backend: str):
    vectors = _clustered(3000)
    index = _make(backend, vectors)
    assert len(index) == 3000 and index.dim == DIM
    queries = _near(vectors, 200)
    assert _recall(index, vectors, queries) >= (0.95 if backend == "ivf" else 1.0)
    scores, rows = index.search(vectors[:5], 1)
    assert rows[:, 0].tolist() == [0, 1, 2, 3, 4]  # each row finds itself
    assert np.allclose(scores[:, 0], 1.0, atol=0.02)
    scores, rows = index.search(queries[:3], 7)
    assert scores.shape == rows.shape == (3, 7) and np.all(np.diff(scores, axis=1) <= 1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vectors_returns_the_exact_rows(backend: str):
    vectors = _clustered(2000)
    index = _make(backend, vectors)
    rows = np.array([0, 1999, 7, 7])
    assert np.array_equal(index.vectors(rows), vectors[rows])  # exact even when search is approximate
    assert index.vectors(np.array([], dtype=np.int64)).shape == (0, DIM)


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_is_copy_on_write(backend: str):
    vectors = _clustered(2000)
    index = _make(backend, vectors)
    mask = np.arange(2000) % 3 != 0
    extra = _clustered(500, seed=2)
    updated = index.update(mask, extra, _threshold(backend))
    expected = np.concatenate([vectors[mask], extra])
    assert len(updated) == len(expected) and len(index) == 2000  # the old index is untouched
    assert np.array_equal(updated.vectors(np.arange(len(expected))), expected)
    assert np.array_equal(index.vectors(np.arange(2000)), vectors)
    _, rows = updated.search(extra[:3], 1)
    assert rows[:, 0].tolist() == [len(expected) - 500, len(expected) - 499, len(expected) - 498]


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_and_load_round_trip_without_rebuilding(backend: str, tmp_path: Path):
    vectors = _clustered(2500)
    index = _make(backend, vectors)
    files = index.save(tmp_path, "windows")
    assert all((tmp_path / f).exists() for f in files)
    loaded = backends.get(index.backend).load(tmp_path, "windows", DIM, set(files))
    assert type(loaded) is type(index) and len(loaded) == len(index)
    queries = _near(vectors, 50, seed=3)
    assert np.array_equal(index.search(queries, 10)[1], loaded.search(queries, 10)[1])
    assert np.array_equal(loaded.vectors(np.arange(10)), vectors[:10])
    if backend != "qdrant":
        assert isinstance(loaded._x, np.memmap)  # rows are mapped from disk, not read and rebuilt


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_index_loaded_from_disk_takes_updates(backend: str, tmp_path: Path):
    """A loaded index (memory-mapped rows and codes) updates like the one that was saved."""
    vectors = _clustered(2500)
    index = _make(backend, vectors)
    loaded = backends.get(index.backend).load(tmp_path, "windows", DIM, set(index.save(tmp_path, "windows")))
    mask = np.arange(2500) % 4 != 0
    extra = _clustered(300, seed=5)
    from_disk = loaded.update(mask, extra, _threshold(backend))
    in_memory = index.update(mask, extra, _threshold(backend))
    queries = _near(np.concatenate([vectors[mask], extra]), 50, seed=6)
    assert np.array_equal(from_disk.search(queries, 10)[1], in_memory.search(queries, 10)[1])
    assert len(loaded) == 2500  # the loaded one is untouched


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_and_small_indexes(backend: str):
    empty = backends.get("qdrant" if backend == "qdrant" else "faiss").empty(DIM, QDRANT_DIR)
    scores, rows = empty.search(_clustered(2), 5)
    assert scores.shape == rows.shape == (2, 0)
    grown = empty.update(np.zeros(0, dtype=bool), _clustered(3), _threshold(backend))
    scores, rows = grown.search(_clustered(2), 10)  # k larger than the index
    assert rows.shape == (2, 3) and sorted(rows[0].tolist()) == [0, 1, 2]


def test_size_chooses_the_index_kind():
    small, large = _clustered(999), _clustered(1000)
    assert isinstance(dense.build(small, DIM, ann_threshold=1000), dense.FlatIndex)
    ivf = dense.build(large, DIM, ann_threshold=1000)
    assert isinstance(ivf, dense.IVFIndex)
    assert ivf.recall >= dense.TARGET_RECALL and 1 <= ivf.nprobe <= ivf._index.nlist
    # Shrinking below the threshold goes back to exact search.
    assert isinstance(ivf.update(np.arange(1000) < 500, _clustered(0), 1000), dense.FlatIndex)


def test_a_saved_approximate_index_reads_its_rows_from_disk_exactly(tmp_path: Path):
    """Product-quantised codes choose the candidates; the rows they are re-scored with are
    the exact float32 ones, read from the saved file (not mapped), in any order, and still
    readable after the file is deleted (a generation pruned while a reader holds it)."""
    vectors = _clustered(3000)
    built = dense.build(vectors, DIM, ann_threshold=1000)
    assert built.kind == "ivf-pq" and built._index.code_size <= dense.PQ_BYTES < vectors.shape[1] * 4
    files = set(built.save(tmp_path, "rows"))
    loaded = dense.load(tmp_path, "rows", DIM, files)
    assert isinstance(loaded._rows, dense.RowFile)
    asked = np.array([2999, 5, 6, 7, 5, 0, 1500])
    assert np.array_equal(loaded.vectors(asked), vectors[asked])
    queries = _near(vectors, 50)
    scores, rows = loaded.search(queries, 10)
    assert np.allclose(scores, np.einsum("qkd,qd->qk", vectors[rows], queries), atol=1e-6)  # exact scores
    assert _recall(loaded, vectors, queries) >= 0.95
    for name in files:
        (tmp_path / name).unlink()
    assert np.array_equal(loaded.vectors(asked), vectors[asked])


@pytest.mark.slow  # builds a 384-d product-quantised index: about 20 s
def test_a_deep_approximate_search_keeps_its_recall_and_a_search_of_every_row_reads_a_bounded_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Twice the rows asked for are re-scored: the top 300 (the engine's sentence search)
    find .78 or more of the exact ones here, .69 without that margin. A search for every
    row (a search filtered by source) re-scores at most RESCORE_AT_MOST and orders the rest
    by code."""
    dim = 384  # the bundled model's: 48 sub-vectors of 8 dimensions (at 48 they are scalars)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(120, dim))
    deep = centres[rng.integers(0, len(centres), size=6000)] + 0.35 * rng.normal(size=(6000, dim))
    deep = (deep / np.linalg.norm(deep, axis=1, keepdims=True)).astype(np.float32)
    asked = deep[rng.integers(0, 6000, size=50)] + 0.3 * rng.normal(size=(50, dim)) / np.sqrt(dim)
    asked = (asked / np.linalg.norm(asked, axis=1, keepdims=True)).astype(np.float32)
    assert _recall(dense.build(deep, dim, ann_threshold=1000), deep, asked, k=300) >= 0.78

    vectors = _clustered(6000)
    queries = _near(vectors, 50)
    built = dense.build(vectors, DIM, ann_threshold=1000)
    loaded = dense.load(tmp_path, "rows", DIM, set(built.save(tmp_path, "rows")))
    monkeypatch.setattr(dense, "RESCORE_AT_MOST", 500)  # fewer than the rows of the lists probed
    read: list[int] = []
    real = loaded._rows.read
    monkeypatch.setattr(loaded._rows, "read", lambda rows: read.append(len(rows)) or real(rows))
    scores, rows = loaded.search(queries[:1], len(loaded))
    found = rows[0][rows[0] >= 0]
    assert sum(read) <= dense.RESCORE_AT_MOST < len(found) and len(set(found.tolist())) == len(found)
    assert np.all(np.diff(scores[0][: len(found)]) <= 1e-6)


def test_too_few_sub_vectors_fall_back_to_8_bit_codes_and_are_reused_as_such():
    dim = 12  # at most 12 sub-vectors of one dimension: too few for product quantisation
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    built = dense.build(vectors, dim, ann_threshold=1000)
    assert built.kind == "ivf-sq8"
    grown = built.update(np.ones(2000, dtype=bool), vectors[:10], ann_threshold=1000)
    assert grown.kind == "ivf-sq8" and len(grown) == 2010
    scores, rows = grown.search(vectors[10:13], 5)  # rows 0-9 are there twice; these once
    assert rows[:, 0].tolist() == [10, 11, 12] and np.all(np.diff(scores, axis=1) <= 1e-6)


def test_wrong_dimension_is_refused():
    with pytest.raises(ValueError, match="dimension"):
        dense.FlatIndex(DIM).update(np.zeros(0, dtype=bool), np.zeros((2, DIM + 1), np.float32))


def test_engine_switches_to_the_approximate_index_and_reopens_it(tmp_path: Path):
    from rag import Engine, Settings
    from tests.conftest import FakeEmbedder

    animals = ["otter", "heron", "badger", "lynx", "marten", "stoat", "plover", "curlew", "osprey", "vole"]
    lines = [
        f"Survey note {i}: the {animals[i % 10]} count at pond {i} was {i * 7} on day {i % 31}." for i in range(1500)
    ]
    (tmp_path / "survey.txt").write_text("\n\n".join(lines), encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", min_score=0.1, ann_threshold=1000)
    engine = Engine.open(settings=settings, embedder=FakeEmbedder())
    engine.add([tmp_path / "survey.txt"])
    reopened = Engine.open(settings=settings, embedder=FakeEmbedder())
    snap = reopened._current().snapshot
    assert isinstance(snap.windows.index, dense.IVFIndex) and isinstance(snap.sentences.index, dense.IVFIndex)
    answer = reopened.ask("pond 1234 count")
    assert answer.excerpts and "pond 1234 " in answer.excerpts[0].text


def _points(index, **died) -> int:
    """Points in ``index``'s collection (``died``: a Range on when they were removed)."""
    from qdrant_client import models

    from rag.qdrant_backend import client_for

    wanted = models.Filter(must=[models.FieldCondition(key="died", range=models.Range(**died))]) if died else None
    return client_for(index.location).count(index.collection, count_filter=wanted, exact=True).count


def test_a_qdrant_write_costs_what_it_changes_and_older_generations_still_read_their_rows(tmp_path: Path):
    """One collection serves every generation of a vector set: an update writes nothing
    until it is saved, then only its new points and marks on the removed ones; the
    generation before it still finds, and reads back, exactly its own rows."""
    from rag.qdrant_backend import QdrantIndex

    vectors = _clustered(2000)
    first = QdrantIndex.create(DIM, QDRANT_DIR, vectors)
    mask = np.ones(2000, dtype=bool)
    mask[100:120] = False  # one document's rows removed ...
    extra = _clustered(30, seed=9)  # ... and another's added
    second = first.update(mask, extra)
    assert _points(first) == 2000 and _points(first, lt=2**62) == 0  # a draft writes nothing
    (tmp_path / "gen-000002").mkdir()
    second.save(tmp_path / "gen-000002", "windows")
    assert second.collection == first.collection and second.generation == first.generation + 1
    assert _points(second) == 2030  # 30 written; nothing copied
    assert _points(second, gte=second.generation, lte=second.generation) == 20  # the removed, marked
    assert np.array_equal(first.search(vectors[100:105], 1)[1][:, 0], np.arange(100, 105))
    assert np.array_equal(second.search(extra[:3], 1)[1][:, 0], np.arange(1980, 1983))
    _, rows = second.search(vectors[100:120], 5)
    assert np.all(rows < len(second)) and np.array_equal(
        second.vectors(rows[:, 0]), np.concatenate([vectors[mask], extra])[rows[:, 0]]
    )


def test_a_qdrant_generation_saved_from_an_older_one_than_the_newest_leaves_the_newest_whole(tmp_path: Path):
    """When the newest generation could not be read and the engine wrote from the one
    before it, the write goes to a new collection: the newest keeps its own points for
    whoever still reads it, or for when it reads again."""
    from rag.qdrant_backend import QdrantIndex

    vectors, a, b = _clustered(400, seed=11), _clustered(20, seed=12), _clustered(20, seed=13)
    saved = {}
    for n in (1, 2, 3):
        (tmp_path / f"gen-00000{n}").mkdir()
    first = QdrantIndex.create(DIM, QDRANT_DIR, vectors)
    first.save(tmp_path / "gen-000001", "windows")
    newest = first.update(np.arange(400) >= 50, a)
    newest.save(tmp_path / "gen-000002", "windows")
    saved[2] = np.concatenate([vectors[50:], a])
    fallback = first.update(np.ones(400, dtype=bool), b)  # written from generation 1
    fallback.save(tmp_path / "gen-000003", "windows")
    assert fallback.collection != first.collection
    assert np.array_equal(fallback.vectors(np.arange(420)), np.concatenate([vectors, b]))
    reread = QdrantIndex.load(tmp_path / "gen-000002" / "windows.qdrant.json", DIM)
    assert np.array_equal(reread.vectors(np.arange(len(reread))), saved[2])
    assert np.array_equal(reread.search(a[:3], 1)[1][:, 0], np.arange(350, 353))


def test_an_engine_on_qdrant_merging_after_another_writer_saved_loses_and_mixes_nothing(tmp_path: Path, monkeypatch):
    """An upload is split and embedded outside the writer lock; another writer saves
    meanwhile (here: after this upload is embedded, before its draft is merged). Nothing
    of the first draft reaches Qdrant, so the other writer's generation stays whole, and
    the merge redone on it is right."""
    import shutil

    from rag import Engine, Settings
    from rag.index import VectorSet
    from tests.conftest import SEEDS, FakeEmbedder

    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("000_40cf413a4e758f71.txt", "001_6ca5efe176715221.txt", "002_e200820f57e197db.txt"):
        shutil.copy(SEEDS / name, docs / name)
    settings = Settings(index_dir=tmp_path / "index", min_score=0.2, vector_backend="qdrant")
    first = Engine.open(settings=settings, embedder=FakeEmbedder())
    first.add([docs / "000_40cf413a4e758f71.txt"])
    other = Engine.open(settings=settings, embedder=FakeEmbedder())  # another writer on the same folder
    merged, calls = VectorSet.merged, []

    def the_other_writer_saves_first(self, *args, **kwargs):  # after this upload's embedding
        if not calls:
            calls.append(1)
            other.add([docs / "001_6ca5efe176715221.txt"])
        return merged(self, *args, **kwargs)

    monkeypatch.setattr(VectorSet, "merged", the_other_writer_saves_first)
    first.add([docs / "002_e200820f57e197db.txt"])
    monkeypatch.undo()
    faiss = Engine.open(settings=Settings(index_dir=tmp_path / "faiss", min_score=0.2), embedder=FakeEmbedder())
    for name in ("000_40cf413a4e758f71.txt", "001_6ca5efe176715221.txt", "002_e200820f57e197db.txt"):
        faiss.add([docs / name])
    reopened = Engine.open(settings=settings, embedder=FakeEmbedder())
    assert [d.id for d in reopened.documents()] == [d.id for d in faiss.documents()]
    for sets in ("windows", "sentences"):
        ours = getattr(reopened._current().snapshot, sets)
        theirs = getattr(faiss._current().snapshot, sets)
        assert np.array_equal(ours.vectors(np.arange(len(ours))), theirs.vectors(np.arange(len(theirs))))
    questions = ("Who leads the Hamas delegation to Damascus?", "Who is Maher al-Assad?")
    assert all(other.ask(q).excerpts for q in questions)  # still on its own generation, which is whole
    other.sync(force=True)
    for question in questions:
        assert reopened.ask(question).to_dict() == faiss.ask(question).to_dict()
        assert other.ask(question).to_dict() == faiss.ask(question).to_dict()


def test_a_failed_qdrant_write_leaves_nothing_the_next_one_sees(tmp_path: Path):
    """A write that never became a generation (the process died before the manifest swap)
    left points and removal marks: the next write from the last saved generation deletes
    the points and undoes the marks before writing its own."""
    from rag.qdrant_backend import QdrantIndex

    vectors = _clustered(500, seed=4)
    base = QdrantIndex.create(DIM, QDRANT_DIR, vectors)
    drop_half = np.arange(500) % 2 == 0
    from rag import store

    (tmp_path / "manifest.json").write_text(json.dumps({"format": store.FORMAT, "generation": 1}))
    (tmp_path / "gen-000001").mkdir()
    base.save(tmp_path / "gen-000001", "windows")
    lost = base.update(drop_half, _clustered(40, seed=5))
    (tmp_path / "gen-000002").mkdir()
    lost.save(tmp_path / "gen-000002", "windows")  # written, but the writer died before the manifest swap
    assert _points(base) == 540
    retried = base.update(np.ones(500, dtype=bool), _clustered(7, seed=6))
    (tmp_path / "gen-000003").mkdir()
    retried.save(tmp_path / "gen-000003", "windows")
    assert retried.collection == base.collection  # written in place: the lost write was never current
    assert _points(retried) == 507 and _points(retried, lt=2**62) == 0
    assert len(retried) == 507
    assert np.array_equal(retried.search(vectors[1:6], 1)[1][:, 0], np.arange(1, 6))  # odd rows were never removed


def test_a_first_qdrant_write_that_fails_leaves_no_collection_behind(tmp_path: Path, monkeypatch):
    """A collection made for a write that then fails (the server went away while it was
    filled) is never a generation's: it is dropped, not left to fill the server."""
    from rag import qdrant_backend
    from rag.qdrant_backend import QdrantIndex, client_for

    def unreachable(*args, **kwargs):
        raise ConnectionError("the server went away")

    location = str(tmp_path / "qdrant")
    monkeypatch.setattr(qdrant_backend, "_upsert", unreachable)
    draft = QdrantIndex(DIM, location).update(np.zeros(0, dtype=bool), _clustered(50))
    (tmp_path / "gen-000001").mkdir()
    with pytest.raises(RuntimeError, match="went away"):
        draft.save(tmp_path / "gen-000001", "windows")
    assert client_for(location).get_collections().collections == []


def test_the_collection_of_a_writer_that_died_filling_it_is_dropped_by_the_next_save(tmp_path: Path):
    """A process killed while it filled a new collection leaves a generation folder that
    names it; the next save prunes that folder and drops the collection with it."""
    index_dir = tmp_path / "index"
    child = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from rag import Engine, Settings, qdrant_backend
        from tests.conftest import SEEDS, FakeEmbedder
        qdrant_backend._upsert = lambda *args, **kwargs: os._exit(9)  # killed mid-write
        settings = Settings(index_dir={str(index_dir)!r}, vector_backend="qdrant")
        Engine.open(settings=settings, embedder=FakeEmbedder()).add([SEEDS])
        """
    )
    died = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert died.returncode == 9, died.stderr
    from rag import Engine, Settings
    from rag.qdrant_backend import client_for
    from tests.conftest import SEEDS, FakeEmbedder

    client = client_for(str(index_dir / "qdrant"))
    assert len(client.get_collections().collections) == 1  # made, and named in the dead save's folder
    settings = Settings(index_dir=index_dir, vector_backend="qdrant")
    Engine.open(settings=settings, embedder=FakeEmbedder()).add([SEEDS])
    assert len(client.get_collections().collections) == 2  # one per vector set; the dead one dropped


def test_an_index_of_the_older_qdrant_layout_is_read_and_moved_on_its_first_update(tmp_path: Path):
    """One collection per generation, points 0..n-1, no generation marks: still read, and
    copied once into the shared layout by the first write."""
    import json

    from qdrant_client import models

    from rag.qdrant_backend import QdrantIndex, client_for

    vectors = _clustered(300, seed=8)
    client = client_for(QDRANT_DIR)
    client.create_collection("rag-older", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    client.upsert("rag-older", points=models.Batch(ids=list(range(300)), vectors=vectors.tolist()), wait=True)
    pointer = {"kind": "qdrant", "location": QDRANT_DIR, "collection": "rag-older", "rows": 300}
    (tmp_path / "windows.qdrant.json").write_text(json.dumps(pointer))
    older = QdrantIndex.load(tmp_path / "windows.qdrant.json", DIM)
    assert older.generation is None
    assert np.array_equal(older.search(vectors[:4], 1)[1][:, 0], np.arange(4))
    moved = older.update(np.arange(300) >= 10, _clustered(5, seed=9))
    assert np.array_equal(moved.vectors(np.arange(290)), vectors[10:])  # written when first read
    assert moved.collection != "rag-older" and moved.generation == 1 and len(moved) == 295


def test_engine_on_qdrant_answers_reopens_and_writes_in_place(tmp_path: Path):
    from rag import Engine, Settings
    from rag.qdrant_backend import QdrantIndex, client_for
    from tests.conftest import SEEDS, FakeEmbedder

    settings = Settings(index_dir=tmp_path / "index", min_score=0.2, vector_backend="qdrant")
    engine = Engine.open(settings=settings, embedder=FakeEmbedder())
    engine.add([SEEDS])
    faiss_engine = Engine.open(settings=Settings(index_dir=tmp_path / "faiss", min_score=0.2), embedder=FakeEmbedder())
    faiss_engine.add([SEEDS])
    question = "Who leads the Hamas delegation to Damascus?"
    assert engine.ask(question).to_dict() == faiss_engine.ask(question).to_dict()  # same answers as FAISS

    reopened = Engine.open(settings=settings, embedder=FakeEmbedder())
    assert isinstance(reopened._current().snapshot.windows.index, QdrantIndex)
    assert reopened.ask(question).to_dict() == faiss_engine.ask(question).to_dict()
    client = client_for(str(tmp_path / "index" / "qdrant"))
    collections = {c.name for c in client.get_collections().collections}
    assert len(collections) == 2  # one per vector set
    removed = ["000_40cf413a4e758f71.txt", "001_6ca5efe176715221.txt", "002_e200820f57e197db.txt"]
    for doc in removed:
        reopened.remove(doc)
        faiss_engine.remove(doc)
    assert {c.name for c in client.get_collections().collections} == collections  # written in place
    for vector_set in (reopened._current().snapshot.windows, reopened._current().snapshot.sentences):
        index = vector_set.index
        assert index.generation == 4
        # Two generations are kept (current + previous): of the points removed, those the
        # previous one still reads are kept (removed by the current one), the rest deleted.
        assert _points(index, lte=3) == 0 and _points(index, gte=4, lte=4) > 0
        assert _points(index) == len(index) + _points(index, gte=4, lte=4)
    later = "Who is Maher al-Assad?"
    assert reopened.ask(later).to_dict() == faiss_engine.ask(later).to_dict()
    assert (
        Engine.open(settings=settings, embedder=FakeEmbedder()).ask(later).to_dict()
        == faiss_engine.ask(later).to_dict()
    )


def test_a_server_on_qdrant_local_mode_adds_uploads_itself(tmp_path: Path):
    """Local mode lets one process at a time open its folder, so an upload a server would
    hand to a child process (``add_isolated``) is added by the server itself; with a
    Qdrant URL it still goes to the child."""
    from rag import Engine, Settings
    from tests.conftest import SEEDS, FakeEmbedder

    settings = Settings(index_dir=tmp_path / "index", min_score=0.2, vector_backend="qdrant")
    engine = Engine.open(settings=settings, embedder=FakeEmbedder())
    report = engine.add_isolated([SEEDS / "000_40cf413a4e758f71.txt"])
    assert report.added == ["000_40cf413a4e758f71.txt"] and len(engine.documents()) == 1
    assert backends.get("qdrant").single_process(str(tmp_path / "index" / "qdrant"))
    assert not backends.get("qdrant").single_process("http://qdrant.internal:6333")
    assert not backends.get("faiss").single_process(str(tmp_path / "index"))


def test_a_backend_is_one_module_named_in_the_settings(tmp_path: Path):
    """tests/npz_backend.py, a backend defined outside rag/, serves an engine end to end; the
    manifest records it, so the index is read back by it (while it is configured: see the
    next test); answers are those of FAISS."""
    import json

    from rag import Engine, Settings
    from tests.conftest import SEEDS, FakeEmbedder

    settings = Settings(index_dir=tmp_path / "npz", min_score=0.2, vector_backend="tests.npz_backend")
    engine = Engine.open(settings=settings, embedder=FakeEmbedder())
    engine.add([SEEDS])
    faiss_engine = Engine.open(settings=Settings(index_dir=tmp_path / "faiss", min_score=0.2), embedder=FakeEmbedder())
    faiss_engine.add([SEEDS])
    manifest = json.loads((tmp_path / "npz" / "manifest.json").read_text())
    assert manifest["backends"] == {"windows": "tests.npz_backend", "sentences": "tests.npz_backend"}
    assert {"windows.rows.npz", "sentences.rows.npz"} <= set(manifest["files"])
    assert not any(name.endswith(".vec.npy") for name in manifest["files"])
    reopened = Engine.open(settings=settings, embedder=FakeEmbedder())
    assert reopened._current().snapshot.windows.index.kind == "npz"  # read back by the backend that wrote it
    question = "Who leads the Hamas delegation to Damascus?"
    assert reopened.ask(question).to_dict() == faiss_engine.ask(question).to_dict()


def test_an_unknown_backend_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown vector backend 'milvus'"):
        backends.get("milvus")
    with pytest.raises(ValueError, match="does not define BACKEND"):
        backends.get("tests.conftest")


def test_a_manifest_never_chooses_code_to_run_or_a_server_to_reach(tmp_path: Path, monkeypatch):
    """A backend is code, and may reach other machines: one named by an index folder's
    manifest but not configured (a planted module, or Qdrant in a FAISS deployment) is
    refused, and the module is never imported."""
    import json

    from rag import BackendMismatch, Engine, Settings
    from tests.conftest import SEEDS, FakeEmbedder

    planted = tmp_path / "planted"
    (planted / "plantedpkg").mkdir(parents=True)
    ran = tmp_path / "it-ran"
    (planted / "plantedpkg" / "__init__.py").write_text("")
    (planted / "plantedpkg" / "backend.py").write_text(f"open({str(ran)!r}, 'w').close()\nBACKEND = None\n")
    monkeypatch.syspath_prepend(str(planted))
    settings = Settings(index_dir=tmp_path / "index", min_score=0.2)
    Engine.open(settings=settings, embedder=FakeEmbedder()).add([SEEDS])
    manifest_path = tmp_path / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name in ("plantedpkg.backend", "qdrant"):
        manifest["backends"] = {"windows": name, "sentences": name}
        for path in (manifest_path, tmp_path / "index" / manifest["folder"] / "manifest.json"):
            path.write_text(json.dumps(manifest))
        with pytest.raises(BackendMismatch, match="not the configured one"):
            Engine.open(settings=settings, embedder=FakeEmbedder())
    assert not ran.exists()


def test_an_index_saved_unlike_its_backend_declares_is_refused_at_save_not_at_the_next_load(
    tmp_path: Path, monkeypatch
):
    from rag import Engine, IndexWriteError, Settings
    from tests import npz_backend
    from tests.conftest import SEEDS, FakeEmbedder

    monkeypatch.setattr(npz_backend.NpzIndex, "backend", "faiss")  # forgot to say whose it is
    settings = Settings(index_dir=tmp_path / "npz", min_score=0.2, vector_backend="tests.npz_backend")
    with pytest.raises(IndexWriteError, match="not the files it declares"):
        Engine.open(settings=settings, embedder=FakeEmbedder()).add([SEEDS])
    assert not (tmp_path / "npz" / "manifest.json").exists()


@pytest.mark.slow
def test_searches_beside_writes_in_qdrant_local_mode_all_answer(tmp_path: Path):
    """Local mode is not thread-safe and writes change the collection readers search: the
    calls are serialised per folder, so a search beside a write answers (it failed with
    NumPy errors from inside the client)."""
    import threading

    from rag.qdrant_backend import QdrantIndex

    vectors = _clustered(1500, seed=21)
    served = [QdrantIndex.create(DIM, str(tmp_path / "qdrant"), vectors)]
    errors: list[Exception] = []
    searches = [0]
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                served[-1].search(vectors[:2], 5)
                searches[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for generation in range(2, 12):
            folder = tmp_path / f"gen-{generation:06d}"
            folder.mkdir()
            mask = np.ones(len(served[-1]), dtype=bool)
            mask[:5] = False
            nxt = served[-1].update(mask, _clustered(40, seed=generation))
            nxt.save(folder, "windows")
            served.append(nxt)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors and searches[0] > 0


def test_an_upload_whose_base_was_pruned_while_it_read_merges_into_the_newest(tmp_path: Path, monkeypatch):
    """An edited file is embedded outside the writer lock, reusing its unchanged passages'
    vectors from the index it started from; when other writers saved twice meanwhile, that
    index's removed points are gone from Qdrant: the merge is done under the lock from the
    newest index instead of failing."""
    import shutil

    from rag import Engine, Settings
    from rag.index import _Embedding
    from tests.conftest import SEEDS, FakeEmbedder

    docs = tmp_path / "docs"
    docs.mkdir()
    names = ("000_40cf413a4e758f71.txt", "001_6ca5efe176715221.txt", "002_e200820f57e197db.txt")
    for name in names:
        shutil.copy(SEEDS / name, docs / name)
    settings = Settings(index_dir=tmp_path / "index", min_score=0.2, vector_backend="qdrant")
    first = Engine.open(settings=settings, embedder=FakeEmbedder())
    first.add([docs / names[0], docs / names[1]])
    other = Engine.open(settings=settings, embedder=FakeEmbedder())
    edited = docs / names[0]
    edited.write_text(edited.read_text(encoding="utf-8") + "\n\nA paragraph added later.", encoding="utf-8")
    known, calls = _Embedding._known, []

    def two_saves_first(self, keys):
        if not calls:
            calls.append(1)
            other.remove(names[0])
            other.add([docs / names[2]])
        return known(self, keys)

    monkeypatch.setattr(_Embedding, "_known", two_saves_first)
    report = first.add([edited])
    monkeypatch.undo()
    assert report.added == [names[0]] or report.updated == [names[0]]
    assert sorted(d.id for d in Engine.open(settings=settings, embedder=FakeEmbedder()).documents()) == sorted(names)


def test_a_qdrant_local_index_opens_from_anywhere_it_is_named(tmp_path: Path, monkeypatch):
    """Local mode's collections are read from the index folder's own ``qdrant`` folder,
    whatever path the index was written under (relative, then opened by its absolute
    path from elsewhere), never from a path the folder's files name."""
    from rag import Engine, Settings
    from tests.conftest import SEEDS, FakeEmbedder

    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    settings = Settings(index_dir=Path("index"), min_score=0.2, vector_backend="qdrant")
    Engine.open(settings=settings, embedder=FakeEmbedder()).add([SEEDS / "000_40cf413a4e758f71.txt"])
    monkeypatch.chdir(tmp_path / "elsewhere")
    absolute = Settings(index_dir=tmp_path / "work" / "index", min_score=0.2, vector_backend="qdrant")
    reopened = Engine.open(settings=absolute, embedder=FakeEmbedder())
    assert [d.id for d in reopened.documents()] == ["000_40cf413a4e758f71.txt"]
    assert reopened.ask("Who leads the Hamas delegation to Damascus?").excerpts
    assert not (tmp_path / "elsewhere" / "index").exists()
