"""The web app: a thin Gradio shell that turns people's clicks into Engine calls and back."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import gradio as gr
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from rag import Engine, RagError, Settings, UnknownDocument, originals
from rag.accounts import Account, check_password, hash_password, load_accounts
from rag.documents import SUPPORTED_SUFFIXES, file_sha256
from rag.render import (
    STYLE,
    Turn,
    answer_markdown,
    conversation_html,
    conversation_markdown,
    escape,
    excerpt_label,
    source_html,
    stale,
    visible_controls,
)

ROOT = Path(__file__).resolve().parent
#: Questions about the bundled seed articles, offered only where those are indexed (``examples``).
EXAMPLES = [
    "Who leads the Hamas delegation to Damascus?",
    "Who commands Liwa al-Quds?",
    "When was Liwa al-Quds formed?",
    "How many Russian helicopters arrived at Palmyra military airport?",
    "Who leads the Fourth Division?",
]


def examples(engine: Engine, seeds: Path = ROOT / "seeds") -> list[str]:
    """The example questions, if every bundled seed article is indexed (by content, under any
    name): on anyone else's documents they would ask about articles that are not there."""
    files = sorted(seeds.glob("*.txt"))
    indexed = {document.sha256 for document in engine.documents()}
    return EXAMPLES if files and all(file_sha256(f) in indexed for f in files) else []


# Download Markdown from the page itself: nothing is written on the server, so no other
# session can ever be served this one's answers.
DOWNLOAD_JS = """(md) => {
  if (!md) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([md], {type: 'text/markdown;charset=utf-8'}));
  a.download = FILENAME;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}"""


def download_js(filename: str) -> str:
    """``DOWNLOAD_JS`` saving its Markdown input as ``filename``."""
    return DOWNLOAD_JS.replace("FILENAME", json.dumps(filename))


#: The largest JSON request the API accepts. A question is at most 2,000 characters, so a
#: larger body is refused from its Content-Length, before it is parsed.
MAX_JSON_BODY = 256 * 1024
#: A refused body of a connection closed after the request is read and dropped first (so
#: the client reads the refusal, not a reset connection) only up to this size; a refused
#: question body larger than this has its connection closed unread.
DRAIN_AT_MOST = 64 * 1024 * 1024


def _folder_bytes(folder: Path) -> int:
    total, stack = 0, [folder]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


#: Sign-in attempts a minute from one address (in bursts of a tenth, at least one); ten
#: times as many from all addresses together.
SIGN_INS_PER_MINUTE = 20


