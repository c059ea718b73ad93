"""``CONTAINS(a.region50, b.region90)`` between two region columns: the first published
region lies in the second, over every pair of revisions of the bundled sample (a
self-join through the real TAP service), levels mixed, and within one row.

The independent answer is numerical, not the service's formulas:

* a circle lies in a circle iff astropy's separation of the centres plus the inner
  radius is at most the outer radius;
* a circle in a box iff the box holds its centre and the box's boundary is no nearer
  than its radius (:func:`tests.vo.test_region_circle_exact.boundary_distance`: edges
  sampled and refined);
* a box in a circle iff the box's farthest point from the circle's centre is within the
  radius: 180 less the box's distance to the centre's antipode
  (:func:`tests.vo.test_region_circle_exact.distance_to`);
* a box in a box iff its Dec interval lies in the other's (an outer box reaching a pole
  bounds nothing there) and its RA arc on the other's (by modular arithmetic on
  :meth:`~tests.vo.test_region_circle_exact.Region.box_edges`; a box 360 degrees wide
  lies only in another such).

A region lies in itself. A region without extents is its tiles: made so here for a few
rows, their pairs are answered by mocpy's containment of the tiles. A pair whose deciding
margin lies within ``TIE`` of 0 is a near tie: those are counted, must be rare, and are
left out of both answers.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mocpy import MOC
from sqlalchemy import Engine, text

from tests.vo.test_region_circle_exact import (
    Region,
    _in_box,
    _regions,
    _sep,
    boundary_distance,
    distance_to,
    reach_of,
    tap_csv,
)

#: A margin (degrees) this close to 0 is a near tie.
TIE = 1e-7


def _ra_margin(inner: Region, outer: Region) -> float:
    """How far the inner box's RA arc lies inside the outer's (degrees; negative: how far
    it would have to move, east or west, to fit)."""
    full_i, _, _, w_i, e_i = inner.box_edges()
    full_o, _, _, w_o, e_o = outer.box_edges()
    if full_o:
        return 360.0
    if full_i:
        return -360.0
    width_i, width_o = e_i - w_i, e_o - w_o
    d = (w_i - w_o) % 360.0
    if d + width_i <= width_o:
        return min(d, width_o - width_i - d)
    return -min(360.0 - d, d + width_i - width_o)


def _margin(inner: Region, outer: Region) -> float:
    """Positive when the inner region lies in the outer with room to spare."""
    if inner.r is not None and outer.r is not None:
        return outer.r - float(_sep(inner.ra, inner.dec, outer.ra, outer.dec)) - inner.r
    if inner.r is not None:  # a circle in a box
        if not _in_box(outer, inner.ra, inner.dec):
            return -distance_to(outer, inner.ra, inner.dec) - inner.r
        return boundary_distance(outer, inner.ra, inner.dec) - inner.r
    if outer.r is not None:  # a box in a circle: its farthest point
        farthest = 180.0 - distance_to(inner, (outer.ra + 180.0) % 360.0, -outer.dec)
        return outer.r - farthest
    _fi, dlo_i, dhi_i, _wi, _ei = inner.box_edges()
    _fo, dlo_o, dhi_o, _wo, _eo = outer.box_edges()
    south = np.inf if dlo_o <= -90.0 else dlo_i - dlo_o
    north = np.inf if dhi_o >= 90.0 else dhi_o - dhi_i
    return float(min(south, north, _ra_margin(inner, outer)))


def expected_contained(inner: list[Region], outer: list[Region], same_level: bool
                       ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(pairs whose first region lies in the second, near ties) over every pair."""
    want, ties = set(), set()
    centres = np.array([(reg.ra, reg.dec) for reg in outer])
    reach = np.array([reach_of(reg) for reg in outer])
    for a in inner:
        near = _sep(a.ra, a.dec, centres[:, 0], centres[:, 1]) <= reach + reach_of(a) + 0.5
        for b in np.array(outer, dtype=object)[near]:
            if same_level and a.name == b.name:
                want.add((a.name, b.name))  # a region lies in itself
                continue
            m = _margin(a, b)
            if abs(m) <= TIE:
                ties.add((a.name, b.name))
            elif m > 0:
                want.add((a.name, b.name))
    return want, ties


