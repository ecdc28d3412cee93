"""The app in a real headless Chromium: ask, cite, copy, export, upload, remove, a phone screen, hostile text."""

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from ..conftest import SEEDS
from .conftest import ARTIFACTS, HOSTILE_NAME

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser tests: install Debian's chromium (.ci/run does)")
if CHROMIUM is None:
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


@contextlib.contextmanager
def open_page(browser, app_url: str, **options):
    """The app in a new browser context (1400x1000 unless ``options`` say otherwise), ready to ask."""
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 1000}, **options})
    try:
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs
        page.goto(app_url)
        page.wait_for_selector("#question textarea", timeout=60_000)
        # The question box renders before Gradio lifts its whole-page loading overlay (seen on a busy machine).
        page.wait_for_function("() => !document.querySelector('.gradio-container .main > .wrap.full')", timeout=60_000)
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, app_url: str):
    with open_page(browser, app_url) as page:
        yield page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def ask(page, question: str) -> None:
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_function(
        "q => document.querySelector('#transcript') && document.querySelector('#transcript').innerText.includes(q)",
        arg=question,
        timeout=60_000,
    )


def upload_and_ask(page, path: Path, question: str):
    """Upload ``path`` through the documents panel, ask ``question``; the first excerpt card."""
    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "() => document.querySelector('#upload-status textarea').value.includes('Indexed')", timeout=120_000
    )
    ask(page, question)
    page.wait_for_selector("#source-view #qa-target", timeout=30_000)
    return page.locator("#transcript .qa-excerpt").first


def test_example_question_shows_quote_citation_highlight_and_source(page):
    page.get_by_text("Who leads the Hamas delegation to Damascus?").first.click()
    page.click("#ask")
    page.wait_for_selector("#transcript .qa-excerpt", timeout=60_000)
    first = page.locator("#transcript .qa-excerpt").first
    assert "Khalil Al-Hayya" in first.locator(".qa-quote").inner_text()
    assert "004_ea17900e9b06a4c9.txt" in first.locator(".qa-cite").inner_text()
    assert "¶" in first.locator(".qa-cite").inner_text()
    assert "Al-Hayya" in first.locator("mark").first.inner_text()
    page.wait_for_selector("#source-view #qa-target", timeout=30_000)
    target = page.locator("#source-view #qa-target")
    assert "Khalil Al-Hayya" in target.inner_text()
    assert "Hamas: We Started a New Chapter with Damascus" in page.locator("#source-view").inner_text()
    first.locator("summary").click()
    assert "¶" in first.locator(".qa-context").first.inner_text()
    shot(page, "answer-and-source")


def test_unanswerable_question_says_so(page):
    ask(page, "How do I bake bread?")
    assert "do not answer" in page.locator("#transcript").inner_text()
    assert page.locator("#transcript .qa-unwritten").inner_text() == "Not in any document: bake, bread"
    ask(page, "Who leads the Wagner brigade in Aleppo?")
    turn = page.locator("#transcript .qa-turn", has_text="Wagner brigade")
    assert turn.locator(".qa-unwritten").inner_text() == "Not in any document: Wagner"
    lacking = turn.locator(".qa-missing")  # the near-misses that never name Aleppo say so under their citation
    assert lacking.count() >= 1 and all(t == "Not in this excerpt: Aleppo" for t in lacking.all_inner_texts())
    shot(page, "refused-with-missing-names")


