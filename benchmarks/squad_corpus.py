"""SQuAD v1.1 dev as a closed corpus: one text file per article, each paragraph a passage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad-dev-v1.1.json"


@dataclass(frozen=True)
class SquadQuestion:
    question: str
    doc_id: str
    span: tuple[int, int]  # the gold paragraph's offsets in the article file
    answers: tuple[str, ...]
    article: int


def write_corpus(folder: Path, path: Path = SQUAD) -> list[SquadQuestion]:
    """Write each article as ``NN_title.txt`` (title line, then paragraphs) and return the questions.

    Paragraph texts are written verbatim, one per line, separated by blank lines.
    """
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    folder.mkdir(parents=True, exist_ok=True)
    questions: list[SquadQuestion] = []
    for number, article in enumerate(data):
        title = article["title"].replace("_", " ")
        doc_id = f"{number:02d}_{article['title'][:40]}.txt"
        text = title + "\n\n"
        for paragraph in article["paragraphs"]:
            context = " ".join(paragraph["context"].split("\n"))
            start = len(text)
            text += context + "\n\n"
            span = (start, start + len(context.rstrip()))
            for qa in paragraph["qas"]:
                answers = tuple(a["text"] for a in qa["answers"])
                questions.append(SquadQuestion(qa["question"], doc_id, span, answers, number))
        (folder / doc_id).write_text(text, encoding="utf-8")
    return questions
