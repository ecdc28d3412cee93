"""Real documents: this project against Haystack 2.31 and txtai on Debian manuals (HTML and PDF).

Usage::

    python benchmarks/realdocs.py [--split tune|heldout|all] [--skip-peers] [--show-misses]

The corpus (``realdocs_corpus.py``) is built from Debian documentation packages with
apt and cached under ``benchmarks/.cache/``: the Sphinx manual (Sphinx HTML), the
Debian Reference (DocBook HTML), part of Git's documentation (AsciiDoc HTML) and
seven PDF manuals. The questions (``realdocs_questions.json``) were written by
reading the pages: each fact is asked in two phrasings, with a gold file and a
verbatim gold phrase; out-of-domain questions have neither. Facts are split in two
halves: ``tune`` (looked at while tuning) and ``heldout`` (never looked at; their
misses are never printed). ``realdocs_near_questions.json`` adds out-of-domain questions
near the manuals' topics, most of them the same task in another tool ("How do I rebase my
changes onto upstream in Mercurial?"), written for tuning the abstention after the
benchmark's own tuning half was all but refused; ``realdocs_more_questions.json`` 80 more,
written by a helper who read the corpus (the same task in another tool, questions on the
manuals' tools that they never answer, general knowledge, the manuals' words in another
sense), each with what was grepped to check it is not answered. Both are reported apart,
not in "all". ``realdocs_follow_ups.json`` holds 152 questions asked after one or two
earlier ones (54 written by a reviewer, 60 by a blind evaluator): follow-ups ("How do I
install it?") to one the manuals do not answer ("What is Kubernetes?"), and questions
they do not answer after one they do, which should be refused; follow-ups to one they
answer, and questions of their own ("How does bash save its history?", "What is
aptitude?") after one they do not answer, which should be answered; reported apart too.
The earlier turns are asked first, each with the history so far, and passed on as the
app passes them (what each was searched as).

Every system gets the same files and the same model (all-MiniLM-L6-v2). A hit at k
is an excerpt among the first k from the gold file that contains the gold phrase
(compared lowercased, letters and digits only, so line breaks and hyphenation do
not matter). Our engine's refusals count as misses; the peers never refuse.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from realdocs_corpus import build  # noqa: E402
from realdocs_peers import ensure_venv, run_peer  # noqa: E402

from rag import Engine, Settings  # noqa: E402
from rag.embedding import bundled_model_path  # noqa: E402
from rag.passages import SECTION_SEPARATOR  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
QUESTIONS = HERE / "realdocs_questions.json"
#: Out-of-domain questions for tuning the abstention, reported apart: name, file, what they are.
EXTRA = (
    ("near", HERE / "realdocs_near_questions.json", "out-of-domain questions near the manuals' topics"),
    ("more", HERE / "realdocs_more_questions.json", "more out-of-domain questions, by kind"),
)
#: Follow-ups asked after an earlier question (their ``history``), reported apart.
FOLLOW_UPS = HERE / "realdocs_follow_ups.json"
_LEADER = re.compile(r"(?:\.\s?){4,}\s*\d{1,4}\s*$", re.M)
# Two shell or REPL prompts on one line: a code block flattened into one line.
_FLAT_CODE = re.compile(r"(?:^|\s)(?:\$|>>>) \S[^\n]*?[ \t](?:\$|>>>) \S")


def _scrap(text: str) -> bool:
    """One short line without end punctuation: a heading or a scrap shown alone (or a man
    page's NAME line, a changelog item, a synopsis: counted, to be looked at)."""
    return "\n" not in text and len(text) < 80 and text.rstrip()[-1:] not in ".:;!?"


def _heading_alone(excerpt) -> bool:
    """An excerpt that is nothing but its document's title or one of its section headings."""
    names = [excerpt.title, *excerpt.section.split(SECTION_SEPARATOR)]
    return norm(excerpt.text) in {norm(n) for n in names if n.strip()}


def norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def score(questions: list[dict], results: dict[str, list[dict]]) -> dict:
    """Hit@1/3/5 by gold phrase, right file @1, highlight accuracy (ours) and abstention."""
    domain = [q for q in questions if q["type"] != "ood"]
    ood = [q for q in questions if q["type"] == "ood"]
    hits = {1: 0, 3: 0, 5: 0}
    right_file = highlight = highlighted = 0
    misses = []
    for q in domain:
        found = results.get(q["id"], [])
        phrase = norm(q["phrase"])
        rank = next(
            (i for i, h in enumerate(found[:5]) if h["file"] == q["file"] and phrase in norm(h["text"])),
            None,
        )
        for k in hits:
            hits[k] += rank is not None and rank < k
        right_file += bool(found) and found[0]["file"] == q["file"]
        if rank is not None and "highlight" in found[rank]:
            highlighted += 1
            highlight += phrase in norm(found[rank]["highlight"])
        if rank != 0:
            misses.append((q, found[:1]))
    n = max(1, len(domain))
    refused = sum(not results.get(q["id"]) for q in ood)
    return {
        "hit1": hits[1] / n,
        "hit3": hits[3] / n,
        "hit5": hits[5] / n,
        "file1": right_file / n,
        "highlight": highlight / highlighted if highlighted else None,
        "ood_refused": refused / len(ood) if ood else None,
        "misses": misses,
    }


def run_ours(corpus: Path, questions: list[dict], keep: Path | None = None, extra: Sequence[dict] = ()) -> dict:
    """Index the corpus in a fresh folder (or reuse ``keep``) and ask every question through
    ``Engine.ask``; ``extra`` questions are asked too, their answers kept (refused or not) but
    neither timed nor counted in the excerpt checks."""
    index = keep or Path(tempfile.mkdtemp(prefix="realdocs-index-"))
    try:
        engine = Engine.open(settings=Settings.from_env(index_dir=index))
        t0 = time.perf_counter()
        report = engine.add([corpus])
        ingest = time.perf_counter() - t0
        engine.ask("warm up")
        results, times, gaps = {}, [], {}
        checks = {"heading_only": 0, "one_short_line": 0, "contents_line": 0, "flattened_code": 0, "excerpts": 0}
        for q in questions:
            t0 = time.perf_counter()
            answer = engine.ask(q["question"], k=5)
            times.append(time.perf_counter() - t0)
            found = []
            if answer.answered:
                for e in answer.excerpts:
                    lit = e.text[e.highlight[0] : e.highlight[1]]
                    found.append({"file": e.source, "text": e.text, "highlight": lit, "score": e.score})
                    checks["excerpts"] += 1
                    checks["heading_only"] += _heading_alone(e)
                    checks["one_short_line"] += _scrap(e.text)
                    checks["contents_line"] += bool(_LEADER.search(e.text))
                    checks["flattened_code"] += bool(_FLAT_CODE.search(e.text))
            results[q["id"]] = found
            if answer.answered:  # the answer names a gap: a word no document writes, a name the top excerpt lacks
                gaps[q["id"]] = bool(answer.unwritten or answer.excerpts[0].missing)
        for q in extra:
            history: list[str] = []
            for earlier in q.get("history", ()):  # as the app keeps it: what each turn was searched as
                history.append(engine.ask(earlier, k=1, history=history or None).searched_as)
            answer = engine.ask(q["question"], k=5, history=history or None)
            shown = answer.excerpts if answer.answered else ()
            results[q["id"]] = [{"file": e.source, "text": e.text, "score": e.score} for e in shown]
        return {
            "system": "this project",
            "ingest_s": ingest,
            "refused_files": len(report.refused),
            "query_p50_ms": 1000 * statistics.median(times),
            "results": results,
            "checks": checks,
            "gaps": gaps,
        }
    finally:
        if keep is None:
            shutil.rmtree(index, ignore_errors=True)


def run_peers(corpus: Path, questions_file: Path, systems: list[str], fresh: bool = False) -> list[dict]:
    """Each peer in its own venv, cached by the questions' and corpus's content (``fresh``:
    measured again, for timings taken in the same run as ours)."""
    python = ensure_venv(CACHE)
    digest = hashlib.sha256(questions_file.read_bytes())
    for f in sorted(corpus.rglob("*")):
        if f.is_file():
            digest.update(f"{f.relative_to(corpus)}:{f.stat().st_size}".encode())
    out = []
    for system in systems:
        path = CACHE / "realdocs" / f"peer-{system}-{digest.hexdigest()[:12]}.json"
        if fresh or not path.exists():
            run_peer(python, system, corpus, questions_file, bundled_model_path(), path)
        data = json.loads(path.read_text())
        data["results"] = {r["id"]: r["hits"] for r in data["results"]}
        out.append(data)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("tune", "heldout", "all"), default="all")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--fresh-peers", action="store_true", help="run the peers again instead of reading their cache")
    parser.add_argument("--show-misses", action="store_true", help="list the tune half's misses (never held-out)")
    parser.add_argument(
        "--index", type=Path, help="keep our index here and reuse it (its ingest time is then not a first one)"
    )
    args = parser.parse_args()

    corpus = build(CACHE)
    questions = json.loads(QUESTIONS.read_text())
    extra = {name: json.loads(path.read_text()) for name, path, _ in EXTRA}
    tuning_ood = [q for qs in extra.values() for q in qs]
    follow_ups = json.loads(FOLLOW_UPS.read_text())
    ours = run_ours(corpus, questions, args.index, tuning_ood + follow_ups)
    systems = [ours]
    if not args.skip_peers:
        systems += run_peers(corpus, QUESTIONS, ["haystack", "txtai"], args.fresh_peers)

    splits = ("tune", "heldout") if args.split == "all" else (args.split,)
    for split in (*splits, "all") if args.split == "all" else splits:
        chosen = [q for q in questions if split == "all" or q["split"] == split]
        n_in = sum(q["type"] != "ood" for q in chosen)
        print(f"\n## {split}: {n_in} questions + {len(chosen) - n_in} out-of-domain")
        print("| system | Hit@1 | Hit@3 | Hit@5 | right file @1 | highlight | OOD refused | ingest | query p50 |")
        print("|---|---|---|---|---|---|---|---|---|")
        for system in systems:
            s = score(chosen, system["results"])
            name = system["system"] + (f" {system.get('version', '')}" if system.get("version") else "")
            hl = f"{s['highlight']:.3f}" if s["highlight"] is not None else "n/a"
            refused = f"{s['ood_refused']:.2f}" if system is ours and s["ood_refused"] is not None else "n/a"
            print(
                f"| {name} | {s['hit1']:.3f} | {s['hit3']:.3f} | {s['hit5']:.3f} | {s['file1']:.3f} | {hl} | "
                f"{refused} | {system['ingest_s']:.0f} s | {system['query_p50_ms']:.0f} ms |"
            )
        by_type: dict[str, list[dict]] = {}
        for q in chosen:
            if q["type"] != "ood":
                by_type.setdefault(q.get("format", "html") + "/" + q["type"], []).append(q)
        print(
            "\nHit@1 by kind: "
            + ", ".join(
                f"{kind} {score(qs, ours['results'])['hit1']:.2f} ({len(qs)})" for kind, qs in sorted(by_type.items())
            )
        )
    for name, _, what in EXTRA:
        qs = extra[name]
        refused = sum(not ours["results"].get(q["id"]) for q in qs)
        kinds: dict[str, list[int]] = {}
        for q in qs:
            if "kind" in q:
                counts = kinds.setdefault(q["kind"], [0, 0])
                counts[0] += not ours["results"].get(q["id"])
                counts[1] += 1
        by_kind = "; by kind: " + ", ".join(f"{k} {r} of {n}" for k, (r, n) in kinds.items()) if kinds else ""
        print(
            f"\n## {name}: {len(qs)} {what} (tuning; not in all)\n"
            f"this project refused {refused} of {len(qs)} ({refused / len(qs):.2f}){by_kind}; the peers never refuse"
        )
    print(f"\n## follow-ups: {len(follow_ups)} questions asked after an earlier one (tuning; not in all)")
    for kind in dict.fromkeys(q["kind"] for q in follow_ups):
        qs = [q for q in follow_ups if q["kind"] == kind]
        wanted = "refused" if qs[0]["type"] == "ood" else "answered"  # out-of-domain ones should be refused
        done = sum(bool(ours["results"].get(q["id"])) == (wanted == "answered") for q in qs)
        print(f"- {kind}: {wanted} {done} of {len(qs)}")
    print(f"\nExcerpt checks (ours, all top-5 excerpts): {ours['checks']}")
    for kind, chosen in (("out-of-domain", True), ("in-domain", False)):
        answered = [
            flag
            for q in questions
            if (q["type"] == "ood") == chosen
            for flag in [ours["gaps"].get(q["id"])]
            if flag is not None
        ]
        print(
            f"{kind} questions answered: {len(answered)}; naming a gap (a word no document writes, "
            f"or a name the top excerpt lacks): {sum(answered)}"
        )
    if args.show_misses:
        tune = [q for q in questions if q["split"] == "tune"]
        for q, top in score(tune, ours["results"])["misses"]:
            got = f"{top[0]['file']}: {top[0]['text'][:140]!r} ({top[0]['score']:.2f})" if top else "(refused)"
            print(f"- [{q['type']}] {q['question']}  gold {q['file']} «{q['phrase']}»\n    got {got}")
        for q in tune + tuning_ood:
            if q["type"] == "ood" and ours["results"].get(q["id"]):
                top = ours["results"][q["id"]][0]
                print(f"- [ood answered] {q['question']}: {top['text'][:100]!r} ({top['score']:.2f})")
        for q in tune:
            for e in ours["results"].get(q["id"], []):
                if _scrap(e["text"]) or _FLAT_CODE.search(e["text"]):
                    print(f"- [check] {e['file']}: {e['text'][:160]!r}")


if __name__ == "__main__":
    main()
