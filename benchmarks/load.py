"""Load test: many concurrent clients ask questions through the real app while documents churn.

Usage::

    python benchmarks/load.py [--clients 20] [--asks 10] [--churn 5] [--url URL]

Without ``--url`` it launches ``app.py`` on a free loopback port over a fresh
index of the seeds. Each client is its own ``gradio_client.Client`` asking
``--asks`` questions in a row; meanwhile a writer uploads and removes a document
``--churn`` times. Every excerpt's citation is checked against the file it cites.
The baseline, measured in the same run, is one client asking alone.

Then two hostile runs against the same server: one client sends 8 questions of
10 MB each (they must be refused at once) while 4 ordinary clients ask; and a
flood of ``--flood`` simultaneous requests (raw HTTP, each its own connection)
while one ordinary client asks. Past the queue's bound the flood is told "busy".
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
QUESTIONS = (
    "Who leads the Hamas delegation to Damascus?",
    "Who commands Liwa al-Quds?",
    "When was Liwa al-Quds formed?",
    "How many Russian helicopters arrived at Palmyra military airport?",
    "Who leads the Fourth Division?",
    "Where is the Nairab refugee camp?",
    "How do I bake sourdough bread?",
    "What did Bouthaina Shaaban say?",
)
CHURN_TEXT = (
    "# Harbour log {n}\n\nThe harbour master of Port Elin, Mara Quist, logged {n} arrivals on the morning tide.\n\n"
    "Repairs to the northern pier will finish before the winter storms."
)


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checked: int = 0
    writes: int = 0
    seconds: float = 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(index: Path, log_path: Path, *extra: str, timeout: float = 300) -> Iterator[str]:
    """Run ``app.py`` on a free loopback port over ``index``; yield its URL once it answers HTTP."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), "--index", str(index), *extra],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"app exited with {proc.returncode}: {log_path.read_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"app did not answer HTTP within {timeout:g} s")
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def check_answer(answer: dict, sources: dict[str, Path]) -> list[str]:
    """Problems with an answer: an excerpt whose text is not its file's text at its offsets."""
    problems = []
    for excerpt in answer.get("excerpts", []):
        path = sources.get(excerpt["source"])
        if path is None or not path.exists():
            continue  # a churned document, removed since: nothing to compare against
        text = path.read_text(encoding="utf-8")
        if text[excerpt["start"] : excerpt["end"]] != excerpt["text"]:
            problems.append(f"citation mismatch: {excerpt['source']} {excerpt['start']}:{excerpt['end']}")
    return problems


