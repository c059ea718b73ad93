"""Issue 16, done-when: two app processes (real ``nufair serve`` processes sharing one
database), scan stale time 5 s, and the machine loaded by a CPU burner process, still
complete every realtime scan exactly once.

Alerts are posted to either process in turn, so each process's scan runner is woken for
some and polls for the rest; a runner that falls behind its heartbeat on the loaded machine
may see its scan re-claimed by the other, and the claim token then keeps it from writing.
What must hold, read from the API and from the folder sink's files: every scan ``done``
with revision 1 and at most ``NUFAIR_SCAN_MAX_CLAIMS`` claims, every alert with exactly one
update revision, and exactly one update notice file per alert and format. Claims are
counted and both processes' logs are checked for the claims they took.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from nufair.settings import DEV_TOKEN
from tests.ingest.events import raw_body
from tests.ingest.scan_helpers import FAST, wait_for
from tests.serving import free_port

REPO = Path(__file__).parents[2]
ALERTS = 4
RUN = 150001
HEADERS = {"Authorization": f"Bearer {DEV_TOKEN}"}


def _env(db_url: str, data_dir: Path, port: int) -> dict[str, str]:
    scan = {f"NUFAIR_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in FAST.items()}
    return {**os.environ, **scan, "PYTHONPATH": str(REPO), "NUFAIR_DATABASE_URL": db_url,
            "NUFAIR_DATA_DIR": str(data_dir), "NUFAIR_ENVIRONMENT": "development",
            "NUFAIR_HOST": "127.0.0.1", "NUFAIR_PORT": str(port),
            "NUFAIR_SCAN_STALE_S": "5", "NUFAIR_SCAN_HEARTBEAT_S": "1",
            "NUFAIR_SINKS": '["folder"]', "NUFAIR_FOLDER_FORMATS": '["gcn-json", "voevent"]',
            "NUFAIR_DISPATCHER_POLL_S": "0.2", "NUFAIR_LOG_FORMAT": "json"}


@pytest.fixture
def burner() -> Iterator[None]:
    """A busy-looping process: the machine is loaded all along."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        proc.kill()
        proc.wait(10)


def _start(db_url: str, data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "nufair.cli", "serve"], cwd=REPO,
                                env=_env(db_url, data_dir, port), stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _scans(base: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = httpx.get(f"{base}/api/v1/scans", params={"run_id": RUN},
                                          timeout=10).json()
    return got


def _finished(base: str) -> list[dict[str, Any]] | None:
    """The scans once none is left to run (None before)."""
    scans = _scans(base)
    if scans and all(s["state"] in ("done", "failed", "aborted") for s in scans):
        return scans
    return None


def _claims_in(log: Path) -> Counter[int]:
    """Claims each process logged, by scan id (its own JSON log lines)."""
    out: Counter[int] = Counter()
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            m = re.fullmatch(r"scan (\d+) claimed by .*", json.loads(line).get("message", ""))
            if m:
                out[int(m.group(1))] += 1
    return out


def test_two_processes_on_a_loaded_machine_finish_every_scan_once(
        db_url: str, tmp_path: Path, burner: None) -> None:
    data = tmp_path / "var"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    servers = [_start(db_url, data, log) for log in logs]
    bases = [base for _, base in servers]
    try:
        for base in bases:
            wait_for(partial(_ready, base), timeout_s=120, every_s=0.5, what="started")
        body = raw_body(energy_tev=100.0, run_id=RUN)

        def post(i: int) -> httpx.Response:
            return httpx.post(f"{bases[i % 2]}/api/v1/events/raw", headers=HEADERS,
                              timeout=120, json={**body, "event_id": 6000 + i})

        with ThreadPoolExecutor(ALERTS) as pool:  # at once, as alerts may come
            answers = list(pool.map(post, range(ALERTS)))
        assert [r.status_code for r in answers] == [201] * ALERTS, [r.text for r in answers]
        scans = wait_for(lambda: _finished(bases[0]), timeout_s=240, every_s=0.5,
                         what="every scan finished")
        assert len(scans) == ALERTS
        assert [(s["state"], s["revision"]) for s in scans] == [("done", 1)] * ALERTS, scans
        for base in bases:
            for s in scans:  # the other process sees the same
                one = httpx.get(f"{base}/api/v1/scans/{s['id']}", timeout=10).json()
                assert (one["state"], one["claims"]) == ("done", s["claims"])
        for i in range(ALERTS):
            event = httpx.get(f"{bases[1]}/api/v1/events/{RUN}_{6000 + i}", timeout=10).json()
            assert [(r["number"], r["kind"]) for r in event["revisions"]] == [
                (0, "initial"), (1, "update")]
        notices = data / "notices"
        wait_for(lambda: len(list(notices.rglob("*_1.*"))) == 2 * ALERTS, timeout_s=60,
                 what="update notices written")
        for fmt, ext in (("gcn-json", "json"), ("voevent", "xml")):
            names = sorted(p.name for p in (notices / fmt).glob(f"*_1.{ext}"))
            assert names == sorted(f"nufair-sim_{RUN}_{6000 + i:09d}_1.{ext}"
                                   for i in range(ALERTS))
        claims = {s["id"]: s["claims"] for s in scans}
        logged = _claims_in(logs[0]) + _claims_in(logs[1])
        assert dict(logged) == claims  # every claim of the table was a logged claim
        assert all(1 <= c <= 5 for c in claims.values())
        assert _claims_in(logs[0]) and _claims_in(logs[1]), "both processes ran scans"
    finally:
        for proc, _ in servers:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
