"""Query results and errors as VOTable 1.4 (TABLEDATA, BINARY2), CSV and TSV.

The documents are written here directly, not through ``astropy.io.votable``'s object tree:
building that tree and running its writer cost ~2.5 ms per answer even for 0–2 rows
(profiled for issue 5), several times the query itself, and its BINARY2 writer converts
row by row in Python. The head of a result (VOTABLE, RESOURCE, the FIELDs) depends only on
the column set, so it is built once per column set and cached; rows are then appended as
TABLEDATA cells or as one base64 BINARY2 stream. astropy remains the reader: the tests parse
every kind of document written here with ``astropy.io.votable`` and validate it against the
VOTable 1.4 XSD (``tests/vo/test_votable.py``).
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import math
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vo.adql.geometry import ascii_moc
from vo.adql.translate import OutputColumn
from vo.tables import ColumnInfo

#: PostgreSQL type OID → VOTable (datatype, arraysize, xtype) for columns without metadata.
PG_TYPES: dict[int, tuple[str, str | None, str | None]] = {
    16: ("boolean", None, None), 20: ("long", None, None), 21: ("short", None, None),
    23: ("int", None, None), 700: ("float", None, None), 701: ("double", None, None),
    1700: ("double", None, None), 25: ("char", "*", None), 1043: ("char", "*", None),
    1042: ("char", "*", None), 19: ("char", "*", None), 18: ("char", "1", None),
    705: ("char", "*", None), 1114: ("char", "*", "timestamp"),
    1184: ("char", "*", "timestamp"), 1082: ("char", "*", None),
    1022: ("double", "*", None), 1016: ("long", "*", None), 1007: ("int", "*", None),
}

_GEOMETRY = {"point": ("double", "2", "point"), "circle": ("double", "3", "circle"),
             "polygon": ("double", "*", "polygon"), "moc": ("char", "*", "moc")}

#: Output formats: RESPONSEFORMAT value → (internal name, media type).
FORMATS = {
    "votable": ("binary2", "application/x-votable+xml"),
    "application/x-votable+xml": ("binary2", "application/x-votable+xml"),
    "text/xml": ("binary2", "text/xml"),
    "votable/b2": ("binary2", "application/x-votable+xml;serialization=binary2"),
    "application/x-votable+xml;serialization=binary2":
        ("binary2", "application/x-votable+xml;serialization=binary2"),
    "votable/td": ("tabledata", "application/x-votable+xml;serialization=tabledata"),
    "application/x-votable+xml;serialization=tabledata":
        ("tabledata", "application/x-votable+xml;serialization=tabledata"),
    "csv": ("csv", "text/csv;header=present"),
    "text/csv": ("csv", "text/csv;header=present"),
    "text/csv;header=present": ("csv", "text/csv;header=present"),
    "tsv": ("tsv", "text/tab-separated-values"),
    "text/tab-separated-values": ("tsv", "text/tab-separated-values"),
}

#: Start of every document: VOTable 1.4 keeps the 1.3 namespace (VOTable 1.4, section 1.1).
_PROLOGUE = ('<?xml version="1.0" encoding="utf-8"?>\n'
             '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xsi:schemaLocation="http://www.ivoa.net/xml/VOTable/v1.3 '
             'http://www.ivoa.net/xml/VOTable/VOTable-1.4.xsd">\n')

#: VOTable datatypes of text (char is ASCII; unicodeChar is UCS-2, kept for uploaded text).
_TEXT = ("char", "unicodeChar")

#: Null values of the integer types in TABLEDATA (declared in the FIELD's VALUES).
INT_NULLS = {"short": -32768, "int": -2147483648, "long": -9223372036854775808,
             "unsignedByte": 255}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What one output column is, in VOTable terms."""

    name: str
    datatype: str
    arraysize: str | None = None
    xtype: str | None = None
    unit: str | None = None
    ucd: str | None = None
    utype: str | None = None
    description: str | None = None
    id: str | None = None

    @classmethod
    def of(cls, name: str, kind: str, meta: ColumnInfo | None, oid: int | None) -> FieldSpec:
        size: str | None
        xt: str | None
        if kind in _GEOMETRY:
            dt, size, xt = _GEOMETRY[kind]
        elif meta is not None:
            dt, size, xt = meta.datatype, meta.arraysize, meta.xtype
        else:
            dt, size, xt = PG_TYPES.get(oid or 25, ("char", "*", None))
        return cls(name, dt, size, xt, meta.unit if meta else None, meta.ucd if meta else None,
                   meta.utype if meta else None, meta.description if meta else None)