class RequestLimits:
    """ASGI middleware: refuse at once, with one line, what the server should never take in.

    - a JSON request over ``json_limit`` bytes (HTTP 413): no question needs it;
    - an upload that would take the upload folder past ``upload_quota`` bytes (HTTP 507):
      uploads never indexed are deleted after an hour, and until then they count;
    - more calls from one address than ``per_minute`` allows, past a burst of a tenth of
      it (HTTP 429): one client flooding the queue leaves room for the others;
    - more sign-in attempts than ``sign_ins_per_minute`` from one address, or ten times
      that from all addresses together (HTTP 429): each attempt hashes a password on
      purpose slowly (about 0.15 s of a core), so that a flood of wrong ones, outside the
      queue, would take the cores from the people signed in.

    A refusal is sent before the body is read; the server then drops the body unparsed
    as it arrives, so that the client gets this answer rather than a reset connection
    (when the connection closes after the request, the body is read first, up to
    ``DRAIN_AT_MOST``).
    """

    def __init__(
        self,
        app,
        json_limit: int = MAX_JSON_BODY,
        upload_quota: int = 0,
        upload_dir: str = "",
        per_minute: int = 0,
        sign_ins_per_minute: int = SIGN_INS_PER_MINUTE,
    ) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_quota = upload_quota
        self.upload_dir = Path(upload_dir) if upload_dir else None
        self.per_minute = per_minute
        self.sign_ins_per_minute = sign_ins_per_minute
        # (kind, address) -> (tokens, when); kinds: "call", "sign-in", and "sign-in" of "*" (everyone)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._pruned = time.monotonic()
        self._arriving = 0  # bytes of uploads being received now

    def _allow(self, address: str, kind: str = "call", per_minute: float | None = None) -> bool:
        """A token bucket per address and kind of call: ``per_minute`` a minute (the
        calls' limit by default), bursts of a tenth of that.

        An IPv6 client holds a whole /64, so that is what counts as one address.
        """
        per_minute = self.per_minute if per_minute is None else per_minute
        if ":" in address:
            address = ":".join(address.split(":")[:4])
        burst = max(per_minute / 10, 1.0)
        now = time.monotonic()
        tokens, when = self._buckets.get((kind, address), (burst, now))
        tokens = min(burst, tokens + (now - when) * per_minute / 60)
        if len(self._buckets) > 10_000 and now - self._pruned > 10:  # forget idle addresses, now and then
            self._buckets = {a: b for a, b in self._buckets.items() if now - b[1] < 60}
            self._pruned = now
        if tokens < 1:
            self._buckets[kind, address] = (tokens, now)
            return False
        self._buckets[kind, address] = (tokens - 1, now)
        return True

    def _allow_sign_in(self, address: str) -> bool:
        """One more sign-in attempt from ``address``, within its own limit and everyone's."""
        if not self.sign_ins_per_minute:
            return True
        mine = self._allow(address, "sign-in", self.sign_ins_per_minute)
        return mine and self._allow("*", "sign-in", 10 * self.sign_ins_per_minute)

    async def __call__(self, scope, receive, send):
        original = scope.get("method") in ("GET", "HEAD") and "/original/" in scope.get("path", "")
        if scope["type"] == "http" and original:
            # Each one reads and hashes a whole file: an original counts like any call.
            address = (scope.get("client") or ("?", 0))[0]
            if self.per_minute and not self._allow(address):
                await _refuse(send, 429, "too many requests from your address; wait a moment and try again")
                return
        if scope["type"] == "http" and scope.get("method") == "POST":
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            size = int(length) if length is not None and length.isdigit() else None
            upload = scope.get("path", "").rstrip("/").endswith("/upload")
            refusal = None
            address = (scope.get("client") or ("?", 0))[0]
            if self.per_minute and not self._allow(address):
                refusal = 429, "too many requests from your address; wait a moment and try again"
            elif scope.get("path", "").rstrip("/").endswith("/login") and not self._allow_sign_in(address):
                refusal = 429, "too many sign-in attempts; wait a minute and try again"
            elif size is None:  # a chunked body could be any size: every client here sends a length
                refusal = 411, "a request body needs a Content-Length"
            elif not upload and size > self.json_limit:
                refusal = 413, "request too large: a question is at most 2,000 characters"
            elif upload and self.upload_quota and self.upload_dir is not None:
                # Uploads still arriving count too: simultaneous ones cannot all slip under the quota.
                used = _folder_bytes(self.upload_dir) + self._arriving
                if used + size > self.upload_quota:
                    refusal = (
                        507,
                        (
                            f"upload storage is full ({used // 1_000_000:,} of {self.upload_quota // 1_000_000:,} MB "
                            "in use); try again later"
                        ),
                    )
            if refusal is not None:
                # A kept-alive connection is answered at once, before the body is read: the
                # server then drops the rest as it arrives, without a turn of the event loop
                # per chunk. One that closes after this request is closed right after the
                # answer, so its body (up to DRAIN_AT_MOST) is read and dropped first: either
                # way the client sees this answer rather than a reset connection. A client
                # waiting for "100 Continue" has sent no body: reading would only invite it.
                # A question body past DRAIN_AT_MOST is no client's mistake: it is cut off.
                waiting = headers.get(b"expect", b"").lower() == b"100-continue"
                if _closes(scope) and not waiting and size is not None and size <= DRAIN_AT_MOST:
                    message = await receive()
                    while message.get("more_body"):
                        message = await receive()
                await _refuse(send, *refusal, close=not upload and (size or 0) > DRAIN_AT_MOST)
                return
            if upload:
                self._arriving += size
                try:
                    await self.app(scope, receive, send)
                finally:
                    self._arriving -= size
                return
        await self.app(scope, receive, send)


def _closes(scope) -> bool:
    """Whether the server closes the connection after this request: as uvicorn decides it,
    for every HTTP/1.0 request, and for any with a ``close`` token in a Connection header."""
    if scope.get("http_version") == "1.0":
        return True
    tokens = (
        t.strip().lower() for k, v in scope.get("headers") or [] if k.lower() == b"connection" for t in v.split(b",")
    )
    return b"close" in tokens


async def _refuse(send, status: int, message: str, close: bool = False) -> None:
    """Answer an ASGI request with ``status`` and a one-line JSON error; ``close``: and end the connection."""
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _signed_in(request: Request) -> bool:
    """Whether the request carries a sign-in token of the Gradio app serving it.

    Read as Gradio's own ``/user`` route reads it (Gradio has no hook for routes it does not
    define). Fails closed: should the cookie ever be named otherwise, nobody is let in, and
    tests/e2e/test_originals.py fails.
    """
    app = request.app
    cookie_id, tokens = getattr(app, "cookie_id", None), getattr(app, "tokens", None) or {}
    token = request.cookies.get(f"access-token-{cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{cookie_id}"
    )
    return cookie_id is not None and token is not None and token in tokens


