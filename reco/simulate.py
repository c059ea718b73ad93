"""Toy Monte Carlo of muon tracks in the detector, for tests, benchmarks and demos.

Photons come from the physics in :mod:`reco.physics`: Cherenkov light of the track with the
energy-dependent yield :math:`\\mu(\\rho, E)`, Poisson-distributed counts per sensor, Pandel
delays (gamma distributed, shape growing with distance), Gaussian jitter, plus uniform dark
noise at :data:`~reco.physics.DARK_RATE_HZ` over the readout window. Starting tracks also get a
point-like hadronic cascade at the vertex and no track light from before it. The simulation
is deterministic for a given ``numpy.random.Generator`` state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from reco.coords import direction_vector, local_to_equatorial
from reco.detector import Detector
from reco.event import Event, Truth
from reco.physics import (
    C_ICE,
    C_VACUUM,
    COS_CHERENKOV,
    DARK_RATE_HZ,
    DEFAULT_ICE,
    READOUT_WINDOW_NS,
    RHO_DELAY,
    SIN_CHERENKOV,
    IceModel,
)

CASCADE_FRACTION = 0.3
"""Fraction of a starting event's energy deposited in the hadronic cascade at the vertex."""
CASCADE_BRIGHTNESS = 8.0
"""Photons per sensor at the cascade's :math:`r_0`, relative to a track's :math:`Y_0`."""

Kind = Literal["throughgoing", "starting"]


@dataclass(frozen=True)
class SimulatedEvent:
    """A simulated event and its truth (also attached as ``event.truth``)."""

    event: Event
    truth: Truth


def _photon_times(
    rng: np.random.Generator,
    t_geo: NDArray[np.float64],
    distance: NDArray[np.float64],
    mean: NDArray[np.float64],
    ice: IceModel,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Draw photons per sensor and their arrival times; returns (sensor index, time)."""
    counts = rng.poisson(mean)
    sensor = np.repeat(np.arange(len(mean)), counts)
    shape = np.maximum(distance[sensor] / ice.scattering_length_m, 1e-3)
    delay = rng.gamma(shape, 1.0 / ice.beta)
    jitter = rng.normal(0.0, ice.jitter_ns, size=len(sensor))
    return sensor, t_geo[sensor] + delay + jitter


def simulate_event(
    rng: np.random.Generator,
    detector: Detector,
    kind: Kind = "throughgoing",
    energy_tev: float = 100.0,
    *,
    zenith: float | None = None,
    azimuth: float | None = None,
    time: datetime | None = None,
    impact_radius_m: float = 400.0,
    ice: IceModel = DEFAULT_ICE,
    noise: bool = True,
    run_id: int = 0,
    event_id: int = 0,
) -> SimulatedEvent:
    """Simulate one muon track.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness; the event is a deterministic function of its state.
    detector : Detector
        Sensor geometry.
    kind : {"throughgoing", "starting"}
        Through-going: an infinite track whose closest approach to the detector centre is
        drawn uniformly in a disc of ``impact_radius_m``. Starting: a vertex drawn uniformly in
        a 400 m radius, 800 m high cylinder around the centre, light only downstream of it.
    energy_tev : float
        Muon energy [TeV].
    zenith, azimuth : float, optional
        Source direction [rad]; isotropic when not given.
    time : datetime, optional
        Event time (UTC); uniform in 2024 when not given.
    impact_radius_m : float
        See ``kind``.
    ice : IceModel
        Photon delay and yield parameters.
    noise : bool
        Add dark-noise pulses (off only for tests that need noise-free events).
    run_id, event_id : int
        Header identifiers.

    Returns
    -------
    SimulatedEvent
    """
    if zenith is None:
        zenith = float(np.arccos(rng.uniform(-1.0, 1.0)))
    if azimuth is None:
        azimuth = float(rng.uniform(0.0, 2 * np.pi))
    if time is None:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        time = start + timedelta(seconds=float(rng.uniform(0.0, 366 * 86400.0)))
    travel = -direction_vector(zenith, azimuth)
    helper = np.array([0.0, 0.0, 1.0]) if abs(travel[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(travel, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(travel, e1)
    centre = detector.centre
    if kind == "throughgoing":
        radius = impact_radius_m * np.sqrt(rng.uniform())
        angle = rng.uniform(0.0, 2 * np.pi)
        vertex = centre + radius * (np.cos(angle) * e1 + np.sin(angle) * e2)
    elif kind == "starting":
        radius = 400.0 * np.sqrt(rng.uniform())
        angle = rng.uniform(0.0, 2 * np.pi)
        vertex = centre + np.array(
            [radius * np.cos(angle), radius * np.sin(angle), rng.uniform(-400.0, 400.0)]
        )
    else:
        raise ValueError(f"unknown kind {kind!r}")
    t_vertex = READOUT_WINDOW_NS / 2

    rel = detector.positions - vertex
    along = rel @ travel
    rho = np.linalg.norm(rel - np.outer(along, travel), axis=1)
    t_geo = t_vertex + along / C_VACUUM + RHO_DELAY * rho
    mean = ice.light_yield(rho, energy_tev)
    if kind == "starting":
        # No track light from emission points upstream of the vertex.
        emission = along - rho * COS_CHERENKOV / SIN_CHERENKOV
        mean = np.where(emission >= 0.0, mean, 0.0)
    sensor, times = _photon_times(rng, t_geo, rho / SIN_CHERENKOV, mean, ice)
    if kind == "starting":
        dist = np.linalg.norm(rel, axis=1)
        r0 = ice.yield_radius_m
        mean_c = (
            CASCADE_BRIGHTNESS
            * ice.yield_100tev
            * (CASCADE_FRACTION * energy_tev / 100.0) ** ice.yield_index
            * (r0 / (dist + r0)) ** 2
            * np.exp(-dist / ice.attenuation_m)
        )
        s_c, t_c = _photon_times(rng, t_vertex + dist / C_ICE, dist, mean_c, ice)
        sensor = np.concatenate([sensor, s_c])
        times = np.concatenate([times, t_c])
    n_noise = (
        rng.poisson(DARK_RATE_HZ * 1e-9 * READOUT_WINDOW_NS * detector.n_sensors) if noise else 0
    )
    sensor = np.concatenate([sensor, rng.integers(0, detector.n_sensors, n_noise)])
    times = np.concatenate([times, rng.uniform(0.0, READOUT_WINDOW_NS, n_noise)])
    keep = (times >= 0.0) & (times < READOUT_WINDOW_NS)
    sensor, times = sensor[keep], times[keep]
    charge = np.maximum(rng.normal(1.0, 0.3, size=len(sensor)), 0.1)
    order = np.argsort(times, kind="stable")
    ra, dec = local_to_equatorial(zenith, azimuth, time)
    truth = Truth(
        kind=kind,
        zenith=float(zenith),
        azimuth=float(np.mod(azimuth, 2 * np.pi)),
        ra=float(ra),
        dec=float(dec),
        energy_tev=float(energy_tev),
        vertex=(float(vertex[0]), float(vertex[1]), float(vertex[2])),
        time_ns=float(t_vertex),
    )
    event = Event(
        observatory="nufair-sim",
        run_id=run_id,
        event_id=event_id,
        time=time,
        sensor=sensor[order].astype(np.int64),
        pulse_time=np.round(times[order], 3),
        charge=np.round(charge[order], 3).astype(np.float64),
        detector=detector.name,
        truth=truth,
    )
    return SimulatedEvent(event, truth)
