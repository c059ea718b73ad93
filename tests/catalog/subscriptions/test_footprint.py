"""Footprints: every form gives the MOC mocpy reads from it; limits are refused cleanly."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from mocpy import MOC

from catalog.errors import InvalidInput
from catalog.subscriptions.footprint import MAX_RANGES, Cone, from_cones, from_moc
from tests.catalog.subscriptions.sky import _fits_b64


def test_ascii_json_and_fits_give_the_same_ranges() -> None:
    moc = MOC.from_str("5/100-140 6/2000 7/9000-9010")
    forms = [moc.to_string("ascii"), moc.to_string("json"),
             base64.b64decode(_fits_b64(moc))]
    for form in forms:
        fp = from_moc(form)
        assert fp.kind == "moc" and fp.order == 7
        assert np.array_equal(fp.ranges, moc.to_depth29_ranges)


def test_deep_mocs_are_degraded_and_tiny_cones_kept() -> None:
    fp = from_moc("20/123456789")
    assert fp.order == 14 and len(fp.ranges) == 1
    tiny = from_cones([Cone(10.0, 20.0, 5e-324)])  # a point: its order-14 cells
    assert tiny.order == 14 and 0 < tiny.area_deg2 < 1e-3


@pytest.mark.parametrize("bad", ["", "3/", "nonsense", "{\"3\": [\"x\"]}", b"SIMPLE  = junk"])
def test_bad_mocs_are_invalid_input(bad: str | bytes) -> None:
    with pytest.raises(InvalidInput):
        from_moc(bad)


def test_too_many_ranges_refused() -> None:
    cells = " ".join(str(c) for c in range(0, 4 * (MAX_RANGES + 1), 2))
    with pytest.raises(InvalidInput, match="ranges"):
        from_moc(f"10/{cells}")
