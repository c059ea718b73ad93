"""Query results as CSV (RFC 4180, with a header line) or TSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from vo.formats.fields import FieldSpec


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
