"""Issue 15 item 6: MOCs in every IVOA form (MOC 2.0 FITS, ASCII, JSON) on /datalink/moc.

The clients are mocpy (``MOC.from_url`` on the URL a DataLink row gives, which reads FITS),
pyvo's DataLink reader and plain HTTP; the cells are checked against the published shape
with astropy and healpy, never with the code that stored them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import quote

import healpy as hp
import httpx
import numpy as np
import pyvo
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.io.votable import parse
from mocpy import MOC

from catalog.notices.parsed import NoticeRecord
from tests.vo.truth import inside_regions


def _coverage_links(live_url: str) -> dict[tuple[str, str], tuple[str, str]]:
    """{(alert name, local semantics): (access_url, content_type)} of every #coverage row."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.search("SELECT name, obs_publisher_did FROM nufair.alerts")
    out = {}
    for name, links in zip(res["name"], res.iter_datalinks(), strict=True):
        for row in links:
            if row.semantics == "#coverage" and row["access_url"]:
                out[(str(name), str(row["local_semantics"]))] = (
                    str(row["access_url"]), str(row["content_type"]))
    return out


def _cells(moc: MOC) -> list[tuple[int, np.ndarray]]:
    """(order, nested indices) of the cells of ``moc``, read from its JSON form."""
    doc = json.loads(moc.to_string(format="json"))
    return [(int(k), np.asarray(v, dtype=np.int64)) for k, v in doc.items() if v]


def _near_region(rec: NoticeRecord, ra: np.ndarray, dec: np.ndarray, pad: float) -> np.ndarray:
    """Whether each position lies within ``pad`` degrees of the 90 % region (circle:
    distance to the centre; box: the box widened by ``pad``)."""
    region = rec.region(0.9)
    assert region is not None and rec.ra is not None and rec.dec is not None
    if region.is_circle:
        assert region.radius_deg is not None
        sep = SkyCoord(rec.ra, rec.dec, unit="deg").separation(SkyCoord(ra, dec, unit="deg"))
        return np.asarray(sep.deg <= region.radius_deg + pad)
    assert region.ra_plus is not None and region.ra_minus is not None
    assert region.dec_plus is not None and region.dec_minus is not None
    top = min(abs(rec.dec) + region.dec_plus + pad, 89.0)
    ra_pad = pad / np.cos(np.radians(top))
    offset = np.mod(ra - rec.ra + 180.0, 360.0) - 180.0
    return np.asarray((dec >= rec.dec - region.dec_minus - pad)
                      & (dec <= rec.dec + region.dec_plus + pad)
                      & (offset >= -region.ra_minus - ra_pad)
                      & (offset <= region.ra_plus + ra_pad))


def test_datalink_moc_is_fits_read_by_mocpy_from_url(live_url: str,
                                                     alerts: list[NoticeRecord]) -> None:
    """The #coverage rows are MOC 2.0 FITS that ``MOC.from_url`` reads; each 90 % MOC covers
    every position of the published region and holds no cell away from it."""
    links = _coverage_links(live_url)
    rng = np.random.default_rng(15)
    for rec in alerts:
        assert rec.name is not None and rec.ra is not None and rec.dec is not None
        url, media = links[(rec.name, "moc90")]
        assert media == "application/fits"
        assert (rec.name, "moc50") in links
        moc = MOC.from_url(url)
        head = fits.open(io.BytesIO(httpx.get(url).content))[1].header
        assert (head["MOCVERS"], head["MOCDIM"], head["ORDERING"]) == ("2.0", "SPACE", "RANGE")
        # Covering: positions inside the shape (astropy/numpy truth) are inside the MOC.
        ra = np.mod(rec.ra + rng.uniform(-6, 6, 4000), 360.0)
        dec = np.clip(rec.dec + rng.uniform(-4, 4, 4000), -90, 90)
        inside = inside_regions([rec], ra, dec)[0]
        assert inside.sum() > 50
        assert moc.contains_lonlat(ra[inside] * u.deg, dec[inside] * u.deg).all()
        # Tight: each cell's centre lies within a cell radius of the shape.
        for order, ipix in _cells(moc):
            lon, lat = hp.pix2ang(2 ** order, ipix, nest=True, lonlat=True)
            pad = float(np.degrees(hp.max_pixrad(2 ** order)))
            assert _near_region(rec, lon, lat, pad).all(), (rec.name, order)


def test_the_three_forms_hold_the_same_cells(live_url: str, alerts: list[NoticeRecord],
                                             tmp_path: Path) -> None:
    """FITS, ASCII and JSON (by RESPONSEFORMAT, by media type, and by Accept) are one MOC."""
    links = _coverage_links(live_url)
    for (_, local), (url, _) in links.items():
        base = url.split("&RESPONSEFORMAT=")[0]
        fits_moc = MOC.from_url(url)
        forms = {"ascii": "text/plain", "text/plain": "text/plain", "json": "application/json",
                 "application/json": "application/json", "application/fits": "application/fits"}
        for fmt, media in forms.items():
            r = httpx.get(f"{base}&RESPONSEFORMAT={quote(fmt, safe='')}")
            assert r.status_code == 200 and r.headers["content-type"].startswith(media), fmt
            if media == "application/json":
                got = MOC.from_json({k: list(v) for k, v in r.json().items()})
            elif media == "text/plain":
                got = MOC.from_string(r.text, format="ascii")
            else:
                (tmp_path / "moc.fits").write_bytes(r.content)  # mocpy reads a path
                got = MOC.load(str(tmp_path / "moc.fits"), "fits")
            assert got == fits_moc, (local, fmt)
        by_accept = httpx.get(base, headers={"Accept": "application/json;q=0.5, "
                                                       "application/fits"})
        assert by_accept.headers["content-type"] == "application/fits"
        assert httpx.get(base).headers["content-type"].startswith("text/plain")  # default


def _error_code(r: httpx.Response) -> tuple[str, str]:
    """(QUERY_STATUS, code) of an error VOTable, read with astropy."""
    doc = parse(io.BytesIO(r.content))
    infos = {i.name: i for i in doc.resources[0].infos}
    return str(infos["QUERY_STATUS"].value), str(infos["code"].value)


def test_unknown_forms_are_refused(live_url: str, alerts: list[NoticeRecord]) -> None:
    """A RESPONSEFORMAT or Accept naming no MOC form is refused with a VOTable error and
    a code, never answered in another form."""
    url = next(iter(_coverage_links(live_url).values()))[0].split("&RESPONSEFORMAT=")[0]
    bad = httpx.get(url + "&RESPONSEFORMAT=votable")
    assert bad.status_code == 400
    assert _error_code(bad) == ("ERROR", "bad_request")
    assert "RESPONSEFORMAT 'votable'" in bad.text
    refused = httpx.get(url, headers={"Accept": "image/png"})
    assert refused.status_code == 406
    assert _error_code(refused) == ("ERROR", "not_acceptable")
