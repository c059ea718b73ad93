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

import functools
import math
from collections.abc import Sequence

from vo.adql.geometry import ascii_moc
from vo.formats.fields import INT_NULLS, FieldSpec

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


# ---------------------------------------------------------------------------- TABLEDATA
#: Type OIDs whose text PostgreSQL and the Python writers spell alike.
_INTEGERS = (20, 21, 23)
_TEXTS = (25, 1043, 19, 705)  # not bpchar (1042): its cast to text drops the padding
_FLOATS = (700, 701, 1700, *_INTEGERS)
_RANGE_PAIRS = 1016  # bigint[]: a MOC column's [lo, hi) pairs (``vo.adql.base``)

#: MOCs whose TABLEDATA cell is kept (~1.5 kB each with its key, so ~3 MB).
MOC_CACHE = 2048

#: Type OIDs of real[] and double precision[]: sent as array text, each distinct array
#: written in Python once (:func:`_array_cell`).
_FLOAT_ARRAYS = (1021, 1022)

#: Float arrays whose TABLEDATA cell is kept (a region polygon: ~3 kB with its key).
ARRAY_CACHE = 2048

#: Characters XML cannot carry, written '?' as ``fields.xml_text`` does (PostgreSQL text
#: holds no NUL and no surrogate).
_NOT_XML = "".join(chr(c) for c in [*range(1, 9), 11, 12, *range(14, 32)]) + "\ufffe\uffff"


def _unicode_literal(value: str) -> str:
    """A PostgreSQL Unicode string literal of ``value``, every character escaped."""
    return "U&'" + "".join(f"\\{ord(c):04x}" for c in value) + "'"


def _td_float(x: str) -> str:
    """A double (or real) as ``rows._td_float`` writes it: the shortest text that reads
    back as the same double (PostgreSQL 12+ and Python's repr agree on the digits), "NaN",
    "+Inf" and "-Inf", and ".0" after an integral value as repr writes it. Between 1e15 and 1e16
    PostgreSQL switches to an exponent a decade earlier than repr (1e+15, not
    1000000000000000.0): the same double, written differently."""
    return (f"(CASE WHEN {x} = 'Infinity' THEN '+Inf' WHEN {x} = '-Infinity' THEN '-Inf' "
            f"WHEN {x} = 'NaN' THEN 'NaN' WHEN {x} = trunc({x}) AND abs({x}) < float8 '1e15' "
            f"THEN CAST({x} AS text) || '.0' ELSE CAST({x} AS text) END)")


def _td_value(col: str, spec: FieldSpec, oid: int | None) -> str | None:
    """SQL text of one non-NULL TABLEDATA cell as ``rows.tabledata_rows`` writes it, or
    None when this column is left to the Python writers (arrays, MOCs, other types)."""
    dt = spec.datatype
    if spec.xtype == "moc":
        return None
    if not (spec.arraysize in (None, "1") or dt == "char"):
        return None
    if dt == "char":
        if oid in TIMESTAMPS or oid in _INTEGERS:
            return _text(col, oid)  # digits and punctuation: nothing to escape
        if oid not in _TEXTS:
            return None
        escaped = f"replace(replace(replace({col}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"
        return f"translate({escaped}, {_unicode_literal(_NOT_XML)}, '{'?' * len(_NOT_XML)}')"
    if dt in ("double", "float") and oid in _FLOATS:
        # A real as its own shortest text (psycopg reads that text, Python repeats it).
        return _td_float(col if oid == 700 else f"CAST({col} AS double precision)")
    if dt == "boolean" and oid == 16:
        return f"(CASE WHEN {col} THEN 'T' WHEN NOT {col} THEN 'F' END)"
    if dt in INT_NULLS and oid in _INTEGERS:
        return f"CAST({col} AS text)"
    return None