def test_upload_then_ask_and_hostile_text_stays_text(page, tmp_path: Path):
    hostile = tmp_path / "<img src=x onerror=alert(2)>.txt"
    hostile.write_text(
        "<script>alert(1)</script> Hostile notes\n\n"
        "The pumpkin festival committee is chaired by Walter Brennan. <script>alert(1)</script> "
        '<img src=x onerror=alert(3)> <style>body{display:none}</style> <a href="javascript:alert(4)">link</a>',
        encoding="utf-8",
    )
    first = upload_and_ask(page, hostile, "Who chairs the pumpkin festival committee?")
    text = first.locator(".qa-quote").inner_text()
    assert "Walter Brennan" in text and "<script>alert(1)</script>" in text and "onerror=alert(3)" in text
    assert first.locator("script, img, style, a[href^=javascript]").count() == 0
    assert page.locator("#source-view script, #source-view img").count() == 0
    assert "<script>alert(1)</script>" in page.locator("#source-view").inner_text()
    assert page.evaluate("getComputedStyle(document.body).display") != "none"
    page.wait_for_timeout(500)
    assert page.dialogs == []
    shot(page, "hostile-upload")


def test_code_is_shown_as_code_in_the_quote_and_the_source(page, tmp_path: Path):
    guide = tmp_path / "widget-guide.md"
    guide.write_text(
        "# Widget guide\n\n## Installing\n\nTo install the widget toolkit, run these two commands:\n\n"
        "```\npip install widget-toolkit\nwidget-toolkit --init\n```\n\nThen restart your shell.\n",
        encoding="utf-8",
    )
    first = upload_and_ask(page, guide, "How do I install the widget toolkit?")
    code = first.locator(".qa-quote .qa-code")
    assert "pip install widget-toolkit\nwidget-toolkit --init" in "".join(code.all_inner_texts())
    assert "monospace" in code.first.evaluate("e => getComputedStyle(e).fontFamily")
    prose = first.locator(".qa-quote").evaluate("e => getComputedStyle(e).fontFamily")
    assert "monospace" not in prose  # the lead-in stays prose
    assert first.locator(".qa-quote mark").count() == 1
    quote = first.locator(".qa-quote").inner_text()
    assert "To install the widget toolkit, run these two commands:" in quote and "```\npip install" in quote
    shown = page.locator("#source-view .qa-code").first
    assert "monospace" in shown.evaluate("e => getComputedStyle(e).fontFamily")
    line = page.locator("#transcript .qa-answer .qa-code")  # the answer line keeps the code's lines too
    assert "widget-toolkit\nwidget-toolkit" in "".join(line.all_inner_texts())
    shot(page, "code-answer")


def _body_style(page) -> list[str]:
    return page.evaluate(
        "() => { const s = getComputedStyle(document.body); return [s.backgroundColor, s.color, s.display]; }"
    )


def _no_markup(page) -> None:
    """No element came from document text: none in our HTML, none in the table's cells
    (the table's own toolbar icons are Gradio's), and no handler or javascript: link anywhere."""
    for area in ("#transcript", "#source-view", "#documents td"):
        assert page.locator(f"{area} img, {area} svg, {area} style, {area} script").count() == 0, area
    assert page.locator("[onerror], [onload], a[href^=javascript]").count() == 0


def test_hostile_title_renders_as_text_everywhere(page, tmp_path: Path):
    style_before = _body_style(page)
    hostile = tmp_path / "turnips.html"
    hostile.write_text(
        "<html><head><title>&lt;img src=x onerror=alert(5)&gt; &lt;style&gt;*{color:red}&lt;/style&gt; "
        "Turnip report</title></head><body>"
        '<p>The turnip harvest was weighed by &lt;a href="javascript:alert(7)"&gt;Oskar Lindqvist&lt;/a&gt; '
        "at the county fair on Saturday.</p></body></html>",
        encoding="utf-8",
    )
    first = upload_and_ask(page, hostile, "Who weighed the turnip harvest?")
    assert "<img src=x onerror=alert(5)> <style>*{color:red}</style>" in first.locator(".qa-cite").inner_text()
    assert 'href="javascript:alert(7)"' in first.locator(".qa-quote").inner_text()
    _no_markup(page)
    assert _body_style(page) == style_before  # no style injected
    page.wait_for_timeout(500)
    assert page.dialogs == []
    shot(page, "hostile-title")


