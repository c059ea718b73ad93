"""Issue 15: a CIRCLE of uploaded columns against a region column — an uploaded list of
sources with error radii joined to the alerts — is exact: ``INTERSECTS`` (either order)
and ``CONTAINS(CIRCLE, region)``, over every revision of the bundled sample.

The circles are those of :mod:`tests.vo.test_region_circle_exact` (near each region's
edge, uniform on the sphere, across RA 0 and on the poles), uploaded as a table, plus
more across RA 0 and about the poles; the independent answer is that module's numerical
one (distances by astropy, box edges sampled and refined), which also checks that no
pair is a near tie.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from astropy.table import Table
from fastapi.testclient import TestClient

from tests.vo.test_region_circle_exact import (
    RNG_SEED,
    Region,
    _circles,
    _inside_circles,
    _regions,
    circles_inside_regions,
    circles_meeting_regions,
    tap_upload_pairs,
)

#: Extra circles (ra, dec, radius) across RA 0 and about the poles.
WRAP_AND_POLES = [(359.9, 5.0, 3.0), (0.05, -12.0, 6.0), (180.0, 89.0, 4.0),
                  (0.0, 90.0, 30.0), (90.0, -90.0, 40.0), (350.0, 75.0, 20.0),
                  (1.0, -80.0, 15.0), (359.0, 0.0, 0.5)]


def _upload(circles: np.ndarray, dtype: str = "float64") -> bytes:
    buf = io.BytesIO()
    table = Table({"k": np.arange(len(circles)), "ra": circles[:, 0].astype(dtype),
                   "dec": circles[:, 1].astype(dtype), "err": circles[:, 2].astype(dtype)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(buf, format="votable", tabledata_format="binary2")
    return buf.getvalue()


def _meets(circles: np.ndarray, regions: list[Region]) -> set[tuple[int, str]]:
    return circles_meeting_regions(circles, regions)[0]


JOIN = ("SELECT s.k, a.revision_id FROM TAP_UPLOAD.src AS s JOIN nufair.revisions AS a "
        "ON 1 = {p}")


def test_uploaded_circles_meet_regions_as_computed_here(client: TestClient,
                                                        whole_sample: None) -> None:
    """INTERSECTS of every uploaded circle with every revision's 90 % region (either
    order), and with the 50 % regions: TAP = the numerical answer."""
    for level in (90, 50):
        regions = _regions(client, level)
        circles = np.vstack([_circles(regions, np.random.default_rng(RNG_SEED + level)),
                             WRAP_AND_POLES])
        want = _meets(circles, regions)
        assert len(want) > 200 and {k for k, _ in want} & set(range(len(circles) - 8,
                                                                    len(circles)))
        upload = _upload(circles)
        circle = "CIRCLE('ICRS', s.ra, s.dec, s.err)"
        for p in (f"INTERSECTS({circle}, a.region{level})",
                  f"INTERSECTS(a.region{level}, {circle})"):
            got = tap_upload_pairs(client, JOIN.format(p=p), upload)
            assert got == want, (p, sorted(got ^ want)[:10])


def test_uploaded_circles_in_regions_as_computed_here(client: TestClient,
                                                      whole_sample: None) -> None:
    """CONTAINS(CIRCLE of uploaded columns, region90 | region50) = the numerical answer
    (centre inside and the boundary no nearer than the radius)."""
    for level in (90, 50):
        regions = _regions(client, level)
        circles = _inside_circles(regions, np.random.default_rng(RNG_SEED + 7 * level))
        want = circles_inside_regions(circles, regions)
        assert len(regions) // 3 < len(want)
        got = tap_upload_pairs(client, JOIN.format(
            p=f"CONTAINS(CIRCLE('ICRS', s.ra, s.dec, s.err), a.region{level})"),
            _upload(circles))
        assert got == want, sorted(got ^ want)[:10]


def test_single_precision_columns_and_constant_radius(client: TestClient,
                                                      whole_sample: None) -> None:
    """Uploaded float (single precision) columns, and a constant radius, are covered as
    the temporary table holds them: the answer is the one of the same circles in double
    precision."""
    regions = _regions(client, 90)
    circles = _circles(regions, np.random.default_rng(RNG_SEED))[::3]
    single = circles.astype(np.float32).astype(np.float64)
    want = _meets(single, regions)
    assert tap_upload_pairs(client, JOIN.format(p="INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, s.err), "
                                      "a.region90)"), _upload(circles, "float32")) == want
    fixed = single.copy()
    fixed[:, 2] = 1.5
    want = _meets(fixed, regions)
    assert tap_upload_pairs(client, JOIN.format(p="INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, 1.5), "
                                      "a.region90)"), _upload(fixed, "float32")) == want


def test_other_column_shapes_stay_refused(client: TestClient) -> None:
    """A CIRCLE of the alerts' own columns, a region in a CIRCLE of columns, and a MOC:
    refused, with what is still refused named."""
    for where in ("1 = INTERSECTS(CIRCLE('ICRS', a.ra, a.dec, 1), b.region90)",
                  "1 = CONTAINS(a.region90, CIRCLE('ICRS', b.ra, b.dec, 1))",
                  "1 = INTERSECTS(a.region90, MOC('5/1-3'))"):
        r = client.post("/tap/sync", data={
            "LANG": "ADQL", "RESPONSEFORMAT": "csv",
            "QUERY": f"SELECT a.name FROM nufair.alerts AS a, nufair.alerts AS b WHERE {where}"})
        assert r.status_code == 400, where
        assert "a region column" in r.text and "moc90" in r.text, r.text[:600]
