"""Speed and scale: ingest throughput, query latency at 2k/20k/100k passages, app start, peak memory.

Usage::

    python benchmarks/speed.py [--sizes 20000,100000] [--queries 300] [--cache benchmarks/.cache]

Everything uses real text and real embeddings of the bundled model:

- Ingest: the 2,067 SQuAD dev paragraphs through ``Engine.add`` with the default
  encoder (ONNX Runtime), median of ``--ingest-runs`` runs, next to the raw encode
  throughput of exactly the texts the pipeline embedded (same encoder, same chunks),
  and next to sentence-transformers on torch encoding the same texts in the same
  chunks (at its default batch size of 32, and at 8).
- Query: ``Engine.ask`` (k=5, hybrid retrieval, highlights) on SQuAD questions, at
  the SQuAD corpus (about 2k passages) and at larger corpora made of SQuAD sentences
  recombined into new passages (2-4 sentences of one article each); the larger
  indexes are built once through ``Engine.add`` and cached in ``--cache``. Each size
  is measured in a fresh process, which also gives its peak RSS; the approximate
  index is compared with exact search over the same rows (latency and recall@10).
- Start: seconds from launching ``app.py`` to its first HTTP answer, with an
  existing index (median of 3), and whether anything was re-embedded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from squad_corpus import SQUAD, write_corpus  # noqa: E402

from rag import Engine, Settings  # noqa: E402
from rag.passages import sentence_spans  # noqa: E402

TARGETS = {
    "ingest_vs_raw": 0.9,
    "ingest_vs_torch": 1.8,
    "p50_ms": 25.0,
    "p95_ms": 60.0,
    "recall": 0.95,
    "start_s": 5.0,
    "rss_mib": 1536.0,
}


# -- ingest ---------------------------------------------------------------------------------


class Recorder:
    """Wraps an embedder and keeps the document texts it was asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.texts: list[str] = []
        for name in ("model_id", "dim", "max_tokens"):
            setattr(self, name, getattr(inner, name))

    def encode_documents(self, texts):
        self.texts.extend(texts)
        return self.inner.encode_documents(texts)

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)

    def count_tokens(self, texts):
        return self.inner.count_tokens(texts)


def measure_ingest(workdir: Path, int8_sample: int, runs: int) -> dict:
    """Engine.add over the SQuAD paragraphs (``runs`` times, each into a fresh index), then
    the texts it embedded encoded without the pipeline: by the same ONNX encoder in the
    same chunks (the pipeline's overhead), and by sentence-transformers on torch (the gain)."""
    from rag.embedding import SentenceTransformerEmbedder, load_embedder
    from rag.index import ENCODE_CHUNK

    corpus = workdir / "squad"
    write_corpus(corpus)
    onnx = load_embedder(Settings().model, "onnx", workdir / "encoders")  # exported before any clock starts
    ingest_times, recorder = [], None
    for run in range(runs):
        index_dir = workdir / f"squad-index-{run}"
        shutil.copytree(workdir / "encoders" / "encoders", index_dir / "encoders")
        recorder = Recorder(onnx)
        engine = Engine.open(settings=Settings(index_dir=index_dir), embedder=recorder)
        started = time.perf_counter()
        engine.add([corpus])
        ingest_times.append(time.perf_counter() - started)
    passages = len(engine._current().snapshot.passages)
    texts = recorder.texts
    # The same texts in the pipeline's length-sorted chunks, with no pipeline around them.
    chunks = [texts[lo : lo + ENCODE_CHUNK] for lo in range(0, len(texts), ENCODE_CHUNK)]
    raw_times, torch_times = [], {}
    torch = {batch: SentenceTransformerEmbedder(batch_size=batch) for batch in (32, 8)}
    for model in torch.values():
        model.encode_documents(texts[:8])  # warm up
    for _ in range(runs):
        raw_times.append(_timed(onnx, chunks)[0])
    for batch, model in torch.items():  # torch is slow: one run over all the texts each
        torch_times[batch], reference = _timed(model, chunks)
        if batch == 32:
            torch_vectors = reference
    fp32 = np.concatenate([onnx.encode_documents(c) for c in chunks])

    # int8 (the default encoder of a new index; lossy) on a spread sample: speed next to fp32, quality against torch.
    picks = np.linspace(0, len(texts) - 1, min(int8_sample, len(texts))).astype(int)
    sample = [texts[i] for i in picks]
    sample_chunks = [sample[lo : lo + ENCODE_CHUNK] for lo in range(0, len(sample), ENCODE_CHUNK)]
    int8 = load_embedder(Settings().model, "onnx-int8", workdir / "encoders")
    int8.encode_documents(sample[:8])
    onnx_sample_s = _timed(onnx, sample_chunks)[0]
    int8_s, int8_vectors = _timed(int8, sample_chunks)
    ingest_s, raw_s = statistics.median(ingest_times), statistics.median(raw_times)
    return {
        "passages": passages,
        "texts": len(texts),
        "runs": runs,
        "ingest_s": ingest_s,
        "ingest_runs_s": ingest_times,
        "raw_s": raw_s,
        "pipeline_texts_per_s": len(texts) / ingest_s,
        "raw_texts_per_s": len(texts) / raw_s,
        "torch_texts_per_s": len(texts) / torch_times[32],
        "torch_batch8_texts_per_s": len(texts) / torch_times[8],
        "onnx_sample_texts_per_s": len(sample) / onnx_sample_s,
        "int8_texts_per_s": len(sample) / int8_s,
        "onnx_cosine_min": float(np.min(np.sum(torch_vectors * fp32, axis=1))),
        "int8_cosine_mean": float(np.mean(np.sum(torch_vectors[picks] * int8_vectors, axis=1))),
        "int8_top10_overlap": _top10_overlap(torch_vectors[picks], int8_vectors),
        "sample": len(sample),
        "index_dir": str(workdir / "squad-index-0"),
    }


