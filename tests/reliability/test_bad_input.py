"""Bad input gets a clear message, within a time and memory bound, and what was stored stays."""

from __future__ import annotations

import codecs
import gzip
import random
import resource
import sys
import threading
import time
from pathlib import Path

import pytest

from rag import Engine, Settings, sandbox
from rag.config import MAX_FILE_BYTES
from rag.documents import decode_text
from rag.index import _Embedding
from tests.reliability import hostile
from tests.reliability.conftest import TokenizerEmbedder, observe

#: Every refusal must come back this fast (seconds), whatever the file.
REFUSAL_SECONDS = 30
#: ... and must not grow the engine's own process by more than this (MB).
PARENT_GROWTH_MB = 200


def _refused(engine: Engine, path: Path, reason: str | tuple[str, ...]) -> None:
    """Add ``path``; it must be refused quickly with ``reason`` (or one of them), and nothing may change."""
    before = observe(engine)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    report = engine.add([path])
    elapsed = time.monotonic() - started
    assert not report.added and not report.updated, report
    assert len(report.refused) == 1, report
    reasons = (reason,) if isinstance(reason, str) else reason
    assert any(r in report.refused[0].reason for r in reasons), report.refused[0].reason
    assert elapsed < REFUSAL_SECONDS, f"refusal took {elapsed:.1f} s"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before < PARENT_GROWTH_MB
    assert observe(engine) == before  # index checksum, documents and answers unchanged


