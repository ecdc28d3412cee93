"""Hybrid retrieval over one snapshot: dense paragraph and sentence scores fused with BM25."""

from __future__ import annotations

import bisect
import posixpath
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .analysis import PRONOUNS, terms
from .arrays import ranges
from .cleaning import PROMPT, ends_sentence, normalise, page_title, site_names
from .config import Settings
from .errors import UnknownDocument
from .index import Snapshot
from .passages import contexts, section_path, term_line
from .types import Document, Passage, Span

#: A source filter whose passages own at most this many vectors (of one set) has them
#: scored exactly, read from the index (15 MB at 384 dimensions); a wider one searches all.
EXACT_FILTER_ROWS = 10_000
#: Candidates that the ``headings`` and ``sentence_coverage`` signals score: each the best 50 by
#: the signals computed before it (for ``sentence_coverage``, ``headings`` included).
NARROW_ROWS = 50
#: Candidates that the ``tokens`` signal reads again with the model: the best 8 by all the
#: others (on SQuAD's and the real documents' tuning halves, 10 or 20 ranked no better, 5
#: worse; a passage of 200 tokens costs about 15 ms on 2 cores).
TOKEN_ROWS = 8
#: Token vectors of passages read (float16), kept per snapshot up to this many bytes: a
#: question asked again, or one near it, reads none of its passages twice.
TOKEN_CACHE_BYTES = 32 << 20
#: What ``tokens`` counts as neither for nor against a passage: about the match of the top
#: passage of a question on the abstention threshold (SQuAD and the real documents' tuning halves).
TOKEN_MATCH_CENTRE = 0.5


@dataclass(frozen=True)
class Query:
    """A question ready to search: its text, vector and lexical terms."""

    text: str
    vector: np.ndarray
    terms: tuple[str, ...]
    #: The kind of answer asked for (see ``question_type``; "" for none), from the question as
    #: asked: a follow-up searched with the question before it keeps its own ("When was it
    #: founded?" after "What is Liwa al-Quds?"). ``None``: read it from ``text``.
    asks: str | None = None
    #: The embedder's token vectors of texts (``Embedder.encode_tokens``), for the ``tokens``
    #: signal; ``None``: that signal is 0.
    read_tokens: Callable[[Sequence[str]], list[np.ndarray]] | None = None

    @property
    def kind(self) -> str | None:
        return (self.asks if self.asks is not None else question_type(self.text)) or None

    @property
    def wanted(self) -> re.Pattern[str] | None:
        """What the answer must hold (a date, a number, a name, a place), when the question says."""
        return _holds(self.kind)


@dataclass(frozen=True)
class Hit:
    """A passage and the evidence that it answers: the value of each signal computed (see
    ``SIGNALS``; those weighted 0 are not), and ``score``, their fusion."""

    row: int
    score: float
    evidence: Mapping[str, float] = field(default_factory=dict)


_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONTH_ABBREVIATIONS = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec"
_ANSWER_TYPES = {
    # "When ...", "What year ..." and, of software, "In which version ...": the answer holds a
    # year, a date or a version ("New in version 3.8").
    "when": (
        re.compile(
            r"^\s*(when|since when|in what year|what year|which year|what date|on what date"
            r"|(in|since|from|as of)?\s*(which|what) ([\w.-]+ )?(version|release)"
            r"(\s+(of|did|was|is|does|do|were|are|has|have|had|will|first|introduced|added)\b|\s*\?))",
            re.I,
        ),
        re.compile(
            rf"\b(1\d{{3}}|20\d{{2}}|\d{{1,2}}(st|nd|rd|th)?\s+({_MONTHS})|({_MONTHS}|{_MONTH_ABBREVIATIONS})\.?\s+\d{{1,2}}"
            r"|(?i:version|release|v)\s?\d+(\.\d+)+)\b"
        ),
    ),
    # "How many ...", "How much ...", "What percentage ...": the answer holds a number.
    "how many": (
        re.compile(r"^\s*(how (many|much|long|old|far|large|big)|what (percentage|number|proportion))\b", re.I),
        re.compile(
            r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|dozens?)\b", re.I
        ),
    ),
    # "Who ...": the answer names someone, a name of two capitalised words inside a sentence.
    "who": (
        re.compile(r"^\s*(who|whom|whose|which (person|people|organi[sz]ation|company|group|team|man|woman))\b", re.I),
        re.compile(r"[a-z,;:(]\s+[A-Z][\w'’.-]+(?:\s+(?:al-|el-|de\s|van\s|von\s|bin\s)?[A-Z][\w'’-]+)+"),
    ),
    # "Where ...": the answer names a place after a preposition ("in Aleppo", "at the Louvre").
    "where": (
        re.compile(r"^\s*(where|in which (country|city|town|place|region|state)|in what (country|city|place))\b", re.I),
        re.compile(r"\b(in|at|near|from|to|into|outside|inside)\s+(the\s+)?[A-Z][\w'’-]+"),
    ),
}


#: Answer types whose pattern is specific enough to rank passages and compare sources by:
#: a date or a number. Names and places only guide the highlight.
FACT_TYPES = ("when", "how many")


#: A clause of time or condition before the question proper ("When automating bisection,
#: how does my script tell Git to skip a revision?"): the question asks what follows it. Not
#: a question that opens "When did ...", whose commas may set off a clause of its own.
_LEADING_CLAUSE = re.compile(
    r"^\s*(when|whenever|if|while|once|after|before|unless)\s+(?!(is|are|was|were|do|does|did|can|could|will"
    r"|would|should|shall|has|have|had|may|might|must)\b)[^,?]*,\s*(?=(how|what|which|who|whom|whose"
    r"|where|why|when|is|are|was|were|can|could|do|does|did|should|will|would|may|must|in|since)\b)",
    re.I,
)


def question_type(question: str) -> str | None:
    """The kind of answer the question's wording asks for ("when", "how many", "who", "where")."""
    question = _LEADING_CLAUSE.sub("", question, count=1)
    for name, (asks, _) in _ANSWER_TYPES.items():
        if asks.search(question):
            return name
    return None


def answer_type(question: str) -> re.Pattern[str] | None:
    """What the answer to ``question`` must contain, when its wording says (a year, a number, a name, a place)."""
    return _holds(question_type(question))


def _holds(kind: str | None) -> re.Pattern[str] | None:
    return _ANSWER_TYPES[kind][1] if kind else None


_WORD = re.compile(r"[^\W\d_][\w'’-]*")
#: What may stand between a sentence's end and its first word: quotes, brackets, list marks.
_OPENING_MARKS = " \t\r\n\"'“”‘’([{¿¡*•-–—"
#: The same within a line: what may stand between a word and the text before it.
_INLINE_MARKS = _OPENING_MARKS.replace("\r", "").replace("\n", "")


def _words(question: str) -> list[tuple[str, bool]]:
    """The words of a question, each with whether it opens a sentence."""
    words: list[tuple[str, bool]] = []
    end = 0
    for m in _WORD.finditer(question):
        between = question[end : m.start()].strip(_OPENING_MARKS)
        words.append((m.group(), between[-1:] in (".", "?", "!", ":", ";") if between else end == 0))
        end = m.end()
    return words


def _uniform_case(words: list[tuple[str, bool]]) -> bool:
    """Whether the words are in capitals or in Title Case throughout ("WHEN WAS IT FOUNDED?",
    "When Was The Brigade Founded?"): their case says nothing of what they name."""
    inner = [word for word, opens in words if not opens]
    if inner and not any(ch.islower() for word in inner for ch in word):
        return True  # "WHO DISCOVERED OXYGEN?"
    return len(inner) >= 3 and sum(word[0].isupper() for word in inner) > 0.6 * len(inner)


def case_says_nothing(question: str) -> bool:
    """Whether a question's case tells nothing of its names: it has no capital at all ("how
    do i add versioned docs to a docusaurus site"), or it is in capitals or Title Case."""
    return not any(ch.isupper() for ch in question) or _uniform_case(_words(question))