def test_hostile_file_name_renders_as_text_everywhere(page):
    style_before = _body_style(page)
    ask(page, "Who led the marmalade jury?")
    page.wait_for_selector("#source-view #qa-target", timeout=30_000)
    first = page.locator("#transcript .qa-excerpt").first
    assert HOSTILE_NAME in first.locator(".qa-cite").inner_text()
    assert HOSTILE_NAME in page.locator("#documents").inner_text()
    _no_markup(page)
    assert _body_style(page) == style_before
    page.wait_for_timeout(500)
    assert page.dialogs == []


SESSIONS = 40


def test_concurrent_sessions_each_download_their_own_answer(browser, app_url: str):
    """40 sessions ask at once, then each downloads: every file holds its own question."""
    topics = ["Hamas delegation", "Liwa al-Quds", "Palmyra airport", "Fourth Division", "seed library"]
    contexts, pages = [], []
    for _ in range(SESSIONS):
        context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.goto(app_url)
        contexts.append(context)
        pages.append(page)
    questions = [f"What is said about the {topics[i % len(topics)]}, session {i}?" for i in range(SESSIONS)]
    for page, question in zip(pages, questions, strict=True):
        page.wait_for_selector("#question textarea", timeout=60_000)
        page.fill("#question textarea", question)
        page.click("#ask")
    leaks = []
    for i, (page, question) in enumerate(zip(pages, questions, strict=True)):
        page.wait_for_function(
            "q => document.querySelector('#transcript').innerText.includes(q)", arg=question, timeout=120_000
        )
        page.get_by_text("Export", exact=True).click()
        with page.expect_download(timeout=30_000) as download:
            page.click("#download")
        text = Path(download.value.path()).read_text(encoding="utf-8")
        if question not in text or any(q in text for q in questions if q != question):
            leaks.append((i, text[:120]))
    for context in contexts:
        context.close()
    assert leaks == []


def test_upload_named_like_an_indexed_document_asks_before_replacing(page, tmp_path: Path):
    folder = tmp_path / "clash"
    folder.mkdir()
    clash = folder / "kite-club.txt"
    clash.write_text("Kite club\n\nThe kite club flies on the dunes every Sunday morning.")
    page.locator("#upload input[type=file]").set_input_files(str(clash))
    page.wait_for_function(
        "() => document.querySelector('#upload-status textarea').value.includes('Indexed')", timeout=120_000
    )
    clash.write_text("Kite club\n\nThe kite club now flies on the cliffs every Saturday evening.")
    page.locator("#upload input[type=file]").set_input_files(str(clash))
    page.wait_for_selector("#upload-keep", state="visible", timeout=60_000)
    assert "Replace the indexed version" in page.locator("#upload-status textarea").input_value()
    page.click("#upload-keep")
    page.wait_for_function(
        "() => document.querySelector('#upload-status textarea').value.includes('Indexed: ')", timeout=120_000
    )
    assert "(2)" in page.locator("#upload-status textarea").input_value()
    ask(page, "When does the kite club fly on the cliffs?")
    assert "(2)" in page.locator("#transcript .qa-excerpt .qa-cite").first.inner_text()


