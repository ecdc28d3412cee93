"""Rendering for people: document text is escaped, invisible reordering characters are shown, and an
answer opens with its answering sentences, quoted verbatim and cited."""

import html
import re
from dataclasses import replace

from rag.render import (
    Turn,
    answer_html,
    answer_line,
    citation,
    conversation_html,
    conversation_markdown,
    escape,
    excerpt_html,
    excerpt_label,
    is_weak,
    original_url,
    source_html,
    visible_controls,
)
from rag.types import Answer, Document, Excerpt


def test_a_right_to_left_override_is_written_out_not_obeyed():
    text = "Total: \u202e001 $\u202c due"
    shown = visible_controls(text)
    assert shown == "Total: ⟨RLO⟩001 $⟨PDF⟩ due"
    assert "\u202e" not in escape(text) and "&lt;b&gt;" in escape("<b>")


def test_ordinary_text_is_untouched():
    assert visible_controls("Café – 2013, naïve “quotes”") == "Café – 2013, naïve “quotes”"


def _excerpt(text: str, sentence: str, score: float, source: str = "a.txt", start: int = 0, **kw) -> Excerpt:
    s = text.index(sentence)
    return Excerpt(
        text=text,
        source=source,
        title=kw.pop("title", "Doc"),
        paragraph=kw.pop("paragraph", 1),
        start=start,
        end=start + len(text),
        score=score,
        highlight=(s, s + len(sentence)),
        **kw,
    )


FIRST = _excerpt("Intro words. The brigade was formed in 2013. More words.", "The brigade was formed in 2013.", 0.80)
CLOSE = _excerpt(
    "Elsewhere. It was set up by al-Sa'eed. End.", "It was set up by al-Sa'eed.", 0.76, source="b.txt", start=500
)
FAR = _excerpt("Other text. A weak sentence here. Tail.", "A weak sentence here.", 0.60, source="c.txt")
DIFFERS = _excerpt(
    "Aleppo. The militia was established in 2014. Tail.",
    "The militia was established in 2014.",
    0.46,
    source="d.txt",
    note="another source, which differs: 2014 here, 2013 in [1]",
)


def _line_text(page: str) -> list[str]:
    """The answer line's quoted sentences, markup removed."""
    line = re.search(r'<div class="qa-answer">(.*?)</div>', page).group(1)
    return [html.unescape(q) for q in re.findall(r"<q>(.*?)</q>", line)]


def test_the_answer_line_quotes_highlights_verbatim_with_markers():
    answer = Answer("When was it formed?", True, (FIRST, CLOSE, FAR))
    line = answer_line(answer)
    assert [(n, sentence) for n, _, sentence in line] == [
        (1, "The brigade was formed in 2013."),
        (2, "It was set up by al-Sa'eed."),
    ]
    for _, excerpt, sentence in line:  # exact substrings, nothing written
        assert sentence == excerpt.text[excerpt.highlight[0] : excerpt.highlight[1]]
        assert sentence in excerpt.text
    page = answer_html(answer)
    assert _line_text(page) == ["The brigade was formed in 2013.", "It was set up by al-Sa'eed."]
    refs = re.findall(r'<button type="button" class="qa-ref" ([^>]*)>\[(\d)\]</button>', page)
    assert [n for _, n in refs] == ["1", "2"]
    assert 'data-source="a.txt" data-start="0" data-end="56"' in refs[0][0]
    assert 'data-source="b.txt" data-start="500"' in refs[1][0]
    assert page.index('class="qa-answer"') < page.index('class="qa-excerpt')


