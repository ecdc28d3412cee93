"""A separate ingest process for the crash tests: ``python -m tests.reliability.child MODE INDEX FILE...``.

MODE ``slow``: every step of the save prints a marker and sleeps a little (a slow
disk), so that a kill -9 can land anywhere inside it. MODE ``fsize=N``: the
process may not write files larger than N bytes (``RLIMIT_FSIZE``): a disk that
fills up in the middle of a save. MODE ``plain``: an ordinary ingest.

With ``GO_FILE`` set, the process waits after opening the index until that file
exists, so that several writers can be started together.
"""

from __future__ import annotations

import functools
import os
import resource
import signal
import sys
import time
from pathlib import Path

from rag import Engine, RagError, Settings, store
from tests.conftest import FakeEmbedder


def _slow(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        print(f"STEP {name}", flush=True)
        time.sleep(0.01)
        result = fn(*args, **kwargs)
        time.sleep(0.01)
        return result

    return wrapper


def main(argv: list[str]) -> int:
    mode, index_dir, files = argv[0], Path(argv[1]), [Path(f) for f in argv[2:]]
    if mode == "slow":
        for name in ("_write_jsonl", "_fsync", "file_sha256", "_write_json", "_remove_old_generations"):
            setattr(store, name, _slow(name, getattr(store, name)))
        store.os.replace = _slow("os.replace", store.os.replace)
    elif mode.startswith("fsize="):
        limit = int(mode.split("=", 1)[1])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    engine = Engine.open(settings=Settings(index_dir=index_dir, min_score=0.2), embedder=FakeEmbedder())
    print("OPENED", flush=True)
    if go := os.environ.get("GO_FILE"):
        while not Path(go).exists():
            time.sleep(0.005)
    try:
        report = engine.add(files)
    except RagError as exc:
        print(f"ERROR {type(exc).__name__}: {exc}", flush=True)
        return 3
    print(f"DONE {len(report.added)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
