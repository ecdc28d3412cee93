"""Which files become which documents: ids for the files given, reading them through the
parser (files unchanged since they were indexed are not read again), and ingest in a
separate process for a server whose memory must not grow with what it is sent."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Container, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from .config import Settings
from .documents import describe_type, file_sha256, is_supported, iter_files
from .errors import IndexWriteError, RagError
from .index import PROGRESS_MIN_DOCUMENTS, Progress
from .sandbox import Parser
from .types import AddReport, Document, Refusal


def assign_ids(
    paths: Iterable[str | Path], indexed: Iterable[Document], replace: bool, follow_links: bool, report: AddReport
) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    """The ``(file, doc_id)`` pairs to read, with refusals and renames noted in ``report``,
    and the ``(file, id)`` clashes: files whose id another file's document holds.

    A file already indexed (under whatever id) keeps its id. Another file whose id is
    taken is renamed (``folder/name``, ``name (2)``), or with ``replace`` takes it over.
    """
    clashes: list[tuple[str, str]] = []
    taken = {d.id: d.path for d in indexed}
    id_of = {path: doc_id for doc_id, path in taken.items()}
    pairs: list[tuple[Path, str]] = []
    read: set[str] = set()
    for raw in paths:
        path = Path(raw).absolute()  # the parser process runs elsewhere: never hand it a relative path
        if not path.exists():
            report.refused.append(Refusal(str(raw), "no such file or folder"))
            continue
        found, skipped = iter_files(path, follow_links=follow_links)
        report.refused.extend(Refusal(str(file), reason) for file, reason in skipped)
        for file, doc_id in found:
            source = str(file.resolve())
            if source in read:
                continue  # the same file twice (a link to it, a folder given twice): read once
            read.add(source)
            if source in id_of:
                doc_id = id_of[source]
            elif doc_id in taken and replace:
                clashes.append((str(file), doc_id))
            elif doc_id in taken:
                clashes.append((str(file), doc_id))
                new_id = free_id(doc_id, path.name if path.is_dir() else "", taken)
                reason = f"{doc_id!r} is already the id of {taken[doc_id]}; indexed as {new_id!r}"
                report.warnings.append(Refusal(str(file), reason))
                doc_id = new_id
            taken[doc_id], id_of[source] = source, doc_id
            pairs.append((file, doc_id))
    return pairs, clashes


def free_id(doc_id: str, folder: str, taken: Container[str]) -> str:
    """An id for a file whose id is taken: prefixed with the folder it was given in
    (``b/report.txt`` next to ``report.txt`` from ``a``), else numbered."""
    if folder and f"{folder}/{doc_id}" not in taken:
        return f"{folder}/{doc_id}"
    stem, dot, suffix = doc_id.rpartition(".")
    stem, suffix = (stem, dot + suffix) if stem and "/" not in suffix else (doc_id, "")
    n = 2
    while f"{stem} ({n}){suffix}" in taken:
        n += 1
    return f"{stem} ({n}){suffix}"


def rename_taken(
    loaded: dict[str, Document],
    holders: dict[str, Document],
    report: AddReport,
    why: str,
    same_file_keeps: bool = False,
) -> dict[str, Document]:
    """``loaded`` with each document whose id one of ``holders`` has renamed (with a
    warning); with ``same_file_keeps``, a holder read from the same file is no clash."""
    taken = {**holders, **loaded}
    out: dict[str, Document] = {}
    for doc_id, doc in loaded.items():
        holder = holders.get(doc_id)
        if holder is not None and not (same_file_keeps and holder.path == doc.path):
            new_id = free_id(doc_id, "", taken)
            taken[new_id] = doc
            report.warnings.append(Refusal(doc.path, f"{doc_id!r} {why}; indexed as {new_id!r}"))
            doc = replace(doc, id=new_id)
        out[doc.id] = doc
    return out


def read_files(
    pairs: list[tuple[Path, str]],
    known: Mapping[str, Document],
    parser: Parser,
    max_bytes: int,
    report: AddReport,
    bar: bool = False,
) -> dict[str, Document]:
    """The documents read from ``pairs`` of (file, id): files unchanged since ``known``
    read them are noted in ``report`` and not read again; refusals are noted too."""
    loaded: dict[str, Document] = {}
    # A refresh reads nothing in the common case: it shows no bar (``ask`` calls it every time).
    files = tqdm(pairs, desc="reading", unit="file", disable=not bar or len(pairs) <= PROGRESS_MIN_DOCUMENTS)
    for file, doc_id in files:
        if not is_supported(file):
            report.refused.append(Refusal(str(file), f"unsupported file type {describe_type(file.name)!r}"))
            continue
        old = known.get(doc_id)
        try:
            if old is not None and unchanged(file, old, max_bytes):
                report.unchanged.append(doc_id)
                continue
            loaded[doc_id] = doc = parser.load(file, doc_id, max_bytes)
            if damaged := doc.text.count("\ufffd"):
                report.warnings.append(
                    Refusal(
                        str(file),
                        f"{damaged} character(s) of the text are U+FFFD replacement characters: the text "
                        "was damaged before it reached here, and quotes show them as \ufffd",
                    )
                )
        except (RagError, OSError) as exc:
            report.refused.append(Refusal(str(file), str(exc)))
    return loaded


def still_on_disk(documents: Iterable[Document], follow_links: bool, report: AddReport) -> list[tuple[Path, str]]:
    """The ``(file, id)`` pairs to re-read for a refresh: each document's own file, unless
    it is gone or has become a link (links were resolved when it was added, and a link
    put in its place, to /etc/passwd say, is never followed behind the user's back);
    those are reported as refused and their indexed copies kept."""
    pairs = []
    for doc in documents:
        path = Path(doc.path)
        if path.is_symlink() and not follow_links:
            reason = f"{doc.id}: the file is now a link to {path.resolve()}; not re-read, the indexed copy is kept"
            report.refused.append(Refusal(doc.path, reason))
        elif not path.exists():
            report.refused.append(Refusal(doc.path, f"{doc.id}: source file is gone; the indexed copy is kept"))
        else:
            pairs.append((path, doc.id))
    return pairs


def unchanged(file: Path, doc: Document, max_bytes: int) -> bool:
    """Whether ``file`` still holds what ``doc`` was read from. Anything but a regular
    file within the size limit counts as changed (and is then refused by the reader),
    so that this check never blocks on a pipe or hashes a device."""
    info = file.stat()
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        return False
    if info.st_size == doc.size and info.st_mtime_ns == doc.mtime_ns:
        return True
    return file_sha256(file) == doc.sha256


def add_in_child(
    paths: Iterable[str | Path], settings: Settings, progress: Progress | None = None, replace: bool = False
) -> AddReport:
    """``Engine.add`` run by ``python -m rag ingest`` over the index folder of ``settings``
    (see ``Engine.add_isolated``), with its progress lines passed to ``progress``.

    Raises:
        IndexWriteError: the child failed without a report (its last words are in the message).
    """
    command = [sys.executable, "-m", "rag", "ingest", "--json", "--progress"]
    command += ["--replace"] if replace else []
    command += ["--", *(str(Path(p).absolute()) for p in paths)]
    # Signal weights are the parent's settings only: a RAG_<NAME>_WEIGHT left in this process's
    # environment that its settings did not take must not reweigh the child's.
    inherited = {k: v for k, v in os.environ.items() if not (k.startswith("RAG_") and k.endswith("_WEIGHT"))}
    env = {**inherited, **settings.to_env(), "RAG_INDEX_DIR": str(Path(settings.index_dir).absolute())}
    # The report (any size) goes to a file, so that the child never blocks on a full pipe
    # while its progress lines are read here.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as report_file:
        child = subprocess.Popen(
            command,
            stdout=report_file,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        last = ""
        for line in child.stderr:  # progress lines while it works; the last other line explains a failure
            if line.startswith("progress "):
                done, _, what = line[len("progress ") :].strip().partition(" ")
                if progress is not None:
                    progress(float(done), what)
            elif line.strip():
                last = line.strip()
        child.wait()
        report_file.seek(0)
        out = report_file.read()
    try:
        return AddReport.from_dict(json.loads(out.strip().splitlines()[-1]))
    except (ValueError, IndexError, TypeError, KeyError):
        reason = last or "no message"
        if "unchanged" not in reason:  # the child's own message may say so already
            reason += "; the index is unchanged"
        raise IndexWriteError(f"indexing failed (exit status {child.returncode}): {reason}") from None
