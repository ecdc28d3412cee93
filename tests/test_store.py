import json
from pathlib import Path

import pytest

from rag import Engine, IndexCorrupt, ModelMismatch, Settings, store

from .conftest import FakeEmbedder


@pytest.fixture
def built(tmp_path: Path, fake_engine: Engine) -> Engine:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha title\n\nThe alpha paragraph talks about apples.\n\nA second alpha paragraph.")
    (docs / "b.md").write_text("# Beta\n\nBeta is about bananas and boats. It has two sentences.")
    fake_engine.add([docs])
    return fake_engine


def test_round_trip_restores_everything(built: Engine):
    before = built._current().snapshot
    after = store.load(built.index_dir)
    assert after.documents == before.documents
    assert after.passages == before.passages
    assert (after.windows.owner == before.windows.owner).all()
    assert (after.sentences.owner == before.sentences.owner).all()
    assert len(after.windows) == len(before.windows) and len(after.sentences) == len(before.sentences)
    assert (after.windows.vectors([0]) == before.windows.vectors([0])).all()


def test_manifest_records_model_counts_and_checksums(built: Engine):
    manifest = json.loads((built.index_dir / "manifest.json").read_text())
    assert manifest["model_id"] == "fake-bag-of-words" and manifest["dim"] == 256
    assert manifest["counts"] == {"documents": 2, "passages": 3, "windows": 3, "sentences": 4}
    assert set(manifest["files"]) == {
        "documents.jsonl",
        "passages.jsonl",
        "windows.vec.npy",
        "windows.npy",
        "sentences.vec.npy",
        "sentences.npy",
        "windows.keys.npy",
        "sentences.keys.npy",
        "lexical.vocab.json",
        "lexical.ptr.npy",
        "lexical.terms.npy",
        "lexical.tf.npy",
    }
    assert all(len(meta["sha256"]) == 64 for meta in manifest["files"].values())


def test_no_pickle_anywhere(built: Engine):
    for path in built.index_dir.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_reopen_gives_the_same_answers(built: Engine, fake_embedder: FakeEmbedder):
    again = Engine.open(settings=built.settings, embedder=fake_embedder)
    assert again.ask("apples").to_dict() == built.ask("apples").to_dict()


class OtherModel(FakeEmbedder):
    model_id = "another-model"


def test_other_model_is_refused(built: Engine):
    with pytest.raises(ModelMismatch, match="fake-bag-of-words"):
        Engine.open(settings=built.settings, embedder=OtherModel())
    with pytest.raises(ModelMismatch):
        Engine.open(settings=Settings(index_dir=built.index_dir))  # the bundled model: another id


def test_other_dimension_is_refused(built: Engine):
    with pytest.raises(ModelMismatch, match="128"):
        Engine.open(settings=built.settings, embedder=FakeEmbedder(dim=128))


def test_altered_file_is_detected(built: Engine):
    manifest = json.loads((built.index_dir / "manifest.json").read_text())
    target = built.index_dir / manifest["folder"] / "passages.jsonl"
    target.write_text(target.read_text().replace("apples", "pears"))
    with pytest.raises(IndexCorrupt, match="passages.jsonl"):
        store.load(built.index_dir)


def test_truncated_vectors_are_detected(built: Engine):
    manifest = json.loads((built.index_dir / "manifest.json").read_text())
    target = built.index_dir / manifest["folder"] / "windows.vec.npy"
    target.write_bytes(target.read_bytes()[:-100])
    with pytest.raises(IndexCorrupt, match="windows.vec.npy"):
        Engine.open(settings=built.settings, embedder=FakeEmbedder())


def test_garbage_manifest_is_detected_and_the_generation_served_with_a_notice(built: Engine):
    before = store.load(built.index_dir)
    (built.index_dir / "manifest.json").write_text("{not json")
    after = store.load(built.index_dir)
    assert "manifest.json is unreadable" in after.notice
    assert (after.generation, after.documents, after.passages) == (before.generation, before.documents, before.passages)


def test_each_save_is_a_new_generation_and_old_ones_are_pruned(built: Engine, tmp_path: Path):
    extra = tmp_path / "c.txt"
    for i in range(3):
        extra.write_text(f"Version {i} of the cherry paragraph.")
        built.add([extra])
    manifest = json.loads((built.index_dir / "manifest.json").read_text())
    assert manifest["generation"] == 4
    folders = sorted(p.name for p in built.index_dir.glob("gen-*"))
    assert folders == ["gen-000003", "gen-000004"]  # current + one fallback
    assert not (built.index_dir / "manifest.json.tmp").exists()


def test_opening_reads_the_saved_terms_and_analyses_no_text(built: Engine, monkeypatch):
    import rag.lexical

    def no_analysis(text):
        raise AssertionError("opening an index must not analyse passages")

    monkeypatch.setattr(rag.lexical, "terms", no_analysis)
    loaded = store.load(built.index_dir)
    assert loaded.lexical.vocab == built._current().snapshot.lexical.vocab


