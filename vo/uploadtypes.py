"""What an uploaded VOTable column becomes in the query's temporary table.

TAP clients upload what VizieR and TOPCAT write: column names that are not ADQL regular
identifiers (``_RAJ2000``, ``B-V``: a query names them as delimited identifiers,
``"B-V"``), and every VOTable datatype. Each field is kept as:

- numbers (short, int, long, unsignedByte, float, double) as PostgreSQL numbers;
- boolean (and bit) as ``smallint`` 1/0: ADQL has no boolean type, so a query compares
  it with a number (``ok = 1``), as DALI-era services answer it; NULL stays NULL;
- char and unicodeChar as text;
- DALI timestamps (char, ``xtype="timestamp"``) as ``timestamp`` (UTC), so they compare
  with the alerts' times and with ISO strings;
- numeric arrays (any ``arraysize``; multidimensional ones flattened) as ``bigint[]`` or
  ``double precision[]``, written back as VOTable arrays;
- and nothing else: complex numbers, arrays of text or booleans are refused with an error
  that names the field and its datatype.

Names: any text a delimited identifier can hold — not empty, no NUL, at most 63 bytes
(PostgreSQL's identifier length), not the hidden index column of positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vo.adql.uploads import UPLOAD_HPX, UPLOAD_ROW
from vo.errors import UploadError

#: Longest column name, in UTF-8 bytes (PostgreSQL truncates identifiers past it).
MAX_NAME_BYTES = 63

#: Microseconds from the Unix epoch to PostgreSQL's (2000-01-01): binary COPY timestamps
#: count from the latter.
_PG_EPOCH_US = 946_684_800_000_000


#: Stored datatype → the VOTable datatype of its metadata, where they differ.
VOTABLE_TYPE = {"timestamp": "char", "double[]": "double", "long[]": "long"}


@dataclass(frozen=True, slots=True)
class Converted:
    """A field as stored: its datatype (a key of ``vo.adql.uploads.PG_TYPE``), values,
    NULL flags, the VOTable arraysize and xtype of its metadata, and a note for its
    description (how the uploaded datatype was kept)."""

    datatype: str
    values: NDArray[Any]
    nulls: NDArray[np.bool_]
    arraysize: str | None = None
    xtype: str | None = None
    note: str = ""


def check_name(table: str, name: str) -> None:
    """Refuse a column name no delimited identifier can hold."""
    if not name or "\x00" in name:
        raise UploadError(f"UPLOAD {table}: a field has an empty name or one with NUL")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise UploadError(f"UPLOAD {table}: field name {name[:20]!r}... is longer than "
                          f"{MAX_NAME_BYTES} bytes")
    if name.lower() in (UPLOAD_HPX, UPLOAD_ROW):
        raise UploadError(f"UPLOAD {table}: field name {name!r} is reserved by the service")


def convert(table: str, field: Any, data: NDArray[Any]) -> Converted:
    """The stored form of one uploaded field (``field``: astropy's FIELD; ``data``: its
    column, masked where NULL)."""
    raw = np.ma.getdata(data)
    nulls = np.ma.getmaskarray(data)
    nulls = nulls.copy() if nulls.ndim == 1 else np.zeros(len(raw), dtype=bool)
    declared = str(field.datatype)
    if declared in ("floatComplex", "doubleComplex") or raw.dtype.kind == "c":
        raise UploadError(f"UPLOAD {table}: field {field.name!r} is {declared}; complex "
                          "numbers cannot be uploaded")
    if raw.ndim > 1 or (raw.dtype.kind == "O" and any(
            isinstance(v, np.ndarray) for v in raw.tolist())):
        return _array(table, field, data)
    kind = raw.dtype.kind
    if kind == "b":
        return Converted("short", raw.astype(np.int16), nulls,
                         note=f" (uploaded as {declared}: 1 true, 0 false)")
    if kind == "f":
        datatype = "float" if raw.dtype.itemsize == 4 else "double"
        values = raw.astype(np.float32 if datatype == "float" else np.float64)
        return Converted(datatype, values, nulls | ~np.isfinite(values))
    if kind in "iu":
        datatype = _int_type(kind, raw.dtype.itemsize)
        return Converted(datatype, raw.astype({"short": np.int16, "int": np.int32}.get(
            datatype, np.int64)), nulls)
    text = np.array([None if m else (v.decode() if isinstance(v, bytes) else str(v))
                     for v, m in zip(raw.tolist(), nulls.tolist(), strict=True)], dtype=object)
    if field.xtype in ("timestamp", "adql:TIMESTAMP"):
        return _timestamps(table, field, text, nulls)
    return Converted("unicodeChar" if declared == "unicodeChar" else "char", text, nulls,
                     arraysize="*")


def _int_type(kind: str, itemsize: int) -> str:
    if kind == "i":
        return {1: "short", 2: "short", 4: "int"}.get(itemsize, "long")
    return {1: "short", 2: "int"}.get(itemsize, "long")


def _timestamps(table: str, field: Any, text: NDArray[Any],
                nulls: NDArray[np.bool_]) -> Converted:
    """DALI timestamps (ISO 8601, UTC, an optional trailing Z) as microseconds."""
    cleaned = [("NaT" if v is None or not v.strip() else v.strip().rstrip("Zz"))
               for v in text.tolist()]
    try:
        stamps = np.array(cleaned, dtype="datetime64[us]")
    except ValueError as exc:
        raise UploadError(f"UPLOAD {table}: field {field.name!r} is a timestamp but holds "
                          f"a value that is not one ({exc})") from None
    nat = np.isnat(stamps)
    micros = stamps.astype(np.int64) - _PG_EPOCH_US
    return Converted("timestamp", np.where(nat, 0, micros), nulls | nat, arraysize="*",
                     xtype="timestamp")


def _array(table: str, field: Any, data: NDArray[Any]) -> Converted:
    """A numeric array field, row by row (lengths may differ), as bigint[] or double[]."""
    rows = [np.ma.asarray(v) if v is not None else None for v in np.ma.getdata(data).tolist()
            ] if np.ma.getdata(data).dtype.kind == "O" else list(data)
    kinds = {np.ma.asarray(r).dtype.kind for r in rows if r is not None}
    if not kinds <= set("iufb") or "b" in kinds or not kinds:
        raise UploadError(f"UPLOAD {table}: field {field.name!r} is an array of "
                          f"{field.datatype}; only arrays of numbers can be uploaded")
    floating = "f" in kinds
    values = np.empty(len(rows), dtype=object)
    nulls = np.zeros(len(rows), dtype=bool)
    for i, r in enumerate(rows):
        if r is None:
            nulls[i] = True
            continue
        values[i] = np.ma.asarray(r).ravel().astype(np.float64 if floating else np.int64)
    datatype = "double[]" if floating else "long[]"
    return Converted(datatype, values, nulls, arraysize="*",
                     note=f" (uploaded as {field.datatype}[{field.arraysize}])")
