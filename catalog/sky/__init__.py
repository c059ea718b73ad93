"""Sky geometry, in one place: HEALPix points and tiles, regions, areas, distances.

Points are HEALPix NESTED indices at order 29 (``BIGINT``); regions are one ``INT8RANGE``
row per range of order-29 indices that covers them (SP-GiST indexed). Tiles *cover* a region,
so a tile match is a pre-filter that an exact test refines (the great-circle distance, the
RA/Dec box). The Python side (healpy, mocpy) lives in :mod:`catalog.sky.cells`; the SQL side
(the :class:`Point` and :class:`Tile` types and the one great-circle distance, used by the
catalog and the ADQL translator alike) in :mod:`catalog.sky.sql`.
"""

from catalog.sky.cells import (
    FULL_SKY_DEG2,
    MAX_TILE_ORDER,
    MIN_TILE_ORDER,
    PIXAREA29_DEG2,
    POINT_NSIDE,
    POINT_ORDER,
    RegionGeometry,
    angular_distance_deg,
    box_bounds,
    cap_area_deg2,
    cap_radius_deg,
    cone_ranges,
    in_box,
    point_index,
    region_geometry,
    tile_order,
    unit_vector,
)
from catalog.sky.sql import (
    Point,
    Tile,
    great_circle_deg,
    great_circle_sql,
    point,
    tile,
    unit_vector_sql,
)

__all__ = [
    "FULL_SKY_DEG2",
    "MAX_TILE_ORDER",
    "MIN_TILE_ORDER",
    "PIXAREA29_DEG2",
    "POINT_NSIDE",
    "POINT_ORDER",
    "Point",
    "RegionGeometry",
    "Tile",
    "angular_distance_deg",
    "box_bounds",
    "cap_area_deg2",
    "cap_radius_deg",
    "cone_ranges",
    "great_circle_deg",
    "great_circle_sql",
    "in_box",
    "point",
    "point_index",
    "region_geometry",
    "tile",
    "tile_order",
    "unit_vector",
    "unit_vector_sql",
]
