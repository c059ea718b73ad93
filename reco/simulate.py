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


def _draw_direction_and_time(
    rng: np.random.Generator, zenith: float | None, azimuth: float | None, time: datetime | None
) -> tuple[float, float, datetime]:
    """Fill in an isotropic direction and a time uniform in 2024 where not given."""
    if zenith is None:
        zenith = float(np.arccos(rng.uniform(-1.0, 1.0)))
    if azimuth is None:
        azimuth = float(rng.uniform(0.0, 2 * np.pi))
    if time is None:
        start = datetime(2024, 1, 1, tzinfo=UTC)
        time = start + timedelta(seconds=float(rng.uniform(0.0, 366 * 86400.0)))
    return zenith, azimuth, time


def _transverse_basis(travel: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Two unit vectors orthogonal to ``travel`` (and to each other)."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(travel[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(travel, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(travel, e1)
    return e1, e2


def _draw_vertex(
    rng: np.random.Generator,
    kind: Kind,
    centre: NDArray[np.float64],
    travel: NDArray[np.float64],
    impact_radius_m: float,
) -> NDArray[np.float64]:
    """Draw the track's reference point: closest approach (through-going) or vertex (starting)."""
    e1, e2 = _transverse_basis(travel)
    if kind == "throughgoing":
        radius = impact_radius_m * np.sqrt(rng.uniform())
        angle = rng.uniform(0.0, 2 * np.pi)
        return np.asarray(centre + radius * (np.cos(angle) * e1 + np.sin(angle) * e2))
    if kind == "starting":
        radius = 400.0 * np.sqrt(rng.uniform())
        angle = rng.uniform(0.0, 2 * np.pi)
        offset = [radius * np.cos(angle), radius * np.sin(angle), rng.uniform(-400.0, 400.0)]
        return np.asarray(centre + np.array(offset))
    raise ValueError(f"unknown kind {kind!r}")


def _track_photons(
    rng: np.random.Generator,
    kind: Kind,
    rel: NDArray[np.float64],
    travel: NDArray[np.float64],
    t_vertex: float,
    energy_tev: float,
    ice: IceModel,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Draw the track's Cherenkov photons; ``rel`` is sensor positions minus the vertex."""
    along = rel @ travel
    rho = np.linalg.norm(rel - np.outer(along, travel), axis=1)
    t_geo = t_vertex + along / C_VACUUM + RHO_DELAY * rho
    mean = ice.light_yield(rho, energy_tev)
    if kind == "starting":
        # No track light from emission points upstream of the vertex.
        emission = along - rho * COS_CHERENKOV / SIN_CHERENKOV
        mean = np.where(emission >= 0.0, mean, 0.0)
    return _photon_times(rng, t_geo, rho / SIN_CHERENKOV, mean, ice)


def _cascade_photons(
    rng: np.random.Generator,
    rel: NDArray[np.float64],
    t_vertex: float,
    energy_tev: float,
    ice: IceModel,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Draw the photons of a starting event's point-like hadronic cascade at the vertex."""
    dist = np.linalg.norm(rel, axis=1)
    r0 = ice.yield_radius_m
    mean_c = (
        CASCADE_BRIGHTNESS
        * ice.yield_100tev
        * (CASCADE_FRACTION * energy_tev / 100.0) ** ice.yield_index
        * (r0 / (dist + r0)) ** 2
        * np.exp(-dist / ice.attenuation_m)
    )
    return _photon_times(rng, t_vertex + dist / C_ICE, dist, mean_c, ice)


def _add_dark_noise(
    rng: np.random.Generator,
    n_sensors: int,
    sensor: NDArray[np.int64],
    times: NDArray[np.float64],
    noise: bool,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Append uniform dark-noise pulses over the readout window (none when ``noise`` is off)."""
    n_noise = rng.poisson(DARK_RATE_HZ * 1e-9 * READOUT_WINDOW_NS * n_sensors) if noise else 0
    sensor = np.concatenate([sensor, rng.integers(0, n_sensors, n_noise)])
    times = np.concatenate([times, rng.uniform(0.0, READOUT_WINDOW_NS, n_noise)])
    return sensor, times


def _truth(
    kind: Kind,
    zenith: float,
    azimuth: float,
    time: datetime,
    energy_tev: float,
    vertex: NDArray[np.float64],
    t_vertex: float,
) -> Truth:
    """The simulated truth, with the source direction also in equatorial coordinates."""
    ra, dec = local_to_equatorial(zenith, azimuth, time)
    return Truth(
        kind=kind,
        zenith=float(zenith),
        azimuth=float(np.mod(azimuth, 2 * np.pi)),
        ra=float(ra),
        dec=float(dec),
        energy_tev=float(energy_tev),
        vertex=(float(vertex[0]), float(vertex[1]), float(vertex[2])),
        time_ns=float(t_vertex),
    )


def _assemble_event(
    detector: Detector,
    time: datetime,
    sensor: NDArray[np.int64],
    times: NDArray[np.float64],
    charge: NDArray[np.float64],
    truth: Truth,
    run_id: int,
    event_id: int,
) -> Event:
    """Build the ``Event`` with its pulses sorted by time and rounded to storage precision."""
    order = np.argsort(times, kind="stable")
    return Event(
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
    zenith, azimuth, time = _draw_direction_and_time(rng, zenith, azimuth, time)
    travel = -direction_vector(zenith, azimuth)
    vertex = _draw_vertex(rng, kind, detector.centre, travel, impact_radius_m)
    t_vertex = READOUT_WINDOW_NS / 2
    rel = detector.positions - vertex
    sensor, times = _track_photons(rng, kind, rel, travel, t_vertex, energy_tev, ice)
    if kind == "starting":
        s_c, t_c = _cascade_photons(rng, rel, t_vertex, energy_tev, ice)
        sensor = np.concatenate([sensor, s_c])
        times = np.concatenate([times, t_c])
    sensor, times = _add_dark_noise(rng, detector.n_sensors, sensor, times, noise)
    keep = (times >= 0.0) & (times < READOUT_WINDOW_NS)
    sensor, times = sensor[keep], times[keep]
    charge = np.maximum(rng.normal(1.0, 0.3, size=len(sensor)), 0.1)
    truth = _truth(kind, zenith, azimuth, time, energy_tev, vertex, t_vertex)
    event = _assemble_event(detector, time, sensor, times, charge, truth, run_id, event_id)
    return SimulatedEvent(event, truth)
