"""Issue 15, item 1: a POLYGON or BOX against ``region90`` / ``region50`` is exact —
``INTERSECTS`` (either order), ``CONTAINS(shape, region)`` and ``CONTAINS(region, shape)``,
and ``CONTAINS(region, CIRCLE)`` — over every revision of the bundled sample, for random
shapes: about each region's edge, around it, inside it, uniform on the sphere, across RA 0,
about the poles, tiny and large.

The independent answer is numerical, not the service's formulas. Each boundary is sampled
(a polygon's edges along their great circles, a circle's rim, a box's meridians and
parallels as :func:`catalog.sky.in_box` reads the box) and the extreme of a signed depth
along it is found by a coarse pass and two refinements about the best samples:

* ``depth_P(x) = min_i asin(n_i · x)`` for a convex polygon (positive inside; ``n_i``: the
  inward normals, from the vertices by numpy cross products);
* for a region, ``r - distance`` (astropy's ``angular_separation``) for a circle, and for a
  box the least of its Dec margins and its RA margins times cos(Dec).

Then a polygon meets a region iff some point of the region's boundary lies inside it
(the greatest ``depth_P`` along it is positive), or, the boundary lying wholly outside, a
vertex of the polygon lies in the region; the polygon lies in the region iff its boundary
is inside (least region depth along it positive) and the region's boundary is outside it;
the region lies in the polygon iff its boundary does (least ``depth_P`` positive), and in a
circle iff its boundary's farthest point from the centre is within the radius. A pair
whose deciding extreme lies within ``TIE`` (relative to the shapes' size) of zero is a
near tie: those are counted, must be rare, and are left out of both answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from tests.vo.test_region_circle_exact import (
    Region,
    _in_box,
    _regions,
    _sep,
    reach_of,
    tap_csv,
)

Arr = NDArray[np.float64]
Curve = Callable[[Arr], Arr]  # parameter values -> (n, 3) unit vectors
#: A curve, its parameter's range, and its speed (degrees of arc per unit of parameter).
Path = tuple[Curve, float, float, float]

RNG_SEED = 1516
#: Shapes drawn about every STRIDE-th region, and uniformly over the sphere.
STRIDE, UNIFORM = 4, 45
#: The smallest shape drawn (degrees, 0.36 arcsec): far under the 0.01 degrees below which
#: a fixed convexity tolerance used to refuse polygons.
MIN_SIZE = 1e-4
#: Shapes per TAP query (one UNION ALL branch each).
BATCH = 80
#: Samples of a boundary curve in the coarse pass and in each refinement.
SAMPLES = 193
#: Relative width of a near tie (of the larger shape's size).
TIE = 1e-6
#: A bound on how fast the depths change, in degrees per degree along a curve (the RA
#: margins of a box, times cos(Dec), change by up to their own size per radian of Dec).
LIPSCHITZ = 8.0


def _unit(ra: Arr, dec: Arr) -> Arr:
    a, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)


def _radec(x: Arr) -> tuple[Arr, Arr]:
    ra = np.degrees(np.arctan2(x[..., 1], x[..., 0])) % 360.0
    dec = np.degrees(np.arctan2(x[..., 2], np.hypot(x[..., 0], x[..., 1])))
    return ra, dec


@dataclass(frozen=True)
class Polygon:
    """A convex polygon of great-circle edges, and how the query writes it."""

    adql: str
    vertices: Arr  # (k, 3) unit vectors
    normals: Arr  # (k, 3) inward unit normals of the edges i -> i + 1
    centre: tuple[float, float]
    size: float  # largest distance (degrees) from the centre to a vertex

    @classmethod
    def of(cls, ra: Arr, dec: Arr, adql: str | None = None) -> Polygon:
        v = _unit(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float))
        n = np.cross(v, np.roll(v, -1, axis=0))
        n /= np.linalg.norm(n, axis=1)[:, None]
        mean = v.sum(axis=0)
        mean /= np.linalg.norm(mean)
        if np.sum(n @ mean) < 0:
            n = -n
        cra, cdec = _radec(mean)
        size = float(np.max(_sep(float(cra), float(cdec), *_radec(v))))
        words = ", ".join(f"{float(a)!r}, {float(d)!r}" for a, d in zip(*_radec(v), strict=True))
        return cls(adql or f"POLYGON('ICRS', {words})", v, n, (float(cra), float(cdec)), size)

    def depth(self, x: Arr) -> Arr:
        return np.asarray(np.degrees(np.arcsin(np.clip(x @ self.normals.T, -1, 1))).min(axis=-1))

    def arcs(self) -> list[Path]:
        out: list[Path] = []
        for i in range(len(self.vertices)):
            a, b = self.vertices[i], self.vertices[(i + 1) % len(self.vertices)]
            theta = float(np.arccos(np.clip(a @ b, -1, 1)))

            def arc(t: Arr, a: Arr = a, b: Arr = b, theta: float = theta) -> Arr:
                w = (np.sin((1 - t) * theta)[:, None] * a + np.sin(t * theta)[:, None] * b)
                return np.asarray(w / np.linalg.norm(w, axis=1)[:, None])
            out.append((arc, 0.0, 1.0, float(np.degrees(theta))))
        return out


def _tangent_polygon(ra: float, dec: float, xy: Arr) -> tuple[Arr, Arr]:
    """(ra, dec) of points given in the gnomonic plane about (ra, dec), in degrees: a
    convex figure there is a convex spherical polygon."""
    c = _unit(np.array(ra), np.array(dec))
    east = np.array([-np.sin(np.radians(ra)), np.cos(np.radians(ra)), 0.0])
    north = np.cross(c, east)
    p = c + np.tan(np.radians(xy[:, :1])) * east + np.tan(np.radians(xy[:, 1:])) * north
    return _radec(p / np.linalg.norm(p, axis=1)[:, None])


def _random_polygon(rng: np.random.Generator, ra: float, dec: float, size: float) -> Polygon:
    """3 to 7 vertices on an ellipse about (ra, dec), or an ADQL BOX."""
    size = min(max(size, MIN_SIZE), 50.0)  # a gnomonic figure stays well inside 90
    if rng.random() < 0.3:
        w, h = size * rng.uniform(0.4, 2.0), size * rng.uniform(0.4, 2.0)
        dec = float(np.clip(dec, -89.0 + h, 89.0 - h))
        hw, hh = w / 2, h / 2
        corners = np.array([(ra - hw, dec - hh), (ra + hw, dec - hh), (ra + hw, dec + hh),
                            (ra - hw, dec + hh)])
        words = ", ".join(repr(float(x)) for x in (ra % 360.0, dec, w, h))
        return Polygon.of(corners[:, 0] % 360.0, corners[:, 1], f"BOX('ICRS', {words})")
    k = int(rng.integers(3, 8))
    # spread out, so that no three vertices are nearly on one great circle (refused)
    angles = (np.arange(k) + rng.uniform(-0.3, 0.3, k)) * 2 * np.pi / k
    axes, rot = size * rng.uniform(0.3, 1.0, 2), rng.uniform(0, np.pi)
    ex, ey = axes[0] * np.cos(angles), axes[1] * np.sin(angles)
    xy = np.stack([ex * np.cos(rot) - ey * np.sin(rot), ex * np.sin(rot) + ey * np.cos(rot)],
                  axis=1)
    return Polygon.of(*_tangent_polygon(ra, dec, xy))


def _region_size(reg: Region) -> float:
    return reg.r if reg.r is not None else max(reg.box or (1.0,))


def _shapes(regions: list[Region], rng: np.random.Generator) -> list[Polygon]:
    """About each region in turn: across its edge, around it, inside it; then uniform, and
    across RA 0, around the poles, tiny and large."""
    out = []
    for i, reg in enumerate(regions[::STRIDE]):
        size = _region_size(reg)
        kind = i % 3
        if kind == 0:  # across the edge
            ra = reg.ra + rng.uniform(-1.5, 1.5) * size
            dec = float(np.clip(reg.dec + rng.uniform(-1.5, 1.5) * size, -85, 85))
            out.append(_random_polygon(rng, ra, dec, size * 10 ** rng.uniform(-1.5, 0.3)))
        elif kind == 1:  # around it, near enclosing
            out.append(_random_polygon(rng, reg.ra, reg.dec, size * rng.uniform(1.2, 3.0)))
        else:  # inside it, near the edge
            ra = reg.ra + rng.uniform(-0.7, 0.7) * size
            dec = float(np.clip(reg.dec + rng.uniform(-0.7, 0.7) * size, -85, 85))
            out.append(_random_polygon(rng, ra, dec, size * 10 ** rng.uniform(-2, -0.5)))
    ras = rng.uniform(0, 360, UNIFORM)
    decs = np.degrees(np.arcsin(rng.uniform(-0.98, 0.98, UNIFORM)))
    for ra, dec in zip(ras, decs, strict=True):
        out.append(_random_polygon(rng, ra, dec, 10 ** rng.uniform(-2, 1.3)))
    out += [_random_polygon(rng, 0.0, d, s) for d, s in ((0.0, 3.0), (20.0, 0.01), (-40.0, 30),
                                                          (5.0, 1e-3), (-70.0, MIN_SIZE))]
    out += [Polygon.of(np.array([359.5, 0.5, 0.5, 359.5]), np.array([-1.0, -1.0, 1.0, 1.0])),
            Polygon.of(np.array([0.0, 120.0, 240.0]), np.array([80.0, 80.0, 80.0])),
            Polygon.of(np.array([10.0, 130.0, 250.0]), np.array([-60.0, -60.0, -60.0])),
            Polygon.of(np.array([0.0, 90.0, 180.0, 270.0]), np.array([45.0, 45.0, 45.0, 45.0])),
            _random_polygon(rng, 150.0, 30.0, 60.0), _random_polygon(rng, 300.0, -10.0, MIN_SIZE)]
    return out


def _region_curves(reg: Region) -> list[Path]:
    """The region's boundary as parametrised curves (t0, t1)."""
    if reg.r is not None:
        c = _unit(np.array(reg.ra), np.array(reg.dec))
        e1 = np.cross([0.0, 0.0, 1.0], c) if abs(c[2]) < 0.9 else np.cross([1.0, 0, 0], c)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(c, e1)
        r = np.radians(reg.r)

        def rim(t: Arr) -> Arr:
            return np.asarray(np.cos(r) * c + np.sin(r) * (np.cos(t)[:, None] * e1
                                                           + np.sin(t)[:, None] * e2))
        return [(rim, 0.0, 2 * np.pi, float(np.degrees(np.sin(r))))]
    full, dlo, dhi, w, e = reg.box_edges()
    out: list[Path] = [(partial(_parallel, d), w, e, float(np.cos(np.radians(d))))
                       for d in (dlo, dhi)]
    if not full:
        out += [(partial(_meridian, m), dlo, dhi, 1.0) for m in (w, e)]
    return out


