"""The ONNX encoder: exported from the bundled model, verified, cached, torch-free on the query path."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import Engine, RagError, Settings
from rag.embedding import BUNDLED_MODEL_ID, SentenceTransformerEmbedder, load_embedder
from rag.onnx_encoder import ExportError, OnnxEmbedder, cache_folder

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index folder whose encoder cache holds the verified fp32 export."""
    index_dir = tmp_path_factory.mktemp("onnx-index")
    assert isinstance(load_embedder("bundled:all-MiniLM-L6-v2", "onnx", index_dir), OnnxEmbedder)
    return index_dir


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def _seed_texts() -> list[str]:
    texts = []
    for path in sorted(SEEDS.iterdir()):
        texts += [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()][:15]
    return texts


def test_export_reproduces_the_model_on_real_text(exported: Path, torch_embedder):
    onnx = OnnxEmbedder(cache_folder(exported, BUNDLED_MODEL_ID, int8=False))
    assert (onnx.model_id, onnx.dim, onnx.max_tokens) == (BUNDLED_MODEL_ID, 384, 256)
    texts = _seed_texts()
    assert len(texts) > 40
    cosine = np.sum(onnx.encode_documents(texts) * torch_embedder.encode_documents(texts), axis=1)
    assert cosine.min() >= 0.9999
    queries = ["Who commands Liwa al-Quds?", "When was it formed?"]
    assert np.sum(onnx.encode_queries(queries) * torch_embedder.encode_queries(queries), axis=1).min() >= 0.9999
    assert onnx.count_tokens(texts) == torch_embedder.count_tokens(texts)  # same tokenizer, no truncation
    meta = json.loads((cache_folder(exported, BUNDLED_MODEL_ID, False) / "encoder.json").read_text())
    assert meta["min_cosine"] >= 0.9999


def test_batches_grouped_by_length_give_each_text_its_own_vector(exported: Path):
    """Texts are regrouped by token length inside a call: the order of the answer and
    every vector must be as if each text were encoded alone."""
    onnx = OnnxEmbedder(cache_folder(exported, BUNDLED_MODEL_ID, int8=False), batch_size=5, batch_tokens=300)
    texts = _seed_texts()[:30][::-1] + ["", "x", " ".join(["word"] * 400)]  # mixed lengths, one truncated
    together = onnx.encode_documents(texts)
    alone = np.concatenate([onnx.encode_documents([t]) for t in texts])
    assert together.shape == (len(texts), 384)
    assert np.sum(together * alone, axis=1).min() >= 0.99999


