"""20 concurrent clients ask through the real server while documents are uploaded and removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.load import run_load

pytestmark = pytest.mark.slow

CLIENTS, ASKS, CHURN = 20, 3, 2


def test_concurrent_clients_during_uploads_and_removals(app_url: str, tmp_path: Path):
    assert app_url.startswith("http://127.0.0.1:")  # loopback only
    result = run_load(app_url, clients=CLIENTS, asks=ASKS, churn=CHURN, workdir=tmp_path)
    assert result.errors == []
    assert len(result.latencies) == CLIENTS * ASKS  # every question answered
    assert result.writes == CHURN
    assert result.checked >= CLIENTS * ASKS  # excerpts really came back and were compared with their files
    assert result.seconds < 300
    print(f"p50 {result.percentile(0.5) * 1000:.0f} ms, p95 {result.percentile(0.95) * 1000:.0f} ms")
