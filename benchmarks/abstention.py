"""How far abstention can go on the signals the engine has: refusal rules and learned ones.

Usage::

    python benchmarks/abstention.py [--squad-index DIR] [--realdocs-index DIR]

The real-documents benchmark asks that 90% of its out-of-domain questions be refused
while SQuAD's Hit@1 stays at .85 or more and the real documents' right file @1 at .85 or
more. This script measures what each way of refusing more would cost, from the same
facts about every question's best passage:

- the engine's own evidence (fused relevance and each ranking signal), the share of the
  question's IDF weight in words the passage's document never writes (``doc_lacks``) or
  that the passage, its title and section path lack (``passage_lacks``), and the names
  rules' shares (``absent_names``, ``names_none``, ``closing_absent``);
- **should answer**: SQuAD dev's questions answered right at rank 1 (all 48 articles) and
  the real documents' tuning half's in-domain questions answered from the right file;
- **should refuse**: SQuAD's questions of articles 24-47 asked of articles 0-23 only
  (every 3rd) and the real documents' tuning out-of-domain questions (the tuning half's,
  ``realdocs_near_questions.json`` and ``realdocs_more_questions.json``), those the engine
  answers today.

Each rule is run at the point where it refuses at most ``BUDGET`` of SQuAD's right
answers (SQuAD's Hit@1 stays at .85) and none of the real documents' right-file answers;
the table says how many of today's wrongly answered out-of-domain questions it then
refuses. The learned rules (logistic regression, gradient-boosted trees) are scored by
5-fold cross-validation: each question is judged by a model that never saw it. The
held-out half of the real-documents questions is never read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from realdocs import EXTRA, QUESTIONS  # noqa: E402
from realdocs_corpus import build  # noqa: E402
from squad_corpus import write_corpus  # noqa: E402

from rag import Engine, Settings  # noqa: E402
from rag.analysis import terms  # noqa: E402
from rag.answer import build_answer  # noqa: E402
from rag.search import Query, SearchIndex, question_type  # noqa: E402

#: SQuAD's right answers a rule may refuse: 8,993 of 10,570 are right today, .85 is 8,985.
BUDGET = 8
#: SQuAD's held-out articles' questions asked of the tuning articles: every this many.
SQUAD_OOD_EVERY = 3
TUNE_ARTICLES = 24
SIGNALS = ("paragraph", "sentence", "tokens", "coverage", "sentence_coverage", "headings", "answer_type")
FEATURES = ("score", *SIGNALS, "doc_lacks", "passage_lacks", "absent_names", "names_none", "closing_absent", "terms")


def facts(index: SearchIndex, engine: Engine, question: str, sources: set[str] | None = None) -> tuple[dict, object]:
    """The engine's answer to ``question`` (as ``Engine.ask`` gives it to a first question)
    and the facts about its best passage."""
    settings = engine.settings
    vector = engine.embedder.encode_queries([question])[0]
    read_tokens = getattr(engine.embedder, "encode_tokens", None)
    query = Query(question, vector, tuple(terms(question)), question_type(question) or "", read_tokens)
    hits = index.rank(query, settings, sources, limit=50)
    answer = build_answer(question, query, hits, index, settings, 10)
    if not hits:
        return {}, answer
    best = max(hits, key=lambda h: h.score)
    passage = index.snapshot.passages[best.row]
    title = index.snapshot.documents[passage.doc_id].title
    present = set(terms(passage.text)) | set(terms(title)) | index.path_terms(best.row)

    weights = [(variants, w) for variants, w in index.term_weights(query).values() if variants]
    row = {"score": best.score, **{name: best.evidence.get(name, 0.0) for name in SIGNALS}}
    row["doc_lacks"] = sum(w for variants, w in weights if not index.document_writes(best.row, variants))
    row["passage_lacks"] = sum(w for variants, w in weights if variants.isdisjoint(present))
    row["absent_names"] = index.absent_names(query, best.row)
    row["names_none"] = index.names_none(query, best.row)
    row["closing_absent"] = index.closing_absent(query, best.row)
    row["terms"] = len(index.term_weights(query))
    return row, answer


def squad(index_dir: Path, every: int) -> tuple[list[dict], list[dict]]:
    """SQuAD's right answers at rank 1, and the answered questions asked of other articles
    (every ``every``-th question: quick runs)."""
    docs = index_dir.with_name(index_dir.name + "-docs")
    questions = write_corpus(docs)[::every]
    engine = Engine.open(settings=Settings.from_env(index_dir=index_dir))
    engine.add([docs])
    index = engine._current()
    by_doc: dict[str, list[tuple[int, int]]] = {}
    for p in index.snapshot.passages:
        by_doc.setdefault(p.doc_id, []).append((p.start, p.end))
    tune_docs = {q.doc_id for q in questions if q.article < TUNE_ARTICLES}
    right, wrong = [], []
    for number, q in enumerate(questions):
        row, answer = facts(index, engine, q.question)
        top = answer.excerpts[0] if answer.answered else None
        if top is not None and top.source == q.doc_id and top.start < q.span[1] and top.end > q.span[0]:
            right.append(row)
        if q.article >= TUNE_ARTICLES and number % SQUAD_OOD_EVERY == 0:
            row, answer = facts(index, engine, q.question, tune_docs)
            if answer.answered:
                wrong.append(row)
        if number % 2000 == 0:
            print(f"  SQuAD {number}/{len(questions)}", file=sys.stderr, flush=True)
    return right, wrong


def realdocs(index_dir: Path) -> tuple[list[dict], list[dict]]:
    """The tuning half's right-file answers, and the tuning out-of-domain questions answered."""
    corpus = build(HERE / ".cache")
    engine = Engine.open(settings=Settings.from_env(index_dir=index_dir))
    engine.add([corpus])
    index = engine._current()
    questions = [q for q in json.loads(QUESTIONS.read_text()) if q["split"] == "tune"]
    for _, path, _ in EXTRA:
        questions += json.loads(path.read_text())
    right, wrong = [], []
    for q in questions:
        row, answer = facts(index, engine, q["question"])
        if not answer.answered:
            continue
        if q["type"] == "ood":
            wrong.append(row)
        elif answer.excerpts[0].source == q["file"]:
            right.append(row)
    return right, wrong


