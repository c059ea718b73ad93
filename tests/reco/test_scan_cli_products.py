"""``nufair scan`` outside its scan: the flat FITS writer against astropy's, the PNG's
second process, the local worker threads, healpy and mocpy without matplotlib, and the
program's quick exit (issue 18)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

from nufair.commands.scan_products import PngDrawer, write_products
from reco.cluster import ThreadClient
from reco.detector import Detector
from reco.regions import compute_regions
from reco.simulate import SimulatedEvent
from reco.skymap import _add_cards, probability_map, write_flat_fits

from .test_reco_regions_scan import _analytic_result

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _astropy_flat_fits(path: Path) -> bytes:
    """The flat file as astropy's ``HDUList.writeto`` writes it (the writer before)."""
    result = _analytic_result()
    result.regions = compute_regions(result)
    dllh = result.delta_llh_map(512)
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="2DLLH", format="D", array=dllh),
            fits.Column(name="PROB", format="D", array=probability_map(result, 512, dllh)),
        ]
    )
    for key, value, comment in (
        ("PIXTYPE", "HEALPIX", "HEALPix pixelisation"),
        ("ORDERING", "RING", "Pixel ordering scheme"),
        ("COORDSYS", "C", "Equatorial (ICRS)"),
        ("NSIDE", 512, "HEALPix resolution"),
        ("INDXSCHM", "IMPLICIT", "Indexing: implicit"),
        ("FIRSTPIX", 0, ""),
        ("LASTPIX", len(dllh) - 1, ""),
    ):
        hdu.header[key] = (value, comment)
    _add_cards(hdu.header, result)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path.read_bytes()


def test_flat_fits_is_astropys_file_byte_for_byte(tmp_path: Path) -> None:
    """The flat skymap, plain and gzipped, holds exactly the bytes astropy writes for the
    same table and header."""
    expected = _astropy_flat_fits(tmp_path / "astropy.fits")
    result = _analytic_result()
    result.regions = compute_regions(result)
    write_flat_fits(result, tmp_path / "ours.fits")
    write_flat_fits(result, tmp_path / "ours.fits.gz", dllh=result.delta_llh_map(512))
    assert (tmp_path / "ours.fits").read_bytes() == expected
    with gzip.open(tmp_path / "ours.fits.gz") as handle:
        assert handle.read() == expected


def test_products_with_the_png_drawn_in_a_second_process(tmp_path: Path) -> None:
    """With a :class:`PngDrawer` every product is written, the PNG by the other process; a
    drawer that is closed already leaves the PNG to this process."""
    result = _analytic_result()
    result.regions = compute_regions(result)
    drawer = PngDrawer()
    try:
        write_products(result, tmp_path / "a", "x", drawer)
    finally:
        drawer.close()
    closed = PngDrawer()
    closed.close()
    write_products(result, tmp_path / "b", "x", closed)
    for out in (tmp_path / "a", tmp_path / "b"):
        names = sorted(p.name for p in out.iterdir())
        assert len(names) == 5 + 3 * len(result.regions)
        assert (out / "x.skymap.png").read_bytes()[:8] == PNG_MAGIC
    for name in ("x.result.json", "x.skyreader.json", "x.skymap.multiorder.fits"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with (
        gzip.open(tmp_path / "a" / "x.skymap_nside512.fits.gz") as a,
        gzip.open(tmp_path / "b" / "x.skymap_nside512.fits.gz") as b,
    ):
        assert a.read() == b.read()


def test_thread_client_scan_equals_a_dask_scan(
    detector: Detector, small_track: SimulatedEvent
) -> None:
    """A scan on :class:`ThreadClient` finds the same fits as on a Dask ``LocalCluster`` of
    two thread workers."""
    from reco.cluster import local_client
    from reco.scan import ScanConfig, run_scan

    config = ScanConfig(nsides=ScanConfig.parse_nsides("8:0,32:4"))
    threads = ThreadClient(2)
    try:
        ours = run_scan(small_track.event, detector, config, client=threads)
    finally:
        threads.close()
    dask = local_client(2)
    try:
        theirs = run_scan(small_track.event, detector, config, client=dask)
    finally:
        cluster = dask.cluster
        dask.close()
        cluster.close()
    assert ours.best == theirs.best
    for a, b in zip(ours.levels, theirs.levels, strict=True):
        assert np.array_equal(a.pixel, b.pixel) and np.array_equal(a.llh, b.llh)


def test_thread_client_runs_a_failing_task_again() -> None:
    """A task that raises is run again, up to ``retries`` times, as Dask does."""
    calls: list[int] = []

    def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) < 3:
            raise RuntimeError("once more")
        return n

    client = ThreadClient(1)
    try:
        assert client.submit(flaky, 7, key="k", retries=2).result() == 7
        calls.clear()
        failed = client.submit(flaky, 7, key="k", retries=1)
        assert isinstance(failed.exception(), RuntimeError) and len(calls) == 2
    finally:
        client.close()


def test_healpy_and_mocpy_without_matplotlib() -> None:
    """After the scan command's imports healpy and mocpy work and matplotlib is not
    imported; it still imports normally afterwards."""
    code = (
        "import sys\n"
        "from nufair.commands.reco import _import_without_plotting\n"
        "_import_without_plotting()\n"
        "import healpy, mocpy\n"
        "assert healpy.nside2npix(8) == 768\n"
        "assert 'matplotlib' not in sys.modules and not hasattr(healpy, 'mollview')\n"
        "import matplotlib.figure\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_program_scans_and_leaves(tmp_path: Path, small_track: SimulatedEvent) -> None:
    """``python -m nufair.cli scan`` (the console script's :func:`nufair.cli.program`) writes
    every product, prints the best fit and exits 0 without the interpreter's teardown; a
    refused event still exits 1 with its message."""
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(small_track.event.to_json()))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nufair.cli",
            "scan",
            str(event_file),
            "--out",
            str(tmp_path / "out"),
            "--nsides",
            "8:0",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "best fit RA" in out.stdout and "wilks-90" in out.stdout
    names = {p.name.split(".", 2)[-1] for p in (tmp_path / "out").iterdir()}
    assert {
        "result.json",
        "skymap_nside512.fits.gz",
        "skymap.multiorder.fits",
        "skymap.png",
        "skyreader.json",
        "moc_wilks-90.fits",
    } <= names
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"observatory": "IceCube", "run_id": 1}))
    refused = subprocess.run(
        [sys.executable, "-m", "nufair.cli", "scan", str(bad), "--out", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert refused.returncode == 1 and "invalid event" in refused.stderr
