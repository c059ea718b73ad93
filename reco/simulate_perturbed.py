"""A simulation that does NOT share the likelihood's photon model: perturbed ice, for systematics.

:mod:`reco.simulate` and :mod:`reco.cascade.simulate` draw photons from the likelihood's own
model (Pandel delays in homogeneous ice): a closed loop. The contour thresholds of the regions
are calibrated on this one instead (``bench/systematics.py``), which differs on every count
that matters on real data:

- **layered ice**: absorption length :math:`\\lambda_a(z)` and scattering length
  :math:`\\lambda_s(z)` from the depth table ``reco/data/ice_transparency.csv`` (the dust
  layer near 2050 m has a tenth of the clear ice's lengths), each photon path taking the
  mean of the values at its emission point and at the sensor;
- **light yield** falling with the diffusion length :math:`\\lambda_p =
  \\sqrt{\\lambda_a\\lambda_s/3}`: :math:`\\mu = Y \\epsilon_i\\,g(E)\\,
  \\sqrt{r_0/(d + r_0)}\\,e^{-d/\\lambda_p}` along the photon path :math:`d` (tracks;
  cascades :math:`r_0/(d + r_0)` and an angular profile peaked at the Cherenkov angle);
- **delays**: unscattered with probability :math:`e^{-d/\\lambda_s}`, otherwise log-normal with
  median :math:`\\kappa d^2/(c_\\mathrm{ice}\\lambda_s)` (diffusive): no gamma (Pandel) law;
- **per-sensor efficiency** :math:`\\epsilon_i \\sim N(1, 0.10)` (clipped to [0.5, 1.5]),
  fixed per :class:`PerturbedDetector` (one realisation of the detector);
- **time jitter** (Gaussian, 5 ns), **dark noise** (:attr:`Perturbation.noise_rate_hz`,
  uniform over the readout window) and **afterpulses** (a fraction of the photon pulses is
  followed by one on the same sensor 0.5–10 µs later).

Pure numpy; deterministic for a given ``numpy.random.Generator`` state.

Examples
--------
>>> table = load_ice_table()
>>> bool(table.absorption_m(np.array([2050.0]))[0] < table.absorption_m(np.array([2400.0]))[0])
True
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from reco.coords import direction_vector, local_to_equatorial
from reco.detector import PROMETHEUS_Z_OFFSET_M, Detector
from reco.event import Event, Truth
from reco.physics import C_ICE, C_VACUUM, COS_CHERENKOV, READOUT_WINDOW_NS, RHO_DELAY, SIN_CHERENKOV

FloatArray = NDArray[np.float64]

SURFACE_Z_M = PROMETHEUS_Z_OFFSET_M
"""IceCube z of the ice surface [m]: depth = SURFACE_Z_M − z."""


@dataclass(frozen=True)
class IceTable:
    """Scattering and absorption lengths [m] against depth [m] (linear interpolation, held
    constant beyond the table's ends)."""

    depth: FloatArray
    scattering: FloatArray
    absorption: FloatArray

    def scattering_m(self, depth: FloatArray) -> FloatArray:
        """:math:`\\lambda_s` at ``depth``."""
        return np.interp(depth, self.depth, self.scattering)

    def absorption_m(self, depth: FloatArray) -> FloatArray:
        """:math:`\\lambda_a` at ``depth``."""
        return np.interp(depth, self.depth, self.absorption)


@cache
def load_ice_table() -> IceTable:
    """The depth table shipped in ``reco/data/ice_transparency.csv``."""
    text = resources.files("reco").joinpath("data/ice_transparency.csv").read_text("utf-8")
    rows = sorted((float(r["depth"]), float(r["scattering_len"]), float(r["absorption_len"]))
                  for r in csv.DictReader(text.splitlines()))
    d, s, a = (np.array(col) for col in zip(*rows, strict=True))
    return IceTable(d, s, a)


@dataclass(frozen=True)
class Perturbation:
    """The knobs of the perturbed simulation (defaults: the systematics study's).

    Attributes
    ----------
    efficiency_sigma : float
        Relative spread of the per-sensor efficiency (0.10: ±10 %).
    jitter_ns : float
        Gaussian time jitter of a pulse [ns].
    noise_rate_hz : float
        Dark-noise rate per sensor [Hz].
    afterpulse_probability : float
        Chance that a photon pulse is followed by an afterpulse.
    afterpulse_delay_ns : tuple of float
        Range of afterpulse delays [ns] (uniform).
    track_yield, cascade_yield : float
        :math:`Y`: photons at :math:`d = 0` for a 100 TeV muon / per 100 TeV of shower.
    yield_radius_m : float
        :math:`r_0` [m].
    delay_kappa : float
        :math:`\\kappa` of the diffusive median delay.
    delay_sigma : float
        Log-normal width of the scattered delays.
    """

    efficiency_sigma: float = 0.10
    jitter_ns: float = 5.0
    noise_rate_hz: float = 700.0
    afterpulse_probability: float = 0.06
    afterpulse_delay_ns: tuple[float, float] = (500.0, 10_000.0)
    track_yield: float = 120.0
    cascade_yield: float = 8000.0
    yield_radius_m: float = 10.0
    delay_kappa: float = 0.5
    delay_sigma: float = 0.8


@dataclass(frozen=True)
class PerturbedDetector:
    """A detector with one draw of per-sensor efficiencies and its ice table."""

    detector: Detector
    efficiency: FloatArray
    ice: IceTable = field(default_factory=load_ice_table)
    perturbation: Perturbation = field(default_factory=Perturbation)

    @property
    def depth(self) -> FloatArray:
        """Depth of each sensor [m]."""
        return np.asarray(SURFACE_Z_M - self.detector.positions[:, 2])


def perturb(detector: Detector, rng: np.random.Generator,
            perturbation: Perturbation | None = None) -> PerturbedDetector:
    """A realisation of ``detector``: efficiencies :math:`N(1, \\sigma)` clipped to [0.5, 1.5]."""
    p = perturbation or Perturbation()
    eff = np.clip(rng.normal(1.0, p.efficiency_sigma, detector.n_sensors), 0.5, 1.5)
    return PerturbedDetector(detector, eff, load_ice_table(), p)


def propagation_length(ice: IceTable, depth: FloatArray) -> FloatArray:
    """Diffusion length :math:`\\sqrt{\\lambda_a\\lambda_s/3}` [m] at ``depth``."""
    return np.asarray(np.sqrt(ice.absorption_m(depth) * ice.scattering_m(depth) / 3.0))


def _path_lengths(pd: PerturbedDetector, z_emit: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(λ_p, λ_s) of each sensor's photon path: the mean of emission point and sensor."""
    d_emit = SURFACE_Z_M - z_emit
    lp = 0.5 * (propagation_length(pd.ice, pd.depth) + propagation_length(pd.ice, d_emit))
    ls = 0.5 * (pd.ice.scattering_m(pd.depth) + pd.ice.scattering_m(d_emit))
    return lp, ls


def track_mean(pd: PerturbedDetector, d: FloatArray, lp: FloatArray,
               energy_tev: float) -> FloatArray:
    """Mean photons per sensor of a track at photon path lengths ``d`` [m] (see module)."""
    p = pd.perturbation
    r0 = p.yield_radius_m
    g = (energy_tev / 100.0) ** 0.5
    return np.asarray(p.track_yield * pd.efficiency * g * np.sqrt(r0 / (d + r0))
                      * np.exp(-d / lp))


def _delays(rng: np.random.Generator, p: Perturbation, d: FloatArray,
            ls: FloatArray) -> FloatArray:
    """Scattering delays [ns] of photons with path ``d`` in ice of scattering length ``ls``."""
    direct = rng.uniform(size=len(d)) < np.exp(-d / ls)
    median = p.delay_kappa * d * d / (C_ICE * ls) + 1e-3
    scattered = median * np.exp(p.delay_sigma * rng.normal(size=len(d)))
    return np.where(direct, 0.0, scattered)


def _detector_effects(rng: np.random.Generator, pd: PerturbedDetector, sensor: NDArray[np.int64],
                      times: FloatArray) -> tuple[NDArray[np.int64], FloatArray]:
    """Jitter, afterpulses and dark noise added to photon pulses."""
    p = pd.perturbation
    n = pd.detector.n_sensors
    times = times + rng.normal(0.0, p.jitter_ns, len(times))
    ap = rng.uniform(size=len(sensor)) < p.afterpulse_probability
    ap_times = times[ap] + rng.uniform(*p.afterpulse_delay_ns, size=int(ap.sum()))
    n_noise = rng.poisson(p.noise_rate_hz * 1e-9 * READOUT_WINDOW_NS * n)
    sensor = np.concatenate([sensor, sensor[ap], rng.integers(0, n, n_noise)])
    times = np.concatenate([times, ap_times, rng.uniform(0.0, READOUT_WINDOW_NS, n_noise)])
    return sensor, times


def _event(pd: PerturbedDetector, rng: np.random.Generator, time: datetime,
           sensor: NDArray[np.int64], times: FloatArray, truth: Truth, event_id: int) -> Event:
    keep = (times >= 0.0) & (times < READOUT_WINDOW_NS)
    order = np.argsort(times[keep], kind="stable")
    sensor, times = sensor[keep][order], times[keep][order]
    charge = np.maximum(rng.normal(1.0, 0.35, size=len(sensor)), 0.1)
    return Event(observatory="nufair-sim", run_id=0, event_id=event_id, time=time,
                 sensor=sensor.astype(np.int64), pulse_time=np.round(times, 3),
                 charge=np.round(charge, 3).astype(np.float64), detector=pd.detector.name,
                 truth=truth)


def _direction_time(rng: np.random.Generator) -> tuple[float, float, datetime]:
    zen = float(np.arccos(rng.uniform(-1.0, 1.0)))
    azi = float(rng.uniform(0.0, 2 * np.pi))
    time = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=float(rng.uniform(0, 3.1e7)))
    return zen, azi, time


def _truth(kind: str, zen: float, azi: float, time: datetime, energy_tev: float,
           vertex: FloatArray, t0: float) -> Truth:
    ra, dec = local_to_equatorial(zen, azi, time)
    return Truth(kind=kind, zenith=zen, azimuth=azi % (2 * np.pi), ra=float(ra), dec=float(dec),
                 energy_tev=float(energy_tev),
                 vertex=(float(vertex[0]), float(vertex[1]), float(vertex[2])), time_ns=t0)


def simulate_perturbed_track(rng: np.random.Generator, pd: PerturbedDetector,
                             energy_tev: float = 100.0, *, impact_radius_m: float = 400.0,
                             event_id: int = 0) -> Event:
    """A through-going muon in perturbed ice (isotropic direction, closest approach uniform
    in a disc of ``impact_radius_m`` around the detector centre); truth attached."""
    zen, azi, time = _direction_time(rng)
    travel = -direction_vector(zen, azi)
    helper = np.array([0.0, 0.0, 1.0]) if abs(travel[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(travel, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(travel, e1)
    r, a = impact_radius_m * np.sqrt(rng.uniform()), rng.uniform(0.0, 2 * np.pi)
    vertex = pd.detector.centre + r * (np.cos(a) * e1 + np.sin(a) * e2)
    t0 = READOUT_WINDOW_NS / 2
    rel = pd.detector.positions - vertex
    along = rel @ travel
    rho = np.linalg.norm(rel - np.outer(along, travel), axis=1)
    z_emit = vertex[2] + (along - rho * COS_CHERENKOV / SIN_CHERENKOV) * travel[2]
    lp, ls = _path_lengths(pd, z_emit)
    d = rho / SIN_CHERENKOV
    counts = rng.poisson(track_mean(pd, d, lp, energy_tev))
    sensor = np.repeat(np.arange(pd.detector.n_sensors), counts)
    t_geo = t0 + along / C_VACUUM + RHO_DELAY * rho
    times = t_geo[sensor] + _delays(rng, pd.perturbation, d[sensor], ls[sensor])
    sensor, times = _detector_effects(rng, pd, sensor, times)
    truth = _truth("throughgoing", zen, azi, time, energy_tev, vertex, t0)
    return _event(pd, rng, time, sensor, times, truth, event_id)


def simulate_perturbed_cascade(rng: np.random.Generator, pd: PerturbedDetector,
                               energy_tev: float = 100.0, *, event_id: int = 0,
                               direction: tuple[float, float] | None = None,
                               vertex: tuple[float, float, float] | None = None) -> Event:
    """A point-like shower in perturbed ice; truth attached.

    ``direction`` (zenith, azimuth [rad]) is isotropic and ``vertex`` uniform in a cylinder of
    400 m radius and 800 m height around the detector centre unless given."""
    zen, azi, time = _direction_time(rng)
    if direction is not None:
        zen, azi = direction
    travel = -direction_vector(zen, azi)
    r, a = 400.0 * np.sqrt(rng.uniform()), rng.uniform(0.0, 2 * np.pi)
    c = pd.detector.centre
    v = (c[0] + r * np.cos(a), c[1] + r * np.sin(a), c[2] + rng.uniform(-400, 400))
    at = np.array(vertex if vertex is not None else v, dtype=float)
    t0 = READOUT_WINDOW_NS / 2
    rel = pd.detector.positions - at
    d = np.maximum(np.linalg.norm(rel, axis=1), 1e-6)
    cos_eta = rel @ travel / d
    lp, ls = _path_lengths(pd, np.full(len(d), at[2]))
    p = pd.perturbation
    r0 = p.yield_radius_m
    profile = 0.3 + np.exp(-(((cos_eta - COS_CHERENKOV) / 0.35) ** 2))
    mean = (p.cascade_yield * pd.efficiency * (energy_tev / 100.0) * profile
            * r0 / (d + r0) * np.exp(-d / lp))
    sensor = np.repeat(np.arange(pd.detector.n_sensors), rng.poisson(mean))
    times = t0 + d[sensor] / C_ICE + _delays(rng, p, d[sensor], ls[sensor])
    sensor, times = _detector_effects(rng, pd, sensor, times)
    truth = _truth("cascade", zen, azi, time, energy_tev, at, t0)
    return _event(pd, rng, time, sensor, times, truth, event_id)
