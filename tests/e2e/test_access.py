"""Who may change the index: a read-only app has no write route; with accounts, only editors write."""

from __future__ import annotations

import http.client
import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from benchmarks.load import serve_app
from rag.accounts import save_account

pytestmark = pytest.mark.slow


@pytest.fixture
def index(tmp_path: Path, seed_index: Path) -> Path:
    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy)
    return copy


def _note(tmp_path: Path) -> Path:
    note = tmp_path / "lighthouse.md"
    note.write_text("# Lighthouse log\n\nThe keeper of the Skerry lighthouse is Ingrid Solberg.", encoding="utf-8")
    return note


def test_read_only_app_has_no_route_that_changes_the_index(index: Path, tmp_path: Path):
    with serve_app(index, tmp_path / "app.log", "--read-only") as url:
        client = Client(url, verbose=False)
        endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
        assert {"/ask", "/documents"} <= endpoints
        assert not endpoints & {"/upload", "/remove"}
        for route, data in (("upload", [[]]), ("remove", ["001_6ca5efe176715221.txt"])):
            # Straight to the server, past the client's own checks: the route does not exist there.
            request = urllib.request.Request(
                f"{url}gradio_api/call/{route}",
                data=json.dumps({"data": data}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(request, timeout=30)
        assert len(client.predict(api_name="/documents")["documents"]) == 5
        assert client.predict("Who commands Liwa al-Quds?", api_name="/ask")["answered"]


def test_with_accounts_readers_ask_and_only_editors_change_documents(index: Path, tmp_path: Path):
    accounts = tmp_path / "accounts.txt"
    save_account(accounts, "reader1", "reader", "reader password")
    save_account(accounts, "editor1", "editor", "editor password")
    with serve_app(index, tmp_path / "app.log", "--auth", str(accounts)) as url:
        with pytest.raises(Exception):  # noqa: B017 - no anonymous access at all
            Client(url, verbose=False).predict("Who commands Liwa al-Quds?", api_name="/ask")
        reader = Client(url, auth=("reader1", "reader password"), verbose=False)
        assert reader.predict("Who commands Liwa al-Quds?", api_name="/ask")["answered"]
        status, *_ = reader.predict([handle_file(str(_note(tmp_path)))], api_name="/upload")
        assert "Only editors" in status
        status, *_ = reader.predict("001_6ca5efe176715221.txt", api_name="/remove")
        assert "Only editors" in status
        assert len(reader.predict(api_name="/documents")["documents"]) == 5
        editor = Client(url, auth=("editor1", "editor password"), verbose=False)
        status, *_ = editor.predict([handle_file(str(_note(tmp_path)))], api_name="/upload")
        assert "Indexed: lighthouse.md" in status
        status, *_ = editor.predict("001_6ca5efe176715221.txt", api_name="/remove")
        assert "Removed" in status
        ids = {d["id"] for d in reader.predict(api_name="/documents")["documents"]}
        assert "lighthouse.md" in ids and "001_6ca5efe176715221.txt" not in ids


def test_api_errors_are_one_line_and_a_huge_question_is_refused_at_once(app_url: str):
    client = Client(app_url, verbose=False)
    for k in ("many", None):
        with pytest.raises(Exception) as caught:
            client.predict("Who commands Liwa al-Quds?", k, api_name="/ask")
        assert "whole number" in str(caught.value) and "Traceback" not in str(caught.value)
    long = "why " * 1_500  # 6,000 characters: read, and refused by the engine in one line
    with pytest.raises(Exception) as caught:
        client.predict(long, 5, api_name="/ask")
    assert "at most 2,000" in str(caught.value) and "Traceback" not in str(caught.value)
    huge = json.dumps({"data": ["why " * 2_500_000, 5]}).encode()  # 10 MB: refused unread
    request = urllib.request.Request(
        f"{app_url}gradio_api/call/ask", data=huge, headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    refused_in = time.perf_counter() - started
    assert refused.value.code == 413 and b"at most 2,000" in refused.value.read()
    assert refused_in < 5, refused_in  # timed properly in benchmarks/load.py
    # urllib asks to close the connection (the body is read first); on a kept-alive one the
    # refusal goes out before the body is read, and still reaches the client whole.
    parts = urllib.parse.urlsplit(app_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", "/gradio_api/call/ask", huge, {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 413 and b"at most 2,000" in response.read()
    finally:
        connection.close()
    assert client.predict("Who commands Liwa al-Quds?", 3, api_name="/ask")["answered"]


def test_uploads_past_the_quota_are_refused_until_storage_is_cleaned(
    index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    upload_dir = tmp_path / "uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(upload_dir))  # this app's own upload folder
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\x00\x01binary junk " * 50_000)  # 650 KB, refused by the reader, kept by Gradio
    with serve_app(index, tmp_path / "app.log", "--upload-quota", "1") as url:
        client = Client(url, verbose=False)
        status, *_ = client.predict([handle_file(str(junk))], api_name="/upload")
        assert "Refused junk.txt" in status
        request = urllib.request.Request(
            f"{url}gradio_api/upload",
            data=b'--x\r\nContent-Disposition: form-data; name="files"; filename="more.txt"\r\n\r\n'
            + b"y" * 600_000
            + b"\r\n--x--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 507 and b"upload storage is full" in refused.value.read()
        assert client.predict("Who commands Liwa al-Quds?", api_name="/ask")["answered"]


def test_one_address_over_its_rate_is_told_to_wait_and_others_are_served(index: Path, tmp_path: Path):
    import http.client

    def ask(url: str, source: str) -> int:
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
        try:
            body = json.dumps({"data": ["Who commands Liwa al-Quds?", 3, [], None]}).encode()
            connection.request("POST", "/gradio_api/call/ask", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with serve_app(index, tmp_path / "app.log", "--rate-limit", "60") as url:  # bursts of 6
        statuses = [ask(url, "127.0.0.1") for _ in range(12)]
        assert statuses[:6] == [200] * 6 and 429 in statuses[6:]
        assert ask(url, "127.0.0.2") == 200  # another address is not held back


def test_requests_that_dodge_the_size_check_are_refused(app_url: str):
    import http.client

    parts = urllib.parse.urlsplit(app_url)

    def post(path: str, body, headers: dict, chunked: bool = False) -> int:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    question = json.dumps({"data": ["Who commands Liwa al-Quds?", 3, [], None]}).encode()
    # a body of unknown length (chunked) could be any size
    assert post("/gradio_api/call/ask", iter([question]), {"Content-Type": "application/json"}, chunked=True) == 411
    # "multipart" is exempt from the JSON limit on the upload route only
    big = b"x" * 1_000_000
    assert post("/gradio_api/call/ask", big, {"Content-Type": "multipart/form-data; boundary=x"}) == 413
    # no direct /run/ route around the queue and its bound
    assert post("/gradio_api/run/ask", question, {"Content-Type": "application/json"}) >= 400
    assert post("/gradio_api/call/ask", question, {"Content-Type": "application/json"}) == 200
