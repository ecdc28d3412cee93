"""Optional cross-encoder re-ranking: the engine follows the re-ranker's order; a tiny real model runs."""

from pathlib import Path

import numpy as np
import pytest

from rag import Engine, Settings
from rag.rerank import CrossEncoderReranker

from .conftest import FakeEmbedder


class PrefersWord:
    """A re-ranker that scores passages by whether they contain one word, and records calls."""

    model_id = "prefers-word"

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, question, texts):
        self.calls.append((question, list(texts)))
        return np.array([float(self.word in t) for t in texts], dtype=np.float32)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Orchard\n\nApples and pears grow in the orchard behind the barn.", encoding="utf-8")
    (folder / "b.txt").write_text("Market\n\nApples are sold at the market on Saturdays.", encoding="utf-8")
    return folder


def test_reranker_reorders_the_top_passages(tmp_path: Path, docs: Path):
    settings = Settings(index_dir=tmp_path / "index", min_score=0.1, min_support=0.1)
    plain = Engine.open(settings=settings, embedder=FakeEmbedder())
    plain.add([docs])
    baseline = [e.source for e in plain.ask("apples orchard barn").excerpts]
    assert baseline[0] == "a.txt"
    reranker = PrefersWord("Saturdays")
    reranked = Engine.open(settings=settings, embedder=FakeEmbedder(), reranker=reranker)
    answer = reranked.ask("apples orchard barn")
    assert [e.source for e in answer.excerpts][0] == "b.txt"
    assert reranker.calls and reranker.calls[0][0] == "apples orchard barn"


def test_reranking_is_off_by_default(tmp_path: Path):
    assert Settings().reranker == ""
    engine = Engine.open(settings=Settings(index_dir=tmp_path / "i"), embedder=FakeEmbedder())
    assert engine._reranker is None


@pytest.mark.slow
def test_tiny_cross_encoder_runs_through_the_engine(tmp_path: Path, docs: Path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from rag.embedding import bundled_model_path

    model_dir = tmp_path / "tiny-cross-encoder"
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=512,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))

    reranker = CrossEncoderReranker(str(model_dir))
    scores = reranker.score("where do apples grow?", ["in the orchard", "at the market"])
    assert scores.shape == (2,) and np.isfinite(scores).all()

    settings = Settings(index_dir=tmp_path / "index", reranker=str(model_dir), min_score=0.1, min_support=0.1)
    engine = Engine.open(settings=settings, embedder=FakeEmbedder())
    assert isinstance(engine._reranker, CrossEncoderReranker)
    engine.add([docs])
    answer = engine.ask("apples orchard")
    texts = [e.text for e in answer.excerpts]
    expected = engine._reranker.score("apples orchard", texts)
    assert list(expected) == sorted(expected, reverse=True)  # shown in the cross-encoder's order
    for e in answer.excerpts:
        assert engine.document(e.source).text[e.start : e.end] == e.text
