"""Writers in several processes and threads share one index folder without losing anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag import Engine, IndexWriteError, RagError, Settings, store
from tests.conftest import ROOT, FakeEmbedder

ROUNDS = 20


def _folder(base: Path, name: str, n: int) -> Path:
    folder = base / name
    folder.mkdir()
    for i in range(n):
        (folder / f"{name}-{i}.txt").write_text(
            f"Report {i} of the {name} office.\n\nThe {name} office counted {100 + i} visitors in spring, "
            f"and its manager {name.title()} Smith opened a new wing."
        )
    return folder


def _open(index_dir: Path, **settings) -> Engine:
    return Engine.open(settings=Settings(index_dir=index_dir, min_score=0.2, **settings), embedder=FakeEmbedder())


def _ingest(index_dir: Path, folder: Path, go: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.child", "plain", str(index_dir), str(folder)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "GO_FILE": str(go)},
    )


@pytest.mark.slow
def test_two_ingest_processes_started_together_both_keep_their_documents(tmp_path: Path) -> None:
    """Both writers embed at the same time; the second to commit merges into the first's save."""
    north, south = _folder(tmp_path, "north", 5), _folder(tmp_path, "south", 5)
    for round_ in range(ROUNDS):
        index_dir, go = tmp_path / f"index-{round_}", tmp_path / f"go-{round_}"
        if round_ % 2:  # every other round starts from an index that already holds documents
            _open(index_dir).add([_folder(tmp_path, f"base{round_}", 1)])
        children = [_ingest(index_dir, folder, go) for folder in (north, south)]
        for child in children:
            assert child.stdout.readline().strip() == "OPENED"
        go.touch()
        outputs = [child.communicate(timeout=120)[0] for child in children]
        assert [child.returncode for child in children] == [0, 0], outputs
        ids = {d.id for d in _open(index_dir).documents()}
        assert {f"north-{i}.txt" for i in range(5)} | {f"south-{i}.txt" for i in range(5)} <= ids, (round_, outputs)
        assert len(ids) == 10 + round_ % 2


def test_threads_adding_at_once_keep_every_document(tmp_path: Path) -> None:
    engine = _open(tmp_path / "index")
    folders = [_folder(tmp_path, name, 3) for name in ("east", "west", "harbour", "valley")]
    errors: list[BaseException] = []

    def add(folder: Path) -> None:
        try:
            engine.add([folder])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(f,)) for f in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(engine.documents()) == 12
    assert len(_open(tmp_path / "index").documents()) == 12


def test_a_merge_redone_after_another_save_embeds_nothing_again(tmp_path: Path, monkeypatch):
    """Another engine saves while this writer embeds: the merge is redone on its index, from cache."""
    index_dir = tmp_path / "index"
    first, second = _open(index_dir), _open(index_dir)
    east, west = _folder(tmp_path, "east", 2), _folder(tmp_path, "west", 2)
    real_lock, sneaked = store.writer_lock, []

    def another_writer_first(folder):
        if not sneaked:  # once: between second's embedding and its commit
            sneaked.append(True)
            first.add([east])
        return real_lock(folder)

    monkeypatch.setattr(store, "writer_lock", another_writer_first)
    embedder = second._embedder
    second.add([west])
    assert sneaked
    texts = [t for kind, batch in embedder.calls for t in batch if kind == "documents"]
    assert len(texts) == len(set(texts))  # nothing embedded twice by the redone merge
    expected = ["east-0.txt", "east-1.txt", "west-0.txt", "west-1.txt"]
    assert sorted(d.id for d in second.documents()) == expected
    assert sorted(d.id for d in _open(index_dir).documents()) == expected


def test_a_writer_waits_for_the_lock_held_by_another_process(tmp_path: Path):
    index_dir = tmp_path / "index"
    _open(index_dir).add([_folder(tmp_path, "east", 1)])
    before = store.version(index_dir)
    go = tmp_path / "go"
    go.touch()
    with store.writer_lock(index_dir):
        child = _ingest(index_dir, _folder(tmp_path, "west", 1), go)
        assert child.stdout.readline().strip() == "OPENED"
        time.sleep(3)  # it has long embedded by now, and waits for the lock
        assert child.poll() is None and store.version(index_dir) == before
    assert child.wait(timeout=60) == 0, child.stdout.read()
    assert sorted(d.id for d in _open(index_dir).documents()) == ["east-0.txt", "west-0.txt"]


