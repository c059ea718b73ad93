"""What each output column is in VOTable terms (:class:`FieldSpec`), values ready for the
writers, and text escaped for XML.

Shared by the VOTable documents (:mod:`vo.formats.votable`), their rows
(:mod:`vo.formats.rows`) and CSV/TSV (:mod:`vo.formats.delimited`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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

#: VOTable datatypes of text (char is ASCII; unicodeChar is UCS-2, kept for uploaded text).
TEXT_TYPES = ("char", "unicodeChar")

#: Null values of the integer types in TABLEDATA (declared in the FIELD's VALUES).
INT_NULLS = {"short": -32768, "int": -2147483648, "long": -9223372036854775808,
             "unsignedByte": 255}



#: The coordinate and time systems of results (VOTable 1.4, 6.1 and 6.2), by ID: positions
#: are ICRS; times are UTC at the detector, as ISO timestamps or as MJD. A document declares
#: those its FIELDs refer to (votlint warns of one never referred to).
SYSTEMS = {"icrs": '<COOSYS ID="icrs" system="ICRS"/>\n',
           "utc": '<TIMESYS ID="utc" timescale="UTC" refposition="TOPOCENTER"/>\n',
           "utc_mjd": '<TIMESYS ID="utc_mjd" timeorigin="MJD-origin" timescale="UTC" '
                      'refposition="TOPOCENTER"/>\n'}


def systems(specs: tuple[FieldSpec, ...]) -> str:
    """The COOSYS and TIMESYS elements the FIELDs ``specs`` refer to."""
    used = {s.ref for s in specs}
    return "".join(text for key, text in SYSTEMS.items() if key in used)


def system_of(kind: str, meta: ColumnInfo | None) -> str | None:
    """The ID in :data:`SYSTEMS` a column's values refer to, or None."""
    if kind in _GEOMETRY:
        return "icrs"
    if meta is None:
        return None
    ucd = (meta.ucd or "").split(";")[0]
    if ucd in ("pos.eq.ra", "pos.eq.dec"):
        return "icrs"
    if meta.xtype == "timestamp":
        return "utc"
    if ucd == "time.epoch" and meta.unit == "d":
        return "utc_mjd"
    return None


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
    ref: str | None = None  # the COOSYS or TIMESYS of its values (:data:`SYSTEMS`)

    @classmethod
    def of(cls, name: str, kind: str, meta: ColumnInfo | None, oid: int | None) -> FieldSpec:
        """The FIELD of one column: geometry kinds first, then the column's metadata,
        else its PostgreSQL type (``oid``)."""
        size: str | None
        xt: str | None
        if kind in _GEOMETRY:
            dt, size, xt = _GEOMETRY[kind]
        elif meta is not None:
            dt, size, xt = meta.datatype, meta.arraysize, meta.xtype
        else:
            dt, size, xt = PG_TYPES.get(oid or 25, ("char", "*", None))
        return cls(name, dt, size, xt, meta.unit if meta else None, meta.ucd if meta else None,
                   meta.utype if meta else None, meta.description if meta else None,
                   ref=system_of(kind, meta))


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
    if spec.datatype in TEXT_TYPES and not isinstance(value, str):
        return str(value)
    return value


def convert_rows(rows: Sequence[Sequence[Any]], specs: Sequence[FieldSpec]) -> list[list[Any]]:
    """Python values ready for output: timestamps as ISO strings, MOCs as ASCII MOC 2.0."""
    return [[_cell(v, s) for v, s in zip(row, specs, strict=True)] for row in rows]


#: Characters XML 1.0 does not allow at all (C0 controls but tab, LF, CR; lone surrogates).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
TEXT_TYPES_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` as XML character data (escaped; characters XML cannot carry become '?')."""
    if TEXT_TYPES_SPECIAL.search(value) is None:
        return value
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _NOT_XML.sub("?", value)


def xml_attr(value: str) -> str:
    """``value`` as a double-quoted XML attribute value."""
    value = xml_text(value).replace('"', "&quot;")
    # Whitespace in attributes is normalised by XML parsers: keep it as character references.
    return value.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")



def is_scalar(spec: FieldSpec) -> bool:
    """Whether a column holds one value a row (text counts as one, whatever its length)."""
    return spec.arraysize in (None, "1") or spec.datatype in TEXT_TYPES