def _parallel(dec: float, ra: Arr) -> Arr:
    return _unit(ra, np.full_like(ra, dec))


def _meridian(ra: float, dec: Arr) -> Arr:
    return _unit(np.full_like(dec, ra), dec)


def _slack(ra: float, dec: float, rho: float, x: Arr) -> Arr:
    """How far inside the circle (``ra``, ``dec``, ``rho``) each point is (degrees)."""
    return np.asarray(rho - _sep(ra, dec, *_radec(x)))


def _region_depth(reg: Region, x: Arr) -> Arr:
    ra, dec = _radec(x)
    if reg.r is not None:
        return np.asarray(reg.r - _sep(reg.ra, reg.dec, ra, dec))
    assert reg.box is not None
    plus, minus, dplus, dminus = reg.box
    terms = [dec - (reg.dec - dminus), reg.dec + dplus - dec]
    if plus + minus < 360.0:
        offset = (ra - reg.ra + 180.0) % 360.0 - 180.0
        cos = np.cos(np.radians(dec))
        terms += [(offset + minus) * cos, (plus - offset) * cos]
    return np.asarray(np.min(terms, axis=0))


def _extreme(f: Callable[[Arr], Arr], curves: list[tuple[Curve, float, float, float]],
             largest: bool, tol: float) -> float:
    """The largest (or least) value of ``f`` along the curves, where its sign matters: a
    coarse pass, and where that cannot tell the sign beyond ``tol`` (``f`` changes by at
    most ``LIPSCHITZ`` times the curve's speed per step) two refinements about the three
    best samples of each curve that may hold the extreme."""
    sign = 1.0 if largest else -1.0
    coarse = []
    for curve, t0, t1, speed in curves:
        ts = np.linspace(t0, t1, SAMPLES)
        vals = sign * f(curve(ts))
        coarse.append((ts, vals, LIPSCHITZ * speed * (t1 - t0) / (SAMPLES - 1)))
    best = max(float(v.max()) for _, v, _ in coarse)
    if best > tol or all(float(v.max()) + m < -tol for _, v, m in coarse):
        return sign * best
    for (curve, t0, t1, _speed), (ts, vals, margin) in zip(curves, coarse, strict=True):
        if float(vals.max()) + margin < best:
            continue
        step = ts[1] - ts[0]
        for i in np.argsort(vals)[-3:]:
            t, v, s = ts[i], vals[i], step
            for _ in range(2):
                fine = np.clip(np.linspace(t - s, t + s, SAMPLES), t0, t1)
                fv = sign * f(curve(fine))
                j = int(np.argmax(fv))
                if fv[j] > v:
                    t, v = fine[j], fv[j]
                s = 2 * s / (SAMPLES - 1)
            best = max(best, float(v))
    return sign * best