def run_load(url: str, clients: int, asks: int, churn: int, workdir: Path) -> LoadResult:
    """``clients`` concurrent askers (``asks`` questions each) while a writer churns ``churn`` documents."""
    from gradio_client import Client, handle_file

    result = LoadResult()
    sources = {p.name: p for p in SEEDS.iterdir()}
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + (1 if churn else 0))

    def asker(number: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # noqa: BLE001 - every failure is counted, never raised
            with lock:
                result.errors.append(f"client {number}: connect failed: {exc}")
            start_gate.abort()
            return
        start_gate.wait()
        for i in range(asks):
            question = QUESTIONS[(number + i) % len(QUESTIONS)]
            started = time.perf_counter()
            try:
                answer = client.predict(question, 5, api_name="/ask")
            except Exception as exc:  # noqa: BLE001
                with lock:
                    result.errors.append(f"client {number}: {type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - started
            problems = check_answer(answer, sources)
            with lock:
                result.latencies.append(elapsed)
                result.errors.extend(problems)
                result.checked += len(answer.get("excerpts", []))

    def writer() -> None:
        client = Client(url, verbose=False)
        start_gate.wait()
        for n in range(churn):
            path = workdir / f"harbour-{n}.md"
            path.write_text(CHURN_TEXT.format(n=n), encoding="utf-8")
            with lock:
                sources[path.name] = path
            try:
                status, *_ = client.predict([handle_file(str(path))], api_name="/upload")
                if f"Indexed: {path.name}" not in status:
                    raise RuntimeError(status)
                status, *_ = client.predict(path.name, api_name="/remove")
                if f"Removed {path.name}" not in status:
                    raise RuntimeError(status)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    result.errors.append(f"writer: {type(exc).__name__}: {exc}")
                continue
            with lock:
                result.writes += 1

    threads = [threading.Thread(target=asker, args=(n,)) for n in range(clients)]
    if churn:
        threads.append(threading.Thread(target=writer))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def _call(url: str, question: str, k: int = 5, timeout: float = 300, source: str = "127.0.0.1") -> tuple[str, float]:
    """One ``/ask`` over Gradio's plain HTTP API from the loopback address ``source``:
    ("ok" | "busy" | "limited" | "refused" | "error: …", seconds)."""
    parts = urllib.parse.urlsplit(url)
    body = json.dumps({"data": [question, k, [], None]}).encode()
    started = time.perf_counter()  # from the first byte sent (encoding a 10 MB question is the client's cost)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout, source_address=(source, 0))
    try:
        connection.request("POST", "/gradio_api/call/ask", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:  # 503: the queue is full; 429: this address's rate; 413: refused unread
            known = {503: "busy", 429: "limited", 413: "refused"}
            outcome = known.get(response.status, f"error: HTTP {response.status}")
            return outcome, time.perf_counter() - started
        event_id = json.loads(payload)["event_id"]
        connection.close()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout, source_address=(source, 0))
        connection.request("GET", f"/gradio_api/call/ask/{event_id}")
        stream = connection.getresponse().read().decode("utf-8", "replace")
    except OSError as exc:
        return f"error: {exc}", time.perf_counter() - started
    finally:
        connection.close()
    elapsed = time.perf_counter() - started
    if "event: complete" in stream:
        return "ok", elapsed
    if "at most" in stream:
        return "refused", elapsed
    return f"error: {stream[-200:]}", elapsed


def run_hostile(url: str, flood: int) -> list[tuple[str, str]]:
    """Huge questions and a flood next to ordinary users; rows of (measure, value)."""
    rows: list[tuple[str, str]] = []
    huge = "why " * 2_500_000  # 10 MB

    def ordinary(result: LoadResult, stop: threading.Event, number: int) -> None:
        i = 0
        while not stop.is_set():
            # Other users come from other addresses than the attacker (127.0.0.1).
            outcome, elapsed = _call(url, QUESTIONS[(number + i) % len(QUESTIONS)], source=f"127.0.0.{2 + number}")
            i += 1
            if outcome == "ok":
                result.latencies.append(elapsed)
            else:
                result.errors.append(outcome)

    for name, attack in (
        ("8 x 10 MB questions", lambda: [_call(url, huge) for _ in range(8)]),
        (f"{flood} simultaneous asks", lambda: _flood(url, flood)),
    ):
        others, stop = LoadResult(), threading.Event()
        askers = [threading.Thread(target=ordinary, args=(others, stop, n)) for n in range(4 if "MB" in name else 1)]
        for thread in askers:
            thread.start()
        time.sleep(1.0)
        outcomes = attack()
        time.sleep(1.0)
        stop.set()
        for thread in askers:
            thread.join()
        counts: dict[str, int] = {}
        for outcome, _ in outcomes:
            key = outcome if not outcome.startswith("error") else "error"
            counts[key] = counts.get(key, 0) + 1
        seconds = sorted(t for _, t in outcomes)
        rows.append(
            (
                name,
                f"{', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}; their median "
                f"{seconds[len(seconds) // 2] * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms",
            )
        )
        rows.append(
            (
                "  other users meanwhile",
                f"{len(others.latencies)} asks, p50 {others.percentile(0.5) * 1000:.0f} ms, "
                f"p95 {others.percentile(0.95) * 1000:.0f} ms, {len(others.errors)} not answered",
            )
        )
    return rows


def _flood(url: str, n: int) -> list[tuple[str, float]]:
    results: list[tuple[str, float]] = []
    lock = threading.Lock()
    gate = threading.Barrier(n)

    def one(i: int) -> None:
        gate.wait()
        outcome = _call(url, QUESTIONS[i % len(QUESTIONS)])
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running app (default: launch one over a fresh index of the seeds)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--asks", type=int, default=10, help="questions per client")
    parser.add_argument("--churn", type=int, default=5, help="documents uploaded then removed meanwhile")
    parser.add_argument("--flood", type=int, default=500, help="simultaneous requests in the flood run (0: skip)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        workdir = Path(tmp)
        with contextlib.ExitStack() as stack:
            url = args.url
            if url is None:
                url = stack.enter_context(serve_app(workdir / "index", workdir / "app.log", "--docs", str(SEEDS)))
            alone = run_load(url, clients=1, asks=max(10, args.asks), churn=0, workdir=workdir)
            loaded = run_load(url, clients=args.clients, asks=args.asks, churn=args.churn, workdir=workdir)
            hostile = run_hostile(url, args.flood) if args.flood else []
    print(f"Load test: {args.clients} clients x {args.asks} questions, {args.churn} upload+remove cycles meanwhile")
    print(f"{'run':<28}{'asks':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'asks/s':>8}{'errors':>8}")
    for name, r in (("1 client alone (baseline)", alone), (f"{args.clients} clients + churn", loaded)):
        print(
            f"{name:<28}{len(r.latencies):>6}{r.percentile(0.5) * 1000:>9.0f}{r.percentile(0.95) * 1000:>9.0f}"
            f"{max(r.latencies, default=0) * 1000:>9.0f}{len(r.latencies) / r.seconds:>8.1f}{len(r.errors):>8}"
        )
    print(
        f"ratio under load: p50 {loaded.percentile(0.5) / alone.percentile(0.5):.1f}x, "
        f"p95 {loaded.percentile(0.95) / alone.percentile(0.95):.1f}x; throughput "
        f"{(len(loaded.latencies) / loaded.seconds) / (len(alone.latencies) / alone.seconds):.1f}x"
    )
    print(f"excerpts checked against their files: {loaded.checked + alone.checked}; writes done: {loaded.writes}")
    if hostile:
        print(
            "\nHostile runs from 127.0.0.1, other users from 127.0.0.2-5 (the queue holds 64 waiting requests, "
            "an address makes 1,200 calls a minute in bursts of 120, questions over 2,000 characters are refused):"
        )
        for name, value in hostile:
            print(f"{name:<28}{value}")
    for error in (alone.errors + loaded.errors)[:10]:
        print(f"  error: {error}")
    return 1 if alone.errors or loaded.errors else 0


if __name__ == "__main__":
    sys.exit(main())
