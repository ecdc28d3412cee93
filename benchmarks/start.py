"""How long `python app.py` takes to answer HTTP: the first start (indexing the seeds) and a restart.

Usage::

    python benchmarks/start.py [--runs 3]

Each run starts the app over a new, empty index folder with a new, empty encoder cache
(the first start indexes ``seeds/`` and exports the encoder, as a fresh clone on a new
machine does), stops it, and starts it again over the index it built; then once more
over a new index folder with the encoder cache in place (a user's second index).
Prints each time, the medians, and the restart's share of the first start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import free_port  # noqa: E402


def time_to_http(index: Path, cache: Path) -> float:
    port = free_port()
    started = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--index", str(index)],
        cwd=ROOT,
        env={**os.environ, "RAG_ENCODER_CACHE": str(cache)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        while True:
            if app.poll() is not None:
                raise RuntimeError(f"app.py exited with {app.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.1)
    finally:
        app.terminate()
        app.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    firsts, restarts, seconds = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="rag-start-") as tmp:
            cache = Path(tmp) / "cache"
            firsts.append(time_to_http(Path(tmp) / "index", cache))
            restarts.append(time_to_http(Path(tmp) / "index", cache))
            seconds.append(time_to_http(Path(tmp) / "index2", cache))
    print(f"{'start':<40}{'runs (s)':<24}{'median':>8}")
    rows = (
        ("first (exports, indexes seeds/)", firsts),
        ("restart (index in place)", restarts),
        ("new index, encoder cached", seconds),
    )
    for name, times in rows:
        print(f"{name:<40}{' / '.join(f'{t:.1f}' for t in times):<24}{statistics.median(times):>7.1f}s")
    print(f"restart / first start: {statistics.median(restarts) / statistics.median(firsts):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
