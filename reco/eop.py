"""Earth-orientation parameters (UT1 − UTC, polar motion) for :mod:`reco.coords`: the rows
of astropy's default table that a transform needs, read from the bundled IERS files directly.

astropy's default table (``IERS_Auto``, downloads off) is the bundled IERS-A file
(``finals2000A.all``) with the bundled IERS-B file's (``eopc04``) final values put in where
IERS-A has Bulletin-B values. Its first use reads both files whole with the CDS table reader:
0.7 s of a command-line scan (43 000 lines), while a transform at one time interpolates
between two rows. :func:`eop_table` reads the MJD column of each file, applies the same
combination to the rows around the requested times only, and returns them as an
``IERS_Auto`` table; astropy's own interpolation on it gives the same values, bit for bit,
as on its default table (``tests/reco/test_reco_eop.py`` compares every row).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

_NL = 10  # b"\n"
_SPACE = 32  # b" "

# Byte ranges (0-based, end exclusive) of the columns used, from the bundled CDS ReadMe files
# (ReadMe.finals2000A, ReadMe.eopc04).
_A_MJD, _A_PM_FLAG, _A_PM_X, _A_PM_Y = (7, 15), (16, 17), (18, 27), (37, 46)
_A_UT1_FLAG, _A_UT1 = (57, 58), (58, 68)
_A_PM_X_B, _A_PM_Y_B, _A_UT1_B = (134, 144), (144, 154), (154, 165)
_B_MJD, _B_PM_X, _B_PM_Y, _B_UT1 = (16, 26), (26, 38), (38, 50), (50, 62)


def _lines(path: Path, comment: bytes | None = None) -> NDArray[np.uint8]:
    """The lines of ``path`` as a ``(n, width)`` byte array, short lines padded with spaces
    (the fixed-width files have equal lines; the padding is for any that do not)."""
    data = path.read_bytes()
    first = data.find(b"\n") + 1
    if comment is not None:  # header lines come first (eopc04)
        start = 0
        while data.startswith(comment, start):
            start = data.index(b"\n", start) + 1
        data = data[start:]
    width = first if comment is None else data.find(b"\n") + 1
    raw = np.frombuffer(data, dtype=np.uint8)
    if width > 0 and len(raw) % width == 0 and np.all(raw[width - 1 :: width] == _NL):
        return raw.reshape(-1, width)[:, : width - 1]
    rows = [line for line in data.splitlines() if line.strip()]
    n = max(len(r) for r in rows)
    return np.frombuffer(b"".join(r.ljust(n) for r in rows), dtype=np.uint8).reshape(-1, n)


def _field(lines: NDArray[np.uint8], span: tuple[int, int]) -> NDArray[np.bytes_]:
    """One fixed-width column as byte strings."""
    a, b = span
    return np.ascontiguousarray(lines[:, a:b]).view(f"S{b - a}").ravel()


def _blank(lines: NDArray[np.uint8], span: tuple[int, int]) -> NDArray[np.bool_]:
    a, b = span
    return np.asarray(np.all(lines[:, a:b] == _SPACE, axis=1))


def _number(lines: NDArray[np.uint8], span: tuple[int, int]) -> NDArray[np.float64]:
    """One numeric column; blank fields are NaN (as astropy's masked values become)."""
    blank = _blank(lines, span)
    text = _field(lines, span)
    out = np.full(len(text), np.nan)
    out[~blank] = text[~blank].astype(np.float64)
    return out


@dataclass(frozen=True)
class _Files:
    """What every request needs from the two files: the IERS-A rows astropy keeps, their
    MJDs, and which of them take IERS-B values from the IERS-B file."""

    a: NDArray[np.uint8]  # IERS-A lines astropy keeps
    mjd: NDArray[np.float64]
    b: NDArray[np.uint8]  # IERS-B lines
    b_first: int  # IERS-B line of IERS-A's first kept row, for rows < n_b
    n_b: int
    predictive_mjd: float


@cache
def _files(a_file: str, b_file: str) -> _Files:
    a = _lines(Path(a_file))
    # astropy drops IERS-A rows without a predicted UT1-UTC and polar motion.
    a = a[~_blank(a, _A_UT1) & ~_blank(a, _A_PM_FLAG)]
    mjd = _number(a, _A_MJD)
    b = _lines(Path(b_file), comment=b"#")
    b_mjd = _number(b, _B_MJD)
    # IERS-A rows that carry Bulletin-B values take the IERS-B file's instead: its rows from
    # IERS-A's first such MJD to its last, laid over IERS-A's first rows (astropy checks
    # that the MJDs match; so do we, below).
    with_b = mjd[~_blank(a, _A_UT1_B)]
    i0 = int(np.searchsorted(b_mjd, with_b[0], side="left"))
    i1 = int(np.searchsorted(b_mjd, with_b[-1], side="right"))
    n_b = i1 - i0
    if not np.allclose(mjd[:n_b], b_mjd[i0:i1]):
        raise ValueError("IERS-A and IERS-B rows do not line up")
    ut1_p = np.searchsorted(_field(a, _A_UT1_FLAG), b"P")
    pm_p = np.searchsorted(_field(a, _A_PM_FLAG), b"P")
    return _Files(a, mjd, b, i0, n_b, float(mjd[min(int(ut1_p), int(pm_p))]))


@dataclass(frozen=True)
class EopRows:
    """Rows of astropy's default Earth-orientation table: MJD (UTC), UT1 − UTC [s], polar
    motion x, y [arcsec] and the source flags (``B`` final, ``I`` IERS-A, ``P``
    prediction)."""

    mjd: NDArray[np.float64]
    ut1_utc: NDArray[np.float64]
    ut1_flag: NDArray[np.str_]
    pm_x: NDArray[np.float64]
    pm_y: NDArray[np.float64]
    pm_flag: NDArray[np.str_]
    predictive_mjd: float


def bundled_files() -> tuple[str, str]:
    """Paths of the IERS-A and IERS-B files astropy reads by default."""
    from astropy.utils.iers import IERS_A_FILE, IERS_B_FILE

    return str(IERS_A_FILE), str(IERS_B_FILE)


def eop_rows(mjd_min: float, mjd_max: float) -> EopRows:
    """The rows that interpolation at UTC MJDs in ``[mjd_min, mjd_max]`` uses, plus one on
    each side (all rows where the span leaves the table)."""
    f = _files(*bundled_files())
    lo = max(int(np.searchsorted(f.mjd, np.floor(mjd_min), side="right")) - 2, 0)
    hi = min(int(np.searchsorted(f.mjd, np.floor(mjd_max), side="right")) + 2, len(f.mjd))
    return _combine(f, lo, hi)


def _combine(f: _Files, lo: int, hi: int) -> EopRows:
    """Rows ``lo:hi`` of astropy's combined table (``IERS_A._combine_a_b_columns``)."""
    a = f.a[lo:hi]
    ut1_b, pm_x_b, pm_y_b = _number(a, _A_UT1_B), _number(a, _A_PM_X_B), _number(a, _A_PM_Y_B)
    from_file = np.arange(lo, hi) < f.n_b
    if from_file.any():
        rows = f.b[f.b_first + lo : f.b_first + lo + int(from_file.sum())]
        if not np.array_equal(_number(rows, _B_MJD), f.mjd[lo:hi][from_file]):
            raise ValueError("IERS-A and IERS-B rows do not line up")
        ut1_b[from_file] = _number(rows, _B_UT1)
        pm_x_b[from_file] = _number(rows, _B_PM_X)
        pm_y_b[from_file] = _number(rows, _B_PM_Y)
    ut1_bad = np.isnan(ut1_b)
    pm_bad = np.isnan(pm_x_b) | np.isnan(pm_y_b)
    ut1_flag = _field(a, _A_UT1_FLAG).astype(str)
    pm_flag = _field(a, _A_PM_FLAG).astype(str)
    return EopRows(
        mjd=f.mjd[lo:hi],
        ut1_utc=np.where(ut1_bad, _number(a, _A_UT1), ut1_b),
        ut1_flag=np.where(ut1_bad, ut1_flag, "B"),
        pm_x=np.where(pm_bad, _number(a, _A_PM_X), pm_x_b),
        pm_y=np.where(pm_bad, _number(a, _A_PM_Y), pm_y_b),
        pm_flag=np.where(pm_bad, pm_flag, "B"),
        predictive_mjd=f.predictive_mjd,
    )


def uses_bundled_files() -> bool:
    """Whether astropy's default table comes from the bundled files: not when a
    ``finals2000A.all`` in the working directory takes their place (astropy reads that one,
    with a deprecation warning)."""
    return not os.path.exists("finals2000A.all")
