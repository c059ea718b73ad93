"""The rows of a VOTable result: TABLEDATA cells, or the BINARY2 stream (before base64).

Each column's writer is chosen once per column set (cached), then applied cell by cell;
see :mod:`vo.formats.votable` for why the documents are written here and not by astropy.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from vo.formats.fields import INT_NULLS, TEXT_TYPES, FieldSpec, is_scalar, xml_text


def _td_float(v: Any) -> str:
    x = float(v)
    if math.isfinite(x):
        return repr(x)
    return "NaN" if math.isnan(x) else ("+Inf" if x > 0 else "-Inf")


def _td_cell(spec: FieldSpec) -> tuple[Callable[[Any], str], str]:
    """(text of a value, text of NULL) of one column in TABLEDATA."""
    dt = spec.datatype
    if dt in TEXT_TYPES:
        return (lambda v: xml_text(v if isinstance(v, str) else str(v))), ""
    if not is_scalar(spec):
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
    if is_scalar(spec):
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
    """``rows`` as BINARY2 bytes (``serialization`` "binary2") or TABLEDATA ``<TR>`` text."""
    if serialization == "binary2":
        return binary2_rows(specs, rows)
    return tabledata_rows(specs, rows)
