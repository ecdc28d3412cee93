"""The app's API through gradio_client against a real launched server."""

from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests.factories import EXCERPT_FIELDS

from ..conftest import SEEDS

pytestmark = pytest.mark.slow


def test_ask_returns_the_answer_json(app_url: str):
    client = Client(app_url, verbose=False)
    answer = client.predict("Who leads the Hamas delegation to Damascus?", 3, api_name="/ask")
    assert answer["answered"] is True and 1 <= len(answer["excerpts"]) <= 3
    assert any("Khalil Al-Hayya" in e["text"] for e in answer["excerpts"])
    for e in answer["excerpts"]:
        assert set(e) == EXCERPT_FIELDS
        assert (SEEDS / e["source"]).read_text(encoding="utf-8")[e["start"] : e["end"]] == e["text"]
    unanswered = client.predict("How do I bake bread?", api_name="/ask")
    assert unanswered["answered"] is False and unanswered["unwritten"] == ["bake", "bread"]


def test_upload_ask_remove(app_url: str, tmp_path: Path):
    client = Client(app_url, verbose=False)
    note = tmp_path / "lighthouse.md"
    note.write_text("# Lighthouse log\n\nThe keeper of the Skerry lighthouse is Ingrid Solberg.", encoding="utf-8")
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    status, *_ = client.predict([handle_file(str(note)), handle_file(str(bad))], api_name="/upload")
    assert "lighthouse.md" in status and "Refused broken.pdf" in status
    ids = [d["id"] for d in client.predict(api_name="/documents")["documents"]]
    assert "lighthouse.md" in ids and "broken.pdf" not in ids
    answer = client.predict("Who keeps the Skerry lighthouse?", api_name="/ask")
    assert answer["answered"] and answer["excerpts"][0]["source"] == "lighthouse.md"
    assert "Ingrid Solberg" in answer["excerpts"][0]["text"]
    status, *_ = client.predict("lighthouse.md", api_name="/remove")
    assert "Removed lighthouse.md" in status
    assert "lighthouse.md" not in [d["id"] for d in client.predict(api_name="/documents")["documents"]]
    assert all(
        e["source"] != "lighthouse.md" for e in client.predict("Skerry lighthouse keeper", api_name="/ask")["excerpts"]
    )


def test_ask_takes_history_and_a_document_filter(app_url: str):
    client = Client(app_url, verbose=False)
    answer = client.predict(
        "When was it formed?", 3, ["Who commands Liwa al-Quds?"], ["001_6ca5efe176715221.txt"], api_name="/ask"
    )
    assert answer["answered"] and "formed in 2013" in answer["excerpts"][0]["text"]
    assert answer["searched_as"] == "Who commands Liwa al-Quds? When was it formed?"
    assert {e["source"] for e in answer["excerpts"]} == {"001_6ca5efe176715221.txt"}
    earlier = ["Who is Maher al-Assad?"]
    unrelated = client.predict("What is the capital of Australia?", 3, earlier, None, api_name="/ask")
    assert unrelated["answered"] is False
    plain = client.predict("Who commands Liwa al-Quds?", api_name="/ask")  # history and filter are optional
    assert plain["answered"]
