"""Query results and errors as VOTable 1.4 (astropy.io.votable), CSV and TSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from astropy.io.votable.tree import Field, Info, Resource, TableElement, VOTableFile

from vo.adql.geometry import ascii_moc
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


def _cell(value: Any, spec: FieldSpec) -> Any:
    if value is None:
        return None
    if spec.xtype == "moc":
        return ascii_moc(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds")
    if spec.datatype == "char" and not isinstance(value, str):
        return str(value)
    return value


def convert_rows(rows: Sequence[Sequence[Any]], specs: Sequence[FieldSpec]) -> list[list[Any]]:
    """Python values ready for output: timestamps as ISO strings, MOCs as ASCII MOC 2.0."""
    return [[_cell(v, s) for v, s in zip(row, specs, strict=True)] for row in rows]


def _null_of(dt: str) -> Any:
    return {"short": -32768, "int": -2147483648, "long": -9223372036854775808,
            "unsignedByte": 255}.get(dt)


def votable(specs: Sequence[FieldSpec], rows: list[list[Any]], *, serialization: str,
            overflow: bool = False, infos: Sequence[tuple[str, str]] = (),
            extra_resources: Sequence[Resource] = (),
            build: Any = None) -> bytes:
    """A VOTable 1.4 with one results table (QUERY_STATUS OK, then OVERFLOW if cut)."""
    vot = VOTableFile(version="1.4")
    res = Resource(type="results")
    vot.resources.append(res)
    res.infos.append(Info(name="QUERY_STATUS", value="OK"))
    for name, value in infos:
        res.infos.append(Info(name=name, value=value))
    table = TableElement(vot, name="result")
    res.tables.append(table)
    for i, s in enumerate(specs):
        f = Field(vot, name=s.name, ID=s.id or f"col{i}", datatype=s.datatype,
                  arraysize=s.arraysize, xtype=s.xtype, unit=s.unit, ucd=s.ucd, utype=s.utype)
        if s.description:
            f.description = s.description
        nullv = _null_of(s.datatype)
        if nullv is not None and serialization == "tabledata":
            f.values.null = nullv
        table.fields.append(f)
    if build is not None:
        build(vot, res, table)
    table.create_arrays(len(rows))
    arr = table.array
    for j, s in enumerate(specs):
        col = [r[j] for r in rows]
        mask = np.array([v is None for v in col], dtype=bool)
        filled: Any
        if s.arraysize and s.arraysize.isdigit() and s.datatype != "char":
            k = int(s.arraysize)
            filled = np.array([v if v is not None else [np.nan] * k for v in col],
                              dtype=float).reshape(len(col), k)
        elif s.arraysize not in (None, "1") and s.datatype != "char":
            filled = np.empty(len(col), dtype=object)
            for k, v in enumerate(col):
                filled[k] = np.asarray(v if v is not None else [], dtype=float)
        elif s.datatype == "char":
            filled = np.array([v if v is not None else "" for v in col], dtype=object)
        elif s.datatype in ("double", "float"):
            filled = np.array([np.nan if v is None else v for v in col], dtype=float)
        elif s.datatype == "boolean":
            filled = np.array([bool(v) if v is not None else False for v in col], dtype=bool)
        else:
            filled = np.array([0 if v is None else v for v in col], dtype=np.int64)
        if len(col):
            arr[s.name] = filled
            arr.mask[s.name] = mask
    for r in extra_resources:
        vot.resources.append(r)
    table.format = serialization
    out = io.BytesIO()
    vot.to_xml(out, tabledata_format=serialization)
    body = out.getvalue()
    if overflow:
        body = body.replace(b"</TABLE>", b"</TABLE>\n  <INFO name=\"QUERY_STATUS\" "
                            b"value=\"OVERFLOW\"/>", 1)
    return body


def error_votable(message: str) -> bytes:
    """DALI error document: a results RESOURCE with INFO QUERY_STATUS=ERROR."""
    vot = VOTableFile(version="1.4")
    res = Resource(type="results")
    info = Info(name="QUERY_STATUS", value="ERROR")
    info.content = message
    res.infos.append(info)
    vot.resources.append(res)
    out = io.BytesIO()
    vot.to_xml(out)
    return out.getvalue()


def delimited(specs: Sequence[FieldSpec], rows: list[list[Any]], sep: str) -> bytes:
    """CSV (RFC 4180, header line) or TSV."""
    out = io.StringIO()
    if sep == ",":
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow([s.name for s in specs])
        for r in rows:
            w.writerow(["" if v is None else _flat(v) for v in r])
    else:
        out.write("\t".join(s.name for s in specs) + "\n")
        for r in rows:
            out.write("\t".join("" if v is None else str(_flat(v)).replace("\t", " ")
                                for v in r) + "\n")
    return out.getvalue().encode("utf-8")


def _flat(v: Any) -> Any:
    if isinstance(v, list | tuple | np.ndarray):
        return " ".join(str(x) for x in v)
    return v