def field_specs(columns: Sequence[OutputColumn], oids: Sequence[int | None]) -> list[FieldSpec]:
    """The FIELD of each output column (its kind and metadata, else its PostgreSQL type)."""
    return [FieldSpec.of(c.name, c.kind, c.meta, oid)
            for c, oid in zip(columns, oids, strict=True)]


def _cell(value: Any, spec: FieldSpec) -> Any:
    if value is None:
        return None
    if spec.xtype == "moc":
        return ascii_moc(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds")
    if spec.datatype in _TEXT and not isinstance(value, str):
        return str(value)
    return value


def convert_rows(rows: Sequence[Sequence[Any]], specs: Sequence[FieldSpec]) -> list[list[Any]]:
    """Python values ready for output: timestamps as ISO strings, MOCs as ASCII MOC 2.0."""
    return [[_cell(v, s) for v, s in zip(row, specs, strict=True)] for row in rows]


# ----------------------------------------------------------------------------- XML text
#: Characters XML 1.0 does not allow at all (C0 controls but tab, LF, CR; lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` as XML character data (escaped; characters XML cannot carry become '?')."""
    if _TEXT_SPECIAL.search(value) is None:
        return value
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _NOT_XML.sub("?", value)


def xml_attr(value: str) -> str:
    """``value`` as a double-quoted XML attribute value."""
    value = xml_text(value).replace('"', "&quot;")
    # Whitespace in attributes is normalised by XML parsers: keep it as character references.
    return value.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def _info(name: str, value: str, content: str | None = None) -> str:
    head = f'<INFO name="{xml_attr(name)}" value="{xml_attr(value)}"'
    return f"{head}>{xml_text(content)}</INFO>" if content is not None else f"{head}/>"


def _field(spec: FieldSpec, index: int, serialization: str) -> str:
    attrs = [("ID", spec.id or f"col{index}"), ("name", spec.name),
             ("datatype", spec.datatype), ("arraysize", spec.arraysize),
             ("xtype", spec.xtype), ("unit", spec.unit), ("ucd", spec.ucd),
             ("utype", spec.utype)]
    head = "<FIELD " + " ".join(f'{k}="{xml_attr(v)}"' for k, v in attrs if v)
    inner = ""
    if spec.description:
        inner += f"<DESCRIPTION>{xml_text(spec.description)}</DESCRIPTION>"
    if serialization == "tabledata" and spec.datatype in INT_NULLS and _scalar(spec):
        inner += f'<VALUES null="{INT_NULLS[spec.datatype]}"/>'
    return f"{head}>{inner}</FIELD>" if inner else f"{head}/>"


def _scalar(spec: FieldSpec) -> bool:
    return spec.arraysize in (None, "1") or spec.datatype in _TEXT


@functools.lru_cache(maxsize=512)
def _table_head(specs: tuple[FieldSpec, ...], serialization: str) -> str:
    """``<TABLE>`` up to ``<DATA>`` for one column set (cached: the same queries come back)."""
    fields = "\n".join(_field(s, i, serialization) for i, s in enumerate(specs))
    return f'<TABLE name="result">\n{fields}\n<DATA>'


def document(resources: str) -> bytes:
    """A VOTable 1.4 document around ready-made RESOURCE elements."""
    return (_PROLOGUE + resources + "</VOTABLE>\n").encode("utf-8")


def votable(specs: Sequence[FieldSpec], rows: Sequence[Sequence[Any]], *, serialization: str,
            overflow: bool = False, infos: Sequence[tuple[str, str]] = (),
            extra_resources: Sequence[str] = ()) -> bytes:
    """A VOTable 1.4 with one results table (QUERY_STATUS OK, then OVERFLOW if cut).

    ``rows`` hold output values (:func:`convert_rows`); ``extra_resources`` are RESOURCE
    elements as XML text (the DataLink service descriptor).
    """
    return votable_with_data(specs, encode_rows(specs, rows, serialization),
                             serialization=serialization, overflow=overflow, infos=infos,
                             extra_resources=extra_resources)


def votable_with_data(specs: Sequence[FieldSpec], data: str | bytes, *, serialization: str,
                      overflow: bool = False, infos: Sequence[tuple[str, str]] = (),
                      extra_resources: Sequence[str] = ()) -> bytes:
    """A VOTable 1.4 whose data are given: TABLEDATA rows (``<TR>`` text) or the raw bytes
    of a BINARY2 stream (base64-encoded here)."""
    if serialization == "binary2":
        assert isinstance(data, bytes)
        # One base64 line: line breaks are optional in a STREAM, and inserting them
        # (base64.encodebytes) took longer than the encoding itself for large answers.
        body = base64.b64encode(data)
    else:
        assert isinstance(data, str)
        body = data.encode()
    return (votable_head(specs, serialization, infos) + body
            + votable_tail(serialization, overflow=overflow, extra_resources=extra_resources))


def votable_head(specs: Sequence[FieldSpec], serialization: str,
                 infos: Sequence[tuple[str, str]] = ()) -> bytes:
    """A results document up to its first row: QUERY_STATUS OK, ``infos``, the FIELDs, and
    the opening of TABLEDATA or of the base64 BINARY2 STREAM."""
    head = [_PROLOGUE, '<RESOURCE type="results">\n', _info("QUERY_STATUS", "OK"), "\n"]
    head += [_info(name, value) + "\n" for name, value in infos]
    head.append(_table_head(tuple(specs), serialization))
    head.append('<BINARY2><STREAM encoding="base64">' if serialization == "binary2"
                else "<TABLEDATA>\n")
    return "".join(head).encode()


def votable_tail(serialization: str, *, overflow: bool = False, error: str | None = None,
                 extra_resources: Sequence[str] = ()) -> bytes:
    """The end of a results document after its last row: QUERY_STATUS OVERFLOW when MAXREC
    cut the answer, QUERY_STATUS ERROR with ``error`` when writing it failed part way
    (DALI 1.1, section 4.4.1: a trailing INFO; clients read the last QUERY_STATUS)."""
    tail = ["</STREAM></BINARY2>" if serialization == "binary2" else "</TABLEDATA>",
            "</DATA>\n</TABLE>\n"]
    if overflow:
        tail.append(_info("QUERY_STATUS", "OVERFLOW") + "\n")
    if error is not None:
        tail.append(_info("QUERY_STATUS", "ERROR", error) + "\n")
    tail.append("</RESOURCE>\n")
    tail += extra_resources
    tail.append("</VOTABLE>\n")
    return "".join(tail).encode()


class Base64Stream:
    """Base64 of a byte stream given in pieces: each piece's complete 3-byte groups are
    encoded at once, the rest waits for the next piece (one base64 line in all)."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self._rest + data
        cut = len(data) - len(data) % 3
        self._rest = data[cut:]
        return base64.b64encode(data[:cut])

    def end(self) -> bytes:
        rest, self._rest = self._rest, b""
        return base64.b64encode(rest)


def error_votable(message: str, code: str | None = None) -> bytes:
    """DALI error document: a results RESOURCE with INFO QUERY_STATUS=ERROR (the message as
    its content), then the machine-readable ``code`` of the error as INFO name="code"."""
    coded = _info("code", code) + "\n" if code else ""
    return document('<RESOURCE type="results">\n' + _info("QUERY_STATUS", "ERROR", message)
                    + "\n" + coded + "</RESOURCE>\n")


# ----------------------------------------------------------------------------- TABLEDATA
def _td_float(v: Any) -> str:
    x = float(v)
    if math.isfinite(x):
        return repr(x)
    return "NaN" if math.isnan(x) else ("+Inf" if x > 0 else "-Inf")


def _td_cell(spec: FieldSpec) -> tuple[Callable[[Any], str], str]:
    """(text of a value, text of NULL) of one column in TABLEDATA."""
    dt = spec.datatype
    if dt in _TEXT:
        return (lambda v: xml_text(v if isinstance(v, str) else str(v))), ""
    if not _scalar(spec):
        floats = dt in ("double", "float")
        num = _td_float if floats else (lambda v: str(int(v)))
        gap = "NaN" if floats else str(INT_NULLS.get(dt, 0))
        size = spec.arraysize or "*"
        null = " ".join([gap] * int(size)) if size.isdigit() else ""
        return (lambda v: " ".join(gap if x is None else num(x) for x in v)), null
    if dt in ("double", "float"):
        return _td_float, ""
    if dt == "boolean":
        return (lambda v: "T" if v else "F"), ""
    return (lambda v: str(int(v))), str(INT_NULLS.get(dt, ""))


@functools.lru_cache(maxsize=512)
def _td_writers(specs: tuple[FieldSpec, ...]) -> tuple[tuple[Callable[[Any], str], str], ...]:
    return tuple(_td_cell(s) for s in specs)


def tabledata_rows(specs: Sequence[FieldSpec], rows: Sequence[Sequence[Any]]) -> str:
    """The ``<TR>`` elements of ``rows``."""
    cells = _td_writers(tuple(specs))
    out = []
    for row in rows:
        out.append("<TR>" + "".join(
            f"<TD>{null if v is None else text(v)}</TD>"
            for v, (text, null) in zip(row, cells, strict=True)) + "</TR>\n")
    return "".join(out)


# ------------------------------------------------------------------------------- BINARY2
_PACK = {"double": "d", "float": "f", "long": "q", "int": "i", "short": "h",
         "unsignedByte": "B"}
_LENGTH = struct.Struct(">I")


def _b2_cell(spec: FieldSpec) -> tuple[Callable[[Any], bytes], bytes]:
    """(bytes of a value, bytes of NULL) of one column in a BINARY2 stream (VOTable 1.4,
    section 5.4: big-endian; variable-length arrays prefixed by their length)."""
    dt, size = spec.datatype, spec.arraysize
    if dt == "unicodeChar":  # UCS-2: the length counts 16-bit units
        if size is not None and size.isdigit():
            n = 2 * int(size)
            return (lambda v: str(v).encode("utf-16-be")[:n].ljust(n, b"\0")), b"\0" * n
        return (lambda v: _LENGTH.pack(len(b := str(v).encode("utf-16-be")) // 2) + b), \
            _LENGTH.pack(0)
    if dt == "char":
        if size in (None, "1"):
            return (lambda v: (str(v).encode("utf-8") + b"\0")[:1]), b"\0"
        if size.isdigit():  # fixed length: NUL-padded
            n = int(size)
            return (lambda v: str(v).encode("utf-8")[:n].ljust(n, b"\0")), b"\0" * n
        return (lambda v: _LENGTH.pack(len(b := str(v).encode("utf-8"))) + b), _LENGTH.pack(0)
    if dt == "boolean":
        return (lambda v: b"T" if v else b"F"), b"?"
    code = _PACK[dt]
    one = struct.Struct(">" + code)
    floats = dt in ("double", "float")
    gap: float | int = math.nan if floats else INT_NULLS.get(dt, 0)
    num: Callable[[Any], float | int] = float if floats else int
    if _scalar(spec):
        return (lambda v: one.pack(num(v))), one.pack(gap)

    def values(v: Any) -> list[float | int]:
        return [gap if x is None else num(x) for x in v]

    if size is not None and size.isdigit():
        k = int(size)
        many = struct.Struct(f">{k}{code}")
        return (lambda v: many.pack(*values(v))), one.pack(gap) * k
    return (lambda v: _LENGTH.pack(len(v)) + struct.pack(f">{len(v)}{code}", *values(v))), \
        _LENGTH.pack(0)


@functools.lru_cache(maxsize=512)
def _b2_writers(specs: tuple[FieldSpec, ...]) -> tuple[tuple[Callable[[Any], bytes], bytes],
                                                       ...]:
    return tuple(_b2_cell(s) for s in specs)


def binary2_rows(specs: Sequence[FieldSpec], rows: Sequence[Sequence[Any]]) -> bytes:
    """The BINARY2 stream of ``rows`` (before base64): per row a null bitmap, then cells."""
    cells = _b2_writers(tuple(specs))
    nbytes = (len(cells) + 7) // 8
    out = []
    for row in rows:
        mask = 0
        parts = []
        for v, (pack, null) in zip(row, cells, strict=True):
            mask <<= 1
            if v is None:
                mask |= 1
                parts.append(null)
            else:
                parts.append(pack(v))
        # Field i is bit 7 - i % 8 of byte i // 8 (most significant bit first).
        out.append((mask << (8 * nbytes - len(cells))).to_bytes(nbytes, "big"))
        out += parts
    return b"".join(out)


def encode_rows(specs: Sequence[FieldSpec], rows: Sequence[Sequence[Any]],
                serialization: str) -> str | bytes:
    if serialization == "binary2":
        return binary2_rows(specs, rows)
    return tabledata_rows(specs, rows)


# --------------------------------------------------------------------------- CSV and TSV
def delimited(specs: Sequence[FieldSpec], rows: Sequence[Sequence[Any]], sep: str) -> bytes:
    """CSV (RFC 4180, header line) or TSV."""
    return delimited_header(specs, sep) + delimited_rows(rows, sep)


def delimited_header(specs: Sequence[FieldSpec], sep: str) -> bytes:
    """The header line of CSV (``sep`` ",") or TSV: the column names."""
    return delimited_rows([[s.name for s in specs]], sep)


def delimited_rows(rows: Sequence[Sequence[Any]], sep: str) -> bytes:
    """Lines of CSV (RFC 4180; ``sep`` ",") or TSV, no header."""
    out = io.StringIO()
    if sep == ",":
        w = csv.writer(out, lineterminator="\r\n")
        for r in rows:
            w.writerow(["" if v is None else _flat(v) for v in r])
    else:
        for r in rows:
            out.write("\t".join("" if v is None else str(_flat(v)).replace("\t", " ")
                                for v in r) + "\n")
    return out.getvalue().encode("utf-8")


def _flat(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return " ".join(str(x) for x in v)
    return v
