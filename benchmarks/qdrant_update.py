"""A one-file update of a vector set held in Qdrant: written in place against copied whole.

Usage::

    python benchmarks/qdrant_update.py [--sizes 5000 20000] [--file 60] [--runs 3] [--url URL]

For each size, a vector set of that many rows (384 dimensions, as all-MiniLM-L6-v2's)
is written to Qdrant, then updated as one file's upload does: ``--file`` rows of one
document removed and as many added. ``in place`` is this project's backend (one
collection per vector set, points versioned by generation: the update writes the new
points and marks the removed ones, when the generation is saved); ``copied`` is the layout it replaced (one collection
per generation: the update copies every kept vector into a new collection), measured in
the same run as the baseline. Medians of ``--runs`` updates. Without ``--url`` it runs
on Qdrant's local mode in a temporary folder (the client's own engine, in this
process); with it, on that server. Also printed: the points each update wrote and the
search time of the updated set (10 queries, top 50).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.qdrant_backend import QdrantIndex, client_for  # noqa: E402

DIM = 384


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _copied(index: QdrantIndex) -> QdrantIndex:
    """``index`` in the layout this backend replaced: its own collection, points 0..n-1."""
    return QdrantIndex(index.dim, index.location, index.collection, len(index), None, index.ids)


def measure(location: str, size: int, file_rows: int, runs: int, seed: int = 0) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for layout in ("copied", "in place"):
        times, searches, written = [], [], []
        for _ in range(runs):
            index = QdrantIndex.create(DIM, location, _unit(rng, size))
            before = client_for(location).count(index.collection, exact=True).count
            if layout == "copied":  # a collection of the older layout is copied whole on update
                index = _copied(index)
            mask = np.ones(size, dtype=bool)
            start = int(rng.integers(0, size - file_rows))
            mask[start : start + file_rows] = False
            extra = _unit(rng, file_rows)
            folder = Path(tempfile.mkdtemp(prefix="qdrant-gen-"))
            t0 = time.perf_counter()
            updated = index.update(mask, extra)
            updated.save(folder, "windows")  # written to Qdrant when the generation is saved
            times.append(time.perf_counter() - t0)
            shutil.rmtree(folder, ignore_errors=True)
            after = client_for(location).count(updated.collection, exact=True).count
            written.append(after if updated.collection != index.collection else after - before)
            queries = _unit(rng, 10)
            t0 = time.perf_counter()
            updated.search(queries, 50)
            searches.append(time.perf_counter() - t0)
            for name in {index.collection, updated.collection}:
                client_for(location).delete_collection(name)
        out[layout] = {
            "update_s": statistics.median(times),
            "written": statistics.median(written),
            "search_ms": 1000 * statistics.median(searches) / 10,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--file", type=int, default=60, help="rows of the file removed and added")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="a Qdrant server (default: local mode in a temporary folder)")
    args = parser.parse_args()
    folder = None if args.url else tempfile.mkdtemp(prefix="qdrant-bench-")
    location = args.url or folder
    try:
        where = f"server {args.url}" if args.url else "local mode"
        print(f"Qdrant {where}; one file = {args.file} rows removed + {args.file} added; medians of {args.runs}\n")
        print("| rows | layout | update | points written | search / query | update vs copied |")
        print("|---|---|---|---|---|---|")
        for size in args.sizes:
            result = measure(location, size, args.file, args.runs)
            base = result["copied"]["update_s"]
            for layout, r in result.items():
                ratio = r["update_s"] / base
                print(
                    f"| {size:,} | {layout} | {r['update_s']:.2f} s | {r['written']:,.0f} | "
                    f"{r['search_ms']:.1f} ms | {ratio:.3f}x |"
                )
    finally:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
