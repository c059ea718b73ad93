"""Issue 15 (left in the fourth session): ``INTERSECTS(CIRCLE, region90)`` (and region50,
either order) is the exact overlap of the circle with the published region, over the whole
bundled sample, for random circles (near every region's edge, uniform on the sphere, across
RA 0 and on the poles).

The independent answer is numerical, not the service's formulas: the smallest distance from
the circle's centre to the region (0 when the region holds the centre; for a circle region
its centre distance less its radius; for an RA/Dec box the minimum over its four edges,
each sampled densely and then refined by a bounded scalar minimisation, distances by
astropy's ``angular_separation``). A circle meets the region iff that distance is at most
its radius. Radii are drawn away from the distance (relative 1e-3 at least) near the
edges, and every pair is checked to be no tie before the comparison.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.coordinates import angular_separation
from fastapi.testclient import TestClient
from scipy.optimize import minimize_scalar

RNG_SEED = 1515
#: Circles drawn per region near its edge, and uniformly over the sphere.
PER_REGION, UNIFORM = 1, 150
#: Circles per TAP query (one UNION ALL branch each).
BATCH = 60
#: Samples along each box edge before the refinement.
EDGE_SAMPLES = 2001


@dataclass(frozen=True, slots=True)
class Region:
    """A published region as the view's columns give it."""

    name: str  # the revision id
    ra: float
    dec: float
    r: float | None  # a circle's radius
    box: tuple[float, float, float, float] | None  # ra+, ra-, dec+, dec-

    def box_edges(self) -> tuple[bool, float, float, float, float]:
        """A box's (spans every RA, dec low, dec high, west RA, east RA): its half-widths
        capped at 180° in RA and at the poles in Dec; west and east unwrapped about ra."""
        assert self.box is not None
        plus, minus, dplus, dminus = self.box
        full = plus + minus >= 360.0
        plus, minus = min(plus, 180.0), min(minus, 180.0)
        return (full, max(self.dec - dminus, -90.0), min(self.dec + dplus, 90.0),
                self.ra - minus, self.ra + plus)


def _sep(ra1: Any, dec1: Any, ra2: Any, dec2: Any) -> np.ndarray:
    """Great-circle distance in degrees (astropy's Vincenty formula)."""
    r = np.radians
    out: np.ndarray = np.degrees(np.asarray(angular_separation(r(ra1), r(dec1), r(ra2),
                                                               r(dec2))))
    return out


def _in_box(reg: Region, ra: float, dec: float) -> bool:
    assert reg.box is not None
    plus, minus, dplus, dminus = reg.box
    offset = (ra - reg.ra + 180.0) % 360.0 - 180.0
    return (reg.dec - dminus <= dec <= reg.dec + dplus
            and (plus + minus >= 360.0 or -minus <= offset <= plus))


def _edge_distance(ra: float, dec: float, path: object, lo: float, hi: float) -> float:
    """Smallest distance from (ra, dec) to the edge ``path(t)``, t in [lo, hi]."""
    ts = np.linspace(lo, hi, EDGE_SAMPLES)
    pra, pdec = path(ts)  # type: ignore[operator]
    d = _sep(ra, dec, pra, pdec)
    i = int(np.argmin(d))
    step = (hi - lo) / (EDGE_SAMPLES - 1)
    a, b = max(lo, ts[i] - step), min(hi, ts[i] + step)
    if b <= a:
        return float(d[i])
    res = minimize_scalar(lambda t: float(_sep(ra, dec, *path(np.array([t])))[0]),  # type: ignore[operator]
                          bounds=(a, b), method="bounded", options={"xatol": 1e-12})
    return float(min(d[i], res.fun))


