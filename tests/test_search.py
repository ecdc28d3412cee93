"""Retrieval and answer assembly with the fake embedder: follow-ups, context, answer types, grouping."""

import time
from pathlib import Path

import numpy as np
import pytest

from rag import Engine
from rag.passages import contexts, split_passages
from rag.search import answer_type, follow_up_text, question_type, refers_back
from rag.types import Document


def test_only_a_follow_up_that_refers_back_borrows_the_previous_question():
    assert follow_up_text("When was it formed?", ["Who commands Liwa al-Quds?"]) == (
        "Who commands Liwa al-Quds? When was it formed?"
    )
    assert follow_up_text("And in 2014?", ["Who commanded the brigade in 2013?"]) is not None
    assert follow_up_text("When?", ["Who commanded the brigade?"]) is not None
    assert follow_up_text("Where is the Fourth Division based?", ["Who leads Hamas?"]) is None
    # two content words of its own, no pronoun: searched on its own (it used to borrow)
    assert follow_up_text("What is the capital of Australia?", ["Who is Maher al-Assad?"]) is None
    assert follow_up_text("When was it formed?", None) is None
    # The earlier question is closed, so that the follow-up's first word still opens a sentence.
    assert follow_up_text("When was it formed?", ["Tell me about the brigade"]) == (
        "Tell me about the brigade. When was it formed?"
    )
    assert refers_back("Who is its leader?") and not refers_back("Who wrote Pride and Prejudice?")
    for own in (
        "Is there a curfew in the city?",
        "Which treaty ended the war that began in 1914?",
        "When did Bashar al-Assad succeed his father?",
        "What is GDP?",
        "Who is Maher?",
        # "this" before a noun points at the documents; a relative "that" points nowhere
        "Which command lists the files that changed?",
        "What topics are covered in this manual?",
        "What changed in this release?",
        "What licence is this software released under?",
        "What does this error mean: permission denied?",
    ):
        assert not refers_back(own), own
    assert refers_back("And Hamas?") and refers_back("What about the brigade's founder?")
    # Names are found as the unknown_names signal finds them: Title Case names nothing.
    assert refers_back("When Was It Founded?") and not refers_back("When was Liwa al-Quds founded?")
    # "this" and "that" pointing back.
    for back in ("What is the long form of that option?", "What does this do?", "How do I turn that off?", "Why?"):
        assert refers_back(back), back
    assert refers_back("What does that mean?") and refers_back("Why is that?")
    # A pronoun before any word of the question's own can only mean what was asked before.
    from rag.search import points_back_first

    assert points_back_first("What is its default value?") and points_back_first("When was it formed?")
    assert not points_back_first("How does a plugin register its hooks?") and not points_back_first("And in 2014?")


def test_answer_type_from_the_wording():
    assert answer_type("When was it formed?").search("formed in 2013")
    assert not answer_type("When was it formed?").search("formed long ago")
    assert answer_type("How many helicopters arrived?").search("eight helicopters")
    assert answer_type("Who leads it?").search("the brigade, led by Muhammad al-Saeed")
    assert not answer_type("Who leads it?").search("the brigade is led by its founder")
    assert answer_type("Where is it based?").search("based in Aleppo")
    assert answer_type("Why did it happen?") is None
    assert question_type("In what year was it founded?") == "when"
    # Of software, "when" is often asked as "in which version", and answered by one.
    assert question_type("In which version was math.isqrt added?") == "when"
    assert question_type("Since which Sphinx version is napoleon available?") == "when"
    assert answer_type("In which version was it added?").search("New in version 3.8.")
    assert not answer_type("In which version was it added?").search("an estimate of 0.7651")
    assert question_type("Which version control system does Debian use?") is None
    # A clause of time or condition before the question: the question proper says what it asks.
    assert question_type("When automating bisection, how does my script tell Git to skip a revision?") is None
    assert question_type("If the build fails, when is the log written?") == "when"
    assert question_type("When Liwa al-Quds was formed, who led it?") == "who"
    assert question_type("When was Liwa al-Quds formed, and by whom?") == "when"
    assert question_type("When the brigade was formed in Aleppo") == "when"  # no question after it
    assert question_type("When did Chopin, who was born in Poland, die?") == "when"
    assert question_type("When was Warsaw, which was destroyed in the war, rebuilt?") == "when"


def test_has_own_subject_finds_what_a_pronoun_may_stand_for_in_the_question():
    from rag.search import has_own_subject

    # A clause of its own before the pronoun.
    assert has_own_subject("When was the brigade formed and who leads it?")
    assert has_own_subject("How do I make git forget a file without deleting it?")
    assert has_own_subject("How do I undo a commit after pushing it?")
    # A possessive's owner: the subject after the auxiliary, the noun after "which", a word after the verb.
    assert has_own_subject("How does bash save its history?")
    assert has_own_subject("Where does a plugin keep its hooks?")
    assert has_own_subject("Which solver runs its models?")
    assert has_own_subject("How do I make git ignore its own files?")
    # The subject pronoun of a clause inside the question, curly apostrophe or straight.
    assert has_own_subject("How does bash know it’s running interactively?")
    assert has_own_subject("How does bash know it's running interactively?")
    assert has_own_subject("Is it possible to push to two remotes at once?")  # "it" stands for what follows
    # Nothing: the pronoun stands for what was asked before.
    assert not has_own_subject("How do I install it?")  # the asker is no subject a pronoun stands for
    assert not has_own_subject("How do I create a branch with it?")  # an object pronoun, not a possessive
    assert not has_own_subject("How can a user configure it?")  # an object is not its own clause's subject
    assert not has_own_subject("How many loose objects trigger it?")
    assert not has_own_subject("Which countries belong to it?")
    assert not has_own_subject("How do I limit its memory?")  # before it only the verb
    assert not has_own_subject("What is the default port of its server?")  # the phrase it is in
    assert not has_own_subject("How do I make sure it’s installed?")
    assert not has_own_subject("When was it formed?")
    assert not has_own_subject("Who commands it?")
    assert not has_own_subject("What was her role?")


def test_borrows_subject_only_when_the_question_points_back_by_a_word():
    from rag.search import borrows_subject, refers_back

    for question in ("How do I install it?", "How do I turn that off?", "And how do I commit?", "When?"):
        assert borrows_subject(question, set()), question
    assert borrows_subject("What did he say about Syria?", {"syria"})  # its pronoun first, a name after it
    assert refers_back("What did he say about Syria?")
    # One word of its own, a name of its own, a clause of its own, a longer question after "and".
    assert refers_back("What is aptitude?") and not borrows_subject("What is aptitude?", set())
    assert not borrows_subject("What is Sphinx?", {"sphinx"})
    assert borrows_subject("How do I move it to the GPU?", {"gpu"})  # a name, and a pronoun it cannot mean
    assert borrows_subject("What is that based on?", set())
    assert not borrows_subject("How about in Rust?", {"rust"})  # a fragment naming its own: see named_fragment
    # Found by a blind evaluation: a demonstrative or a pronoun points back whatever else is named.
    assert refers_back("How do I add SSL to that?") and borrows_subject("How do I add SSL to that?", {"ssl"})
    assert borrows_subject("can I also change its primary color?", set())  # "also" is no owner
    assert not borrows_subject("and what is git reflog?", set())  # a whole question after "and"
    assert not borrows_subject("and who won the 2022 world cup?", set())
    assert not borrows_subject("How does bash save its history?", set())
    assert not borrows_subject("and how do i build a pdf with sphinx?", set())


