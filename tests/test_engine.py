"""Engine logic with the recording fake embedder: incremental indexing, removal, refusals, citations."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from rag import Engine, IndexWriteError, Settings, UnknownDocument

from .conftest import SEEDS, FakeEmbedder


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    write(
        folder / "fruit.txt", "Fruit notes\n\nApples grow on trees in cold orchards.\n\nBananas ripen in warm weather."
    )
    write(folder / "boats" / "sail.md", "# Sailing\n\nA sloop has one mast. A ketch has two masts.")
    return folder


def test_add_reports_and_ids_are_relative_paths(fake_engine: Engine, docs: Path):
    report = fake_engine.add([docs])
    assert sorted(report.added) == ["boats/sail.md", "fruit.txt"]
    assert [d.id for d in fake_engine.documents()] == ["fruit.txt", "boats/sail.md"]
    assert fake_engine.document("fruit.txt").title == "Fruit notes"


def test_unchanged_file_embeds_nothing(fake_engine: Engine, fake_embedder: FakeEmbedder, docs: Path):
    fake_engine.add([docs])
    embedded = fake_embedder.documents_embedded
    report = fake_engine.add([docs])
    assert sorted(report.unchanged) == ["boats/sail.md", "fruit.txt"] and not report.changed
    assert fake_embedder.documents_embedded == embedded


def test_touched_but_identical_file_is_unchanged(fake_engine: Engine, fake_embedder: FakeEmbedder, docs: Path):
    fake_engine.add([docs])
    embedded = fake_embedder.documents_embedded
    os.utime(docs / "fruit.txt", ns=(1, 1))
    assert fake_engine.add([docs]).unchanged == ["fruit.txt", "boats/sail.md"]
    assert fake_embedder.documents_embedded == embedded


def test_changed_file_replaces_its_passages_only(fake_engine: Engine, fake_embedder: FakeEmbedder, docs: Path):
    fake_engine.add([docs])
    before = fake_embedder.documents_embedded
    write(docs / "fruit.txt", "Fruit notes\n\nCherries are small red stone fruits.")
    report = fake_engine.add([docs])
    assert report.updated == ["fruit.txt"] and report.unchanged == ["boats/sail.md"]
    embedded_now = fake_embedder.calls[-1][1]
    assert all("Cherries" in t for t in embedded_now)  # the sailing file was not embedded again
    assert fake_embedder.documents_embedded - before == 2  # one window + one sentence
    texts = [p.text for p in fake_engine.passages("fruit.txt")]
    assert texts == ["Cherries are small red stone fruits."]
    answer = fake_engine.ask("apples orchards")
    assert all("Apples" not in e.text for e in answer.excerpts)


def test_remove_drops_document_and_passages(fake_engine: Engine, docs: Path, fake_embedder: FakeEmbedder):
    fake_engine.add([docs])
    fake_engine.remove("fruit.txt")
    assert [d.id for d in fake_engine.documents()] == ["boats/sail.md"]
    assert all(e.source == "boats/sail.md" for e in fake_engine.ask("apples bananas masts").excerpts)
    reopened = Engine.open(settings=fake_engine.settings, embedder=fake_embedder)
    assert [d.id for d in reopened.documents()] == ["boats/sail.md"]
    snap = reopened._current().snapshot
    assert len(snap.windows.index) == len(snap.windows.owner) == 1
    with pytest.raises(UnknownDocument):
        fake_engine.remove("fruit.txt")
    with pytest.raises(UnknownDocument):
        fake_engine.passages("fruit.txt")


def test_refresh_reindexes_files_changed_on_disk(fake_engine: Engine, docs: Path, fake_embedder: FakeEmbedder):
    fake_engine.add([docs])
    write(docs / "boats" / "sail.md", "# Sailing\n\nA yawl has a mizzen mast behind the rudder post.")
    reopened = Engine.open(settings=fake_engine.settings, embedder=fake_embedder)
    report = reopened.refresh()
    assert report.updated == ["boats/sail.md"] and report.unchanged == ["fruit.txt"]
    assert "yawl" in reopened.ask("yawl mizzen").excerpts[0].text
    (docs / "fruit.txt").unlink()
    gone = reopened.refresh()
    assert gone.refused and "gone" in gone.refused[0].reason
    assert "fruit.txt" in [d.id for d in reopened.documents()]  # the indexed copy is kept


def test_bad_files_are_refused_and_the_rest_goes_in(fake_engine: Engine, tmp_path: Path, docs: Path):
    fake_engine.add([docs])
    before = fake_engine._current().snapshot.checksum
    batch = tmp_path / "batch"
    write(batch / "good.txt", "Good file about zebras and their stripes.")
    write(batch / "empty.txt", "   \n")
    (batch / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00")
    (batch / "image.png").write_bytes(b"\x89PNG")
    write(batch / "furniture.txt", "Sender's Name:\nSender's Email:\n")
    report = fake_engine.add([batch, tmp_path / "missing.txt"])
    assert report.added == ["good.txt"]
    reasons = {Path(r.path).name: r.reason for r in report.refused}
    assert set(reasons) == {"empty.txt", "binary.txt", "image.png", "furniture.txt", "missing.txt"}
    assert "binary" in reasons["binary.txt"] and "unsupported" in reasons["image.png"]
    assert fake_engine._current().snapshot.checksum != before
    assert {d.id for d in fake_engine.documents()} == {"fruit.txt", "boats/sail.md", "good.txt"}


def test_refused_batch_leaves_the_index_untouched(fake_engine: Engine, tmp_path: Path, docs: Path):
    fake_engine.add([docs])
    manifest = (fake_engine.index_dir / "manifest.json").read_bytes()
    write(tmp_path / "blank.md", "\n\n")
    report = fake_engine.add([tmp_path / "blank.md"])
    assert not report.changed and len(report.refused) == 1
    assert (fake_engine.index_dir / "manifest.json").read_bytes() == manifest


def test_every_excerpt_is_an_exact_slice_with_a_highlight_inside(fake_engine: Engine):
    fake_engine.add([SEEDS])
    for question in ["Liwa al-Quds commander", "Hamas delegation Damascus", "Jenin strike", "helicopters Palmyra"]:
        answer = fake_engine.ask(question, k=10)
        assert answer.excerpts
        for e in answer.excerpts:
            text = fake_engine.document(e.source).text
            assert text[e.start : e.end] == e.text
            assert (SEEDS / e.source).read_text(encoding="utf-8")[e.start : e.end] == e.text
            assert 0 <= e.highlight[0] < e.highlight[1] <= len(e.text)


def test_an_excerpt_says_which_of_its_text_is_code(fake_engine: Engine, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "install.md").write_text(
        "# Install\n\nTo install widget, run:\n\n```\npip install widget\nwidget --init\n```\n", encoding="utf-8"
    )
    fake_engine.add([folder])
    excerpt = fake_engine.ask("install widget pip").excerpts[0]
    assert [excerpt.text[s:e] for s, e in excerpt.code] == ["```\npip install widget\nwidget --init\n```"]
    assert excerpt.to_dict()["code"] == [list(span) for span in excerpt.code]


def test_restructuredtext_files_plain_and_gzipped_are_indexed_and_cited_by_section(fake_engine: Engine, tmp_path: Path):
    import gzip

    folder = tmp_path / "docs"
    folder.mkdir()
    text = (Path(__file__).parent / "data" / "guide.rst").read_text(encoding="utf-8")
    (folder / "guide.rst").write_text(text, encoding="utf-8")
    (folder / "history.rst.gz").write_bytes(
        gzip.compress(b"History\n=======\n\nv2.1\n----\n\nWidget 2.1 adds retries.\n")
    )
    report = fake_engine.add([folder])
    assert sorted(report.added) == ["guide.rst", "history.rst.gz"] and not report.refused
    excerpt = fake_engine.ask("verbose print every step").excerpts[0]
    assert excerpt.section == "User Guide › Installing › Options" and "``--verbose``" in excerpt.text
    assert fake_engine.document("history.rst.gz").title == "History"


def test_sources_filter_restricts_the_search(fake_engine: Engine, docs: Path):
    fake_engine.add([docs])
    answer = fake_engine.ask("apples masts", sources=["boats/sail.md"])
    assert answer.excerpts and {e.source for e in answer.excerpts} == {"boats/sail.md"}


def test_unrelated_question_is_not_answered(fake_engine: Engine, docs: Path):
    fake_engine.add([docs])
    answer = fake_engine.ask("quantum chromodynamics lecture")
    assert not answer.answered
    assert all(e.near_miss for e in answer.excerpts) and len(answer.excerpts) <= 3


def test_empty_index_and_empty_question(fake_engine: Engine):
    assert not fake_engine.ask("anything").answered
    assert fake_engine.documents() == []
    assert not fake_engine.ask("   ").answered


def test_long_paragraph_is_embedded_in_windows_but_cited_once(fake_engine: Engine, tmp_path: Path):
    sentences = " ".join(f"Fact {i} concerns the lighthouse keeper." for i in range(40))
    fake_engine.add([write(tmp_path / "long.txt", sentences)])
    snap = fake_engine._current().snapshot
    assert len(snap.passages) == 1 and len(snap.windows) > 1  # fake model: 64 tokens
    answer = fake_engine.ask("lighthouse keeper")
    assert answer.excerpts[0].text == sentences and answer.excerpts[0].paragraph == 1


def test_queries_during_writes_see_whole_snapshots(fake_engine: Engine, tmp_path: Path):
    import threading

    fake_engine.add([SEEDS])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                for e in fake_engine.ask("Liwa al-Quds commander Hamas delegation", k=10).excerpts:
                    # The document may be removed meanwhile; its file stays, and so must the quote.
                    file = SEEDS / e.source if (SEEDS / e.source).exists() else tmp_path / e.source
                    assert file.read_text(encoding="utf-8")[e.start : e.end] == e.text
            except Exception as exc:  # noqa: BLE001 - any failure in a reader fails the test
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            note = write(tmp_path / f"note{i}.txt", f"Note {i}\n\nLiwa al-Quds commander update number {i}.")
            fake_engine.add([note])
            if i % 2:
                fake_engine.remove(f"note{i - 1}.txt")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert {d.id for d in fake_engine.documents()} >= {"note1.txt", "note3.txt", "note5.txt"}


def test_edited_file_embeds_only_its_new_text(fake_engine: Engine, fake_embedder: FakeEmbedder, tmp_path: Path):
    paragraphs = [f"Paragraph {i} tells how the harbour crew number {i} repaired pier {i}." for i in range(10)]
    path = tmp_path / "log.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    fake_engine.add([path])
    before = fake_embedder.documents_embedded
    paragraphs[4] = "A brand new paragraph about the lighthouse keeper and her dog."
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    fake_engine.add([path])
    embedded = [t for kind, texts in fake_embedder.calls[-1:] for t in texts]
    # The new paragraph only: its window (with the title as context) and its one sentence.
    assert fake_embedder.documents_embedded - before == 2
    assert all("lighthouse" in t for t in embedded)
    assert fake_engine.last_embedded == 2
    answer = fake_engine.ask("lighthouse keeper dog")
    assert answer.excerpts[0].text == paragraphs[4]


def test_text_seen_anywhere_in_the_index_is_not_embedded_again(
    fake_engine: Engine, fake_embedder: FakeEmbedder, tmp_path: Path
):
    shared = "The ferry to the island leaves every morning at seven from the north quay."
    (tmp_path / "a.txt").write_text(f"Timetable notes.\n\n{shared}", encoding="utf-8")
    (tmp_path / "b.txt").write_text(f"{shared}\n\n{shared} Tickets cost four euros.", encoding="utf-8")
    fake_engine.add([tmp_path / "a.txt"])
    before = fake_embedder.documents_embedded
    fake_engine.add([tmp_path / "b.txt"])
    texts = [t for t in fake_embedder.calls[-1][1]]
    assert shared not in texts  # its sentence came from a.txt's rows (its window has b's title)
    assert len(texts) == len(set(texts))  # and what was new is embedded once
    assert fake_embedder.documents_embedded - before == len(texts)
    # The reused vectors are the same as freshly computed ones.
    snap = fake_engine._current().snapshot
    rows = [i for i, p in enumerate(snap.passages) if p.doc_id == "b.txt"]
    sentence = snap.sentences.vectors(np.flatnonzero(snap.sentences.owner == rows[0]))[0]
    assert np.allclose(sentence, fake_embedder._vectors([shared])[0])
    window = snap.windows.vectors(np.flatnonzero(snap.windows.owner == rows[0]))[0]
    assert np.allclose(window, fake_embedder._vectors([f"b\n{shared}"])[0])  # title as context


def test_an_over_long_question_is_refused_before_any_work(fake_engine, fake_embedder):
    from rag import BadQuestion

    fake_engine.add([SEEDS])
    calls = len(fake_embedder.calls)
    started = time.perf_counter()
    with pytest.raises(BadQuestion, match="at most 2,000"):
        fake_engine.ask("why " * 2_500_000)
    assert time.perf_counter() - started < 0.1
    assert len(fake_embedder.calls) == calls


def test_fullwidth_and_compatibility_forms_are_read_as_plain_letters(fake_engine):
    fake_engine.add([SEEDS])
    plain = fake_engine.ask("Who leads the Hamas delegation to Damascus?")
    fullwidth = fake_engine.ask("Ｗｈｏ ｌｅａｄｓ ｔｈｅ Ｈａｍａｓ ｄｅｌｅｇａｔｉｏｎ ｔｏ Ｄａｍａｓｃｕｓ？")
    assert fullwidth.question == "Who leads the Hamas delegation to Damascus?"
    assert [e.start for e in fullwidth.excerpts] == [e.start for e in plain.excerpts]


def test_a_removed_document_is_restored_from_its_own_text(fake_engine, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Ferry notes\n\nThe ferry to the island leaves at nine from the west quay.")
    fake_engine.add([note])
    removed = fake_engine.document("note.txt")
    fake_engine.remove("note.txt")
    note.unlink()  # the undo needs no file
    report = fake_engine.restore([removed])
    assert report.added == ["note.txt"]
    assert fake_engine.document("note.txt").text == removed.text
    assert fake_engine.ask("When does the ferry leave?").excerpts[0].source == "note.txt"


def test_undo_never_replaces_a_newer_document_that_took_the_id(fake_engine, tmp_path):
    old, new = tmp_path / "a" / "note.txt", tmp_path / "b" / "note.txt"
    for path, text in ((old, "The ferry leaves at nine."), (new, "The ferry now leaves at ten.")):
        path.parent.mkdir()
        path.write_text(f"Ferry notes\n\n{text}")
    fake_engine.add([old])
    removed = fake_engine.document("note.txt")
    fake_engine.remove("note.txt")
    fake_engine.add([new])  # a newer file takes the id
    report = fake_engine.restore([removed])
    assert report.added == ["note (2).txt"] and "taken by a newer document" in report.warnings[0].reason
    assert "ten" in fake_engine.document("note.txt").text and "nine" in fake_engine.document("note (2).txt").text


def test_the_encoder_cache_is_the_users_unless_configured_or_unwritable(tmp_path: Path, monkeypatch):
    from rag.embedding import encoder_cache_dir

    index = tmp_path / "index"
    assert encoder_cache_dir(str(tmp_path / "mine"), index) == tmp_path / "mine"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert encoder_cache_dir("", index) == tmp_path / "xdg" / "rag"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert encoder_cache_dir("", index) == index


def test_original_is_the_indexed_files_bytes_and_only_while_unchanged(fake_engine: Engine, tmp_path: Path):
    from rag.errors import UnknownDocument, UnreadableDocument

    path = tmp_path / "note.txt"
    path.write_text("The harbour reopened on Tuesday after repairs to the northern pier.\n", encoding="utf-8")
    fake_engine.add([path])
    document, data = fake_engine.original("note.txt")
    assert data == path.read_bytes() and document.id == "note.txt"
    with pytest.raises(UnknownDocument):
        fake_engine.original("../note.txt")
    path.write_text("Something else entirely.\n", encoding="utf-8")
    with pytest.raises(UnreadableDocument, match="changed since it was indexed"):
        fake_engine.original("note.txt")
    path.unlink()
    with pytest.raises(UnreadableDocument):
        fake_engine.original("note.txt")


def test_remove_loads_no_model(tmp_path: Path, monkeypatch):
    import rag.embedding

    for name, text in (("a.txt", "Alpha paragraph about the harbour."), ("b.txt", "Cats sleep a lot during the day.")):
        (tmp_path / name).write_text(text, encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index", model=FakeEmbedder.model_id)
    Engine.open(settings=settings, embedder=FakeEmbedder()).add([tmp_path / "a.txt", tmp_path / "b.txt"])

    def no_model(*args, **kwargs):
        raise AssertionError("remove loaded the model")

    monkeypatch.setattr(rag.embedding, "load_embedder", no_model)
    engine = Engine.open(settings=settings)
    engine.remove("b.txt")
    assert [d.id for d in engine.documents()] == ["a.txt"]


def test_neighbours_are_the_passages_either_side_in_reading_order(fake_engine: Engine, tmp_path: Path):
    paragraphs = [
        f"Paragraph {name} of the harbour report says something long enough to stand alone as a passage."
        for name in ("one", "two", "three")
    ]
    (tmp_path / "report.txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
    (tmp_path / "other.txt").write_text("A passage of another document, about the bridge.", encoding="utf-8")
    fake_engine.add([tmp_path / "other.txt", tmp_path / "report.txt"])
    first, second, third = fake_engine.passages("report.txt")
    assert [p.text for p in (first, second, third)] == paragraphs
    assert fake_engine.neighbours("report.txt", second.start) == (first, third)
    assert fake_engine.neighbours("report.txt", first.start) == (None, second)
    assert fake_engine.neighbours("report.txt", third.start) == (second, None)
    assert fake_engine.neighbours("report.txt", second.start + 1) == (None, None)  # no passage starts there
    with pytest.raises(UnknownDocument):
        fake_engine.neighbours("missing.txt", 0)
    with pytest.raises(UnknownDocument):
        Engine.open(settings=Settings(index_dir=tmp_path / "empty"), embedder=fake_engine.embedder).passages("x")


def test_a_name_written_as_code_that_no_document_writes_is_refused(tmp_path):
    """Real model: "std::fs::read_to_vec" is no function of these docs though each of its
    words is (read, vec): the question is refused, the closest passages shown as near misses,
    where the same question about read_to_string is answered."""
    from rag.search import code_names

    assert code_names("What does std::fs::read_to_vec return?") == ["read_to_vec"]
    assert code_names("Is mod_perl on? What does Vec::shuffle do, or APR::Table?") == ["mod_perl", "shuffle", "Table"]
    assert code_names("How do I fix HP LaserJet printing? Is this the e.g. case?") == []
    (tmp_path / "fs.txt").write_text(
        "std::fs\n\nread_to_string\n\nRead the entire contents of a file into a string. This is a convenience"
        " function for using File::open and read_to_string with fewer imports.\n\nErrors\n\nThis function will"
        " return an error if path does not already exist. Other errors may also be returned according to"
        " OpenOptions::open.\n\nread_dir\n\nReturns an iterator over the entries within a directory. The"
        " returned vec of entries is in no particular order.\n",
        encoding="utf-8",
    )
    engine = Engine.open(settings=Settings(index_dir=tmp_path / "index"))
    engine.add([tmp_path / "fs.txt"])
    refused = engine.ask("What errors does std::fs::read_to_vec return?")
    assert not refused.answered and refused.excerpts and all(e.near_miss for e in refused.excerpts)
    answered = engine.ask("What errors does std::fs::read_to_string return?")
    assert answered.answered and "return an error if path does not already exist" in answered.excerpts[0].text


def test_a_failed_child_ingest_says_once_that_the_index_is_unchanged(tmp_path: Path, monkeypatch):
    """The parent adds "the index is unchanged" only when the child's last words do not say it."""
    from rag.ingest import add_in_child

    child = write(
        tmp_path / "child.sh",
        "#!/bin/sh\necho 'IndexWriteError: could not save the index (no space left on device); "
        "the previous index is unchanged' >&2\nexit 3\n",
    )
    child.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(child))
    with pytest.raises(IndexWriteError) as failure:
        add_in_child([tmp_path / "child.sh"], Settings(index_dir=str(tmp_path / "index")))
    assert str(failure.value).count("unchanged") == 1, failure.value
    assert "no space left on device" in str(failure.value)