def _refusal(status: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(
        message + "\n", status, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
    )


#: Original files read and checked at once (the reading and hashing, not the sending).
ORIGINAL_READS = 4
#: The Source view for a citation whose quote its document no longer holds there.
STALE_SOURCE = "<em>That passage is not in the document as it is indexed now.</em>"


def original_route(engine: Engine, sign_in: bool = False) -> Route:
    """``GET /original/{id}``: the file of a document indexed now, as a download; any other id is refused.

    The id is looked up among the engine's documents and never used as a path: the path
    served is the one the index recorded, and only while its bytes match the indexed ones.
    Served in read-only mode too (it changes nothing); with ``sign_in``, only to those signed in.
    """

    reading = asyncio.Semaphore(ORIGINAL_READS)

    async def original(request: Request) -> Response:
        if sign_in and not _signed_in(request):
            return _refusal(401, "Sign in to open original files.")
        try:
            async with reading:  # each reads and hashes a whole file: a few at a time
                document, data = await run_in_threadpool(engine.original, request.path_params["doc_id"])
        except UnknownDocument:
            return _refusal(404, "No document with that id is indexed now; only indexed documents can be opened.")
        except RagError as exc:
            return _refusal(410, f"The original file cannot be opened: {exc}.")
        # Percent-encoded whole: no quote, semicolon or line break of a file name reaches the header.
        name = quote(PurePosixPath(document.id).name, safe="")
        headers = {
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "no-store",
        }
        return Response(data, media_type="application/octet-stream", headers=headers)

    return Route("/original/{doc_id:path}", original, methods=["GET"])


# Switch between the dark and light themes; the choice goes into the address (Gradio's own
# ``__theme`` parameter), so a reload or a bookmark keeps it.
THEME_JS = """() => {
  const dark = !document.body.classList.contains('dark');
  document.body.classList.toggle('dark', dark);
  const url = new URL(window.location.href);
  url.searchParams.set('__theme', dark ? 'dark' : 'light');
  history.replaceState(null, '', url);
}"""
#: Turns kept in a conversation: its follow-up context and the answers on the page.
MAX_TURNS = 10
#: Sessions whose state the server keeps, least recently used dropped first. Gradio keeps
#: one per page and one per API call (each call is a session of its own: 5,000 asks grew
#: the server by 203 MB with this cap, about 100 KB a session), so at its default of
#: 10,000 API calls alone would grow it by about 1 GB.
SESSIONS = 2_000
# Scroll the source view, and only it (never the page), to the highlighted passage once it is shown.
SCROLL_JS = """() => { setTimeout(() => {
  const box = document.getElementById('qa-source'), mark = document.getElementById('qa-target');
  if (box && mark) box.scrollTop = Math.max(0, mark.offsetTop - (box.clientHeight - mark.offsetHeight) / 2);
}, 150); }"""
# Clicking a [n] marker, or an excerpt card's citation line, in any turn asks for that passage in
# the Source view: "source|start|end" goes into the hidden #source-request box, whose input
# event the server answers (it checks the id and the offsets itself). A card's Copy buttons put
# their data-copy text on the clipboard; without a secure context (plain http on a network
# address) there is no navigator.clipboard, so a selected textarea is copied instead.
# Delegated from the document, so it holds for every turn, however often the transcript is re-rendered.
CITATION_HEAD = """<script>
(() => {
  if (window.qaCitations) return;
  window.qaCitations = true;
  const fallbackCopy = (text) => {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    const done = document.execCommand('copy');
    area.remove();
    return done ? Promise.resolve() : Promise.reject(new Error('copy refused'));
  };
  const copy = (button) => {
    const text = button.dataset.copy;
    const write = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text).catch(() => fallbackCopy(text)) : fallbackCopy(text);
    button.dataset.label = button.dataset.label || button.textContent;
    const say = (word) => {
      button.textContent = word;
      setTimeout(() => { button.textContent = button.dataset.label; }, 1500);
    };
    write.then(() => say('Copied'), () => say('Copy failed'));
  };
  const cited = (ev) => {
    const hit = ev.target.closest && ev.target.closest('#transcript .qa-ref, #transcript .qa-cite');
    return hit ? hit.closest('[data-source]') : null;
  };
  const open = (el) => {
    const box = document.querySelector('#source-request textarea, #source-request input');
    if (!box) return;
    box.value = [el.dataset.source, el.dataset.start, el.dataset.end].join('|');
    box.dispatchEvent(new Event('input', {bubbles: true}));
    // Gradio's Textbox sends its input event on a key press, as when someone types.
    box.dispatchEvent(new KeyboardEvent('keypress', {key: 'Unidentified', bubbles: true}));
  };
  document.addEventListener('click', (ev) => {
    const button = ev.target.closest && ev.target.closest('#transcript .qa-copy');
    if (button) { ev.preventDefault(); copy(button); return; }
    const el = cited(ev);
    if (el) { ev.preventDefault(); open(el); }
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter' && ev.key !== ' ') return;
    if (!(ev.target.classList && ev.target.classList.contains('qa-cite'))) return;
    const el = cited(ev);
    if (el) { ev.preventDefault(); open(el); }
  });
})();
</script>"""
#: What the Source view says before any excerpt is chosen.
SOURCE_HINT = "<em>Ask a question, then click a [n] marker or a citation, or pick an excerpt.</em>"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Quote-first document QA: the web app.", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--host", default=os.environ.get("RAG_HOST", "127.0.0.1"), help="address to listen on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RAG_PORT", "7860")), help="port")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: embeddings/ beside app.py)")
    parser.add_argument("--docs", type=Path, default=ROOT / "seeds", help="documents indexed on first run")
    parser.add_argument("--max-file-size", default=None, help="upload limit, e.g. 50mb (default: RAG_MAX_FILE_BYTES)")
    parser.add_argument(
        "--read-only", action="store_true", help="serve questions only: no upload or remove, in the page or the API"
    )
    parser.add_argument(
        "--no-originals",
        action="store_true",
        help="do not serve the original files (Open original): readers see only the quoted text, not "
        "what else a file holds (comments, tracked changes, metadata)",
    )
    parser.add_argument(
        "--auth",
        type=Path,
        default=None,
        help="accounts file (see `python -m rag account`): everyone signs in; readers ask, editors also "
        "add and remove documents (default: no sign-in)",
    )
    parser.add_argument(
        "--max-queue", type=int, default=64, help="requests waiting at most; more are told the server is busy"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=1200,
        help="calls a minute one address may make, in bursts of a tenth (0: no limit; behind a proxy that "
        "hides addresses, limit there instead)",
    )
    parser.add_argument(
        "--sign-in-limit",
        type=int,
        default=SIGN_INS_PER_MINUTE,
        help="sign-in attempts a minute one address may make, in bursts of a tenth; ten times as many from "
        "all addresses together (each one hashes a password slowly, on purpose; 0: no limit)",
    )
    parser.add_argument(
        "--upload-quota",
        type=int,
        default=2000,
        help="MB that uploads waiting in the upload folder may take; more are refused until some are cleaned",
    )
    return parser.parse_args(argv)


