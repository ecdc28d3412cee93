"""Memory while ingesting big inputs: the serving app (uploads) and the CLI, on real files.

Usage::

    python benchmarks/memory.py [--calls 5000] [--text-mb 50] [--html-mb 50] [--files 10000]

Launches ``app.py`` over a fresh index of the seeds on a loopback port, then, one
after the other: makes ``--calls`` API calls (each one a session of its own for
Gradio), uploads an HTML page of mostly markup, and ingests a folder of small files
with the CLI into the same index (the app picks that up on its own). Then a second
fresh app: uploads a text file of short paragraphs (about 11,000 passages a MB), then
one small file, which makes it switch from that large index to a newer generation.
For each it prints the app process's resident memory before and after, its peak,
and the peak of the CLI. The baseline is each app's memory after start and a first
answer, in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import SEEDS, serve_app  # noqa: E402

WORDS = (
    "the harbour master opened a new pier on tuesday and counted fishing boats in spring while rain fell over "
    "the old town council library budget bridge engineers repaired northern road"
).split()


def _status(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def text_file(path: Path, megabytes: float) -> Path:
    rng = random.Random(1)
    with open(path, "w") as fh:
        written = 0
        while written < megabytes * 1_000_000:
            paragraph = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 25))).capitalize() + ".\n\n"
            fh.write(paragraph)
            written += len(paragraph)
    return path


def html_page(path: Path, megabytes: float) -> Path:
    rng = random.Random(2)
    with open(path, "w") as fh:
        fh.write("<html><head><title>Big page</title></head><body>")
        written, i = 0, 0
        while written < megabytes * 1_000_000:
            if i % 200 == 0:
                chunk = "<p>" + " ".join(rng.choice(WORDS) for _ in range(20)).capitalize() + ".</p>\n"
            else:
                chunk = '<div class="row"><span class="cell"><a href="#">x</a></span></div>\n'
            fh.write(chunk)
            written, i = written + len(chunk), i + 1
        fh.write("</body></html>")
    return path


def small_files(folder: Path, n: int) -> Path:
    rng = random.Random(3)
    folder.mkdir()
    for i in range(n):
        words = " ".join(rng.choice(WORDS) for _ in range(12))
        (folder / f"note-{i:05d}.txt").write_text(f"Note {i}\n\nNote number {i} says: {words.capitalize()}.")
    return folder


def _api_calls(url: str, n: int) -> dict[str, int]:
    """``n`` asks over the plain HTTP API, 4 at a time, from 50 loopback addresses in turn
    (so that the per-address rate limit lets them all through): outcome -> count."""
    from concurrent.futures import ThreadPoolExecutor

    from benchmarks.load import QUESTIONS, _call

    def one(i: int) -> str:
        outcome, _ = _call(url, QUESTIONS[i % len(QUESTIONS)], source=f"127.0.0.{10 + i % 50}")
        return outcome if not outcome.startswith("error") else "error"

    counts: dict[str, int] = {}
    with ThreadPoolExecutor(4) as pool:
        for outcome in pool.map(one, range(n)):
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@contextlib.contextmanager
def _fresh_app(work: Path, name: str):
    """An app over a fresh index of the seeds, after a first answer: (url, pid, client, index, baseline MiB)."""
    from gradio_client import Client

    index = work / f"index-{name}"
    with serve_app(index, work / f"app-{name}.log", "--docs", str(SEEDS)) as url:
        pid = int(subprocess.check_output(["pgrep", "-f", f"app.py.*{index}"], text=True).split()[0])
        client = Client(url, verbose=False)
        client.predict("Who leads the Hamas delegation to Damascus?", 3, api_name="/ask")
        yield url, pid, client, index, _status(pid)["VmRSS"]


def _upload(client, pid: int, name: str, path: Path) -> tuple:
    from gradio_client import handle_file

    before = _status(pid)
    started = time.perf_counter()
    status, *_ = client.predict([handle_file(str(path))], api_name="/upload")
    seconds = time.perf_counter() - started
    client.predict("Who counted the fishing boats?", 3, api_name="/ask")
    after = _status(pid)
    return name, before["VmRSS"], after["VmRSS"], after["VmHWM"], float("nan"), seconds, status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--text-mb", type=float, default=50)
    parser.add_argument("--html-mb", type=float, default=50)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args(argv)

    rows, baselines = [], []
    with tempfile.TemporaryDirectory(prefix="rag-memory-") as tmp:
        work = Path(tmp)
        # One app: API calls, the HTML page, then the CLI's small files.
        with _fresh_app(work, "a") as (url, pid, client, index, baseline):
            baselines.append(baseline)
            if args.calls:
                before = _status(pid)
                started = time.perf_counter()
                outcomes = _api_calls(url, args.calls)
                seconds = time.perf_counter() - started
                after = _status(pid)
                summary = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
                rows.append(
                    (
                        f"API: {args.calls:,} asks",
                        before["VmRSS"],
                        after["VmRSS"],
                        after["VmHWM"],
                        float("nan"),
                        seconds,
                        summary,
                    )
                )
            page = html_page(work / "big.html", args.html_mb)
            rows.append(_upload(client, pid, f"upload: {args.html_mb:g} MB HTML page", page))
            folder = small_files(work / "notes", args.files)
            before = _status(pid)
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "rag", "--index", str(index), "ingest", str(folder)],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - started
            cli_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            time.sleep(2)  # the app notices the new index within a second
            answer = client.predict("What does note number 1234 say?", 3, api_name="/ask")
            after = _status(pid)
            rows.append(
                (
                    f"CLI ingest: {args.files:,} small files",
                    before["VmRSS"],
                    after["VmRSS"],
                    after["VmHWM"],
                    cli_peak,
                    seconds,
                    (done.stdout.strip().splitlines() or [""])[0][:60]
                    + f"; app answers from them: {answer['excerpts'][0]['source'] if answer['excerpts'] else '-'}",
                )
            )
        # Another app: the big text, then one small file, which makes the app switch from
        # the large index to a newer generation of it.
        with _fresh_app(work, "b") as (url, pid, client, index, baseline):
            baselines.append(baseline)
            text = text_file(work / "short.txt", args.text_mb)
            rows.append(_upload(client, pid, f"upload: {args.text_mb:g} MB text, short paragraphs", text))
            note = work / "after.txt"
            note.write_text("A note\n\nThe ferry to the island leaves at nine every morning.", encoding="utf-8")
            rows.append(_upload(client, pid, "  then a one-paragraph file", note))
    print(
        f"Each app after start and a first answer (baseline): {', '.join(f'{b:.0f}' for b in baselines)} MiB resident"
    )
    print(
        f"{'input':<40}{'app before':>11}{'app after':>10}{'growth':>8}{'app peak':>10}{'peak growth':>12}"
        f"{'CLI peak':>10}{'seconds':>9}  result"
    )
    for name, before, after, peak, cli, seconds, status in rows:
        cli_text = f"{cli:>10.0f}" if cli == cli else f"{'-':>10}"
        print(
            f"{name:<40}{before:>11.0f}{after:>10.0f}{after - before:>+8.0f}{peak:>10.0f}{peak - before:>+12.0f}"
            f"{cli_text}{seconds:>9.1f}  {' '.join(status.split())[:90]}"
        )
    print("(MiB. 'app peak' is the app's highest resident memory since it started, 'peak growth' that")
    print(" less 'app before'; uploads are indexed by a child process, so the app only loads the result.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
