"""What ``nufair scan`` imports (issue 18): the I3Live cleaning finds sensor pairs without
scipy.spatial (the same pairs as ``cKDTree``), a track's scan leaves the cascade's
scipy.optimize alone, and the whole command never imports either."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

import reco.i3live.cleaning as cleaning
from reco.detector import Detector
from reco.i3live.cleaning import RT_RADIUS_M, RT_TIME_NS, pairs_within, rt_keep

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = ROOT / "tests/data/reco/i3live/run00138632.evt000031747601_realtimeEventData.json"

#: Modules the scan command imported before (I3Live cleaning, the cascade's fits) and no
#: longer needs; scipy.linalg stays (Numba's BLAS check imports it on the first call).
NOT_IMPORTED = ("scipy.spatial", "scipy.optimize", "scipy.sparse", "scipy.special")


def _kdtree_pairs(points: np.ndarray, radius: float) -> np.ndarray:
    pairs = np.asarray(cKDTree(points).query_pairs(radius, output_type="ndarray"))
    pairs = pairs.reshape(-1, 2).astype(np.int64)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def _ours(points: np.ndarray, radius: float) -> np.ndarray:
    first, second = pairs_within(points, radius)
    assert np.all(first < second)
    return np.stack([first, second], axis=1)


def test_pairs_within_the_detector_are_ckdtrees(detector: Detector) -> None:
    """Over all 5160 sensors the RT radius gives cKDTree's pairs, and no pair lies within
    0.1 mm of the radius (the closest: 0.9 mm inside), so every subset of sensors (an
    event's) gets cKDTree's pairs too, whatever the rounding of a distance there."""
    ours = _ours(detector.positions, RT_RADIUS_M)
    assert len(ours) > 100_000
    assert np.array_equal(ours, _kdtree_pairs(detector.positions, RT_RADIUS_M))
    assert np.array_equal(_ours(detector.positions, RT_RADIUS_M - 1e-4),
                          _ours(detector.positions, RT_RADIUS_M + 1e-4))


@pytest.mark.parametrize("n", [0, 1, 2, 57, 400])
def test_pairs_within_random_points_are_ckdtrees(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random points on a lattice (many pairs exactly at the radius), in blocks of a few
    rows: cKDTree's pairs, boundary included."""
    monkeypatch.setattr(cleaning, "PAIR_BLOCK", 3 * max(n, 1) + 1)  # blocks of 3 rows
    rng = np.random.default_rng(18)
    points = rng.integers(-6, 7, size=(n, 3)).astype(np.float64) * 5.0
    for radius in (5.0, 25.0, 35.0):
        assert np.array_equal(_ours(points, radius), _kdtree_pairs(points, radius))


def test_rt_keep_is_the_definition(detector: Detector) -> None:
    """A pulse is kept when a pulse on another sensor lies within RT_RADIUS_M and
    RT_TIME_NS: checked pulse by pulse against every other pulse."""
    rng = np.random.default_rng(7)
    near = np.flatnonzero(np.linalg.norm(detector.positions - detector.centre, axis=1) < 300)
    sensor = rng.choice(near, size=500).astype(np.int64)
    time = np.round(rng.uniform(0, 40_000, size=500) * 2) / 2  # half nanoseconds: exact sums
    pos = detector.positions[sensor]
    dist2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(axis=2)
    close = ((sensor[:, None] != sensor[None, :]) & (dist2 <= RT_RADIUS_M**2)
             & (np.abs(time[:, None] - time[None, :]) <= RT_TIME_NS))
    expected = close.any(axis=1)
    assert 0 < expected.sum() < len(expected)
    assert np.array_equal(rt_keep(sensor, time, detector), expected)


def _modules_after(code: str, tmp_path: Path) -> list[str]:
    """Run ``code`` in a fresh interpreter; the modules it had imported at exit."""
    dump = tmp_path / "modules.json"
    wrapper = (
        "import atexit, json, sys\n"
        f"dump = open({str(dump)!r}, 'w')\n"
        "atexit.register(lambda: dump.write(json.dumps(sorted(sys.modules))) and dump.close())\n"
        + code
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", wrapper], cwd=ROOT, capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    modules: list[str] = json.loads(dump.read_text())
    return modules


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in modules]


def test_the_scan_command_imports_neither_scipy_spatial_nor_optimize(tmp_path: Path) -> None:
    """``nufair scan`` of an I3Live message (decoded and cleaned, scanned as a track, every
    product written) as the console script runs it: none of :data:`NOT_IMPORTED`."""
    out = tmp_path / "out"
    code = (
        "import nufair.cli\n"
        f"sys.argv = ['nufair', 'scan', {str(MESSAGE)!r}, '--out', {str(out)!r},"
        " '--nsides', '2:0', '--workers', '2']\n"
        "nufair.cli.program()\n"
    )
    modules = _modules_after(code, tmp_path)
    assert "reco.i3live.cleaning" in modules and "reco.regions" in modules
    assert (out / "run00138632.evt000031747601.skymap.multiorder.fits").is_file()
    assert _loaded(modules, NOT_IMPORTED) == []


def test_the_cascade_scan_is_imported_when_asked_for(tmp_path: Path) -> None:
    """``reco.cascade`` gives the hypothesis choice without the cascade's fits;
    ``reco.cascade.run_cascade_scan`` imports them on first use."""
    code = (
        "import reco.cascade\n"
        "assert 'reco.cascade.fit' not in sys.modules and 'scipy.optimize' not in sys.modules\n"
        "from reco.cascade import choose_hypothesis, run_cascade_scan\n"
        "import reco.cascade.scan\n"
        "assert run_cascade_scan is reco.cascade.scan.run_cascade_scan\n"
        "try:\n"
        "    reco.cascade.no_such_name\n"
        "except AttributeError as exc:\n"
        "    assert 'no_such_name' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    assert "scipy.optimize" in _modules_after(code, tmp_path)