def _pick(page, elem_id: str, value: str) -> None:
    """Choose ``value`` in a Gradio dropdown by typing it."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(value)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def test_an_empty_question_gets_a_gentle_hint_not_an_error(page):
    page.click("#ask")
    page.wait_for_selector("#hint", state="visible", timeout=30_000)
    assert "Type a question first" in page.locator("#hint").inner_text()
    assert page.get_by_text("Error", exact=True).count() == 0
    ask(page, "Who commands Liwa al-Quds?")
    assert page.locator("#hint").is_hidden()


def test_a_document_filter_is_named_and_new_conversation_clears_every_panel(page):
    page.get_by_text("Options").click()
    _pick(page, "sources", "004_ea17900e9b06a4c9.txt")
    ask(page, "What is the capital of Australia?")
    transcript = page.locator("#transcript").inner_text()
    assert "Searched only in: 004_ea17900e9b06a4c9.txt" in transcript
    assert "The documents you chose do not answer this question." in transcript
    ask(page, "Who leads the Hamas delegation to Damascus?")
    page.wait_for_selector("#source-view #qa-target", timeout=30_000)
    page.click("#new-chat")
    page.wait_for_function("() => document.querySelector('#transcript').innerText.trim() === ''", timeout=30_000)
    assert page.locator("#source-view #qa-target").count() == 0
    assert page.locator("#download").is_hidden()


def test_remove_asks_first_and_can_be_undone(page, tmp_path: Path):
    note = tmp_path / "kite-festival.txt"
    note.write_text("Kite festival\n\nThe kite festival on the northern dunes is judged by Petra Lindgren.")
    upload_and_ask(page, note, "Who judges the kite festival?")
    assert "kite-festival.txt" in page.locator("#transcript .qa-excerpt .qa-cite").first.inner_text()
    assert page.locator("#removable input").input_value() == ""  # nothing preselected
    _pick(page, "removable", "kite-festival.txt")
    page.click("#remove")
    page.wait_for_selector("#remove-yes", state="visible", timeout=30_000)
    assert "Remove “Kite festival” (kite-festival.txt" in page.locator("#upload-status textarea").input_value()
    assert "kite-festival.txt" in page.locator("#documents").inner_text()  # not yet
    page.click("#remove-yes")
    page.wait_for_function(
        "() => document.querySelector('#upload-status textarea').value.includes('Removed kite-festival.txt')",
        timeout=60_000,
    )
    assert "kite-festival.txt" not in page.locator("#documents").inner_text()
    # The answer already on screen says its source is gone, and its citation says so too.
    page.wait_for_selector("#transcript .qa-excerpt.stale", timeout=30_000)
    gone = page.locator("#transcript .qa-excerpt.stale")
    assert gone.count() == 1 and "kite-festival.txt" in gone.locator(".qa-cite").inner_text()
    assert "Removed from the index" in gone.inner_text() and gone.locator(".qa-original").count() == 0
    assert page.locator("#transcript .qa-ref.stale").count() >= 1
    gone.locator(".qa-cite").click()
    page.wait_for_function(
        "() => document.querySelector('#source-view').innerText.includes('not in the index')", timeout=30_000
    )
    page.click("#remove-undo")
    page.wait_for_function(
        "() => document.querySelector('#upload-status textarea').value.includes('Put back: kite-festival.txt')",
        timeout=60_000,
    )
    assert "kite-festival.txt" in page.locator("#documents").inner_text()
    page.wait_for_function("() => !document.querySelector('#transcript .stale')", timeout=30_000)
    assert page.locator("#transcript .qa-excerpt").first.locator(".qa-original").count() == 1
    ask(page, "Who judges the kite festival on the dunes?")
    assert "Petra Lindgren" in page.locator("#transcript .qa-excerpt").first.inner_text()


def _turns(page):
    """The transcript's turns, oldest first (the page shows the newest first)."""
    turns = page.locator("#transcript .qa-turn")
    return [turns.nth(i) for i in reversed(range(turns.count()))]


def _open_citation(page, clickable, title: str) -> None:
    """Click ``clickable``; the Source view shows the document called ``title``, the page stays put."""
    clickable.scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    clickable.click()
    page.wait_for_function(
        "t => (document.querySelector('#source-view h3') || {}).innerText === t"
        " && !!document.getElementById('qa-target')",
        arg=title,
        timeout=30_000,
    )
    page.wait_for_timeout(600)  # the Source view scrolls itself after 150 ms
    assert page.evaluate("window.scrollY") == scrolled  # only the Source view scrolled


def _shown_in_source_view(page) -> bool:
    """The highlighted passage lies inside the Source view's visible area."""
    return page.evaluate(
        """() => {
          const box = document.getElementById('qa-source').getBoundingClientRect();
          const mark = document.getElementById('qa-target').getBoundingClientRect();
          return mark.top >= box.top - 1 && mark.top < box.bottom && mark.height > 0;
        }"""
    )