def open_engine(settings: Settings, docs: Path, read_only: bool = False) -> Engine:
    """Open the index; on first run build it from ``docs``; re-index files changed on disk.

    With ``read_only`` nothing is written: the index is served as it is.
    """
    engine = Engine.open(settings=settings)  # a damaged index is logged, and shown as a banner
    if read_only:
        if not engine.exists:
            print(f"Read-only, and {settings.index_dir} holds no index yet: every question is unanswered.")
        return engine
    if not engine.exists:  # an index emptied by its users stays empty
        print(f"First run: indexing {docs} into {settings.index_dir} ...", flush=True)
        started = time.perf_counter()
        # In a child process, like uploads: exporting the encoder on first use imports torch,
        # which would otherwise stay in the server's memory for good.
        report = engine.add_isolated([docs], progress=lambda f, what: print(f"  {what} {f:.0%}", flush=True))
        print(f"Indexed {len(report.added)} documents in {time.perf_counter() - started:.1f} s.", flush=True)
        for refusal in report.refused:
            print(f"  refused {refusal.path}: {refusal.reason}", flush=True)
    else:
        try:
            report = engine.refresh()
        except RagError as exc:  # e.g. a read-only index folder: serve what it holds
            print(f"Serving the index as it is; files changed on disk were not re-indexed: {exc}", flush=True)
            return engine
        if report.changed:
            print(f"Re-indexed documents changed on disk: {', '.join(report.added + report.updated)}", flush=True)
        for refusal in report.refused:
            print(f"  {refusal.reason}", flush=True)
    return engine