def question_names(question: str) -> set[str]:
    """The terms of the words a question writes with a capital: the names it asks about
    ("Gradle", "al-Quds", "FIFA"), not a word capitalised only for opening a sentence, nor
    "I'm", nor any word of a question written in capitals or in Title Case throughout."""
    words = _words(question)
    if _uniform_case(words):
        return set()
    names: set[str] = set()
    for word, opens in words:
        if any(ch.isupper() for ch in word[int(opens) :]) and not re.match(r"I['’]", word):
            # Of a compound ("al-Saghir"), the parts written with a capital: "al" names nothing.
            parts = [p for p in re.split(r"[-‐]", word) if p]
            capital = [p for i, p in enumerate(parts) if any(c.isupper() for c in p[int(opens and i == 0) :])]
            names.update(t for p in capital or parts for t in terms(p) if not t.isdigit())
    return names


#: Prepositions that open a question's closing phrase: where or in what it is asked ("… for
#: my GitHub account?", "… in JavaScript?", "… about Israel?"); not inside a compound ("in-place").
_CLOSING_PREPOSITION = re.compile(
    r"(?<![\w-])(?:in|on|with|using|for|from|via|under|inside|within|into|through|by|of|at|about|to|onto"
    r"|during|against|between|after|over|across|without|like)(?![\w-])",
    re.IGNORECASE,
)
_SENTENCE_BREAK = re.compile(r"[.?!;]\s+")


def closing_names(question: str, names: set[str] | None = None) -> list[str]:
    """The words naming things (``question_names``) of a question's closing phrase: after the
    last preposition of its last sentence, past its last comma ("GitHub" of "How do I enable
    two-factor authentication for my GitHub account?"). A leading clause ("In Syria, who
    leads Liwa al-Quds?") or an earlier sentence ("I work at Google. How do I …?") closes
    nothing; a question without a preposition has no closing phrase. ``names``: the
    question's names if known otherwise (``SearchIndex.names``)."""
    last = _SENTENCE_BREAK.split(question.strip().rstrip("?!. "))[-1].rsplit(",", 1)[-1]
    openings = [m.end() for m in _CLOSING_PREPOSITION.finditer(last)]
    if not openings:
        return []
    names = question_names(question) if names is None else names
    return [word for word in _WORD.findall(last[openings[-1] :]) if names.intersection(terms(word))]


def kin_terms(name: str) -> set[str]:
    """The terms of the forms a name takes as an adjective or for its people, which a
    document may write instead of it ("Israeli" for "Israel", "Iranian", "Palestinian",
    "Chinese"): a document that writes only "the Israeli occupation" does speak of Israel."""
    stem = re.sub(r"['’]s$", "", name)
    if len(stem) < 4:
        return set()
    forms = [stem + end for end in ("i", "is", "n", "ns", "an", "ans", "ian", "ians", "ese", "ish")]
    if stem[-1].lower() in "aeiouy":
        forms += [stem[:-1] + end for end in ("ian", "ians", "ese", "ish", "an", "ans")]
    return {t for form in forms for t in terms(form)}


#: Passages read for how the documents write a word (``SearchIndex.names``).
NAME_SAMPLE = 24

#: Openings of an elliptical follow-up ("And his brother?", "What about 2014?").
_ELLIPSIS = re.compile(
    r"^\s*(?:and what about|and how about|what about|how about|and|but|or|also)\b[\s,;:—–-]*", re.IGNORECASE
)


#: "this" or "that" pointing back to what was asked before: "that" after a preposition or a
#: verb ("the long form of that option", "How do I turn that off?"), either before a verb
#: of what it does ("What does this do?", "What does that mean?") or closing the question
#: ("Why is that?"). Not "this" before a noun, which points at the documents ("What
#: changed in this release?"), nor a relative "that" ("the files that changed").
_DEMONSTRATIVE = re.compile(
    r"\b(?:of|about|for|with|on|in|to|from|by|use|set|turn|change|disable|enable)\s+that\b"
    r"|\b(?:does|do|did|is|was|are|were|can|could|will|would|should)\s+(?:this|that)\s+"
    r"(?:do|does|mean|work|return|show|print|say|need|require|take|cost|happen|change|affect)\b"
    r"|\b(?:this|that)\s*[?.!]*\s*$"
    r"|\b(?:combine|use|compare|mix|pair|replace)\s+(?:this|that)\s+(?:with|to|into|for|by)\b",
    re.IGNORECASE,
)


def refers_back(question: str) -> bool:
    """Whether a question only makes sense after the previous one: it refers back with
    a pronoun ("When was it formed?") or a demonstrative ("What is the long form of that
    option?"), opens as an ellipsis ("And in 2014?"), or has at most one content word of
    its own ("When?", "Why not?").

    A question that names something of its own ("When did Bashar al-Assad succeed his
    father?", "What is GDP?") does not refer back unless it opens as an ellipsis ("And
    Hamas?"), with its pronoun ("What did he say about Syria?": ``points_back_first``), has
    a demonstrative ("How do I add SSL to that?") or a pronoun with nothing of the
    question's own to stand for ("How do I move it to the GPU?": ``has_own_subject``).
    "What is the capital of Australia?" does none of these: it is searched on its own.
    """
    if not re.search(r"[^\W_]", question):
        return False  # "?": nothing to read, with the question before or without
    if _ELLIPSIS.match(question) or points_back_first(question) or _DEMONSTRATIVE.search(question):
        return True
    pronoun = not PRONOUNS.isdisjoint(_lower_words(question))
    if question_names(question):  # a name of its own: refers back only by a pronoun it cannot mean
        return pronoun and not has_own_subject(question)
    return pronoun or len(terms(question)) <= 1


#: "it" standing for what follows, not for anything before: "Is it possible to …", "Is it
#: safe that …", "Does it matter whether …".
_DUMMY_IT = re.compile(
    r"^\s*(?:is|was|would|will|could|can|does|did|do)\s+it\s+(?:\w+\s+){0,2}(?:to|that|whether|if)\b"
    r"|\bit\s+(?:matters?|depends)\b",
    re.IGNORECASE,
)


def points_back_first(question: str) -> bool:
    """Whether the question's pronoun comes before any word of its own could be what it
    stands for ("What is its default value?", "Who is its leader?"): then it can only
    mean what was asked before, and the question alone matches nothing in particular. In
    "How does a plugin register its hooks?" "its" may be the plugin's."""
    if _DUMMY_IT.search(question):
        return False  # "Is it safe to delete the cache?": "it" stands for what follows
    for word in _lower_words(question):
        if word in PRONOUNS:
            return True
        if terms(word):
            return False
    return False


_AUXILIARIES = frozenset(
    "is are was were do does did can could will would should shall may might must has have had".split()
)
#: Who asks: the subject of "How do I …?", never what a pronoun stands for.
_ASKERS = frozenset("i you we one".split())
_DETERMINERS = frozenset("a an the this that these those each every any some my your our".split())
_OPENERS = frozenset("how what when where why which who whom whose".split()) | _AUXILIARIES | _ASKERS | _DETERMINERS
#: Possessives, which often stand for a word of the same clause ("make git ignore its files").
_POSSESSIVES = frozenset("its their theirs his hers".split())
#: Words that open a clause of its own ("… a file without deleting it", "… and who leads it").
_CLAUSE_BREAKS = frozenset(
    "and or but without after before when while once until unless because if since so then".split()
)


#: "What's", "it’s": the "is" they stand for.
_CLITIC_IS = re.compile(r"\b(what|who|where|when|how|why|it|he|she|that|there)['’]s\b")
#: What is left of other contractions ("don't", "we'll", "they're"): no word.
_CLITICS = frozenset("s t re ll ve d m".split())


def _lower_words(question: str) -> list[str]:
    """The question's words in lower case, a contraction read as the words it stands for
    ("What's its role?": "what is its role"; "it’s" as "it's"); what is left of other
    contractions ("don't") is no word."""
    text = _CLITIC_IS.sub(r"\1 is", question.lower())
    return [word for word in re.findall(r"[^\W_]+", text) if word not in _CLITICS]