def test_an_index_saved_before_terms_were_saved_is_read(built: Engine):
    """Format 3 had no lexical files: its terms are rebuilt from the passages on load."""
    manifest = json.loads((built.index_dir / "manifest.json").read_text())
    gen = built.index_dir / manifest["folder"]
    for name in [n for n in manifest["files"] if n.startswith("lexical.")]:
        (gen / name).unlink()
        del manifest["files"][name]
    manifest["format"] = 3
    for path in (built.index_dir / "manifest.json", gen / "manifest.json"):
        path.write_text(json.dumps(manifest))
    loaded = store.load(built.index_dir)
    assert loaded.notice == ""
    assert sorted(loaded.lexical.vocab) == sorted(built._current().snapshot.lexical.vocab)


def test_the_terms_after_adds_and_removes_are_those_of_a_fresh_build(built: Engine, tmp_path: Path):
    from rag.analysis import terms
    from rag.lexical import LexicalIndex
    from rag.passages import lexical_texts

    extra = tmp_path / "extra.txt"
    extra.write_text("Gamma is about grapes.\n\nAnd about zeppelins, once.")
    built.add([extra])
    built.remove("a.txt")
    snapshot = store.load(built.index_dir)
    titles = {doc_id: doc.title for doc_id, doc in snapshot.documents.items()}
    fresh = LexicalIndex.build(lexical_texts(snapshot.passages, titles))
    assert sorted(snapshot.lexical.vocab) == sorted(fresh.vocab) and "alpha" not in snapshot.lexical.ids
    for question in ("grapes and zeppelins", "bananas boats", "apples"):
        q = terms(question)
        assert snapshot.lexical.bm25(snapshot.lexical.weights(snapshot.lexical.expand(q))).tolist() == pytest.approx(
            fresh.bm25(fresh.weights(fresh.expand(q))).tolist()
        )


def test_a_newer_index_that_failed_to_load_once_is_still_merged_into_by_the_next_write(tmp_path: Path, monkeypatch):
    """A background reload that fails (a passing read error) is not retried at once, but a
    writer's forced reload reads that version again: the write merges into the newest
    index, and the other writer's document stays."""
    from rag import Engine, Settings, store
    from rag.errors import IndexCorrupt
    from tests.conftest import SEEDS, FakeEmbedder

    settings = Settings(index_dir=tmp_path / "index", min_score=0.2, reload_interval=0)
    files = sorted(SEEDS.glob("*.txt"))[:3]
    first = Engine.open(settings=settings, embedder=FakeEmbedder())
    first.add([files[0]])
    Engine.open(settings=settings, embedder=FakeEmbedder()).add([files[1]])  # another writer
    real = store.load

    def fails_once(*args, **kwargs):
        monkeypatch.setattr(store, "load", real)
        raise IndexCorrupt("a passing read error")

    monkeypatch.setattr(store, "load", fails_once)
    assert [d.id for d in first.documents()] == [files[0].name]  # the background reload failed: served as before
    first.add([files[2]])
    reopened = Engine.open(settings=settings, embedder=FakeEmbedder())
    assert [d.id for d in reopened.documents()] == [f.name for f in files]


def test_a_write_from_a_fallback_keeps_the_generation_it_was_built_from(tmp_path: Path):
    """When the current generation is damaged and an earlier one is served, the next save
    keeps that earlier one as its fallback (it pruned it: only the damaged one was left)."""
    from tests.conftest import SEEDS

    settings = Settings(index_dir=tmp_path / "index", min_score=0.2)
    files = sorted(SEEDS.glob("*.txt"))[:3]
    engine = Engine.open(settings=settings, embedder=FakeEmbedder())
    engine.add([files[0]])
    engine.add([files[1]])
    engine.remove(files[1].name)  # gen-000003 is current
    (tmp_path / "index" / "gen-000003" / "documents.jsonl").write_text("damaged")
    fallback = Engine.open(settings=settings, embedder=FakeEmbedder())
    assert "damaged" in fallback._current().snapshot.notice
    fallback.add([files[2]])
    folders = sorted(p.name for p in (tmp_path / "index").glob("gen-*"))
    assert "gen-000002" in folders and folders[-1] == "gen-000004"


def test_a_fallback_never_serves_a_save_that_did_not_become_current(tmp_path: Path):
    """A writer that died between writing its generation folder and swapping the manifest
    left a whole folder numbered past the current one: when the current one is damaged,
    the fallback is the one before it, never that folder."""
    import shutil

    from tests.conftest import SEEDS

    settings = Settings(index_dir=tmp_path / "index", min_score=0.2)
    files = sorted(SEEDS.glob("*.txt"))[:2]
    engine = Engine.open(settings=settings, embedder=FakeEmbedder())
    engine.add([files[0]])
    engine.add([files[1]])  # gen-000002 is current
    index = tmp_path / "index"
    shutil.copytree(index / "gen-000002", index / "gen-000003")  # a save that never became current
    debris = json.loads((index / "gen-000003" / "manifest.json").read_text())
    debris.update(folder="gen-000003", generation=3)
    (index / "gen-000003" / "manifest.json").write_text(json.dumps(debris))
    (index / "gen-000002" / "documents.jsonl").write_text("damaged")
    snapshot = store.load(index)
    assert snapshot.generation == 1 and list(snapshot.documents) == [files[0].name]
