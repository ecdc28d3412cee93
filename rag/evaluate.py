"""Score the engine on a labelled question set: ranking, highlights and abstention.

Each line of the question file is a JSON object::

    {"q": "Who commands Liwa al-Quds?", "gold": ["substring of the right paragraph", ...]}
    {"q": "When was it formed?", "history": ["Who commands Liwa al-Quds?"], "gold": [...]}
    {"q": "How do I bake bread?", "unanswerable": true}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RagError
from .types import Answer


@dataclass(frozen=True)
class Question:
    q: str
    gold: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    unanswerable: bool = False


@dataclass
class Outcome:
    """One question's result: the rank of the first gold excerpt (1-based) or None."""

    question: Question
    answer: Answer
    rank: int | None
    highlight_ok: bool


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        answerable = [o for o in self.outcomes if not o.question.unanswerable]
        unanswerable = [o for o in self.outcomes if o.question.unanswerable]
        n = max(len(answerable), 1)

        def hit(k: int) -> float:
            return sum(o.rank is not None and o.rank <= k for o in answerable) / n

        abstained = [o for o in self.outcomes if not o.answer.answered]
        correct = [o for o in abstained if o.question.unanswerable]
        found = [o for o in answerable if o.rank is not None]
        return {
            "questions": len(self.outcomes),
            "hit@1": hit(1),
            "hit@3": hit(3),
            "hit@5": hit(5),
            "mrr@10": sum(1 / o.rank for o in answerable if o.rank is not None and o.rank <= 10) / n,
            "highlight": sum(o.highlight_ok for o in found) / max(len(found), 1),
            "abstain_precision": len(correct) / len(abstained) if abstained else 1.0,
            "abstain_recall": len(correct) / len(unanswerable) if unanswerable else 1.0,
        }

    def misses(self) -> list[str]:
        """One line per question scored wrong: not found in the top 5, or an abstention that was wrong."""
        lines = []
        for o in self.outcomes:
            if o.question.unanswerable:
                if o.answer.answered:
                    lines.append(f"answered, should abstain: {o.question.q}")
            elif o.rank is None or o.rank > 5:
                where = "abstained" if not o.answer.answered else f"rank {o.rank}" if o.rank else "not in the excerpts"
                lines.append(f"missed ({where}): {o.question.q}")
            elif not o.highlight_ok:
                lines.append(f"highlight misses the answer: {o.question.q}")
        return lines


def load_questions(path: Path) -> list[Question]:
    """Read a question file (JSON lines).

    Raises:
        RagError: a line is not valid JSON or has no ``q``.
    """
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            questions.append(
                Question(
                    q=record["q"],
                    gold=tuple(record.get("gold", ())),
                    history=tuple(record.get("history", ())),
                    unanswerable=bool(record.get("unanswerable", False)),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise RagError(f"{path}:{number}: not a question record ({exc})") from exc
    return questions


def first_gold_rank(answer: Answer, gold: tuple[str, ...]) -> int | None:
    """The 1-based rank of the first answering excerpt that contains a gold substring."""
    if not answer.answered:
        return None
    for rank, excerpt in enumerate(answer.excerpts, start=1):
        if any(g in excerpt.text for g in gold):
            return rank
    return None


def evaluate(engine, questions: list[Question], k: int = 10) -> Report:
    """Ask every question and score the answers."""
    report = Report()
    for question in questions:
        answer = engine.ask(question.q, k=k, history=list(question.history))
        rank = first_gold_rank(answer, question.gold)
        ok = False
        if rank is not None:
            excerpt = answer.excerpts[rank - 1]
            lit = excerpt.text[excerpt.highlight[0] : excerpt.highlight[1]]
            ok = any(g in lit or lit in g for g in question.gold if g in excerpt.text)
        report.outcomes.append(Outcome(question, answer, rank, ok))
    return report
