"""Save and load a whole index folder: a generation of files plus a manifest swapped in atomically.

Layout of the index folder::

    manifest.json            which generation is current, model id, dimension, counts, checksums,
                             and which vector backend holds each vector set (see backends.py)
    gen-000007/
        documents.jsonl      one Document per line (with its full text)
        passages.jsonl       one Passage per line
        windows.npy          each paragraph (window) vector's passage row
        sentences.npy        each sentence vector's passage row
        *.keys.npy           content hash of each vector's text (the embedding cache)
        windows.*, sentences.*   the vectors, in the files of their backend: with FAISS
                             *.vec.npy, plus *.ivf.faiss and *.ivf.json for a large set
                             (dense.py); with Qdrant, *.qdrant.json naming the
                             collection and the generation, *.qdrant.ids.npy each
                             row's point (qdrant_backend.py)
        lexical.*            each passage's terms and counts (see lexical.py), so that
                             opening an index analyses no text

A save writes a new generation folder (with its own copy of the manifest),
fsyncs it, then replaces the manifest (temp file, fsync, ``os.replace``,
directory fsync). A crash at any moment leaves the previous manifest pointing at
the previous, complete generation. The previous generation is kept: when the
current one is found damaged on load, the newest generation that verifies is
served instead, with a notice.

Several processes may share one index folder (the app and a CLI ingest, two
ingests). Writers take the folder's lock (:func:`writer_lock`, an ``flock`` on
``.write.lock``) around reading the newest generation, merging their change into
it and saving, so no writer ever saves over another's generation. Readers never
lock: :func:`version` tells them cheaply when the manifest was replaced.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import backends
from .documents import file_sha256
from .embedding import INT8_SUFFIX
from .errors import BackendMismatch, IndexCorrupt, IndexWriteError, ModelMismatch, RagError
from .index import Snapshot, VectorSet
from .lexical import FILES as lexical_files
from .lexical import LexicalIndex
from .passage_table import PassageTable
from .types import Document, Passage

FORMAT = 4
READABLE_FORMATS = (1, 2, 3, 4)
MANIFEST = "manifest.json"
#: The writers' lock file inside the index folder.
LOCK = ".write.lock"
#: A reader retries this often when writers replace the manifest while it reads.
_LOAD_ATTEMPTS = 5
#: Seconds a writer waits for another to finish before giving up with a message.
LOCK_TIMEOUT = 300.0
log = logging.getLogger(__name__)
_FILES_V1 = ("documents.jsonl", "passages.jsonl", "windows.faiss", "windows.npy", "sentences.faiss", "sentences.npy")
_FILES_V2 = (*_FILES_V1, "windows.keys.npy", "sentences.keys.npy")
_FILES_V3 = (
    "documents.jsonl",
    "passages.jsonl",
    "windows.npy",
    "sentences.npy",
    "windows.keys.npy",
    "sentences.keys.npy",
)
#: Files every generation of the current format has (the vector files depend on the index kind).
_FILES = (*_FILES_V3, *(f"lexical.{suffix}" for suffix in lexical_files))
#: The vector sets of a generation.
_SETS = ("windows", "sentences")


@contextmanager
def writer_lock(index_dir: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the index folder's single-writer lock, shared by every process on the machine.

    ``flock`` is released by the kernel when its holder dies, so a writer killed
    mid-save never leaves the folder locked. The lock file is opened read-only
    (``flock`` needs no more) and created readable and writable by all, as the
    umask allows: writers running as different users of one group can share it.

    Raises:
        IndexWriteError: the lock file cannot be created (e.g. a read-only folder), or
            another writer held the lock for over ``timeout`` seconds.
    """
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_dir / LOCK, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as exc:
        raise IndexWriteError(
            f"cannot change the index in {index_dir} ({exc.strerror or exc}); it can still be read"
        ) from exc
    try:
        if not _flock(fd, fcntl.LOCK_EX, timeout):
            raise IndexWriteError(
                f"another process has been changing the index in {index_dir} for over {timeout:g} s; "
                "nothing was changed, try again later"
            )
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _flock(fd: int, kind: int, timeout: float) -> bool:
    """Take an ``flock`` of ``kind``, waiting at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def _wait_for_writer(index_dir: Path, timeout: float = LOCK_TIMEOUT) -> bool:
    """Wait until no writer holds the folder's lock; whether one was active."""
    try:
        fd = os.open(index_dir / LOCK, os.O_RDONLY)
    except OSError:
        return False  # no writer ever ran here
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            _flock(fd, fcntl.LOCK_SH, timeout)
            return True
    finally:
        os.close(fd)