def test_citations_in_an_earlier_turn_open_their_passage_in_the_source_view(page):
    ask(page, "When was Liwa al-Quds formed?")
    ask(page, "Who leads the Hamas delegation to Damascus?")
    # The Source view follows the latest answer (the first one's passage may still be shown a moment).
    page.wait_for_function(
        "() => (document.querySelector('#source-view h3') || {}).innerText?.includes('Hamas')"
        " && !!document.getElementById('qa-target')",
        timeout=30_000,
    )
    first, second = _turns(page)
    labels = page.evaluate("() => [...document.querySelectorAll('#source-pick input')].map(i => i.value)")
    assert labels and labels[0].startswith("[1] Hamas: We Started a New Chapter with Damascus ¶")
    assert second.locator(".qa-answer .qa-ref").count() >= 1

    # The [1] marker of the FIRST turn's answer line: its passage, highlighted, in view in the panel.
    marker = first.locator(".qa-answer .qa-ref").first
    line = first.locator(".qa-answer q").first.inner_text()
    card = first.locator(".qa-excerpt").first
    assert line in card.locator(".qa-quote").inner_text() and line == card.locator("mark").first.inner_text()
    title = "Glance at Palestinian movement Liwa Al-Quds supporting Syrian president Assad"
    _open_citation(page, marker, title)
    target = page.locator("#source-view #qa-target")
    assert " ".join(target.inner_text().split()) == " ".join(card.locator(".qa-quote").inner_text().split())
    assert marker.get_attribute("data-source") == "001_6ca5efe176715221.txt"
    assert "001_6ca5efe176715221.txt" in page.locator("#source-view code").inner_text()
    assert _shown_in_source_view(page)

    # A card's citation line, in the same earlier turn: the other source, whose note stays visible.
    differs = first.locator(".qa-excerpt", has=page.locator(".qa-note"))
    assert "which differs" in differs.locator(".qa-note").inner_text() and differs.is_visible()
    _open_citation(page, differs.locator(".qa-cite"), "Assad’s Regime Offers “Media” Solidarity to Palestine")
    assert "2014" in page.locator("#source-view #qa-target").inner_text()
    assert _shown_in_source_view(page)

    _open_citation(page, marker, title)  # and back again: the same click works twice
    shot(page, "citation-earlier-turn")


def _luminance(rgb) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _over(top, bottom):
    """``top`` (r, g, b, alpha) composited over the opaque ``bottom``."""
    a = top[3]
    return [top[i] * a + bottom[i] * (1 - a) for i in range(3)] + [1.0]


# The text colour of the first element matching a selector, and the background colours from it
# up to the first opaque one (a page's canvas is white when nothing is opaque).
COLOURS_JS = """sel => {
  const rgba = (c) => {
    const m = c.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const el = document.querySelector(sel);
  const layers = [];
  for (let n = el; n; n = n.parentElement) {
    const bg = rgba(getComputedStyle(n).backgroundColor);
    if (bg[3] > 0) layers.push(bg);
    if (bg[3] >= 1) break;
  }
  return {fg: rgba(getComputedStyle(el).color), layers};
}"""