def test_the_second_excerpt_joins_only_when_close_and_from_another_passage():
    further = _excerpt(CLOSE.text, "It was set up by al-Sa'eed.", 0.74, source="b.txt", start=500)
    assert len(answer_line(Answer("q", True, (FIRST, further)))) == 1  # 0.06 below
    at_margin = _excerpt(CLOSE.text, "It was set up by al-Sa'eed.", 0.75, source="b.txt", start=500)
    assert len(answer_line(Answer("q", True, (FIRST, at_margin)))) == 2  # 0.05 below counts, float or not
    same_passage = _excerpt(FIRST.text, "More words.", 0.80)
    assert len(answer_line(Answer("q", True, (FIRST, same_passage)))) == 1
    near = _excerpt(CLOSE.text, "End.", 0.79, source="b.txt", start=500, near_miss=True)
    assert len(answer_line(Answer("q", True, (FIRST, near)))) == 1


def test_weak_excerpts_fold_under_more_passages_but_a_differing_source_never_does():
    near = _excerpt("Near. Almost relevant. X.", "Almost relevant.", 0.79, source="e.txt", near_miss=True)
    answer = Answer("When was it formed?", True, (FIRST, CLOSE, DIFFERS, FAR, near))
    assert [is_weak(e, FIRST) for e in answer.excerpts] == [False, False, False, True, True]
    page = answer_html(answer)
    strong, _, folded = page.partition('<details class="qa-more"><summary>More passages</summary>')
    assert folded, page
    assert "The militia was established in 2014." in strong  # 0.34 below, but it has a note
    assert "Another source, which differs: 2014 here, 2013 in [1]" in strong
    assert 'class="qa-note"' in strong
    assert "A weak sentence here." in folded and "Almost relevant." in folded
    assert "A weak sentence here." not in strong
    assert "[4]" in folded and "[5]" in folded  # numbering is the turn's, so markers still match


def test_an_unanswered_turn_keeps_its_message_and_near_misses_unfolded():
    near = _excerpt("Near. Almost relevant. X.", "Almost relevant.", 0.3, near_miss=True)
    page = answer_html(Answer("How do I bake bread?", False, (near,)))
    assert "do not answer this question" in page and "Closest passages (not answers)" in page
    assert "qa-answer" not in page and "More passages" not in page
    assert "Almost relevant." in page and answer_line(Answer("q", False, (near,))) == []


def test_citations_carry_exact_ids_and_escape_markup():
    hostile = _excerpt('<b>"x"</b> said. The answer.', "The answer.", 0.9, source='<img src=x>"\u202e.txt')
    page = answer_html(Answer("q", True, (hostile,)))
    assert "<b>" not in page and "<img" not in page
    assert 'data-source="&lt;img src=x&gt;&quot;\u202e.txt"' in page  # the id itself, to look it up
    assert "⟨RLO⟩" in page  # shown, not obeyed, where people read it


def test_excerpt_labels_are_distinct_and_name_title_paragraph_and_opening():
    one = excerpt_label(1, FIRST)
    two = excerpt_label(2, _excerpt(FIRST.text, "More words.", 0.7, paragraph=1))
    assert one == "[1] Doc ¶1 — “Intro words. The brigade was formed…”"
    assert one != two


def _card(page: str, source: str) -> str:
    """The excerpt card citing ``source`` in ``page``."""
    return re.search(rf'<div class="qa-excerpt[^"]*" data-source="{re.escape(source)}".*?</div></div>', page).group(0)


def _holding(*excerpts: Excerpt) -> dict[str, Document]:
    """Documents that hold each excerpt at its offsets, as the index would."""
    docs: dict[str, Document] = {}
    for e in excerpts:
        text = " " * e.start + e.text
        docs[e.source] = Document(e.source, e.title, path=e.source, sha256="", text=text)
    return docs


