"""Check ``realdocs_questions.json`` against the corpus, and count its questions.

Usage::

    python benchmarks/realdocs_questions_check.py [--corpus DIR] [--questions FILE] [--passages]

Builds the corpus first (``realdocs_corpus.build``, a no-op once cached) unless
``--corpus`` names one. Then, for every question:

- the schema: ids ``fNNa``/``fNNb`` (two phrasings per fact, same file, phrase, type,
  format and split), out-of-domain ``oNN`` with no file and no phrase, a gold phrase of
  3-12 words (counting the tokens that hold a letter or digit), an existing gold file of
  the declared format;
- the gold phrase is found in the text the engine extracts from the gold file
  (``rag.documents.load_document``) after the benchmark's normalisation (lowercased,
  letters and digits only): an error otherwise;
- ``unique`` says truly whether the phrase occurs in no other file, and ``also_in`` (present
  when it is not unique) lists the other files that hold it;
- the PDF phrases are also looked for in pypdf's text (what the peers read): reported,
  not an error, as pypdf keeps ligatures (``ﬁ``) and drops some words' letters;
- with ``--passages``, whether the phrase lies inside one passage of the engine's split
  (it cannot be scored otherwise: headings and furniture are not excerpt text): reported;
- out-of-domain questions: no file of the corpus holds all of their ``absent`` terms (as
  whole words, in the engine's text).

Held-out questions and phrases are never printed, only their ids. Prints the counts by
type, format and split; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

QUESTIONS = HERE / "realdocs_questions.json"
TYPES = ("keyword", "paraphrase", "howto", "when", "who", "howmany", "pdf", "ood")
FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf"}
_WORD = re.compile(r"[^\W_]+")
_ID = re.compile(r"^(f\d{2,3})([ab])$|^(o\d{2,3})$")


def norm(text: str) -> str:
    """The benchmark's comparison form: lowercased, letters and digits only."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def words(text: str) -> str:
    """Lowercased words joined by spaces and framed by spaces, to find whole words or word runs."""
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def engine_texts(corpus: Path, failed: list[str] | None = None) -> dict[str, object]:
    """Every corpus file read by the engine: ``{relative path: Document}``; files the engine
    cannot read are left out (and named in ``failed``)."""
    from rag.documents import load_document

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    docs = {}
    for path in sorted(corpus.rglob("*")):
        if path.is_file():
            rel = path.relative_to(corpus).as_posix()
            try:
                docs[rel] = load_document(path, rel)
            except Exception as exc:  # noqa: BLE001 - report any reader failure, go on
                if failed is None:
                    raise
                failed.append(f"{rel}: the engine cannot read it: {exc!r}")
    return docs


def pypdf_text(path: Path) -> str:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def passages_of(docs: dict[str, object]) -> dict[str, list[str]]:
    """The engine's passages of each document, normalised (no embedding involved)."""
    from rag.cleaning import shared_lines
    from rag.config import Settings
    from rag.passages import split_passages

    shared = shared_lines(d.text for d in docs.values())
    limit = Settings().max_passage_chars
    return {rel: [norm(p.text) for p in split_passages(d, shared, limit)] for rel, d in docs.items()}


