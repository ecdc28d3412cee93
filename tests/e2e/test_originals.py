"""Open original over HTTP on the real server: an indexed file as a download, nothing else, and with
sign-in on only for those signed in."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from benchmarks.load import serve_app
from rag.accounts import save_account
from rag.render import original_url

from ..conftest import SEEDS
from .conftest import HOSTILE_NAME

pytestmark = pytest.mark.slow

SEED = "004_ea17900e9b06a4c9.txt"
REFUSED = "No document with that id is indexed now; only indexed documents can be opened.\n"


def test_an_indexed_file_downloads_as_it_is_and_nothing_else_does(app_url: str, app_index: Path):
    with httpx.Client(timeout=10) as http:
        served = http.get(app_url + original_url(SEED))
        assert served.status_code == 200 and served.content == (SEEDS / SEED).read_bytes()
        assert served.headers["content-disposition"] == f"attachment; filename*=UTF-8''{SEED}"
        hostile = http.get(app_url + original_url(HOSTILE_NAME))  # a name made of markup
        assert hostile.status_code == 200
        assert hostile.headers["content-disposition"] == f"attachment; filename*=UTF-8''{quote(HOSTILE_NAME, safe='')}"
        for target in (
            "..%2F..%2F..%2Fetc%2Fpasswd",
            "%2Fetc%2Fpasswd",
            quote(str(SEEDS / SEED), safe=""),  # the indexed file, by its path rather than its id
            quote(str(app_index / "manifest.json"), safe=""),
            "app.py",
            "seeds%2F..%2Fapp.py",
        ):
            refused = http.get(app_url + "original/" + target)
            assert (refused.status_code, refused.text) == (404, REFUSED), target


def test_with_sign_in_only_those_signed_in_open_originals(seed_index: Path, tmp_path: Path):
    index = tmp_path / "index"
    shutil.copytree(seed_index, index)
    accounts = tmp_path / "accounts.txt"
    save_account(accounts, "reader1", "reader", "reader password")
    with serve_app(index, tmp_path / "app.log", "--auth", str(accounts)) as url, httpx.Client(timeout=10) as http:
        anonymous = http.get(url + original_url(SEED))
        assert anonymous.status_code == 401 and anonymous.text == "Sign in to open original files.\n"
        assert http.post(url + "login", data={"username": "reader1", "password": "reader password"}).is_success
        assert http.get(url + original_url(SEED)).content == (SEEDS / SEED).read_bytes()