def test_excerpts_citing_a_removed_or_changed_document_are_marked_and_offer_no_original():
    answer = Answer("When was it formed?", True, (FIRST, CLOSE))
    turns = [Turn(answer)]
    both = _holding(FIRST, CLOSE)
    page = conversation_html(turns, both)
    assert "removed" not in page and page.count('class="qa-tool qa-original"') == 2
    page = conversation_html(turns, {"a.txt": both["a.txt"]})
    gone, kept = _card(page, "b.txt"), _card(page, "a.txt")
    assert 'class="qa-excerpt stale removed"' in gone and "Removed from the index" in gone and "qa-original" not in gone
    assert "removed" not in kept and 'href="original/a.txt"' in kept
    assert re.search(r'class="qa-ref stale removed" data-source="b.txt"[^>]*>\[2\]', page)  # its marker too
    assert re.search(r'class="qa-ref" data-source="a.txt"[^>]*>\[1\]', page)
    # b.txt indexed again with other text where the quote was: the quote is not there any more.
    edited = replace(both["b.txt"], text=" " * CLOSE.start + "Elsewhere. It was set up by someone else.")
    changed = _card(conversation_html(turns, {**both, "b.txt": edited}), "b.txt")
    assert "Changed since this answer" in changed and "qa-original" not in changed
    assert "qa-original" not in conversation_html(turns, both, originals=False)  # --no-originals


def test_copy_buttons_carry_the_exact_quote_and_a_one_line_citation():
    text = 'He said "yes" & left. \u202eThe answer.'
    excerpt = _excerpt(text, "The answer.", 0.9, source="x y/<b>.txt", title="Doc", section="Doc › Part", start=10)
    card = excerpt_html(3, excerpt)
    copies = [html.unescape(c) for c in re.findall(r'class="qa-tool qa-copy" data-copy="([^"]*)"', card)]
    assert copies[0] == text  # the document's own characters, controls and all
    assert copies[1] == f"Doc › Part (x y/<b>.txt, ¶1, characters 10–{10 + len(text)})"
    assert citation(excerpt, offsets=True) == copies[1] and "<b>" not in card
    assert 'href="original/x%20y%2F%3Cb%3E.txt"' in card and original_url("a/../b.txt") == "original/a%2F..%2Fb.txt"


def test_the_conversation_exports_every_turn_oldest_first_with_its_answer_line_and_citations():
    first = Turn(Answer("When was it formed?", True, (FIRST, CLOSE)), scope=("a.txt", "b.txt"))
    second = Turn(Answer("How do I bake bread?", False, (FAR,)))
    markdown = conversation_markdown([second, first])  # as the page keeps them: newest first
    assert markdown.startswith("# Conversation\n")
    assert markdown.index("## When was it formed?") < markdown.index("## How do I bake bread?")
    assert "*Searched only in: a.txt, b.txt*" in markdown
    assert "**Answer, quoted:** “The brigade was formed in 2013.” [1] “It was set up by al-Sa'eed.” [2]" in markdown
    assert "> Intro words. The brigade was formed in 2013. More words." in markdown
    assert "[1] Doc (a.txt, ¶1, characters 0–56), relevance 0.80" in markdown
    assert f"[2] Doc (b.txt, ¶1, characters 500–{CLOSE.end}), relevance 0.76" in markdown
    bread = markdown[markdown.index("## How do I bake bread?") :]
    assert "*The documents do not answer this question.*" in bread and "Answer, quoted" not in bread
    assert "[1] Doc (c.txt, ¶1, characters 0–39), relevance 0.60" in bread
    assert conversation_markdown([]) == "# Conversation\n"


def test_what_an_excerpt_lacks_and_what_no_document_writes_are_shown():
    lacking = replace(FIRST, missing=("PostgreSQL",))
    answer = Answer("What port does PostgreSQL use behind nginx?", True, (lacking, CLOSE), unwritten=("nginx",))
    page = answer_html(answer)
    assert "Not in any document: <b>nginx</b>" in page
    assert page.count("Not in this excerpt") == 1 and "Not in this excerpt: <b>PostgreSQL</b>" in page
    markdown = conversation_markdown([Turn(answer)])
    assert "*Not in any document: nginx*" in markdown and "Not in this excerpt: PostgreSQL" in markdown
    plain = answer_html(Answer("q", True, (FIRST,)))
    assert "Not in this excerpt" not in plain and "Not in any document" not in plain


