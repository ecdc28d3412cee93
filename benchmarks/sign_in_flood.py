"""Wrong sign-ins in a flood, against the people signed in: with and without the sign-in limit.

Usage::

    python benchmarks/sign_in_flood.py [--threads 32] [--asks 5]

Launches ``app.py --auth`` over a fresh index of the seeds, with a reader account. A
signed-in reader asks ``--asks`` questions from 127.0.0.1 (the baseline), then again
while ``--threads`` connections from 127.0.0.2-5 post wrong passwords to ``/login`` as
fast as they are answered. Each check of a password costs about 0.15 s of a core (PBKDF2,
600,000 rounds), outside the request queue. Run twice: with the default
``--sign-in-limit`` and with ``--sign-in-limit 0`` (no limit, as before it existed).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from load import SEEDS, serve_app  # noqa: E402

from rag.accounts import save_account  # noqa: E402

QUESTION = "Who commands Liwa al-Quds?"


def _ask(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    response = session.post(url + "gradio_api/call/ask", json={"data": [QUESTION, 5, None, None]}, timeout=300)
    event = response.json()["event_id"]
    stream = session.get(url + f"gradio_api/call/ask/{event}", timeout=300).text
    if "event: complete" not in stream:
        raise RuntimeError(f"the signed-in reader's question failed: {stream[-200:]}")
    return time.perf_counter() - started


def measure(url: str, threads: int, asks: int) -> dict[str, object]:
    session = requests.Session()
    if session.post(url + "login", data={"username": "reader", "password": "a reader's password"}).status_code != 200:
        raise RuntimeError("the reader could not sign in")
    baseline = [_ask(session, url) for _ in range(asks)]
    parts = urllib.parse.urlsplit(url)
    stop, codes, lock = threading.Event(), {}, threading.Lock()

    def flood(number: int) -> None:
        while not stop.is_set():
            connection = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=120, source_address=(f"127.0.0.{2 + number % 4}", 0)
            )
            try:
                connection.request(
                    "POST",
                    "/login",
                    "username=nobody&password=guess",
                    {"Content-Type": "application/x-www-form-urlencoded"},
                )
                status = connection.getresponse().status
            except OSError:
                status = "error"
            finally:
                connection.close()
            with lock:
                codes[status] = codes.get(status, 0) + 1

    workers = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(2)
    during = [_ask(session, url) for _ in range(asks)]
    stop.set()
    for worker in workers:
        worker.join(timeout=130)
    return {"baseline": statistics.median(baseline), "during": statistics.median(during), "codes": dict(codes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--asks", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="rag-sign-in-") as tmp:
        workdir = Path(tmp)
        accounts = workdir / "accounts.txt"
        save_account(accounts, "reader", "reader", "a reader's password")
        for label, limit in (("sign-in limit (default)", []), ("no sign-in limit", ["--sign-in-limit", "0"])):
            extra = ["--docs", str(SEEDS), "--auth", str(accounts), *limit]
            with contextlib.ExitStack() as stack:
                url = stack.enter_context(serve_app(workdir / "index", workdir / "app.log", *extra))
                rows.append((label, measure(url, args.threads, args.asks)))
    print(f"{args.threads} connections from 4 addresses post wrong passwords; a signed-in reader asks {args.asks}x")
    print("| run | reader's median ask, alone | during the flood | ratio | sign-in answers (HTTP status: count) |")
    print("|---|---|---|---|---|")
    for label, r in rows:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(r["codes"].items(), key=str))
        ratio = r["during"] / r["baseline"]
        print(f"| {label} | {r['baseline'] * 1000:.0f} ms | {r['during'] * 1000:.0f} ms | {ratio:.1f}x | {codes} |")


if __name__ == "__main__":
    main()
