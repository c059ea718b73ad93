"""Point-in-region queries against an independent astropy/healpy computation."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from sqlalchemy import select
from sqlalchemy.engine import Engine

from catalog import sky
from catalog.notices.parsed import Source
from catalog.schema.events import region_tiles
from catalog.storage.events import CatalogStorage
from tests.catalog.records_factory import record

RA, DEC, R90 = 142.9499, 3.66, 1.2199


def _offset(ra: float, dec: float, pa_deg: float, dist_deg: float) -> tuple[float, float]:
    c = SkyCoord(ra, dec, unit="deg").directional_offset_by(pa_deg * u.deg, dist_deg * u.deg)
    return float(c.ra.deg), float(c.dec.deg)


@pytest.mark.parametrize("pa", [0.0, 77.0, 180.0, 250.0])
def test_point_just_inside_and_just_outside_a_90_circle(storage: CatalogStorage,
                                                        pa: float) -> None:
    storage.import_records([record(rev=1, ra=RA, dec=DEC, r90=R90, name="IceCube-200615A")])
    inside = _offset(RA, DEC, pa, R90 - 0.002)
    outside = _offset(RA, DEC, pa, R90 + 0.002)
    assert [h.name for h in storage.regions_containing(*inside)] == ["IceCube-200615A"]
    assert storage.regions_containing(*outside) == []


def test_tiles_cover_every_healpix_cell_inside_the_circle(storage: CatalogStorage,
                                                          engine: Engine) -> None:
    storage.import_records([record(rev=1, ra=RA, dec=DEC, r90=R90)])
    with engine.connect() as conn:
        ranges = np.array([(r.lower, r.upper) for r in conn.execute(
            select(region_tiles.c.hpx).where(region_tiles.c.level == 90)).scalars()])
    nside = 2**12
    vec = hp.ang2vec(RA, DEC, lonlat=True)
    cells = hp.query_disc(nside, vec, np.radians(R90), nest=True)  # centres inside (healpy)
    # an order-12 cell is the order-29 range [i * 4**17, (i + 1) * 4**17)
    lo = cells.astype(np.int64) * 4**17
    covered = ((lo[:, None] >= ranges[:, 0]) & (lo[:, None] < ranges[:, 1])).any(axis=1)
    assert covered.all()
    stored_area = ((ranges[:, 1] - ranges[:, 0]).sum() / 4**29 / 12) * sky.FULL_SKY_DEG2
    assert sky.cap_area_deg2(R90) <= stored_area < 1.3 * sky.cap_area_deg2(R90)


def test_box_region_agrees_with_an_independent_rectangle_test(storage: CatalogStorage) -> None:
    # IceCat-1 IC200615A: RA 142.95 +1.14 -1.41, Dec 3.66 +1.16 -1.01
    storage.import_records([record(rev=None, source=Source.ICECAT1, ra=142.95, dec=3.66,
                                   box90=(1.14, 1.41, 1.16, 1.01), key="icecat-1:x")])
    rng = np.random.default_rng(3)
    ra = rng.uniform(140.5, 145.0, 200)
    dec = rng.uniform(1.8, 5.6, 200)
    expected = (ra >= 142.95 - 1.41) & (ra <= 142.95 + 1.14) & (dec >= 3.66 - 1.01) & (
        dec <= 3.66 + 1.16)
    got = np.array([bool(storage.regions_containing(float(a), float(d)))
                    for a, d in zip(ra, dec, strict=True)])
    assert (got == expected).all()
    assert expected.sum() > 20 and (~expected).sum() > 20


def test_box_across_ra_zero(storage: CatalogStorage) -> None:
    storage.import_records([record(rev=0, ra=0.5, dec=-10.0, box90=(1.0, 2.0, 1.0, 1.0),
                                   key="wrap")])
    assert storage.regions_containing(359.0, -10.0)
    assert storage.regions_containing(1.4, -10.5)
    assert not storage.regions_containing(358.0, -10.0)
    assert not storage.regions_containing(1.6, -10.0)


def test_box_area_matches_spherical_formula() -> None:
    from catalog.notices.parsed import ErrorRegion

    g = sky.region_geometry(142.95, 3.66, ErrorRegion(0.9, ra_plus=1.14, ra_minus=1.41,
                                                      dec_plus=1.16, dec_minus=1.01))
    # independent: integrate cos(dec) over the box numerically
    decs = np.linspace(3.66 - 1.01, 3.66 + 1.16, 20001)
    area = np.trapezoid(np.cos(np.radians(decs)), decs) * (1.14 + 1.41)
    assert g.area_deg2 == pytest.approx(area, rel=1e-6)
    assert g.shape == "box"