# -- plain files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "holds no text"),
        ("blank.md", b"  \n\t\n   \r\n", "holds no text"),
        ("binary.txt", bytes(range(256)) * 64, "looks binary"),
        ("elf.txt", b"\x7fELF\x02\x01\x01\x00" + bytes(4000), "looks binary"),
        ("program.exe", b"MZ\x90\x00", "unsupported file type '.exe'"),
        ("archive.zip", b"PK\x03\x04", "unsupported file type '.zip'"),
        ("README", b"\x7fELF\x02\x01\x01\x00" + bytes(4000), "looks binary"),  # read as text, and refused
        ("noextension", b"Plain words.", "unsupported file type '(none)'"),
        ("settings.yaml", b"key: value", "unsupported file type '.yaml'"),
        ("bomb.txt.gz", gzip.compress(b"a" * (MAX_FILE_BYTES + 1)), "unpacks to over"),
        ("fake.txt.gz", b"not gzip at all", "not a readable gzip file"),
        ("mixed.txt", "café naïve ".encode() * 20 + "café".encode("cp1252") * 20, "stray bytes"),
        (
            "noise.txt",
            bytes((random.Random(0).randrange(0xA0, 0x100) if i % 5 else 0x20) for i in range(4000)),
            "cannot tell the file's text encoding",
        ),
        ("furniture.html", b"<html><body><nav>Home | News</nav><script>x()</script></body></html>", "no text"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else "",
)
def test_bad_file_is_refused_and_nothing_changes(seeded: Engine, tmp_path: Path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    _refused(seeded, path, reason)


def test_missing_file_is_refused(seeded: Engine, tmp_path: Path):
    _refused(seeded, tmp_path / "gone.txt", "no such file")


def test_file_over_the_size_limit_is_refused_unread(tmp_path: Path):
    settings = Settings(index_dir=tmp_path / "index", max_file_bytes=1000)
    engine = Engine.open(settings=settings, embedder=TokenizerEmbedder())
    engine.add([_write(tmp_path / "small.txt", "A small file about the harbour.")])
    _refused(engine, _write(tmp_path / "big.txt", "word " * 1000), "over the 1,000-byte limit")


# -- encodings ----------------------------------------------------------------------------

FRENCH = (
    "Le conseil municipal s'est réuni à Genève pour étudier le budget de la bibliothèque.\n\n"
    "Les élèves ont présenté leurs travaux sur l'été à la maison de quartier, où l'on servait du café."
)
SMART = "The mayor said: “We will open the façade in 2014 — not before.” It cost €12,000."


@pytest.mark.parametrize(
    ("encoding", "text", "bom"),
    [
        ("cp1252", SMART, b""),
        ("latin-1", FRENCH, b""),
        ("utf-16-le", FRENCH, codecs.BOM_UTF16_LE),
        ("utf-16-be", SMART, codecs.BOM_UTF16_BE),
        ("utf-16-le", FRENCH, b""),  # no BOM: recognised from its zero bytes
        ("utf-8", SMART, codecs.BOM_UTF8),
        ("utf-8", FRENCH.replace("\n", "\r\n"), b""),
    ],
)
def test_encodings_are_decoded_exactly(fake_engine: Engine, tmp_path: Path, encoding, text, bom):
    path = tmp_path / f"text-{encoding}.txt"
    path.write_bytes(bom + text.encode(encoding))
    report = fake_engine.add([path])
    assert report.added == [path.name], report
    stored = fake_engine.document(path.name).text
    assert stored == text.replace("\r\n", "\n")  # BOM not indexed, every accent right
    assert "\ufeff" not in stored and "\ufffd" not in stored
    for passage in fake_engine.passages(path.name):
        assert stored[passage.start : passage.end] == passage.text


def test_replacement_characters_already_in_a_file_are_reported(fake_engine: Engine, tmp_path: Path):
    path = _write(tmp_path / "damaged.txt", "The mayor of Gen\ufffdve opened the library on Tuesday morning.")
    report = fake_engine.add([path])
    assert report.added == ["damaged.txt"]
    assert len(report.warnings) == 1 and "U+FFFD" in report.warnings[0].reason


def test_decoding_never_invents_replacement_characters():
    rng = random.Random(7)
    for _ in range(200):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        try:
            text = decode_text(data)
        except Exception as exc:  # noqa: BLE001 - only refusals are allowed
            assert type(exc).__name__ == "UnreadableDocument"
            continue
        assert "\ufffd" not in text


# -- one enormous line ----------------------------------------------------------------------


@pytest.mark.slow  # many seconds: a large input, a bomb or many processes
def test_ten_megabyte_single_line_is_cut_into_bounded_passages_quickly(tmp_path: Path):
    rng = random.Random(3)
    words = "the army said on Monday that its forces had taken several villages near Aleppo".split()
    pieces, size = [], 0
    while size < 10 * 1024 * 1024:
        word = rng.choice(words) + (". The" if rng.random() < 0.02 else "")
        pieces.append(word)
        size += len(word) + 1
    path = _write(tmp_path / "one-line.txt", " ".join(pieces))
    assert "\n" not in path.read_text()

    embedder = _CountingEmbedder()
    engine = Engine.open(settings=Settings(index_dir=tmp_path / "index"), embedder=embedder)
    started = time.monotonic()
    with pytest.raises(_Stop):
        engine.add([path])
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"splitting took {elapsed:.1f} s"
    texts = embedder.first_batch
    assert len(texts) > 1000
    assert max(embedder.count_tokens(texts)) <= embedder.max_tokens  # nothing truncated by the model
    assert max(map(len, texts)) <= Settings().max_passage_chars + 200


def test_a_long_blob_without_spaces_still_fits_the_model(fake_engine: Engine, tmp_path: Path):
    import base64

    blob = base64.b64encode(random.Random(5).randbytes(300_000)).decode()
    embedder = _CountingEmbedder()
    engine = Engine.open(settings=Settings(index_dir=tmp_path / "index"), embedder=embedder)
    with pytest.raises(_Stop):
        engine.add([_write(tmp_path / "blob.md", f"# Key material\n\n{blob}\n")])
    assert max(embedder.count_tokens(embedder.first_batch)) <= embedder.max_tokens


class _Stop(Exception):
    pass


class _CountingEmbedder(TokenizerEmbedder):
    """Records what the engine would embed, then stops the ingest (the vectors do not matter)."""

    first_batch: list[str] = []
    _all: list[str] = []

    def encode_documents(self, texts):
        self.first_batch = list(self._all)
        raise _Stop

    def _capture(self, texts):
        self._all = texts


@pytest.fixture(autouse=True)
def _capture_all_inputs(monkeypatch):
    """Let _CountingEmbedder see every text of an ingest (not just the first chunk)."""
    original = _Embedding.each

    def each(self, texts, keys, groups):
        if isinstance(self.embedder, _CountingEmbedder):
            self.embedder._capture(texts)
        return original(self, texts, keys, groups)

    monkeypatch.setattr(_Embedding, "each", each)


# -- PDF ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bombs")
    hostile.nested_flate_bomb(folder / "flate-bomb.pdf", unpacked=1 << 30)
    hostile.docx_zip_bomb(folder / "zip-bomb.docx", unpacked=1 << 30)
    return folder


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (hostile.malformed_pdf, "cannot be parsed"),
        (hostile.truncated_pdf, "cannot be parsed"),
        (hostile.encrypted_pdf, "encrypted"),
    ],
)
def test_broken_pdf_is_refused(seeded: Engine, tmp_path: Path, build, reason):
    _refused(seeded, build(tmp_path / f"{build.__name__}.pdf"), reason)