def test_follow_up_reading_after_the_third_review():
    """Contractions, openings with a comma or an imperative, "these" before a noun, a
    demonstrative after "combine", blank history and punctuation: found by a review."""
    from rag.search import _lower_words, borrows_subject, follow_up_text, named_fragment, refers_back

    assert _lower_words("What's its role?") == ["what", "is", "its", "role"]
    assert _lower_words("Don’t they?") == ["don", "they"]
    assert borrows_subject("What's its default value?", set())
    for own in ("and what is reflog?", "And, what is git reflog?", "Also, how do I revert a commit?"):
        assert refers_back(own) and not borrows_subject(own, set()), own
    assert not borrows_subject("and explain how to revert a commit", set())
    assert borrows_subject("And how do I commit?", set())  # its one word is the asker's verb
    assert borrows_subject("What are these used for?", set())
    assert refers_back("how do i get those changes back?")  # "those" before a noun points back too
    assert borrows_subject("How do I combine that with --graph?", set())
    assert named_fragment("And what about Hamas?", {"hama"})
    assert not refers_back("?") and follow_up_text("?", ["What is git stash?"]) is None
    assert follow_up_text("How do I apply it?", [""]) is None
    assert follow_up_text("How do I apply it?", ["What is git stash?", " "]) == "What is git stash? How do I apply it?"


def test_a_fragment_naming_its_own_is_read_both_ways():
    from rag.search import named_fragment

    assert named_fragment("And Hamas?", {"hama"}) and named_fragment("how about in Rust?", {"rust"})
    assert not named_fragment("And in 2014?", set())  # names nothing: it borrows its subject
    assert not named_fragment("And how do I list Docker containers?", {"docker"})  # a whole question


def test_a_follow_up_keeps_its_own_answer_type():
    from rag.search import Query

    joined = Query("What is Liwa al-Quds? When was it founded?", np.zeros(3), (), asks="when")
    assert joined.kind == "when"
    assert Query("When was it? What is it?", np.zeros(3), (), asks="").kind is None


def test_pronoun_paragraph_gets_its_predecessor_as_context():
    text = "Title\n\nThe Quds Force is a militia in Aleppo.\n\nIt belongs to the Popular Front."
    passages = split_passages(Document("d", "Title", "/d", "0", text))
    assert contexts(passages) == ["Title", "Title\nThe Quds Force is a militia in Aleppo."]


def test_near_duplicates_are_merged_and_cited(fake_engine: Engine, tmp_path: Path):
    same = "The council approved the new harbour budget on Monday after a long debate."
    (tmp_path / "a.txt").write_text(f"Council news\n\n{same}\n\nOther business followed.", encoding="utf-8")
    (tmp_path / "b.txt").write_text(f"Harbour report\n\n{same}\n\nWeather was fine.", encoding="utf-8")
    fake_engine.add([tmp_path / "a.txt", tmp_path / "b.txt"])
    answer = fake_engine.ask("harbour budget approved council")
    first = answer.excerpts[0]
    assert first.text == same and len(first.also) == 1
    assert {first.source, first.also[0].source} == {"a.txt", "b.txt"}
    assert all(e.text != same for e in answer.excerpts[1:])
    other = first.also[0]
    assert fake_engine.document(other.source).text[other.start : other.end] == same


def test_passages_worded_alike_with_other_figures_are_not_merged_and_say_how_they_differ(
    fake_engine: Engine, tmp_path: Path
):
    """Two versions of a policy: "0.35 EUR" is never cited as "nearly word for word" the
    "0.30 EUR" of the other; both are quoted, the second saying what differs."""
    rule = "Employees who use their private car are reimbursed at {} EUR per kilometre, against receipts."
    (tmp_path / "policy.txt").write_text(f"Travel policy\n\n{rule.format('0.35')}", encoding="utf-8")
    (tmp_path / "policy (2).txt").write_text(f"Travel policy\n\n{rule.format('0.30')}", encoding="utf-8")
    fake_engine.add([tmp_path / "policy.txt", tmp_path / "policy (2).txt"])
    answer = fake_engine.ask("reimbursed private car kilometre")
    first, second = answer.excerpts[:2]
    assert not first.also and not second.also
    assert {first.text, second.text} == {rule.format("0.35"), rule.format("0.30")}
    mine, theirs = ("0.30", "0.35") if "0.30" in second.text else ("0.35", "0.30")
    assert second.note == f"another source, which differs: {mine} here, {theirs} in [1]"


def test_a_question_about_one_release_finds_that_release_not_its_neighbours(fake_engine: Engine, tmp_path: Path):
    """A changelog's releases share their words and the digits of their numbers (2.10.0,
    2.0.10, 0.10.2): the release the question names is the one quoted first."""
    news = "".join(
        f"man-db {version} ({date})\n{'=' * 30}\n\n * Fixed {what} in the man-db database code.\n\n"
        for version, date, what in (
            ("2.10.0", "4 February 2022", "a hang"),
            ("2.0.10", "17 March 2002", "a leak"),
            ("0.10.2", "1 May 2001", "a race"),
        )
    )
    (tmp_path / "NEWS.md").write_text(news, encoding="utf-8")
    fake_engine.add([tmp_path / "NEWS.md"])
    for version, fixed in (("2.10.0", "a hang"), ("2.0.10", "a leak"), ("0.10.2", "a race")):
        first = fake_engine.ask(f"What was fixed in man-db {version}?").excerpts[0]
        assert fixed in first.text and f"man-db {version} (" in first.section


def test_entries_of_one_page_are_not_merged_for_sharing_its_title(fake_engine: Engine, tmp_path: Path):
    """Two short reference entries under one long title share most of their indexed terms
    (the title's); they are not near-identical: neither is hidden under the other."""
    page = tmp_path / "copy.html"
    page.write_text(
        "<html><head><title>copy - Shallow and deep copy operations of objects in the standard library</title>"
        "</head><body><main><h1>copy - Shallow and deep copy operations of objects in the standard library</h1>"
        "<dl><dt>copy.copy(x)</dt><dd>Return a shallow copy of x.</dd></dl>"
        "<dl><dt>copy.deepcopy(x[, memo])</dt><dd>Return a deep copy of x.</dd></dl></main></body></html>",
        encoding="utf-8",
    )
    fake_engine.add([page])
    answer = fake_engine.ask("What does copy.deepcopy return, a shallow or a deep copy?")
    texts = [e.text for e in answer.excerpts]
    assert any("deepcopy" in t for t in texts) and any("shallow copy of x" in t for t in texts)
    assert all(not e.also for e in answer.excerpts)


