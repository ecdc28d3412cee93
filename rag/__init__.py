"""Quote-first question answering over your own documents: verbatim excerpts with exact citations."""

from .config import Settings
from .engine import Engine
from .errors import (
    BackendMismatch,
    BadQuestion,
    EmptyDocument,
    IndexCorrupt,
    IndexWriteError,
    MissingDependency,
    ModelMismatch,
    RagError,
    UnknownDocument,
    UnreadableDocument,
    UnsupportedFile,
)
from .types import AddReport, Answer, Document, Excerpt, Passage, Refusal

__all__ = [
    "AddReport",
    "Answer",
    "BadQuestion",
    "Document",
    "EmptyDocument",
    "Engine",
    "Excerpt",
    "IndexCorrupt",
    "IndexWriteError",
    "MissingDependency",
    "BackendMismatch",
    "ModelMismatch",
    "Passage",
    "RagError",
    "Refusal",
    "Settings",
    "UnknownDocument",
    "UnreadableDocument",
    "UnsupportedFile",
]
