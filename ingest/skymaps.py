"""Files made from a finished scan: HEALPix FITS skymaps (flat and multi-order) and MOCs.

reco's own skymap writers (``reco/skymap.py``) were not on main when this was written, so
the files are made here from what :class:`reco.result.ScanResult` exposes: the flat 2ΔLLH
map (:meth:`~reco.result.ScanResult.delta_llh_map`), the multi-order cells
(:meth:`~reco.result.ScanResult.multiorder`) and each region's mocpy MOC. astropy writes
the FITS tables with the HEALPix keywords (``PIXTYPE``, ``ORDERING``, ``NSIDE``,
``INDXSCHM``) and IceCube's event keys (``RUNID``, ``EVENTID``, ``RA``, ``DEC``), so healpy,
ligo.skymap and mocpy read them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import healpy as hp
import numpy as np
from astropy.io import fits

from reco.regions import Region
from reco.result import ScanResult

FITS_MEDIA_TYPE = "application/fits"
#: The flat map is gzip-compressed (``.fits.gz``, as IceCube publishes its skymaps): the
#: file's own media type is gzip; healpy, astropy and ligo.skymap open it directly.
GZIP_MEDIA_TYPE = "application/gzip"


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A file written into a folder, with its digests."""

    role: str
    path: Path
    media_type: str
    size_bytes: int
    sha256: str
    md5: str


def digests(path: Path) -> tuple[int, str, str]:
    """Size, SHA-256 and MD5 of a file."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    size = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return size, sha.hexdigest(), md5.hexdigest()


def _event_cards(result: ScanResult) -> list[tuple[str, object, str]]:
    b = result.best
    return [("RUNID", result.run_id, "run number"),
            ("EVENTID", result.event_id, "event number"),
            ("EVENTMJD", result.event_time_mjd, "event time (MJD, UTC)"),
            ("SENDER", "nufair", "who made this map"),
            ("RA", float(np.degrees(b.ra)), "best-fit right ascension (deg)"),
            ("DEC", float(np.degrees(b.dec)), "best-fit declination (deg)"),
            ("COORDSYS", "C", "equatorial (ICRS)"),
            ("MAPVALUE", "2DLLH", "2 (llh - llh_best)")]


def write_flat(result: ScanResult, path: Path) -> None:
    """The 2ΔLLH map at the finest scanned nside, NESTED, as a HEALPix binary table."""
    nside = result.finest_nside
    ring = result.delta_llh_map(nside)
    nest = ring[hp.nest2ring(nside, np.arange(len(ring)))].astype(np.float32)
    hdu = fits.BinTableHDU.from_columns([fits.Column(name="2DLLH", format="E", array=nest)])
    for key, value, comment in [("PIXTYPE", "HEALPIX", "HEALPix pixelisation"),
                                ("ORDERING", "NESTED", "pixel ordering"),
                                ("NSIDE", nside, "resolution"),
                                ("INDXSCHM", "IMPLICIT", "all pixels, in order"),
                                ("FIRSTPIX", 0, ""), ("LASTPIX", len(nest) - 1, ""),
                                *_event_cards(result)]:
        hdu.header[key] = (value, comment)
    hdu.writeto(path, overwrite=True)


def write_multiorder(result: ScanResult, path: Path) -> None:
    """The 2ΔLLH map as multi-order cells (``UNIQ``, ``ORDERING = NUNIQ``)."""
    uniq, value = result.multiorder()
    hdu = fits.BinTableHDU.from_columns([
        fits.Column(name="UNIQ", format="K", array=uniq),
        fits.Column(name="2DLLH", format="E", array=value.astype(np.float32))])
    for key, val, comment in [("PIXTYPE", "HEALPIX", "HEALPix pixelisation"),
                              ("ORDERING", "NUNIQ", "uniq = 4 nside^2 + ipix"),
                              ("INDXSCHM", "EXPLICIT", "pixel index in UNIQ"),
                              ("MOCORDER", hp.nside2order(result.finest_nside), "finest order"),
                              *_event_cards(result)]:
        hdu.header[key] = (val, comment)
    hdu.writeto(path, overwrite=True)


def write_products(result: ScanResult, regions: dict[int, Region], folder: Path,
                   stem: str) -> list[WrittenFile]:
    """Write every product of ``result`` into ``folder``; returns them with digests.

    ``regions`` maps 50 / 90 to the region reported at that level.
    """
    folder.mkdir(parents=True, exist_ok=True)
    planned: list[tuple[str, Path]] = []
    flat = folder / f"{stem}_skymap.fits.gz"
    write_flat(result, flat)
    planned.append(("skymap-fits", flat))
    multi = folder / f"{stem}_skymap_multiorder.fits"
    write_multiorder(result, multi)
    planned.append(("skymap-multiorder", multi))
    for level, region in sorted(regions.items()):
        moc = folder / f"{stem}_moc{level}.fits"
        region.write_moc(moc, "fits")
        planned.append((f"moc{level}", moc))
    out = []
    for role, path in planned:
        size, sha, md5 = digests(path)
        media = GZIP_MEDIA_TYPE if path.name.endswith(".gz") else FITS_MEDIA_TYPE
        out.append(WrittenFile(role, path, media, size, sha, md5))
    return out
