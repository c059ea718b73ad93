"""A CIRCLE of an uploaded table's columns against a region column (issue 15).

``INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, s.err / 3600.0), a.region90)`` (either order)
and ``CONTAINS(CIRCLE(...), a.region90)``, where the centre and radius are arithmetic
(``+ - * /``, unary minus, numeric constants, parentheses) of the numeric columns of one
uploaded table, are exact by the tests of :mod:`vo.adql.regions`, which take the SQL
expressions themselves. The index is the circles' tile coverings, computed when the query
is translated (:class:`UploadCircles`): the rows are known then, and each expression is
evaluated here per row as PostgreSQL evaluates it (:func:`evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import Latitude, Longitude
from mocpy import MOC
from numpy.typing import NDArray

from catalog import sky
from vo.adql.scope import Expr, quote
from vo.adql.uploads import UPLOAD_ROW, UploadColumn
from vo.errors import AdqlError
from vo.tables import TILES_RELATION

Bind = Callable[..., str]

#: Orders coarser than a constant circle's pre-filter (``tile_order(r)``, cells ~4 times
#: smaller than the radius) at which each uploaded circle is covered: cells about the
#: radius, ~6 ranges a circle. For 1 000 circles the probes of the tile index are what
#: costs (~13 µs each): at ``tile_order(r)`` 19 k ranges took 255 ms, and mocpy's
#: per-circle covering 0.4 s of Python (one ``from_cones`` per order here: ~10 ms).
COARSER = 2

#: The whole sky as order-29 ranges (a circle of radius 180).
ALL_SKY = np.array([[0, 12 * 4**29]], dtype=np.uint64)

#: Degrees added to a radius before it is covered: the values are PostgreSQL's own
#: (:func:`evaluate`), so this only absorbs a last-bit difference in mocpy's cone.
MARGIN = 1e-9

#: VOTable datatypes of uploaded integer columns (``smallint``, ``integer``, ``bigint``).
_INTEGERS = ("short", "int", "long", "unsignedByte")


@dataclass(frozen=True, slots=True)
class Values:
    """Per-row values of an expression in the type PostgreSQL computes it in: ``int64``
    (any integer type: the same numbers), ``float32`` (``real``) or ``float64``
    (``double precision``); ``nulls`` where it is NULL (or an error in PostgreSQL)."""

    values: NDArray[Any]
    nulls: NDArray[np.bool_]


def _column(col: UploadColumn) -> Values:
    """An uploaded numeric column as its temporary table holds it (an ADQL error for text)."""
    nulls = np.asarray(col.nulls, dtype=bool)
    if col.datatype in _INTEGERS:
        return Values(np.asarray(col.values).astype(np.int64), nulls)
    if col.datatype in ("float", "double"):
        dtype = np.float32 if col.datatype == "float" else np.float64
        return Values(np.asarray(col.values).astype(dtype), nulls)
    raise AdqlError(f"a CIRCLE against a region column needs numbers, not the "
                    f"{col.datatype} column {col.name}")


def _apply(op: str, a: Values, b: Values) -> Values:
    """``a op b`` by PostgreSQL's rules: integers stay integers (division truncates
    toward zero); ``real`` with ``real`` stays ``real``; any other mix with a float is
    ``double precision`` (``real * integer`` too: PostgreSQL picks float8)."""
    x, y = a.values, b.values
    nulls = a.nulls | b.nulls
    if x.dtype == np.int64 and y.dtype == np.int64:
        zero = y == 0  # an error in PostgreSQL: no covering needed
        if op == "/":
            q = np.abs(x) // np.where(zero, 1, np.abs(y))
            return Values(np.where((x < 0) != (y < 0), -q, q), nulls | zero)
    else:
        dtype = np.float32 if x.dtype == np.float32 and y.dtype == np.float32 else np.float64
        x, y = x.astype(dtype), y.astype(dtype)
        if op == "/":
            return Values(x / y, nulls)
    ops = {"+": np.add, "-": np.subtract, "*": np.multiply}
    return Values(ops[op](x, y), nulls)


def _leaves(e: Expr, upload_columns: dict[str, tuple[str, UploadColumn]]) -> set[str]:
    """The aliases of the uploaded tables whose columns ``e`` reads; an ADQL error unless
    ``e`` is arithmetic of such columns and numeric constants."""
    if isinstance(e.const, int | float) or e.sql in upload_columns:
        return {upload_columns[e.sql][0]} if e.sql in upload_columns else set()
    if e.arith is None:
        raise AdqlError("a region column (region50, region90) meets a CIRCLE of columns only "
                        "when its centre and radius are arithmetic (+ - * /) of numeric "
                        "columns of one uploaded table (TAP_UPLOAD) and constants, not "
                        f"{e.name or 'this expression'}: use moc50 / moc90")
    return set().union(*(_leaves(a, upload_columns) for a in e.arith[1]))


def evaluate(e: Expr, upload_columns: dict[str, tuple[str, UploadColumn]], n: int) -> Values:
    """The values of ``e`` on the ``n`` rows of one upload: ``e`` is arithmetic of
    numeric constants and that upload's columns (``upload_columns``: column SQL ->
    (table alias, column); :func:`_leaves` checks it first)."""
    if isinstance(e.const, int | float):
        if isinstance(e.const, int) and not -2**63 <= e.const < 2**63:
            raise AdqlError(f"the integer {e.const} is out of range (64 bits)")
        value = np.int64(e.const) if isinstance(e.const, int) else np.float64(e.const)
        return Values(np.full(n, value), np.zeros(n, dtype=bool))
    hit = upload_columns.get(e.sql)
    if hit is not None:
        return _column(hit[1])
    assert e.arith is not None
    op, args = e.arith
    vals = [evaluate(a, upload_columns, n) for a in args]
    if len(vals) == 1:
        return Values(-vals[0].values if op == "-" else vals[0].values, vals[0].nulls)
    return _apply(op, vals[0], vals[1])


def folded(e: Expr) -> Expr:
    """``e`` with its value as a constant when it is arithmetic of numeric constants
    (``5 / 60.0``), computed as PostgreSQL computes it; else ``e`` itself (a division by
    zero too: PostgreSQL's error then stands)."""
    if e.arith is None or e.is_const:
        return e
    try:
        if _leaves(e, {}):
            return e
    except AdqlError:  # a column or a function: not a constant
        return e
    with np.errstate(all="ignore"):
        v = evaluate(e, {}, 1)
    value = v.values[0].item()
    if v.nulls[0] or not np.isfinite(value):
        return e
    return Expr(e.sql, meta=e.meta, const=value, name=e.name, type=e.type, arith=e.arith)


@dataclass(frozen=True, slots=True)
class UploadCircles:
    """The circles of an uploaded table's rows with their tile coverings, bound as arrays.

    A CIRCLE of uploaded columns varies per row, so no covering exists when the SQL is
    written; but the rows are known then. Each row's circle gets an outer covering by
    cells about its radius (:data:`COARSER`), keyed by the row's number in the temporary
    table (:data:`vo.adql.uploads.UPLOAD_ROW`); a region without extents is decided by its
    tiles against that covering (coarser than a constant circle's). Then the candidate
    pairs are one uncorrelated subquery (coverings joined to the tiles' SP-GiST index)
    that PostgreSQL hashes or joins as a semi-join: a probe per range rather than a test
    per (source, alert) pair.
    """

    row: str  # SQL of the row number of the upload in the query
    relation: str  # SQL: unnest(...) AS alias(row, lo, hi)
    alias: str

    def pairs_sql(self, rev: str, level: int) -> str:
        """SQL boolean: the circle's covering meets the tiles of row ``rev``'s region."""
        c = self.alias
        return (f"(({self.row}, {rev}) IN (SELECT {c}.row, m.revision_pk FROM"
                f" {self.relation} JOIN {TILES_RELATION} m ON m.hpx &&"
                f" int8range({c}.lo, {c}.hi) WHERE m.level = {int(level)}))")

    def within_sql(self, rev: str, level: int) -> str:
        """SQL boolean: the circle's covering lies in the tiles of row ``rev``'s region
        (every range covered by the tiles it overlaps; false for a row without tiles)."""
        c = self.alias
        covered = (f"(SELECT COALESCE(sum(upper(int8range({c}.lo, {c}.hi) * mb.hpx) - "
                   f"lower(int8range({c}.lo, {c}.hi) * mb.hpx)), 0) FROM {TILES_RELATION} mb"
                   f" WHERE mb.revision_pk = {rev} AND mb.level = {int(level)} AND"
                   f" mb.hpx && int8range({c}.lo, {c}.hi))")
        return (f"(EXISTS (SELECT 1 FROM {TILES_RELATION} mn WHERE mn.revision_pk = {rev}"
                f" AND mn.level = {int(level)}) AND NOT EXISTS (SELECT 1 FROM {self.relation}"
                f" WHERE {c}.row = {self.row} AND {covered} < {c}.hi - {c}.lo))")


#: Circles per call of mocpy's ``from_cones``, which holds the GIL for the whole call: 100 000
#: circles in one call kept other threads (the event loop: ``/healthz``) waiting ~100 ms at a
#: time; calls of this size keep the waits to a few ms.
CONES_PER_CALL = 2000


def upload_circles(row: str, circles: NDArray[np.float64], bind: Bind,
                   alias: str) -> UploadCircles:
    """The :class:`UploadCircles` of ``circles`` (ra, dec, radius of each row of an
    upload, NaN where NULL), whose row numbers are ``row`` (SQL)."""
    # A NULL or impossible circle meets nothing: the exact test says so as well.
    ok = np.asarray(np.isfinite(circles).all(axis=1), dtype=bool)
    ok[ok] = (circles[ok, 2] >= 0) & (np.abs(circles[ok, 1]) <= 90)
    numbers = np.flatnonzero(ok)
    rows = circles[ok]
    # Arrays, not a tuple a range: 10^5 circles made ~5 * 10^5 tuples, and the garbage
    # collector's passes over them held the GIL ~50 ms at a time.
    keys: list[NDArray[np.intp]] = []
    bounds: list[NDArray[np.uint64]] = []
    orders = np.array([max(sky.tile_order(max(float(r), 1e-6)) - COARSER, 0)
                       for r in rows[:, 2]], dtype=int)
    for order in np.unique(orders):
        for start in range(0, int((orders == order).sum()), CONES_PER_CALL):
            group = rows[orders == order][start:start + CONES_PER_CALL]
            ids = numbers[orders == order][start:start + CONES_PER_CALL]
            _cover(group, ids, int(order), keys, bounds)
    ranges = np.concatenate(bounds) if bounds else np.empty((0, 2), dtype=np.uint64)
    row_of = np.concatenate(keys) if keys else np.empty(0, dtype=np.intp)
    ends = ", ".join(bind(ranges[:, i].astype(np.int64).tolist(), "bigint[]")
                     for i in range(2))
    relation = (f"unnest({bind(row_of.astype(np.int64).tolist(), 'bigint[]')}, {ends})"
                f" AS {alias}(row, lo, hi)")
    return UploadCircles(row, relation, alias)


def _cover(group: NDArray[np.float64], ids: NDArray[np.intp], order: int,
           keys: list[NDArray[np.intp]], bounds: list[NDArray[np.uint64]]) -> None:
    """Append the coverings at ``order`` of the circles ``group`` (rows ``ids``): their
    order-29 ranges to ``bounds``, each range's row to ``keys``."""
    mocs = MOC.from_cones(Longitude(group[:, 0] % 360.0 * u.deg),
                          Latitude(group[:, 1] * u.deg),
                          radius=np.clip(group[:, 2] + MARGIN, 1e-9, 179.999) * u.deg,
                          max_depth=order, union_strategy=None)
    for (_ra, _dec, r), k, moc in zip(group, ids, mocs, strict=True):
        ranges = ALL_SKY if r >= 180.0 else moc.to_depth29_ranges
        bounds.append(np.asarray(ranges, dtype=np.uint64).reshape(-1, 2))
        keys.append(np.full(len(ranges), k, dtype=np.intp))


def circles_of(circle: Expr, upload_columns: dict[str, tuple[str, UploadColumn]],
               bind: Bind, alias: str) -> UploadCircles:
    """The :class:`UploadCircles` of a CIRCLE whose centre and radius are arithmetic of
    the columns of one uploaded table (``upload_columns``: column SQL -> (table alias,
    column)) and constants; an ADQL error for a CIRCLE of other columns or expressions."""
    tables = set().union(*(_leaves(p, upload_columns) for p in circle.parts))
    if len(tables) != 1:
        raise AdqlError("a region column (region50, region90) meets a CIRCLE of columns of "
                        "one uploaded table")
    (table,) = tables
    n = len(next(c.values for t, c in upload_columns.values() if t == table))
    circles = np.empty((n, 3))
    with np.errstate(all="ignore"):  # overflows and zero divisors: errors in PostgreSQL
        for i, p in enumerate(circle.parts):
            v = evaluate(p, upload_columns, n)
            circles[:, i] = np.where(v.nulls, np.nan, v.values.astype(np.float64))
    return upload_circles(f"{table}.{quote(UPLOAD_ROW)}", circles, bind, alias)