def _timed(embedder, chunks: list[list[str]]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = [embedder.encode_documents(chunk) for chunk in chunks]
    return time.perf_counter() - started, np.concatenate(vectors)


def _top10_overlap(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean overlap of each row's 10 nearest rows under the two sets of vectors."""
    queries = reference[:200]
    exact = np.argsort(-(queries @ reference.T), axis=1)[:, 1:11]
    lossy = np.argsort(-(other[:200] @ other.T), axis=1)[:, 1:11]
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, lossy, strict=True)]))


# -- larger corpora -------------------------------------------------------------------------------


def build_corpus(size: int, cache: Path) -> Path:
    """An index of ``size`` passages recombined from SQuAD sentences, built once and cached.

    Each passage is 2-4 sentences of one article, in their original order. Sentences
    recur across passages, so the embedding cache embeds each once; every passage's
    own text (its window) is embedded. A larger corpus starts from a copy of the
    largest smaller one already built and adds the passages it lacks.
    """
    index_dir = cache / f"index-{size}"
    if (index_dir / "manifest.json").exists():
        return index_dir
    data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
    articles = []
    for article in data:
        sentences = []
        for paragraph in article["paragraphs"]:
            context = " ".join(paragraph["context"].split())
            sentences += [context[s:e] for s, e in sentence_spans(context)]
        articles.append(sentences)
    rng = random.Random(20261122)
    seen: set[str] = set()
    passages: list[str] = []
    while len(passages) < size:
        sentences = articles[rng.randrange(len(articles))]
        picks = sorted(rng.sample(range(len(sentences)), k=min(len(sentences), rng.randint(2, 4))))
        text = " ".join(sentences[i] for i in picks)
        if text not in seen:
            seen.add(text)
            passages.append(text)
    smaller = sorted(
        (int(p.name.split("-")[1]) for p in cache.glob("index-*") if p.name.split("-")[1].isdigit()), reverse=True
    )
    start = next((n for n in smaller if n < size and (cache / f"index-{n}" / "manifest.json").exists()), 0)
    if start:
        shutil.copytree(cache / f"index-{start}", index_dir)
    docs = cache / f"docs-{size}"
    shutil.rmtree(docs, ignore_errors=True)
    docs.mkdir(parents=True)
    per_file = 1000
    for f in range(0, size, per_file):  # the same file names and contents as the smaller corpus's
        (docs / f"part-{f // per_file:04d}.txt").write_text("\n\n".join(passages[f : f + per_file]), encoding="utf-8")
    engine = Engine.open(settings=Settings(index_dir=index_dir))
    started = time.perf_counter()
    # replace: the copied smaller corpus's files are these (same names, same text) read from
    # another folder; without it each would be kept twice, under a second id.
    report = engine.add([docs], replace=True)
    print(
        f"  {size:,}-passage index: {len(report.added)} files added, {len(report.unchanged)} unchanged, "
        f"{engine.last_embedded:,} texts embedded in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return index_dir


# -- query latency (run in a fresh process per size) --------------------------------------------


def query_child(index_dir: str, questions_file: str) -> None:
    """Measure Engine.ask over ``index_dir`` on the questions in ``questions_file``
    (read from a small file, so that parsing SQuAD does not count in this process's
    peak memory); print one JSON line."""
    questions = json.loads(Path(questions_file).read_text(encoding="utf-8"))
    started = time.perf_counter()
    engine = Engine.open(settings=Settings(index_dir=Path(index_dir)))
    engine.ask("warm up")
    open_s = time.perf_counter() - started
    snap = engine._current().snapshot
    shipped = _latencies(engine, questions)
    rss = _peak_rss_mib()
    result = {
        "passages": len(snap.passages),
        "windows": len(snap.windows),
        "sentences": len(snap.sentences),
        "kind": f"{snap.windows.index.kind}/{snap.sentences.index.kind}",
        "open_s": open_s,
        "p50": float(np.percentile(shipped, 50)),
        "p95": float(np.percentile(shipped, 95)),
        "rss_mib": rss,
        "rss_file_mib": _status_mib("RssFile"),
    }
    approximate = [s.index for s in (snap.windows, snap.sentences) if s.index.kind != "flat"]
    if approximate:
        from rag.dense import FlatIndex, recall_at
        from rag.search import SearchIndex

        vectors = engine.embedder.encode_queries(questions)
        recalls = []
        for index in approximate:
            exact_scores, _ = FlatIndex(index.dim, index._x).search(vectors, 10)
            _, found = index.search(vectors, 10)
            recalls.append(recall_at(index._x, vectors, exact_scores[:, 9], found))
        result["recall"] = min(recalls)
        exact_snapshot = replace(
            snap,
            windows=replace(snap.windows, index=FlatIndex(snap.dim, snap.windows.index._x)),
            sentences=replace(snap.sentences, index=FlatIndex(snap.dim, snap.sentences.index._x)),
        )
        engine._served.index = SearchIndex(exact_snapshot)
        exact_latencies = _latencies(engine, questions)
        result["exact_p50"] = float(np.percentile(exact_latencies, 50))
        result["exact_p95"] = float(np.percentile(exact_latencies, 95))
    print(json.dumps(result), flush=True)


def _peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: the latter keeps the
    parent's peak across fork and exec, and the parent here has loaded torch."""
    return _status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mib(field: str) -> float:
    """A memory figure of this process now, from /proc/self/status (0 where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _latencies(engine: Engine, questions: list[str]) -> list[float]:
    for q in questions[:10]:
        engine.ask(q)
    out = []
    for q in questions:
        started = time.perf_counter()
        engine.ask(q, k=5)
        out.append((time.perf_counter() - started) * 1000)
    return out


def measure_query(index_dir: Path, n_queries: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="rag-speed-queries-") as scratch:
        questions = [q.question for q in write_corpus(Path(scratch) / "docs")]
        questions_file = Path(scratch) / "questions.json"
        questions_file.write_text(json.dumps(random.Random(7).sample(questions, n_queries)), encoding="utf-8")
        run = subprocess.run(
            [sys.executable, __file__, "--query-child", str(index_dir), "--questions-file", str(questions_file)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    return json.loads(run.stdout.strip().splitlines()[-1])


# -- app start ------------------------------------------------------------------------------------


def measure_start(workdir: Path, runs: int = 3) -> dict:
    from load import serve_app

    index = workdir / "start-index"
    engine = Engine.open(settings=Settings(index_dir=index))
    engine.add([ROOT / "seeds"])
    times, reembedded = [], []
    for i in range(runs):
        log = workdir / f"start-{i}.log"
        started = time.perf_counter()
        with serve_app(index, log, timeout=120):
            times.append(time.perf_counter() - started)
        reembedded.append("Re-indexed" in log.read_text() or "indexing" in log.read_text().lower())
    return {"median_s": statistics.median(times), "runs": times, "reembedded": any(reembedded)}


# -- report ---------------------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,100000", help="larger corpus sizes (passages)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--int8-sample", type=int, default=1500, help="texts encoded with the int8 encoder")
    parser.add_argument("--ingest-runs", type=int, default=3, help="Engine.add and raw encode runs (median)")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--query-child", help=argparse.SUPPRESS)
    parser.add_argument("--questions-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.query_child:
        query_child(args.query_child, args.questions_file)
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="rag-speed-"))
    report: dict = {}
    print("ingest (SQuAD dev paragraphs) ...", flush=True)
    if not args.skip_ingest:
        report["ingest"] = measure_ingest(workdir, args.int8_sample, args.ingest_runs)
        squad_index = Path(report["ingest"]["index_dir"])
    else:
        squad_index = build_squad_index(args.cache)
    print("query latency ...", flush=True)
    report["query"] = {"squad": measure_query(squad_index, args.queries)}
    for size in [int(s) for s in args.sizes.split(",") if s]:
        report["query"][str(size)] = measure_query(build_corpus(size, args.cache), args.queries)
    print("app start ...", flush=True)
    report["start"] = measure_start(workdir)
    (args.cache / "speed.json").write_text(json.dumps(report, indent=2))
    print_report(report)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def build_squad_index(cache: Path) -> Path:
    index_dir = cache / "index-squad"
    if not (index_dir / "manifest.json").exists():
        corpus = cache / "squad-docs"
        write_corpus(corpus)
        Engine.open(settings=Settings(index_dir=index_dir)).add([corpus])
    return index_dir


def print_report(report: dict) -> None:
    if "ingest" in report:
        i = report["ingest"]
        vs_raw = i["pipeline_texts_per_s"] / i["raw_texts_per_s"]
        vs_torch = i["pipeline_texts_per_s"] / i["torch_texts_per_s"]
        print(f"\nIngest: {i['passages']:,} SQuAD passages, {i['texts']:,} texts embedded (windows + sentences)")
        raw_ok = _mark(vs_raw >= TARGETS["ingest_vs_raw"])
        torch_ok = _mark(vs_torch >= TARGETS["ingest_vs_torch"])
        vs_torch8 = i["pipeline_texts_per_s"] / i["torch_batch8_texts_per_s"]
        rows = [
            (f"Engine.add, ONNX Runtime (whole pipeline, median of {i['runs']})", i["pipeline_texts_per_s"], "", ""),
            ("raw encode, same texts, same encoder", i["raw_texts_per_s"], f"{vs_raw:.2f}x", f">= 0.9x {raw_ok}"),
            (
                "sentence-transformers on torch, same texts (its default batch of 32)",
                i["torch_texts_per_s"],
                f"{vs_torch:.2f}x",
                f">= 1.8x {torch_ok}; ONNX min cosine to it {i['onnx_cosine_min']:.5f}",
            ),
            (
                "sentence-transformers on torch, same texts, batch of 8",
                i["torch_batch8_texts_per_s"],
                f"{vs_torch8:.2f}x",
                "",
            ),
            (f"ONNX fp32, {i['sample']:,}-text sample", i["onnx_sample_texts_per_s"], "", ""),
            (
                "ONNX int8 (opt-in), same sample",
                i["int8_texts_per_s"],
                "",
                f"mean cosine {i['int8_cosine_mean']:.4f}, top-10 overlap {i['int8_top10_overlap']:.2f}",
            ),
        ]
        print("| measure | texts/s | pipeline ratio | target / note |\n|---|---|---|---|")
        for name, rate, ratio, note in rows:
            print(f"| {name} | {rate:.1f} | {ratio} | {note} |")
        print(f"Ingest: {i['passages'] / i['ingest_s']:.1f} passages/s ({i['ingest_s']:.0f} s).")
    print("\nQuery: Engine.ask, k=5, SQuAD questions, one fresh process per corpus")
    print(
        "| corpus | passages | vectors (windows/sentences) | index | p50 ms | p95 ms | exact p50/p95 ms "
        "| recall@10 | open s | peak RSS MiB | mapped files MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, q in report["query"].items():
        exact = f"{q['exact_p50']:.1f} / {q['exact_p95']:.1f}" if "exact_p50" in q else "(same)"
        recall = f"{q['recall']:.3f}" if "recall" in q else "1 (exact)"
        print(
            f"| {name} | {q['passages']:,} | {q['windows']:,} / {q['sentences']:,} | {q['kind']} | {q['p50']:.1f} | "
            f"{q['p95']:.1f} | {exact} | {recall} | {q['open_s']:.1f} | {q['rss_mib']:.0f} | "
            f"{q.get('rss_file_mib', 0):.0f} |"
        )
    largest = report["query"][max(report["query"], key=lambda k: report["query"][k]["passages"])]
    print(
        f"Largest corpus: p50 {largest['p50']:.1f} ms ({_mark(largest['p50'] <= TARGETS['p50_ms'])} <= 25), "
        f"p95 {largest['p95']:.1f} ms ({_mark(largest['p95'] <= TARGETS['p95_ms'])} <= 60), "
        f"peak RSS {largest['rss_mib']:.0f} MiB ({_mark(largest['rss_mib'] <= TARGETS['rss_mib'])} <= 1536)"
    )
    s = report["start"]
    print(
        f"\nApp start with an existing index: median {s['median_s']:.2f} s of {[round(t, 2) for t in s['runs']]} "
        f"({_mark(s['median_s'] <= TARGETS['start_s'])} <= 5 s); re-embedded at start: {s['reembedded']}"
    )


if __name__ == "__main__":
    sys.exit(main())
