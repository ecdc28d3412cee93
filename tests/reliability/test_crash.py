"""Crashes lose nothing: kill -9 mid-ingest, damaged index files, a disk that fills up."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag import Engine, IndexCorrupt, IndexWriteError, Settings, store
from tests.conftest import ROOT, SEEDS, FakeEmbedder

KILLS = 24
NEW_DOCS = {
    "harbour.txt": "The harbour reopened on Tuesday after the storm damaged the northern pier.\n\n"
    "Fishing boats returned to their moorings by the evening tide, the port authority said.",
    "library.md": "# City library\n\nThe council approved a budget of 2.4 million for the city library "
    "and its three branches.\n\nThe new reading room will open in the spring.",
    "bridge.txt": "Engineers closed the old iron bridge for repairs that will last until March.",
}
QUESTIONS = ("When did the harbour reopen?", "Who leads the Hamas delegation to Damascus?", "library budget")


def _open(index_dir: Path) -> Engine:
    return Engine.open(settings=Settings(index_dir=index_dir, min_score=0.2), embedder=FakeEmbedder())


def _state(engine: Engine) -> tuple:
    """Everything observable: documents, passages, vector counts and the answers."""
    snap = engine._current().snapshot
    answers = tuple(json.dumps(engine.ask(q).to_dict(), sort_keys=True) for q in QUESTIONS)
    return (
        tuple(sorted((d.id, d.sha256) for d in snap.documents.values())),
        snap.passages,
        len(snap.windows),
        len(snap.sentences),
        answers,
    )


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory):
    """Index A (the seeds), the new files, and the state B that adding them yields."""
    base = tmp_path_factory.mktemp("crash")
    files = []
    for name, text in NEW_DOCS.items():
        (base / name).write_text(text)
        files.append(base / name)
    index_a = base / "index-a"
    engine = _open(index_a)
    engine.add([SEEDS])
    state_a = _state(engine)
    index_b = base / "index-b"
    shutil.copytree(index_a, index_b)
    engine = _open(index_b)
    engine.add(files)
    state_b = _state(engine)
    assert state_a != state_b
    return index_a, files, state_a, state_b


def _child(mode: str, index_dir: Path, files: list[Path]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.child", mode, str(index_dir), *map(str, files)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _save_steps(index_a: Path, files: list[Path], tmp_path: Path) -> tuple[list[str], float]:
    """One uninterrupted slow ingest: the steps of its save, and how long it ran after opening
    the index (reading, embedding and saving)."""
    index_dir = tmp_path / "calibrate"
    shutil.copytree(index_a, index_dir)
    child = _child("slow", index_dir, files)
    steps: list[str] = []
    opened = None
    for line in child.stdout:
        if line.startswith("OPENED"):
            opened = time.monotonic()
        elif line.startswith("STEP") and opened is not None:
            steps.append(line.split()[1])
    assert opened is not None, "the child never opened the index"
    duration = time.monotonic() - opened
    child.wait()
    child.stdout.close()
    assert child.returncode == 0 and "os.replace" in steps, steps
    return steps, duration


@pytest.mark.slow  # many seconds: a large input, a bomb or many processes
def test_kill_9_at_random_moments_leaves_the_old_or_the_new_index(states, tmp_path: Path):
    index_a, files, state_a, state_b = states
    # Kills are timed from the moment the child has opened the index, so that a slow machine
    # (a long import, the index's own checks at open) does not push them all before the save.
    steps_of_save, save_seconds = _save_steps(index_a, files, tmp_path)
    swap = steps_of_save.index("os.replace") + 1  # the step (1-based) that publishes the new generation
    rng = random.Random(20261122)
    seen: dict[str, int] = {"old": 0, "new": 0}
    for attempt in range(KILLS):
        index_dir = tmp_path / f"index-{attempt}"
        shutil.copytree(index_a, index_dir)
        child = _child("slow", index_dir, files)
        for line in child.stdout:
            if line.startswith("OPENED"):
                break
        # Half the kills land at a random time of the ingest, half at a random step of the save;
        # one as the step before the swap starts (tens of ms ahead of it), one once the swap has
        # returned (a step is printed before it runs), so that both sides are always tried.
        steps: list[str] = []
        if attempt % 2 == 0:
            time.sleep(rng.uniform(0.0, 1.2 * save_seconds))
        else:
            target = {1: swap - 1, 3: swap + 1}.get(attempt) or rng.randrange(1, len(steps_of_save) + 1)
            for line in child.stdout:
                if line.startswith("STEP"):
                    steps.append(line.split()[1])
                    if len(steps) >= target:
                        break
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        state = _state(_open(index_dir))
        assert state in (state_a, state_b), f"attempt {attempt}: a mixed index after kill at {steps[-1:]}"
        seen["old" if state == state_a else "new"] += 1
        if attempt == 3:
            assert state == state_b, "killed after the swap returned, yet the old index came back"
        # ... and the survivor still takes writes.
        engine = _open(index_dir)
        engine.add(files)
        assert _state(engine) == state_b
    assert seen["old"] and seen["new"], seen  # the kills really landed on both sides of the swap


# -- damaged files ------------------------------------------------------------------------------


@pytest.fixture
def two_generations(states, tmp_path: Path) -> Path:
    """A copy of index A with B saved on top: a current generation and a previous one."""
    index_a, files, _, _ = states
    index_dir = tmp_path / "index"
    shutil.copytree(index_a, index_dir)
    _open(index_dir).add(files)
    return index_dir


def _current_dir(index_dir: Path) -> Path:
    return index_dir / json.loads((index_dir / "manifest.json").read_text())["folder"]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))


FILES = (
    "documents.jsonl",
    "passages.jsonl",
    "windows.vec.npy",
    "windows.npy",
    "windows.keys.npy",
    "sentences.vec.npy",
    "sentences.npy",
    "sentences.keys.npy",
)


@pytest.mark.parametrize("damage", [_truncate, _flip, Path.unlink], ids=["truncated", "flipped", "deleted"])
@pytest.mark.parametrize("name", FILES)
def test_damaged_current_generation_falls_back_to_the_previous_one_and_says_so(
    states, two_generations: Path, name: str, damage
):
    _, _, state_a, _ = states
    damage(_current_dir(two_generations) / name)
    engine = _open(two_generations)
    assert name in engine.notice and "serving generation" in engine.notice
    assert _state(engine) == state_a  # the previous good state, whole


@pytest.mark.parametrize("damage", [_truncate, _flip, Path.unlink], ids=["truncated", "flipped", "deleted"])
def test_damaged_top_manifest_is_recovered_from_the_generations(states, two_generations: Path, damage):
    _, _, _, state_b = states
    damage(two_generations / "manifest.json")
    engine = _open(two_generations)
    assert "the index is damaged" in engine.notice
    assert _state(engine) == state_b  # the current generation still verifies on its own


@pytest.mark.parametrize("name", FILES)
def test_damaged_only_generation_is_a_clear_error_never_an_empty_index(states, tmp_path: Path, name: str):
    index_a, _, _, _ = states
    index_dir = tmp_path / "index"
    shutil.copytree(index_a, index_dir)
    _truncate(_current_dir(index_dir) / name)
    with pytest.raises(IndexCorrupt, match=name.replace(".", r"\.")):
        _open(index_dir)


def test_cli_names_the_damaged_file_in_one_line(states, tmp_path: Path):
    index_a, _, _, _ = states
    index_dir = tmp_path / "index"
    shutil.copytree(index_a, index_dir)
    _flip(_current_dir(index_dir) / "passages.jsonl")
    run = subprocess.run(
        [sys.executable, "-m", "rag", "--index", str(index_dir), "list"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "passages.jsonl" in lines[0] and "checksum" in lines[0], run.stderr


def test_consistent_looking_but_misaligned_index_is_refused(states, tmp_path: Path):
    """Files rewritten with matching checksums but vectors that do not line up with passages."""
    index_a, _, _, _ = states
    index_dir = tmp_path / "index"
    shutil.copytree(index_a, index_dir)
    gen = _current_dir(index_dir)
    owners = np.load(gen / "windows.npy")
    keep = owners != owners.max()  # the last passage loses all its vectors
    np.save(gen / "windows.npy", owners[keep], allow_pickle=False)
    for name in ("windows.vec.npy", "windows.keys.npy"):
        np.save(gen / name, np.load(gen / name)[keep], allow_pickle=False)
    manifest = json.loads((index_dir / "manifest.json").read_text())
    for name in ("windows.npy", "windows.vec.npy", "windows.keys.npy"):
        manifest["files"][name] = {"sha256": store.file_sha256(gen / name), "bytes": (gen / name).stat().st_size}
    manifest["counts"]["windows"] = int(keep.sum())
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorrupt, match="no vector"):
        store._load_generation(index_dir, manifest)


# -- disk full ----------------------------------------------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _faiss_full(*args, **kwargs):
    raise RuntimeError("Error in faiss::FileIOWriter: write failed (No space left on device)")


@pytest.mark.parametrize(
    ("target", "failure"),
    [
        ("rag.store._write_jsonl", _enospc),
        ("rag.dense.FlatIndex.save", _faiss_full),
        ("rag.store.np.save", _enospc),
        ("rag.store._fsync", _enospc),
        ("rag.store._write_json", _enospc),
    ],
    ids=["jsonl", "vectors", "npy", "fsync", "manifest"],
)
def test_failing_writer_reports_an_error_and_keeps_the_previous_index(
    states, tmp_path: Path, monkeypatch, target, failure
):
    index_a, files, state_a, state_b = states
    index_dir = tmp_path / "index"
    shutil.copytree(index_a, index_dir)
    engine = _open(index_dir)
    before = sorted(p.name for p in index_dir.iterdir())
    monkeypatch.setattr(target, failure)
    with pytest.raises(IndexWriteError, match="previous index is unchanged"):
        engine.add(files)
    monkeypatch.undo()
    assert _state(engine) == state_a  # the running engine still serves A
    assert _state(_open(index_dir)) == state_a  # ... and so does the disk
    assert sorted(p.name for p in index_dir.iterdir() if p.name != "manifest.json.tmp") == before  # no debris
    engine.add(files)  # once there is room again, the same add succeeds
    assert _state(engine) == state_b


def test_disk_filling_up_in_a_real_process_keeps_the_previous_index(states, tmp_path: Path):
    index_a, files, state_a, _ = states
    index_dir = tmp_path / "index"
    shutil.copytree(index_a, index_dir)
    # Files may grow to a quarter of the largest index file: the save fails mid-write.
    limit = max(p.stat().st_size for p in _current_dir(index_dir).iterdir()) // 4
    child = _child(f"fsize={limit}", index_dir, files)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 3, out
    assert "IndexWriteError" in out and "previous index is unchanged" in out, out
    assert _state(_open(index_dir)) == state_a
