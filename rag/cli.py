"""``python -m rag``: ingest, ask, list, remove, eval. Turns domain errors into one-line messages."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import Settings
from .engine import Engine
from .errors import RagError
from .render import citation, visible_controls
from .types import AddReport, Answer

_BOLD, _RESET = "\033[1m", "\033[0m"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rag",
        description="Quote-first question answering: answers are verbatim excerpts of your documents.",
    )
    parser.add_argument("--index", type=Path, help="index folder (default: $RAG_INDEX_DIR or embeddings/)")
    parser.add_argument("--model", help="sentence-transformers model name or path (default: bundled all-MiniLM-L6-v2)")
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="index files or folders (.txt .md .rst .html .pdf .docx)")
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.add_argument(
        "--replace",
        action="store_true",
        help="a file whose id another file's document holds replaces it (default: indexed under a new id)",
    )
    ingest.add_argument(
        "--progress", action="store_true", help="print `progress FRACTION WHAT` lines on stderr while indexing"
    )
    ingest.add_argument(
        "--follow-links", action="store_true", help="follow links in folders to files outside them (default: refuse)"
    )

    ask = sub.add_parser("ask", help="answer a question with cited excerpts")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=None, help="most excerpts to show (default 5)")
    ask.add_argument("--history", action="append", default=[], help="an earlier question (repeatable, oldest first)")
    ask.add_argument("--source", action="append", default=None, help="search only this document id (repeatable)")
    ask.add_argument("--json", action="store_true", help="print the Answer as one JSON object")

    listing = sub.add_parser("list", help="list the indexed documents")
    listing.add_argument("--json", action="store_true")

    remove = sub.add_parser("remove", help="remove documents from the index (in one save)")
    remove.add_argument("doc_ids", nargs="*", metavar="DOC_ID")
    remove.add_argument("--all", action="store_true", help="remove every document")

    account = sub.add_parser("account", help="add or change a sign-in account for `app.py --auth FILE`")
    account.add_argument("name")
    account.add_argument(
        "--role", choices=("reader", "editor"), default="reader", help="readers ask; editors also add and remove"
    )
    account.add_argument(
        "--file", type=Path, default=Path("accounts.txt"), help="the accounts file (default: accounts.txt)"
    )
    account.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    evaluate = sub.add_parser("eval", help="score retrieval on a JSONL question set")
    evaluate.add_argument("questions", type=Path)
    evaluate.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The engine's warnings (a damaged index served from an earlier generation, an
    # encoder fallback) reach the user as one line each on stderr.
    _log_to_stderr(logging.WARNING, "warning: %(message)s")
    if args.command == "account":  # needs no index
        try:
            return _account(args)
        except RagError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    try:
        settings = Settings.from_env(
            index_dir=args.index, model=args.model, follow_links=getattr(args, "follow_links", None) or None
        )
        engine = Engine.open(settings=settings)  # a damaged index is logged as a warning
        return _COMMANDS[args.command](engine, args)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _log_to_stderr(level: int, fmt: str) -> None:
    """Show log records of ``level`` and above (libraries may set their loggers lower)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, level) if root.level else level)


def _ingest(engine: Engine, args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not p.exists()]
    progress = None
    if args.progress:
        progress = lambda done, what: print(f"progress {done:.4f} {what}", file=sys.stderr, flush=True)  # noqa: E731
    report = engine.add(args.paths, progress=progress, replace=args.replace)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        _print_report(report, sys.stdout)
    # A path that does not exist is a typo the caller must hear about, whatever else went in.
    return 1 if missing or (report.refused and not (report.changed or report.unchanged)) else 0


def _ask(engine: Engine, args: argparse.Namespace) -> int:
    try:
        refreshed = engine.refresh()
    except RagError as exc:  # e.g. a read-only index folder: answer from it as it is
        print(f"warning: files changed on disk were not re-indexed ({exc})", file=sys.stderr)
        refreshed = AddReport()
    if refreshed.changed:
        print(f"re-indexed changed documents: {', '.join(refreshed.added + refreshed.updated)}", file=sys.stderr)
    answer = engine.ask(args.question, k=args.k, history=args.history, sources=args.source)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print(format_answer(answer, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ))
    return 0


