"""Files made from a finished scan: HEALPix FITS skymaps (flat and multi-order) and MOCs.

The writers are reco's (:mod:`reco.skymap`: ``2DLLH`` and ``PROB`` / ``PROBDENSITY``
columns, HEALPix keywords and IceCube's event keys) and mocpy's (each region's MOC as IVOA
MOC 2.0 FITS); this module names the files, picks the flat map's resolution (the finest
scanned) and computes the digests the artifact rows carry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ingest.safepath import check_component, contained
from reco.regions import Region
from reco.result import ScanResult
from reco.skymap import plot_skymap, write_flat_fits, write_multiorder_fits

FITS_MEDIA_TYPE = "application/fits"
#: The flat map is gzip-compressed (``.fits.gz``, as IceCube publishes its skymaps): the
#: file's own media type is gzip; healpy, astropy and ligo.skymap open it directly.
GZIP_MEDIA_TYPE = "application/gzip"

PNG_MEDIA_TYPE = "image/png"


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


def write_products(result: ScanResult, regions: dict[int, Region], folder: Path,
                   stem: str) -> list[WrittenFile]:
    """Write every product of ``result`` into ``folder``; returns them with digests.

    ``regions`` maps 50 / 90 to the region reported at that level. ``stem`` must be one
    plain file-name component and every file must resolve inside ``folder``
    (:class:`ingest.safepath.UnsafePath` before anything is written otherwise).
    """
    check_component(stem)
    folder.mkdir(parents=True, exist_ok=True)
    names = {"flat": f"{stem}_skymap.fits.gz", "multi": f"{stem}_skymap_multiorder.fits",
             "png": f"{stem}_skymap.png",
             **{f"moc{level}": f"{stem}_moc{level}.fits" for level in regions}}
    paths = {key: contained(folder, name) for key, name in names.items()}
    planned: list[tuple[str, Path]] = []
    flat = paths["flat"]
    write_flat_fits(result, flat, nside=result.finest_nside)
    planned.append(("skymap-fits", flat))
    multi = paths["multi"]
    write_multiorder_fits(result, multi)
    planned.append(("skymap-multiorder", multi))
    for level, region in sorted(regions.items()):
        moc = paths[f"moc{level}"]
        region.write_moc(moc, "fits")
        planned.append((f"moc{level}", moc))
    png = paths["png"]
    plot_skymap(result, png)  # reco's sky plot: shown on the landing page
    planned.append(("skymap-png", png))
    out = []
    for role, path in planned:
        size, sha, md5 = digests(path)
        media = (PNG_MEDIA_TYPE if path.suffix == ".png"
                 else GZIP_MEDIA_TYPE if path.name.endswith(".gz") else FITS_MEDIA_TYPE)
        out.append(WrittenFile(role, path, media, size, sha, md5))
    return out
