"""Issue 16, item 10: ``nufair run`` loads the bundled sample into an empty catalogue once,
and a second start leaves the catalogue as it was.

Two real ``nufair run`` child processes in turn, on the test's database (an external
PostgreSQL, ``NUFAIR_DATABASE_URL``), each stopped with SIGTERM once it serves. The first
run must hold at least the alerts of the sample's IceCat-1 table, counted here from the
CSV itself; the second must leave every count as the first left it.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from catalog.schema.events import events, revisions
from tests.serving import free_port

ROOT = Path(__file__).resolve().parents[2]


def _counts(db_url: str) -> tuple[int, int]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return (conn.execute(select(func.count()).select_from(events)).scalar_one(),
                    conn.execute(select(func.count()).select_from(revisions)).scalar_one())
    finally:
        engine.dispose()


def _run_once(db_url: str, data_dir: Path) -> str:
    """Start ``nufair run``, wait until ``/healthz`` answers, stop it; its output."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUFAIR_")}
    env.update(NUFAIR_DATABASE_URL=db_url, NUFAIR_DATA_DIR=str(data_dir),
               NUFAIR_PORT=str(port), NUFAIR_PID_SYNC_INTERVAL_S="0", PYTHONPATH=str(ROOT))
    log_path = data_dir.parent / f"run-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "nufair.cli", "run"], cwd=data_dir.parent,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while True:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return log_path.read_text()


def test_sample_is_loaded_once_and_a_restart_changes_nothing(
        db_url: str, tmp_path: Path) -> None:
    with (ROOT / "catalog" / "sample" / "IceCube_Gold_Bronze_Tracks.csv").open() as f:
        icecat_rows = sum(1 for _ in csv.DictReader(f))
    assert icecat_rows > 300
    assert _counts(db_url) == (0, 0)

    first = _run_once(db_url, tmp_path / "var")
    after_first = _counts(db_url)
    assert after_first[0] >= icecat_rows and after_first[1] > after_first[0], first
    assert "sample not loaded" not in first

    second = _run_once(db_url, tmp_path / "var")
    assert "sample not loaded: the catalog already holds events" in second
    assert _counts(db_url) == after_first