def check(questions: list[dict], corpus: Path, passages: bool = False) -> tuple[list[str], list[str]]:
    """Return (errors, notes); prints nothing."""
    errors: list[str] = []
    notes: list[str] = []

    def show(q: dict) -> str:  # held-out items are shown by id only
        if q.get("split") == "heldout":
            return q.get("id", "?")
        return f"{q.get('id')} ({q.get('file')}: «{q.get('phrase')}»)"

    docs = engine_texts(corpus, errors)
    texts = {rel: norm(d.text) for rel, d in docs.items()}
    word_texts: dict[str, str] = {}
    seen: set[str] = set()
    facts: dict[str, list[dict]] = {}
    for q in questions:
        qid = q.get("id", "")
        m = _ID.match(qid)
        if not m or qid in seen:
            errors.append(f"bad or repeated id {qid!r}")
            continue
        seen.add(qid)
        if q.get("type") not in TYPES or q.get("split") not in ("tune", "heldout"):
            errors.append(f"{qid}: bad type or split")
        if not str(q.get("question", "")).strip().endswith("?"):
            errors.append(f"{qid}: the question should end with '?'")
        if q.get("type") == "ood" or m.group(3):
            if q.get("type") != "ood" or q.get("file") is not None or q.get("phrase") is not None or not m.group(3):
                errors.append(f"{qid}: out-of-domain items have ids oNN, type ood, file and phrase null")
            absent = [words(t) for t in q.get("absent", [])]
            if not absent:
                errors.append(f"{qid}: an out-of-domain item lists the terms it must not find ('absent')")
            if not word_texts:
                word_texts.update((rel, words(d.text)) for rel, d in docs.items())
            for rel, text in word_texts.items():
                if absent and all(t in text for t in absent):
                    errors.append(f"{qid}: {rel} holds every term of {q.get('absent')}")
            continue
        if q.get("fact") != m.group(1):
            errors.append(f"{qid}: fact should be {m.group(1)}")
        facts.setdefault(m.group(1), []).append(q)
        rel, phrase = q.get("file"), q.get("phrase") or ""
        if rel not in docs:
            errors.append(f"{qid}: gold file {rel!r} is not in the corpus (or unreadable)")
            continue
        if FORMATS.get(Path(rel).suffix.lower()) != q.get("format"):
            errors.append(f"{qid}: format {q.get('format')!r} does not match {rel}")
        n_words = sum(any(ch.isalnum() for ch in w) for w in phrase.split())
        if not 3 <= n_words <= 12:
            errors.append(f"{show(q)}: the phrase has {n_words} words (3-12)")
        key = norm(phrase)
        if key not in texts[rel]:
            errors.append(f"{show(q)}: phrase not in the engine's text of the gold file")
            continue
        also = sorted(other for other, text in texts.items() if other != rel and key in text)
        if q.get("unique") is not (not also) or q.get("also_in", []) != also:
            errors.append(f"{qid}: 'unique' should be {not also} and 'also_in' {also}")
    for fact, pair in facts.items():
        ids = sorted(q["id"] for q in pair)
        if ids != [fact + "a", fact + "b"]:
            errors.append(f"{fact}: expected phrasings {fact}a and {fact}b, found {ids}")
        fields = ("file", "phrase", "type", "format", "split", "unique", "also_in")
        if any(pair[0].get(f) != q.get(f) for q in pair for f in fields):
            errors.append(f"{fact}: both phrasings must share {', '.join(fields)}")

    firsts = [q for q in questions if q.get("id", "").endswith("a") and q.get("format") == "pdf"]
    pdf_cache: dict[str, str] = {}
    for q in firsts:
        rel = q["file"]
        if rel in docs and rel not in pdf_cache:
            pdf_cache[rel] = norm(pypdf_text(corpus / rel))
        if rel in pdf_cache and norm(q["phrase"]) not in pdf_cache[rel]:
            notes.append(f"{show(q)}: not in pypdf's text (peers)")
    if passages:
        split = passages_of(docs)
        for q in questions:
            if q.get("id", "").endswith("a") and q.get("file") in split:
                key = norm(q["phrase"])
                if not any(key in p for p in split[q["file"]]):
                    notes.append(f"{show(q)}: not inside one passage of the engine's split")
    return errors, notes


def counts(questions: list[dict]) -> str:
    """A table of questions (and facts) by type and format, per split."""
    lines = []
    header = f"{'type':12}{'format':8}{'tune':>6}{'heldout':>9}{'all':>6}   facts"
    lines.append(header)
    table: Counter[tuple[str, str, str]] = Counter()
    fact_table: Counter[tuple[str, str]] = Counter()
    for q in questions:
        fmt = q.get("format") or "-"
        table[(q["type"], fmt, q["split"])] += 1
        if q["id"].endswith("a") or q["type"] == "ood":
            fact_table[(q["type"], fmt)] += 1
    for typ in TYPES:
        for fmt in ("html", "pdf", "-"):
            tune, held = table[(typ, fmt, "tune")], table[(typ, fmt, "heldout")]
            if tune or held:
                lines.append(f"{typ:12}{fmt:8}{tune:6}{held:9}{tune + held:6}   {fact_table[(typ, fmt)]:5}")
    split = Counter(q["split"] for q in questions)
    fmts = Counter(q.get("format") or "-" for q in questions)
    n_facts = len({q["fact"] for q in questions if q["type"] != "ood"})
    n_ood = sum(q["type"] == "ood" for q in questions)
    lines.append(
        f"total: {len(questions)} questions = {n_facts} facts x 2 + {n_ood} out-of-domain; "
        f"split {dict(split)}; format {dict(fmts)}"
    )
    by_split = Counter((q["split"], q.get("format") or "-") for q in questions if q["id"].endswith("a"))
    lines.append("facts by split and format: " + ", ".join(f"{s}/{f} {n}" for (s, f), n in sorted(by_split.items())))
    uniq = Counter(q.get("unique") for q in questions if q["id"].endswith("a"))
    lines.append(f"facts whose phrase is in no other file: {uniq[True]} of {uniq[True] + uniq[False]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="the corpus folder (default: build it)")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--passages", action="store_true", help="also check that each phrase is in one passage")
    args = parser.parse_args(argv)
    if args.corpus is None:
        from realdocs_corpus import build

        args.corpus = build()
    questions = json.loads(args.questions.read_text(encoding="utf-8"))
    errors, notes = check(questions, args.corpus, passages=args.passages)
    print(counts(questions))
    for note in notes:
        print("note:", note)
    for error in errors:
        print("ERROR:", error)
    print(f"{len(errors)} errors" if errors else "no errors: every gold phrase is in its gold file")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
