"""Toy Monte Carlo of point-like showers, drawn from the cascade model of
:mod:`reco.cascade.model` (the likelihood's own light: a closed loop, good for coverage of the
method, not for systematics): Poisson photons per sensor, Pandel delays of the distance (grown
for light turning back by :data:`reco.cascade.model.BACK_DELAY`, now 0), Gaussian jitter and
uniform dark noise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from reco.cascade.fit import travel_vectors
from reco.cascade.model import charge_per_tev, pandel_shape
from reco.coords import local_to_equatorial
from reco.detector import Detector
from reco.event import Event, Truth
from reco.physics import C_ICE, DARK_RATE_HZ, DEFAULT_ICE, READOUT_WINDOW_NS, IceModel
from reco.simulate import SimulatedEvent


def simulate_cascade(
    rng: np.random.Generator,
    detector: Detector,
    energy_tev: float = 100.0,
    *,
    zenith: float | None = None,
    azimuth: float | None = None,
    vertex: tuple[float, float, float] | None = None,
    ice: IceModel = DEFAULT_ICE,
    noise: bool = True,
    event_id: int = 0,
) -> SimulatedEvent:
    """Simulate one shower; the direction is isotropic and the vertex uniform in a cylinder of
    400 m radius and 800 m height around the detector centre unless given."""
    if zenith is None:
        zenith = float(np.arccos(rng.uniform(-1.0, 1.0)))
    if azimuth is None:
        azimuth = float(rng.uniform(0.0, 2 * np.pi))
    time = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=float(rng.uniform(0, 3.1e7)))
    if vertex is None:
        r, phi = 400.0 * np.sqrt(rng.uniform()), rng.uniform(0.0, 2 * np.pi)
        c = detector.centre
        vertex = (c[0] + r * np.cos(phi), c[1] + r * np.sin(phi), c[2] + rng.uniform(-400, 400))
    v = np.asarray(vertex, dtype=float)
    travel = travel_vectors(np.array([zenith]), np.array([azimuth]))[0]
    rel = detector.positions - v
    d = np.maximum(np.linalg.norm(rel, axis=1), 1e-6)
    cos_eta = rel @ travel / d
    counts = rng.poisson(energy_tev * charge_per_tev(d, cos_eta, ice))
    sensor = np.repeat(np.arange(detector.n_sensors), counts)
    t0 = READOUT_WINDOW_NS / 2
    delay = rng.gamma(pandel_shape(d, cos_eta, ice)[sensor], 1.0 / ice.beta)
    times = t0 + d[sensor] / C_ICE + delay + rng.normal(0.0, ice.jitter_ns, len(sensor))
    if noise:
        n_noise = rng.poisson(DARK_RATE_HZ * 1e-9 * READOUT_WINDOW_NS * detector.n_sensors)
        sensor = np.concatenate([sensor, rng.integers(0, detector.n_sensors, n_noise)])
        times = np.concatenate([times, rng.uniform(0.0, READOUT_WINDOW_NS, n_noise)])
    keep = (times >= 0.0) & (times < READOUT_WINDOW_NS)
    order = np.argsort(times[keep], kind="stable")
    sensor, times = sensor[keep][order], times[keep][order]
    charge = np.maximum(rng.normal(1.0, 0.3, size=len(sensor)), 0.1)
    ra, dec = local_to_equatorial(zenith, azimuth, time)
    truth = Truth(kind="cascade", zenith=float(zenith), azimuth=float(azimuth % (2 * np.pi)),
                  ra=float(ra), dec=float(dec), energy_tev=float(energy_tev),
                  vertex=(float(v[0]), float(v[1]), float(v[2])), time_ns=t0)
    event = Event(observatory="nufair-sim", run_id=0, event_id=event_id, time=time,
                  sensor=sensor.astype(np.int64), pulse_time=np.round(times, 3),
                  charge=np.round(charge, 3).astype(np.float64), detector=detector.name,
                  truth=truth)
    return SimulatedEvent(event, truth)