def test_pdf_with_a_false_stream_length_is_read_as_a_viewer_reads_it(seeded: Engine, tmp_path: Path):
    # A /Length of a petabyte: pdfium, like a browser, finds the stream's real end.
    started = time.monotonic()
    report = seeded.add([hostile.huge_length_pdf(tmp_path / "huge_length.pdf")])
    assert time.monotonic() - started < REFUSAL_SECONDS
    assert report.added == ["huge_length.pdf"] and "Hello" in seeded.document("huge_length.pdf").text


@pytest.mark.slow  # many seconds: a large input, a bomb or many processes
def test_pdf_decompression_bomb_is_refused(seeded: Engine, bombs: Path):
    # pdfium inflates until the worker's memory limit stops it: the worker dies, the file is refused.
    _refused(seeded, bombs / "flate-bomb.pdf", ("cannot be parsed", "parser crashed", "memory"))


def _worker_failing_on(name: str, failure: str) -> list[str]:
    """A real parser worker command, except that reading a file called ``name`` runs
    ``failure`` (Python statements on one line) instead."""
    code = (
        "import os, sys, time\nimport rag.sandbox as worker\nread = worker.load_document\n"
        "def load_document(path, *args, **kwargs):\n"
        f"    if path.name == {name!r}:\n        {failure}\n"
        "    return read(path, *args, **kwargs)\n"
        f"worker.load_document = load_document\nworker.serve({Settings().parse_memory_mb})"
    )
    return [sys.executable, "-c", code]


def _engine_with_parser(tmp_path: Path, parser: sandbox.Sandbox) -> Engine:
    settings = Settings(index_dir=tmp_path / "index", parse_timeout=parser.timeout)
    engine = Engine.open(settings=settings, embedder=TokenizerEmbedder(), parser=parser)
    engine.add([_write(tmp_path / "fine.txt", "A fine paragraph about the harbour and its boats.")])
    return engine


def test_parser_that_runs_out_of_time_is_killed_and_the_file_refused(tmp_path: Path):
    parser = sandbox.Sandbox(2, Settings().parse_memory_mb, _worker_failing_on("hang.txt", "time.sleep(600)"))
    engine = _engine_with_parser(tmp_path, parser)
    _refused(engine, _write(tmp_path / "hang.txt", "A paragraph the stuck worker never reads."), "longer than 2 s")
    report = engine.add([_write(tmp_path / "after.txt", "Another fine paragraph about the lighthouse.")])
    assert report.added == ["after.txt"]  # a fresh worker took over
    parser.close()


