"""PostgreSQL binary COPY data built from numpy columns (the temporary tables of uploads).

The format (PostgreSQL documentation, COPY, "Binary Format"): a signature and two int32
(flags, header-extension length); per row an int16 field count, then per field an int32
length (-1 for NULL) followed by the value in network byte order; an int16 -1 at the end.

Rows are assembled column-wise with numpy, a chunk at a time: every cell is a piece (its
length word, its value bytes), and one gather puts the pieces in row order. 100 k rows of
three numbers take a few milliseconds, where adapting the values row by row (or binding
them as array parameters) took ~0.5-3 s for issue 5's benchmark upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Start of binary COPY data: signature, flags (0), header-extension length (0).
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)

#: End of binary COPY data: a field count of -1.
TRAILER = b"\xff\xff"

#: Rows per chunk: bounds the gather index (8 bytes per output byte) to a few MB.
CHUNK_ROWS = 16_384

#: VOTable datatype → numpy type of the PostgreSQL binary value (network byte order).
_WIRE = {"short": ">i2", "unsignedByte": ">i2", "int": ">i4", "long": ">i8", "float": ">f4",
         "double": ">f8", "boolean": "u1", "timestamp": ">i8"}

#: Array datatypes of uploads → (element wire type, PostgreSQL element type OID).
_ARRAYS = {"double[]": (">f8", 701), "long[]": (">i8", 20)}


@dataclass(frozen=True, slots=True)
class CopyColumn:
    """One column to copy: its VOTable datatype, values, and where they are NULL."""

    datatype: str
    values: NDArray[Any]
    nulls: NDArray[np.bool_]


def _interleave(parts: Sequence[tuple[NDArray[np.uint8], NDArray[np.int64]]]) -> bytes:
    """Row-major interleaving of pieces: row i is piece i of parts[0], piece i of parts[1],
    ... where each part is (its pieces' bytes back to back, the size of each piece)."""
    sizes = np.stack([s for _, s in parts], axis=1)  # (rows, parts)
    starts = np.empty_like(sizes)
    base = 0
    for j, (buf, s) in enumerate(parts):
        starts[:, j] = base + np.cumsum(s) - s
        base += len(buf)
    flat = sizes.ravel()
    dst = np.cumsum(flat) - flat
    idx = np.repeat(starts.ravel() - dst, flat) + np.arange(int(flat.sum()), dtype=np.int64)
    source = np.concatenate([buf for buf, _ in parts])
    return bytes(source[idx])


def _cells(col: CopyColumn, lo: int, hi: int
           ) -> list[tuple[NDArray[np.uint8], NDArray[np.int64]]]:
    """Length words and value bytes of rows [lo, hi) of one column."""
    nulls = col.nulls[lo:hi]
    values = col.values[lo:hi]
    if col.datatype in ("char", "unicodeChar") or col.datatype in _ARRAYS:
        encode = _array_value(col.datatype) if col.datatype in _ARRAYS else _text_value
        data = [b"" if null else encode(v)
                for v, null in zip(values.tolist(), nulls.tolist(), strict=True)]
        lengths = np.fromiter(map(len, data), dtype=np.int64, count=len(data))
        body = np.frombuffer(b"".join(data), dtype=np.uint8)
    else:
        wire = np.dtype(_WIRE[col.datatype])
        cells = np.ascontiguousarray(values[~nulls].astype(wire)).view(np.uint8)
        lengths = np.where(nulls, 0, wire.itemsize).astype(np.int64)
        body = cells.ravel()
    words = np.where(nulls, -1, lengths).astype(">i4").view(np.uint8)
    return [(words, np.full(len(nulls), 4, dtype=np.int64)), (body, lengths)]


def _text_value(value: Any) -> bytes:
    return str(value).encode("utf-8")


def _array_value(datatype: str) -> Callable[[Any], bytes]:
    """The binary form of a one-dimensional PostgreSQL array of ``datatype``'s elements:
    dimensions, flags (has NULLs), element type, then (size, lower bound 1) and each
    element as length and value; a masked element is NULL (length -1). Arrays are rare
    and short in uploads: built value by value."""
    wire, oid = _ARRAYS[datatype]
    size = np.dtype(wire).itemsize

    def encode(value: Any) -> bytes:
        arr = np.ma.asarray(value).ravel()
        mask = np.ma.getmaskarray(arr)
        head = np.array([1, int(mask.any()), oid, len(arr), 1], dtype=">i4").tobytes()
        if not len(arr):
            return np.array([0, 0, oid], dtype=">i4").tobytes()
        cells = [b"\xff\xff\xff\xff" if m else
                 size.to_bytes(4, "big") + np.asarray(v, dtype=wire).tobytes()
                 for v, m in zip(np.ma.getdata(arr).tolist(), mask.tolist(), strict=True)]
        return head + b"".join(cells)

    return encode


def copy_data(columns: Sequence[CopyColumn]) -> Iterator[bytes]:
    """Binary COPY data of ``columns`` (equal lengths), in chunks (header and trailer
    included)."""
    yield SIGNATURE
    n = len(columns[0].values) if columns else 0
    count = np.array([len(columns)], dtype=">i2").view(np.uint8)
    for lo in range(0, n, CHUNK_ROWS):
        hi = min(lo + CHUNK_ROWS, n)
        rows = hi - lo
        parts = [(np.tile(count, rows), np.full(rows, 2, dtype=np.int64))]
        for col in columns:
            parts += _cells(col, lo, hi)
        yield _interleave(parts)
    yield TRAILER
