"""Parse untrusted files in a separate process, bounded in time and memory.

PDF and DOCX parsers are large C and Python code bases fed by strangers' files:
a crafted file can make them loop, balloon or crash. Each file is read by a
worker process (:func:`serve`) whose address space is capped with
``RLIMIT_AS``; the parent waits at most ``timeout`` seconds for the answer, then
kills the worker and refuses the file. The worker is reused across files and
restarted after a kill or crash, so a bad file costs one restart, never the app.

The protocol is length-prefixed JSON over the worker's stdin/stdout: no pickle
crosses the process boundary, so a subverted worker cannot run code in the parent.
"""

from __future__ import annotations

import json
import logging
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from . import errors
from .documents import load_document
from .errors import RagError, UnreadableDocument
from .types import Document

log = logging.getLogger(__name__)
_HEADER = struct.Struct(">Q")
#: A worker left holding more than this after a file (allocators rarely give memory back)
#: is ended; the next file starts a fresh one.
RESTART_ABOVE_MB = 512


class Parser(Protocol):
    """What reads a file into a Document (the engine's default: the shared :class:`Sandbox`)."""

    def load(self, path: Path, doc_id: str, max_bytes: int) -> Document: ...


class Sandbox:
    """One worker process that reads files with a time and memory limit.

    Thread-safe: requests are serialised (a worker reads one file at a time).
    """

    def __init__(self, timeout: float, memory_mb: int, worker: Sequence[str] | None = None) -> None:
        """``worker``: the command that starts a worker (:func:`serve` by default)."""
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.worker = list(worker or [sys.executable, "-c", f"from rag.sandbox import serve; serve({int(memory_mb)})"])
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._peak_mb = 0.0

    def load(self, path: Path, doc_id: str, max_bytes: int) -> Document:
        """Read ``path`` as :func:`rag.documents.load_document` would, in the worker.

        Raises:
            UnsupportedFile, UnreadableDocument, EmptyDocument: as the reader does,
            plus UnreadableDocument when the worker runs out of time or memory or crashes.
        """
        request = json.dumps({"path": str(path), "doc_id": doc_id, "max_bytes": max_bytes}).encode()
        with self._lock:
            proc = self._ensure()
            try:
                _write_frame(proc.stdin, request)
                reply = _read_frame(proc.stdout, time.monotonic() + self.timeout)
            except TimeoutError:
                self._kill()
                raise UnreadableDocument(f"parsing took longer than {self.timeout:g} s; the file was refused") from None
            except (EOFError, OSError):
                code = self._kill()
                raise UnreadableDocument(
                    f"the parser crashed on this file (worker exit status {code}); the file was refused"
                ) from None
            self._peak_mb = max(self._peak_mb, self._memory_mb("VmHWM") or 0.0)
            if (self._memory_mb("VmRSS") or 0.0) > RESTART_ABOVE_MB:
                self._kill()
        message = json.loads(reply)
        if "document" in message:
            return Document(**message["document"])
        cls = getattr(errors, message.get("error", ""), None)
        if not (isinstance(cls, type) and issubclass(cls, RagError)):
            cls = UnreadableDocument
        raise cls(message.get("message", "the file cannot be read"))

    def peak_memory_mb(self) -> float | None:
        """The highest resident memory of any of its workers so far (Linux); None before any file."""
        peak = max(self._peak_mb, self._memory_mb("VmHWM") or 0.0)
        return peak or None

    def _memory_mb(self, field: str) -> float | None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith(f"{field}:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                self.worker,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=str(Path(__file__).resolve().parent.parent),
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        return self._proc

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        return code


_shared: dict[tuple[float, int], Sandbox] = {}
_shared_lock = threading.Lock()


def shared(timeout: float, memory_mb: int) -> Sandbox:
    """The process-wide sandbox for these limits (one worker, started on first use)."""
    with _shared_lock:
        key = (timeout, memory_mb)
        if key not in _shared:
            _shared[key] = Sandbox(timeout, memory_mb)
        return _shared[key]


def _write_frame(stream, payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _read_exact(stream, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    fd = stream.fileno()
    while n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream, deadline: float | None) -> bytes:
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size, deadline))
    return _read_exact(stream, size, deadline)


# -- the worker --------------------------------------------------------------------------


def _limit_memory(memory_mb: int) -> None:
    """Cap the address space at what the worker already maps plus ``memory_mb``."""
    import resource

    mapped = 0
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    mapped = int(line.split()[1]) * 1024
    except OSError:
        pass
    limit = mapped + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _near_limit() -> bool:
    """Whether this process has come close to its address-space limit."""
    import resource

    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return False
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1]) * 1024 >= 0.9 * limit
    except OSError:
        pass
    return False


def serve(memory_mb: int) -> None:
    # The protocol owns the real stdout; anything a parser prints goes to stderr.
    channel_in = os.fdopen(os.dup(0), "rb", buffering=0)
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.ERROR)
    for module in ("pypdf", "pypdfium2", "docx"):
        logging.getLogger(module).setLevel(logging.CRITICAL)
    _limit_memory(memory_mb)
    while True:
        try:
            request = json.loads(_read_frame(channel_in, None))
        except EOFError:
            return
        try:
            document = load_document(Path(request["path"]), request["doc_id"], request["max_bytes"])
            reply = {"document": asdict(document)}
        except RagError as exc:
            reply = {"error": type(exc).__name__, "message": str(exc)}
        except MemoryError:
            reply = {"error": "UnreadableDocument", "message": f"parsing needs over {memory_mb} MB of memory; refused"}
        except RecursionError:
            reply = {"error": "UnreadableDocument", "message": "the file is nested too deeply to parse"}
        except Exception as exc:  # noqa: BLE001 - any parser failure is a refusal, never a crash
            # C parsers report a failed allocation as a generic error: say what it was.
            message = (
                f"parsing needs over {memory_mb} MB of memory; refused"
                if _near_limit()
                else f"the file cannot be parsed: {type(exc).__name__}: {exc}"
            )
            reply = {"error": "UnreadableDocument", "message": message}
        try:
            payload = json.dumps(reply, ensure_ascii=False).encode("utf-8")
        except (MemoryError, UnicodeEncodeError):
            payload = json.dumps({"error": "UnreadableDocument", "message": "the text is too large to return"}).encode()
        _write_frame(channel_out, payload)