def _contrast(page, selector: str) -> float:
    """The WCAG contrast ratio of the text matching ``selector`` against its effective background."""
    colours = page.evaluate(COLOURS_JS, selector)
    background = [255.0, 255.0, 255.0, 1.0]
    for layer in reversed(colours["layers"]):
        background = _over(layer, background)
    light, dark = sorted((_luminance(_over(colours["fg"], background)), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_answers_read_well_in_light_and_dark_mode(browser, app_url: str, scheme: str):
    with open_page(browser, app_url, color_scheme=scheme) as page:
        ask(page, "When was Liwa al-Quds formed?")
        page.wait_for_selector("#source-view #qa-target", timeout=30_000)
        page.wait_for_timeout(300)
        shot(page, f"answer-{scheme}")
        is_dark = page.evaluate("() => document.body.classList.contains('dark')")
        assert is_dark == (scheme == "dark")
        ratios = {
            selector: _contrast(page, selector)
            for selector in (
                "#transcript .qa-quote",
                "#transcript .qa-quote mark",
                "#transcript .qa-cite",
                "#transcript .qa-note",
                "#transcript .qa-answer q",
                "#transcript .qa-ref",
                "#transcript .qa-tool",
                "#source-view .qa-source",
                "#source-view #qa-target",
            )
        }
        assert all(ratio >= 4.5 for ratio in ratios.values()), ratios


def test_the_theme_toggle_switches_and_a_reload_keeps_the_choice(browser, app_url: str):
    with open_page(browser, app_url, color_scheme="light") as page:
        ask(page, "When was Liwa al-Quds formed?")
        assert not page.evaluate("() => document.body.classList.contains('dark')")
        page.click("#theme-toggle")
        assert page.evaluate("() => document.body.classList.contains('dark')")
        assert _contrast(page, "#transcript .qa-quote") >= 4.5  # readable in the theme switched to
        assert "__theme=dark" in page.url
        page.reload()
        page.wait_for_selector("#question textarea", timeout=60_000)
        assert page.evaluate("() => document.body.classList.contains('dark')")  # the choice survives a reload
        page.click("#theme-toggle")
        assert not page.evaluate("() => document.body.classList.contains('dark')") and "__theme=light" in page.url


def _box(page, selector: str) -> dict:
    return page.evaluate(
        "s => { const r = document.querySelector(s).getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; }",
        selector,
    )


def test_on_a_phone_the_answer_comes_first_stays_in_view_and_the_page_fits(browser, app_url: str):
    with open_page(browser, app_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True) as page:
        ask(page, "Who leads the Hamas delegation to Damascus?")
        page.wait_for_selector("#source-view #qa-target", timeout=30_000)
        page.wait_for_timeout(600)  # the Source view scrolls itself after 150 ms; nothing else may scroll
        answer, source = _box(page, "#transcript .qa-answer"), _box(page, "#source-view")
        assert page.evaluate("window.scrollY") == 0
        assert 0 <= answer["top"] < 844  # the answer line is on screen, not scrolled past
        assert answer["bottom"] < source["top"]  # one column: the answers first, the Source view below
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        shot(page, "answer-390px")


def test_the_documents_table_shows_every_column_inside_its_panel(page):
    panel = _box(page, "#documents")
    headers = page.locator("#documents thead th")
    names = [headers.nth(i).inner_text().strip() for i in range(headers.count())]
    assert names[:3] == ["Title", "File", "Paragraphs"]
    for i in range(3):
        cell = headers.nth(i).bounding_box()
        assert panel["left"] - 1 <= cell["x"] and cell["x"] + cell["width"] <= panel["right"] + 1, (names[i], panel)


# Watches the page while it indexes: the most progress bars shown at once, where, and whether
# the documents table was ever covered by one (or hidden).
WATCH_INDEXING_JS = """() => {
  const seen = window.qaSeen = {most: 0, where: [], listCovered: false};
  const look = () => {
    // A status tracker Gradio keeps hidden ("hide", or "hidden" for show_progress="hidden") is no bar.
    const bars = [...document.querySelectorAll('.progress-text')].filter(
      e => e.offsetParent !== null && !e.closest('.hide, .hidden'));
    seen.most = Math.max(seen.most, bars.length);
    for (const bar of bars) {
      const id = (bar.closest('[id]') || {}).id;
      if (!seen.where.includes(id)) seen.where.push(id);
    }
    const docs = document.querySelector('#documents');
    if (!docs || docs.offsetParent === null || docs.querySelector('.wrap.default:not(.hide)')) seen.listCovered = true;
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def test_indexing_shows_one_progress_bar_keeps_the_list_and_empties_the_drop_zone(
    page, app_url: str, app_index: Path, tmp_path: Path
):
    note = tmp_path / "harbour-notes.txt"
    note.write_text("Harbour notes\n\nThe harbour master of Port Elin is Mara Quist.", encoding="utf-8")
    page.evaluate(WATCH_INDEXING_JS)
    page.locator("#upload input[type=file]").set_input_files(str(note))
    page.wait_for_function(
        "() => document.querySelector('#upload-status textarea').value.includes('Indexed: harbour-notes.txt')",
        timeout=120_000,
    )
    seen = page.evaluate("window.qaSeen")
    assert seen["most"] == 1 and seen["where"] == ["upload-status"], seen
    assert not seen["listCovered"], seen
    assert "harbour-notes.txt" in page.locator("#documents").inner_text()
    page.wait_for_function("() => !document.querySelector('#upload').innerText.includes('harbour-notes')")
    assert page.locator("#upload input[type=file]").count() == 1  # ready for the next file
    # The real server kept the upload in the index folder and serves its original from there.
    kept = list(app_index.glob("originals/*/harbour-notes.txt"))
    assert len(kept) == 1 and kept[0].read_bytes() == note.read_bytes()
    original = page.request.get(f"{app_url.rstrip('/')}/original/harbour-notes.txt")
    assert original.status == 200 and original.body() == note.read_bytes()


def test_the_whole_conversation_downloads_as_markdown(browser, app_url: str):
    with open_page(browser, app_url, accept_downloads=True) as page:
        ask(page, "When was Liwa al-Quds formed?")
        ask(page, "Who leads the Hamas delegation to Damascus?")
        page.get_by_text("Export", exact=True).click()
        with page.expect_download(timeout=30_000) as download:
            page.click("#download-conversation")
        assert download.value.suggested_filename == "conversation.md"
        text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# Conversation")
    assert text.index("## When was Liwa al-Quds formed?") < text.index("## Who leads the Hamas delegation to Damascus?")
    # What documents wrote is escaped as Markdown (rendered, the file name reads 004_ea17….txt).
    assert "**Answer, quoted:**" in text and "(004\\_ea17900e9b06a4c9.txt, ¶" in text and ", characters " in text


def test_copy_quote_and_copy_citation_put_them_on_the_clipboard(browser, app_url: str):
    with open_page(browser, app_url, permissions=["clipboard-read", "clipboard-write"]) as page:
        ask(page, "Who leads the Hamas delegation to Damascus?")
        card = page.locator("#transcript .qa-excerpt").first
        cite = card.locator(".qa-cite").inner_text()
        card.get_by_role("button", name="Copy citation").click()
        card.get_by_role("button", name="Copied").wait_for(timeout=10_000)
        copied = page.evaluate("navigator.clipboard.readText()")
        title, _, rest = copied.partition(" (")
        assert title == "Hamas: We Started a New Chapter with Damascus"
        assert rest.startswith("004_ea17900e9b06a4c9.txt, ¶") and rest.endswith(")")
        paragraph, offsets = rest[:-1].split(", ")[1:]
        assert f"{paragraph}, {offsets}" in cite  # ¶ and "characters start–end", as the card shows them
        card.get_by_role("button", name="Copy citation").wait_for(timeout=10_000)  # its label is back
        card.get_by_role("button", name="Copy quote").click()
        card.get_by_role("button", name="Copied").wait_for(timeout=10_000)
        assert page.evaluate("navigator.clipboard.readText()") == card.locator(".qa-quote").inner_text()
        # Open original: a download of the indexed file, from a link that names only the id.
        href = card.locator(".qa-original").get_attribute("href")
        assert href == "original/004_ea17900e9b06a4c9.txt"
        response = page.request.get(app_url + href)
        assert response.status == 200 and "attachment" in response.headers["content-disposition"]
        assert response.body() == (SEEDS / "004_ea17900e9b06a4c9.txt").read_bytes()
