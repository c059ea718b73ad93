"""reco.simulate_perturbed: the ice follows the depth table, efficiencies spread as set,
noise at the rate set, deterministic per seed. Expectations from the CSV read here."""

from __future__ import annotations

import csv
from dataclasses import replace
from importlib import resources

import numpy as np
import pytest

from reco.detector import Detector, load_ic86
from reco.physics import READOUT_WINDOW_NS
from reco.simulate_perturbed import (
    SURFACE_Z_M,
    Perturbation,
    PerturbedDetector,
    load_ice_table,
    perturb,
    propagation_length,
    simulate_perturbed_cascade,
    simulate_perturbed_track,
)


def _table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    text = resources.files("reco").joinpath("data/ice_transparency.csv").read_text("utf-8")
    rows = list(csv.reader(text.splitlines()))[1:]
    d, s, a = (np.array([float(r[i]) for r in rows]) for i in range(3))
    return d, s, a


def test_propagation_length_follows_the_table() -> None:
    depth, scat, absn = _table()
    assert len(depth) == 110
    got = propagation_length(load_ice_table(), depth)
    assert got == pytest.approx(np.sqrt(scat * absn / 3.0), rel=1e-12)
    # the dust layer is the table's darkest row, and the simulation sees it there
    dust = int(np.argmin(absn))
    assert 2000 < depth[dust] < 2100
    assert propagation_length(load_ice_table(), depth[dust : dust + 1])[0] < 0.2 * got.max()


def _ring(depth_m: float, radius_m: float, n: int = 24) -> Detector:
    """``n`` sensors on a horizontal ring at ``depth_m``, around (0, 0)."""
    phi = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    z = SURFACE_Z_M - depth_m
    pos = np.column_stack([radius_m * np.cos(phi), radius_m * np.sin(phi), np.full(n, z)])
    return Detector("ring", pos, np.arange(1, n + 1), np.ones(n, dtype=np.int64))


def test_photon_yield_against_depth_follows_the_table() -> None:
    """Photons at 30 m from a shower in clear ice and in the dust layer: their ratio is
    exp(-d/λp(dust) + d/λp(clear)), λp = sqrt(λa λs / 3) from the CSV."""
    depth, scat, absn = _table()
    quiet = Perturbation(noise_rate_hz=0.0, afterpulse_probability=0.0, efficiency_sigma=0.0)
    d, clear, dusty = 30.0, 2400.0, 2050.0

    def mean_photons(at: float) -> float:
        det = _ring(at, d)
        pd = PerturbedDetector(det, np.ones(det.n_sensors), load_ice_table(), quiet)
        rng = np.random.default_rng(11)
        z = SURFACE_Z_M - at
        counts = [simulate_perturbed_cascade(rng, pd, 10.0, direction=(0.3, 1.0),
                                             vertex=(0.0, 0.0, z)).n_pulses
                  for _ in range(300)]
        return float(np.mean(counts))

    def lp(at: float) -> float:
        return float(np.sqrt(np.interp(at, depth, absn) * np.interp(at, depth, scat) / 3.0))

    expected = np.exp(-d / lp(dusty) + d / lp(clear))
    ratio = mean_photons(dusty) / mean_photons(clear)
    assert expected < 0.5  # the dust layer matters at 30 m
    assert ratio == pytest.approx(expected, rel=0.1)


def test_efficiency_spread_is_as_set() -> None:
    det = load_ic86()
    pd = perturb(det, np.random.default_rng(3))
    assert pd.efficiency.mean() == pytest.approx(1.0, abs=0.005)
    assert pd.efficiency.std() == pytest.approx(0.10, abs=0.005)
    wide = perturb(det, np.random.default_rng(3), Perturbation(efficiency_sigma=0.2))
    assert wide.efficiency.std() == pytest.approx(0.2, abs=0.01)
    assert wide.efficiency.min() >= 0.5 and wide.efficiency.max() <= 1.5


def test_noise_rate_is_as_set() -> None:
    """No light (zero yield): only dark noise, rate × window × sensors per event."""
    det = load_ic86()
    rate = 1500.0
    dark = Perturbation(track_yield=0.0, noise_rate_hz=rate)
    pd = perturb(det, np.random.default_rng(4), dark)
    rng = np.random.default_rng(5)
    counts = np.array([simulate_perturbed_track(rng, pd, 100.0).n_pulses for _ in range(40)])
    expected = rate * 1e-9 * READOUT_WINDOW_NS * det.n_sensors
    assert counts.mean() == pytest.approx(expected, abs=4 * np.sqrt(expected / len(counts)))


def test_afterpulses_follow_their_pulses() -> None:
    """With afterpulses on, extra pulses appear on hit sensors 0.5–10 µs later."""
    det = load_ic86()
    base = Perturbation(noise_rate_hz=0.0, afterpulse_probability=0.0)
    with_ap = replace(base, afterpulse_probability=0.5)
    pd0 = perturb(det, np.random.default_rng(6), base)
    pd1 = PerturbedDetector(det, pd0.efficiency, pd0.ice, with_ap)
    a = simulate_perturbed_track(np.random.default_rng(8), pd0, 300.0)
    b = simulate_perturbed_track(np.random.default_rng(8), pd1, 300.0)
    assert set(np.unique(b.sensor)) == set(np.unique(a.sensor))  # same sensors only
    assert 1.2 * a.n_pulses < b.n_pulses < 1.6 * a.n_pulses


def test_same_seed_same_event() -> None:
    det = load_ic86()
    pd = perturb(det, np.random.default_rng(1))
    a = simulate_perturbed_track(np.random.default_rng(2), pd, 50.0)
    b = simulate_perturbed_track(np.random.default_rng(2), pd, 50.0)
    assert np.array_equal(a.pulse_time, b.pulse_time) and np.array_equal(a.sensor, b.sensor)
    assert a.truth is not None and a.truth.kind == "throughgoing"
