"""Memory while ingesting big inputs: the serving app (uploads) and the CLI, on real files.

Usage::

    python benchmarks/memory.py [--text-mb 5] [--html-mb 50] [--files 10000]

Launches ``app.py`` over a fresh index of the seeds on a loopback port, then, one
after the other: uploads a text file of short paragraphs, uploads an HTML page of
mostly markup, and ingests a folder of small files with the CLI into the same
index (the app picks that up on its own). For each it prints the app process's
resident memory before and after, its peak, and the peak of the process that did
the indexing (the app's ingest child, or the CLI). The baseline is the app's
memory after start, in the same run.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text-mb", type=float, default=5)
    parser.add_argument("--html-mb", type=float, default=50)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args(argv)
    from gradio_client import Client, handle_file

    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-memory-") as tmp:
        work = Path(tmp)
        index = work / "index"
        with serve_app(index, work / "app.log", "--docs", str(SEEDS)) as url:
            pid = int(subprocess.check_output(["pgrep", "-f", f"app.py.*{index}"], text=True).split()[0])
            client = Client(url, verbose=False)
            client.predict("Who leads the Hamas delegation to Damascus?", 3, api_name="/ask")
            baseline = _status(pid)["VmRSS"]
            cases = [
                (f"upload: {args.text_mb:g} MB text, short paragraphs", text_file(work / "short.txt", args.text_mb)),
                (f"upload: {args.html_mb:g} MB HTML page", html_page(work / "big.html", args.html_mb)),
            ]
            for name, path in cases:
                before = _status(pid)
                started = time.perf_counter()
                status, *_ = client.predict([handle_file(str(path))], api_name="/upload")
                seconds = time.perf_counter() - started
                client.predict("Who counted the fishing boats?", 3, api_name="/ask")
                after = _status(pid)
                rows.append((name, before["VmRSS"], after["VmRSS"], after["VmHWM"], float("nan"), seconds, status))
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
    print(f"App process after start and a first answer (baseline): {baseline:.0f} MiB resident")
    print(
        f"{'input':<40}{'app before':>11}{'app after':>10}{'growth':>8}{'app peak':>10}{'CLI peak':>10}"
        f"{'seconds':>9}  result"
    )
    for name, before, after, peak, cli, seconds, status in rows:
        cli_text = f"{cli:>10.0f}" if cli == cli else f"{'-':>10}"
        print(
            f"{name:<40}{before:>11.0f}{after:>10.0f}{after - before:>+8.0f}{peak:>10.0f}{cli_text}{seconds:>9.1f}  "
            f"{' '.join(status.split())[:90]}"
        )
    print("(MiB. 'app peak' is the app's highest resident memory since it started; uploads are indexed by a")
    print(" child process, so the app only loads the result. 'growth' is what the app holds for the new index.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