def test_a_citation_path_leaves_out_the_site_name_every_title_repeats(fake_engine: Engine, tmp_path: Path):
    for name, text in (("install", "Install the harbour tools"), ("usage", "Use the harbour tools"), ("faq", "Ask")):
        (tmp_path / f"{name}.html").write_text(
            f"<html><head><title>{name.title()} — Harbour 2.1 documentation</title></head><body><main>"
            f"<h1>{name.title()}</h1><h2>First steps</h2><p>{text} with care, every day of the week.</p>"
            "</main></body></html>",
            encoding="utf-8",
        )
    fake_engine.add([tmp_path])
    e = fake_engine.ask("How do I install the harbour tools?").excerpts[0]
    assert e.section == "Install › First steps"
    assert e.title == "Install — Harbour 2.1 documentation"  # the document's own title, as it is


def test_highlight_is_the_matching_sentence(fake_engine: Engine, tmp_path: Path):
    text = "Notes\n\nThe ferry leaves at noon. The museum opens at nine. Tickets cost five euros."
    (tmp_path / "n.txt").write_text(text, encoding="utf-8")
    fake_engine.add([tmp_path / "n.txt"])
    e = fake_engine.ask("When does the museum open?").excerpts[0]
    assert e.text[e.highlight[0] : e.highlight[1]] == "The museum opens at nine."


_MANUAL = """<html><head><title>Router manual</title></head><body><main><h1>Router manual</h1>
<h2>Questions</h2><p>How do I reset the router?</p><p>Hold the small button at the back for ten seconds.</p>
<h2>Options</h2><dl><dt>--force</dt><dd>Overwrite existing files without asking.</dd>
<dt>--quiet</dt><dd>Print nothing.</dd></dl>
<h2>Functions</h2><dl><dt>router.isqrt(n)</dt>
<dd>Return the integer square root of the number. It never fails.</dd></dl>
<h2>Cleaning</h2><p>To remove the build folder of the harbour project, run:</p><pre>$ make clean-harbour</pre>
<h2>Printing</h2><p>Some laser printers cannot print pages set in the lighthouse fonts. To resolve this problem,
turn partial font downloading off.</p>
<h2>Releases</h2><p>The development of the dock depends on the stage of its release cycle. We release a new
version of the dock every six months.</p>
<h2>Editor</h2><p>The pier tool opens the system's default editor. You can change it by the following.</p>
<pre>$ pier-config --editor vim</pre>
<h2>Quay</h2><p>The quay tool keeps the build folder of the quay project between runs.</p><pre>$ make clean-quay</pre>
<p>The quay logo was drawn in 1998 by a local artist and shows a gull.</p>
<h2>Logs</h2><p>Keep the beacon logs for the port authority audit. Use of the beacon logs by others is not allowed.</p>
</main></body></html>"""


@pytest.mark.parametrize(
    ("question", "lit"),
    [
        # A FAQ's own question matches the user's best; the answer is the sentence after it.
        ("How do I reset the router?", "Hold the small button at the back for ten seconds."),
        # A term, or a lead-in, is highlighted with what it introduces.
        ("What does --force do?", "--force\n\nOverwrite existing files without asking."),
        ("What does router.isqrt do?", "router.isqrt(n)\n\nReturn the integer square root of the number."),
        (
            "How do I remove the build folder of the harbour project?",
            "To remove the build folder of the harbour project, run:\n\n$ make clean-harbour",
        ),
        # The sentence that restates the question, with the next one that answers it: the
        # instruction a "How do I" asks for, the number a "How long" asks for, and a lead-in
        # that ends as a sentence with what it introduces.
        (
            "How do I fix printers that cannot print pages set in the lighthouse fonts?",
            "Some laser printers cannot print pages set in the lighthouse fonts. To resolve this problem, "
            "turn partial font downloading off.",
        ),
        (
            "How long is the release cycle of the dock?",
            "The development of the dock depends on the stage of its release cycle. We release a new "
            "version of the dock every six months.",
        ),
        (
            "How can I change the editor that the pier tool opens?",
            "The pier tool opens the system's default editor. You can change it by the following.\n\n"
            "$ pier-config --editor vim",
        ),
        # ... and no further than what answers; a noun opening ("Use of") is no instruction.
        (
            "How do I clean the build folder of the quay project?",
            "The quay tool keeps the build folder of the quay project between runs.\n\n$ make clean-quay",
        ),
        (
            "Why should I keep the beacon logs for the port authority audit?",
            "Keep the beacon logs for the port authority audit.",
        ),
    ],
)
def test_a_highlight_holds_the_answer_not_the_question_or_a_bare_term(
    fake_engine: Engine, tmp_path: Path, question: str, lit: str
):
    (tmp_path / "router.html").write_text(_MANUAL, encoding="utf-8")
    fake_engine.add([tmp_path / "router.html"])
    e = fake_engine.ask(question).excerpts[0]
    assert e.text[e.highlight[0] : e.highlight[1]] == lit


def _rank_page(engine: Engine, tmp_path: Path, page: str, question: str):
    """Index one HTML page with ``engine`` and rank its passages for ``question``: the
    search index and the hits, also by the last part of each passage's section path."""
    from rag.analysis import terms
    from rag.search import Query

    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    engine.add([tmp_path / "page.html"])
    index = engine._current()
    query = Query(question, engine.embedder.encode_queries([question])[0], tuple(terms(question)))
    hits = index.rank(query, engine.settings)
    return index, hits, {index.snapshot.passages[h.row].heading.split(" › ")[-1]: h for h in hits}


def test_a_passage_whose_headings_name_the_question_is_preferred(fake_engine: Engine, tmp_path: Path):
    """The ``headings`` signal: the question's terms in the passage's title and section path."""
    page = """<html><head><title>Git manual</title></head><body><main><h1>Git manual</h1>
    <h2>Pushing</h2><p>Run git reset with the hard option to drop the changes of a commit.</p>
    <h2>Undoing a commit</h2><p>Run git reset with the soft option to keep the changes.</p>
    </main></body></html>"""
    index, hits, by_section = _rank_page(fake_engine, tmp_path, page, "How do I undo a commit?")
    assert by_section["Undoing a commit"].evidence["headings"] == pytest.approx(1.0)
    assert by_section["Pushing"].evidence["headings"] == 0.0
    assert index.snapshot.passages[hits[0].row].heading.endswith("Undoing a commit")


