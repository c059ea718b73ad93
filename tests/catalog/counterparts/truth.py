"""The independent answer: which 4FGL-DR4 sources meet a region, by astropy and mocpy.

Nothing here comes from the code under test: the CSV is parsed with the csv module, the
separations and the ellipse outlines are astropy's (``separation``, ``position_angle``,
``directional_offset_by``), the box test is written out again with numpy, and a contour's
pixels are a mocpy MOC. The ellipse outline is sampled 4 times more finely than nufair's.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from importlib import resources

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from mocpy import MOC

#: Outline points per ellipse in the truth (nufair samples 360).
OUTLINE = 1440


@dataclass(frozen=True)
class Sources:
    """The catalogue as arrays."""

    name: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    a: np.ndarray
    b: np.ndarray
    pa: np.ndarray
    cls: np.ndarray


def _num(cell: str) -> float:
    return float(cell) if cell.strip() not in ("", "nan") else np.nan


def fgl4() -> Sources:
    """Every row of the bundled 4FGL-DR4 file."""
    data = resources.files("catalog.counterparts").joinpath(
        "data", "gll_psc_v35_subset.csv.gz").read_bytes()
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(data).decode())))
    return Sources(
        name=np.array([r["Source_Name"] for r in rows]),
        ra=np.array([float(r["RAJ2000"]) for r in rows]),
        dec=np.array([float(r["DEJ2000"]) for r in rows]),
        a=np.array([_num(r["Conf_95_SemiMajor"]) for r in rows]),
        b=np.array([_num(r["Conf_95_SemiMinor"]) for r in rows]),
        pa=np.array([_num(r["Conf_95_PosAng"]) for r in rows]),
        cls=np.array([r["CLASS1"] for r in rows]))


@dataclass(frozen=True)
class Region:
    """One region: a circle or an RA/Dec box around the best fit, optionally AND a MOC."""

    ra: float
    dec: float
    shape: str | None
    radius: float = np.nan
    ra_plus: float = np.nan
    ra_minus: float = np.nan
    dec_plus: float = np.nan
    dec_minus: float = np.nan
    moc: MOC | None = None

    def contains(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """Whether each (ra, dec) lies in the region."""
        ra, dec = np.asarray(ra, float), np.asarray(dec, float)
        if self.shape == "circle":
            sep = SkyCoord(self.ra * u.deg, self.dec * u.deg).separation(
                SkyCoord(ra * u.deg, dec * u.deg)).deg
            inside = sep <= self.radius
        elif self.shape == "box":
            inside = ((dec >= self.dec - self.dec_minus) & (dec <= self.dec + self.dec_plus))
            if self.ra_plus + self.ra_minus < 360.0:
                offset = np.mod(ra - self.ra + 180.0, 360.0) - 180.0
                inside &= (offset >= -self.ra_minus) & (offset <= self.ra_plus)
        else:
            inside = np.ones(ra.shape, bool)
        if self.moc is not None:
            flat = self.moc.contains_lonlat(ra.ravel() * u.deg, dec.ravel() * u.deg)
            inside &= np.asarray(flat).reshape(ra.shape)
        return np.asarray(inside)

    def may_reach(self, s: Sources, reach: np.ndarray) -> np.ndarray:
        """A safe superset of the sources within ``reach`` degrees of the region."""
        if self.shape == "circle":
            sep = SkyCoord(self.ra * u.deg, self.dec * u.deg).separation(
                SkyCoord(s.ra * u.deg, s.dec * u.deg)).deg
            return np.asarray(sep <= self.radius + reach)
        if self.shape != "box":
            return np.ones(len(s.ra), bool)
        ok = ((s.dec + reach >= self.dec - self.dec_minus)
              & (s.dec - reach <= self.dec + self.dec_plus))
        if self.ra_plus + self.ra_minus >= 360.0:
            return np.asarray(ok)
        sin_ratio = np.sin(np.radians(reach)) / np.cos(np.radians(s.dec))
        dra = np.where(sin_ratio >= 1, 360.0, np.degrees(np.arcsin(np.minimum(sin_ratio, 1))))
        offset = np.mod(s.ra - self.ra + 180.0, 360.0) - 180.0
        return np.asarray(ok & (offset >= -self.ra_minus - dra - 1e-6)
                          & (offset <= self.ra_plus + dra + 1e-6))


def outline(s: Sources, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) arrays (n, OUTLINE) of the ellipse outlines of sources ``idx``."""
    t = np.radians(np.arange(OUTLINE) * 360.0 / OUTLINE)
    a, b, pa = s.a[idx, None], s.b[idx, None], s.pa[idx, None]
    x, y = a * np.cos(t), b * np.sin(t)
    rho, theta = np.hypot(x, y), pa + np.degrees(np.arctan2(y, x))
    centre = SkyCoord(s.ra[idx, None] * u.deg, s.dec[idx, None] * u.deg)
    points = centre.directional_offset_by(theta * u.deg, rho * u.deg)
    return points.ra.deg, points.dec.deg


def in_ellipse(s: Sources, idx: np.ndarray, ra: float, dec: float) -> np.ndarray:
    """Whether (ra, dec) lies in each ellipse of sources ``idx`` (distance and angle)."""
    centre = SkyCoord(s.ra[idx] * u.deg, s.dec[idx] * u.deg)
    point = SkyCoord(ra * u.deg, dec * u.deg)
    sep = centre.separation(point).deg
    theta = centre.position_angle(point).deg
    off = np.radians(theta - s.pa[idx])
    du, dv = sep * np.cos(off), sep * np.sin(off)
    return np.asarray((du / s.a[idx]) ** 2 + (dv / s.b[idx]) ** 2 <= 1.0)


def expected(s: Sources, region: Region) -> dict[str, str]:
    """Source name -> "position" or "ellipse" for every source that meets ``region``."""
    out: dict[str, str] = {}
    at = region.contains(s.ra, s.dec)
    for i in np.flatnonzero(at):
        out[str(s.name[i])] = "position"
    has_ellipse = np.isfinite(s.a) & np.isfinite(s.b) & np.isfinite(s.pa) & (s.a > 0)
    reach = np.where(has_ellipse, s.a, 0.0)
    idx = np.flatnonzero(~at & has_ellipse & region.may_reach(s, reach))
    if len(idx) == 0:
        return out
    ora, odec = outline(s, idx)
    hit = region.contains(ora, odec).any(axis=1)
    if region.contains(np.array([region.ra]), np.array([region.dec]))[0]:
        hit |= in_ellipse(s, idx, region.ra, region.dec)
    for i in idx[hit]:
        out[str(s.name[i])] = "ellipse"
    return out