def distance_to(reg: Region, ra: float, dec: float) -> float:
    """Smallest distance (degrees) from (ra, dec) to the region, 0 inside."""
    if reg.r is not None:
        return max(0.0, float(_sep(reg.ra, reg.dec, ra, dec)) - reg.r)
    assert reg.box is not None
    if _in_box(reg, ra, dec):
        return 0.0
    plus, minus, dplus, dminus = reg.box
    plus, minus = min(plus, 180.0), min(minus, 180.0)
    dlo, dhi = max(reg.dec - dminus, -90.0), min(reg.dec + dplus, 90.0)
    w, e = reg.ra - minus, reg.ra + plus
    edges: list[tuple[object, float, float]] = [
        (lambda t: (np.full_like(t, w), t), dlo, dhi),
        (lambda t: (np.full_like(t, e), t), dlo, dhi),
        (lambda t: (t, np.full_like(t, dlo)), w, e),
        (lambda t: (t, np.full_like(t, dhi)), w, e),
    ]
    return min(_edge_distance(ra, dec, p, lo, hi) for p, lo, hi in edges)


def reach_of(reg: Region) -> float:
    """A bound on the distance from the region's centre to any of its points: the Dec
    extent plus the RA extent (an RA step is no longer than its angle)."""
    if reg.r is not None:
        return reg.r
    assert reg.box is not None
    plus, minus, dplus, dminus = reg.box
    return max(dplus, dminus) + min(max(plus, minus), 180.0)


def tap_csv(client: TestClient, query: str) -> list[list[str]]:
    """The rows (header left out) of a sync TAP query answered as CSV; asserts a 200."""
    r = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query,
                                       "RESPONSEFORMAT": "csv", "MAXREC": "10000000"})
    assert r.status_code == 200, r.text[-800:]
    _header, *rows = csv.reader(io.StringIO(r.text, newline=""))
    return rows


def _regions(client: TestClient, level: int) -> list[Region]:
    out = []
    for row in tap_csv(client, f"SELECT revision_id, ra, dec, shape{level}, r{level}, "
                            f"ra_err_plus_{level}, ra_err_minus_{level}, dec_err_plus_{level}, "
                            f"dec_err_minus_{level} FROM nufair.revisions "
                            f"WHERE moc{level} IS NOT NULL"):
        name, ra, dec, kind, r, *box = row
        assert kind in ("circle", "box"), row  # the sample's regions have a shape
        out.append(Region(name, float(ra), float(dec), float(r) if kind == "circle" else None,
                          tuple(float(x) for x in box) if kind == "box" else None))  # type: ignore[arg-type]
    return out


def _circles(regions: list[Region], rng: np.random.Generator) -> np.ndarray:
    """(n, 3) circles: near each region's edge (radius just above or below the distance),
    uniform, and on RA 0 / 360 and the poles."""
    out = []
    for reg in regions:
        size = reg.r if reg.r is not None else max(reg.box or (1.0,))
        for _ in range(PER_REGION):
            ra = reg.ra + rng.uniform(-1.5, 1.5) * (size + 1)
            dec = float(np.clip(reg.dec + rng.uniform(-1.5, 1.5) * (size + 1), -90, 90))
            d = distance_to(reg, ra % 360.0, dec)
            if d == 0.0:
                radius = rng.uniform(0.01, 2.0)
            else:
                radius = d * (1 + rng.choice([-1, 1]) * rng.uniform(1e-3, 0.5))
            out.append((ra % 360.0, dec, radius))
    uniform_ra = rng.uniform(0, 360, UNIFORM)
    uniform_dec = np.degrees(np.arcsin(rng.uniform(-1, 1, UNIFORM)))
    radii = 10 ** rng.uniform(-2, 1.5, UNIFORM)
    out += list(zip(uniform_ra, uniform_dec, radii, strict=True))
    out += [(0.0, 0.0, 1.0), (359.99, 10.0, 2.0), (0.0, 90.0, 5.0), (123.0, 90.0, 12.0),
            (0.0, -90.0, 5.0), (200.0, -89.5, 20.0), (10.0, 88.0, 3.0), (359.5, -5.0, 0.4)]
    return np.array(out)


def _tap_pairs(client: TestClient, circles: np.ndarray, level: int,
               flipped: bool) -> set[tuple[int, str]]:
    """(circle, revision) pairs of INTERSECTS through TAP, BATCH circles per query."""
    pairs = set()
    for start in range(0, len(circles), BATCH):
        branches = []
        for k in range(start, min(start + BATCH, len(circles))):
            ra, dec, r = (repr(float(x)) for x in circles[k])
            circle = f"CIRCLE('ICRS', {ra}, {dec}, {r})"
            args = f"region{level}, {circle}" if flipped else f"{circle}, region{level}"
            branches.append(f"SELECT {k} AS k, revision_id FROM nufair.revisions "
                            f"WHERE 1 = INTERSECTS({args})")
        pairs |= {(int(k), n) for k, n in tap_csv(client, " UNION ALL ".join(branches))}
    return pairs


