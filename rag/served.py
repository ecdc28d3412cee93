"""The index one process serves: the newest saved in its folder, by this process or another."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import store
from .errors import RagError
from .index import Snapshot
from .search import SearchIndex

log = logging.getLogger(__name__)


class Served:
    """The ``SearchIndex`` a process answers from, kept up to date with its index folder.

    A query takes ``current()`` once and keeps it to the end, whatever writers do
    meanwhile: a newer index (saved by a writer here or in another process) replaces
    it by a single reference swap, looked for at most once per ``reload_interval``.
    """

    def __init__(
        self,
        index_dir: Path,
        backend: str,
        reload_interval: float,
        snapshot: Snapshot | None,
        version: tuple[int, int, int] | None,
        model_id: Callable[[], str | None],
    ) -> None:
        self.index_dir = index_dir
        self._backend = backend
        self._interval = reload_interval
        #: The model the process embeds questions with, once loaded (``None`` before).
        self._model_id = model_id
        self.index = SearchIndex(snapshot) if snapshot is not None else None
        #: The manifest version the served snapshot was read from (see ``store.version``).
        self._version = version
        #: A newer manifest version that could not be read, not tried again in the background.
        self._unreadable: object = None
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        store.release_freed_memory()  # what reading the snapshot left behind

    def current(self) -> SearchIndex | None:
        """The index to answer from now (the newest saved, checked now and then)."""
        self.sync()
        return self.index

    def snapshot(self, empty: Callable[[], Snapshot]) -> Snapshot:
        """The served snapshot, or ``empty()`` when no index was saved yet."""
        return self.index.snapshot if self.index is not None else empty()

    def sync(self, force: bool = False) -> bool:
        """Serve the newest index saved in the folder, by this process or another.

        Cheap when nothing changed (one ``stat``, at most once per ``reload_interval``
        unless ``force``). While one thread loads a newer index, the others go on
        serving the current one.

        Returns:
            Whether a newer index was loaded.

        Raises:
            IndexCorrupt, ModelMismatch: only when ``force`` (writers must not merge
                into an index they cannot read); otherwise logged, and the current
                index stays in service.
        """
        now = time.monotonic()
        if not force and now - self._checked < self._interval:
            return False
        self._checked = now
        # A version that failed to load is not tried again in the background; a writer
        # (``force``) compares with the version it serves, never with that one: a passing
        # read error must not leave it merging into an older index than the newest.
        skip = (self._version,) if force else (self._version, self._unreadable)
        if store.version(self.index_dir) in skip:
            return False
        if not self._lock.acquire(blocking=force):
            return False  # another thread is loading it
        try:
            seen = store.version(self.index_dir)
            if seen in skip:
                return False
            try:
                snapshot = store.load(self.index_dir, self._backend)
                if snapshot is not None and snapshot.notice and force:
                    # A writer must not merge into an earlier generation because of a passing
                    # read error: look again before accepting the fallback.
                    time.sleep(0.2)
                    seen = store.version(self.index_dir)
                    snapshot = store.load(self.index_dir, self._backend)
                model_id = self._model_id()
                if snapshot is not None and model_id is not None:
                    store.check_model(snapshot, model_id)
            except RagError as exc:
                if force:
                    raise
                log.warning("kept serving the index loaded before: the newer one cannot be read (%s)", exc)
                self._unreadable = seen
                return False
            self.index = SearchIndex(snapshot) if snapshot is not None else None
            self._version = seen
            store.release_freed_memory()  # what reading it left, and the index served before
            return True
        finally:
            self._lock.release()

    def publish(self, snapshot: Snapshot) -> None:
        """Save ``snapshot`` (the caller holds the folder's writer lock) and serve it as saved."""
        saved = store.save(self.index_dir, snapshot)
        self.index = SearchIndex(saved)  # a single reference swap: readers see old or new
        self._version = store.version(self.index_dir)
        store.release_freed_memory()
