"""The first guess's cheaper search (fewer evaluations, directions on threads) and a command
line that starts without the catalog, the database layer or Dask."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from reco.coords import vector_to_angles
from reco.detector import Detector
from reco.firstguess import (
    SEARCH_PRUNE_AFTER,
    clean_hits,
    fit_directions,
    likelihood_search,
    line_fit,
)
from reco.likelihood import PreparedEvent, prepare
from reco.simulate import simulate_event

ROOT = Path(__file__).resolve().parents[2]


def _ring(prep: PreparedEvent, zen: float, azi: float) -> tuple[np.ndarray, ...]:
    """Eight directions 1° around ``(zen, azi)``, the charge centre as their track point and
    no time (the fit seeds it)."""
    src = np.array([np.sin(zen) * np.cos(azi), np.sin(zen) * np.sin(azi), np.cos(zen)])
    t1 = np.cross(src, [0.0, 0.0, 1.0])
    t1 /= np.linalg.norm(t1)
    t2 = np.cross(src, t1)
    ang = np.arange(8) * np.pi / 4
    vec = src + np.radians(1.0) * (np.cos(ang)[:, None] * t1 + np.sin(ang)[:, None] * t2)
    z, a = vector_to_angles(vec)
    point = np.repeat(prep.centre[None, :], 8, axis=0)
    return z, a, point, np.full(8, np.nan)


def _event(detector: Detector, seed: int) -> tuple[PreparedEvent, float, float, np.ndarray]:
    sim = simulate_event(np.random.default_rng(seed), detector, "throughgoing", 100.0)
    prep = prepare(sim.event, detector)
    velocity, point = line_fit(*clean_hits(sim.event, detector))
    zen, azi = vector_to_angles(-velocity)
    return prep, float(zen), float(azi), point


def test_directions_on_threads_give_the_result_of_one_call(detector: Detector) -> None:
    """Split into 4 or 3 parts on threads, the fits are those of one call, to the bit."""
    prep, zen, azi, _ = _event(detector, 41)
    z, a, point, time = _ring(prep, zen, azi)
    one = fit_directions(prep, z, a, point, time, threads=1)
    assert np.all(np.isfinite(one.nll))
    for threads in (3, 4):
        split = fit_directions(prep, z, a, point, time, threads=threads)
        np.testing.assert_array_equal(split.nll, one.nll)
        np.testing.assert_array_equal(split.theta, one.theta)
        assert split.evaluations == one.evaluations


def test_pruned_search_steps_cost_fewer_evaluations_for_the_same_minimum(
    detector: Detector,
) -> None:
    """One Newton iteration from three seeds, then the best seed alone: fewer likelihood
    evaluations than two seeds after four; -ln L within 0.5 of it at 7 of 8 directions (each
    fit is a local minimum from three seeds, either may find the deeper one) and the ring's
    best no worse by 0.5."""
    assert SEARCH_PRUNE_AFTER < 4
    for seed in (42, 43):
        prep, zen, azi, line_point = _event(detector, seed)
        z0, a0, _, llh = likelihood_search(prep, zen, azi, line_point, max_steps=0)
        assert np.isfinite(llh)
        z, a, point, time = _ring(prep, z0, a0)
        full = fit_directions(prep, z, a, point, time, prune_after=4, threads=1)
        pruned = fit_directions(prep, z, a, point, time, prune_after=SEARCH_PRUNE_AFTER,
                                threads=1)
        assert pruned.evaluations < 0.8 * full.evaluations
        assert np.sum(np.abs(pruned.nll - full.nll) < 0.5) >= 7
        assert pruned.nll.min() <= full.nll.min() + 0.5


def test_the_command_line_starts_without_the_catalog_database_or_dask() -> None:
    """``nufair`` with its settings checked (NUFAIR_SCAN_NSIDES included) imports neither
    SQLAlchemy, the catalog storage, Dask nor astropy's coordinates: ``nufair scan`` pays for
    none of them before its scan."""
    heavy = ("sqlalchemy", "catalog.storage.events", "distributed", "astropy.coordinates",
             "ingest.scanning.service")
    code = ("import sys\nfrom nufair.cli import main\nfrom nufair.settings import load_settings\n"
            "load_settings()\n"
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                              "NUFAIR_SCAN_NSIDES": "8:0,64:12"})
    assert out.stdout.strip() == ""