def test_circle_meets_region_as_computed_here(client: TestClient, whole_sample: None) -> None:
    """Every (circle, revision) pair of the sample (all revisions, current or not), 90 %
    and 50 % regions: TAP = the numerical answer; no pair is a near tie."""
    for level in (90, 50):
        _compare(client, level)


Pairs = set[tuple[int, str]]


def circles_meeting_regions(circles: np.ndarray, regions: list[Region],
                            tie: float | None = None) -> tuple[Pairs, Pairs]:
    """(the (circle's index, region's name) of every circle that meets a region, the near
    ties: pairs whose margin lies within ``tie`` degrees of 0, left out of the first).
    Without ``tie``, asserts that no pair is within a millionth of its radius of a tie."""
    centres = np.array([(reg.ra, reg.dec) for reg in regions])
    reach = np.array([reach_of(reg) for reg in regions])
    want, ties = set(), set()
    for k, (ra, dec, radius) in enumerate(circles):
        # Regions that cannot meet the circle by the triangle inequality need no search.
        near = _sep(ra, dec, centres[:, 0], centres[:, 1]) - reach <= radius + 1.0
        for reg in np.array(regions, dtype=object)[near]:
            margin = radius - distance_to(reg, ra, dec)
            if tie is None:
                assert abs(margin) > 1e-7 * max(radius, 1e-3), (k, reg.name)  # no tie
            elif abs(margin) <= tie:
                ties.add((k, reg.name))
                continue
            if margin >= 0:
                want.add((k, reg.name))
    return want, ties


def tap_upload_pairs(client: TestClient, query: str, upload: bytes) -> Pairs:
    """The (k, name) rows of a sync TAP query with ``upload`` as TAP_UPLOAD.src."""
    r = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv",
                                       "MAXREC": "1000000", "UPLOAD": "src,param:src"},
                    files={"src": ("src.xml", upload)})
    assert r.status_code == 200, r.text[-800:]
    _header, *rows = csv.reader(io.StringIO(r.text, newline=""))
    return {(int(k), n) for k, n in rows}


def _compare(client: TestClient, level: int) -> None:
    regions = _regions(client, level)
    assert len(regions) > (600 if level == 90 else 300)  # 636 and 321 revisions
    assert {reg.r is None for reg in regions} == ({True, False} if level == 90 else {False})
    circles = _circles(regions, np.random.default_rng(RNG_SEED + level))
    want, _ = circles_meeting_regions(circles, regions)
    assert 200 < len(want) < len(circles) * len(regions) // 4
    assert _tap_pairs(client, circles, level, flipped=False) == want
    assert _tap_pairs(client, circles, level, flipped=True) == want


def boundary_distance(reg: Region, ra: float, dec: float) -> float:
    """Smallest distance (degrees) from a point inside the region to its boundary: a
    circle's radius less the centre distance; for a box the minimum over its real edges
    (no meridians when it spans every RA, no parallel at a pole)."""
    if reg.r is not None:
        return reg.r - float(_sep(reg.ra, reg.dec, ra, dec))
    full, dlo, dhi, w, e = reg.box_edges()
    edges: list[tuple[object, float, float]] = []
    if not full:
        edges += [(lambda t: (np.full_like(t, w), t), dlo, dhi),
                  (lambda t: (np.full_like(t, e), t), dlo, dhi)]
    if dlo > -90.0:
        edges.append((lambda t: (t, np.full_like(t, dlo)), w, e))
    if dhi < 90.0:
        edges.append((lambda t: (t, np.full_like(t, dhi)), w, e))
    return min((_edge_distance(ra, dec, p, lo, hi) for p, lo, hi in edges), default=360.0)


def circle_in_region_margin(reg: Region, ra: float, dec: float,
                            radius: float) -> float | None:
    """How far (degrees) the circle lies inside the region: the region's boundary's
    distance from the centre less the radius (negative: it reaches out); None when the
    centre is outside the region."""
    inside = (float(_sep(reg.ra, reg.dec, ra, dec)) <= reg.r if reg.r is not None
              else _in_box(reg, ra, dec))
    return boundary_distance(reg, ra, dec) - radius if inside else None


