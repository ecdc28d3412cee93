"""Fixtures for the reliability suite: an engine whose state can be compared before and after."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag import Engine, Settings
from rag.embedding import bundled_model_path
from tests.conftest import SEEDS, FakeEmbedder


class TokenizerEmbedder(FakeEmbedder):
    """The fake vectors, but the bundled model's real tokenizer and input size (256),
    so that "no passage over the model's input" is checked against the real thing."""

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        super().__init__(max_tokens=256)
        self._tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]


@dataclass(frozen=True)
class State:
    """What a user can observe of an index: its files, its documents and its answers."""

    manifest: dict
    documents: list[tuple[str, str, str]]
    answers: list[str]


QUESTIONS = (
    "Who leads the Hamas delegation to Damascus?",
    "When was Liwa al-Quds formed?",
    "How many Russian helicopters arrived at Palmyra?",
)


def observe(engine: Engine) -> State:
    manifest = json.loads((engine.index_dir / "manifest.json").read_text())
    manifest.pop("created", None)
    answers = [json.dumps(engine.ask(q).to_dict(), sort_keys=True) for q in QUESTIONS]
    return State(manifest, [(d.id, d.sha256, d.title) for d in engine.documents()], answers)


@pytest.fixture
def seeded(tmp_path: Path) -> Engine:
    """An engine over the seeds (fake vectors, real tokenizer), fully indexed."""
    engine = Engine.open(settings=Settings(index_dir=tmp_path / "index", min_score=0.2), embedder=TokenizerEmbedder())
    report = engine.add([SEEDS])
    assert len(report.added) == 5, report
    return engine
