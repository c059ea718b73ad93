"""The rows an import writes: events, revisions (with their region columns) and tiles.

Pure functions of :class:`~catalog.notices.parsed.NoticeRecord` lists, used by
:mod:`catalog.storage.revisions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude
from mocpy import MOC
from sqlalchemy import literal_column

from catalog import sky
from catalog.notices.parsed import NoticeRecord
from catalog.storage.histories import record_values

#: MJD of the Unix epoch. MJD(UTC) counts 86400-s days and ignores leap seconds, exactly
#: like POSIX time, so the conversion is a plain affine map.
MJD_UNIX_EPOCH = 40587.0

#: An event's identity: (observatory, run_id, event_id).
EventKey = tuple[str, int, int]


def utc_mjd(t: datetime) -> float:
    """MJD (UTC) of an aware datetime."""
    return t.timestamp() / 86400.0 + MJD_UNIX_EPOCH


_Circles = dict[tuple[int, int], sky.RegionGeometry]


def _circle_geometries(fresh: Sequence[NoticeRecord]) -> _Circles:
    """The geometry of every circle region of ``fresh`` by (record index, level): what
    :func:`catalog.sky.region_geometry` gives, the covering MOCs made in one mocpy call per
    tile order (``MOC.from_cones``, the same cells as one ``from_cone`` each, several times
    faster)."""
    jobs: dict[int, list[tuple[int, int, float, float, float]]] = {}
    for i, rec in enumerate(fresh):
        if rec.ra is None or rec.dec is None:
            continue
        for level in (50, 90):
            region = rec.region(level / 100)
            if region is not None and region.is_circle and region.radius_deg is not None:
                order = sky.tile_order(region.radius_deg)
                jobs.setdefault(order, []).append(
                    (i, level, rec.ra, rec.dec, region.radius_deg))
    out: _Circles = {}
    for order, group in jobs.items():
        _, _, ras, decs, radii = (np.array(col) for col in zip(*group, strict=True))
        mocs = MOC.from_cones(Longitude(ras * u.deg), Latitude(decs * u.deg),
                              radius=radii * u.deg, max_depth=order)
        for (i, level, _, _, radius), moc in zip(group, mocs, strict=True):
            out[(i, level)] = sky.RegionGeometry("circle", sky.cap_area_deg2(radius), radius,
                                                 order, moc.to_depth29_ranges)
    return out


def _region_columns(rec: NoticeRecord, circles: _Circles, i: int) -> dict[str, Any]:
    """Revision columns describing the 50 % / 90 % regions, and their covering tiles
    (``circles``: the geometries of the batch's circles, by (index ``i``, level))."""
    out: dict[str, Any] = {"_tiles": []}
    orders = []
    for level in (50, 90):
        region = rec.region(level / 100)
        if region is None or rec.ra is None or rec.dec is None:
            continue
        geom = circles.get((i, level)) or sky.region_geometry(rec.ra, rec.dec, region)
        if not region.is_circle:
            # Half-widths belong to boxes only: a circle is its radius (r50/r90) alone, so a
            # box is never rebuilt from a circle's radius (too narrow in RA near the poles).
            out.update({f"ra_err_plus_{level}": region.ra_plus,
                        f"ra_err_minus_{level}": region.ra_minus,
                        f"dec_err_plus_{level}": region.dec_plus,
                        f"dec_err_minus_{level}": region.dec_minus})
        out[f"r{level}_deg"] = geom.radius_deg
        out[f"area{level}_deg2"] = geom.area_deg2
        out[f"region{level}_shape"] = geom.shape
        out["_tiles"].append((level, geom.ranges))
        orders.append(geom.order)
    out["region_order"] = max(orders) if orders else None
    return out


def event_rows(records: Sequence[NoticeRecord]) -> list[dict[str, Any]]:
    """One ``events`` row per event key, from its first record and its first alert name."""
    first: dict[EventKey, NoticeRecord] = {}
    names: dict[EventKey, str] = {}
    for rec in records:
        key = (rec.observatory, rec.run_id, rec.event_id)
        first.setdefault(key, rec)
        if rec.name and key not in names:
            names[key] = rec.name
    return [{"observatory": key[0], "run_id": key[1], "event_id": key[2],
             "name": names.get(key), "stream": rec.stream.value,
             "event_time": rec.event_time, "event_mjd": utc_mjd(rec.event_time)}
            for key, rec in first.items()]


def _point_indices(fresh: Sequence[NoticeRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Which records have a position, and the HEALPix (order 29) pixel of each (-1 if none)."""
    ras = np.array([r.ra if r.ra is not None else np.nan for r in fresh])
    decs = np.array([r.dec if r.dec is not None else np.nan for r in fresh])
    has_pos = ~(np.isnan(ras) | np.isnan(decs))
    hpx = np.full(len(fresh), -1, dtype=np.int64)
    if has_pos.any():
        hpx[has_pos] = sky.point_index(ras[has_pos], decs[has_pos])
    return has_pos, hpx


def revision_rows(
    fresh: Sequence[NoticeRecord], pk_of: dict[EventKey, int], numbers: dict[str, int]
) -> tuple[list[dict[str, Any]], dict[str, list[tuple[int, np.ndarray]]]]:
    """The ``revisions`` rows of ``fresh``, numbered as ``numbers`` says, and the region
    tiles of each by source key."""
    has_pos, hpx = _point_indices(fresh)
    circles = _circle_geometries(fresh)
    rows = []
    tiles_of: dict[str, list[tuple[int, np.ndarray]]] = {}
    for i, rec in enumerate(fresh):
        pk = pk_of[(rec.observatory, rec.run_id, rec.event_id)]
        number = numbers[rec.source_key]
        cols = _region_columns(rec, circles, i)
        tiles_of[rec.source_key] = cols.pop("_tiles")
        rows.append(_revision_row(rec, pk, number, int(hpx[i]) if has_pos[i] else None, cols))
    return rows, tiles_of


def _revision_row(rec: NoticeRecord, event_pk: int, number: int, hpx29: int | None,
                  region_cols: dict[str, Any]) -> dict[str, Any]:
    """The ``revisions`` row of one record; region columns stay null unless given."""
    return {
        "event_pk": event_pk, "number": number, "kind": rec.kind.value,
        "source": rec.source.value, "source_rev": rec.source_rev,
        "source_key": rec.source_key, "stream": rec.stream.value,
        "issued_at": rec.issued_at,
        "ra": None if rec.ra is None else rec.ra % 360.0, "dec": rec.dec,
        "hpx29": hpx29,
        "energy_tev": rec.energy_tev, "signalness": rec.signalness,
        "far_per_year": rec.far_per_year, "ivorn": rec.ivorn,
        "retraction_reason": rec.retraction_reason,
        "event_time": rec.event_time, "time_precision_s": rec.time_precision_s,
        "provenance": {"source": rec.source.value, **rec.extra,
                       "sources": [rec.source.value],
                       "values": {rec.source.value: record_values(rec)}},
        **{c: None for c in _REGION_COLS}, **region_cols,
    }


_REGION_COLS = (
    *(f"{a}_{lvl}" for lvl in (50, 90)
      for a in ("ra_err_plus", "ra_err_minus", "dec_err_plus", "dec_err_minus")),
    "r50_deg", "r90_deg", "area50_deg2", "area90_deg2", "region50_shape", "region90_shape",
    "region_order",
)



def literal_column_xmax() -> Any:
    """``xmax`` of the upserted row: 0 when the row was inserted, not updated (PostgreSQL)."""
    return literal_column("xmax::text::bigint")