@pytest.mark.parametrize(("la", "lb"), [(90, 90), (50, 90), (90, 50)])
def test_region_in_region_as_computed_here(client: TestClient, whole_sample: None, la: int,
                                           lb: int) -> None:
    """Every pair of revisions: TAP's self-join on CONTAINS(a.region{la}, b.region{lb})
    = the numerical answer, near ties (few) left out; every kind pair occurs."""
    inner, outer = _regions(client, la), _regions(client, lb)
    want, ties = expected_contained(inner, outer, la == lb)
    assert len(ties) <= max(8, len(want) // 200), sorted(ties)[:5]
    box_i = {reg.name: reg.r is None for reg in inner}
    box_o = {reg.name: reg.r is None for reg in outer}
    kinds = {(box_i[a], box_o[b]) for a, b in want if a != b}
    # the sample's 50 % regions are circles
    assert kinds == {(i, o) for i in (False, la == 90) for o in (False, lb == 90)}, kinds
    rows = tap_csv(client, "SELECT a.revision_id, b.revision_id FROM nufair.revisions AS a "
                        f"JOIN nufair.revisions AS b ON 1 = CONTAINS(a.region{la}, "
                        f"b.region{lb})")
    got = {(x, y) for x, y in rows} - ties
    assert got == want, sorted(got ^ want)[:10]


def test_levels_of_one_row(client: TestClient, whole_sample: None) -> None:
    """Within one row: the 50 % region lies in the 90 % one as the shapes say (all of the
    sample's), and the 90 % in the 50 % nowhere."""
    r50 = {reg.name: reg for reg in _regions(client, 50)}
    r90 = {reg.name: reg for reg in _regions(client, 90)}
    margins = {n: _margin(r50[n], r90[n]) for n in r50.keys() & r90.keys()}
    want = {n for n, m in margins.items() if m > TIE}
    ties = {n for n, m in margins.items() if abs(m) <= TIE}
    assert len(ties) <= max(3, len(margins) // 100) and len(want) > len(margins) // 2
    got = {n for (n,) in tap_csv(client, "SELECT revision_id FROM nufair.revisions WHERE "
                                      "1 = CONTAINS(region50, region90)")}
    assert got - ties == want, sorted(got ^ want)[:10]
    assert tap_csv(client, "SELECT revision_id FROM nufair.revisions WHERE "
                        "CONTAINS(region90, region50) = 1 AND moc90 IS NOT NULL") == []


def test_regions_without_extents_by_their_tiles(client: TestClient, whole_sample: None,
                                                engine: Engine) -> None:
    """Rows whose 90 % extents are removed are their tiles: a pair with such a row (as
    the inner or the outer region, against circles and boxes) is answered by mocpy's
    containment of the two rows' tiles."""
    regions = _regions(client, 90)
    want, _ties = expected_contained(regions, regions, True)
    pairs = sorted((a, b) for a, b in want if a != b)
    rng = np.random.default_rng(7)
    picked = [pairs[k] for k in rng.choice(len(pairs), 12, replace=False)]
    bare = {a for a, _ in picked[:6]} | {b for _, b in picked[6:]}
    with engine.begin() as conn:
        conn.execute(text("UPDATE public.revisions SET region90_shape = NULL, "
                          "ra_err_plus_90 = NULL, ra_err_minus_90 = NULL, "
                          "dec_err_plus_90 = NULL, dec_err_minus_90 = NULL "
                          "WHERE id = ANY(:ids)"), {"ids": [int(x) for x in bare]})
        rows = conn.execute(text("SELECT revision_pk, lower(hpx), upper(hpx) FROM "
                                 "public.region_tiles WHERE level = 90")).all()
    ranges: dict[str, list[tuple[int, int]]] = {}
    for rev, lo, hi in rows:
        ranges.setdefault(str(rev), []).append((lo, hi))
    mocs = {k: MOC.from_depth29_ranges(29, np.array(sorted(v), dtype=np.uint64))
            for k, v in ranges.items()}
    names = [reg.name for reg in regions]
    # a in b iff their union is b (mocpy 0.21's difference of two disjoint MOCs is empty)
    truth = {(a, b) for a in names for b in names if (a in bare or b in bare)
             and mocs[a].union(mocs[b]) == mocs[b]}
    assert len({(a, b) for a, b in truth if a != b}) >= 3, sorted(truth)
    got = {(a, b) for a, b in tap_csv(
        client, "SELECT a.revision_id, b.revision_id FROM nufair.revisions AS a JOIN "
                "nufair.revisions AS b ON 1 = CONTAINS(a.region90, b.region90)")
        if a in bare or b in bare}
    assert got == truth, sorted(got ^ truth)[:10]
