"""The CLI as a user runs it: a real process, the real model, a real index on disk."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import EXCERPT_FIELDS

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow


def run(*args: str, index: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "rag", "--index", str(index), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def index(tmp_path: Path, seed_index: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy)
    return copy


def assert_clean_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], result.stderr


def test_ask_quotes_with_citation(index: Path):
    result = run("ask", "Who commands Liwa al-Quds?", index=index)
    assert result.returncode == 0, result.stderr
    assert "(001_6ca5efe176715221.txt, ¶4)" in result.stdout
    assert (
        '"The brigade was formed in 2013 by engineer Muhammad al-Sa’eed who is its current commander' in result.stdout
    )
    assert result.stdout.startswith('[1] "')


def test_ask_json_is_the_answer_with_exact_fields(index: Path):
    result = run("ask", "Who leads the Hamas delegation to Damascus?", "--json", "-k", "3", index=index)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) == {"question", "answered", "searched_as", "unwritten", "excerpts"}
    assert answer["answered"] is True
    assert 1 <= len(answer["excerpts"]) <= 3
    for e in answer["excerpts"]:
        assert set(e) == EXCERPT_FIELDS
        assert (SEEDS / e["source"]).read_text(encoding="utf-8")[e["start"] : e["end"]] == e["text"]
        assert e["text"][e["highlight"][0] : e["highlight"][1]]


def test_out_of_domain_says_so(index: Path):
    result = run("ask", "What is the capital of Australia?", index=index)
    assert result.returncode == 0
    assert result.stdout.startswith("The documents do not answer this question.")
    assert "near-misses" in result.stdout
    data = json.loads(run("ask", "How do I bake bread?", "--json", index=index).stdout)
    assert data["answered"] is False and all(e["near_miss"] for e in data["excerpts"])
    assert data["unwritten"] == ["bake", "bread"]  # no article writes either word


def test_the_answer_shows_the_names_an_excerpt_lacks(index: Path):
    result = run("ask", "Who leads the Wagner brigade in Aleppo?", index=index)
    assert result.returncode == 0
    assert result.stdout.startswith("The documents do not answer this question.\n(not in any document: Wagner)\n")
    data = json.loads(run("ask", "Who leads the Wagner brigade in Aleppo?", "--json", index=index).stdout)
    assert data["unwritten"] == ["Wagner"] and data["excerpts"]
    for e in data["excerpts"]:  # Aleppo is a name the articles write: each excerpt says whether it does
        assert e["missing"] == ([] if "aleppo" in (e["text"] + e["section"] + e["title"]).lower() else ["Aleppo"])
    lacking = sum(e["missing"] == ["Aleppo"] for e in data["excerpts"])
    assert lacking and result.stdout.count("    not in this excerpt: Aleppo") == lacking


def test_follow_up_uses_history(index: Path):
    result = run("ask", "When was it formed?", "--history", "Who commands Liwa al-Quds?", "--json", index=index)
    assert "formed in 2013" in json.loads(result.stdout)["excerpts"][0]["text"]
    shown = run("ask", "When was it formed?", "--history", "Who commands Liwa al-Quds?", index=index).stdout
    assert shown.startswith("(searched as: Who commands Liwa al-Quds? When was it formed?)")
    unrelated = run("ask", "What is the capital of Australia?", "--history", "Who is Maher al-Assad?", index=index)
    assert unrelated.stdout.startswith("The documents do not answer this question.")


def test_list_and_remove(index: Path):
    listed = json.loads(run("list", "--json", index=index).stdout)
    assert [d["id"] for d in listed] == sorted(p.name for p in SEEDS.iterdir())
    assert all(d["paragraphs"] > 5 and d["title"] for d in listed)
    removed = run("remove", "004_ea17900e9b06a4c9.txt", index=index)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert len(json.loads(run("list", "--json", index=index).stdout)) == 4
    answer = json.loads(run("ask", "Who leads the Hamas delegation to Damascus?", "--json", index=index).stdout)
    assert all(e["source"] != "004_ea17900e9b06a4c9.txt" for e in answer["excerpts"])


def test_ingest_reports_and_is_incremental(tmp_path: Path, index: Path):
    again = run("ingest", str(SEEDS), "--json", index=index)
    assert json.loads(again.stdout)["unchanged"] == sorted(p.name for p in SEEDS.iterdir())
    note = tmp_path / "note.md"
    note.write_text("# Garden\n\nThe tomatoes were planted on the ninth of May.", encoding="utf-8")
    added = run("ingest", str(note), index=index)
    assert added.returncode == 0 and "added: 1 (note.md)" in added.stdout
    answer = json.loads(run("ask", "When were the tomatoes planted?", "--json", index=index).stdout)
    assert answer["answered"] and answer["excerpts"][0]["source"] == "note.md"


def test_ask_reindexes_a_file_changed_on_disk(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    note = docs / "note.txt"
    note.write_text("The meeting is on Tuesday in room four.", encoding="utf-8")
    index = tmp_path / "index"
    assert run("ingest", str(docs), index=index).returncode == 0
    note.write_text("The meeting moved to Friday in the library.", encoding="utf-8")
    result = run("ask", "Where is the meeting?", "--json", index=index)
    assert "re-indexed changed documents: note.txt" in result.stderr
    assert "library" in json.loads(result.stdout)["excerpts"][0]["text"]


def test_errors_are_one_line_without_traceback(tmp_path: Path, index: Path):
    assert_clean_error(run("remove", "nope.txt", index=index), "nope.txt")
    assert_clean_error(run("--model", "/no/such/model", "list", index=index), "all-MiniLM-L6-v2")
    (index / "manifest.json").write_text("{broken")
    recovered = run("list", index=index)  # the generation's own manifest copy still verifies
    assert recovered.returncode == 0 and "Traceback" not in recovered.stderr
    assert recovered.stderr.startswith("warning:") and "manifest.json" in recovered.stderr
    for generation in index.glob("gen-*"):
        (generation / "passages.jsonl").write_text("{broken")
    assert_clean_error(run("list", index=index), "passages.jsonl")
    refused = run("ingest", str(tmp_path / "missing.pdf"), index=tmp_path / "fresh")
    assert refused.returncode == 1 and "refused" in refused.stdout and "Traceback" not in refused.stderr


def test_eval_prints_the_metrics(index: Path):
    result = run("eval", str(ROOT / "tests" / "data" / "seed_questions.jsonl"), "--json", index=index)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["questions"] == 44
    assert metrics["hit@5"] >= 0.95 and metrics["abstain_precision"] == 1.0 and metrics["abstain_recall"] == 1.0
    bad = ROOT / "tests" / "data" / "seed_questions.jsonl"
    assert_clean_error(run("eval", str(bad.with_name("missing.jsonl")), index=index), "missing.jsonl")


def test_eval_lists_the_questions_it_missed(index: Path, tmp_path: Path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"q": "Who commands Liwa al-Quds?", "gold": ["Muhammad al-Sa’eed"]}\n'
        '{"q": "Who leads the Hamas delegation?", "gold": ["a phrase that no document holds"]}\n'
        '{"q": "How do I bake bread?", "unanswerable": true}\n'
    )
    result = run("eval", str(questions), index=index)
    assert result.returncode == 0, result.stderr
    assert "missed" in result.stdout and "Who leads the Hamas delegation?" in result.stdout
    assert "Who commands Liwa al-Quds?" not in result.stdout.split("abstain_recall")[1]
    assert json.loads(run("eval", str(questions), "--json", index=index).stdout)["misses"] == [
        "missed (not in the excerpts): Who leads the Hamas delegation?"
    ]


def test_ask_shows_no_progress_and_labels_near_misses(index: Path):
    result = run("ask", "What is the capital of Australia?", index=index)
    assert result.stderr == ""
    assert "closest sentence:" in result.stdout and "answering sentence:" not in result.stdout


def test_ingest_of_a_missing_path_fails_even_beside_a_good_one(index: Path, tmp_path: Path):
    note = tmp_path / "note.txt"
    note.write_text("The ferry leaves at nine from the western quay.")
    result = run("ingest", str(note), str(tmp_path / "typo.txt"), index=index)
    assert result.returncode == 1 and "added: 1 (note.txt)" in result.stdout and "no such file" in result.stdout


def test_remove_several_or_all_in_one_save(index: Path):
    removed = run("remove", "000_40cf413a4e758f71.txt", "001_6ca5efe176715221.txt", index=index)
    assert removed.returncode == 0 and "removed 2" in removed.stdout
    assert len(json.loads(run("list", "--json", index=index).stdout)) == 3
    assert run("remove", "--all", index=index).returncode == 0
    assert json.loads(run("list", "--json", index=index).stdout) == []


def test_account_adds_a_sign_in_account(tmp_path: Path):
    accounts = tmp_path / "accounts.txt"
    result = subprocess.run(
        [sys.executable, "-m", "rag", "account", "ada", "--role", "editor", "--file", str(accounts)]
        + ["--password-stdin"],
        input="a long enough password\n",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    name, role, digest = accounts.read_text().strip().split(":")
    assert (name, role) == ("ada", "editor") and "a long enough password" not in digest
