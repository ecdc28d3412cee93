"""Peer systems (Haystack 2.31 and txtai) on the same files and questions as our engine.

Imported from the system Python (no peer installed there)::

    from realdocs_peers import ensure_venv, run_peer
    python = ensure_venv(Path("benchmarks/.cache"))
    result = run_peer(python, "haystack", corpus, questions, model, out)

Run inside the peers' venv (what ``run_peer`` does)::

    python benchmarks/realdocs_peers.py --system haystack|txtai --corpus DIR \\
        --questions FILE --model PATH --out FILE [--split-length N] [--split-overlap N]

Both peers see identical chunks: every file of the corpus folder (recursive) is
converted with Haystack's converters (``HTMLToDocument`` for .html/.htm,
``PyPDFToDocument`` for .pdf, plain text for .txt/.md), cleaned with
``DocumentCleaner`` at its defaults and split with ``DocumentSplitter``
(``split_by="word"``, ``split_length=150``, ``split_overlap=50`` by default; see
``SPLIT_*`` below for why). Then

- haystack: ``SentenceTransformersDocumentEmbedder`` (local model, cpu) into an
  ``InMemoryDocumentStore``; query pipeline ``InMemoryBM25Retriever`` +
  ``SentenceTransformersTextEmbedder`` -> ``InMemoryEmbeddingRetriever``, joined by
  ``DocumentJoiner(join_mode="reciprocal_rank_fusion")``, top 5;
- txtai: ``Embeddings(path=model, hybrid=True, content=True)`` indexing the same
  chunks, ``search(question, 5)``.

``ingest_s`` is wall clock for conversion + cleaning + splitting + embedding +
indexing (model loading included, as a user would pay it on a first ingest);
each question is timed apart (wall clock), and ``query_p50_ms`` is their median.
One untimed warm-up query (the first question) runs before the timed ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

VENV_NAME = "peers-venv"
MARKER = "peers-installed.json"
# What the venv installs. torch, numpy, transformers and sentence-transformers come from
# the system site-packages and are pinned (constraints) to the versions found there, so
# no install can pull another torch (a CUDA build is several GB).
REQUIREMENTS = [
    "haystack-ai==2.31.*",
    "trafilatura",  # HTMLToDocument
    "lxml_html_clean",  # trafilatura/justext need lxml.html.clean, split out of lxml 5.2+
    "pypdf",  # PyPDFToDocument
    "txtai",
]
PINNED_FROM_SYSTEM = ["torch", "numpy", "transformers", "sentence-transformers", "tokenizers", "huggingface-hub"]
REPORTED = ["haystack-ai", "txtai", "trafilatura", "pypdf", "torch", "sentence-transformers", "transformers"]

# Haystack's tutorial for mixed file types ("Preprocessing Different File Types":
# converters -> DocumentCleaner() -> DocumentSplitter -> SentenceTransformersDocumentEmbedder
# with all-MiniLM-L6-v2, the same chain and model as here) splits by 150 words with 50
# words of overlap. The component default (200 words, no overlap) and the hybrid retrieval
# tutorial's 512/32 (written for bge-small, with a note to shrink split_length for
# all-MiniLM-L6-v2) would overflow this model's 256-token window and get truncated.
SPLIT_BY = "word"
SPLIT_LENGTH = 150
SPLIT_OVERLAP = 50
TOP_K = 5
TEXT_SUFFIXES = {".txt", ".md"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}


# --------------------------------------------------------------------------- system side


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _versions(python: Path, names: list[str]) -> dict[str, str | None]:
    code = (
        "import json, sys\n"
        "from importlib.metadata import version, PackageNotFoundError\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try:\n"
        "        out[n] = version(n)\n"
        "    except PackageNotFoundError:\n"
        "        out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([str(python), "-c", code, *names], check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def ensure_venv(cache: Path) -> Path:
    """Create ``cache/peers-venv`` (system site-packages visible) with the peers installed; return its python.

    Idempotent: a marker file in the venv records the requirements and the installed
    versions; when it matches, nothing is run.
    """
    venv = Path(cache) / VENV_NAME
    python = _venv_python(venv)
    marker = venv / MARKER
    if marker.exists() and python.exists():
        try:
            if json.loads(marker.read_text()).get("requirements") == REQUIREMENTS:
                return python
        except (OSError, ValueError):
            pass
    if not python.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    # Pin the heavy shared packages to what the system Python has (a missing one is left free).
    pins = {k: v for k, v in _versions(python, PINNED_FROM_SYSTEM).items() if v}
    constraints = venv / "peers-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    started = time.perf_counter()
    subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-c", str(constraints), *REQUIREMENTS],
        check=True,
    )
    seconds = time.perf_counter() - started
    after = _versions(python, PINNED_FROM_SYSTEM)
    changed = {k: (pins[k], after.get(k)) for k in pins if after.get(k) != pins[k]}
    if changed:
        raise RuntimeError(f"peer install changed shared packages: {changed}")
    marker.write_text(
        json.dumps(
            {
                "requirements": REQUIREMENTS,
                "versions": _versions(python, REPORTED),
                "install_s": round(seconds, 1),
            },
            indent=2,
        )
    )
    return python


def run_peer(python: Path, system: str, corpus: Path, questions: Path, model: Path, out: Path, **extra) -> dict:
    """Run ``system`` ("haystack" or "txtai") in the venv ``python``; return the JSON it wrote to ``out``.

    ``extra`` becomes command-line options (``split_length=150`` -> ``--split-length 150``).
    """
    cmd = [
        str(python),
        str(Path(__file__).resolve()),
        "--system",
        system,
        "--corpus",
        str(corpus),
        "--questions",
        str(questions),
        "--model",
        str(model),
        "--out",
        str(out),
    ]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HAYSTACK_TELEMETRY_ENABLED": "False"}
    subprocess.run(cmd, check=True, env=env)
    return json.loads(Path(out).read_text())


# --------------------------------------------------------------------------- venv side


def corpus_files(corpus: Path) -> list[Path]:
    suffixes = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def load_chunks(corpus: Path, split_length: int, split_overlap: int = SPLIT_OVERLAP) -> list:
    """Haystack conversion + cleaning + splitting of every corpus file: a list of haystack Documents.

    Each Document keeps ``meta["file"]``, the path relative to ``corpus`` (posix).
    """
    from haystack import Document
    from haystack.components.converters import HTMLToDocument, PyPDFToDocument
    from haystack.components.preprocessors import DocumentCleaner, DocumentSplitter

    html, pdf = HTMLToDocument(), PyPDFToDocument()
    docs: list[Document] = []
    for path in corpus_files(corpus):
        rel = path.relative_to(corpus).as_posix()
        suffix = path.suffix.lower()
        if suffix in HTML_SUFFIXES:
            got = html.run(sources=[path], meta=[{"file": rel}])["documents"]
        elif suffix in PDF_SUFFIXES:
            got = pdf.run(sources=[path], meta=[{"file": rel}])["documents"]
        else:
            got = [Document(content=path.read_text(encoding="utf-8", errors="replace"), meta={"file": rel})]
        if not got:
            print(f"warning: no text from {rel}", file=sys.stderr)
        docs.extend(d for d in got if d.content and d.content.strip())
    docs = DocumentCleaner().run(documents=docs)["documents"]
    splitter = DocumentSplitter(split_by=SPLIT_BY, split_length=split_length, split_overlap=split_overlap)
    if hasattr(splitter, "warm_up"):
        splitter.warm_up()
    chunks = splitter.run(documents=docs)["documents"]
    return [c for c in chunks if c.content and c.content.strip()]


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def run_haystack(corpus: Path, questions: list[dict], model: Path, split_length: int, split_overlap: int) -> dict:
    from haystack import Pipeline
    from haystack.components.embedders import SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder
    from haystack.components.joiners import DocumentJoiner
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore
    from haystack.utils import ComponentDevice

    device = ComponentDevice.from_str("cpu")
    started = time.perf_counter()
    chunks = load_chunks(corpus, split_length, split_overlap)
    store = InMemoryDocumentStore()
    embedder = SentenceTransformersDocumentEmbedder(model=str(model), device=device, progress_bar=False)
    embedder.warm_up()
    store.write_documents(embedder.run(documents=chunks)["documents"])
    ingest_s = time.perf_counter() - started

    query = Pipeline()
    query.add_component(
        "text_embedder", SentenceTransformersTextEmbedder(model=str(model), device=device, progress_bar=False)
    )
    query.add_component("embedding_retriever", InMemoryEmbeddingRetriever(document_store=store, top_k=TOP_K))
    query.add_component("bm25_retriever", InMemoryBM25Retriever(document_store=store, top_k=TOP_K))
    query.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=TOP_K))
    query.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    query.connect("bm25_retriever", "joiner")
    query.connect("embedding_retriever", "joiner")
    query.warm_up()

    def search(question: str) -> list[dict]:
        out = query.run({"text_embedder": {"text": question}, "bm25_retriever": {"query": question}})
        return [
            {"file": d.meta.get("file"), "text": d.content, "score": float(d.score or 0.0)}
            for d in out["joiner"]["documents"][:TOP_K]
        ]

    settings = {
        "converters": "HTMLToDocument (.html/.htm), PyPDFToDocument (.pdf), plain text (.txt/.md)",
        "cleaner": "DocumentCleaner() defaults",
        "split_by": SPLIT_BY,
        "split_length": split_length,
        "split_overlap": split_overlap,
        "embedder": f"SentenceTransformersDocumentEmbedder/TextEmbedder({model.name}, cpu)",
        "store": "InMemoryDocumentStore",
        "retrieval": "InMemoryBM25Retriever + InMemoryEmbeddingRetriever, DocumentJoiner(reciprocal_rank_fusion)",
        "top_k": TOP_K,
    }
    return _answer("haystack", _version("haystack-ai"), settings, chunks, ingest_s, questions, search)


def run_txtai(corpus: Path, questions: list[dict], model: Path, split_length: int, split_overlap: int) -> dict:
    from txtai import Embeddings

    started = time.perf_counter()
    chunks = load_chunks(corpus, split_length, split_overlap)
    embeddings = Embeddings(path=str(model), hybrid=True, content=True)
    embeddings.index([(i, c.content, None) for i, c in enumerate(chunks)])
    ingest_s = time.perf_counter() - started
    files = [c.meta.get("file") for c in chunks]

    def search(question: str) -> list[dict]:
        hits = embeddings.search(question, TOP_K)
        return [{"file": files[int(h["id"])], "text": h["text"], "score": float(h["score"])} for h in hits]

    settings = {
        "chunks_from": "the same Haystack conversion + DocumentCleaner + DocumentSplitter as the haystack peer",
        "split_by": SPLIT_BY,
        "split_length": split_length,
        "split_overlap": split_overlap,
        "embeddings": f"Embeddings(path={model.name}, hybrid=True, content=True)",
        "top_k": TOP_K,
    }
    return _answer("txtai", _version("txtai"), settings, chunks, ingest_s, questions, search)


def _answer(system, version, settings, chunks, ingest_s, questions, search) -> dict:
    import torch

    load_before = os.getloadavg()[0]
    if questions:
        search(questions[0]["question"])  # warm-up, not timed
    results = []
    for q in questions:
        started = time.perf_counter()
        hits = search(q["question"])
        ms = (time.perf_counter() - started) * 1000
        results.append({"id": q["id"], "ms": round(ms, 3), "hits": hits})
    return {
        "system": system,
        "version": version,
        "settings": settings,
        "chunks": len(chunks),
        "ingest_s": round(ingest_s, 3),
        "query_p50_ms": round(statistics.median(r["ms"] for r in results), 3) if results else None,
        "host": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            # 1-minute load average around the queries: a busy machine inflates the timings
            "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        },
        "results": results,
    }


def main() -> None:
    # 2.31 announces the move of the sentence-transformers embedders to an integration package (3.0)
    warnings.filterwarnings("ignore", message=".*will be removed from Haystack in version 3.0", category=FutureWarning)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", required=True, choices=["haystack", "txtai"])
    parser.add_argument("--corpus", required=True, type=Path, help="folder of .html/.htm/.pdf/.txt/.md files")
    parser.add_argument("--questions", required=True, type=Path, help='JSON list of {"id", "question", ...}')
    parser.add_argument("--model", required=True, type=Path, help="local sentence-transformers model folder")
    parser.add_argument("--out", required=True, type=Path, help="where to write the result JSON")
    parser.add_argument("--split-length", type=int, default=SPLIT_LENGTH, help=f"words per chunk ({SPLIT_LENGTH})")
    parser.add_argument("--split-overlap", type=int, default=SPLIT_OVERLAP, help=f"words of overlap ({SPLIT_OVERLAP})")
    args = parser.parse_args()

    questions = json.loads(args.questions.read_text())
    run = run_haystack if args.system == "haystack" else run_txtai
    result = run(args.corpus.resolve(), questions, args.model.resolve(), args.split_length, args.split_overlap)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(
        f"{result['system']} {result['version']}: {result['chunks']} chunks, ingest {result['ingest_s']:.2f} s, "
        f"query p50 {result['query_p50_ms']} ms -> {args.out}"
    )


if __name__ == "__main__":
    main()
