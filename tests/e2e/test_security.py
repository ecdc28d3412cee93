"""The real server refuses file-route traversal and uploads over the size limit."""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from ..conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow

SECRETS = {
    "/etc/passwd": "root:",
    str(ROOT / "app.py"): "def build_app",
    str(SEEDS / sorted(p.name for p in SEEDS.iterdir())[0]): "",
}


def _targets(app_index: Path) -> list[str]:
    temp = Path(tempfile.gettempdir())
    manifest = app_index / "manifest.json"
    paths = [
        "../../../../../../etc/passwd",
        "/etc/passwd",
        "/ETC/PASSWD",
        "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        f"{temp}/gradio/../../etc/passwd",
        f"{temp}/gradio/%2e%2e/%2e%2e/etc/passwd",
        str(ROOT / "app.py"),
        str(ROOT / "APP.PY"),
        str(manifest),
        str(SEEDS / sorted(p.name for p in SEEDS.iterdir())[0]),
        "//etc/passwd",
        "\\etc\\passwd",
    ]
    routes = ["gradio_api/file=", "gradio_api/FILE=", "GRADIO_API/file=", "file=", "gradio_api/file/"]
    return [route + path for route in routes for path in paths]


def test_file_routes_refuse_everything_outside_the_apps_temp_folder(app_url: str, app_index: Path):
    leaks = []
    with httpx.Client(timeout=10) as http:
        # The route is live: a file the app itself received is served back ...
        uploaded = http.post(app_url + "gradio_api/upload", files={"files": ("ok.txt", b"served back", "text/plain")})
        served = http.get(app_url + "gradio_api/file=" + uploaded.json()[0])
        assert served.status_code == 200 and served.text == "served back"
        # ... and nothing else is.
        for target in _targets(app_index):
            response = http.get(app_url + target)
            body = response.text
            if response.status_code == 200 and (
                "root:x:0:0" in body or "def build_app" in body or '"generation"' in body or "Damascus" in body
            ):
                leaks.append(f"{target} -> {response.status_code}")
    assert leaks == []


def test_upload_over_the_size_limit_is_refused_by_the_server(app_url: str, tmp_path: Path):
    client = Client(app_url, verbose=False)
    before = client.predict(api_name="/documents")
    big = tmp_path / "too-big.txt"
    with open(big, "w") as fh:
        line = "The harbour reopened on Tuesday after the storm damaged the northern pier.\n"
        fh.write(line * (51 * 1024 * 1024 // len(line) + 1))
    with httpx.Client(timeout=60) as http, open(big, "rb") as fh:
        response = http.post(app_url + "gradio_api/upload", files={"files": (big.name, fh, "text/plain")})
    assert response.status_code == 413, response.text[:200]
    assert "size" in response.text.lower()
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict([handle_file(str(big))], api_name="/upload")
    assert client.predict(api_name="/documents") == before  # nothing stored
