"""50 % / 90 % regions of a scan: thresholds, areas, bounding rectangles, MOCs and contours.

A region is the set of sky pixels whose :math:`2\\Delta\\mathrm{LLH} = 2(\\mathrm{llh} -
\\mathrm{llh}_\\mathrm{best})` is at most a threshold. With Wilks' theorem and two free
parameters (the direction) the thresholds for 50 % and 90 % containment are the
:math:`\\chi^2_2` quantiles 1.39 and 4.61. Real data are not drawn from the likelihood's own
photon model, and Wilks' regions then cover far less than they claim; the calibrated
thresholds are the 50 % and 90 % quantiles of :math:`2\\Delta\\mathrm{LLH}` at the true
direction over events simulated with a *different* photon model (perturbed ice, sensor
efficiencies, jitter, noise, afterpulses: :mod:`reco.simulate_perturbed`), as IceCube derived
its 22.2 / 64.2 from simulation with systematic variations. They depend on the energy: each
event takes those of its energy-proxy bin (:func:`thresholds_for`). ``bench/systematics.py``
produces them and records them with their provenance in ``reco/data/calibration.json``; a
region made with them names the simulation in :attr:`Region.systematics` (what notices call
``systematic_included``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import astropy.units as u
import healpy as hp
import numpy as np
from contourpy import contour_generator
from mocpy import MOC
from numpy.typing import NDArray

from reco.result import ScanResult

WILKS_THRESHOLDS = {0.5: 1.39, 0.9: 4.61}
"""2ΔLLH thresholds of the χ² distribution with two degrees of freedom (Wilks)."""
CONTAINMENTS = (0.5, 0.9)
"""Containment levels reported for every scan."""

Method = Literal["wilks", "calibrated"]


@cache
def calibrated_thresholds() -> dict[str, Any] | None:
    """The recorded calibration (thresholds and provenance), or None if none is recorded."""
    path = resources.files("reco").joinpath("data/calibration.json")
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


@dataclass(frozen=True)
class Thresholds:
    """The calibrated thresholds an event gets.

    Attributes
    ----------
    by_containment : dict of float to float
        2ΔLLH threshold per containment (0.5, 0.9).
    systematics : str or None
        The simulation they were calibrated on when it is not the likelihood's own model
        (e.g. ``"perturbed-ice v1"``); None for a closed-loop calibration.
    energy_bin : tuple of (float or None, float or None) or None
        The energy-proxy bin [TeV] they belong to (None: open end); None when unbinned.
    """

    by_containment: dict[float, float]
    systematics: str | None
    energy_bin: tuple[float | None, float | None] | None


def _in_bin(energy: float, edges: list[float | None]) -> bool:
    lo, hi = edges
    return (lo is None or energy >= lo) and (hi is None or energy < hi)


def thresholds_for(
    calibration: dict[str, Any], energy_tev: float, hypothesis: str = "track"
) -> Thresholds | None:
    """The thresholds of an event with energy proxy ``energy_tev`` under ``calibration``.

    A calibration is either flat (``{"thresholds": {"0.5": t50, "0.9": t90}}``) or per
    hypothesis (``{"track": {"thresholds": ..., "bins": [{"energy_proxy_tev": [lo, hi],
    "thresholds": ...}, ...]}, "systematics": ...}``); an event takes its bin's thresholds,
    those of the whole sample when no bin holds it (or its proxy is NaN). None when the
    calibration has nothing for ``hypothesis``.

    Examples
    --------
    >>> low = {"energy_proxy_tev": [None, 100.0], "thresholds": {"0.5": 8.0, "0.9": 50.0}}
    >>> high = {"energy_proxy_tev": [100.0, None], "thresholds": {"0.5": 20.0, "0.9": 90.0}}
    >>> cal = {"systematics": "perturbed-ice v1", "track": {
    ...     "thresholds": {"0.5": 10.0, "0.9": 60.0}, "bins": [low, high]}}
    >>> thresholds_for(cal, 250.0).by_containment[0.9]
    90.0
    >>> thresholds_for(cal, float("nan")).by_containment[0.9]
    60.0
    """
    if "thresholds" in calibration:  # flat: one pair for every event
        block, systematics = calibration, calibration.get("systematics")
    elif hypothesis in calibration:
        block, systematics = calibration[hypothesis], calibration.get("systematics")
    else:
        return None
    chosen, edges = block["thresholds"], None
    for b in block.get("bins", []):
        if np.isfinite(energy_tev) and _in_bin(energy_tev, b["energy_proxy_tev"]):
            chosen, edges = b["thresholds"], tuple(b["energy_proxy_tev"])
            break
    return Thresholds({c: float(chosen[str(c)]) for c in CONTAINMENTS}, systematics, edges)


@dataclass(frozen=True)
class Region:
    """One containment region.

    Attributes
    ----------
    containment : float
        0.5 or 0.9.
    method : {"wilks", "calibrated"}
    threshold : float
        The 2ΔLLH threshold used.
    area_deg2 : float
        Area [deg²] (number of finest pixels × their area).
    ra_plus, ra_minus, dec_plus, dec_minus : float
        Bounding rectangle around the best fit [deg]: the extreme pixel centres plus half a
        pixel; RA extents are in RA degrees (not multiplied by cos dec), as in GCN notices.
    radius_deg : float
        Circularised radius: the cap of the same area, :math:`r = \\arccos(1 - A/2\\pi)`.
    nside : int
        Resolution of the pixels the region is made of.
    pixels : ndarray of int
        NESTED pixel indices at ``nside``.
    moc : mocpy.MOC
    contour : list of ndarray (n, 2)
        Closed boundary polylines, (RA, Dec) in degrees.
    systematics : str or None
        The simulation with systematic variations the threshold was calibrated on (a
        ``"calibrated"`` region only); None: no systematic uncertainty included.
    """

    containment: float
    method: Method
    threshold: float
    area_deg2: float
    ra_plus: float
    ra_minus: float
    dec_plus: float
    dec_minus: float
    radius_deg: float
    nside: int
    pixels: NDArray[np.int64]
    moc: MOC
    contour: list[NDArray[np.float64]]
    systematics: str | None = None

    @property
    def name(self) -> str:
        """E.g. ``"wilks-90"``."""
        return f"{self.method}-{round(self.containment * 100)}"

    def contains(self, ra: float, dec: float) -> bool:
        """Whether the direction (radians) falls in one of the region's pixels."""
        pix = hp.ang2pix(self.nside, 0.5 * np.pi - dec, ra, nest=True)
        return bool(np.isin(pix, self.pixels))

    def write_moc(self, path: str | Path, fmt: Literal["fits", "json", "ascii"]) -> None:
        """Write the MOC with mocpy (IVOA MOC 2.0 FITS, JSON or ASCII)."""
        self.moc.save(str(path), format=fmt, overwrite=True)

    def to_json(self) -> dict[str, Any]:
        """Summary values and the contour (MOC as its ASCII serialisation)."""
        return {
            "name": self.name,
            "containment": self.containment,
            "method": self.method,
            "threshold": self.threshold,
            "area_deg2": self.area_deg2,
            "ra_plus_deg": self.ra_plus,
            "ra_minus_deg": self.ra_minus,
            "dec_plus_deg": self.dec_plus,
            "dec_minus_deg": self.dec_minus,
            "radius_deg": self.radius_deg,
            "moc": self.moc.to_string(format="ascii"),
            "contour_deg": [np.round(c, 4).tolist() for c in self.contour],
            "systematics": self.systematics,
        }


