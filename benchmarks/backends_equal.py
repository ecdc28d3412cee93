"""The same SQuAD questions through an engine on FAISS and one on Qdrant: identical answers?

Usage::

    python benchmarks/backends_equal.py [--every N] [--work DIR]

Both indexes are built from the same SQuAD dev articles (one text file each, see
squad_corpus.py) with the same code and model; Qdrant runs in its local mode. Every N-th
question is asked of both (k=5) and the answers compared whole (excerpts, offsets,
scores, highlights, notes). Prints how many were identical, and Hit@1 (the gold
paragraph first) and the share answered for each backend.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from squad_corpus import SQUAD, write_corpus  # noqa: E402

from rag import Engine, Settings  # noqa: E402

BACKENDS = ("faiss", "qdrant")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=35, help="ask every N-th question")
    parser.add_argument("--work", type=Path, help="folder for the articles and both indexes (default: a new one)")
    args = parser.parse_args()
    if not SQUAD.exists():
        sys.exit(f"missing {SQUAD}")
    work = args.work or Path(tempfile.mkdtemp(prefix="backends-"))
    if args.work is None:
        atexit.register(shutil.rmtree, work, ignore_errors=True)  # both indexes: removed when done
    docs = work / "docs"
    questions = write_corpus(docs)[:: args.every]
    engines = {}
    for backend in BACKENDS:
        t0 = time.perf_counter()
        engine = Engine.open(settings=Settings.from_env(index_dir=work / backend, vector_backend=backend))
        engine.add([docs])
        engines[backend] = engine
        print(f"{backend}: indexed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    identical = 0
    first = dict.fromkeys(BACKENDS, 0)
    answered = dict.fromkeys(BACKENDS, 0)
    differing = []
    for q in questions:
        answers = {b: e.ask(q.question, k=5) for b, e in engines.items()}
        for backend, answer in answers.items():
            answered[backend] += answer.answered
            top = answer.excerpts[0] if answer.answered and answer.excerpts else None
            first[backend] += top is not None and top.source == q.doc_id and top.start <= q.span[0] < top.end
        if answers["faiss"].to_dict() == answers["qdrant"].to_dict():
            identical += 1
        else:
            differing.append(q.question)
    n = len(questions)
    print(f"\n{n} SQuAD questions (every {args.every}th), k=5\n")
    print("| backend | gold paragraph first | answered |")
    print("|---|---|---|")
    for backend in BACKENDS:
        print(f"| {backend} | {first[backend] / n:.3f} | {answered[backend] / n:.3f} |")
    print(f"\nidentical answers: {identical} of {n}")
    for question in differing[:10]:
        print(f"  differs: {question}")


if __name__ == "__main__":
    main()