def test_a_passage_that_says_it_in_one_sentence_has_the_higher_sentence_coverage(fake_engine: Engine, tmp_path: Path):
    """The ``sentence_coverage`` signal: the question's terms in the passage's best sentence
    alone, where ``coverage`` counts them anywhere in the passage (with its context)."""
    page = """<html><head><title>Rivers</title></head><body><main><h1>Rivers</h1>
    <h2>North</h2><p>The river Wey bends past the cathedral. Upstream lies the mill town of
    Godalming.</p>
    <h2>South</h2><p>The river Wey runs through the mill town of Godalming. It was dredged in 1890.</p>
    </main></body></html>"""
    question = "Which river runs through the mill town of Godalming?"
    _, _, by_section = _rank_page(fake_engine, tmp_path, page, question)
    north, south = by_section["North"].evidence, by_section["South"].evidence
    assert south["sentence_coverage"] == pytest.approx(1.0)
    assert north["coverage"] > north["sentence_coverage"] > 0.0
    # North's best sentence is its second ("mill town of Godalming"), not its first ("river")
    assert north["sentence_coverage"] > north["coverage"] / 2


def test_a_name_the_documents_never_contain_lowers_the_answer_not_the_order(fake_engine, tmp_path):
    """``unknown_names``: a question about a thing the documents never name ("Gradle") is the
    same search as one without the name, less the name's share of the question."""
    from rag.analysis import terms
    from rag.search import Query, question_names

    assert question_names("How do I add a dependency to a Gradle build file?") == {"gradl"}
    assert question_names("My manual is in Japanese: Which TeX program is used?") == {"japanes", "tex"}
    # Of a compound, the parts written with a capital: the particle "al" names nothing (review:
    # any passage writing another "al-X" held a "name" of the question).
    assert question_names("When was Liwa al-Quds founded?") == {"liwa", "qud"}
    assert question_names("What did Ziad al-Saghir affirm?") == {"ziad", "saghir"}
    assert question_names("Is Wi-Fi on?") == {"wi", "fi"}
    assert question_names("Which LaserJet models? Ask HP about the iPhone.") == {"laserjet", "hp", "iphon"}
    assert question_names('What does "Gradle" do, I\'m asking? - Explain Gradle.') == {"gradl"}
    # Written in capitals or in Title Case throughout, a question's case names nothing.
    assert question_names("WHEN WAS LIWA AL-QUDS FOUNDED?") == question_names("When Was Liwa Al-Quds Founded?") == set()
    (tmp_path / "deps.txt").write_text(
        "Add a dependency to the build file with the requires line.\n\nThe harbour reopened on Tuesday.",
        encoding="utf-8",
    )
    fake_engine.add([tmp_path / "deps.txt"])
    index = fake_engine._current()

    def rank(text: str, lower: str):
        vector = fake_engine.embedder.encode_queries([lower])[0]  # the same vector: the name alone differs
        return index.rank(Query(text, vector, tuple(terms(text))), fake_engine.settings)

    named = rank("How do I add a dependency to a Gradle build file?", "how do i add a dependency to a build file?")
    plain = rank("How do I add a dependency to a gradle build file?", "how do i add a dependency to a build file?")
    assert [h.row for h in named] == [h.row for h in plain]
    share = -named[0].evidence["unknown_names"]
    assert 0.3 < share < 1 and plain[0].evidence["unknown_names"] == 0.0
    assert named[0].score == pytest.approx(plain[0].score - 0.10 * share, abs=1e-6)
    # A name the documents do hold costs nothing.
    assert rank("How do I add a dependency to a Harbour build file?", "x")[0].evidence["unknown_names"] == 0.0


def test_signals_weighted_zero_are_not_computed_and_all_zero_still_ranks(fake_engine, tmp_path):
    from rag.search import SIGNALS, Query

    (tmp_path / "a.txt").write_text("The harbour reopened on Tuesday after repairs to the pier.", encoding="utf-8")
    fake_engine.add([tmp_path / "a.txt"])
    index = fake_engine._current()
    text = "When did the harbour reopen?"
    query = Query(text, fake_engine.embedder.encode_queries([text])[0], ("harbour", "reopen"))
    hits = index.rank(query, fake_engine.settings.with_weights(bm25=0.0))
    assert hits and "bm25" not in hits[0].evidence and set(hits[0].evidence) == set(SIGNALS) - {"bm25"}
    silent = fake_engine.settings.with_weights(**{name: 0.0 for name in SIGNALS})
    assert [h.score for h in index.rank(query, silent)] == [0.0]


def test_a_new_signal_is_one_entry_in_search_and_its_weight_comes_from_the_environment(
    fake_engine, tmp_path, monkeypatch
):
    """A signal added to ``search.SIGNALS`` alone is computed, fused with its own weight,
    reported in the evidence, and weighed otherwise by ``RAG_<NAME>_WEIGHT``, in this
    process and in a child process reading ``Settings.to_env``."""
    import numpy as np

    from rag import search
    from rag.config import Settings

    (tmp_path / "a.txt").write_text("The harbour reopened on Tuesday.\n\nThe pier was rebuilt.", encoding="utf-8")
    fake_engine.add([tmp_path / "a.txt"])
    index = fake_engine._current()
    text = "When did the harbour reopen?"
    query = search.Query(text, fake_engine.embedder.encode_queries([text])[0], ("harbour", "reopen"))
    pier = index.rows_by_doc["a.txt"][1]

    def mentions_the_pier(c: search.Candidates) -> np.ndarray:
        return (c.rows == pier).astype(np.float32)

    monkeypatch.setitem(search.SIGNALS, "pier", search.Signal(mentions_the_pier, 5.0))
    top = index.rank(query, fake_engine.settings)[0]
    assert top.row == pier and top.evidence["pier"] == 1.0
    settings = Settings.from_env({"RAG_PIER_WEIGHT": "0", "RAG_BM25_WEIGHT": "0.5"})
    assert settings.weights == (("bm25", 0.5), ("pier", 0.0))
    assert Settings.from_env(settings.to_env()).weights == settings.weights
    assert index.rank(query, settings)[0].row != pier
    misspelt = Settings.from_env({"RAG_PEIR_WEIGHT": "1", "RAG_INDEX_DIR": str(tmp_path / "index")})
    with pytest.raises(ValueError, match="no ranking signal is named 'peir'"):
        Engine.open(settings=misspelt, embedder=fake_engine.embedder)


def test_a_source_filter_reaches_every_passage_of_its_documents_on_an_approximate_index(tmp_path: Path, fake_embedder):
    """With the vectors in an IVF index, a search limited to one document must still reach
    that document's passages, although the lists it probes for the question hold none."""
    from rag import Settings
    from rag.dense import IVFIndex
    from rag.search import Query

    rng = np.random.default_rng(7)
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "vu", "de", "zo", "ga"]
    words = sorted({"".join(rng.choice(syllables, 3)) for _ in range(3000)})
    topics = [words[i : i + 40] for i in range(0, 1200, 40)]  # 30 topics: the index's lists follow them
    big = "\n\n".join(
        " ".join(rng.choice(topic, 12)) + ". " + " ".join(rng.choice(topic, 12)) + "."
        for topic in (topics[i % len(topics)] for i in range(1300))
    )
    (tmp_path / "big.txt").write_text("Big\n\n" + big, encoding="utf-8")
    (tmp_path / "zeta.txt").write_text(
        "Zeta\n\nThe lighthouse keeper of Port Elin is Mara Quist, who rows out every morning.", encoding="utf-8"
    )
    settings = Settings(index_dir=tmp_path / "index", min_score=0.0, ann_threshold=1000)
    engine = Engine.open(settings=settings, embedder=fake_embedder)
    engine.add([tmp_path / "big.txt", tmp_path / "zeta.txt"])
    index = engine._current()
    assert isinstance(index.snapshot.windows.index, IVFIndex) and isinstance(index.snapshot.sentences.index, IVFIndex)
    for topic in topics:  # each shares no word with zeta.txt: only its vectors can bring it
        question = " ".join(topic[:6])
        query = Query(question, fake_embedder.encode_queries([question])[0], tuple(question.split()), "")
        hits = index.rank(query, settings, sources={"zeta.txt"}, limit=5)
        assert hits and {index.snapshot.passages[h.row].doc_id for h in hits} == {"zeta.txt"}, question


