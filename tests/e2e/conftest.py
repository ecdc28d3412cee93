"""A real app process on a free loopback port, with its own copy of the seed index."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.load import serve_app
from rag import Engine, Settings

from ..conftest import ROOT

ARTIFACTS = ROOT / "artifacts"


#: A document whose file name is markup: uploads sanitise names, but a folder ingested
#: from disk keeps them, so the app must render it as text.
HOSTILE_NAME = "<img src=x onerror=alert(8)><style>body{background:red}<style>.txt"
HOSTILE_TEXT = "Marmalade jury\n\nThe marmalade jury at the spring market was led by Greta Holmqvist."


@pytest.fixture(scope="session")
def app_index(tmp_path_factory: pytest.TempPathFactory, seed_index: Path) -> Path:
    index = tmp_path_factory.mktemp("app") / "index"
    shutil.copytree(seed_index, index)
    folder = tmp_path_factory.mktemp("hostile-name")
    (folder / HOSTILE_NAME).write_text(HOSTILE_TEXT, encoding="utf-8")
    report = Engine.open(settings=Settings(index_dir=index)).add([folder])
    assert report.added == [HOSTILE_NAME], report
    return index


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory, app_index: Path):
    with serve_app(app_index, tmp_path_factory.mktemp("applog") / "app.log") as url:
        yield url