def _in_region(reg: Region, ra: Arr, dec: Arr) -> Arr:
    if reg.r is not None:
        return np.asarray(_sep(reg.ra, reg.dec, ra, dec) <= reg.r)
    return np.array([_in_box(reg, float(a), float(d)) for a, d in zip(ra, dec, strict=True)])


@dataclass
class Expected:
    """The pairs (shape, revision) each predicate holds, and the near ties left out."""

    meets: set[tuple[int, str]]
    shape_in: set[tuple[int, str]]
    region_in: set[tuple[int, str]]
    ties: set[tuple[int, str]]


def _expected(shapes: list[Polygon], regions: list[Region]) -> Expected:
    out = Expected(set(), set(), set(), set())
    centres = np.array([(reg.ra, reg.dec) for reg in regions])
    reach = np.array([reach_of(reg) for reg in regions])
    for k, poly in enumerate(shapes):
        near = _sep(*poly.centre, centres[:, 0], centres[:, 1]) <= reach + poly.size + 0.5
        for reg in np.array(regions, dtype=object)[near]:
            tol = TIE * max(poly.size, _region_size(reg), 1e-3)
            curves = _region_curves(reg)
            deepest = _extreme(poly.depth, curves, True, tol)
            shallowest = _extreme(poly.depth, curves, False, tol)
            inner = _extreme(partial(_region_depth, reg), poly.arcs(), False, tol)
            pair = (k, reg.name)
            if min(abs(deepest), abs(shallowest), abs(inner)) <= tol:
                out.ties.add(pair)
                continue
            if deepest > 0 or np.any(_in_region(reg, *_radec(poly.vertices))):
                out.meets.add(pair)
            if inner > 0 and deepest < 0:
                out.shape_in.add(pair)
            if shallowest > 0:
                out.region_in.add(pair)
    return out