def test_cached_export_is_loaded_without_torch(exported: Path):
    script = (
        "import sys\n"
        "from rag.embedding import load_embedder\n"
        f"e = load_embedder('bundled:all-MiniLM-L6-v2', 'onnx', __import__('pathlib').Path({str(exported)!r}))\n"
        "e.encode_queries(['who leads the delegation?'])\n"
        "print(type(e).__name__, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["OnnxEmbedder", "False", "False"]


@pytest.mark.parametrize("damaged", ["model.onnx", "tokenizer.json"])
def test_altered_export_is_detected_and_redone(exported: Path, tmp_path: Path, damaged: str):
    import shutil

    index_dir = tmp_path / "index"
    shutil.copytree(exported, index_dir)
    path = cache_folder(index_dir, BUNDLED_MODEL_ID, False) / damaged
    with open(path, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 16)
    with pytest.raises(ExportError, match="altered"):
        OnnxEmbedder(path.parent)
    assert isinstance(load_embedder("bundled:all-MiniLM-L6-v2", "onnx", index_dir), OnnxEmbedder)
    OnnxEmbedder(path.parent)  # re-exported and verified


def test_failed_export_falls_back_to_torch_and_says_why(tmp_path: Path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ExportError("the exporter is broken today")

    monkeypatch.setattr("rag.onnx_encoder.export", broken)
    with caplog.at_level(logging.WARNING, logger="rag.embedding"):
        embedder = load_embedder("bundled:all-MiniLM-L6-v2", "onnx", tmp_path)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert "exporter is broken today" in caplog.text and "torch" in caplog.text


def test_int8_has_its_own_model_id_and_never_mixes_with_fp32(exported: Path, tmp_path: Path, torch_embedder):
    int8 = load_embedder("bundled:all-MiniLM-L6-v2", "onnx-int8", tmp_path)
    assert isinstance(int8, OnnxEmbedder) and int8.model_id == BUNDLED_MODEL_ID + "+onnx-int8"
    texts = _seed_texts()
    cosine = np.sum(int8.encode_documents(texts) * torch_embedder.encode_documents(texts), axis=1)
    assert 0.97 <= cosine.mean() < 0.9999  # close, but lossy: never mixed with fp32 vectors
    # An index built with fp32 refuses the int8 encoder, and the other way round.
    first_seed = SEEDS / sorted(p.name for p in SEEDS.iterdir())[0]
    engine = Engine.open(settings=Settings(index_dir=exported / "idx", encoder="onnx"))
    engine.add([first_seed])
    with pytest.raises(RagError, match="onnx-int8"):
        Engine.open(settings=Settings(index_dir=exported / "idx", encoder="onnx-int8"))
    # The default ("auto") serves an fp32 index with fp32 queries, and starts a new index in int8.
    old = Engine.open(settings=Settings(index_dir=exported / "idx", encoder_cache=str(exported)))
    assert old.settings.encoder == "onnx" and old.ask("What did regime officials offer the Palestinians?").answered
    assert old.embedder.model_id == BUNDLED_MODEL_ID
    new = Engine.open(settings=Settings(index_dir=tmp_path / "new", encoder_cache=str(tmp_path)))
    assert new.settings.encoder == "auto"
    new.add([first_seed])
    assert new.settings.encoder == "onnx-int8" and new.documents()
    assert Engine.open(settings=Settings(index_dir=tmp_path / "new")).settings.encoder == "onnx-int8"


def test_auto_follows_an_index_built_by_another_process_after_open(exported: Path, tmp_path: Path):
    folder, first_seed = tmp_path / "late", SEEDS / sorted(p.name for p in SEEDS.iterdir())[0]
    waiting = Engine.open(settings=Settings(index_dir=folder, encoder_cache=str(exported), reload_interval=0))
    assert waiting.settings.encoder == "auto"  # nothing there yet
    Engine.open(settings=Settings(index_dir=folder, encoder="onnx", encoder_cache=str(exported))).add([first_seed])
    assert waiting.ask("What did regime officials offer the Palestinians?").answered
    assert waiting.embedder.model_id == BUNDLED_MODEL_ID and waiting.settings.encoder == "onnx"
    # Asked for the other precision, the message names the setting that differs.
    with pytest.raises(RagError, match="set RAG_ENCODER=onnx "):
        Engine.open(settings=Settings(index_dir=folder, encoder="onnx-int8"))
    with pytest.raises(RagError, match="names an encoder too"):
        Engine.open(settings=Settings(index_dir=folder, model=BUNDLED_MODEL_ID + "+onnx-int8"))


def test_auto_falls_back_to_fp32_when_int8_cannot_be_made(exported: Path, monkeypatch, caplog):
    real = load_embedder

    def no_int8(model, encoder, *args, **kwargs):
        if encoder == "onnx-int8":
            raise RagError("the int8 ONNX encoder is unavailable: quantiser missing")
        return real(model, encoder, *args, **kwargs)

    monkeypatch.setattr("rag.embedding.load_embedder", no_int8)
    with caplog.at_level(logging.WARNING, logger="rag.embedding"):
        embedder = real("bundled:all-MiniLM-L6-v2", "auto", exported)
    assert isinstance(embedder, OnnxEmbedder) and embedder.model_id == BUNDLED_MODEL_ID
    assert "quantiser missing" in caplog.text


def test_unknown_encoder_is_refused(tmp_path: Path):
    with pytest.raises(RagError, match="unknown encoder"):
        load_embedder("bundled:all-MiniLM-L6-v2", "tensorrt", tmp_path)


def test_late_chunking_pools_each_sentence_from_the_window_pass(exported: Path):
    onnx = OnnxEmbedder(cache_folder(exported, BUNDLED_MODEL_ID, False))
    text = "The brigade was formed in 2013 in Aleppo. Its commander is an engineer from the Nayrab camp."
    cut = text.index(" Its")
    windows, sentences = onnx.encode_late([text, "x"], [[(0, cut), (cut + 1, len(text))], []])
    assert windows.shape == (2, onnx.dim) and sentences.shape == (2, onnx.dim)
    # The window's vector is the model's vector of the text: one pass, the same pooling.
    assert float(windows[0] @ onnx.encode_documents([text])[0]) > 0.9999
    assert np.allclose(np.linalg.norm(sentences, axis=1), 1.0, atol=1e-5)
    alone = onnx.encode_documents([text[:cut], text[cut + 1 :]])
    # Each sentence embedded alone finds its own pooled vector first (the pooled vectors
    # also carry the paragraph's context, so they lean towards each other).
    similarity = sentences @ alone.T
    assert similarity[0, 0] > similarity[1, 0] and similarity[1, 1] > similarity[0, 1]
    assert float(sentences[0] @ sentences[1]) < 0.99


def test_an_index_embeds_each_window_once_with_late_chunking(tmp_path: Path, exported: Path):
    settings = Settings(index_dir=tmp_path / "index", encoder_cache=str(exported))
    engine = Engine.open(settings=settings)
    engine.add([SEEDS])
    snap = engine._current().snapshot
    assert engine.last_embedded == len(snap.windows.owner) < len(snap.sentences.owner)
    assert not (tmp_path / "index" / "encoders").exists()  # the export is the user's, not the index's


def test_token_vectors_are_the_models_own_and_the_same_from_torch(exported: Path, torch_embedder):
    """``encode_tokens``: one unit vector per real token (no [CLS] or [SEP]), in any batch,
    the same from the exported model as from torch; what the ``tokens`` signal compares."""
    onnx = OnnxEmbedder(cache_folder(exported, BUNDLED_MODEL_ID, int8=False), batch_size=2, batch_tokens=64)
    texts = ["When was Liwa al-Quds formed?", "", "The brigade was formed in 2013 by engineer Muhammad al-Sa’eed."]
    ours, theirs = onnx.encode_tokens(texts), torch_embedder.encode_tokens(texts)
    real = [n - 2 for n in onnx.count_tokens(texts)]  # less [CLS] and [SEP]
    assert [len(v) for v in ours] == [len(v) for v in theirs] == real
    for a, b in zip(ours, theirs, strict=True):
        if len(a):
            assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
            assert np.sum(a * b, axis=1).min() > 0.999
    alone = onnx.encode_tokens(texts[2:])[0]
    assert np.sum(alone * ours[2], axis=1).min() > 0.9999  # its batch does not change a text's tokens
    # "formed" in the question is nearest its own word in the passage, in context.
    words = [onnx._tokenizer.encode(t).tokens[1:-1] for t in (texts[0], texts[2])]
    match = ours[0] @ ours[2].T
    assert int(match[words[0].index("formed")].argmax()) == words[1].index("formed")


def test_int8_token_vectors_do_not_depend_on_the_texts_read_with_them(exported: Path):
    """The int8 model quantises activations over a whole batch, padding included: a text's
    token vectors are read alone, so what was read beside it (or cached before) cannot move a
    score on the abstention threshold."""
    onnx = load_embedder("bundled:all-MiniLM-L6-v2", "onnx-int8", exported)
    assert isinstance(onnx, OnnxEmbedder) and (cache_folder(exported, BUNDLED_MODEL_ID, int8=True)).exists()
    texts = [*_seed_texts()[:11], " ".join(_seed_texts()[11:25])]  # the last one read in several windows
    assert onnx.count_tokens(texts[-1:])[0] > onnx.max_tokens
    together = onnx.encode_tokens(texts)
    for i in (0, 5, 11):
        assert np.array_equal(onnx.encode_tokens([texts[i]])[0], together[i])
    assert np.array_equal(onnx.encode_tokens(texts[::-1])[::-1][3], together[3])


def test_a_long_text_is_read_whole_in_overlapping_windows(exported: Path, torch_embedder):
    """A passage longer than the model reads is not cut: its end is read too."""
    onnx = OnnxEmbedder(cache_folder(exported, BUNDLED_MODEL_ID, int8=False))
    text = "The harbour reopened in spring after the repairs. " * 60 + "The zebra escaped from the zoo in 1999."
    real = onnx.count_tokens([text])[0] - 2
    assert real > 2 * onnx.max_tokens
    before = text[: text.index("The zebra")]
    for embedder in (onnx, torch_embedder):
        (vectors,) = embedder.encode_tokens([text])
        assert len(vectors) > real  # every token, and the windows' overlaps
        zebra = embedder.encode_tokens(["zebra"])[0]
        # The last sentence's "zebra" is read: it matches far better than anything before it.
        without = float((zebra @ embedder.encode_tokens([before])[0].T).max())
        assert float((zebra @ vectors.T).max()) > without + 0.2
