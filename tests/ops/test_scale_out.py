"""Scale-out path: the same scan through ``nufair scan --scheduler`` on an external Dask
scheduler whose workers are separate processes, agreeing with an in-process cluster run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nufair.cli import main
from reco.detector import load_ic86
from reco.simulate import simulate_event
from tests.serving import free_port

NSIDES = "8:0,32:6"


@pytest.fixture
def external_cluster(tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes on loopback."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    procs = [subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", ":0", "--no-show"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)]
    procs += [subprocess.Popen(
        [str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--nworkers", "1",
         "--no-dashboard", "--local-directory", str(tmp_path / f"w{i}")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
        for i in range(2)]
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as c:  # type: ignore[no-untyped-call]
                    if len(c.scheduler_info()["workers"]) == 2:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "external cluster did not come up"
            time.sleep(0.5)
        yield address
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def _scan(event_file: Path, out: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["scan", str(event_file), "--out", str(out),
                                       "--nsides", NSIDES, *extra])
    assert result.exit_code == 0, result.output
    (path,) = out.glob("*.result.json")
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_same_scan_on_an_external_scheduler(tmp_path: Path, external_cluster: str) -> None:
    sim = simulate_event(np.random.default_rng(5), load_ic86(), "throughgoing", 50.0)
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(sim.event.to_json()))
    remote = _scan(event_file, tmp_path / "remote", "--scheduler", external_cluster)
    local = _scan(event_file, tmp_path / "local", "--workers", "2")
    assert remote["best_fit"] == local["best_fit"]
    assert sorted(p.name.split(".", 2)[-1] for p in (tmp_path / "remote").iterdir()) == sorted(
        p.name.split(".", 2)[-1] for p in (tmp_path / "local").iterdir())
