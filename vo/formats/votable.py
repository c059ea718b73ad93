"""Query results and errors as VOTable 1.4 (TABLEDATA, BINARY2): the documents.

The documents are written here directly, not through ``astropy.io.votable``'s object tree:
building that tree and running its writer cost ~2.5 ms per answer even for 0-2 rows
(profiled for issue 5), several times the query itself, and its BINARY2 writer converts
row by row in Python. The head of a result (VOTABLE, RESOURCE, the FIELDs) depends only on
the column set, so it is built once per column set and cached; rows are then appended as
TABLEDATA cells or as one base64 BINARY2 stream. astropy remains the reader: the tests parse
every kind of document written here with ``astropy.io.votable`` and validate it against the
VOTable 1.4 XSD (``tests/vo/test_votable.py``).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from typing import Any

from vo.formats.fields import INT_NULLS, FieldSpec, is_scalar, systems, xml_attr, xml_text
from vo.formats.rows import encode_rows

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

def _info(name: str, value: str, content: str | None = None) -> str:
    head = f'<INFO name="{xml_attr(name)}" value="{xml_attr(value)}"'
    return f"{head}>{xml_text(content)}</INFO>" if content is not None else f"{head}/>"


def _field(spec: FieldSpec, index: int, serialization: str) -> str:
    attrs = [("ID", spec.id or f"col{index}"), ("name", spec.name),
             ("datatype", spec.datatype), ("arraysize", spec.arraysize),
             ("xtype", spec.xtype), ("unit", spec.unit), ("ucd", spec.ucd),
             ("utype", spec.utype), ("ref", spec.ref)]
    head = "<FIELD " + " ".join(f'{k}="{xml_attr(v)}"' for k, v in attrs if v)
    inner = ""
    if spec.description:
        inner += f"<DESCRIPTION>{xml_text(spec.description)}</DESCRIPTION>"
    if serialization == "tabledata" and spec.datatype in INT_NULLS and is_scalar(spec):
        inner += f'<VALUES null="{INT_NULLS[spec.datatype]}"/>'
    return f"{head}>{inner}</FIELD>" if inner else f"{head}/>"



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
    head.append(systems(tuple(specs)))
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
        """Base64 of the complete 3-byte groups so far; the rest is kept for later."""
        data = self._rest + data
        cut = len(data) - len(data) % 3
        self._rest = data[cut:]
        return base64.b64encode(data[:cut])

    def end(self) -> bytes:
        """Base64 of what is left (with padding); the stream is then empty."""
        rest, self._rest = self._rest, b""
        return base64.b64encode(rest)


def error_votable(message: str, code: str | None = None) -> bytes:
    """DALI error document: a results RESOURCE with INFO QUERY_STATUS=ERROR (the message as
    its content), then the machine-readable ``code`` of the error as INFO name="code"."""
    coded = _info("code", code) + "\n" if code else ""
    return document('<RESOURCE type="results">\n' + _info("QUERY_STATUS", "ERROR", message)
                    + "\n" + coded + "</RESOURCE>\n")
