"""Catalog services: the rules between the HTTP/CLI handlers and storage."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.errors import InvalidInput, NufairError
from catalog.models import AlertSources, ImportSummary, LeftOut
from catalog.notices.parsed import NameClaim, NoticeRecord
from catalog.storage.events import CatalogStorage

if TYPE_CHECKING:
    from catalog.importers import ParseReport


def _parse(data: bytes, filename: str | None, media_type: str | None) -> ParseReport:
    from catalog.importers import parse_document_report  # parsers load schemas: when used

    return parse_document_report(data, filename=filename, media_type=media_type)


def _identities(records: Iterable[NoticeRecord]) -> set[tuple[str, int, int]]:
    return {(r.observatory, r.run_id, r.event_id) for r in records}


def _strict_refusal(name: str | None, left: list[LeftOut]) -> InvalidInput:
    lines = ", ".join(f"line {r.line}: {r.reason}" for r in left)
    return InvalidInput(f"{name or 'document'}: {len(left)} row(s) cannot be imported and "
                        f"strict mode keeps the file all-or-nothing ({lines})",
                        details={"left_out": [r.model_dump() for r in left]})


def import_document(storage: CatalogStorage, data: bytes, *, filename: str | None = None,
                    media_type: str | None = None, strict: bool = False,
                    report: bool = False) -> ImportSummary:
    """Parse one document (any supported format) and store it in one transaction.

    A table's bad rows are left out and listed in the answer (``left_out``), the good ones
    stored; with ``strict`` a table with any bad row stores nothing. A document that does
    not parse, or one of whose records is refused, stores nothing. With ``report``, the
    answer lists per alert the sources that contributed and every conflict.
    """
    parsed = _parse(data, filename, media_type)
    left = [LeftOut(file=filename, line=r.line, reason=r.reason) for r in parsed.rejected]
    if strict and left:
        raise _strict_refusal(filename, left)
    summary = storage.import_records(parsed.records)
    summary.left_out = left
    if parsed.names:
        naming = storage.assign_names(parsed.names)
        summary.names_assigned = [name for name, _ in naming.assigned]
        summary.left_out += [LeftOut(file=filename, reason=f"name {name} not given: {why}")
                             for name, why in naming.unused]
    if report:
        summary.alerts = storage.reconciliation(_identities(parsed.records))
    return summary


def _read(path: Path, strict: bool, report: ImportReport, claims: list[NameClaim]
          ) -> list[NoticeRecord]:
    """The records of one file; its left-out rows go to ``report``, its names to
    ``claims``. ``NufairError`` when the file is refused."""
    parsed = _parse(path.read_bytes(), path.name, None)
    left = [LeftOut(file=str(path), line=r.line, reason=r.reason) for r in parsed.rejected]
    if strict and left:
        raise _strict_refusal(str(path), left)
    report.left_out += left
    report.identities |= _identities(parsed.records)
    claims += parsed.names
    return parsed.records


@dataclass
class ImportReport:
    """Outcome of importing many files: what was stored and what was refused, per file."""

    files_ok: int = 0
    records: int = 0
    revisions_created: int = 0
    events_created: int = 0
    refused: list[tuple[Path, str, str]] = field(default_factory=list)  # (path, code, reason)
    left_out: list[LeftOut] = field(default_factory=list)
    names_assigned: list[str] = field(default_factory=list)
    identities: set[tuple[str, int, int]] = field(default_factory=set)

    def add(self, summary: ImportSummary, files: int) -> None:
        """Count one stored batch of ``files`` files."""
        self.files_ok += files
        self.records += summary.records
        self.revisions_created += summary.revisions_created
        self.events_created += summary.events_created

    def alerts(self, storage: CatalogStorage) -> list[AlertSources]:
        """Per alert the files touched: the sources that contributed and every conflict."""
        return storage.reconciliation(self.identities)


def import_files(storage: CatalogStorage, paths: Iterable[Path], *, batch: int = 256,
                 progress: Callable[[int], None] | None = None,
                 strict: bool = False) -> ImportReport:
    """Import files, committing many files per transaction.

    Files are parsed first (a file that does not parse is refused alone). A table's bad
    rows are left out (listed in ``left_out``) and its good rows stored; with ``strict`` a
    table with any bad row is refused whole. The parsed files of a batch are stored in one
    transaction; if that transaction is refused, each of its files is retried in its own
    transaction so that one bad file never blocks the others. Names from a circulars index
    are given once every file is in. The filled tables are analysed at the end, so that
    the planner knows their new rows before autovacuum does.
    """
    report = ImportReport()
    pending: list[tuple[Path, list[NoticeRecord]]] = []
    claims: list[NameClaim] = []

    def flush() -> None:
        if not pending:
            return
        try:
            report.add(storage.import_records([r for _, recs in pending for r in recs]),
                       len(pending))
        except NufairError:
            for path, recs in pending:
                try:
                    report.add(storage.import_records(recs), 1)
                except NufairError as exc:
                    report.refused.append((path, exc.code, exc.message))
        pending.clear()

    for path in paths:
        try:
            pending.append((path, _read(path, strict, report, claims)))
        except NufairError as exc:
            report.refused.append((path, exc.code, exc.message))
        if progress is not None:
            progress(1)
        if len(pending) >= batch:
            flush()
    flush()
    _finish(storage, report, claims)
    return report


def _finish(storage: CatalogStorage, report: ImportReport, claims: list[NameClaim]) -> None:
    """Give the claimed names (those not given go to ``report.left_out`` with the reason),
    then analyse the filled tables when anything was stored."""
    if claims:
        naming = storage.assign_names(claims)
        report.names_assigned = [name for name, _ in naming.assigned]
        report.left_out += [LeftOut(reason=f"name {name} not given: {why}")
                            for name, why in naming.unused]
    if report.files_ok:
        storage.analyze_imported()
