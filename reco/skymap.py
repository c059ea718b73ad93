"""Skymap products of a scan: flat and multi-order HEALPix FITS files and a PNG sky plot.

The FITS headers carry the keys of IceCube's public realtime skymaps (``RUNID``, ``EVENTID``,
``EVENTMJD``, ``SENDER``, ``RA``, ``DEC``, ``RA_ERR_PLUS``/``MINUS``, ``DEC_ERR_PLUS``/``MINUS``
of the 90 % region, ``ENERGY``) next to the HEALPix keywords (``PIXTYPE``, ``ORDERING``,
``COORDSYS``, ``NSIDE``, ``INDXSCHM``). The multi-order file follows the LIGO/Virgo/KAGRA
convention (``UNIQ``, ``PROBDENSITY`` per steradian, ``ORDERING = NUNIQ``) that ligo.skymap
and mocpy read.

Probability
-----------
A likelihood map is not a probability map; for the PROB / PROBDENSITY columns we use

.. math:: P \\propto \\exp\\left(-\\tfrac12\\, s\\, 2\\Delta\\mathrm{LLH}\\right), \\qquad
          s = 4.61 / T_{90},

where :math:`T_{90}` is the 90 % threshold in use (calibrated when recorded, else Wilks, so
:math:`s = 1`): with :math:`s` the map's 90 % credible region has about the size of the 90 %
region.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

from reco.regions import WILKS_THRESHOLDS, Region, gnomonic_grid
from reco.result import ScanResult

SENDER = "nufair"
"""Value of the SENDER header key."""


def region_for_header(result: ScanResult, containment: float = 0.9) -> Region | None:
    """The region reported in headers: calibrated if present, else Wilks."""
    for method in ("calibrated", "wilks"):
        for r in result.regions:
            if r.method == method and r.containment == containment:
                return r
    return None


def region_method(region: Region) -> str:
    """The method of a region in words, e.g. ``"calibrated on perturbed-ice v1"`` (FITS
    ``REGMETH``): Wilks, calibration on the likelihood's own simulation (closed loop), or on a
    simulation with systematic variations."""
    if region.method == "wilks":
        return "Wilks chi2(2 dof)"
    if region.systematics is None:
        return "calibrated, closed loop"
    return f"calibrated on {region.systematics}"


def _scale(result: ScanResult) -> float:
    reg = region_for_header(result)
    return WILKS_THRESHOLDS[0.9] / reg.threshold if reg is not None else 1.0


def _header_cards(result: ScanResult) -> list[tuple[str, Any, str]]:
    b = result.best
    cards: list[tuple[str, Any, str]] = [
        ("RUNID", result.run_id, "Run number"),
        ("EVENTID", result.event_id, "Event number"),
        ("SENDER", SENDER, "Who sent this map"),
        ("EVENTMJD", result.event_time_mjd, "MJD of the event"),
        ("RA", round(float(np.degrees(b.ra)), 4), "Best-fit right ascension (J2000/ICRS) [deg]"),
        ("DEC", round(float(np.degrees(b.dec)), 4), "Best-fit declination (J2000/ICRS) [deg]"),
        ("ENERGY", round(b.energy, 3), "Energy proxy [TeV]"),
        ("LLHBEST", round(b.llh, 4), "Best -ln L"),
    ]
    reg = region_for_header(result)
    if reg is not None:
        cards += [
            ("RA_ERR_PLUS", round(reg.ra_plus, 4), "90% region: RA above [deg]"),
            ("RA_ERR_MINUS", round(reg.ra_minus, 4), "90% region: RA below [deg]"),
            ("DEC_ERR_PLUS", round(reg.dec_plus, 4), "90% region: Dec above [deg]"),
            ("DEC_ERR_MINUS", round(reg.dec_minus, 4), "90% region: Dec below [deg]"),
            ("AREA90", round(reg.area_deg2, 5), "90% region area [deg2]"),
            ("THRESH90", reg.threshold, f"90% 2DeltaLLH threshold ({reg.method})"),
            ("REGMETH", region_method(reg), "Region thresholds"),
            ("SYSTINCL", reg.systematics is not None, "Systematics in regions"),
        ]
    return cards


def probability_map(
    result: ScanResult, nside: int = 512, dllh: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Per-pixel probability (RING, sums to 1) from the 2ΔLLH map (module docstring);
    ``dllh``, when given, is ``result.delta_llh_map(nside)`` already computed."""
    dllh = result.delta_llh_map(nside) if dllh is None else dllh
    w = np.where(np.isfinite(dllh), np.exp(-0.5 * _scale(result) * dllh), 0.0)
    return np.asarray(w / w.sum())


