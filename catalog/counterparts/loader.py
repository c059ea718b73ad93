"""Build a registered catalogue's tables from its bundled file.

For a catalogue ``schema.table`` of the registry, :func:`install` creates (again, when it
exists) two tables in the catalogue's own schema, outside the catalog's Alembic metadata:

* ``schema.table``: the catalogue's columns as the registry lists them, plus ``hpx29`` (the
  position's HEALPix NESTED order-29 index, b-tree), the point column the ADQL translator
  uses for ``CONTAINS(POINT(ra, dec), ...)``;
* ``schema.table_tiles``: per source, order-29 index ranges covering the cap of radius
  semi-major axis around it (so the whole error ellipse), SP-GiST indexed; a source without
  an ellipse gets the one cell holding its position. The counterpart search joins these
  tiles with a region's tiles (``&&``) to find candidates, then tests exactly.

The migration that publishes a catalogue calls :func:`install`; ``nufair counterparts
load`` does it again (a new file, a second catalogue). The TAP role may read both tables.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
from sqlalchemy import BigInteger, Column, Double, Integer, MetaData, Table, Text, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateTable

from catalog import sky
from catalog.counterparts.registry import Catalogue

_TYPES = {"text": Text, "int": Integer, "double": Double}

#: The read-only role TAP queries run as (created by migration 0002 where allowed).
TAP_ROLE = "nufair_tap"


#: HEALPix order of the cells that :func:`cells_table` indexes catalogue tiles by.
CELL_ORDER = 6
#: Right shift from an order-29 index to its order-:data:`CELL_ORDER` cell.
CELL_SHIFT = 2 * (29 - CELL_ORDER)


def cells_table(cat: Catalogue) -> str:
    """``schema.name`` of ``cat``'s tiles listed per order-:data:`CELL_ORDER` cell."""
    return f"{cat.schema}.{cat.tiles_table}_cells"


def cells_sql(hpx: str) -> str:
    """SQL set-returning call: the order-:data:`CELL_ORDER` cells that range ``hpx``
    (order-29, ``[lo,hi)``) touches."""
    return (f"generate_series(lower({hpx}) >> {CELL_SHIFT},"
            f" (upper({hpx}) - 1) >> {CELL_SHIFT})")


def install_cells(conn: Connection, cat: Catalogue) -> None:
    """(Re)build :func:`cells_table` from ``cat``'s tiles table (no file needed)."""
    cells = cells_table(cat)
    conn.execute(text(f"DROP TABLE IF EXISTS {cells}"))
    conn.execute(text(
        f"CREATE TABLE {cells} AS SELECT c.cell, t.source_name, t.hpx"
        f" FROM {cat.schema}.{cat.tiles_table} t CROSS JOIN LATERAL {cells_sql('t.hpx')}"
        " AS c(cell)"))
    conn.execute(text(f"CREATE INDEX ix_{cat.tiles_table}_cells_cell ON {cells} (cell)"))
    conn.execute(text(f"ANALYZE {cells}"))


def catalogue_table(cat: Catalogue) -> Table:
    """The Core table of ``cat`` (on a metadata of its own, not the catalog's)."""
    cols: list[Column[object]] = [Column(c.name, _TYPES[c.type], nullable=c.name != cat.name,
                   primary_key=c.name == cat.name) for c in cat.columns]
    return Table(cat.table, MetaData(), *cols, Column("hpx29", BigInteger, nullable=False),
                 schema=cat.schema)


def read_rows(cat: Catalogue) -> list[dict[str, object]]:
    """The rows of the catalogue's file (absolute, or in this package's ``data``), typed;
    empty and ``nan`` cells are None."""
    if Path(cat.file).is_absolute():
        data = Path(cat.file).read_bytes()
    else:
        data = resources.files("catalog.counterparts").joinpath("data", cat.file).read_bytes()
    if cat.file.endswith(".gz"):
        data = gzip.decompress(data)
    reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
    rows = []
    for raw in reader:
        row: dict[str, object] = {}
        for c in cat.columns:
            cell = (raw[c.csv] or "").strip()
            if cell == "" or (c.type != "text" and cell.lower() == "nan"):
                row[c.name] = None
            elif c.type == "text":
                row[c.name] = cell
            else:
                value = float(cell)
                row[c.name] = int(value) if c.type == "int" else value
        rows.append(row)
    return rows


def _tile_rows(cat: Catalogue, rows: list[dict[str, object]]) -> Iterator[tuple[str, str]]:
    """(source name, ``[lo,hi)``) rows covering each source's error ellipse."""
    for row in rows:
        ra, dec = float(row[cat.ra]), float(row[cat.dec])  # type: ignore[arg-type]
        a = row.get(cat.semi_major) if cat.semi_major else None
        radius = float(a) if isinstance(a, float) and math.isfinite(a) else 0.0
        for lo, hi in sky.cone_ranges(ra, dec, radius):
            yield str(row[cat.name]), f"[{int(lo)},{int(hi)})"


def install(conn: Connection, cat: Catalogue) -> int:
    """(Re)create and fill ``cat``'s tables from its bundled file; the number of sources."""
    table = catalogue_table(cat)
    rows = read_rows(cat)
    hpx = sky.point_index(np.array([r[cat.ra] for r in rows], dtype=float),
                          np.array([r[cat.dec] for r in rows], dtype=float))
    schema, tiles = cat.schema, f"{cat.schema}.{cat.tiles_table}"
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    conn.execute(text(f"DROP TABLE IF EXISTS {cells_table(cat)}, {tiles}, {cat.qualified}"))
    conn.execute(CreateTable(table))
    conn.execute(text(f"CREATE TABLE {tiles} (source_name text NOT NULL, hpx int8range "
                      "NOT NULL)"))
    raw = conn.connection.driver_connection
    assert raw is not None
    names = [c.name for c in cat.columns]
    with raw.cursor() as cur:
        with cur.copy(f"COPY {cat.qualified} ({', '.join(names)}, hpx29) FROM STDIN") as cp:
            for row, ipix in zip(rows, hpx, strict=True):
                cp.write_row((*(row[n] for n in names), int(ipix)))
        with cur.copy(f"COPY {tiles} (source_name, hpx) FROM STDIN") as cp:
            for tile_row in _tile_rows(cat, rows):
                cp.write_row(tile_row)
    conn.execute(text(f"CREATE INDEX ix_{cat.table}_hpx29 ON {cat.qualified} (hpx29)"))
    conn.execute(text(f"CREATE INDEX ix_{cat.tiles_table}_hpx ON {tiles} USING spgist (hpx)"))
    conn.execute(text(f"ANALYZE {cat.qualified}"))
    conn.execute(text(f"ANALYZE {tiles}"))
    install_cells(conn, cat)
    conn.execute(text(f"""
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TAP_ROLE}') THEN
    GRANT USAGE ON SCHEMA {schema} TO {TAP_ROLE};
    GRANT SELECT ON {cat.qualified}, {tiles}, {cells_table(cat)} TO {TAP_ROLE};
  END IF;
END $$"""))
    return len(rows)
