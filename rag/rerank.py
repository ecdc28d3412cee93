"""Optional re-ranking of the top passages by a cross-encoder (off unless a model is configured)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import MissingDependency, RagError


@runtime_checkable
class Reranker(Protocol):
    """Scores (question, passage) pairs; higher is more relevant."""

    model_id: str

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray: ...


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` loaded from a name or a local path.

    None is bundled: set ``RAG_RERANKER`` to a cross-encoder you have (a local folder,
    or a hub name with ``HF_HUB_OFFLINE=0``).
    """

    def __init__(self, model: str, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:
            raise MissingDependency("pip install sentence-transformers") from exc
        try:
            self._model = CrossEncoder(model, device=device)
        except (OSError, ValueError) as exc:
            raise RagError(f"cannot load cross-encoder {model!r}: {exc}") from exc
        self.model_id = model
        self._lock = threading.Lock()

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        with self._lock:
            scores = self._model.predict([(question, t) for t in texts], show_progress_bar=False)
        return np.asarray(scores, dtype=np.float32).reshape(len(texts), -1)[:, 0]