def has_own_subject(question: str) -> bool:
    """Whether what the question's first pronoun stands for may be in the question itself.

    - A clause of its own before it, after a word of the question's ("How do I make git
      forget a file without deleting it?", "When was the brigade formed and who leads it?").
    - For a possessive ("its", "their", "her" before a word), or a subject pronoun of a clause
      inside the question ("How does bash know it's running?"): the subject after the
      question's auxiliary ("How does bash save its history?", "Where does a plugin keep its
      hooks?"), the noun after "which", "what" or "how many" ("Which solver runs its
      models?"), or a word after the asker's verb ("How do I make git ignore its own
      files?"); not a noun of the phrase the possessive is in ("What is the default port of
      its server?").

    An object pronoun never stands for its own clause's subject ("How can a user configure
    it?", "Which countries belong to it?"), nor does the subject right after the auxiliary
    ("When was it formed?"). "How do I install it?", "Who commands it?" and "How do I limit
    its memory?" have nothing it could stand for. "Is it possible to …" has no pronoun
    that points anywhere: its "it" stands for what follows, and the question is its own."""
    words = _lower_words(question)
    dummy = _DUMMY_IT.search(question) is not None
    pronouns = [i for i, word in enumerate(words) if word in PRONOUNS]
    if dummy and pronouns and words[pronouns[0]] == "it":
        pronouns = pronouns[1:]
    if not pronouns:
        return dummy
    at = pronouns[0]
    before, after = words[:at], words[at + 1 : at + 2]
    seen = False
    for word in before:
        if word in _CLAUSE_BREAKS and seen:
            return True
        seen = seen or (word not in _OPENERS and word not in _CLAUSE_BREAKS and bool(terms(word)))
    aux = next((i for i, word in enumerate(before[:3]) if word in _AUXILIARIES), None)
    pronoun = words[at]
    possessive = pronoun in _POSSESSIVES or (pronoun == "her" and bool(after) and bool(terms(after[0])))
    subject = pronoun in ("it", "he", "she", "they") and bool(after) and after[0] in _AUXILIARIES
    if not possessive and not (subject and aux is not None and at > aux + 1):
        return False  # an object pronoun, or the question's own subject
    if aux is not None and not (before[aux] in ("is", "are", "was", "were") and before[-1:] == ["of"]):
        j = aux + 1
        while j < at and before[j] in _DETERMINERS:
            j += 1
        if j < at and before[j] not in _ASKERS and terms(before[j]):
            return True
    if not possessive:
        return False
    if before[:1] in (["which"], ["what"]) and len(before) > 1 and before[1] not in _AUXILIARIES and terms(before[1]):
        return True
    if before[:2] in (["how", "many"], ["how", "much"]) and len(before) > 2 and terms(before[2]):
        return True
    # After the asker ("How do I …"), the first word is the verb; any after it may be the owner.
    asker = next((i for i, word in enumerate(before) if word in _ASKERS), None)
    return asker is not None and sum(1 for word in before[asker + 1 :] if word not in _OPENERS and terms(word)) > 1


#: A whole question after an opening "And …" ("and what is git reflog?"), not a fragment ("And in 2014?").
_WHOLE_QUESTION = re.compile(
    r"(?:(?:also|so|then|now)\b[\s,]*)?(?:how|what|when|where|why|which|who|whom|whose|is|are|was|were|do|does|did"
    r"|can|could|should|will|would|has|have|had|may|must|tell|show|explain|list|describe|give)\b",
    re.IGNORECASE,
)


def borrows_subject(question: str, names: set[str] | frozenset[str]) -> bool:
    """Whether a question that refers back (``refers_back``) takes its subject from the one
    before, so that only the two together can be searched: its pronoun comes first ("What
    is its default value?"), it points back by a demonstrative ("How do I add SSL to
    that?"), by a pronoun with nothing of its own to stand for (``has_own_subject``: "How do
    I install it?", "How do I move it to the GPU?"), or, naming nothing (``names``: the
    names ``SearchIndex.names`` reads in it), by an opening "And …" or "How about …" before
    a fragment ("And in 2014?"), by no word of its own ("When?"), or by one beside "this"
    or "that" ("What is that based on?"). A whole question after such an opening ("And,
    what is git reflog?", "Also, how do I revert a commit?") is judged as that question,
    but for one whose only word of its own is the asker's verb ("And how do I commit?").
    "What is aptitude?" (one word of its own) does not borrow, nor does a fragment that
    names something (``named_fragment``)."""
    if points_back_first(question) or _DEMONSTRATIVE.search(question):
        return True
    if not PRONOUNS.isdisjoint(_lower_words(question)):
        return not has_own_subject(question)
    opening = _ELLIPSIS.match(question)
    if opening and not _is_fragment(question):
        # A whole question ("And, what is git reflog?") is judged as itself, but for a verb
        # the asker does to nothing named: "And how do I commit?".
        rest = question[opening.end() :]
        words = _lower_words(rest)
        verb_alone = (
            not names
            and len(terms(rest)) == 1
            and any(a in _ASKERS and terms(b) for a, b in zip(words, words[1:], strict=False))
        )
        return verb_alone or borrows_subject(rest, names)
    if names:
        return False
    own = terms(question)
    if opening:
        return True  # a fragment naming nothing: "And in 2014?"
    # "What is that based on?": one word of its own beside a "this" or "that" standing alone.
    return not own or (len(own) == 1 and not {"this", "that"}.isdisjoint(_lower_words(question)))


def _is_fragment(question: str) -> bool:
    """Whether the question is an opening "And …" or "How about …" before a fragment ("And
    in 2014?", "How about in Rust?"), not before a whole question ("And how do I commit?")."""
    opening = _ELLIPSIS.match(question)
    return opening is not None and not _WHOLE_QUESTION.match(question, opening.end())


def named_fragment(question: str, names: set[str] | frozenset[str]) -> bool:
    """Whether the question is a fragment after an opening "And …" that names something of
    its own ("And Hamas?", "how about in Rust?"): it asks the question before of what it
    names, so that both the two together and the fragment alone may be what answers."""
    return bool(names) and _is_fragment(question)


def follow_up_text(question: str, history: list[str] | None) -> str | None:
    """The question joined with the previous one, when it refers back to it; else None."""
    before = next((h.strip() for h in reversed(history or []) if h.strip()), "")
    if not before or not refers_back(question):
        return None
    ends = before[-1:] in (".", "?", "!")  # so that the question's first word still opens a sentence
    return f"{before}{'' if ends else '.'} {question}"


