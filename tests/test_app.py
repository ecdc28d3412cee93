"""The app's wiring, built in-process around a small engine: which routes exist for whom."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SEEDS

gr = pytest.importorskip("gradio")

WRITES = {"upload", "replace_pending", "keep_both", "remove"}


def _functions(demo) -> set[str]:
    return {getattr(f.fn, "__name__", "") for f in demo.fns.values() if f.fn is not None}


@pytest.fixture
def engine(fake_engine):
    fake_engine.add([SEEDS])
    return fake_engine


def test_a_read_only_app_has_no_function_that_changes_the_index(engine):
    from app import build_app

    assert WRITES <= _functions(build_app(engine))
    read_only = build_app(engine, read_only=True)
    assert not WRITES & _functions(read_only)
    assert {"api_ask", "api_documents"} <= _functions(read_only)


def test_a_read_only_start_writes_nothing(tmp_path: Path):
    from app import open_engine
    from rag import Settings

    engine = open_engine(Settings(index_dir=tmp_path / "index"), SEEDS, read_only=True)
    assert not engine.exists and not (tmp_path / "index").exists()


def test_an_unknown_name_costs_a_password_check(monkeypatch):
    import app
    from rag.accounts import Account, hash_password

    checked: list[str] = []
    monkeypatch.setattr(app, "check_password", lambda password, digest: checked.append(digest) or False)
    accounts = {"ada": Account("ada", "editor", hash_password("right password", iterations=1000))}
    assert not app._signs_in(accounts, "nobody", "guess")
    assert checked and checked[0].startswith("pbkdf2_sha256$")


def _function(demo, name: str):
    return next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == name)


def test_a_clicked_citation_opens_its_passage_and_nothing_else(engine):
    from app import build_app

    show = _function(build_app(engine, read_only=True), "show_request")
    document = engine.documents()[0]
    start, end = 10, 40
    page = show(f"{document.id}|{start}|{end}")
    assert 'id="qa-target"' in page and document.title.split()[0] in page
    assert "not in the index" in show(f"../../etc/passwd|{start}|{end}")
    assert "not in the document" in show(f"{document.id}|0|{len(document.text) + 1}")
    assert "not in the document" in show(f"{document.id}|40|10")
    assert "could not be read" in show("no offsets here") and "could not be read" in show(None)
    assert "<script>" not in show("<script>alert(1)</script>|0|5")


def _originals(engine, sign_in: bool = False, token: str | None = None):
    """A client of the /original route alone, on an app holding sign-in tokens as Gradio's does;
    with ``token``, the client carries it in Gradio's cookie."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from app import original_route

    app = Starlette(routes=[original_route(engine, sign_in=sign_in)])
    app.cookie_id, app.tokens = "c00kie", {"t0ken": "ada"}
    return TestClient(app, cookies={"access-token-unsecure-c00kie": token} if token else None)


def test_open_original_serves_an_indexed_file_as_a_safe_download(engine):
    from rag.render import original_url

    document = engine.documents()[0]
    response = _originals(engine).get("/" + original_url(document.id))
    assert response.status_code == 200 and response.content == Path(document.path).read_bytes()
    assert response.headers["content-disposition"] == f"attachment; filename*=UTF-8''{document.id}"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"


REFUSED = "No document with that id is indexed now; only indexed documents can be opened.\n"


@pytest.mark.parametrize(
    "asked",
    [
        "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%2Fetc%2Fpasswd",
        "app.py",
        "..%2Fapp.py",
        "seeds%2F..%2Fapp.py",
        "nothing-like-it.txt",
        "../../../../etc/passwd",  # dot segments: the client, like any browser, resolves them away
        "/etc/passwd",
    ],
)
def test_open_original_refuses_any_id_not_indexed(engine, asked: str):
    response = _originals(engine).get("/original/" + asked)
    assert response.status_code == 404
    assert response.text == ("Not Found" if "../" in asked else REFUSED)