def test_a_source_differs_only_on_a_fact_about_the_same_subject(fake_engine: Engine, tmp_path: Path):
    """``answer._same_subject``: two sources "disagree" on a year only when the other holds
    most of the question's names and numbers (in its sentence, section or title) as the
    answer does: not a release note's year for another feature or another version."""
    from rag.analysis import terms
    from rag.answer import _same_subject
    from rag.search import Query
    from rag.types import Excerpt

    (tmp_path / "notes.txt").write_text(
        "Release notes\n\nUPSERT was added in version 3.24.0 (2018).\n\n"
        "Recursive triggers were added in version 3.6.18 (2009).\n\nPostgreSQL 10 came out in 2017.\n\n"
        "PostgreSQL 15 was released in 2022.",
        encoding="utf-8",
    )
    (tmp_path / "brigade.txt").write_text(
        "Liwa al-Quds\n\nThe brigade was formed in 2013 by an engineer.", encoding="utf-8"
    )
    (tmp_path / "other.txt").write_text(
        "Quds Force\n\nThe Quds Force militia was established in 2014 under al-Saeed.", encoding="utf-8"
    )
    fake_engine.add([tmp_path / "notes.txt", tmp_path / "brigade.txt", tmp_path / "other.txt"])
    index = fake_engine._current()

    def excerpt(doc_id: str, sentence: str) -> Excerpt:
        doc = index.document(doc_id)
        start = doc.text.index(sentence)
        title = doc.title
        return Excerpt(sentence, doc_id, title, 1, start, start + len(sentence), 1.0, (0, len(sentence)), section=title)

    def same(question: str, answer: Excerpt, other: Excerpt) -> bool:
        query = Query(question, fake_engine.embedder.encode_queries([question])[0], tuple(terms(question)))
        return _same_subject(query, answer, other, index)

    upsert = excerpt("notes.txt", "UPSERT was added in version 3.24.0 (2018).")
    triggers = excerpt("notes.txt", "Recursive triggers were added in version 3.6.18 (2009).")
    postgres = excerpt("notes.txt", "PostgreSQL 10 came out in 2017.")
    fifteen = excerpt("notes.txt", "PostgreSQL 15 was released in 2022.")
    formed = excerpt("brigade.txt", "The brigade was formed in 2013 by an engineer.")
    established = excerpt("other.txt", "The Quds Force militia was established in 2014 under al-Saeed.")
    assert not same("In which version was UPSERT added?", upsert, triggers)
    assert not same("When was PostgreSQL 15 released?", fifteen, postgres)  # another version's year
    # An answer about another version than the question's is no fact to differ from (Charis
    # 6.101 asked, its history's entry for 4.106 and the design page's 1997 compared).
    assert not same("When was PostgreSQL 15 released?", postgres, fifteen)
    assert same("When was PostgreSQL released?", fifteen, postgres)
    # "Liwa al-Quds" is in the answer's title; the other holds "al" and "Quds", most of its weight.
    assert same("When was Liwa al-Quds formed?", formed, established)
    assert same("What year was the brigade established?", formed, established)  # names nothing: not judged
    # Counts compared between sources are whole numbers and number words, not a name's digits.
    from rag.answer import _COUNT

    found = [m.group(0) for m in _COUNT.finditer("ISO8601 strings, six functions, 1,500 rows in 2.5 s")]
    assert found == ["six", "1,500", "2.5"]


def test_a_question_mostly_about_a_name_no_document_holds_is_refused(fake_engine: Engine, tmp_path: Path):
    """SQLite's limits page asked about MongoDB: the rest of the question matches, the subject does not."""
    from dataclasses import replace

    (tmp_path / "limits.txt").write_text(
        "The maximum size of a document row is one gigabyte by default.\n\nRows are stored in pages.",
        encoding="utf-8",
    )
    fake_engine.add([tmp_path / "limits.txt"])
    asked = "What is the maximum size of a MongoDB row?"
    answer = fake_engine.ask(asked)
    assert not answer.answered and answer.excerpts and answer.excerpts[0].near_miss
    fake_engine.settings = replace(fake_engine.settings, unknown_names_refusal=1.0)
    assert fake_engine.ask(asked).answered  # the same search, answered without the rule


def test_a_pronoun_follow_up_takes_the_joined_search_even_when_its_own_scores_higher(fake_engine, tmp_path):
    """ "What is its default value?" alone matches any "default value" in the corpus; after a
    question about the site_dir setting it means site_dir's."""
    (tmp_path / "config.txt").write_text(
        "The site_dir setting names the folder the site is built into; its default is site.\n\n"
        "Parameters: defaultValue - a default value, the default value.",
        encoding="utf-8",
    )
    fake_engine.add([tmp_path / "config.txt"])
    alone = fake_engine.ask("What is its default value?")
    assert alone.answered and "defaultValue" in alone.excerpts[0].text
    followed = fake_engine.ask("What is its default value?", history=["What does the site_dir setting control?"])
    assert followed.searched_as.startswith("What does the site_dir setting control?")
    assert "site_dir" in followed.excerpts[0].text


def test_a_follow_up_borrowing_its_subject_takes_the_joined_search_even_when_its_own_scores_higher(
    fake_engine, tmp_path
):
    """ "How do I change its default value?": before its possessive only the verb, so "its"
    is what was asked before (``has_own_subject``), though the pronoun is not its first word."""
    (tmp_path / "config.txt").write_text(
        "The site_dir setting names the folder the site is built into; its default is site.\n\n"
        "Parameters: defaultValue - a default value, the default value, change the default value.",
        encoding="utf-8",
    )
    fake_engine.add([tmp_path / "config.txt"])
    question = "How do I change its default value?"
    alone = fake_engine.ask(question)
    assert alone.answered and "defaultValue" in alone.excerpts[0].text
    followed = fake_engine.ask(question, history=["What does the site_dir setting control?"])
    assert followed.searched_as.startswith("What does the site_dir setting control?")
    assert "site_dir" in followed.excerpts[0].text