def test_a_reader_retries_when_the_generation_it_reads_is_pruned(tmp_path: Path, monkeypatch):
    index_dir = tmp_path / "index"
    writer = _open(index_dir)
    writer.add([_folder(tmp_path, "east", 1)])
    real, calls = store._load_generation, []

    def pruned_under_it(folder, manifest, backend):
        if not calls:  # the first read races with a save that prunes what it reads
            calls.append(manifest["generation"])
            writer.add([_folder(tmp_path, "west", 1)])
            raise store.IndexCorrupt("gen-000001/passages.jsonl is missing")
        return real(folder, manifest, backend)

    monkeypatch.setattr(store, "_load_generation", pruned_under_it)
    snapshot = store.load(index_dir)
    assert snapshot.notice == "" and sorted(snapshot.documents) == ["east-0.txt", "west-0.txt"]


def test_a_reader_switches_to_an_index_saved_by_another_process(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    writer = _open(index_dir)
    writer.add([_folder(tmp_path, "east", 1)])
    reader = _open(index_dir, reload_interval=0.0)
    assert [d.id for d in reader.documents()] == ["east-0.txt"]
    writer.add([_folder(tmp_path, "west", 1)])
    assert sorted(d.id for d in reader.documents()) == ["east-0.txt", "west-0.txt"]
    answer = reader.ask("How many visitors did the west office count?")
    assert answer.excerpts and answer.excerpts[0].source == "west-0.txt"
    # ... and a removal through the reader keeps the writer's documents
    reader.remove("east-0.txt")
    writer.sync(force=True)
    assert [d.id for d in writer.documents()] == ["west-0.txt"]


def test_remove_several_documents_in_one_save(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    engine = _open(index_dir)
    engine.add([_folder(tmp_path, "east", 4)])
    generation = store.read_manifest(index_dir)["generation"]
    engine.remove("east-0.txt", "east-2.txt", "east-3.txt")
    assert [d.id for d in engine.documents()] == ["east-1.txt"]
    assert store.read_manifest(index_dir)["generation"] == generation + 1


def test_an_emptied_index_still_exists(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    engine = _open(index_dir)
    assert not engine.exists
    engine.add([_folder(tmp_path, "east", 1)])
    engine.remove("east-0.txt")
    reopened = _open(index_dir)
    assert reopened.exists and reopened.documents() == []


@pytest.mark.slow
def test_an_isolated_ingest_runs_in_a_child_and_a_failed_one_is_one_clear_error(tmp_path: Path, seed_index: Path):
    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    engine = Engine.open(settings=Settings(index_dir=index))
    progress: list[float] = []
    report = engine.add_isolated([_folder(tmp_path, "north", 2)], progress=lambda done, what: progress.append(done))
    assert sorted(report.added) == ["north-0.txt", "north-1.txt"]
    assert progress and progress[-1] == 1.0
    answer = engine.ask("How many visitors did the north office count in spring?")
    assert answer.excerpts[0].source.startswith("north-")
    with pytest.raises(RagError, match="unknown encoder"):  # refused at open, before any child
        Engine.open(settings=Settings(index_dir=index, encoder="no-such-encoder"))
    broken = Engine.open(settings=Settings(index_dir=index, parse_timeout="soon"))  # only the child reads it
    with pytest.raises(IndexWriteError, match="RAG_PARSE_TIMEOUT='soon' is not a valid float"):
        broken.add_isolated([_folder(tmp_path, "south", 1)])
    assert len(Engine.open(settings=Settings(index_dir=index)).documents()) == 7


def test_an_id_another_writer_gives_to_another_file_meanwhile_is_not_overwritten(tmp_path: Path, monkeypatch):
    index_dir = tmp_path / "index"
    first, second = _open(index_dir), _open(index_dir)
    for name, keeper in (("a", "Ilse Brandt"), ("b", "Otto Brenner")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.txt").write_text(f"Report\n\nThe harbour is kept by {keeper}.")
    real_lock, sneaked = store.writer_lock, []

    def another_writer_first(folder):
        if not sneaked:  # between second's embedding and its commit, first takes the id
            sneaked.append(True)
            first.add([tmp_path / "a" / "report.txt"])
        return real_lock(folder)

    monkeypatch.setattr(store, "writer_lock", another_writer_first)
    report = second.add([tmp_path / "b" / "report.txt"])
    assert report.added == ["report (2).txt"] and "just given to another file" in report.warnings[0].reason
    texts = {d.id: d.text for d in _open(index_dir).documents()}
    assert "Ilse Brandt" in texts["report.txt"] and "Otto Brenner" in texts["report (2).txt"]