def gnomonic_grid(
    ra0: float, dec0: float, half_width: float, n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """A tangent-plane grid around (ra0, dec0) [rad]; returns x, y [rad] and ra, dec [rad]."""
    axis = np.linspace(-half_width, half_width, n)
    x, y = np.meshgrid(axis, axis)
    return gnomonic_points(ra0, dec0, x, y)


def _contours(
    fine: NDArray[np.float64], nside: int, ra0: float, dec0: float, radius: float, level: float
) -> list[NDArray[np.float64]]:
    half = max(3.0 * radius, 10 * hp.nside2resol(nside))
    half = min(half, np.radians(60.0))
    x, y, ra, dec = gnomonic_grid(ra0, dec0, half, 201)
    values = fine[hp.ang2pix(nside, 0.5 * np.pi - dec, ra)]
    values = np.where(np.isfinite(values), values, 1e9)
    lines = contour_generator(x, y, values).lines(level)
    out = []
    for line in lines:
        xy = np.asarray(line)
        _, _, lra, ldec = gnomonic_points(ra0, dec0, xy[:, 0], xy[:, 1])
        out.append(np.degrees(np.stack([lra, ldec], axis=-1)))
    return out


def gnomonic_points(
    ra0: float, dec0: float, x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Inverse gnomonic projection of tangent-plane points (x, y) [rad] around (ra0, dec0)."""
    rho = np.hypot(x, y)
    c = np.arctan(rho)
    sin_c, cos_c = np.sin(c), np.cos(c)
    safe = np.where(rho > 0, rho, 1.0)
    dec = np.arcsin(cos_c * np.sin(dec0) + np.where(rho > 0, y * sin_c / safe, 0.0) * np.cos(dec0))
    ra = ra0 + np.arctan2(x * sin_c, rho * np.cos(dec0) * cos_c - y * np.sin(dec0) * sin_c)
    return x, y, np.mod(ra, 2 * np.pi), dec


def region_from_map(
    fine: NDArray[np.float64],
    ra0: float,
    dec0: float,
    containment: float,
    method: Method,
    threshold: float,
    systematics: str | None = None,
) -> Region:
    """Build the region ``fine <= threshold`` of a RING 2ΔLLH map around the best fit."""
    nside = hp.npix2nside(len(fine))
    order = hp.nside2order(nside)
    ring = np.flatnonzero(fine <= threshold)
    nest = np.sort(hp.ring2nest(nside, ring)).astype(np.int64)
    pix_area = hp.nside2pixarea(nside, degrees=True)
    area = len(ring) * pix_area
    theta, phi = hp.pix2ang(nside, ring)
    half = 0.5 * np.degrees(hp.nside2resol(nside))
    dra = (np.degrees(phi - ra0) + 180.0) % 360.0 - 180.0
    ddec = np.degrees(0.5 * np.pi - theta) - np.degrees(dec0)
    radius = float(np.degrees(np.arccos(1.0 - np.radians(np.sqrt(area)) ** 2 / (2 * np.pi))))
    moc = MOC.from_healpix_cells(nest, np.full(len(nest), order, dtype=np.uint8), max_depth=order)
    contour = _contours(fine, nside, ra0, dec0, np.radians(max(radius, half)), threshold)
    return Region(
        containment=containment,
        method=method,
        threshold=threshold,
        area_deg2=float(area),
        ra_plus=float(dra.max() + half) if len(ring) else 0.0,
        ra_minus=float(-dra.min() + half) if len(ring) else 0.0,
        dec_plus=float(ddec.max() + half) if len(ring) else 0.0,
        dec_minus=float(-ddec.min() + half) if len(ring) else 0.0,
        radius_deg=radius,
        nside=nside,
        pixels=nest,
        moc=moc,
        contour=contour,
        systematics=systematics,
    )


def compute_regions(
    result: ScanResult, calibration: dict[str, Any] | None = None, hypothesis: str = "track"
) -> list[Region]:
    """Wilks regions, and calibrated ones when a calibration is recorded (or given): those of
    the event's energy-proxy bin (:func:`thresholds_for`, proxy ``result.best.energy``)."""
    fine = result.delta_llh_map()
    ra0, dec0 = result.best.ra, result.best.dec
    regions = [
        region_from_map(fine, ra0, dec0, c, "wilks", WILKS_THRESHOLDS[c]) for c in CONTAINMENTS
    ]
    calib = calibration if calibration is not None else calibrated_thresholds()
    chosen = None if calib is None else thresholds_for(calib, result.best.energy, hypothesis)
    if chosen is not None:
        for c in CONTAINMENTS:
            thr = chosen.by_containment[c]
            regions.append(
                region_from_map(fine, ra0, dec0, c, "calibrated", thr, chosen.systematics)
            )
    return regions


def moc_area_deg2(moc: MOC) -> float:
    """Area of a MOC [deg²], from mocpy's sky fraction."""
    return float(moc.sky_fraction * 4 * np.pi * u.sr.to(u.deg**2))