def test_tokens_reads_only_the_best_candidates_once_and_ranks_the_rest_no_higher(fake_engine: Engine, tmp_path: Path):
    """The ``tokens`` signal re-reads with the model only the ``TOKEN_ROWS`` best passages by
    the other signals, each once per snapshot (a cache), the question's own tokens once; a
    passage it does not read counts as no better than the worst it read."""
    from rag import search
    from rag.analysis import terms
    from rag.search import TOKEN_ROWS, Query

    for i in range(14):
        (tmp_path / f"harbour{i:02}.txt").write_text(
            f"The harbour of town {i} reopens in spring after repairs to pier {i}.\n", encoding="utf-8"
        )
    fake_engine.add([tmp_path])
    index = fake_engine._current()
    read: list[list[str]] = []

    def read_tokens(texts):
        read.append(list(texts))
        # One token per text, whose match with the question's grows with the town's number.
        return (
            [np.array([[1.0, 0.0]], dtype=np.float32)]
            if texts == [question]
            else [
                np.array([[np.cos(a), np.sin(a)]], dtype=np.float32)
                for a in (1.5 - 0.1 * int(t.split("town ")[1].split()[0]) for t in texts)
            ]
        )

    question = "When does the harbour reopen after repairs?"
    query = Query(question, fake_engine.embedder.encode_queries([question])[0], tuple(terms(question)), "", read_tokens)
    hits = index.rank(query, fake_engine.settings, limit=20)
    assert read[0] == [question] and len(read) == 2 and len(read[1]) == TOKEN_ROWS
    # Each passage is read with its context: its title above its text.
    assert all(text.endswith("after repairs to pier " + text.split("town ")[1].split()[0] + ".") for text in read[1])
    assert all("\n" in text for text in read[1])
    values = sorted(h.evidence["tokens"] for h in hits)
    worst_read = (
        min(np.cos(1.5 - 0.1 * int(t.split("town ")[1].split()[0])) for t in read[1]) - search.TOKEN_MATCH_CENTRE
    )
    assert values[0] == pytest.approx(worst_read, abs=1e-3) and len(hits) == 14  # kept as float16
    # The best match leads; asked again, nothing is read again.
    best = max(range(len(hits)), key=lambda i: hits[i].evidence["tokens"])
    assert best == 0
    again = index.rank(query, fake_engine.settings, limit=20)
    assert len(read) == 2 and [h.row for h in again] == [h.row for h in hits]
    # Without token vectors (an embedder that has none) the signal is 0 and costs nothing.
    plain = index.rank(Query(question, query.vector, query.terms, ""), fake_engine.settings, limit=20)
    assert {h.evidence["tokens"] for h in plain} == {0.0}


def test_passages_read_for_tokens_at_once_by_several_threads_are_read_once(fake_engine: Engine, tmp_path: Path):
    """Users asking at the same moment share the passages being read: a passage another
    thread is reading is waited for, and a failed read leaves it to be read again."""
    import threading

    for i in range(6):
        (tmp_path / f"pier{i}.txt").write_text(f"Pier {i} of the harbour reopens in spring.\n", encoding="utf-8")
    fake_engine.add([tmp_path])
    index = fake_engine._current()
    rows = list(range(len(index.snapshot.passages)))
    calls: list[list[str]] = []
    started, release = threading.Event(), threading.Event()
    fail = [True]

    def read(texts):
        calls.append(list(texts))
        first_call = len(calls) == 1
        started.set()
        release.wait(5)
        if fail[0] and first_call:
            raise RuntimeError("model run failed")
        return [np.full((1, 2), 0.5, dtype=np.float32) for _ in texts]

    def first():
        with pytest.raises(RuntimeError):
            index.token_vectors(rows[:4], read)

    failing = threading.Thread(target=first)
    failing.start()
    started.wait(5)
    results = []
    waiting = threading.Thread(target=lambda: results.append(index.token_vectors(rows, read)))
    waiting.start()
    time.sleep(0.2)  # the second caller reads only what the first is not reading, then waits
    release.set()
    failing.join(5)
    waiting.join(5)
    assert len(results[0]) == len(rows)
    read_texts = [t for call in calls for t in call]
    # The first 4 failed once and were read again by the waiting thread; none read three times.
    assert len(read_texts) == len(rows) + 4 and len(calls) == 3
    fail[0] = False
    calls.clear()
    assert len(index.token_vectors(rows, read)) == len(rows) and calls == []  # all cached now


def test_tokens_finds_the_answer_in_context_with_the_real_model(seed_engine: Engine):
    """With the bundled model, the passage that answers matches the question's tokens best
    among those read: "founded" meets "formed in 2013", and "It belongs to the Popular
    Front" is read below the sentence that says what "It" is."""
    from rag.analysis import terms
    from rag.search import Query, question_type

    index = seed_engine._current()
    for question, answer in (
        ("When was Liwa al-Quds founded?", "formed in 2013"),
        ("Which organisation does the Quds Force belong to?", "It belongs to the Popular Front"),
    ):
        vector = seed_engine.embedder.encode_queries([question])[0]
        query = Query(
            question, vector, tuple(terms(question)), question_type(question) or "", seed_engine.embedder.encode_tokens
        )
        hits = index.rank(query, seed_engine.settings, limit=20)
        best = max(hits, key=lambda h: h.evidence["tokens"])
        assert answer in index.snapshot.passages[best.row].text
        assert hits[0].row == best.row


def test_token_windows_cover_a_long_text_with_overlaps():
    from rag.embedding import token_windows

    offsets = [(5 * i, 5 * i + 4) for i in range(10)]
    assert token_windows(offsets, 10) == [(0, 49)]
    assert token_windows(offsets, 4, overlap=1) == [(0, 19), (15, 34), (30, 49)]
    assert token_windows([], 4) == [(0, 0)]