def circles_inside_regions(circles: np.ndarray, regions: list[Region]
                           ) -> set[tuple[int, str]]:
    """The (circle's index, region's name) of every circle that lies in a region; asserts
    that no pair is a near tie."""
    want = set()
    for k, (ra, dec, radius) in enumerate(circles):
        for reg in regions:
            margin = circle_in_region_margin(reg, ra, dec, radius)
            if margin is None:
                continue
            assert abs(margin) > 1e-7 * max(radius, 1e-3), (k, reg.name)  # no tie
            if margin >= 0:
                want.add((k, reg.name))
    return want


def _inside_circles(regions: list[Region], rng: np.random.Generator) -> np.ndarray:
    """(n, 3) circles centred inside each region, radii just above or below the distance
    to its boundary; uniform ones; and some on the poles and across RA 0."""
    out = []
    for reg in regions:
        if reg.r is not None:
            ra, dec = reg.ra, float(np.clip(reg.dec + rng.uniform(-0.5, 0.5) * reg.r, -90, 90))
        else:
            assert reg.box is not None
            plus, minus, dplus, dminus = reg.box
            ra = reg.ra + rng.uniform(-0.8 * min(minus, 180.0), 0.8 * min(plus, 180.0))
            dec = float(np.clip(reg.dec + rng.uniform(-0.8 * dminus, 0.8 * dplus), -90, 90))
        d = boundary_distance(reg, ra % 360.0, dec)
        if d > 0:
            out.append((ra % 360.0, dec, d * (1 + rng.choice([-1, 1]) * rng.uniform(1e-3, 0.5))))
    uniform_ra = rng.uniform(0, 360, UNIFORM)
    uniform_dec = np.degrees(np.arcsin(rng.uniform(-1, 1, UNIFORM)))
    out += list(zip(uniform_ra, uniform_dec, 10 ** rng.uniform(-2, 0.5, UNIFORM), strict=True))
    out += [(0.0, 90.0, 5.0), (0.0, -90.0, 2.0), (359.99, 10.0, 0.5), (0.0, 0.0, 0.2)]
    return np.array(out)


def test_circle_in_region_as_computed_here(client: TestClient, whole_sample: None) -> None:
    """CONTAINS(CIRCLE, region90 | region50) over every revision of the sample = the
    numerical answer (centre inside and the boundary no nearer than the radius); no pair
    is a near tie."""
    for level in (90, 50):
        regions = _regions(client, level)
        circles = _inside_circles(regions, np.random.default_rng(RNG_SEED + 7 * level))
        want = circles_inside_regions(circles, regions)
        assert len(regions) // 3 < len(want) < len(circles) * len(regions) // 10
        got: set[tuple[int, str]] = set()
        for start in range(0, len(circles), BATCH):
            branches = []
            for k in range(start, min(start + BATCH, len(circles))):
                ra, dec, r = (repr(float(x)) for x in circles[k])
                branches.append(f"SELECT {k} AS k, revision_id FROM nufair.revisions WHERE "
                                f"1 = CONTAINS(CIRCLE('ICRS', {ra}, {dec}, {r}), region{level})")
            got |= {(int(k), n) for k, n in tap_csv(client, " UNION ALL ".join(branches))}
        assert got == want


def test_region_column_refuses_other_shapes(client: TestClient) -> None:
    """A MOC and a shape made of columns stay refused with a clear message (a POLYGON, a
    BOX and a region inside a CIRCLE are exact: ``test_region_polygon_exact``)."""
    for where in ("1 = INTERSECTS(region90, MOC('5/1-3'))",
                  "1 = CONTAINS(CIRCLE('ICRS', ra, dec, 1), region90)"):
        r = client.post("/tap/sync", data={"LANG": "ADQL", "RESPONSEFORMAT": "csv",
                                           "QUERY": f"SELECT name FROM nufair.alerts "
                                                    f"WHERE {where}"})
        assert r.status_code == 400, where
        assert "a region column" in r.text, r.text[:400]