class SearchIndex:
    """A snapshot plus what searching it needs (row bounds, caches), made once per snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.lexical = snapshot.lexical
        self.rows_by_doc = snapshot.passages.rows_by_document()
        n = np.arange(len(snapshot.passages) + 1)
        self.window_bounds = np.searchsorted(snapshot.windows.owner, n)
        self.sentence_bounds = np.searchsorted(snapshot.sentences.owner, n)
        # Filled on demand: term sets of a passage's sentences (for highlights), and
        # the expansion of recent queries (a query is highlighted k times).
        self._sentence_terms: dict[int, list[set[str]]] = {}
        self._path_terms: dict[tuple[int, int], set[str]] = {}
        self._inferred_names: dict[str, frozenset[str]] = {}  # see ``names``
        #: Parts of titles that name the site rather than the page ("Python 3.11.2 documentation").
        self.site_names = site_names(
            (d.title for d in snapshot.documents.values()), (posixpath.dirname(i) for i in snapshot.documents)
        )
        self._weights: dict[tuple[str, ...], list[tuple[set[str], float]]] = {}
        self._code_words: frozenset[str] | None = None  # see ``writes``
        # Token vectors read for the ``tokens`` signal (see ``token_vectors``).
        self._token_lock = threading.Lock()
        self._token_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._token_reading: dict[int, threading.Event] = {}  # rows a thread is reading now
        self._token_bytes = 0
        self._question_tokens: dict[str, np.ndarray] = {}

    def unknown_share(self, query: Query) -> float:
        """The query's IDF share that is names no document contains (the ``unknown_names``
        signal): 1 for a name written as code that no document writes ("What does
        std::fs::read_to_vec return?"), what the question is about though each of its
        words is known."""
        names = question_names(query.text)  # those ``names`` adds are written: none here
        share = sum(w for t, (variants, w) in self.term_weights(query).items() if t in names and not variants)
        if any(not self.writes(name) for name in code_names(query.text)[:_CODE_NAMES]):
            share = 1.0
        return share

    def weights(self, query: Query) -> list[tuple[set[str], float]]:
        """The query's terms, their spelling variants and IDF shares (cached per query)."""
        cached = self._weights.get(query.terms)
        if cached is None:
            if len(self._weights) > 256:
                self._weights.clear()
            cached = self._weights[query.terms] = self.lexical.weights(self.lexical.expand(query.terms))
        return cached

    def sentence_terms(self, row: int) -> list[set[str]]:
        """The term set of each sentence of passage ``row`` (cached)."""
        cached = self._sentence_terms.get(row)
        if cached is None:
            if len(self._sentence_terms) > 4096:  # bounded: a large corpus is never cached whole
                self._sentence_terms.clear()
            p = self.snapshot.passages[row]
            cached = [set(terms(p.text[s - p.start : e - p.start])) for s, e in p.sentences]
            self._sentence_terms[row] = cached
        return cached

    def section(self, title: str, heading: str) -> str:
        """Where a passage sits, as a reader names it: "Page title › Section › Subsection",
        without the site's name that every page's title repeats."""
        return section_path(page_title(title, self.site_names), heading)

    def path_terms(self, row: int) -> set[str]:
        """The terms of passage ``row``'s document title and section path (cached per section)."""
        table = self.snapshot.passages
        key = (int(table.doc[row]), int(table.heading[row]))
        cached = self._path_terms.get(key)
        if cached is None:
            if len(self._path_terms) > 16384:  # bounded, as the sentence terms are
                self._path_terms.clear()
            title = self.snapshot.documents[table.doc_ids[key[0]]].title
            cached = self._path_terms[key] = set(terms(self.section(title, table.headings[key[1]])))
        return cached

    def unwritten(self, query: Query) -> tuple[str, ...]:
        """The words of the question that no document writes, in any spelling the index joins
        ("nginx" of Debian's manuals; "founded" of articles that say "formed"), as the question
        writes them: shown with the answer, what no quote can hold is no quote's fault."""
        weights = self.term_weights(query)
        return _question_words(query.text, lambda t: t in weights and not weights[t][0])

    def missing(self, query: Query, row: int) -> tuple[str, ...]:
        """The names of the question ("GitHub", "PostgreSQL": words it writes with a capital)
        that some document writes but passage ``row``, its document title and section path do
        not, as the question writes them (a search engine's "Missing:"; a spelling variant the
        index joins, "al-Sa'eed" for "al-Saeed", counts as written). A quote that lacks what
        the question names may not answer it: no threshold tells a passage about SMTP ports
        from one about PostgreSQL's port, so the reader is shown the gap."""
        lacking = self._missing_terms(query, row, self.names(query.text))
        return _question_words(query.text, lacking.__contains__) if lacking else ()

    def names_none(self, query: Query, row: int, asked: str | None = None) -> float:
        """When passage ``row``, its title and section path hold none of the question's names
        that some document writes, those names' share of the question's weight (IDF); else 0.
        "Mercurial" of "How do I rebase my changes onto upstream in Mercurial?" under a
        passage of Git's manual on rebasing, which never says what it is not about. The names
        are those of the question as ``asked`` (default: the query's text): a follow-up
        searched with the question before it ("What did it add?") is answered by a passage
        that says "It added …", not by one that repeats the earlier question's names."""
        names = self.names(query.text if asked is None else asked)
        lacking = self._missing_terms(query, row, names)
        written = sum(1 for t, (variants, _) in self.term_weights(query).items() if t in names and variants)
        return sum(lacking.values()) if written and len(lacking) == written else 0.0

    def _missing_terms(self, query: Query, row: int, names: set[str]) -> dict[str, float]:
        """The terms of ``names`` that some document writes but passage ``row``, its title and
        section path do not, with their IDF shares in ``query``."""
        if not names:
            return {}
        weights = self.term_weights(query)
        passage = self.snapshot.passages[row]
        title = self.snapshot.documents[passage.doc_id].title  # whole: "Sphinx" of "… — Sphinx documentation"
        present = set(terms(passage.text)) | set(terms(title)) | self.path_terms(row)
        return {
            t: w for t, (variants, w) in weights.items() if t in names and variants and variants.isdisjoint(present)
        }

    def absent_names(self, query: Query, row: int) -> float:
        """The share of the question's weight (IDF) in names it writes ("PostgreSQL", "Jenkins")
        that passage ``row``'s whole document never writes, in any spelling the index joins:
        an answer from a document that never names what is asked about is likely about
        something else ("What port does PostgreSQL listen on?" answered by git send-email's
        SMTP port). A document's own page covers its names (SQuAD's article on the Super Bowl
        writes "Denver" where its paragraph on the divisional round says "The Broncos")."""
        names = self.names(query.text)
        weights = self.term_weights(query).items()
        return sum(w for t, (variants, w) in weights if t in names and not self.document_writes(row, variants))

    def closing_absent(self, query: Query, row: int, asked: str | None = None) -> float:
        """The share of the question's weight (IDF) in the names of its closing phrase
        (``closing_names`` of the question as ``asked``, default the query's text) that some
        document writes but passage ``row``'s document never does, in any spelling the index
        joins nor as an adjective (``kin_terms``): "GitHub" of "How do I enable two-factor
        authentication for my GitHub account?" under git send-email's page on GMail's
        multi-factor login. The closing phrase says where or in what the question is asked;
        a document that never names it answers about something else. Names no document
        writes are left to ``unknown_names``."""
        weights = self.term_weights(query)
        lacking: dict[str, float] = {}
        question = query.text if asked is None else asked
        for name in closing_names(question, self.names(question)):
            for t in terms(name):
                variants, w = weights.get(t, (set(), 0.0))
                if not variants or t in lacking or self.document_writes(row, variants):
                    continue
                kin = {v for found in self.lexical.expand(sorted(kin_terms(name))).values() for v in found}
                if not self.document_writes(row, kin):
                    lacking[t] = w
        return sum(lacking.values())

    def document_writes(self, row: int, variants: set[str]) -> bool:
        """Whether passage ``row``'s document writes any of ``variants`` (its rows hold its
        title and section paths too, see ``lexical_texts``), by the rows that hold each: no
        per-document cache."""
        docs, document = self.snapshot.passages.doc, self.snapshot.passages.doc[row]
        return any(bool(np.any(docs[self.lexical.rows_with(v)] == document)) for v in variants)

    def names(self, question: str) -> set[str]:
        """The names of ``question`` (``question_names``: the words it writes with a capital);
        for a question whose case says nothing (``case_says_nothing``: "how do i enable 2fa
        for my github account?", or one in Title Case or capitals), the terms of its words,
        but the first, that the documents write as names: with a capital inside a sentence
        ("GitHub"), at least twice and twice as often as without. A word no document writes
        is not guessed at: "docusaurus" may be a name, "colour" is not."""
        found = question_names(question)
        if found or not case_says_nothing(question):
            return found
        cached = self._inferred_names.get(question)
        if cached is None:
            if len(self._inferred_names) > 4096:  # bounded, as the other caches are
                self._inferred_names.clear()
            # Not a sentence's first word: "what's" or "how", whatever the documents write.
            words = dict.fromkeys(w.lower() for w, opens in _words(question) if not opens)
            cached = self._inferred_names[question] = frozenset(t for w in words for t in self._written_as_name(w))
        return set(cached)

    def _written_as_name(self, word: str) -> list[str]:
        """The terms of ``word`` when the documents write it as a name (see ``names``), read
        from up to ``NAME_SAMPLE`` passages that hold it, spread over the index; of a
        compound ("al-quds"), the terms of the parts they write with a capital. None for a
        word of two letters or fewer ("us" is no "US" here), nor for a number."""
        word = re.sub(r"['’]s$", "", word)
        found = [t for t in terms(word) if not t.isdigit()]
        if len(word) <= 2 or not found:
            return []
        rarest = min(found, key=lambda t: len(self.lexical.rows_with(t)))
        rows = self.lexical.rows_with(rarest)
        if len(rows) > NAME_SAMPLE:
            rows = rows[np.linspace(0, len(rows) - 1, NAME_SAMPLE).astype(int)]
        # As a word of prose: after a space, quote or bracket, not part of a path, address or
        # dotted name ("github.com/…", "sphinx.ext"); its plural or possessive counts.
        pattern = re.compile(
            rf"(?:^|(?<=[\s\"'“‘(\[])){re.escape(word)}(?:['’]?s)?(?![\w/@-]|\.\w)", re.IGNORECASE | re.MULTILINE
        )
        written: list[str] = []
        lower = 0
        for row in rows.tolist():
            text = self.snapshot.passages[row].text
            for m in pattern.finditer(text):
                before = text[max(0, m.start() - 40) : m.start()].rstrip(_INLINE_MARKS)
                if not before or before[-1] in ".?!:;\n\r":
                    continue  # opening a sentence or a line: its case says nothing
                if any(ch.isupper() for ch in m.group()):
                    written.append(m.group())
                else:
                    lower += 1
        if len(written) < 2 or len(written) < 2 * lower:
            return []
        # Of a compound, the parts written with a capital, read as inside a sentence ("al-Quds").
        return sorted(question_names(f"the {written[0]}") & set(found)) or found

    def term_weights(self, query: Query) -> dict[str, tuple[set[str], float]]:
        """Each distinct term of the query: the index terms that count as it (none: no document
        writes it) and its IDF share (``weights``, by term)."""
        return dict(zip(dict.fromkeys(query.terms), self.weights(query), strict=False))

    def token_vectors(self, rows: list[int], read: Callable[[Sequence[str]], list[np.ndarray]]) -> list[np.ndarray]:
        """The token vectors of passages ``rows`` read with their context (``read_text``) by
        ``read``, from the cache where they were read before (one embedder per index). A
        passage another thread is reading is waited for, not read twice: users asking the
        same question at once (the app's examples) would each run the model on it."""
        found: dict[int, np.ndarray] = {}
        wanted = list(dict.fromkeys(rows))
        while len(found) < len(wanted):
            with self._token_lock:
                for r in wanted:
                    if r not in found and r in self._token_cache:
                        found[r] = self._token_cache[r]
                        self._token_cache.move_to_end(r)
                elsewhere = [self._token_reading[r] for r in wanted if r not in found and r in self._token_reading]
                mine = [r for r in wanted if r not in found and r not in self._token_reading]
                for r in mine:
                    self._token_reading[r] = threading.Event()
            try:
                if mine:
                    for r, vectors in zip(mine, read([self.read_text(r) for r in mine]), strict=True):
                        found[r] = vectors.astype(np.float16)
            finally:
                with self._token_lock:
                    for r in mine:
                        if r in found and r not in self._token_cache:
                            self._token_cache[r] = found[r]
                            self._token_bytes += found[r].nbytes
                        self._token_reading.pop(r).set()
                    while self._token_bytes > TOKEN_CACHE_BYTES and self._token_cache:
                        self._token_bytes -= self._token_cache.popitem(last=False)[1].nbytes
            for event in elsewhere:
                # Then from the cache; read here after all if that read failed or was evicted.
                event.wait()
        return [found[r] for r in rows]

    def token_vectors_of_question(self, text: str, read: Callable[[Sequence[str]], list[np.ndarray]]) -> np.ndarray:
        """The question's token vectors (the last few questions' are kept: a question is
        searched again for its excerpts' corroboration and as a follow-up)."""
        with self._token_lock:
            cached = self._question_tokens.get(text)
        if cached is None:
            cached = read([text])[0]
            with self._token_lock:
                if len(self._question_tokens) >= 16:
                    self._question_tokens.pop(next(iter(self._question_tokens)))
                self._question_tokens[text] = cached
        return cached

    def terms_at(self, row: int) -> tuple[str, ...]:
        """Each definition term passage ``row`` opens with, by its document's layout, as a
        section path names it (``term_line``: "subprocess.run(…)"): one definition may have
        several ("-n", "--[no-]verify"); none if it opens with anything else."""
        table = self.snapshot.passages  # its columns: no passage is built
        document = self.snapshot.documents[table.doc_ids[int(table.doc[row])]]
        layout, start, end = document.layout, int(table.start[row]), int(table.end[row])
        at = bisect.bisect_left(layout, (start,))
        while at < len(layout) and layout[at][0] == start and layout[at][2] != "term":
            at += 1  # another block opening where the term does
        if at == len(layout) or layout[at][0] != start:
            return ()
        found: list[str] = []
        while at < len(layout) and layout[at][2] == "term" and layout[at][0] < end:
            found.append(term_line(document.text[layout[at][0] : layout[at][1]]))
            at += 1
        return tuple(found)

    def read_text(self, row: int) -> str:
        """Passage ``row`` as the ``tokens`` signal reads it: with the context it was embedded
        with (its title and section path, and the sentence before one that opens "It ...")."""
        passage = self.snapshot.passages[row]
        before, _ = self.neighbours(passage.doc_id, passage.start)
        titles = {passage.doc_id: self.snapshot.documents[passage.doc_id].title}
        context = contexts([before, passage] if before is not None else [passage], titles)[-1]
        return f"{context}\n{passage.text}" if context else passage.text

    def writes(self, name: str) -> bool:
        """Whether any document writes ``name``, in any case: a name with an underscore by the
        documents' own such names (gathered once per snapshot, on the first question that
        needs them), any other word by the index's terms."""
        if "_" not in name:
            return all(term in self.lexical.ids for term in terms(name))
        if self._code_words is None:
            found: set[str] = set()
            for document in self.snapshot.documents.values():
                found.update(word.casefold() for word in _UNDERSCORED.findall(document.text))
            self._code_words = frozenset(found)
        return name.casefold() in self._code_words

    def document(self, doc_id: str) -> Document:
        """One document, with its full text.

        Raises:
            UnknownDocument: no such id.
        """
        if doc_id not in self.snapshot.documents:
            raise UnknownDocument(f"no document {doc_id!r} in the index")
        return self.snapshot.documents[doc_id]

    def passages_of(self, doc_id: str) -> list[Passage]:
        """The passages of one document, in reading order (``UnknownDocument``: no such id)."""
        self.document(doc_id)
        return [self.snapshot.passages[int(row)] for row in self.rows_by_doc.get(doc_id, ())]

    def neighbours(self, doc_id: str, start: int) -> tuple[Passage | None, Passage | None]:
        """The passages just before and after the one starting at ``start`` in ``doc_id`` (only
        those two are made, whatever the document's length)."""
        self.document(doc_id)
        rows = self.rows_by_doc.get(doc_id, np.zeros(0, dtype=np.int64))
        at = np.flatnonzero(self.snapshot.passages.start[rows] == start)
        if not len(at):
            return None, None
        i = int(at[0])
        before = self.snapshot.passages[int(rows[i - 1])] if i > 0 else None
        after = self.snapshot.passages[int(rows[i + 1])] if i + 1 < len(rows) else None
        return before, after

    def rank(self, query: Query, settings: Settings, sources: set[str] | None = None, limit: int = 50) -> list[Hit]:
        """Passages ordered by fused relevance, best first.

        Candidates are the union of the top passages by paragraph vector, sentence
        vector and BM25; each candidate then gets all its scores exactly.

        Args:
            query: the question.
            settings: fusion weights.
            sources: if given, only passages of these document ids.
            limit: how many hits to return.
        """
        snap = self.snapshot
        if not snap.passages:
            return []
        depth = max(limit, settings.candidates)
        weights = self.weights(query)
        bm25 = self.lexical.bm25(weights)
        allowed = None
        if sources is not None:
            allowed = np.zeros(len(snap.passages), dtype=bool)
            for doc_id in sources:
                allowed[self.rows_by_doc.get(doc_id, [])] = True
            bm25 = np.where(allowed, bm25, 0.0)
        rows = self._candidates(query.vector, bm25, depth, allowed)
        if len(rows) == 0:
            return []
        used = {name: signal for name, signal in SIGNALS.items() if weight(settings, name)}
        candidates = Candidates(self, query, rows, bm25, weights)
        evidence = {name: s.values(candidates) for name, s in used.items() if not s.narrow}
        score = fuse(evidence, settings, len(rows))
        for name, signal in sorted(((n, s) for n, s in used.items() if s.narrow), key=lambda ns: -ns[1].narrow):
            # A signal that costs per candidate scores only the best by the signals before it;
            # a passage it does not read is taken to be no better than the worst it read.
            best = np.lexsort((rows, -score))[: signal.narrow]
            values = signal.values(Candidates(self, query, rows[best], bm25, weights))
            evidence[name] = np.full(len(rows), values.min() if len(values) else 0.0, dtype=np.float32)
            evidence[name][best] = values
            score = fuse(evidence, settings, len(rows))
        order = np.lexsort((rows, -score))[:limit]
        return [
            Hit(int(rows[i]), float(score[i]), {name: float(values[i]) for name, values in evidence.items()})
            for i in order
        ]

    def highlight(self, row: int, query: Query, settings: Settings) -> Span:
        """The ``(start, end)`` span, relative to the passage text, of its best-answering sentence.

        Sentences are scored by cosine plus term coverage; the next sentence joins the
        highlight when it scores nearly as well (an answer that spans two sentences).
        """
        passage = self.snapshot.passages[row]
        vectors = self.sentence_vectors(row)
        if len(vectors) == 0:
            return 0, len(passage.text)
        dense = vectors @ query.vector
        weights = self.weights(query)
        lexical = np.array([self.lexical.coverage(weights, present) for present in self.sentence_terms(row)])
        scores = dense + settings.highlight_lexical_weight * lexical
        texts = [passage.text[s - passage.start : e - passage.start].strip() for s, e in passage.sentences]
        wanted = query.wanted
        if wanted is not None:  # "When ...?" is answered by the sentence that holds a date
            scores = scores + settings.highlight_type_weight * np.array([bool(wanted.search(t)) for t in texts])
        asking = np.array([t.endswith("?") for t in texts])
        if asking.any() and not asking.all():
            # A sentence that asks ("How do I generate PDF documents?") restates the question; the answer is elsewhere.
            scores = np.where(asking, -np.inf, scores)
        best = int(np.argmax(scores))
        first, last = best, best
        if _header_row(texts, best, passage.heading):
            # A table's header row names its columns ("City | Per diem | Hotel cap"); what the
            # question asks for is in one of the rows under it ("Paris | 72 | 180").
            cells, end = len(_cells(texts[best])), best + 1
            while end < len(texts) and len(_cells(texts[end])) == cells:
                end += 1
            best = best + 1 + int(np.argmax(scores[best + 1 : end]))
            return passage.sentences[best][0] - passage.start, passage.sentences[best][1] - passage.start
        if best + 1 < len(texts) and _leads_on(texts[best]):
            # A term, a label or a lead-in ("-W", "You can change it as follows:") says
            # nothing alone: it is highlighted with what it introduces.
            last = best + 1
        elif best + 1 < len(texts) and _completes(query, texts[best], texts[best + 1]):
            # The sentence that matches the question best often only restates it ("Ubuntu's
            # development depends on the release cycle."); the next one answers ("We release
            # a new version every six months").
            last = best + 1
            if last + 1 < len(texts) and _lead_in(texts[last]):
                last += 1
        else:
            for neighbour in (best - 1, best + 1):
                if 0 <= neighbour < len(scores) and scores[neighbour] >= settings.highlight_join * scores[best]:
                    first, last = min(first, neighbour), max(last, neighbour)
                    break
        return passage.sentences[first][0] - passage.start, passage.sentences[last][1] - passage.start

    def sentence_vectors(self, row: int) -> np.ndarray:
        """The vectors of passage ``row``'s sentences, in order."""
        lo, hi = int(self.sentence_bounds[row]), int(self.sentence_bounds[row + 1])
        return self.snapshot.sentences.vectors(np.arange(lo, hi))

    def similarity(self, row: int, span: Span, others: list[int]) -> np.ndarray:
        """For each passage in ``others``, the best cosine between any of its sentences
        and the sentences of passage ``row`` inside ``span`` (relative offsets)."""
        passage = self.snapshot.passages[row]
        inside = [
            i
            for i, (s, e) in enumerate(passage.sentences)
            if s - passage.start >= span[0] and e - passage.start <= span[1]
        ]
        anchor = self.sentence_vectors(row)[inside or [0]]
        return np.array([float((self.sentence_vectors(o) @ anchor.T).max(initial=-1.0)) for o in others])

    def _candidates(self, vector: np.ndarray, bm25: np.ndarray, depth: int, allowed: np.ndarray | None) -> np.ndarray:
        snap = self.snapshot
        found: set[int] = set()
        kept = np.flatnonzero(allowed) if allowed is not None else None
        # A passage has about one window and several sentences: search deeper among sentences.
        sets = ((snap.windows, self.window_bounds, 1), (snap.sentences, self.sentence_bounds, 3))
        for vector_set, bounds, fan in sets:
            owned = kept[bounds[kept + 1] > bounds[kept]] if kept is not None else None
            if owned is not None and int((bounds[owned + 1] - bounds[owned]).sum()) <= EXACT_FILTER_ROWS:
                # The filtered passages' own vectors, scored exactly: an approximate index
                # would only reach those in the lists it probes.
                scores = self.best(vector_set, bounds, owned, vector)
                found.update(owned[np.lexsort((owned, -scores))][:depth].tolist())
                continue
            # A wide filter can hide every dense hit: search all so the filtered passages are reached.
            k = len(vector_set) if allowed is not None else depth * fan
            _, hits = vector_set.search(vector[None, :], k)
            owners = vector_set.owner[hits[0][hits[0] >= 0]]
            if allowed is not None:
                owners = owners[allowed[owners]]
            found.update(list(dict.fromkeys(owners.tolist()))[:depth])
        positive = np.flatnonzero(bm25 > 0)
        if len(positive) > depth:
            positive = positive[np.argpartition(-bm25[positive], depth)[:depth]]
        found.update(int(r) for r in positive)
        return np.array(sorted(found), dtype=np.int64)

    @staticmethod
    def best(index, bounds: np.ndarray, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Exact best cosine among each row's vectors (its windows, or its sentences)."""
        starts, ends = bounds[rows], bounds[rows + 1]
        sizes = ends - starts
        best = np.full(len(rows), -1.0, dtype=np.float32)
        has = sizes > 0
        if not has.any():
            return best
        ids = ranges(starts[has], sizes[has])
        scores = index.vectors(ids) @ vector
        best[has] = np.maximum.reduceat(scores, np.concatenate([[0], np.cumsum(sizes[has])[:-1]]))
        return best


#: A term or label line: no sentence punctuation at its end, and short.
_LABEL_CHARS = 80


#: A table cell that is a figure: "118", "2.1 kg", "510 MB/s", "-3.5 %".
_FIGURE_CELL = re.compile(r"[-+]?[\d.,]+\s*\S{0,6}")


def _cells(sentence: str) -> list[str]:
    """The cells of a line of a table as the readers join them ("Paris | 72 | 180"; Markdown's
    "| a | b |"); none for anything else (a line of prose with a pipe ends as a sentence)."""
    if "\n" in sentence or " | " not in sentence or ends_sentence(sentence):
        return []
    cells = sentence.strip().strip("|").split(" | ")
    return cells if len(cells) >= 2 else []


def _header_row(texts: list[str], at: int, section: str) -> bool:
    """Whether sentence ``at`` is a table's header row: the first of a run of rows of as many
    cells, no cell a number ("Stockholm | 118 | 218" continuing a table cut in two is a row),
    and not a row read away from its header (whose section path names the header)."""
    header = _cells(texts[at])
    cells = len(header)
    return (
        cells > 0
        and not any(_FIGURE_CELL.fullmatch(cell.strip()) for cell in header)
        and (at == 0 or not _cells(texts[at - 1]))
        and at + 1 < len(texts)
        and len(_cells(texts[at + 1])) == cells
        and normalise(texts[at]) not in normalise(section)
    )


#: A lead-in that ends as a sentence: "You can change it by the following.", "... as shown below."
_LEAD_IN = re.compile(r"\b(?:the following|as follows|(?:shown|given|listed) below)\s*\.$", re.I)


def _lead_in(sentence: str) -> bool:
    """A sentence that introduces what follows ("..., run:", "You can change it by the following.")."""
    return sentence.endswith(":") or bool(_LEAD_IN.search(sentence))


def _leads_on(sentence: str) -> bool:
    """Whether a sentence only introduces what follows it: a lead-in ending with a colon, or
    a term or label line (short, no end punctuation: "-W", "gc.auto", "Undo a commit"), not
    a remark in brackets that closes what came before ("([CVE-2025-15467])") nor a table's row."""
    if _lead_in(sentence):
        return True
    if (sentence[:1] == "(" and sentence.rstrip(".;,")[-1:] == ")") or _cells(sentence):
        return False  # a remark closing what came before, or a table's row: each says what it says
    return "\n" not in sentence and len(sentence) <= _LABEL_CHARS and not ends_sentence(sentence.rstrip(";,"))


#: "How do I ...?", "How can I ...?", "How to ...?", "Which command ...?": the answer is
#: something to do.
_ASKS_HOW = re.compile(
    r"\bhow (?:do|can|could|should|would|may|shall) (?:i|you|we|one)\b|\bhow to\b"
    r"|^\s*(?:which|what)\b[^?]*\bshould (?:i|we)\b"
    r"|^\s*(?:which|what) (?:[\w-]+ )?(?:command|option|setting|flag|switch)s?\b",
    re.I,
)
#: An instruction besides a command line: a root prompt, "To do X, ...", "You can ...", or an
#: imperative opening.
_INSTRUCTS = re.compile(
    r"^(?:# |to \w+\b[^.?!]*,|(?:you|one) (?:can|could|should|must|may|need|have)\b"
    r"|(?:use|run|set|add|turn|type|enter|install|call|pass|create|edit|open|click|select|choose|change"
    r"|specify|put|write|remove|delete|copy|move|replace|include|configure|enable|disable|invoke|execute"
    r"|start|define|mark|prefix|append|give|make|try|press|insert|load|import|apply|upgrade|update)\b"
    r"(?!\s+(?:of|is|are|was|were|has|have)\b))",  # a verb, not a noun opening ("Use of ...", "Make is ...")
    re.I,
)


def _completes(query: Query, sentence: str, following: str) -> bool:
    """Whether ``following`` holds what the question asks and ``sentence``, the best match,
    lacks: the date, number, name or place its wording asks for, or, for "How do I ...?",
    an instruction."""
    wanted = query.wanted
    if wanted is not None:
        return not wanted.search(sentence) and bool(wanted.search(following))
    if _ASKS_HOW.search(query.text):
        return not _instructs(sentence) and _instructs(following)
    return False


def _instructs(sentence: str) -> bool:
    return bool(PROMPT.match(sentence) or _INSTRUCTS.match(sentence))


@dataclass(frozen=True)
class Candidates:
    """What the ranking signals read: the candidate passage rows of one query, and the
    query's BM25 scores and term weights over the whole corpus."""

    index: SearchIndex
    query: Query
    rows: np.ndarray
    bm25: np.ndarray
    weights: list[tuple[set[str], float]]


def _paragraph(c: Candidates) -> np.ndarray:
    """Cosine of the passage's best window."""
    return c.index.best(c.index.snapshot.windows, c.index.window_bounds, c.rows, c.query.vector)


def _sentence(c: Candidates) -> np.ndarray:
    """Cosine of the passage's best sentence."""
    return c.index.best(c.index.snapshot.sentences, c.index.sentence_bounds, c.rows, c.query.vector)


def _bm25(c: Candidates) -> np.ndarray:
    """BM25 relative to the best passage in the corpus."""
    top = float(c.bm25.max())
    return c.bm25[c.rows] / top if top > 0 else np.zeros(len(c.rows), dtype=np.float32)


def _coverage(c: Candidates) -> np.ndarray:
    """IDF-weighted share of the question's terms present in the passage."""
    return c.index.lexical.coverage_of(c.weights, c.rows)


def _headings(c: Candidates) -> np.ndarray:
    """IDF-weighted share of the question's terms in the passage's document title and section
    headings: what the passage is about, by its author's words ("Undoing a commit")."""
    lexical = c.index.lexical
    return np.array([lexical.coverage(c.weights, c.index.path_terms(int(r))) for r in c.rows], dtype=np.float32)


def _sentence_coverage(c: Candidates) -> np.ndarray:
    """IDF-weighted share of the question's terms in the passage's best sentence alone: the
    passage that says what is asked in one sentence ("Peyton Manning became the first
    quarterback ever to lead two different teams to multiple Super Bowls") over one that
    holds the same words scattered across its sentences."""
    coverage, sentences = c.index.lexical.coverage, c.index.sentence_terms
    best = [max((coverage(c.weights, s) for s in sentences(int(r))), default=0.0) for r in c.rows]
    return np.array(best, dtype=np.float32)


def _answer_type(c: Candidates) -> np.ndarray:
    """1 where the passage holds what a "when" or "how many" question asks for: "When was
    it founded?" prefers the passage that holds a date ("formed in 2013")."""
    wanted = c.query.wanted if c.query.kind in FACT_TYPES else None
    if wanted is None:
        return np.zeros(len(c.rows), dtype=np.float32)
    text = c.index.snapshot.passages.text
    return np.array([bool(wanted.search(text(int(r)))) for r in c.rows], dtype=np.float32)


#: A question asking what something is or does ("What does git gc do?", "What's git rerere
#: used for?", "What is the default value of gc.auto?"): what it names is its subject. Not one
#: asking for the option or setting that does a thing ("What is the option to skip hooks?"):
#: that asks how, and its answer is an option the asker cannot name.
_NOT_AN_OPTION_FOR = (
    r"(?!(?:the|an?)\s+(?:[a-z]+\s+)?(?:option|flag|switch|command|setting|variable|parameter|key)s?"
    r"\s+(?:to|for|of|that|which)\b)"
)
_DEFINITION = re.compile(
    rf"^\s*what(?:\s+(?:does|do|did)\s+{_NOT_AN_OPTION_FOR}(?:\S+\s+){{0,5}}?\S+\s+(?:do|mean|stand\s+for)"
    rf"|(?:['’]s\s+|\s+(?:is|are|was|were)\s+){_NOT_AN_OPTION_FOR}(?:\S+\s+){{0,5}}?\S+?(?:\s+(?:used\s+)?for)?)"
    r"\s*[?.!]*\s*$",
    re.I,
)
#: Where a sentence ends: a joined follow-up ("What is git gc? What does it do?") is asked by its last.
_SENTENCE_END = re.compile(r"(?<=[?!.])\s+")


def asks_what_it_is(text: str) -> bool:
    """Whether the last sentence of ``text`` asks what something is or does (``_DEFINITION``)."""
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    return bool(sentences) and bool(_DEFINITION.match(sentences[-1]))


def _defines_other(c: Candidates) -> np.ndarray:
    """-1 where the passage is a definition ("--auto", "gc.auto" and its description) whose
    terms' own words (those its section path does not already say) are none of the question's,
    when the question asks what something is or does (``asks_what_it_is``): "What does git gc
    do?" is answered by the page's description of git gc, not by its ``--auto`` option, which
    names git gc in every sentence. A question that names the term by any of its names ("What
    does git commit --no-verify do?" of "-n, --[no-]verify"), or asks how to do a thing (its
    answer may be an option the asker cannot name), is left as it is; so are documents without
    definitions (plain text), and a question without words of its own ("What does it do?").
    It reorders passages; whether one answers is decided without it (``answer.deciding_score``)."""
    out = np.zeros(len(c.rows), dtype=np.float32)
    asked, index = set(c.query.terms), c.index
    if not asked or not asks_what_it_is(c.query.text):
        return out
    for i, row in enumerate(c.rows.tolist()):
        found = index.terms_at(row)
        if not found:
            continue
        own = {t for term in found for t in terms(term)} - index.path_terms(row)
        if own and own.isdisjoint(asked):
            out[i] = -1.0
    return out


def _unknown_names(c: Candidates) -> np.ndarray:
    """Minus the question's IDF share that is names the documents never contain ("How do I add
    a dependency to a Gradle build file?" of Debian manuals): the same for every candidate, it
    moves no passage but lowers the answer towards abstention."""
    return np.full(len(c.rows), -c.index.unknown_share(c.query), dtype=np.float32)


def _tokens(c: Candidates) -> np.ndarray:
    """Late interaction (ColBERT's MaxSim, Khattab and Zaharia, 2020) with the embedder's own
    token vectors: each of the question's tokens finds its best match among the tokens of the
    passage read with its title and section path, and the mean of those cosines, less
    ``TOKEN_MATCH_CENTRE``, is the signal. Where a passage's one vector blurs what it says,
    its tokens still meet the question's words and phrases in their context ("Which make
    target turns a Sphinx project into a PDF through LaTeX?" / "make latexpdf")."""
    if c.query.read_tokens is None or not len(c.rows):
        return np.zeros(len(c.rows), dtype=np.float32)
    question = c.index.token_vectors_of_question(c.query.text, c.query.read_tokens)
    if not len(question):
        return np.zeros(len(c.rows), dtype=np.float32)
    passages = c.index.token_vectors(c.rows.tolist(), c.query.read_tokens)
    match = [float((question @ p.T).max(axis=1).mean()) if len(p) else 0.0 for p in passages]
    return np.array(match, dtype=np.float32) - TOKEN_MATCH_CENTRE


#: A name written as code: a qualified one (``std::fs::read_to_vec``, ``Vec::shuffle``) or
#: one with an underscore inside (``read_to_vec``). Not camel case: "LaserJet" may be what a
#: manual calls "Laserprinters" (a word the documents never write is an unknown name anyway).
_CODE_NAME = re.compile(r"\b[A-Za-z_]\w*(?:::[A-Za-z_]\w*)+|\b[A-Za-z]\w*_\w*[A-Za-z0-9]\b")
#: A word with an underscore inside, as documents write names of code.
_UNDERSCORED = re.compile(r"\b\w*[^\W_]_\w*[^\W_]\w*\b")


#: At most this many of a question's code names are looked up.
_CODE_NAMES = 8


#: A word of a question as its reader sees it: letters, digits and the marks inside a word
#: ("2FA", "al-Sa'eed", "gc.auto" is two), with a letter somewhere.
_QUESTION_WORD = re.compile(r"[\w'’ʼ`´-]*[^\W\d_][\w'’ʼ`´-]*")
#: A contraction's ending ("What's", "don't", "I'm"): the word is its first part.
_CLITIC = re.compile(r"(?:n['’ʼ`´]t|['’ʼ`´](?:s|m|re|ve|ll|d))$", re.IGNORECASE)


def _question_words(question: str, lacking: Callable[[str], bool]) -> tuple[str, ...]:
    """The words of ``question`` (as first written, once each) with a term, not a number, that
    is ``lacking``; a contraction of a word analysis drops ("What's", "don't") is none."""
    out: dict[str, str] = {}
    for word in (m.group().strip("'’ʼ`´-") for m in _QUESTION_WORD.finditer(question)):
        base = _CLITIC.sub("", word)
        if base != word and (len(base) <= 3 or not terms(base)):  # "what's", "I'm", "can't", "won't"
            continue
        if any(lacking(t) for t in terms(word) if not t.isdigit()):
            out.setdefault(word.casefold(), word)
    return tuple(out.values())


def code_names(question: str) -> list[str]:
    """The names a question writes as code; of a qualified name, its last part (the docs of
    ``std::fs::read_to_string`` may never write the path whole)."""
    return [m.group().rsplit("::", 1)[-1] for m in _CODE_NAME.finditer(question)]


@dataclass(frozen=True)
class Signal:
    """One kind of evidence that a passage answers: its values for the candidates, and the
    weight it is fused with unless ``Settings.weights`` (``RAG_<NAME>_WEIGHT``) says otherwise."""

    values: Callable[[Candidates], np.ndarray]
    weight: float
    #: If not 0, computed only for this many of the best candidates by the signals computed
    #: before it (it costs per candidate, e.g. analysing text, running the model); wider ones first.
    narrow: int = 0


#: The evidence for a passage, fused as a weighted sum (a signal weighted 0 is not computed).
#: A new signal is one function and one entry here; narrow signals of the same width run in
#: this order. The first four weights were tuned on the first 24 SQuAD dev articles
#: (benchmarks/squad.py) and sum to 1; the others are additions to them. ``headings`` was
#: chosen on the tuning half of benchmarks/realdocs.py: with the token match in, .05 to .20
#: took its right file @1 from .778 to .815, SQuAD's tuning articles unchanged.
#: ``sentence_coverage`` was chosen on both tuning halves: .05 took SQuAD's tuning articles
#: from .832 to .839 Hit@1 (every 2nd question) and the real documents' from .556 to .574;
#: .10 and .20 gained more on SQuAD (.845, .852) but took the real documents' right file @1
#: from .815 to .778 and .759. ``tokens`` (its weight and depth chosen on both tuning
#: halves) re-ranks the best few. ``defines_other`` (5 December 2026) moves only definitions of
#: structured pages under a question asking what something is or does: .10, .15 and .25 gave
#: the same real-documents tuning figures (Hit@1 .574 to .593); .15 is the least that puts
#: "What does git gc do?"'s description above its ``--auto`` option.
SIGNALS: dict[str, Signal] = {
    "paragraph": Signal(_paragraph, 0.25),
    "sentence": Signal(_sentence, 0.40),
    "bm25": Signal(_bm25, 0.05),
    "coverage": Signal(_coverage, 0.30),
    "headings": Signal(_headings, 0.20, narrow=NARROW_ROWS),
    "sentence_coverage": Signal(_sentence_coverage, 0.05, narrow=NARROW_ROWS),
    "answer_type": Signal(_answer_type, 0.08),
    "unknown_names": Signal(_unknown_names, 0.10),
    "defines_other": Signal(_defines_other, 0.15),
    "tokens": Signal(_tokens, 1.0, narrow=TOKEN_ROWS),
}


#: Signals that only reorder passages: whether the best one answers is decided without them
#: (``answer.deciding_score``), so that a definition moved down is not for that refused.
ORDER_ONLY = ("defines_other",)


def weight(settings: Settings, name: str) -> float:
    """The fusion weight of the signal ``name`` under ``settings``.

    Raises:
        ValueError: no signal has that name (a misspelt ``RAG_<NAME>_WEIGHT``).
    """
    if name not in SIGNALS:
        raise ValueError(f"no ranking signal is named {name!r}; the signals are {', '.join(SIGNALS)}")
    return settings.weight(name, SIGNALS[name].weight)


def fuse(evidence: Mapping[str, np.ndarray], settings: Settings, size: int) -> np.ndarray:
    """One relevance for each of ``size`` passages: the signals' weighted sum."""
    total = np.zeros(size, dtype=np.float32)
    for name, values in evidence.items():
        total = total + weight(settings, name) * values
    return total
