"""The app's wiring, built in-process around a small engine: which routes exist for whom."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SEEDS

gr = pytest.importorskip("gradio")

WRITES = {"upload", "replace_pending", "keep_both", "remove"}


def _functions(demo) -> set[str]:
    return {getattr(f.fn, "__name__", "") for f in demo.fns.values() if f.fn is not None}


@pytest.fixture
def engine(fake_engine):
    fake_engine.add([SEEDS])
    return fake_engine


def test_a_read_only_app_has_no_function_that_changes_the_index(engine):
    from app import build_app

    assert WRITES <= _functions(build_app(engine))
    read_only = build_app(engine, read_only=True)
    assert not WRITES & _functions(read_only)
    assert {"api_ask", "api_documents"} <= _functions(read_only)


def test_a_read_only_start_writes_nothing(tmp_path: Path):
    from app import open_engine
    from rag import Settings

    engine = open_engine(Settings(index_dir=tmp_path / "index"), SEEDS, read_only=True)
    assert not engine.exists and not (tmp_path / "index").exists()


def test_an_unknown_name_costs_a_password_check(monkeypatch):
    import app
    from rag.accounts import Account, hash_password

    checked: list[str] = []
    monkeypatch.setattr(app, "check_password", lambda password, digest: checked.append(digest) or False)
    accounts = {"ada": Account("ada", "editor", hash_password("right password", iterations=1000))}
    assert not app._signs_in(accounts, "nobody", "guess")
    assert checked and checked[0].startswith("pbkdf2_sha256$")


def _function(demo, name: str):
    return next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == name)


def test_a_clicked_citation_opens_its_passage_and_nothing_else(engine):
    from app import build_app

    show = _function(build_app(engine, read_only=True), "show_request")
    document = engine.documents()[0]
    start, end = 10, 40
    page = show(f"{document.id}|{start}|{end}")
    assert 'id="qa-target"' in page and document.title.split()[0] in page
    assert "not in the index" in show(f"../../etc/passwd|{start}|{end}")
    assert "not in the document" in show(f"{document.id}|0|{len(document.text) + 1}")
    assert "not in the document" in show(f"{document.id}|40|10")
    assert "could not be read" in show("no offsets here") and "could not be read" in show(None)
    assert "<script>" not in show("<script>alert(1)</script>|0|5")
