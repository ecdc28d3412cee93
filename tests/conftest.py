"""Shared fixtures: a recording fake embedder for logic tests, the real bundled model for behaviour."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag import Engine, Settings
from rag.analysis import terms

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"


class FakeEmbedder:
    """Hashed bag of stemmed words: deterministic, instant, and records every call."""

    model_id = "fake-bag-of-words"

    def __init__(self, dim: int = 256, max_tokens: int = 64) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.calls: list[tuple[str, list[str]]] = []

    @property
    def documents_embedded(self) -> int:
        return sum(len(texts) for kind, texts in self.calls if kind == "documents")

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in terms(text) or ["<empty>"]:
                out[row, int(hashlib.md5(term.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(("documents", list(texts)))
        return self._vectors(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(("queries", list(texts)))
        return self._vectors(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def fake_engine(tmp_path: Path, fake_embedder: FakeEmbedder) -> Engine:
    settings = Settings(index_dir=tmp_path / "index", min_score=0.2)
    return Engine.open(settings=settings, embedder=fake_embedder)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the bundled seeds built once per run with the real bundled model."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    engine = Engine.open(settings=Settings(index_dir=index_dir))
    report = engine.add([SEEDS])
    assert len(report.added) == 5, report
    return index_dir


@pytest.fixture(scope="session")
def seed_engine(seed_index: Path) -> Engine:
    return Engine.open(settings=Settings(index_dir=seed_index))


@pytest.fixture
def seed_copy(tmp_path: Path) -> Path:
    """A private copy of the seed files that a test may change."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target
