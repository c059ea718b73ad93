"""Notice importers: source documents in, :class:`~catalog.notices.parsed.NoticeRecord` lists out.

Pure functions, no database: ``catalog/storage/events.py`` stores what they return.

=====================  ==========================  ===========================================
format                 module                      detected by
=====================  ==========================  ===========================================
GCN VOEvent 2.0 XML    :mod:`.voevent`             first non-blank character ``<``
GCN Kafka JSON         :mod:`.gcn_json`            first non-blank character ``{``
IceCat-1 CSV           :mod:`.icecat`              header ``NAME,RUNID,EVENTID,START,...``
GCN AMON text table    :mod:`.amon`                ``#`` header mentioning AMON and RA
GCN circulars index    :mod:`.circulars`           header ``Circular ID,Subject,Date``
=====================  ==========================  ===========================================

Examples
--------
>>> from catalog.importers import parse_document, sample_paths
>>> path = next(p for p in sample_paths() if p.name == "IceCube_134191_017593623_1.xml")
>>> record, = parse_document(path.read_bytes())
>>> record.name, record.run_id, record.kind.value, record.ra, record.dec
(None, 134191, 'update', 142.9499, 3.66)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from importlib.resources import files
from pathlib import Path

from catalog.errors import InvalidInput, UnsupportedFormat
from catalog.importers import circulars
from catalog.importers._common import ParseReport, RejectedRow, decode_utf8
from catalog.importers.amon import looks_like_amon, read_amon_table
from catalog.importers.gcn_json import parse_gcn_json
from catalog.importers.icecat import HEADER_START, read_icecat_csv
from catalog.importers.voevent import parse_voevent
from catalog.notices.parsed import NameClaim, NoticeRecord

__all__ = [
    "KNOWN_SUFFIXES",
    "NameClaim",
    "ParseReport",
    "RejectedRow",
    "iter_paths",
    "parse_document",
    "parse_document_report",
    "sample_paths",
]

log = logging.getLogger(__name__)

KNOWN_SUFFIXES = frozenset({".xml", ".json", ".csv", ".txt"})
"""File name endings :func:`iter_paths` picks up in folders."""

_XML_TYPES = ("xml", "voevent")


def parse_document_report(
    data: bytes, *, filename: str | None = None, media_type: str | None = None
) -> ParseReport:
    """Detect the format of ``data``, parse it, and say which table rows were left out.

    Parameters
    ----------
    data
        The document as bytes (UTF-8).
    filename, media_type
        Hints only, used in messages and when the content alone is ambiguous; the content
        decides.

    Returns
    -------
    ParseReport
        The records, and the rows of a table that could not be imported, with reasons.

    Raises
    ------
    InvalidInput
        Bad UTF-8, malformed or unsafe XML/JSON, a broken notice (subclasses say more:
        :class:`~catalog.errors.NotANeutrinoAlert`, :class:`~catalog.errors.InconsistentNotice`).
    UnsupportedFormat
        Content none of the importers recognises.
    """
    text = decode_utf8(data)
    head = text.lstrip()[:1]
    hint = (media_type or "").lower()
    if head == "<" or any(t in hint for t in _XML_TYPES):
        return ParseReport(records=parse_voevent(data))
    if head in ("{", "[") or "json" in hint:
        return ParseReport(records=parse_gcn_json(data))
    if text.lstrip().startswith(HEADER_START):
        return read_icecat_csv(text)
    if looks_like_amon(text):
        return read_amon_table(text)
    if text.lstrip().startswith(circulars.HEADER_START):
        return circulars.read_circulars_index(text)
    raise UnsupportedFormat(
        f"{filename or 'document'}: not a GCN VOEvent, GCN JSON notice, IceCat-1 CSV or GCN "
        "AMON table"
    )


def parse_document(
    data: bytes, *, filename: str | None = None, media_type: str | None = None
) -> list[NoticeRecord]:
    """Detect the format of ``data`` and parse it into notice records.

    Rows of a table that cannot be imported are logged (``WARNING``) and left out; use
    :func:`parse_document_report` to get them. See that function for the parameters and
    errors.
    """
    report = parse_document_report(data, filename=filename, media_type=media_type)
    for row in report.rejected:
        log.warning("%s line %d left out: %s", filename or "document", row.line, row.reason)
    return report.records


def iter_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Yield the files named in ``paths``, expanding folders.

    Folders are walked recursively in sorted order and give only files with a known suffix
    (:data:`KNOWN_SUFFIXES`); files named directly are yielded whatever their suffix.

    Raises
    ------
    InvalidInput
        A path that does not exist.
    """
    for item in paths:
        path = Path(item)
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in KNOWN_SUFFIXES
            )
        elif path.is_file():
            yield path
        else:
            raise InvalidInput(f"no such file or folder: {path}")


def sample_paths() -> list[Path]:
    """The bundled sample notices and catalogs (package ``catalog.sample``), sorted by name."""
    root = files("catalog.sample")
    return sorted(
        Path(str(entry))
        for entry in root.iterdir()
        if entry.is_file() and Path(entry.name).suffix.lower() in KNOWN_SUFFIXES
    )