def test_open_original_refuses_a_file_changed_or_gone_since_it_was_indexed(engine, tmp_path: Path):
    note = tmp_path / "note.txt"
    note.write_text("Note\n\nThe ferry to Elin leaves at nine.", encoding="utf-8")
    engine.add([note])
    client = _originals(engine)
    assert client.get("/original/note.txt").status_code == 200
    note.write_text("Note\n\nThe ferry to Elin leaves at ten.", encoding="utf-8")
    changed = client.get("/original/note.txt")
    assert changed.status_code == 410 and "changed since it was indexed" in changed.text and "ten" not in changed.text
    note.unlink()
    gone = client.get("/original/note.txt")
    assert gone.status_code == 410 and gone.text.count("\n") == 1


def test_open_original_needs_sign_in_when_sign_in_is_on(engine):
    url = f"/original/{engine.documents()[0].id}"
    for token in (None, "forged"):
        refused = _originals(engine, sign_in=True, token=token).get(url)
        assert (refused.status_code, refused.text) == (401, "Sign in to open original files.\n")
    assert _originals(engine, sign_in=True, token="t0ken").get(url).status_code == 200
    assert _originals(engine).get(url).status_code == 200  # no sign-in: open to all, like the page


def test_a_turn_is_kept_as_data_redrawn_marked_when_its_document_goes_and_clean_when_it_returns(engine):
    from app import build_app

    demo = build_app(engine)
    chat_turn, page_of = _function(demo, "chat_turn"), _function(demo, "page_of")
    first = chat_turn("Who leads the Hamas delegation to Damascus?", 5, None, [], [])
    second = chat_turn("Who commands Liwa al-Quds?", 5, None, first[2], first[3])
    turns, conversation = second[3], second[6]
    assert [t.answer.question for t in turns] == ["Who commands Liwa al-Quds?", first[3][0].answer.question]
    assert conversation.index("## Who leads the Hamas") < conversation.index("## Who commands Liwa")
    cited = turns[0].answer.excerpts[0].source
    document = engine.document(cited)
    engine.remove(cited)
    assert 'class="qa-excerpt stale removed"' in page_of(turns) and "Removed from the index" in page_of(turns)
    engine.restore([document])
    assert page_of(turns) == second[1]  # as first drawn: nothing marked


def test_uploads_are_kept_by_the_index_so_their_originals_outlive_the_upload_cache(fake_engine, tmp_path: Path):
    """Gradio deletes its uploads after an hour (and at a restart); "Open original" must not."""
    import os
    import time

    from rag import originals

    limit = fake_engine.settings.max_file_bytes
    cache = tmp_path / "gradio-cache"
    cache.mkdir()
    upload = cache / "ferry.txt"
    upload.write_text("Ferries\n\nThe ferry to Elin leaves at nine.", encoding="utf-8")
    kept = originals.keep([upload], fake_engine.index_dir, limit)
    assert kept == originals.keep([upload], fake_engine.index_dir, limit)  # the same file twice: one copy
    fake_engine.add(kept)
    upload.unlink()  # the upload cache is cleaned
    document, data = fake_engine.original("ferry.txt")
    assert data == b"Ferries\n\nThe ferry to Elin leaves at nine." and "/originals/" in document.path

    def age_all() -> None:  # every copy last uploaded long ago
        past = time.time() - 2 * originals.GRACE_S
        for copy in (fake_engine.index_dir / originals.FOLDER).glob("*/*"):
            os.utime(copy, (past, past))

    stray = cache / "draft.txt"  # uploaded, then cancelled: never indexed
    stray.write_text("A draft nobody indexed.", encoding="utf-8")
    orphan = Path(originals.keep([stray], fake_engine.index_dir, limit)[0])
    indexed = [d.path for d in fake_engine.documents()]
    originals.keep([], fake_engine.index_dir, limit, indexed)
    assert orphan.exists()  # within the grace period another session may be about to index it
    age_all()
    assert originals.keep([stray], fake_engine.index_dir, limit, indexed) == [str(orphan)]  # uploaded again
    assert orphan.exists()  # ... so it is not pruned by that very upload
    age_all()
    originals.keep([], fake_engine.index_dir, limit, indexed)
    assert not orphan.exists() and fake_engine.original("ferry.txt")[1]  # the indexed one stays
    assert len(list((fake_engine.index_dir / originals.FOLDER).iterdir())) == 1
    assert not list((fake_engine.index_dir / originals.FOLDER).glob("*/.*.tmp"))