def write_flat_fits(
    result: ScanResult,
    path: str | Path,
    nside: int = 512,
    dllh: NDArray[np.float64] | None = None,
) -> None:
    """Flat HEALPix FITS (RING, equatorial): columns ``2DLLH`` and ``PROB``; gzipped when
    ``path`` ends in ``.gz``. ``dllh``, when given, is ``result.delta_llh_map(nside)``
    already computed (the map takes a tenth of a second at nside 512).

    The file is the one astropy's ``HDUList.writeto`` writes (``tests/reco/
    test_reco_products.py`` compares the bytes), put together here: the table is two
    big-endian columns written in one piece, and gzip compresses it in one call, which
    leaves the GIL free for its 0.15 s (astropy writes a 3-million-row table in 800 pieces,
    each converted and compressed apart; the command-line scan writes this file in a thread
    beside its other products).
    """
    dllh = result.delta_llh_map(nside) if dllh is None else dllh
    table = np.empty(len(dllh), dtype=[("2DLLH", ">f8"), ("PROB", ">f8")])
    table["2DLLH"] = dllh
    table["PROB"] = probability_map(result, nside, dllh)
    hdu = fits.BinTableHDU(data=table[:0])  # the header: column keys from the dtype
    h = hdu.header
    h["NAXIS2"] = len(table)
    for key, value, comment in (
        ("PIXTYPE", "HEALPIX", "HEALPix pixelisation"),
        ("ORDERING", "RING", "Pixel ordering scheme"),
        ("COORDSYS", "C", "Equatorial (ICRS)"),
        ("NSIDE", nside, "HEALPix resolution"),
        ("INDXSCHM", "IMPLICIT", "Indexing: implicit"),
        ("FIRSTPIX", 0, ""),
        ("LASTPIX", len(dllh) - 1, ""),
    ):
        h[key] = (value, comment)
    _add_cards(h, result)
    pieces = [
        fits.PrimaryHDU().header.tostring().encode("ascii"),
        h.tostring().encode("ascii"),
        table.data.cast("B"),
        bytes(-table.nbytes % _FITS_BLOCK),  # the data unit ends on a block, zero-padded
    ]
    with open(path, "wb") as handle:
        if not str(path).endswith(".gz"):
            handle.writelines(pieces)
            return
        name = Path(path).name.removesuffix(".gz")
        with gzip.GzipFile(name, "wb", 9, handle) as gz:
            for piece in pieces:
                gz.write(piece)


_FITS_BLOCK = 2880
"""Bytes of a FITS block: headers and data units fill whole blocks."""


def _add_cards(header: fits.Header, result: ScanResult) -> None:
    for key, value, comment in _header_cards(result):
        # Keys longer than 8 characters (IceCube's RA_ERR_PLUS, ...) are written as explicit
        # HIERARCH cards; readers still find them as header["RA_ERR_PLUS"].
        header[key if len(key) <= 8 else f"HIERARCH {key}"] = (value, comment)


