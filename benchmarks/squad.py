"""SQuAD v1.1 dev through the Engine: retrieval quality, highlight accuracy, abstention, latency.

Usage::

    python benchmarks/squad.py [--index DIR] [--every N]

Every paragraph of the 48 dev articles is a passage (one text file per article,
ingested with ``Engine.add``); a question's gold passage is the paragraph it was
written on. The project's retrieval is measured through ``Engine.ask``; the
baselines re-rank the same candidates by one signal each (or min-max fusion),
in the same run. Weights were tuned on articles 0-23; 24-47 are reported apart.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from squad_corpus import SQUAD, write_corpus  # noqa: E402

from rag import Engine, Settings  # noqa: E402
from rag.analysis import terms  # noqa: E402
from rag.search import Query, question_type  # noqa: E402

TUNE_ARTICLES = 24


def minmax(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min()
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


#: The ranking signals the baselines below are made of (columns 0-2).
FEATURES = ("paragraph", "sentence", "bm25")
BASELINES = {
    "dense, whole paragraph (FAISS)": lambda h: h[:, 0],
    "BM25 (stemmed, stopwords)": lambda h: h[:, 2],
    "dense, best sentence": lambda h: h[:, 1],
    "min-max fusion BM25 + paragraph + sentence": lambda h: minmax(h[:, 0]) + minmax(h[:, 1]) + minmax(h[:, 2]),
}


class Tally:
    def __init__(self) -> None:
        self.ranks: list[int | None] = []

    def add(self, rank: int | None) -> None:
        self.ranks.append(rank)

    def row(self) -> tuple[float, float, float]:
        n = max(len(self.ranks), 1)
        hit1 = sum(r == 1 for r in self.ranks if r) / n
        hit5 = sum(r <= 5 for r in self.ranks if r) / n
        mrr = sum(1 / r for r in self.ranks if r and r <= 10) / n
        return hit1, hit5, mrr


def first_rank(rows: list[int], gold: set[int]) -> int | None:
    for rank, row in enumerate(rows[:10], start=1):
        if row in gold:
            return rank
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="index folder to build or reuse (default: a temp folder)")
    parser.add_argument("--every", type=int, default=1, help="use every N-th question (quick runs)")
    args = parser.parse_args()
    if not SQUAD.exists():
        sys.exit(f"missing {SQUAD}")

    work = Path(tempfile.mkdtemp(prefix="squad-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)  # the corpus and index written there (not --index's)
    # A reused index is re-read from the same files: articles written to a new folder would
    # be added again beside the first copies.
    docs = args.index.with_name(args.index.name + "-docs") if args.index else work / "docs"
    questions = write_corpus(docs)[:: args.every]
    index_dir = args.index or work / "index"
    engine = Engine.open(settings=Settings.from_env(index_dir=index_dir))
    t0 = time.perf_counter()
    report = engine.add([docs])
    print(f"ingest: {len(report.added)} added, {len(report.unchanged)} unchanged in {time.perf_counter() - t0:.1f} s")
    index = engine._current()
    snap = index.snapshot
    by_doc: dict[str, list[tuple[int, int, int]]] = {}
    for row, p in enumerate(snap.passages):
        by_doc.setdefault(p.doc_id, []).append((p.start, p.end, row))
    tune_docs = {q.doc_id for q in questions if q.article < TUNE_ARTICLES}

    ours = {"all": Tally(), "tune": Tally(), "test": Tally()}
    # Per kind of question ("when", "how many", "who", "where", other): Hit@1 and highlight.
    by_kind: dict[str, list[int]] = {}
    base = {name: Tally() for name in BASELINES}
    highlight_hits = 0
    ask_ms: list[float] = []
    dense_ms: list[float] = []
    abstain = {"answered_in": 0, "n_in": 0, "abstained_out": 0, "n_out": 0}
    settings = engine.settings
    for number, q in enumerate(questions):
        gold = {r for s, e, r in by_doc[q.doc_id] if s < q.span[1] and e > q.span[0]}
        if number % 10 == 0:  # latency at the default k, on a tenth of the questions, asked first
            t = time.perf_counter()
            engine.ask(q.question)
            ask_ms.append((time.perf_counter() - t) * 1000)
        answer = engine.ask(q.question, k=10)
        rows = [_row(by_doc, e.source, e.start) for e in answer.excerpts] if answer.answered else []
        rank = first_rank(rows, gold)
        for key in ("all", "tune" if q.article < TUNE_ARTICLES else "test"):
            ours[key].add(rank)

        # Dense-only reference latency: encode + exact FAISS search over paragraph vectors.
        t = time.perf_counter()
        vector = engine.embedder.encode_queries([q.question])[0]
        snap.windows.search(vector[None, :], settings.k)
        if number % 10 == 0:
            dense_ms.append((time.perf_counter() - t) * 1000)

        query = Query(q.question, vector, tuple(terms(q.question)))
        hits = index.rank(query, settings, limit=10_000)
        features = np.array([[h.evidence.get(n, 0.0) for n in FEATURES] for h in hits])
        hit_rows = np.array([h.row for h in hits])
        for name, score in BASELINES.items():
            order = np.argsort(-score(features), kind="stable")
            base[name].add(first_rank(hit_rows[order].tolist(), gold))

        gold_row = min(gold)
        s, e = index.highlight(gold_row, query, settings)
        lit = snap.passages[gold_row].text[s:e]
        highlight_hits += any(a in lit for a in q.answers)
        tally = by_kind.setdefault(question_type(q.question) or "other", [0, 0, 0])
        tally[0] += 1
        tally[1] += rank == 1
        tally[2] += any(a in lit for a in q.answers)

        # Abstention: with the search restricted to the tuning articles, their questions
        # should be answered and the other articles' questions should not.
        restricted = engine.ask(q.question, k=1, sources=tune_docs)
        if q.article < TUNE_ARTICLES:
            abstain["n_in"] += 1
            abstain["answered_in"] += restricted.answered
        else:
            abstain["n_out"] += 1
            abstain["abstained_out"] += not restricted.answered
        if number % 1000 == 0:
            print(f"  {number}/{len(questions)} questions", file=sys.stderr, flush=True)

    n = len(questions)
    print(f"\nSQuAD v1.1 dev: {len(snap.documents)} articles, {len(snap.passages)} passages, {n} questions")
    print("\n| method | Hit@1 | Hit@5 | MRR@10 |\n|---|---|---|---|")
    for name, tally in base.items():
        print("| {} | {:.3f} | {:.3f} | {:.3f} |".format(name, *tally.row()))
    print(
        "| **this project, Engine.ask (all 48 articles)** | **{:.3f}** | **{:.3f}** | **{:.3f}** |".format(
            *ours["all"].row()
        )
    )
    print("| this project, tuning articles 0-23 | {:.3f} | {:.3f} | {:.3f} |".format(*ours["tune"].row()))
    print("| this project, held-out articles 24-47 | {:.3f} | {:.3f} | {:.3f} |".format(*ours["test"].row()))
    # Ratios are printed to three decimals: the counts say which side of a bar (.85) they fall.
    print(
        "Hit@1 as counts: "
        + ", ".join(f"{key} {sum(r == 1 for r in t.ranks)} of {len(t.ranks)}" for key, t in ours.items())
    )
    print(f"\nhighlight accuracy (gold answer inside the highlight of the gold paragraph): {highlight_hits / n:.3f}")
    print("\n| question kind | questions | Hit@1 | highlight |\n|---|---|---|---|")
    for kind, (count, hit, lit) in sorted(by_kind.items()):
        print(f"| {kind} | {count} | {hit / count:.3f} | {lit / count:.3f} |")
    answered_out = abstain["n_out"] - abstain["abstained_out"]
    abstained_in = abstain["n_in"] - abstain["answered_in"]
    precision = abstain["abstained_out"] / max(abstain["abstained_out"] + abstained_in, 1)
    print(
        f"abstention with search limited to articles 0-23 (threshold {settings.min_score}): "
        f"answers {abstain['answered_in'] / max(abstain['n_in'], 1):.3f} of their questions, "
        f"abstains on {abstain['abstained_out'] / max(abstain['n_out'], 1):.3f} of the others' "
        f"(abstention precision {precision:.3f}, recall {abstain['abstained_out'] / max(abstain['n_out'], 1):.3f}; "
        f"{answered_out} answered wrongly)"
    )
    p50, p95 = statistics.median(ask_ms), float(np.percentile(ask_ms, 95))
    d50, d95 = statistics.median(dense_ms), float(np.percentile(dense_ms, 95))
    print("\n| query latency | p50 ms | p95 ms |\n|---|---|---|")
    print(f"| dense only (encode + FAISS) | {d50:.1f} | {d95:.1f} |")
    print(f"| Engine.ask, k={settings.k} (hybrid, highlights) | {p50:.1f} | {p95:.1f} |")
    print(f"| ratio | {p50 / d50:.2f}x | {p95 / d95:.2f}x |")


def _row(by_doc: dict[str, list[tuple[int, int, int]]], doc_id: str, start: int) -> int:
    return next(r for s, _, r in by_doc[doc_id] if s == start)


if __name__ == "__main__":
    main()
