"""Results encoded by PostgreSQL: CSV text and BINARY2 streams as one aggregated value.

A large answer (an upload cross-match: ~900 k rows) costs ~15 µs a row when every row
becomes Python values that a writer then formats. ``COPY ... TO STDOUT`` formats in C but
sends one message per row, which the driver hands over one by one (~3 µs a row). Here the
query is wrapped so that PostgreSQL formats each row (a CSV line, or the row's BINARY2
bytes: null flags then big-endian values, VOTable 1.4 section 5.4) and concatenates them
with ``string_agg``: one value comes back, and no Python runs per row.

Rows keep the order of the wrapped query: the aggregate reads a subquery that ends in
LIMIT (the MAXREC cut, one row more than MAXREC), so PostgreSQL cannot run it in parallel
or reorder it. When that extra row is there (the answer overflows), the caller runs the
aggregate again cut at MAXREC (numbering every row instead, to leave the last one out,
cost ~15 % of every run). A value is at most 1 GB in PostgreSQL; a larger answer fails
with "out of memory" or "program limit exceeded", and the caller then falls back to the
row-by-row writers.

Only column types with an exact SQL spelling are encoded here (numbers, booleans, text,
timestamps, numeric arrays); MOCs (assembled from tiles in Python) and UCS-2 text go
through the Python writers.
"""

from __future__ import annotations

from collections.abc import Sequence

from vo.formats.fields import FieldSpec

#: PostgreSQL type OIDs of timestamps (written as ISO 8601 with milliseconds, UTC).
TIMESTAMPS = (1114, 1184)

#: ``to_char`` pattern of the Python writers' ``isoformat(timespec="milliseconds")``.
_ISO = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS'"

#: SQLSTATEs of a value over PostgreSQL's 1 GB limit.
TOO_LARGE = ("54000", "53200")

#: One CSV line ends with CRLF (RFC 4180).
_EOL = "E'\\r\\n'"


def _text(col: str, oid: int | None) -> str:
    """SQL text of one value as the Python writers spell it (NULL stays NULL)."""
    if oid in TIMESTAMPS:
        return f"to_char({col}, {_ISO})"
    if oid == 16:
        return f"(CASE WHEN {col} THEN 'True' WHEN NOT {col} THEN 'False' END)"
    if oid in (1022, 1021, 1016, 1007, 1005, 1231):  # numeric arrays: space-separated
        return f"array_to_string({col}, ' ', 'NaN')"
    return f"CAST({col} AS text)"


def _csv_field(col: str, oid: int | None) -> str:
    """One CSV field: NULL is empty; numbers as they are; everything else quoted. RFC 4180
    allows quoting any field, and testing each value for commas, quotes and line breaks
    (a regular expression per value) cost more than quoting them all."""
    if oid in (20, 21, 23, 700, 701, 1700, 26):  # numbers never need quotes
        return f"COALESCE(CAST({col} AS text), '')"
    v = _text(col, oid)
    return f"COALESCE('\"' || replace({v}, '\"', '\"\"') || '\"', '')"


def _csv_line(oids: Sequence[int | None]) -> str:
    cols = [f"q.c{i}" for i in range(len(oids))]
    line = " || ',' || ".join(_csv_field(c, oid) for c, oid in zip(cols, oids, strict=True))
    return f"{line} || {_EOL}"


def csv_query(inner: str, oids: Sequence[int | None], limit: int | None = None) -> str:
    """(rows, CSV lines) of the query ``inner`` (its first ``limit`` rows)."""
    return _aggregate(inner, len(oids), _csv_line(oids), "''", limit)


def csv_rows_query(inner: str, oids: Sequence[int | None]) -> str:
    """One CSV line (text) a row of the query ``inner``, in its order (for a streamed
    answer: a cursor fetches them a batch at a time)."""
    return _per_row(inner, len(oids), _csv_line(oids))


# ------------------------------------------------------------------------------ BINARY2
_SEND = {"long": ("int8send", "bigint", "0000000000000000"),
         "int": ("int4send", "integer", "00000000"),
         "short": ("int2send", "smallint", "0000"),
         "double": ("float8send", "double precision", "7ff8000000000000"),
         "float": ("float4send", "real", "7fc00000")}


def _bytes(hexdigits: str) -> str:
    return f"'\\x{hexdigits}'::bytea"