def test_simultaneous_uploads_of_one_file_each_get_the_whole_copy(fake_engine, tmp_path: Path):
    from concurrent.futures import ThreadPoolExecutor

    from rag import originals

    upload = tmp_path / "big.txt"
    upload.write_bytes(b"The harbour reopened on Tuesday.\n" * 200_000)
    with ThreadPoolExecutor(4) as pool:
        kept = list(pool.map(lambda _: originals.keep([upload], fake_engine.index_dir, 10**8)[0], range(8)))
    assert len(set(kept)) == 1 and Path(kept[0]).read_bytes() == upload.read_bytes()


def test_opening_originals_counts_toward_the_per_address_limit(engine):
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.testclient import TestClient

    from app import RequestLimits, original_route

    app = Starlette(routes=[original_route(engine)], middleware=[Middleware(RequestLimits, per_minute=30)])
    client = TestClient(app)
    seed = engine.documents()[0].id
    codes = [client.get(f"/original/{seed}").status_code for _ in range(6)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429  # bursts of a tenth of 30 a minute
    heads = [TestClient(app).head(f"/original/{seed}").status_code for _ in range(3)]
    assert heads[-1] == 429  # a HEAD reads and hashes the file too


def test_a_citation_of_a_document_indexed_again_opens_no_other_text(engine, tmp_path: Path):
    from app import build_app

    note = tmp_path / "ferry.txt"
    note.write_text("Ferries\n\nThe ferry to Elin leaves at nine every morning.", encoding="utf-8")
    engine.add([note])
    demo = build_app(engine)
    chat_turn, show_request = _function(demo, "chat_turn"), _function(demo, "show_request")
    turns = chat_turn("When does the ferry to Elin leave?", 5, None, [], [])[3]
    quoted = next(e for e in turns[0].answer.excerpts if e.source == "ferry.txt")
    click = f"ferry.txt|{quoted.start}|{quoted.end}"
    assert "qa-target" in show_request(click, turns)
    note.write_text("Ferries\n\nThe ferry to Elin now leaves at ten, on weekdays only.", encoding="utf-8")
    engine.add([note])
    assert "not in the document as it is indexed now" in show_request(click, turns)


def test_a_body_too_large_is_refused_before_it_is_read():
    """On a kept-alive connection the refusal goes out before any of the body is read (the
    server then drops it as it arrives, without the middleware waiting on it chunk by
    chunk). A connection the server closes after the request (a ``close`` token in any
    Connection header, or HTTP/1.0) has its body read first: closing on unread data would
    reset the connection before the client reads the answer."""
    import asyncio

    from app import DRAIN_AT_MOST, MAX_JSON_BODY, RequestLimits

    async def never_called(scope, receive, send):
        raise AssertionError("a refused request reached the app")

    async def never_ends():  # a body that never finishes arriving
        await asyncio.Event().wait()

    def refuse(size: int, receive=never_ends, headers=(), version="1.1") -> tuple[dict, bool]:
        sent: list[dict] = []
        chunks = [{"type": "http.request", "body": b"x" * 1000, "more_body": True}] * 9
        arriving = iter([*chunks, {"type": "http.request", "body": b"x", "more_body": False}])

        async def body():
            return next(arriving)

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "http_version": version,
            "path": "/gradio_api/call/ask",
            "headers": [(b"content-length", str(size).encode()), *headers],
            "client": ("127.0.0.1", 5000),
        }
        app = RequestLimits(never_called)(scope, body if receive is None else receive, send)
        asyncio.run(asyncio.wait_for(app, timeout=5))
        start, answer = sent
        assert start["status"] == 413 and b"at most 2,000" in answer["body"]
        return start, next(arriving, None) is None

    assert MAX_JSON_BODY < 10_000_000
    start, _ = refuse(10_000_000)  # kept alive: answered without reading
    assert (b"connection", b"close") not in start["headers"]
    refuse(10_000_000, headers=[(b"connection", b"keep-alive")])
    refuse(10_000_000, headers=[(b"connection", b"close"), (b"expect", b"100-continue")])  # sent nothing yet
    start, _ = refuse(DRAIN_AT_MOST + 1, headers=[(b"connection", b"close")])  # cut off, unread
    assert (b"connection", b"close") in start["headers"]
    for headers, version in (
        ([(b"connection", b"close")], "1.1"),
        ([(b"connection", b"Upgrade, Close")], "1.1"),
        ([(b"Connection", b"keep-alive"), (b"connection", b"close")], "1.1"),
        ([(b"connection", b"keep-alive")], "1.0"),  # uvicorn closes every HTTP/1.0 connection
    ):
        _, drained = refuse(MAX_JSON_BODY + 1, None, headers, version)
        assert drained, (headers, version)


