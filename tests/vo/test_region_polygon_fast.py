"""Migration 0021's ``nufair.region_polygon`` draws the same doubles as 0015's body.

The old body is read from migration 0015's own text and created beside the new one (in
``pg_temp``); both draw a grid of circles (across RA 0, near both poles, tiny to the 89°
limit, invalid radii) and of boxes, and every array must be identical, bit for bit.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy import create_engine, text

from nufair.migrate import upgrade

_MIGRATION = Path(__file__).parents[2] / "migrations" / "versions" / "0015_obscore.py"

_ARGS = "shape, ra, dec, r, rp, rm, dp, dm"
_GRID = f"""
SELECT count(*) AS n,
       count(*) FILTER (WHERE nufair.region_polygon({_ARGS})
                        IS DISTINCT FROM pg_temp.region_polygon({_ARGS})) AS differ,
       count(nufair.region_polygon({_ARGS})) AS drawn
FROM unnest(ARRAY['circle', 'box']) shape,
     generate_series(-7.5, 367.5, 12.5) ra,
     unnest(ARRAY[-90, -89.9, -75.3, -30, 0, 0.001, 12.7, 60, 88.9, 90]::float8[]) dec,
     unnest(ARRAY[NULL, -1, 0, 1e-6, 0.05, 0.7, 3.3, 20, 88.99, 89]::float8[]) r,
     LATERAL (SELECT r AS rp, r / 2 AS rm, r / 3 AS dp, r AS dm) e
"""


def _old_body() -> str:
    spec = importlib.util.spec_from_file_location("m0015", _MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body = str(module._POLYGON)
    assert "CREATE FUNCTION nufair.region_polygon" in body
    return body.replace("CREATE FUNCTION nufair.", "CREATE FUNCTION pg_temp.", 1)


def test_new_body_draws_bit_identical_polygons(empty_db_url: str) -> None:
    """Every circle and box of the grid: the same array (or NULL) from both bodies."""
    upgrade(empty_db_url)
    eng = create_engine(empty_db_url)
    try:
        with eng.begin() as conn:
            conn.exec_driver_sql(_old_body())
            body = conn.execute(
                text(
                    "SELECT prosrc FROM pg_proc WHERE proname = 'region_polygon'"
                    " AND pronamespace = 'nufair'::regnamespace"
                )
            ).scalar_one()
            assert "array_fill" in body  # 0021 is the one installed
            n, differ, drawn = conn.execute(text(_GRID)).one()
    finally:
        eng.dispose()
    assert differ == 0
    assert drawn > n // 4  # most of the grid is drawn, not NULL
