"""What an ingest may read: regular files inside the folders it was given, each under its own id."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import Engine, Settings
from rag.documents import read_regular_file
from rag.errors import UnreadableDocument
from tests.conftest import ROOT, FakeEmbedder

NOTE = "Harbour notes\n\nThe harbour master Ilse Brandt reopened the northern pier on Tuesday."


def _engine(tmp_path: Path, **settings) -> Engine:
    return Engine.open(
        settings=Settings(index_dir=tmp_path / "index", min_score=0.2, **settings), embedder=FakeEmbedder()
    )


def _docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "harbour.txt").write_text(NOTE)
    return folder


def test_links_to_files_outside_the_folder_are_refused(tmp_path: Path):
    folder = _docs(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("The vault code is 4471 and the guard is Otto Brenner.")
    (folder / "passwd.txt").symlink_to("/etc/passwd")
    (folder / "secret.txt").symlink_to(secret)
    (folder / "status.txt").symlink_to("/proc/self/status")
    (folder / "inside.txt").symlink_to(folder / "harbour.txt")  # a link within the folder is fine
    engine = _engine(tmp_path)
    report = engine.add([folder])
    assert report.added == ["harbour.txt"]  # the link inside the folder is that same file, read once
    refused = {Path(r.path).name: r.reason for r in report.refused}
    assert set(refused) == {"passwd.txt", "secret.txt", "status.txt"}
    assert all("outside the folder" in reason for reason in refused.values())
    assert not engine.ask("What is the vault code?").answered
    assert all("root:" not in d.text for d in engine.documents())


def test_links_are_followed_when_allowed(tmp_path: Path):
    folder = _docs(tmp_path)
    secret = tmp_path / "elsewhere.txt"
    secret.write_text("The vault code is 4471 and the guard is Otto Brenner.")
    (folder / "elsewhere.txt").symlink_to(secret)
    report = _engine(tmp_path, follow_links=True).add([folder])
    assert sorted(report.added) == ["elsewhere.txt", "harbour.txt"]


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_pipes_and_devices_are_refused_before_any_read(tmp_path: Path, kind: str):
    folder = _docs(tmp_path)
    if kind == "fifo":
        os.mkfifo(folder / "pipe.txt")  # opening it for reading would block forever
    else:
        (folder / "zero.txt").symlink_to("/dev/zero")  # endless, and its size says 0
    engine = _engine(tmp_path, follow_links=True, parse_timeout=30)
    started = time.monotonic()
    report = engine.add([folder])
    assert time.monotonic() - started < 10
    assert report.added == ["harbour.txt"]
    assert len(report.refused) == 1 and "not a regular file" in report.refused[0].reason


@pytest.mark.slow  # a real CLI process with the real model
def test_relative_paths_are_read_from_the_callers_folder(tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "README.md").write_text("Orchard log\n\nThe orchard keeper Nils Ek planted forty quince trees.")
    (elsewhere / "notes.txt").write_text(NOTE)
    index = tmp_path / "index"
    done = subprocess.run(
        [sys.executable, "-m", "rag", "--index", str(index), "ingest", "README.md", "notes.txt", "--json"],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(ROOT), "RAG_ENCODER": "torch"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    engine = Engine.open(settings=Settings(index_dir=index, encoder="torch"))
    docs = {d.id: d for d in engine.documents()}
    assert sorted(docs) == ["README.md", "notes.txt"]
    assert "quince" in docs["README.md"].text and docs["README.md"].path == str(elsewhere / "README.md")


def test_two_files_with_one_relative_id_are_both_kept(tmp_path: Path):
    for name, chair in (("a", "Ilse Brandt"), ("b", "Otto Brenner")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.txt").write_text(f"Report\n\nThe pier committee is chaired by {chair}.")
    engine = _engine(tmp_path)
    report = engine.add([tmp_path / "a", tmp_path / "b"])
    assert sorted(report.added) == ["b/report.txt", "report.txt"]
    assert "already the id of" in report.warnings[0].reason
    chairs = {d.id: d.text for d in engine.documents()}
    assert "Ilse Brandt" in chairs["report.txt"] and "Otto Brenner" in chairs["b/report.txt"]
    # Again, unchanged: nothing new, nothing renamed twice.
    again = engine.add([tmp_path / "a", tmp_path / "b"])
    assert sorted(again.unchanged) == ["b/report.txt", "report.txt"] and not again.added


def test_a_file_named_like_another_document_replaces_it_only_when_asked(tmp_path: Path):
    paths = [tmp_path / name / "report.txt" for name in ("one", "two", "three")]
    for path, chair in zip(paths, ("Ilse Brandt", "Otto Brenner", "Marta Quist"), strict=True):
        path.parent.mkdir()
        path.write_text(f"Report\n\nThe pier committee is chaired by {chair}.")
    first, second, third = paths
    engine = _engine(tmp_path)
    engine.add([first])
    assert engine.conflicts([second]) == [(str(second), "report.txt")]
    kept = engine.add([second])
    assert kept.added == ["report (2).txt"]
    # The same file again, even with replace: it keeps its own id, the first document stays.
    assert engine.conflicts([second]) == []
    again = engine.add([second], replace=True)
    assert again.unchanged == ["report (2).txt"] and len(engine.documents()) == 2
    assert "Ilse Brandt" in engine.document("report.txt").text
    # Another file, with replace: it takes the id over.
    replaced = engine.add([third], replace=True)
    assert replaced.updated == ["report.txt"], replaced
    assert "Marta Quist" in engine.document("report.txt").text and len(engine.documents()) == 2


def test_an_indexed_file_swapped_for_a_link_or_a_pipe_is_not_followed_on_refresh(tmp_path: Path):
    folder = _docs(tmp_path)
    (folder / "other.txt").write_text("Ferry notes\n\nThe ferry to the island leaves at nine from the west quay.")
    secret = tmp_path / "secret.txt"
    secret.write_text("The vault code is 4471 and the guard is Otto Brenner.")
    engine = _engine(tmp_path, parse_timeout=20)
    assert len(engine.add([folder]).added) == 2
    (folder / "harbour.txt").unlink()
    (folder / "harbour.txt").symlink_to(secret)
    (folder / "other.txt").unlink()
    os.mkfifo(folder / "other.txt")  # reading it would block forever
    started = time.monotonic()
    report = engine.refresh()
    assert time.monotonic() - started < 10
    assert not report.changed
    reasons = " ".join(r.reason for r in report.refused)
    assert "now a link" in reasons and "not a regular file" in reasons
    assert "4471" not in engine.document("harbour.txt").text
    again = engine.add([folder])  # ingesting the folder again: the link is refused, the pipe never read
    assert not again.changed and "4471" not in " ".join(d.text for d in engine.documents())


def test_a_file_rewritten_while_read_is_read_again_or_refused(tmp_path: Path):
    path = tmp_path / "growing.txt"
    path.write_text("start\n" * 1000)

    def read_while_someone_writes(fd: int, n: int) -> bytes:
        chunk = os.read(fd, min(n, 1024))
        if len(chunk) == 1024:  # another writer appends while this read is under way
            with open(path, "a") as fh:
                fh.write("more text that keeps arriving\n")
        return chunk

    with pytest.raises(UnreadableDocument, match="kept changing"):
        read_regular_file(path, 1 << 20, read=read_while_someone_writes)
    writes = iter([True])

    def one_write_then_quiet(fd: int, n: int) -> bytes:
        if next(writes, False):
            with open(path, "a") as fh:
                fh.write("the last line\n")
        return os.read(fd, n)

    data, info = read_regular_file(path, 1 << 20, read=one_write_then_quiet)  # read again, whole
    assert data.endswith(b"the last line\n") and len(data) == info.st_size == path.stat().st_size