def test_parser_that_crashes_is_reported_and_replaced(tmp_path: Path):
    crash = _worker_failing_on("crash.txt", "os.abort()")
    parser = sandbox.Sandbox(Settings().parse_timeout, Settings().parse_memory_mb, crash)
    engine = _engine_with_parser(tmp_path, parser)
    _refused(engine, _write(tmp_path / "crash.txt", "A paragraph the crashing worker never reads."), "parser crashed")
    assert engine.add([_write(tmp_path / "after.txt", "Another paragraph about the lighthouse.")]).added
    parser.close()


# -- DOCX -----------------------------------------------------------------------------------


@pytest.mark.slow  # many seconds: a large input, a bomb or many processes
def test_docx_zip_bomb_is_refused_from_its_declared_sizes(seeded: Engine, bombs: Path):
    _refused(seeded, bombs / "zip-bomb.docx", "zip bomb")


def test_docx_external_entities_are_never_resolved(fake_engine: Engine, tmp_path: Path):
    secret = _write(tmp_path / "secret.txt", "TOPSECRETVALUE")
    doctype = f'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    path = hostile.docx_with_entities(tmp_path / "xxe.docx", doctype, "Before the entity &xxe; after it")
    report = fake_engine.add([path])
    texts = [d.text for d in fake_engine.documents()]
    assert not any("TOPSECRETVALUE" in t for t in texts), report


def test_docx_entity_expansion_bomb_is_refused(seeded: Engine, tmp_path: Path):
    entities = '<!ENTITY a "haha">' + "".join(
        f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    path = hostile.docx_with_entities(tmp_path / "laughs.docx", f"<!DOCTYPE w:document [{entities}]>", "Ha &i; end")
    _refused(seeded, path, "cannot be parsed")


# -- HTML -----------------------------------------------------------------------------------


def test_html_script_and_style_are_never_indexed(fake_engine: Engine, tmp_path: Path):
    page = (
        "<html><head><title>Harbour news</title><style>.evilStyleRule { color: red }</style>"
        "<script>var evilScriptVariable = 1;</script></head><body>"
        "<p>The harbour reopened on Tuesday after the storm damaged the pier.</p>"
        "<script type='module'>import('evilModuleImport')</script><noscript>evilNoscriptText</noscript>"
        "<p>Fishing boats returned to their moorings by the evening tide.</p>"
        "<template>evilTemplateText</template><svg><style>evilSvgStyle</style></svg></body></html>"
    )
    fake_engine.add([_write(tmp_path / "page.html", page)])
    text = fake_engine.document("page.html").text
    assert "harbour reopened" in text and "moorings" in text
    for word in ("evilStyleRule", "evilScriptVariable", "evilModuleImport", "evilNoscript", "evilTemplate", "evilSvg"):
        assert word not in text


def _big_page(path: Path, size: int) -> Path:
    paragraph = "<p>The council met on Tuesday to discuss the new budget for the city library and its branches.</p>\n"
    row = '<div class="row"><span class="cell"><a href="#">x</a></span></div>\n'
    with open(path, "w") as fh:
        fh.write("<html><head><title>Big page</title></head><body>")
        written, i = 0, 0
        while written < size:
            chunk = paragraph if i % 200 == 0 else row
            fh.write(chunk)
            written, i = written + len(chunk), i + 1
        fh.write("</body></html>")
    return path


@pytest.mark.slow  # many seconds: a large input, a bomb or many processes
def test_fifty_megabyte_page_is_parsed_within_the_memory_bound(tmp_path: Path):
    engine = Engine.open(settings=Settings(index_dir=tmp_path / "index"), embedder=TokenizerEmbedder())
    page = _big_page(tmp_path / "big.html", 50_000_000)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = engine.add([page])
    assert report.added == ["big.html"], report
    peak = sandbox.shared(Settings().parse_timeout, Settings().parse_memory_mb).peak_memory_mb()
    assert peak is not None and peak < Settings().parse_memory_mb + 300
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before < 400


def test_page_over_the_memory_bound_is_refused_and_the_app_keeps_answering(seeded: Engine, tmp_path: Path):
    from dataclasses import replace

    seeded.settings = replace(seeded.settings, parse_memory_mb=300)
    page = _big_page(tmp_path / "big.html", 50_000_000)
    latencies: list[float] = []
    done = threading.Event()

    def ask_meanwhile():
        while not done.is_set():
            started = time.monotonic()
            assert seeded.ask("Who leads the Hamas delegation to Damascus?").answered
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)

    asker = threading.Thread(target=ask_meanwhile)
    asker.start()
    try:
        _refused(seeded, page, "over 300 MB of memory")
    finally:
        done.set()
        asker.join()
    assert latencies and max(latencies) < 2.0


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_genuinely_large_docx_is_read_not_timed_out(fake_engine: Engine, tmp_path: Path):
    """30,000 paragraphs: python-docx's per-paragraph style lookup once made this take over 30 s."""
    import docx

    document = docx.Document()
    document.add_heading("Harbour ledger", level=1)
    for i in range(30_000):
        document.add_paragraph(f"Entry {i}: the harbour master logged boat number {i} on the morning tide.")
    document.save(tmp_path / "ledger.docx")
    from dataclasses import replace

    fake_engine.settings = replace(fake_engine.settings, parse_timeout=20)
    report = fake_engine.add([tmp_path / "ledger.docx"])
    assert report.added == ["ledger.docx"], report
    assert fake_engine.document("ledger.docx").title == "Harbour ledger"