def multiorder_density(result: ScanResult,
                       ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """The multi-order map: ``UNIQ``, ``PROBDENSITY`` [sr⁻¹] and ``2DLLH`` per cell."""
    uniq, dllh = result.multiorder()
    order = (np.log2(uniq // 4) // 2).astype(np.int64)
    area = 4 * np.pi / (12 * 4.0**order)
    w = np.where(np.isfinite(dllh), np.exp(-0.5 * _scale(result) * dllh), 0.0)
    return uniq, np.asarray(w / np.sum(w * area), dtype=np.float64), dllh


def write_multiorder_fits(result: ScanResult, path: str | Path) -> None:
    """Multi-order FITS: ``UNIQ`` and ``PROBDENSITY`` [sr⁻¹] (plus ``2DLLH``)."""
    uniq, density, dllh = multiorder_density(result)
    order = (np.log2(uniq // 4) // 2).astype(np.int64)
    cols = [
        fits.Column(name="UNIQ", format="K", array=uniq),
        fits.Column(name="PROBDENSITY", format="D", unit="sr-1", array=density),
        fits.Column(name="2DLLH", format="D", array=dllh),
    ]
    hdu = fits.BinTableHDU.from_columns(cols)
    h = hdu.header
    h["PIXTYPE"] = ("HEALPIX", "HEALPix pixelisation")
    h["ORDERING"] = ("NUNIQ", "Multi-order: UNIQ = 4 nside^2 + nested index")
    h["COORDSYS"] = ("C", "Equatorial (ICRS)")
    h["MOCORDER"] = (int(order.max()), "Finest order")
    h["INDXSCHM"] = ("EXPLICIT", "Indexing: explicit")
    _add_cards(h, result)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)


def _offsets(
    ra0: float, dec0: float, ra: NDArray[np.float64], dec: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Gnomonic offsets [deg] of (ra, dec) [rad] around (ra0, dec0): x towards east."""
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    x = np.cos(dec) * np.sin(ra - ra0) / cos_c
    y = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    return np.asarray(np.degrees(np.stack([x, y], axis=-1)))


def plot_skymap(
    result: ScanResult,
    path: str | Path,
    half_width_deg: float | None = None,
    dllh: NDArray[np.float64] | None = None,
) -> None:
    """PNG: a zoom on the best fit (2ΔLLH, region contours, best fit, truth if known) with an
    all-sky (Mollweide) inset marking where the zoom is. ``dllh``, when given, is
    ``result.delta_llh_map()`` already computed."""
    b = result.best
    reg90 = region_for_header(result)
    if half_width_deg is None:
        radius = reg90.radius_deg if reg90 is not None else 1.0
        half_width_deg = float(np.clip(4.0 * radius, 0.5, 30.0))
    half = np.radians(half_width_deg)
    n = 300
    _, _, ra, dec = gnomonic_grid(b.ra, b.dec, np.tan(half), n)
    fine = result.delta_llh_map() if dllh is None else dllh
    values = fine[hp.ang2pix(hp.npix2nside(len(fine)), 0.5 * np.pi - dec, ra)]
    # matplotlib only here: a process that writes the FITS files alone does not import it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 6.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.1, 0.72, 0.8))
    top = 2.0 * (reg90.threshold if reg90 is not None else WILKS_THRESHOLDS[0.9])
    ext = float(np.degrees(np.tan(half)))  # tangent-plane units, as _offsets
    im = ax.imshow(
        np.clip(values, 0, top),
        origin="lower",
        extent=(-ext, ext, -ext, ext),
        cmap="viridis_r",
        aspect="equal",
    )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="2ΔLLH")
    styles = {0.5: ("white", "--"), 0.9: ("white", "-")}
    for r in result.regions:
        if reg90 is not None and r.method != reg90.method:
            continue
        color, ls = styles.get(r.containment, ("white", ":"))
        for k, line in enumerate(r.contour):
            xy = _offsets(b.ra, b.dec, np.radians(line[:, 0]), np.radians(line[:, 1]))
            label = f"{round(r.containment * 100)} % ({r.method})" if k == 0 else None
            ax.plot(xy[:, 0], xy[:, 1], color=color, ls=ls, lw=1.5, label=label)
    ax.plot(0, 0, "x", color="red", ms=10, mew=2, label="best fit")
    if result.truth is not None:
        t = _offsets(b.ra, b.dec, np.array(result.truth.ra), np.array(result.truth.dec))
        ax.plot(t[0], t[1], "*", color="orange", ms=14, mec="k", label="truth")
    ax.set_xlim(ext, -ext)  # east to the left, as on the sky
    ax.set_ylim(-ext, ext)
    ax.set_xlabel("ΔRA · cos Dec, gnomonic [deg] (east ←)")
    ax.set_ylabel("ΔDec [deg]")
    ax.set_title(
        f"Run {result.run_id} event {result.event_id}: "
        f"RA {np.degrees(b.ra):.2f}°, Dec {np.degrees(b.dec):+.2f}°"
    )
    ax.legend(loc="lower left", fontsize=8, framealpha=0.6)
    inset = fig.add_axes((0.60, 0.72, 0.3, 0.2), projection="mollweide")
    lon = -np.mod(b.ra + np.pi, 2 * np.pi) + np.pi  # RA increasing to the left
    inset.plot(lon, b.dec, "o", color="red", ms=4)
    inset.grid(True, lw=0.3)
    inset.set_xticklabels([])
    inset.set_yticklabels([])
    fig.savefig(path)
