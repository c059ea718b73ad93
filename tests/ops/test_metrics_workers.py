"""Issue 16 item 4: ``/metrics`` under a real ``uvicorn --workers 2`` counts the requests of
both workers, so a counter never goes back from one scrape to the next.

Each request opens a new connection, so the kernel hands them to either worker; the counts
are read with prometheus_client's own parser and compared with the number of requests the
test made.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.ingest.scan_helpers import wait_for

REPO = Path(__file__).parents[2]
ROUNDS = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _readyz_count(base: str) -> float:
    """``nufair_http_requests_total`` of ``GET /readyz``, summed over statuses."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples
               if s.name == "nufair_http_requests_total" and s.labels.get("route") == "/readyz")


def test_counters_are_monotonic_across_two_worker_processes(db_url: str, tmp_path: Path) -> None:
    prom = tmp_path / "prom"
    prom.mkdir()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUFAIR_DATABASE_URL": db_url,
           "NUFAIR_DATA_DIR": str(tmp_path / "var"), "NUFAIR_DISPATCHER_ENABLED": "false",
           "NUFAIR_SCAN_RUNNER_ENABLED": "false", "PROMETHEUS_MULTIPROC_DIR": str(prom)}
    log = tmp_path / "uvicorn.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "nufair.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: log.read_text().count("Application startup complete") >= 2,
                 timeout_s=180, every_s=0.5, what="two workers started")
        seen = []
        for i in range(1, ROUNDS + 1):
            assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
            seen.append(_readyz_count(base))
            assert seen[-1] in (i - 1, i), (i, seen)  # the last one may not be counted yet
        assert seen == sorted(seen), seen
        time.sleep(0.5)
        assert _readyz_count(base) == ROUNDS
        pids = {p.name.rsplit("_", 1)[-1] for p in prom.glob("counter_*.db")}
        assert len(pids) == 2, sorted(prom.iterdir())  # both workers wrote their counts
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