def test_sign_in_attempts_have_a_limit_of_their_own_per_address_and_for_everyone():
    """Each attempt hashes a password slowly on purpose: past a few a minute from one
    address, and past ten times that from all together, they are refused (429) before the
    app hashes anything, while other calls from the same addresses still go through."""
    import asyncio

    from app import RequestLimits

    reached: list[str] = []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limits = RequestLimits(app, per_minute=1200, sign_ins_per_minute=20)

    def post(path: str, address: str) -> int:
        sent: list[dict] = []

        async def receive():
            return {"type": "http.request", "body": b"username=nobody&password=x", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "http_version": "1.1",
            "path": path,
            "headers": [(b"content-length", b"26")],
            "client": (address, 5000),
        }
        asyncio.run(limits(scope, receive, send))
        return sent[0]["status"]

    mine = [post("/login", "10.0.0.1") for _ in range(5)]
    assert mine[:2] == [200, 200] and mine[2:] == [429, 429, 429]  # bursts of a tenth of 20 a minute
    assert post("/gradio_api/call/ask", "10.0.0.1") == 200  # asking is not held up
    everyone = [post("/login/", f"10.0.1.{i}") for i in range(40)]  # many addresses, two attempts each at most
    assert everyone.count(200) == 20 - 2 and everyone[-1] == 429  # everyone's burst: a tenth of 200, less mine
    assert reached.count("/login") + reached.count("/login/") == 20


def test_a_page_opened_later_lists_the_documents_as_they_are_now_with_direction_controls_written_out(
    engine, tmp_path: Path
):
    """The Documents table is read again when a page loads (it was filled once, when the
    app was built); a file name holding a right-to-left override is shown written out in
    the table, the pickers and the messages, so ``\u202egnp.txt`` cannot pass for ``txt.png``."""
    from app import build_app

    demo = build_app(engine)
    load = next(f for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "doc_rows")
    assert "load" in [event for _, event in load.targets]
    note = tmp_path / "\u202egnp.txt"
    note.write_text("Kites\n\nThe red kite nests in tall beech trees.", encoding="utf-8")
    engine.add([note])
    rows = load.fn()
    assert any(row[1] == "⟨RLO⟩gnp.txt" for row in rows) and not any("\u202e" in str(row) for row in rows)
    remove = _function(demo, "remove")
    seed = engine.documents()[0].id
    message, _, picker, _ = remove(seed, None)
    assert ("⟨RLO⟩gnp.txt", "\u202egnp.txt") in picker["choices"]  # shown written out, chosen by its id
    assert remove("\u202egnp.txt", None)[0] == "Removed ⟨RLO⟩gnp.txt."


def _labels(demo) -> set[str]:
    return {getattr(block, "label", None) for block in demo.blocks.values()}


def test_example_questions_are_offered_only_over_the_documents_they_ask_about(engine, tmp_path: Path):
    """They ask about the bundled seed articles: over anyone else's documents they would ask
    about what is not there."""
    from app import build_app
    from rag import Engine, Settings
    from tests.conftest import FakeEmbedder

    assert "Example questions" in _labels(build_app(engine))
    other = Engine.open(settings=Settings(index_dir=tmp_path / "other"), embedder=FakeEmbedder())
    (tmp_path / "notes.txt").write_text("Minutes\n\nThe committee met on Tuesday.", encoding="utf-8")
    other.add([tmp_path / "notes.txt"])
    assert "Example questions" not in _labels(build_app(other))