def test_absurdly_deep_html_is_refused_at_once(seeded: Engine, tmp_path: Path):
    """The parser's time grows with the square of the nesting: 100,000 levels took about a minute."""
    page = tmp_path / "deep.html"
    page.write_text("<html><body>" + "<div>" * 100_000 + "deep text" + "</div>" * 100_000 + "</body></html>")
    before = observe(seeded)
    started = time.monotonic()
    report = seeded.add([page])
    assert time.monotonic() - started < 10
    assert not report.changed and "nest over 2,000 levels" in report.refused[0].reason
    assert observe(seeded) == before
    slashed = tmp_path / "slashed.html"  # HTML ignores "/>" on a div: these nest too
    slashed.write_text("<html><body>" + "<div/>" * 100_000 + "deep text</body></html>")
    assert "nest over" in seeded.add([slashed]).refused[0].reason
    ordinary = tmp_path / "list.html"  # unclosed <p> and <li>, svg paths and scripts are not nesting
    ordinary.write_text(
        "<html><head><script>for (i = 0; i < e.length; i++) { if (a < b) c(); }</script></head><body>"
        + '<svg viewBox="0 0 9 9">'
        + '<path d="M0 0L9 9"/>' * 3000
        + "</svg>"
        + "<p>Item notes<ul><li>apples<li>pears</ul>" * 3000
        + "</body></html>"
    )
    assert Engine.open(settings=seeded.settings, embedder=seeded._embedder).add([ordinary]).added == ["list.html"]


def test_a_pdf_repeating_one_stream_on_every_page_is_read_once_or_refused(seeded: Engine, tmp_path: Path):
    from tests.factories import shared_stream_pdf

    heavy = [f"Line {i} of the page text about the harbour." for i in range(3000)]
    bomb = shared_stream_pdf(tmp_path / "bomb.pdf", 1999, heavy)
    before = observe(seeded)
    started = time.monotonic()
    report = seeded.add([bomb])
    assert time.monotonic() - started < 30  # page by page, it took minutes
    if report.refused:
        assert not report.changed and "over 20,000,000 characters" in report.refused[0].reason
        assert observe(seeded) == before
    else:  # read once: the page's passages are indexed once, not 1,999 times
        assert report.added == ["bomb.pdf"] and seeded.passage_count("bomb.pdf") < 100
    light = shared_stream_pdf(tmp_path / "leaflet.pdf", 40, ["The ferry leaves the west quay at nine."])
    assert seeded.add([light]).added == ["leaflet.pdf"]
    assert seeded.ask("When does the ferry leave the west quay?").excerpts[0].source == "leaflet.pdf"