def _binary2_cell(col: str, spec: FieldSpec, oid: int | None) -> str | None:
    """SQL bytea of one BINARY2 cell (NULL: the filler the null flag covers), or None when
    the column is not encoded in SQL."""
    dt, size = spec.datatype, spec.arraysize
    if dt == "char" and size not in (None, "1") and not (size or "").isdigit():
        # textsend: the text's bytes in the client encoding (UTF-8), without a copy to text.
        text = _text(col, oid)
        return (f"COALESCE(int4send(octet_length({text})) || textsend({text}), "
                f"{_bytes('00000000')})")
    if dt == "boolean" and size in (None, "1"):
        return (f"(CASE WHEN {col} THEN {_bytes('54')} WHEN NOT {col} THEN {_bytes('46')} "
                f"ELSE {_bytes('3f')} END)")
    if dt not in _SEND:
        return None
    send, sql_type, null = _SEND[dt]
    if size in (None, "1"):
        return f"COALESCE({send}(CAST({col} AS {sql_type})), {_bytes(null)})"
    if size is not None and size.isdigit():  # fixed arrays (POINT, CIRCLE)
        return " || ".join(f"COALESCE({send}(CAST({col}[{k}] AS {sql_type})), {_bytes(null)})"
                           for k in range(1, int(size) + 1))
    # Variable-length array: element count, then the elements.
    return (f"COALESCE(int4send(cardinality({col})) || COALESCE((SELECT string_agg("
            f"COALESCE({send}(CAST(x AS {sql_type})), {_bytes(null)}), ''::bytea ORDER BY k) "
            f"FROM unnest({col}) WITH ORDINALITY AS e(x, k)), ''::bytea), {_bytes('00000000')})")


def binary2_query(inner: str, specs: Sequence[FieldSpec], oids: Sequence[int | None],
                  limit: int | None = None) -> str | None:
    """(rows, BINARY2 stream) of the query ``inner`` (its first ``limit`` rows), or None
    when a column is not encoded in SQL."""
    row = _binary2_row(specs, oids)
    return None if row is None else _aggregate(inner, len(specs), row, "''::bytea", limit)


def binary2_rows_query(inner: str, specs: Sequence[FieldSpec],
                       oids: Sequence[int | None]) -> str | None:
    """The BINARY2 bytes (bytea) of each row of the query ``inner``, in its order, or None
    when a column is not encoded in SQL."""
    row = _binary2_row(specs, oids)
    return None if row is None else _per_row(inner, len(specs), row)


def _binary2_row(specs: Sequence[FieldSpec], oids: Sequence[int | None]) -> str | None:
    """SQL bytea of one row's BINARY2 record (null flags, then cells) over ``q.c<i>``."""
    cols = [f"q.c{i}" for i in range(len(specs))]
    cells = []
    for c, spec, oid in zip(cols, specs, oids, strict=True):
        cell = _binary2_cell(c, spec, oid)
        if cell is None:
            return None
        cells.append(cell)
    # Null flags: field i is bit 7 - i % 8 of byte i // 8; mostly all clear, a constant.
    flags = []
    for byte in range(0, len(cols), 8):
        part = cols[byte:byte + 8]
        bits = " + ".join(f"(CASE WHEN {c} IS NULL THEN {128 >> i} ELSE 0 END)"
                          for i, c in enumerate(part))
        anynull = " OR ".join(f"{c} IS NULL" for c in part)
        flags.append(f"(CASE WHEN {anynull} THEN set_byte({_bytes('00')}, 0, {bits}) "
                     f"ELSE {_bytes('00')} END)")
    return " || ".join(flags + cells)


def _per_row(inner: str, n: int, row: str) -> str:
    names = ", ".join(f"c{i}" for i in range(n))
    return f"SELECT {row} AS _row FROM (SELECT * FROM ({inner}) AS q0) AS q({names})"


def _aggregate(inner: str, n: int, row: str, empty: str, limit: int | None) -> str:
    names = ", ".join(f"c{i}" for i in range(n))
    cut = "" if limit is None else f" LIMIT {int(limit)}"
    return (f"SELECT count(*), COALESCE(string_agg(s._row, {empty}), {empty}) FROM "
            f"(SELECT {row} AS _row FROM (SELECT * FROM ({inner}) AS q0{cut}) AS q({names})"
            ") AS s")
