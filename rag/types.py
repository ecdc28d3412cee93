"""Typed values that travel through the pipeline: documents, passages, excerpts, answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

Span = tuple[int, int]

#: One block of a document's layout: ``(start, end, kind, level)``, offsets into its text.
#: Kinds: "heading" (``level`` 1-6), "text", "code", "item" (of a list), "term" and "desc"
#: (of a definition list), "field" (a label such as "Since:" and its value, read as part of the
#: entry above), "header" and "row" (of a table). Outside headings, ``level`` counts
#: the definitions' descriptions a block is in (a term and its description: those it is nested in).
Block = tuple[int, int, str, int]


@dataclass(frozen=True)
class Document:
    """One source file, decoded and ready to split.

    ``text`` is the text every citation points into: for ``.txt``/``.md`` it is the
    decoded file content (what ``open(path).read()`` returns), for the other formats
    the text extracted from them.

    ``layout`` holds the blocks a structured reader (HTML, DOCX, PDF) found, in
    order; it is empty for plain text, whose paragraphs are found from the text.
    """

    id: str
    title: str
    path: str
    sha256: str
    text: str
    size: int = 0
    mtime_ns: int = 0
    layout: tuple[Block, ...] = ()

    def __post_init__(self) -> None:
        # Read back from JSON, blocks arrive as lists.
        if self.layout and not isinstance(self.layout[0], tuple):
            object.__setattr__(self, "layout", tuple(tuple(b) for b in self.layout))


@dataclass(frozen=True)
class Passage:
    """A paragraph of a document: the unit of citation.

    ``start``/``end`` are character offsets into the document's text, and
    ``sentences`` are absolute ``(start, end)`` spans of its sentences.
    ``heading`` is its section path, the headings above it joined with " › "
    ("Installation › From source"): context, not part of the quote.
    """

    doc_id: str
    paragraph: int
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...]
    heading: str = ""


@dataclass(frozen=True)
class Citation:
    """Where else a near-identical passage appears."""

    source: str
    title: str
    paragraph: int
    start: int
    end: int


@dataclass(frozen=True)
class Excerpt:
    """A verbatim quote of one passage with its citation.

    ``highlight`` is the ``[start, end]`` span, inside ``text``, of the sentence that
    best answers the question. ``near_miss`` marks an excerpt shown although it did
    not clear the relevance threshold. ``also`` cites near-identical passages that
    were merged into this one. ``section`` is where the passage sits in its document
    ("Installation › From source"); ``note`` says why a passage is shown beside the
    answer ("another source", and whether it differs). ``missing`` lists the question's
    names that this excerpt, its title and section never write, though some document does
    ("PostgreSQL" beside a passage about SMTP ports): it may not answer. ``code`` holds the
    ``[start, end]`` spans, inside ``text``, of code blocks (shown as code, lines as written).
    """

    text: str
    source: str
    title: str
    paragraph: int
    start: int
    end: int
    score: float
    highlight: Span
    near_miss: bool = False
    also: tuple[Citation, ...] = ()
    section: str = ""
    note: str = ""
    missing: tuple[str, ...] = ()
    code: tuple[Span, ...] = ()

    def to_dict(self) -> dict:
        data = asdict(self)
        data["missing"] = list(self.missing)
        data["highlight"] = list(self.highlight)
        data["code"] = [list(span) for span in self.code]
        data["also"] = [asdict(c) for c in self.also]
        return data


@dataclass(frozen=True)
class Answer:
    """What ``Engine.ask`` returns: excerpts, or near-misses when nothing answers."""

    question: str
    answered: bool
    excerpts: tuple[Excerpt, ...] = ()
    #: What was searched: the question itself, or a follow-up joined with the previous question.
    searched_as: str = ""
    #: The searched words that no document writes ("nginx" of Debian's manuals), as written.
    unwritten: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answered": self.answered,
            "searched_as": self.searched_as or self.question,
            "unwritten": list(self.unwritten),
            "excerpts": [e.to_dict() for e in self.excerpts],
        }


@dataclass(frozen=True)
class Refusal:
    """A file that was not indexed, and why."""

    path: str
    reason: str


@dataclass
class AddReport:
    """What ``Engine.add`` or ``Engine.refresh`` did, document id by document id."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    #: Documents indexed with a caveat the user should know (same shape as a refusal).
    warnings: list[Refusal] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    @classmethod
    def from_dict(cls, data: dict) -> AddReport:
        return cls(
            added=list(data.get("added", [])),
            updated=list(data.get("updated", [])),
            unchanged=list(data.get("unchanged", [])),
            refused=[Refusal(**r) for r in data.get("refused", [])],
            warnings=[Refusal(**r) for r in data.get("warnings", [])],
        )

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "refused": [asdict(r) for r in self.refused],
            "warnings": [asdict(r) for r in self.warnings],
        }