def _list(engine: Engine, args: argparse.Namespace) -> int:
    rows = [
        {"id": d.id, "title": d.title, "paragraphs": engine.passage_count(d.id), "path": d.path}
        for d in engine.documents()
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    elif not rows:
        print("The index is empty: add documents with `python -m rag ingest PATH`.")
    else:
        for row in rows:
            print(f"{row['id']}\t{row['paragraphs']} passages\t{row['title']}")
    return 0


def _remove(engine: Engine, args: argparse.Namespace) -> int:
    ids = [d.id for d in engine.documents()] if args.all else args.doc_ids
    if not ids:
        print("nothing to remove: name document ids, or --all", file=sys.stderr)
        return 0 if args.all else 2
    engine.remove(*ids)
    print(f"removed {len(ids)}: {', '.join(ids)}")
    return 0


def _account(args: argparse.Namespace) -> int:
    from getpass import getpass

    from .accounts import save_account

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass(f"password for {args.name}: ")
        if getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 1
    save_account(args.file, args.name, args.role, password)
    print(f"{args.name} ({args.role}) saved in {args.file}")
    return 0


def _eval(engine: Engine, args: argparse.Namespace) -> int:
    from .evaluate import evaluate, load_questions

    report = evaluate(engine, load_questions(args.questions))
    metrics = report.metrics()
    if args.json:
        print(json.dumps({**metrics, "misses": report.misses()}))
    else:
        for name, value in metrics.items():
            print(f"{name:<18} {value:.3f}" if isinstance(value, float) else f"{name:<18} {value}")
        for line in report.misses():
            print(f"  {line}")
    return 0


def format_answer(answer: Answer, color: bool = False) -> str:
    """An Answer as a reader sees it: numbered quotations, each with its citation."""
    lines: list[str] = []
    if answer.searched_as and answer.searched_as != answer.question:
        lines.append(f"(searched as: {answer.searched_as})")
    if not answer.answered:
        lines.append("The documents do not answer this question.")
    if answer.unwritten:
        lines.append(f"(not in any document: {', '.join(answer.unwritten)})")
    if not answer.answered and answer.excerpts:
        lines.append("")
        lines.append("Closest passages (near-misses, not answers):")
    for number, e in enumerate(answer.excerpts, start=1):
        # Invisible reordering characters are written out: a hidden override must not reorder the quote.
        quote = visible_controls(e.text)
        if color:
            s, t = e.highlight
            quote = "".join(
                (
                    visible_controls(e.text[:s]),
                    _BOLD,
                    visible_controls(e.text[s:t]),
                    _RESET,
                    visible_controls(e.text[t:]),
                )
            )
        if e.note:
            lines.append(f"    ({e.note}:)")
        lines.append(f'[{number}] "{quote}", {citation(e)} [relevance {e.score:.2f}]')
        if not color:
            s, t = e.highlight
            label = "closest sentence" if e.near_miss else "answering sentence"
            lines.append(f"    {label}: {visible_controls(e.text[s:t])}")
        if e.missing:
            lines.append(f"    not in this excerpt: {', '.join(e.missing)}")
    return "\n".join(lines)


def _print_report(report: AddReport, stream) -> None:
    for label, ids in (("added", report.added), ("updated", report.updated), ("unchanged", report.unchanged)):
        if ids:
            print(f"{label}: {len(ids)} ({', '.join(ids)})", file=stream)
    for refusal in report.refused:
        print(f"refused: {refusal.path}: {refusal.reason}", file=stream)
    for warning in report.warnings:
        print(f"warning: {warning.path}: {warning.reason}", file=stream)
    if not (report.changed or report.unchanged or report.refused):
        print("nothing to index", file=stream)


_COMMANDS = {"ingest": _ingest, "ask": _ask, "list": _list, "remove": _remove, "eval": _eval}
