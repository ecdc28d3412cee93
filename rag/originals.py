"""Uploaded files kept by the index, so that "Open original" outlives the upload cache.

An uploaded file is copied to ``<index>/originals/<content hash>/<name>`` and indexed
from there: a file uploaded twice is one copy (and one document), a changed one another.
A copy that no indexed document reads from (an upload cancelled, or replaced, or a
document removed) is deleted at a later upload once it has not been uploaded for
``GRACE_S``. Keeping and pruning hold the index folder's writer lock, so two sessions
or processes never delete a copy the other has just made.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from . import store
from .documents import read_regular_file

#: The folder, inside the index folder, of the kept uploads.
FOLDER = "originals"
#: A kept copy no indexed document reads from goes once it has not been uploaded for this long.
GRACE_S = 3600


def keep(paths: Iterable[str | Path], index_dir: Path, max_bytes: int, indexed: Iterable[str] = ()) -> list[str]:
    """Copies of ``paths`` kept in the index folder (first pruning stale copies; see the module).

    Args:
        paths: uploaded files (regular files, at most ``max_bytes`` each).
        index_dir: the index folder.
        max_bytes: the largest file to keep.
        indexed: the paths the indexed documents read from (their copies are never pruned).

    Returns:
        The path of each copy, in the order of ``paths``.

    Raises:
        UnreadableDocument: a path is not a regular file within the size limit.
        OSError: a copy cannot be written (disk full ...); nothing half-written is left.
    """
    folder = index_dir / FOLDER
    with store.writer_lock(index_dir):
        _prune(folder, {str(Path(p).resolve()) for p in indexed}, time.time())
        return [str(_keep_one(Path(path), folder, max_bytes)) for path in paths]


def _keep_one(path: Path, folder: Path, max_bytes: int) -> Path:
    data, _ = read_regular_file(path, max_bytes)  # one bounded read: never a pipe or a device
    target = folder / hashlib.sha256(data).hexdigest()[:32] / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        os.utime(target)  # uploaded again: the grace period starts over
        return target
    fd, staging = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(staging, target)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return target


def _prune(folder: Path, indexed: set[str], now: float) -> None:
    """Delete copies that no ``indexed`` path is and that were last uploaded over ``GRACE_S`` ago."""
    for copy_dir in folder.glob("*") if folder.is_dir() else ():
        try:
            for item in list(copy_dir.iterdir()):
                stale = now - item.stat().st_mtime >= GRACE_S
                if stale and str(item.resolve()) not in indexed:
                    item.unlink()
            if not any(copy_dir.iterdir()):
                copy_dir.rmdir()
        except OSError:
            continue  # best effort: a copy left behind wastes space, never correctness