def version(index_dir: Path) -> tuple[int, int, int] | None:
    """A token that changes whenever a save replaces the manifest (``None``: no index).

    ``os.replace`` gives the manifest a new inode at every save, so comparing
    tokens costs one ``stat`` and reads no file.
    """
    try:
        stat = (index_dir / MANIFEST).stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def read_manifest(index_dir: Path) -> dict | None:
    """The manifest of an index folder, or ``None`` when no index was saved there."""
    path = index_dir / MANIFEST
    if not path.exists():
        return None
    return _read_json(path)


def current_generation(index_dir: Path) -> int | None:
    """The generation the manifest makes current; ``None`` when there is none or it cannot be read."""
    try:
        manifest = read_manifest(index_dir)
        return int(manifest["generation"]) if manifest else None
    except (IndexCorrupt, KeyError, TypeError, ValueError):
        return None


def _read_json(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"{path} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        raise IndexCorrupt(f"{path} is not an index manifest of a format this version reads {READABLE_FORMATS}")
    return manifest


def check_model(recorded: Snapshot, model_id: str, dim: int | None = None) -> None:
    """Refuse an index (``recorded``: its snapshot) built with another model or dimension.

    Raises:
        ModelMismatch: with both model ids in the message.
    """
    if recorded.model_id != model_id or (dim is not None and recorded.dim != dim):
        base, int8 = recorded.model_id.removesuffix(INT8_SUFFIX), recorded.model_id.endswith(INT8_SUFFIX)
        if base == model_id.removesuffix(INT8_SUFFIX):  # the same model in the other precision
            hint = f"set RAG_ENCODER={'onnx-int8' if int8 else 'onnx'} (or auto)"
        else:
            hint = f"set RAG_MODEL={base}{' and RAG_ENCODER=onnx-int8' if int8 else ''}"
        raise ModelMismatch(
            f"the index was built with {recorded.model_id} ({recorded.dim}-d) but the configured "
            f"model is {model_id}{f' ({dim}-d)' if dim else ''}; {hint}, or rebuild the index in another folder"
        )


def load(index_dir: Path, backend: str = "faiss") -> Snapshot | None:
    """Load the current generation, verifying checksums, counts and offsets.

    When the current generation (or the manifest) is damaged, the newest other
    generation that verifies is loaded instead, and ``Snapshot.notice`` says so.

    Returns:
        The snapshot, or ``None`` when the folder holds no index yet.

    Raises:
        IndexCorrupt: naming the damaged file or the inconsistency, when no
            generation verifies.
    """
    waited = False
    for _ in range(_LOAD_ATTEMPTS):
        seen = version(index_dir)
        try:
            manifest = read_manifest(index_dir)
            if manifest is None:
                if not any((g / MANIFEST).exists() for g in _generation_dirs(index_dir)):
                    return None  # nothing was ever committed (at most debris of a first save)
                if not waited and _wait_for_writer(index_dir):
                    waited = True
                    continue  # a first save was between its generation and its manifest
                raise IndexCorrupt(f"{index_dir / MANIFEST} is missing")
            return _load_generation(index_dir, manifest, backend)
        except IndexCorrupt as problem:
            if version(index_dir) != seen:
                continue  # a writer saved meanwhile, and may have pruned the generation being read
            return _load_fallback(index_dir, problem, backend)
    raise IndexCorrupt(f"the index in {index_dir} kept changing while it was read; try again")


def _load_fallback(index_dir: Path, problem: IndexCorrupt, backend: str) -> Snapshot:
    """The newest generation that verifies on its own (each carries a copy of its manifest),
    of those saved up to the current one: a folder numbered past it is a save that never
    became current (its writer died before the manifest swap)."""
    failures: list[str] = []
    newest = current_generation(index_dir)  # None: the manifest is damaged, any folder may be the last saved
    for gen_dir in reversed(_generation_dirs(index_dir)):
        number = gen_dir.name.removeprefix("gen-")
        if newest is not None and number.isdigit() and int(number) > newest:
            continue
        try:
            manifest = _read_json(gen_dir / MANIFEST)
            snapshot = _load_generation(index_dir, manifest, backend)
        except IndexCorrupt as exc:
            failures.append(str(exc))
            continue
        notice = (
            f"the index is damaged ({problem}); serving generation {snapshot.generation} "
            f"saved {manifest.get('created', '?')} instead (changes saved after it, if any, are lost)"
        )
        log.warning(notice)
        return replace(snapshot, notice=notice)
    if failures and failures[0] != str(problem):
        raise IndexCorrupt(f"{problem}; no generation verifies on its own either: {failures[0]}") from problem
    raise problem


def _load_generation(index_dir: Path, manifest: dict, backend: str = "faiss") -> Snapshot:
    try:
        gen_dir = index_dir / manifest["folder"]
        files = manifest["files"]
        dim = int(manifest["dim"])
        listed = set(files)
        if manifest["format"] >= 3:
            required = set(_FILES if manifest["format"] >= 4 else _FILES_V3)
            recorded = _recorded(manifest, backend)
            vector_files = {f for k in _SETS for f in backends.known_files(k, set(recorded.values()))}
            valid = required <= listed <= required | vector_files
            valid = valid and all(
                f"{k}.{suffix}" in listed
                for k in _SETS
                for suffix in backends.of_saved(k, listed, recorded.get(k)).required
            )
        else:
            valid = listed == set(_FILES_V2 if manifest["format"] == 2 else _FILES_V1)
        if not valid or Path(manifest["folder"]).name != manifest["folder"]:
            raise IndexCorrupt(f"{index_dir / MANIFEST} does not list the index files")
        for name, meta in files.items():
            path = gen_dir / name
            if not path.exists():
                raise IndexCorrupt(f"{path} is missing")
            if path.stat().st_size != meta["bytes"] or file_sha256(path) != meta["sha256"]:
                raise IndexCorrupt(f"{path} does not match its checksum in the manifest (truncated or altered)")
        documents = {d["id"]: Document(**d) for d in _read_jsonl(gen_dir / "documents.jsonl")}
        passages = PassageTable.build(
            (
                Passage(**{**p, "sentences": tuple(tuple(s) for s in p["sentences"])})
                for p in _iter_jsonl(gen_dir / "passages.jsonl")
            ),
            documents,
        )
        # Saved terms are read, not re-analysed. Indexes of format 1-3, or terms of another
        # analyzer version, are rebuilt from the passages at each open until the next save.
        lexical = LexicalIndex.load(gen_dir) if "lexical.vocab.json" in listed else None
        if lexical is None:
            log.info(
                "%s has no usable saved terms (index format %s): they are rebuilt from the passages "
                "at each open until the next change to the index is saved",
                gen_dir,
                manifest["format"],
            )
        windows, sentences = (_load_vector_set(gen_dir, kind, dim, manifest, backend) for kind in _SETS)
        snapshot = Snapshot(
            manifest["model_id"],
            dim,
            documents,
            passages,
            windows,
            sentences,
            generation=int(manifest["generation"]),
            checksum=manifest["checksum"],
            lexical=lexical,
        )
        _verify(snapshot, manifest["counts"])
    except IndexCorrupt:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
        raise IndexCorrupt(f"{index_dir / str(manifest.get('folder', '?'))} holds malformed records: {exc}") from exc
    return snapshot


def release_freed_memory() -> None:
    """Hand freed heap back to the system (glibc's ``malloc_trim``; elsewhere, nothing).

    Reading a large generation parses hundreds of MB of JSON into short-lived objects,
    and switching to it frees the one served before; without this a serving process
    keeps that space long after (measured: 25 MB handed back after opening a 54k-passage
    index and answering once).
    """
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _vector_sets(snapshot: Snapshot) -> list[tuple[str, VectorSet]]:
    return list(zip(_SETS, (snapshot.windows, snapshot.sentences), strict=True))


def _recorded(manifest: dict, configured: str) -> dict[str, str]:
    """The backend of each vector set as the manifest records it, when this process may use it.

    A backend is code, and may reach other machines (a Qdrant URL): whoever can write an
    index folder must not choose either. So only FAISS (files in the folder) or the
    configured backend is accepted.

    Raises:
        IndexCorrupt: the record is malformed.
        BackendMismatch: it names another backend.
    """
    recorded = manifest.get("backends", {})
    if not isinstance(recorded, dict) or not all(isinstance(v, str) for v in recorded.values()):
        raise IndexCorrupt("the manifest's vector backends are malformed")
    for name in recorded.values():
        _check_backend(name, configured)
    return recorded


def _check_backend(name: str, configured: str) -> None:
    if name not in (backends.LOCAL, configured):
        shown = name if name.replace(".", "").replace("_", "").isalnum() else "(a malformed name)"
        raise BackendMismatch(
            f"the index keeps its vectors with the backend {shown}, which is not the configured one "
            f"({configured}); set RAG_VECTOR_BACKEND to it to read this index"
        )


def _load_vector_set(gen_dir: Path, kind: str, dim: int, manifest: dict, configured: str) -> VectorSet:
    """One kind of vectors (``windows`` or ``sentences``): the vectors, their passage rows
    and their content keys (unknown, 0, in an index of format 1)."""
    owner = np.load(gen_dir / f"{kind}.npy", allow_pickle=False)
    keys = None
    if manifest["format"] >= 2:
        # Read only by writers (the embedding cache): a large file stays on disk, mapped.
        path = gen_dir / f"{kind}.keys.npy"
        keys = np.load(path, mmap_mode="r" if path.stat().st_size > 1 << 20 else None, allow_pickle=False)
    files = set(manifest["files"])
    backend = backends.of_saved(kind, files, _recorded(manifest, configured).get(kind))
    _check_backend(backend.name, configured)  # an index saved before backends were recorded
    return VectorSet(backend.load(gen_dir, kind, dim, files), owner, keys)


def save(index_dir: Path, snapshot: Snapshot) -> Snapshot:
    """Write ``snapshot`` as a new generation and make it current atomically.

    Returns:
        The snapshot with its new generation number and checksum.

    Raises:
        IndexWriteError: the generation could not be written (disk full, no
            permission ...); the previous generation is still current and intact.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    try:
        previous = read_manifest(index_dir)
    except IndexCorrupt:
        previous = None  # a damaged manifest is replaced by this save
    generation = max([previous["generation"] if previous else 0, *_generation_numbers(index_dir)]) + 1
    folder = f"gen-{generation:06d}"
    gen_dir = index_dir / folder
    try:
        manifest = _write_generation(gen_dir, snapshot, generation)
        tmp = index_dir / f"{MANIFEST}.{os.getpid()}.tmp"
        _write_json(tmp, manifest)
    except (OSError, RuntimeError, ValueError) as exc:
        shutil.rmtree(gen_dir, ignore_errors=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise IndexWriteError(f"could not save the index ({reason}); the previous index is unchanged") from exc
    os.replace(tmp, index_dir / MANIFEST)
    _fsync(index_dir)
    for debris in index_dir.glob(f"{MANIFEST}.*.tmp"):  # of writers killed mid-save (the lock is ours)
        debris.unlink(missing_ok=True)
    # The previous generation (and the one this snapshot was loaded from) stay as
    # fallbacks; older ones, and debris of saves that crashed, go.
    keep = {folder, f"gen-{snapshot.generation:06d}"} | ({previous["folder"]} if previous else set())
    _remove_old_generations(index_dir, keep, {backends.of_index(v.index) for _, v in _vector_sets(snapshot)})
    return Snapshot(**{**snapshot.__dict__, "generation": generation, "checksum": manifest["checksum"], "notice": ""})


def _write_generation(gen_dir: Path, snapshot: Snapshot, generation: int) -> dict:
    """Write every file of a generation, fsynced, plus its own copy of the manifest."""
    if gen_dir.exists():  # debris of a save that crashed before its manifest
        shutil.rmtree(gen_dir)
    gen_dir.mkdir()
    _write_jsonl(gen_dir / "documents.jsonl", (asdict(d) for d in snapshot.documents.values()))
    _write_jsonl(gen_dir / "passages.jsonl", (asdict(p) for p in snapshot.passages))
    names = [*_FILES_V3]
    names += snapshot.lexical.save(gen_dir, "lexical")
    for kind, vector_set in _vector_sets(snapshot):
        saved = vector_set.index.save(gen_dir, kind)
        # Saved as its backend says it is read back, or the next load would refuse the index.
        backend = backends.get(backends.of_index(vector_set.index))
        if not set(saved) <= {f"{kind}.{suffix}" for suffix in backend.files} or not all(
            f"{kind}.{suffix}" in saved for suffix in backend.required
        ):
            raise ValueError(f"the {backend.name} backend wrote {saved}, not the files it declares")
        names += saved
        np.save(gen_dir / f"{kind}.npy", vector_set.owner, allow_pickle=False)
        np.save(gen_dir / f"{kind}.keys.npy", vector_set.keys, allow_pickle=False)
    files = {}
    for name in names:
        path = gen_dir / name
        _fsync(path)
        files[name] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    manifest = {
        "format": FORMAT,
        "generation": generation,
        "folder": gen_dir.name,
        "model_id": snapshot.model_id,
        "dim": snapshot.dim,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": _counts(snapshot),
        "backends": {kind: backends.of_index(v.index) for kind, v in _vector_sets(snapshot)},
        "files": files,
        "checksum": hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest(),
    }
    _write_json(gen_dir / MANIFEST, manifest)
    _fsync(gen_dir)
    return manifest


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())


def _generation_dirs(index_dir: Path) -> list[Path]:
    """The generation folders, oldest first."""
    found = [p for p in index_dir.glob("gen-*") if p.is_dir() and p.name[4:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[4:]))


def _generation_numbers(index_dir: Path) -> list[int]:
    return [int(p.name[4:]) for p in _generation_dirs(index_dir)]


def _counts(snapshot: Snapshot) -> dict[str, int]:
    return {
        "documents": len(snapshot.documents),
        "passages": len(snapshot.passages),
        "windows": len(snapshot.windows),
        "sentences": len(snapshot.sentences),
    }


def _verify(snapshot: Snapshot, counts: dict[str, int]) -> None:
    """Refuse a snapshot whose parts do not line up: never serve a misaligned index."""
    actual = _counts(snapshot)
    if actual != counts:
        raise IndexCorrupt(f"index counts {actual} differ from the manifest's {counts}")
    n = len(snapshot.passages)
    for vector_set in (snapshot.windows, snapshot.sentences):
        if problem := vector_set.problem(n):
            raise IndexCorrupt(problem)
    if n and len(np.unique(snapshot.windows.owner)) != n:
        raise IndexCorrupt("some passages have no vector")
    # Each passage's text was checked against its document when the table was built.


def _remove_old_generations(index_dir: Path, keep: set[str], writing: set[str]) -> None:
    """Delete generation folders not in ``keep``. Vectors may live outside a folder (a
    Qdrant collection): the backends of this save drop their own (a manifest never
    chooses which code runs, nor which server is reached). Best effort: the new
    generation is already current."""
    for path in _generation_dirs(index_dir):
        if path.name not in keep:
            for name in {backends.LOCAL, *writing} & _recorded_backends(path, {*writing}):
                try:
                    backends.get(name).drop(path)
                except (OSError, ValueError, RagError) as exc:
                    log.warning("could not release what %s held outside its folder: %s", path.name, exc)
            shutil.rmtree(path, ignore_errors=True)


def _recorded_backends(gen_dir: Path, writing: set[str]) -> set[str]:
    """The backends a generation folder's own manifest records (for one saved before they
    were recorded: the ones writing now, which may have written it too)."""
    try:
        recorded = _read_json(gen_dir / MANIFEST).get("backends")
    except IndexCorrupt:
        return set(writing)
    if not isinstance(recorded, dict):
        return set(writing)
    return {v for v in recorded.values() if isinstance(v, str)}


def _read_jsonl(path: Path) -> list[dict]:
    return list(_iter_jsonl(path))


def _iter_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _write_jsonl(path: Path, records) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False))
            fh.write("\n")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