def test_an_excerpt_names_what_the_question_asks_about_that_it_never_writes(fake_engine: Engine, tmp_path: Path):
    """``missing``: a name of the question that some document writes but the passage, its
    title and section path do not; ``unwritten``: a word of the question no document writes."""
    from rag.analysis import terms
    from rag.search import Query

    page = """<html><head><title>Servers</title></head><body><main><h1>Servers</h1>
    <h2>PostgreSQL</h2><p>It listens on port 5432 unless told otherwise, and takes 2FA. Ask Buthaina.</p>
    <h2>Mail</h2><p>SMTP servers listen on port 25 by default.</p>
    </main></body></html>"""
    question = "What port does PostgreSQL listen on by default?"
    index, _, by_section = _rank_page(fake_engine, tmp_path, page, question)
    mail, postgres = by_section["Mail"].row, by_section["PostgreSQL"].row

    def q(text: str) -> Query:
        return Query(text, np.zeros(1, dtype=np.float32), tuple(terms(text)))

    assert index.missing(q(question), mail) == ("PostgreSQL",)
    assert index.missing(q(question), postgres) == ()  # its section's heading names it
    assert index.missing(q("Which port does SMTP use?"), mail) == ()
    spelt = q("Does Bouthaina still run the PostgreSQL servers?")
    assert index.missing(spelt, postgres) == ()  # "Buthaina": a spelling the index joins
    assert index.missing(spelt, mail) == ("Bouthaina", "PostgreSQL")
    assert index.missing(q("does smtp listen on port 25?"), postgres) == ()  # no names: nothing to say
    assert index.unwritten(q("Does nginx listen on port 25, or Nginx, or PostgreSQL?")) == ("nginx",)
    # ``absent_names``: the share of the question's weight in names the passage's whole document never writes
    assert index.absent_names(q(question), mail) == 0.0  # the page names PostgreSQL in another section
    jenkins = q("Does Jenkins run on the PostgreSQL port?")
    weight = dict(zip(jenkins.terms, (w for _, w in index.weights(jenkins)), strict=False))["jenkin"]
    assert index.absent_names(jenkins, mail) == pytest.approx(weight) and 0 < weight < 1
    # Contractions, and words that open with a digit, are words as written
    assert index.unwritten(q("What's the port? I'm told it's 25; don't you listen? Who's Buthaina?")) == ()
    assert index.unwritten(q("Does PostgreSQL take 2FA or 3FA?")) == ("3FA",)
    answer = fake_engine.ask("What port does PostgreSQL listen on in nginx?", k=5)
    assert answer.unwritten == ("nginx",) and answer.excerpts
    for e in answer.excerpts:  # a name missing from the excerpt is not the unwritten word again
        assert e.missing == (() if "PostgreSQL" in e.text + e.section + e.title else ("PostgreSQL",))
    assert answer.to_dict()["unwritten"] == ["nginx"]


def test_names_the_top_passages_document_never_writes_count_against_answering(fake_engine: Engine, tmp_path: Path):
    """``absent_names`` reads the top passage's own document, not the corpus, and the
    penalty moves only the decision: the excerpts keep their scores and order."""
    from dataclasses import replace

    from rag.analysis import terms
    from rag.search import Query

    (tmp_path / "mail.md").write_text("# Mail\n\nSMTP servers listen on port 25 by default.\n", encoding="utf-8")
    (tmp_path / "ci.md").write_text("# Builds\n\nJenkins runs the nightly builds of PostgreSQL.\n", encoding="utf-8")
    fake_engine.add([tmp_path / "mail.md", tmp_path / "ci.md"])
    index = fake_engine._current()
    mail = index.rows_by_doc["mail.md"][0]
    question = "Which port does Jenkins listen on by default?"
    query = Query(question, np.zeros(1, dtype=np.float32), tuple(terms(question)))
    share = dict(zip(query.terms, (w for _, w in index.weights(query)), strict=False))["jenkin"]
    assert 0 < share < 1 and index.absent_names(query, mail) == pytest.approx(
        share
    )  # ci.md's "Jenkins" is not mail.md's
    assert index.absent_names(query, index.rows_by_doc["ci.md"][0]) == 0.0

    lenient = Engine.open(
        settings=replace(fake_engine.settings, min_score=0.0, absent_names_penalty=0.0), embedder=fake_engine.embedder
    )
    strict = Engine.open(settings=replace(lenient.settings, absent_names_penalty=100.0), embedder=fake_engine.embedder)
    asked, refused = lenient.ask(question, k=3), strict.ask(question, k=3)
    assert asked.answered and asked.excerpts[0].source == "mail.md"  # the fake embedder's choice, checked
    assert not refused.answered
    assert [(e.source, e.score) for e in refused.excerpts] == [(e.source, e.score) for e in asked.excerpts][
        : len(refused.excerpts)
    ]


def test_a_table_answer_highlights_the_row_asked_about_not_the_header(fake_engine: Engine, tmp_path: Path):
    import docx

    d = docx.Document()
    d.add_heading("Travel policy", level=0)
    d.add_paragraph("Allowances per city are listed below.")
    table = d.add_table(rows=4, cols=3)
    rows = [("City", "Per diem (EUR)", "Hotel cap per night (EUR)"), ("Berlin", "58", "160"), ("Paris", "65", "210")]
    for r, cells in enumerate([*rows, ("London", "70", "250")]):
        for c, value in enumerate(cells):
            table.cell(r, c).text = value
    d.save(str(tmp_path / "policy.docx"))
    fake_engine.add([tmp_path / "policy.docx"])
    excerpt = fake_engine.ask("What is the per diem in Paris?").excerpts[0]
    start, end = excerpt.highlight
    assert excerpt.text[start:end] == "Paris | 65 | 210"