def _tap(client: TestClient, shapes: list[str], where: str) -> set[tuple[int, str]]:
    """(shape, revision) pairs where ``where`` (with ``{s}`` for the shape) holds."""
    pairs = set()
    for start in range(0, len(shapes), BATCH):
        branches = [f"SELECT {k} AS k, revision_id FROM nufair.revisions WHERE "
                    f"1 = {where.format(s=shapes[k])}"
                    for k in range(start, min(start + BATCH, len(shapes)))]
        pairs |= {(int(k), n) for k, n in tap_csv(client, " UNION ALL ".join(branches))}
    return pairs


@pytest.mark.parametrize("level", [90, 50])
def test_polygons_and_boxes_against_regions_as_computed_here(
        client: TestClient, whole_sample: None, level: int) -> None:
    """INTERSECTS (both orders), CONTAINS(shape, region) and CONTAINS(region, shape) over
    every revision of the sample = the numerical answer, near ties left out (few)."""
    regions = _regions(client, level)
    shapes = _shapes(regions, np.random.default_rng(RNG_SEED + level))
    want = _expected(shapes, regions)
    n_pairs = len(want.meets) + len(want.ties)
    assert len(want.ties) <= max(3, n_pairs // 200), len(want.ties)
    assert len(want.meets) > len(regions) // STRIDE and len(want.shape_in) > len(regions) // 20
    assert len(want.region_in) > len(regions) // (8 * STRIDE)
    texts = [p.adql for p in shapes]
    for where, expected in ((f"INTERSECTS({{s}}, region{level})", want.meets),
                            (f"INTERSECTS(region{level}, {{s}})", want.meets),
                            (f"CONTAINS({{s}}, region{level})", want.shape_in),
                            (f"CONTAINS(region{level}, {{s}})", want.region_in)):
        got = _tap(client, texts, where) - want.ties
        assert got == expected, (where, sorted(got ^ expected)[:10])


def _circles(regions: list[Region], rng: np.random.Generator) -> Arr:
    """(n, 3) circles about each region, radii just above or below the farthest point of
    its boundary; uniform ones; one on a pole and one across RA 0."""
    out = []
    for reg in regions[::STRIDE]:
        size = _region_size(reg)
        ra = reg.ra + rng.uniform(-1, 1) * size
        dec = float(np.clip(reg.dec + rng.uniform(-1, 1) * size, -89, 89))
        far = -_extreme(partial(_slack, ra, dec, 0.0), _region_curves(reg), False,
                        np.inf)  # inf: always refined
        out.append((ra % 360.0, dec, far * (1 + rng.choice([-1, 1]) * rng.uniform(1e-3, 0.3))))
    n = UNIFORM
    out += list(zip(rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
                    10 ** rng.uniform(-1, 1.6, n), strict=True))
    out += [(0.0, 90.0, 40.0), (0.0, 0.0, 25.0)]
    return np.array(out)


@pytest.mark.parametrize("level", [90, 50])
def test_region_in_circle_as_computed_here(client: TestClient, whole_sample: None,
                                           level: int) -> None:
    """CONTAINS(region, CIRCLE) over every revision = the numerical answer (the farthest
    point of the region's boundary from the centre is within the radius), near ties left
    out (few)."""
    regions = _regions(client, level)
    circles = _circles(regions, np.random.default_rng(RNG_SEED + 3 * level))
    want = set()
    centres = np.array([(reg.ra, reg.dec) for reg in regions])
    reach = np.array([reach_of(reg) for reg in regions])
    ties = set()
    for k, (ra, dec, rho) in enumerate(circles):
        near = _sep(ra, dec, centres[:, 0], centres[:, 1]) <= rho + reach
        for reg in np.array(regions, dtype=object)[near]:
            slack = _extreme(partial(_slack, ra, dec, rho), _region_curves(reg), False,
                             TIE * rho)
            if abs(slack) <= TIE * rho:
                ties.add((k, reg.name))
            elif slack > 0:
                want.add((k, reg.name))
    assert len(ties) <= 3 and len(want) > len(regions) // (3 * STRIDE)
    texts = [f"CIRCLE('ICRS', {float(ra)!r}, {float(dec)!r}, {float(r)!r})"
             for ra, dec, r in circles]
    assert _tap(client, texts, f"CONTAINS(region{level}, {{s}})") - ties == want


def test_region_columns_refuse_mocs_and_column_shapes(client: TestClient) -> None:
    """A MOC, another region, or a shape made of columns against a region column stays
    refused, with the reason."""
    for where in ("1 = INTERSECTS(region90, MOC('5/1-3'))",
                  "1 = CONTAINS(region90, moc50)",
                  "1 = INTERSECTS(POLYGON('ICRS', ra, dec, ra + 1, dec, ra, dec + 1), region90)"):
        r = client.post("/tap/sync", data={"LANG": "ADQL", "RESPONSEFORMAT": "csv",
                                           "QUERY": f"SELECT name FROM nufair.alerts "
                                                    f"WHERE {where}"})
        assert r.status_code == 400, where
        assert "a region column" in r.text and "moc90" in r.text, r.text[:400]
