"""Vector backends: where an index keeps its vectors, chosen by name.

A backend is one module that exposes ``BACKEND``, a :class:`Backend`: the files it
writes for a vector set (``<set>.<suffix>`` in a generation folder), which of them a
saved set must have, and how to make an empty set, load a saved one and drop what a
pruned generation held outside its folder. The built-in ones are ``faiss`` (dense.py)
and ``qdrant`` (qdrant_backend.py); ``RAG_VECTOR_BACKEND=package.module`` names any
other module that exposes ``BACKEND``, so a new backend is that module plus its
contract tests (tests/test_dense.py). The manifest records which backend holds each
vector set, so an index is always read back by the backend that wrote it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dense import VectorIndex

#: The built-in backends and the modules that define them (imported on first use).
BUILT_IN = {"faiss": "rag.dense", "qdrant": "rag.qdrant_backend"}
#: The backend whose vectors are files in the index folder: the only one an index is read
#: with when it is not the configured one.
LOCAL = "faiss"


@dataclass(frozen=True)
class Backend:
    """How one kind of vector store is made, saved, read back and dropped."""

    name: str
    #: Every file suffix the backend may write for a vector set ("vec.npy", "ivf.faiss", ...).
    files: tuple[str, ...]
    #: The suffixes a saved vector set must have.
    required: tuple[str, ...]
    #: An empty vector set: ``empty(dim, location)`` (``location``: a folder or a server URL).
    empty: Callable[[int, str], VectorIndex]
    #: A saved vector set: ``load(folder, set_name, dim, files_listed_in_the_manifest)``.
    load: Callable[[Path, str, int, set[str]], VectorIndex]
    #: Release what a pruned generation folder's sets hold elsewhere (a server's collections).
    drop: Callable[[Path], None] = lambda folder: None
    #: True where one process at a time may open ``location`` (Qdrant's local mode): a
    #: server then adds documents itself instead of in a child process.
    single_process: Callable[[str], bool] = lambda location: False


def get(name: str) -> Backend:
    """The backend called ``name`` (built in, or a module path exposing ``BACKEND``).

    Raises:
        ValueError: no such backend.
    """
    module = BUILT_IN.get(name, name)
    if name not in BUILT_IN and "." not in name:
        raise ValueError(f"unknown vector backend {name!r}; choose {' or '.join(BUILT_IN)}, or a module path")
    try:
        backend = importlib.import_module(module).BACKEND
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"vector backend {name!r}: {module} does not define BACKEND ({exc})") from exc
    if not isinstance(backend, Backend):
        raise ValueError(f"vector backend {name!r}: {module}.BACKEND is not a rag.backends.Backend")
    return backend


def of_index(index: VectorIndex) -> str:
    """The name of the backend an index belongs to (its ``backend`` attribute)."""
    return index.backend


def of_saved(set_name: str, files: set[str], recorded: str | None) -> Backend:
    """The backend holding a saved vector set: the one the manifest records, else (an index
    saved before backends were recorded) the built-in one whose required files are there."""
    if recorded:
        return get(recorded)
    for name in BUILT_IN:
        backend = get(name)
        if all(f"{set_name}.{suffix}" in files for suffix in backend.required):
            return backend
    return get("faiss")


def known_files(set_name: str, recorded: set[str]) -> set[str]:
    """Every file name that the built-in backends and the ``recorded`` ones may write for a set."""
    return {f"{set_name}.{suffix}" for name in {*BUILT_IN, *recorded} for suffix in get(name).files}