def test_a_variant_below_the_third_excerpt_keeps_saying_how_it_differs(fake_engine: Engine, tmp_path: Path):
    rule = "Staff using a private car are reimbursed at {} EUR per kilometre, against receipts and a logbook."
    files = {
        "a.txt": "Mileage\n\nPrivate car kilometre reimbursement: the private car kilometre rate is paid monthly.",
        "b.txt": "Claims\n\nReimbursed private car kilometre claims go to payroll; private car kilometre forms.",
        "c.txt": "Audit\n\nPrivate car kilometre reimbursements are audited; private car kilometre logs are kept.",
        "policy.txt": "Travel policy 2023\n\n" + rule.format("0.35"),
        "policy-old.txt": "Travel policy 2022\n\n" + rule.format("0.30"),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    fake_engine.add([tmp_path / name for name in files])
    excerpts = fake_engine.ask("private car kilometre reimbursed", k=5).excerpts
    policies = [(n, e) for n, e in enumerate(excerpts, 1) if e.source.startswith("policy")]
    assert len(policies) == 2
    (lead_number, lead), (_, variant) = policies
    figure, other = ("0.30", "0.35") if "0.30" in variant.text else ("0.35", "0.30")
    assert variant.note == f"another source, which differs: {figure} here, {other} in [{lead_number}]"


def test_passages_differing_in_a_name_with_digits_are_not_merged(fake_engine: Engine, tmp_path: Path):
    """ "x86" and "arm64" are names, not figures: the two installers are two excerpts."""
    for arch in ("x86", "arm64"):
        (tmp_path / f"{arch}.txt").write_text(
            f"Installer\n\nThe installer for {arch} needs two gigabytes of free disk space.", encoding="utf-8"
        )
    fake_engine.add([tmp_path / "x86.txt", tmp_path / "arm64.txt"])
    excerpts = fake_engine.ask("How much disk space does the installer need?").excerpts
    assert {e.source for e in excerpts[:2]} == {"x86.txt", "arm64.txt"} and not excerpts[0].also


def test_only_a_real_header_row_hands_on_the_highlight():
    """A header names columns; a table cut in two continues with data rows ("Stockholm | 118 |
    218"), a row read away from its header names it in its section, and prose with a shell
    pipe ends as a sentence: none of them is a header."""
    from rag.search import _header_row

    table = ["City | Per diem (EUR) | Hotel cap (EUR)", "Berlin | 58 | 160", "Paris | 65 | 210"]
    assert _header_row(table, 0, "Travel policy")
    assert not _header_row(["Stockholm | 118 | 218", "Tallinn | 119 | 219"], 0, "Rates")
    assert not _header_row(table, 0, "Travel policy › City | Per diem (EUR) | Hotel cap (EUR)")
    prose = ["To count files, run ls | wc -l in the folder.", "Then run ps aux | grep sshd to search."]
    assert not _header_row(prose, 0, "Shell")


def test_a_question_asking_what_something_is_or_does():
    """What is asked of its subject itself, not how to do a thing, nor which option does it, nor a
    fact of a longer phrase; a joined follow-up is asked by its last sentence."""
    from rag.search import asks_what_it_is

    for asked in (
        "What does git gc do?",
        "what does the -W option of sphinx-build do",
        "What is git rerere?",
        "What's git rerere?",
        "What is git worktree used for?",
        "What are hooks for?",
        "What is the default value of gc.auto?",
        "What does HEAD^ mean?",
        "  What is git gc ?!",
        "What is git gc? What does it do?",
    ):
        assert asks_what_it_is(asked), asked
    for asked in (
        "How do I make bash show each command before it runs it?",
        "What is the maximum number of loose objects before git packs them?",
        "What does git gc print when it runs?",
        "Which option does git gc take?",
        "What is the option to skip hooks?",
        "What is the flag for a dry run?",
        "What are the options of git gc?",
        "What is Kubernetes? How do I install it?",
        "",
    ):
        assert not asks_what_it_is(asked), asked


_MAN_PAGE = (  # shaped like Git's manual page of git gc
    "<html><body><h1>widget-gc(1) Manual Page</h1><h2>NAME</h2><p>widget-gc - Tidy a widget store</p>"
    "<h2>SYNOPSIS</h2><pre>widget-gc [--auto] [--quiet] [--prune=&lt;date&gt;]</pre><h2>DESCRIPTION</h2>"
    "<p>Runs a number of housekeeping tasks within the current store, such as compressing old revisions to"
    " reduce disk space and increase performance, and removing unreachable objects which may have been"
    " created from prior invocations of widget-add.</p><p>Users are encouraged to run this task on a regular"
    " basis within each store to maintain good disk space utilization and good operating performance.</p>"
    "<h2>OPTIONS</h2><dl><dt>--auto</dt><dd><p>With this option, widget-gc checks whether any housekeeping is"
    " required; if not, it exits without performing any work.</p></dd><dt>-q</dt><dt>--quiet</dt><dd><p>Suppress all"
    " progress reports when widget-gc runs.</p></dd><dt>--prune=&lt;date&gt;</dt><dd><p>Prune loose objects"
    " older than date when widget-gc is run (default is 2 weeks ago).</p></dd></dl><h2>CONFIGURATION</h2>"
    "<dl><dt>gc.bigPackThreshold</dt><dd><p>If non-zero, all packs larger than this limit are kept when"
    " widget-gc is run.</p></dd><dt>gc.pruneExpire</dt><dd><p>When widget-gc is run, it will call prune with"
    " the expiry date given here.</p></dd></dl></body></html>"
)


def test_the_terms_a_passage_opens_with(fake_engine: Engine, tmp_path: Path):
    """Read from the document's layout: a definition's terms, all of its names ("-q", "--quiet"),
    nothing for prose."""
    (tmp_path / "widget-gc.html").write_text(_MAN_PAGE, encoding="utf-8")
    fake_engine.add([tmp_path / "widget-gc.html"])
    index = fake_engine._current()
    passages = index.snapshot.passages
    opening = {passages[row].text.split("\n", 1)[0]: index.terms_at(row) for row in range(len(passages))}
    assert opening["--auto"] == ("--auto",) and opening["-q"] == ("-q", "--quiet")
    assert opening["gc.pruneExpire"] == ("gc.pruneExpire",)
    assert opening["widget-gc - Tidy a widget store"] == ()
    assert all(not found for first, found in opening.items() if not first.startswith(("-", "gc.")))


def test_whether_a_moved_definition_answers_is_decided_without_the_move(fake_engine: Engine, tmp_path: Path):
    """``defines_other`` reorders: a definition it moved below the threshold still answers, at
    the relevance it had without the move, and a passage under the threshold without it does
    not answer for the move's sake."""
    from rag import Settings
    from rag.analysis import terms
    from rag.answer import build_answer, deciding_score
    from rag.search import Hit, Query

    (tmp_path / "widget-gc.html").write_text(_MAN_PAGE, encoding="utf-8")
    fake_engine.add([tmp_path / "widget-gc.html"])
    index = fake_engine._current()
    row = next(r for r in range(len(index.snapshot.passages)) if index.terms_at(r) == ("--auto",))
    question = "What does widget-gc do?"
    query = Query(question, fake_engine.embedder.encode_queries([question])[0], tuple(terms(question)))
    settings = Settings(min_score=0.44)
    moved = Hit(row, 0.40, {"defines_other": -1.0})
    assert deciding_score(moved, settings) == pytest.approx(0.55)
    assert build_answer(question, query, [moved], index, settings, 5).answered
    assert not build_answer(question, query, [Hit(row, 0.40, {"defines_other": 0.0})], index, settings, 5).answered
    assert not build_answer(
        question, query, [moved], index, Settings(min_score=0.44, weights=(("defines_other", 0.0),)), 5
    ).answered


@pytest.mark.slow
def test_what_a_command_does_is_its_description_not_an_option_naming_it(tmp_path: Path):
    """Real model. The option entry names the command in its sentence and the description does
    not (the page's title does), so by words alone "--auto" wins; it is about ``--auto``, which
    the question never names. Asked of the option, the option's entry answers."""
    from rag import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "widget-gc.html").write_text(_MAN_PAGE, encoding="utf-8")
    engine = Engine.open(settings=Settings(index_dir=tmp_path / "index"))
    engine.add([docs])

    def order(engine: Engine) -> list[str]:
        return [e.text.split("\n", 1)[0] for e in engine.ask("What does widget-gc do?").excerpts]

    ranked = order(engine)
    assert ranked.index("widget-gc - Tidy a widget store") < ranked.index("--auto"), ranked
    off = order(Engine.open(settings=Settings(index_dir=tmp_path / "index", weights=(("defines_other", 0.0),))))
    assert off.index("--auto") < off.index("widget-gc - Tidy a widget store"), off
    assert engine.ask("What does the --auto option of widget-gc do?").excerpts[0].text.startswith("--auto")
    # Named by its second name, an option is still the one asked about.
    assert engine.ask("What does widget-gc --quiet do?").excerpts[0].text.startswith("-q\n\n--quiet")
    followed = engine.ask("What does it do?", history=["What is widget-gc?"])
    assert followed.searched_as == "What is widget-gc? What does it do?"
    ranked = [e.text.split("\n", 1)[0] for e in followed.excerpts]
    assert ranked.index("widget-gc - Tidy a widget store") < ranked.index("--auto"), ranked