def tabledata_rows_query(inner: str, specs: Sequence[FieldSpec],
                         oids: Sequence[int | None]) -> str | None:
    """The ``<TR>`` element (with its line break) of each row of the query ``inner``, in its
    order, as text parts, or None when a column is not encoded in SQL.

    A row comes back as 2k + 1 parts when the query has k MOC or float array columns:
    TABLEDATA text, a MOC's [lo, hi) pairs as array text (or "A" and a float array's text),
    TABLEDATA text...; :func:`tabledata_row` joins them. MOCs and float arrays are written in
    Python, once each (an ASCII MOC 2.0 written in SQL cost ~5 ms a MOC, measured for issue
    12; a cross join repeats a few hundred MOCs and region polygons thousands of times, and
    every float of a polygon made a Python float then its repr when the rows went through
    the Python writers). NULL is written as the Python writers write it: empty, or the
    integer's null value of the FIELD.
    """
    parts: list[str] = []
    cells: list[str] = []
    for i, (spec, oid) in enumerate(zip(specs, oids, strict=True)):
        col = f"q.c{i}"
        if spec.xtype == "moc" and oid == _RANGE_PAIRS:
            parts += [_td_concat(cells), f"CAST({col} AS text)"]
            cells = []
            continue
        if oid in _FLOAT_ARRAYS and spec.datatype in ("double", "float") \
                and spec.arraysize not in (None, "1"):
            null = _array_null(spec.arraysize).replace("'", "''")
            parts += [_td_concat(cells), f"'A' || COALESCE(CAST({col} AS text), '{null}')"]
            cells = []
            continue
        value = _td_value(col, spec, oid)
        if value is None:
            return None
        null = str(INT_NULLS[spec.datatype]) if spec.datatype in INT_NULLS else ""
        cells.append(f"'<TD>' || COALESCE({value}, '{null}') || '</TD>'")
    parts.append(_td_concat(cells))
    parts[0] = f"'<TR>' || {parts[0]}"
    parts[-1] = f"{parts[-1]} || '</TR>' || E'\\n'"
    return _per_row(inner, len(specs), ", ".join(parts))


def _td_concat(cells: list[str]) -> str:
    return " || ".join(cells) if cells else "''"


@functools.lru_cache(maxsize=MOC_CACHE)
def _moc_cell(pairs: str | None) -> str:
    """``<TD>`` of a MOC given as PostgreSQL array text of its [lo, hi) pairs."""
    if pairs is None:
        return "<TD></TD>"
    bounds = [int(x) for x in pairs.replace("{", "").replace("}", "").split(",")]
    text = ascii_moc([bounds[k:k + 2] for k in range(0, len(bounds), 2)])
    return f"<TD>{text or ''}</TD>"


def _array_null(arraysize: str | None) -> str:
    """What the Python writers write for a NULL float array (``rows._td_cell``)."""
    size = arraysize or "*"
    return " ".join(["NaN"] * int(size)) if size.isdigit() else ""


@functools.lru_cache(maxsize=ARRAY_CACHE)
def _array_cell(part: str) -> str:
    """``<TD>`` of a float array given as "A" and PostgreSQL array text (or "A" and the
    NULL text): each element as ``rows._td_float`` writes the float psycopg reads from
    the same text, a NULL element as NaN."""
    body = part[1:]
    if "{" not in body:  # a NULL array
        return f"<TD>{body}</TD>"
    items = body[body.index("{"):].replace("{", "").replace("}", "")
    text = " ".join("NaN" if x == "NULL" else _td_float_text(x)
                    for x in items.split(",")) if items else ""
    return f"<TD>{text}</TD>"


def _td_float_text(x: str) -> str:
    v = float(x)
    if math.isfinite(v):
        return repr(v)
    return "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")


def tabledata_row(parts: Sequence[str | None]) -> str:
    """A ``<TR>`` element from the parts of :func:`tabledata_rows_query`."""
    if len(parts) == 1:
        return parts[0] or ""
    out = [parts[0] or ""]
    for k in range(1, len(parts), 2):
        part = parts[k]
        cell = _array_cell(part) if part is not None and part[:1] == "A" else _moc_cell(part)
        out += [cell, parts[k + 1] or ""]
    return "".join(out)


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