def build_app(
    engine: Engine,
    read_only: bool = False,
    accounts: dict[str, Account] | None = None,
    offer_originals: bool = True,
):
    """The Gradio Blocks around ``engine``; nothing here ranks or reads documents itself.

    Args:
        engine: the engine to serve.
        read_only: build no upload or remove controls and no routes for them.
        accounts: when given, only editors may add or remove documents (checked on
            every request; readers do not see the controls either).
        offer_originals: offer each excerpt's original file (served by ``original_route``),
            and keep uploads in the index folder for it (``rag.originals``).
    """

    def may_edit(request: gr.Request | None) -> bool:
        if accounts is None:
            return True
        account = accounts.get(getattr(request, "username", None) or "")
        return account is not None and account.can_edit

    def doc_rows() -> list[list]:
        """The Documents table: titles and ids as shown (direction controls written out, so
        that a file name cannot pass for another: ``⟨RLO⟩gnp.txt``, not ``txt.png``)."""
        return [
            [visible_controls(d.title), visible_controls(d.id), engine.passage_count(d.id)] for d in engine.documents()
        ]

    def doc_ids() -> list[tuple[str, str]]:
        """The documents as a picker offers them: shown as in the table, chosen by id."""
        return [(visible_controls(d.id), d.id) for d in engine.documents()]

    def upload_panel(message: str, pending: list[str] | None = None) -> tuple:
        """What an upload step shows: its status, fresh document lists and, unless files wait for
        a Replace / Keep both answer, an empty drop zone (nothing there looks pending)."""
        ids = doc_ids()
        waiting = bool(pending)
        drop_zone = gr.update() if waiting else None
        return (
            message,
            doc_rows(),
            gr.update(choices=ids),
            gr.update(choices=ids),
            pending or [],
            gr.update(visible=waiting),
            drop_zone,
        )

    def refused_edit():
        return upload_panel("Only editors may add or remove documents.")

    def page_of(turns: list[Turn]) -> str:
        """The transcript, newest first, marking excerpts whose document was removed or changed since."""
        return conversation_html(turns, {d.id: d for d in engine.documents()}, offer_originals)

    def chat_turn(question: str, k: float, sources: list[str] | None, history: list[dict], turns: list[Turn]):
        question = (question or "").strip()
        unchanged = (gr.update(),) * 9
        if not question:  # a gentle word where the question goes, not an error
            return *unchanged, gr.update(value="Type a question first, or pick an example below.", visible=True)
        earlier = [turn.get("searched_as") or turn["question"] for turn in history]
        try:
            answer = engine.ask(question, k=int(k), history=earlier, sources=sources or None)
        except RagError as exc:
            return *unchanged, gr.update(value=str(exc), visible=True)
        neighbours = []
        for e in answer.excerpts:
            try:
                neighbours.append(engine.neighbours(e.source, e.start))
            except RagError:  # removed, by another session or process, since the answer was found
                neighbours.append((None, None))
        # Newest first, and bounded: a response never grows with the length of the conversation.
        turns = [Turn(answer, tuple(neighbours), tuple(sources or ())), *turns][:MAX_TURNS]
        history = [*history, {"question": question, "searched_as": answer.searched_as}][-MAX_TURNS:]
        choices = [(excerpt_label(i, e), i - 1) for i, e in enumerate(answer.excerpts, start=1)]
        return (
            "",
            page_of(turns),
            history,
            turns,
            gr.update(visible=True),
            answer_markdown(answer, sources or None),
            conversation_markdown(turns),
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            answer.to_dict(),
            gr.update(value="", visible=False),
        )

    def show_source(choice, last: dict | None):
        if choice is None or not last or not last.get("excerpts"):
            return SOURCE_HINT
        excerpt = last["excerpts"][int(choice)]
        try:
            document = engine.document(excerpt["source"])
        except RagError as exc:
            return f"<em>{escape(str(exc))}</em>"
        if document.text[excerpt["start"] : excerpt["end"]] != excerpt["text"]:
            return STALE_SOURCE
        return source_html(document, excerpt["start"], excerpt["end"])

    def show_request(request: str | None, turns: list[Turn] | None = None):
        """The Source view for a clicked citation, sent as "source|start|end" by the page."""
        try:
            doc_id, start, end = (request or "").rsplit("|", 2)
            start, end = int(start), int(end)
        except ValueError:
            return "<em>That citation could not be read.</em>"
        key = (doc_id, start, end)
        try:
            document = engine.document(doc_id)
        except RagError:
            return "<em>That document is not in the index (it may have been removed).</em>"
        quoted = [e for t in turns or () for e in t.answer.excerpts if (e.source, e.start, e.end) == key]
        if not 0 <= start < end <= len(document.text) or (quoted and all(stale(e, {doc_id: document}) for e in quoted)):
            return STALE_SOURCE
        return source_html(document, start, end)

    def index(paths: list[str], replace: bool, progress) -> tuple:
        """Index ``paths``; the status line, the refreshed document lists, no pending files."""
        try:
            # In a child process: the server's memory does not grow with what it is sent to index.
            report = engine.add_isolated(paths, progress=lambda f, what: progress(f, desc=what), replace=replace)
            lines = []
            if report.added or report.updated:
                lines.append(f"Indexed: {', '.join(report.added + report.updated)}.")
            if report.unchanged:
                lines.append(f"Already indexed, unchanged: {', '.join(report.unchanged)}.")
            lines += [f"Refused {Path(r.path).name}: {r.reason}." for r in report.refused]
            lines += [f"Note on {Path(r.path).name}: {r.reason}." for r in report.warnings]
            message = visible_controls("\n".join(lines))  # file names as the table shows them
        except RagError as exc:  # e.g. the disk is full: nothing was stored, the index is as before
            message = f"Nothing was indexed: {exc}"
        return upload_panel(message)

    def upload(files: list | None, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (Gradio's injection)
        if not may_edit(request):
            return refused_edit()
        if not files:
            return upload_panel("No file chosen.")
        paths = [str(f if isinstance(f, str) else f.name) for f in files]
        if offer_originals:  # kept by the index, so that Open original outlives Gradio's upload cache
            try:
                indexed = [d.path for d in engine.documents()]
                paths = originals.keep(paths, engine.index_dir, engine.settings.max_file_bytes, indexed)
            except (OSError, RagError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                return upload_panel(f"Nothing was indexed: the upload could not be stored ({reason}).")
        clashes = engine.conflicts(paths)
        if clashes:  # never replace a document silently: ask first
            names = ", ".join(doc_id for _, doc_id in clashes)
            message = (
                f"Already indexed from another file: {names}. Replace the indexed version, or keep both "
                "(the new file gets a numbered name)?"
            )
            return upload_panel(message, paths)
        return index(paths, False, progress)

    def settle(pending: list[str], replace: bool, progress) -> tuple:
        return index(pending, replace, progress) if pending else upload_panel("No file is waiting.")

    def replace_pending(pending: list[str], request: gr.Request, progress=gr.Progress()):  # noqa: B008
        return settle(pending, True, progress) if may_edit(request) else refused_edit()

    def keep_both(pending: list[str], request: gr.Request, progress=gr.Progress()):  # noqa: B008
        return settle(pending, False, progress) if may_edit(request) else refused_edit()

    def confirm_remove(doc_id: str | None, request: gr.Request):
        """First click: name what would go, and wait for a second, explicit one."""
        if not may_edit(request):
            return "Only editors may add or remove documents.", None, gr.update(visible=False)
        try:
            document = engine.document(doc_id) if doc_id else None
        except RagError as exc:
            return str(exc), None, gr.update(visible=False)
        if document is None:
            return "Choose a document to remove.", None, gr.update(visible=False)
        title, shown_id = visible_controls(document.title), visible_controls(document.id)
        message = (
            f"Remove “{title}” ({shown_id}, {engine.passage_count(document.id)} passages) from the "
            "index? Its passages leave every answer. You can undo this until you remove another document."
        )
        return message, doc_id, gr.update(visible=True)

    def remove_confirmed(doc_id: str | None, request: gr.Request):
        if not may_edit(request) or not doc_id:
            return "Nothing was removed.", doc_rows(), gr.update(), gr.update(), None, gr.update(visible=False), None
        try:
            document = engine.document(doc_id)
            engine.remove(doc_id)
        except RagError as exc:
            return str(exc), doc_rows(), gr.update(), gr.update(), None, gr.update(visible=False), None
        ids = doc_ids()
        undo = gr.update(visible=True, value=f"Undo: put back {visible_controls(doc_id)}")
        message = f"Removed {visible_controls(doc_id)}."
        return message, doc_rows(), gr.update(choices=ids, value=None), gr.update(choices=ids), None, undo, document

    def undo_remove(document, request: gr.Request):
        if not may_edit(request) or document is None:
            return "Nothing to undo.", doc_rows(), gr.update(), gr.update(), gr.update(visible=False), None
        try:
            report = engine.restore([document])
            back = report.added + report.updated
            message = (
                f"Put back: {visible_controls(', '.join(back))}." if back else "Nothing was put back."
            ) + "".join(f" {r.reason}." for r in report.warnings + report.refused)
        except RagError as exc:
            message = f"Could not put it back: {exc}"
        ids = doc_ids()
        return message, doc_rows(), gr.update(choices=ids), gr.update(choices=ids), gr.update(visible=False), None

    def remove(doc_id: str | None, request: gr.Request):
        if not may_edit(request):
            return "Only editors may add or remove documents.", doc_rows(), gr.update(), gr.update()
        if not doc_id:
            return (
                "Choose a document to remove.",
                doc_rows(),
                gr.update(choices=doc_ids()),
                gr.update(choices=doc_ids()),
            )
        try:
            engine.remove(doc_id)
            message = f"Removed {visible_controls(doc_id)}."
        except RagError as exc:
            message = str(exc)
        ids = doc_ids()
        return message, doc_rows(), gr.update(choices=ids, value=None), gr.update(choices=ids, value=[])

    def api_ask(question: str, k: int = 5, history: list[str] | None = None, sources: list[str] | None = None) -> dict:
        """Answer a question with verbatim, cited excerpts (same fields as `python -m rag ask --json`).

        Args:
            question: the question.
            k: the most excerpts, 1 to 50.
            history: earlier questions of the conversation, oldest first (for follow-ups).
            sources: search only these document ids.
        """
        try:
            k = int(k)
        except (TypeError, ValueError):
            raise gr.Error("k must be a whole number from 1 to 50") from None
        if not isinstance(history or [], list) or not isinstance(sources or [], list):
            raise gr.Error("history and sources are lists of strings")
        try:
            answer = engine.ask(
                str(question),
                k=max(1, min(k, 50)),
                history=[str(h) for h in (history or [])][-MAX_TURNS:],
                sources=[str(s) for s in sources] if sources else None,
            )
        except RagError as exc:
            raise gr.Error(str(exc)) from None
        return answer.to_dict()

    def api_documents() -> dict:
        """The indexed documents: id, title and number of passages of each."""
        documents = engine.documents()
        return {
            "documents": [{"id": d.id, "title": d.title, "paragraphs": engine.passage_count(d.id)} for d in documents]
        }

    # Uploads that were never indexed (or whose indexing ended long ago) are deleted after an hour.
    with gr.Blocks(title="Quote-first document QA", delete_cache=(900, 3600)) as demo:
        with gr.Row(equal_height=False):
            gr.Markdown(
                "# Ask your documents\nEvery answer is a **verbatim excerpt** with its citation; "
                "nothing is paraphrased, and when the documents do not answer, you are told so.",
            )
            theme = gr.Button("Dark / light", size="sm", scale=0, min_width=120, elem_id="theme-toggle")
        theme.click(None, None, None, js=THEME_JS, api_visibility="private")
        if engine.notice:  # the index was damaged and an earlier generation is served
            gr.Markdown(f"**Warning:** {engine.notice}", elem_id="index-notice")
        history = gr.State([])
        last_answer = gr.State({})
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    question = gr.Textbox(
                        label="Question",
                        placeholder="Ask about your documents…",
                        scale=5,
                        elem_id="question",
                        max_length=engine.settings.max_question_chars,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                hint = gr.Markdown("", visible=False, elem_id="hint")
                if offered := examples(engine):
                    gr.Examples(offered, inputs=[question], label="Example questions")
                transcript_html = gr.HTML("", elem_id="transcript")
                transcript = gr.State([])  # the turns shown, newest first, as render.Turn
            with gr.Column(scale=2):
                with gr.Accordion("Options", open=False):
                    k = gr.Slider(1, 10, value=engine.settings.k, step=1, label="Excerpts per answer")
                    sources = gr.Dropdown(
                        choices=doc_ids(), multiselect=True, label="Search only these documents", elem_id="sources"
                    )
                    new_chat = gr.Button("New conversation", elem_id="new-chat")
                with gr.Accordion("Source view", open=True):
                    excerpt_choice = gr.Dropdown(
                        choices=[], label="Show excerpt in its document", elem_id="source-pick"
                    )
                    source = gr.HTML(SOURCE_HINT, elem_id="source-view")
                    # Written by CITATION_HEAD's script when a citation is clicked; never seen.
                    source_request = gr.Textbox(visible="hidden", elem_id="source-request", max_length=4000)
                with gr.Accordion("Export", open=False, elem_id="export"):
                    with gr.Row(visible=False) as export_buttons:
                        download = gr.Button("Download answer (Markdown)", elem_id="download")
                        download_all = gr.Button("Download conversation (Markdown)", elem_id="download-conversation")
                    markdown = gr.Textbox(label="Answer as Markdown", lines=6, buttons=["copy"], interactive=False)
                    conversation = gr.Textbox(
                        label=f"Conversation as Markdown (the last {MAX_TURNS} questions)",
                        lines=6,
                        buttons=["copy"],
                        interactive=False,
                        elem_id="conversation-markdown",
                    )
                with gr.Accordion("Documents", open=True):
                    docs = gr.Dataframe(
                        value=doc_rows(),
                        headers=["Title", "File", "Paragraphs"],
                        interactive=False,
                        wrap=True,  # long titles and file names wrap: every column stays inside the panel
                        column_widths=["44%", "30%", "26%"],
                        elem_id="documents",
                    )
                    if not read_only:
                        with gr.Column(visible=accounts is None, elem_id="edit-panel") as edit_panel:
                            files = gr.File(
                                label="Add documents (.txt .md .rst .html .pdf .docx, or any of them as .gz)",
                                file_count="multiple",
                                file_types=list(SUPPORTED_SUFFIXES),
                                elem_id="upload",
                            )
                            status = gr.Textbox(label="Indexing", interactive=False, elem_id="upload-status")
                            pending = gr.State([])
                            with gr.Row(visible=False, elem_id="upload-conflict") as conflict:
                                replace_button = gr.Button("Replace", elem_id="upload-replace")
                                keep_button = gr.Button("Keep both", elem_id="upload-keep")
                                cancel_button = gr.Button("Cancel", elem_id="upload-cancel")
                            removable = gr.Dropdown(
                                choices=doc_ids(),
                                value=None,
                                allow_custom_value=True,
                                label="Remove a document",
                                elem_id="removable",
                            )
                            remove_button = gr.Button("Remove…", variant="stop", elem_id="remove")
                            to_remove = gr.State(None)
                            last_removed = gr.State(None)
                            with gr.Row(visible=False, elem_id="remove-confirm") as confirm_row:
                                confirm_button = gr.Button("Yes, remove it", variant="stop", elem_id="remove-yes")
                                keep_button_r = gr.Button("Keep it", elem_id="remove-no")
                            undo_button = gr.Button("Undo", visible=False, elem_id="remove-undo")
                            # The API's /remove acts at once (a program cannot confirm); the page asks first.
                            remove_now = gr.Button(visible=False)

        outputs = [
            question,
            transcript_html,
            history,
            transcript,
            export_buttons,
            markdown,
            conversation,
            excerpt_choice,
            last_answer,
            hint,
        ]
        inputs = [question, k, sources, history, transcript]
        for trigger in (send.click, question.submit):
            trigger(chat_turn, inputs, outputs, api_visibility="private").then(
                show_source, [excerpt_choice, last_answer], source, api_visibility="private"
            ).then(None, None, None, js=SCROLL_JS, api_visibility="private")
        excerpt_choice.input(show_source, [excerpt_choice, last_answer], source, api_visibility="private").then(
            None, None, None, js=SCROLL_JS, api_visibility="private"
        )
        source_request.input(show_request, [source_request, transcript], source, api_visibility="private").then(
            None, None, None, js=SCROLL_JS, api_visibility="private"
        )
        new_chat.click(  # every panel that shows the old conversation starts again
            lambda: (
                [],
                [],
                "",
                {},
                gr.update(choices=[], value=None),
                SOURCE_HINT,
                "",
                "",
                gr.update(visible=False),
                gr.update(value="", visible=False),
            ),
            None,
            [
                history,
                transcript,
                transcript_html,
                last_answer,
                excerpt_choice,
                source,
                markdown,
                conversation,
                export_buttons,
                hint,
            ],
            api_visibility="private",
        )
        download.click(None, markdown, None, js=download_js("answer.md"), api_visibility="private")
        download_all.click(None, conversation, None, js=download_js("conversation.md"), api_visibility="private")
        sources.focus(lambda: gr.update(choices=doc_ids()), None, sources, api_visibility="private")
        if not read_only:  # a read-only app has no route that changes the index
            upload_outputs = [status, docs, sources, removable, pending, conflict, files]
            # One progress bar, on the status line: the documents list stays readable while indexing.
            files.upload(upload, files, upload_outputs, api_name="upload", show_progress_on=status)
            for button, settles in ((replace_button, replace_pending), (keep_button, keep_both)):
                button.click(settles, pending, upload_outputs, api_visibility="private", show_progress_on=status)
            cancel_button.click(
                lambda: upload_panel("Nothing was indexed."), None, upload_outputs, api_visibility="private"
            )
            # Documents added by other processes (a CLI ingest) appear in the pickers when opened.
            removable.focus(lambda: gr.update(choices=doc_ids()), None, removable, api_visibility="private")
            remove_button.click(confirm_remove, removable, [status, to_remove, confirm_row], api_visibility="private")
            confirm_button.click(
                remove_confirmed,
                to_remove,
                [status, docs, removable, sources, to_remove, undo_button, last_removed],
                api_visibility="private",
            ).then(lambda: gr.update(visible=False), None, confirm_row, api_visibility="private").then(
                page_of, transcript, transcript_html, api_visibility="private"
            )
            keep_button_r.click(
                lambda: ("Nothing was removed.", None, gr.update(visible=False)),
                None,
                [status, to_remove, confirm_row],
                api_visibility="private",
            )
            undo_button.click(
                undo_remove,
                last_removed,
                [status, docs, removable, sources, undo_button, last_removed],
                api_visibility="private",
            ).then(page_of, transcript, transcript_html, api_visibility="private")
            remove_now.click(remove, removable, [status, docs, removable, sources], api_name="remove")
            if accounts is not None:  # editors see the controls; every write route checks the role anyway
                demo.load(
                    lambda request: gr.update(visible=may_edit(request)), None, edit_panel, api_visibility="private"
                )
        # A page opened later shows the documents as they are now, not as at the server's start,
        # quietly: a progress bar over the list while a page opens (on a busy server, while a
        # file is being indexed) would say the list is being worked on.
        demo.load(doc_rows, None, docs, api_visibility="private", show_progress="hidden")
        gr.api(api_ask, api_name="ask")
        gr.api(api_documents, api_name="documents")
    return demo


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    handler = logging.StreamHandler(sys.stdout)
    handler.setLevel(logging.INFO)  # libraries that set their own loggers to DEBUG stay quiet
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    logging.getLogger("rag").setLevel(logging.INFO)
    index = args.index or (None if os.environ.get("RAG_INDEX_DIR") else ROOT / "embeddings")
    try:
        settings = Settings.from_env(index_dir=index)
        accounts = load_accounts(args.auth) if args.auth else None
        engine = open_engine(settings, args.docs, read_only=args.read_only)
        engine.ask("warm up")  # load the model now, not on the first question
    except (RagError, ValueError) as exc:
        sys.exit(f"error: {exc}")
    if args.read_only:
        print("Read-only: questions only; nothing can be uploaded or removed.", flush=True)
    elif accounts is None:
        print(
            "Note: anyone who can reach this address can ask, upload and remove documents. "
            "Use --read-only, or --auth FILE for sign-in with reader and editor roles.",
            flush=True,
        )
    demo = build_app(engine, read_only=args.read_only, accounts=accounts, offer_originals=not args.no_originals)
    # A bounded queue: past it, a request is told at once that the server is busy.
    # api_open=False: every call goes through the queue (and its bound); no direct /run/ route.
    demo.queue(default_concurrency_limit=4, max_size=args.max_queue, api_open=False)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=args.max_file_size or settings.max_file_bytes,
        css=STYLE,
        head=CITATION_HEAD,
        show_error=True,
        footer_links=["api"],
        state_session_capacity=SESSIONS,
        auth=(lambda name, password: _signs_in(accounts, name, password)) if accounts is not None else None,
        app_kwargs={
            "routes": [] if args.no_originals else [original_route(engine, sign_in=accounts is not None)],
            "middleware": [
                Middleware(
                    RequestLimits,
                    upload_quota=args.upload_quota * 1_000_000,
                    upload_dir=os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio"),
                    per_minute=args.rate_limit,
                    sign_ins_per_minute=args.sign_in_limit,
                )
            ],
        },
    )


@functools.cache
def _dummy_hash() -> str:
    """Checked for unknown names, so that a wrong name costs as long as a wrong password."""
    return hash_password("not a password of anyone's")


def _signs_in(accounts: dict[str, Account], name: str, password: str) -> bool:
    account = accounts.get(name)
    ok = check_password(password, account.password_hash if account is not None else _dummy_hash())
    return ok and account is not None


if __name__ == "__main__":
    main()
