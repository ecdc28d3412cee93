"""The app and a CLI ingest on one index folder: the app serves the CLI's documents and never saves over them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from benchmarks.load import serve_app
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _cli(index: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag", "--index", str(index), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_app_answers_from_cli_ingest_and_its_upload_keeps_them(tmp_path: Path, seed_index: Path):
    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    folder = tmp_path / "cli-docs"
    folder.mkdir()
    for i in range(10):
        (folder / f"orchard-{i}.txt").write_text(
            f"Orchard {i}\n\nThe orchard number {i} on Quince Lane harvested {1000 + i} kilograms of "
            f"damsons this autumn, its keeper Ingrid Vasquez{i} said."
        )
    upload = tmp_path / "beekeeping.txt"
    upload.write_text("Beekeeping club\n\nThe beekeeping club meets on Thursdays in the old mill by the river.")
    with serve_app(index, tmp_path / "app.log") as url:
        client = Client(url, verbose=False)
        done = _cli(index, "ingest", str(folder))
        assert done.returncode == 0, done.stderr
        ingested = time.monotonic()
        while True:
            answer = client.predict("How many kilograms of damsons did orchard number 7 harvest?", 3, api_name="/ask")
            if answer["answered"] and answer["excerpts"][0]["source"] == "orchard-7.txt":
                break
            assert time.monotonic() - ingested < 5, answer
            time.sleep(0.2)
        listed = {d["id"] for d in client.predict(api_name="/documents")["documents"]}
        assert {f"orchard-{i}.txt" for i in range(10)} <= listed
        client.predict([handle_file(str(upload))], api_name="/upload")
        answer = client.predict("When does the beekeeping club meet?", 3, api_name="/ask")
        assert answer["excerpts"][0]["source"] == "beekeeping.txt"
    ids = {row["id"] for row in json.loads(_cli(index, "list", "--json").stdout)}
    assert {f"orchard-{i}.txt" for i in range(10)} | {"beekeeping.txt"} <= ids
    assert len(ids) == 5 + 10 + 1