def test_the_markdown_export_shows_what_documents_wrote_and_runs_none_of_it():
    """A document's text, title and file name reach the export as text: no HTML, link or
    image a Markdown viewer would act on, no emphasis eating characters, and direction
    controls written out as on the page."""
    import markdown_it

    text = "See <img src=x onerror=alert(9)> and [here](javascript:alert(11)). A *b* c_d_e & |x|."
    excerpt = _excerpt(text, "A *b* c_d_e & |x|.", 0.9, source="\u202egnp.txt", title="<script>t</script>")
    exported = conversation_markdown([Turn(Answer("Is <b>this</b> safe?", True, (excerpt,)))])
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(exported)
    assert "<img" not in rendered and "<script" not in rendered and "<b>" not in rendered
    assert 'href="javascript' not in rendered and "<a " not in rendered and "<em>b</em>" not in rendered
    shown = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    assert text in shown and "<script>t</script>" in shown and "Is <b>this</b> safe?" in shown
    assert "⟨RLO⟩gnp.txt" in shown and "\u202e" not in exported


def test_a_follow_up_says_what_was_searched_on_the_page_and_in_the_export():
    """ "How do I install it?" refused after "What is Kubernetes?": the reader sees which
    question was searched, in the app and in the downloaded answer alike."""
    answer = Answer("How do I install it?", False, (), searched_as="What is Kubernetes? How do I install it?")
    for shown in (answer_html(answer), conversation_markdown([Turn(answer)])):
        assert "Searched together with the previous question" in shown
        assert "What is Kubernetes? How do I install it?" in shown
    alone = replace(answer, searched_as="How do I install it?")
    assert "Searched together" not in answer_html(alone) + conversation_markdown([Turn(alone)])


def test_code_is_shown_as_code_with_one_highlight_and_its_text_unchanged():
    text = "To build it, type:\n$ ./configure <dir>\n$ make\nThen install."
    code = (text.index("$ ./"), text.index("\nThen"))
    excerpt = _excerpt(text, "type:\n$ ./configure <dir>", 0.9, code=(code,))
    card = excerpt_html(1, excerpt)
    quote = re.search(r'<blockquote class="qa-quote">(.*?)</blockquote>', card, re.S).group(1)
    assert quote.count("<mark>") == 1 and quote.count("</mark>") == 1
    # The code is set as code (cut where the mark ends, so the elements nest); the prose is not.
    assert re.findall(r'<code class="qa-code">(.*?)</code>', quote, re.S) == ["$ ./configure &lt;dir&gt;", "\n$ make"]
    assert html.unescape(re.sub(r"<[^>]+>", "", quote)) == text  # nothing added, nothing lost
    assert "To build it" not in "".join(re.findall(r"<code[^>]*>(.*?)</code>", quote, re.S))
    line = answer_html(Answer("How do I build it?", True, (excerpt,)))
    said = re.search(r"<q>(.*?)</q>", line, re.S).group(1)
    assert said == 'type:\n<code class="qa-code">$ ./configure &lt;dir&gt;</code>'
    document = Document("a.txt", "Doc", "a.txt", "0", "Notes\n\n" + text)
    shown = source_html(document, 7, 7 + len(text))
    assert '<mark class="qa-target" id="qa-target">' in shown and shown.count("</mark>") == 1
    assert '<code class="qa-code">$ ./configure &lt;dir&gt;\n$ make</code>' in shown


def test_code_spans_that_overlap_or_run_past_the_text_make_one_code_element_each_run():
    from rag.render import _marked

    shown = _marked("abcdefghij", (2, 6), [(1, 4), (3, 8), (9, 20), (-5, 0)])
    assert shown == (
        'a<code class="qa-code">b</code><mark><code class="qa-code">cdef</code></mark>'
        '<code class="qa-code">gh</code>i<code class="qa-code">j</code>'
    )