def operating_point(refuse: np.ndarray, source: np.ndarray, budget: int) -> float:
    """The lowest refusal score that refuses at most ``budget`` of SQuAD's right answers and
    none of the real documents' right-file answers."""
    squad_right = np.sort(refuse[source == "squad+"])[::-1]
    return max(float(squad_right[budget]), float(refuse[source == "realdocs+"].max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--squad-index", type=Path, help="SQuAD index folder to build or reuse")
    parser.add_argument("--realdocs-index", type=Path, help="real-documents index folder to build or reuse")
    parser.add_argument("--every", type=int, default=1, help="SQuAD: every N-th question (quick runs)")
    args = parser.parse_args()
    budget = BUDGET // args.every
    work = Path(tempfile.mkdtemp(prefix="abstention-"))
    groups = dict(zip(("squad+", "squad-"), squad(args.squad_index or work / "squad", args.every), strict=True))
    groups.update(zip(("realdocs+", "realdocs-"), realdocs(args.realdocs_index or work / "realdocs"), strict=True))
    source = np.array([name for name, rows in groups.items() for _ in rows])
    x = np.array([[row[f] for f in FEATURES] for rows in groups.values() for row in rows], dtype=np.float64)
    y = np.isin(source, ("squad-", "realdocs-")).astype(int)
    print(", ".join(f"{name}: {len(rows)}" for name, rows in groups.items()))

    column = {f: x[:, i] for i, f in enumerate(FEATURES)}
    rules: dict[str, np.ndarray] = {}
    for a in (0.5, 1.0):
        rules[f"relevance less {a} x doc_lacks"] = -(column["score"] - a * column["doc_lacks"])
        rules[f"relevance less {a} x passage_lacks"] = -(column["score"] - a * column["passage_lacks"])
    rules["doc_lacks alone"] = column["doc_lacks"]
    rules["passage_lacks alone"] = column["passage_lacks"]

    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    models = {
        "logistic regression (5-fold)": lambda: LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced"),
        "gradient-boosted trees (5-fold)": lambda: GradientBoostingClassifier(
            n_estimators=100, max_depth=2, random_state=0
        ),
    }
    for name, make in models.items():
        refuse = np.zeros(len(y))
        for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(x, source):
            refuse[test] = make().fit(x[train], y[train]).predict_proba(x[test])[:, 1]
        rules[name] = refuse

    n_squad, n_real = (source == "squad-").sum(), (source == "realdocs-").sum()
    print(f"\nAt most {budget} of SQuAD's right answers refused, none of the real documents' right-file answers:\n")
    print(
        "| rule | SQuAD right refused | other articles' questions refused | real documents' out-of-domain refused "
        "| SQuAD right refused to refuse half of those |"
    )
    print("|---|---|---|---|---|")
    for name, refuse in rules.items():
        at = operating_point(refuse, source, budget)
        refused = refuse > at
        print(
            f"| {name} | {refused[source == 'squad+'].sum()} | {refused[source == 'squad-'].sum()} of {n_squad} "
            f"| {refused[source == 'realdocs-'].sum()} of {n_real} | {_cost_of_half(refuse, source)} |"
        )


def _cost_of_half(refuse: np.ndarray, source: np.ndarray) -> int:
    """How many of SQuAD's right answers a rule refuses once it refuses half of the real
    documents' wrongly answered out-of-domain questions."""
    wrong = np.sort(refuse[source == "realdocs-"])[::-1]
    at = wrong[(len(wrong) + 1) // 2 - 1]
    return int((refuse[source == "squad+"] >= at).sum())


if __name__ == "__main__":
    main()
