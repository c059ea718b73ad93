"""Catalog services: the rules between the HTTP/CLI handlers and storage."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from catalog.errors import NufairError
from catalog.models import ImportSummary
from catalog.notices.parsed import NoticeRecord
from catalog.storage.events import CatalogStorage


def _parse(data: bytes, filename: str | None, media_type: str | None) -> list[NoticeRecord]:
    from catalog.importers import parse_document  # parsers load schemas: only when used

    return parse_document(data, filename=filename, media_type=media_type)


def import_document(storage: CatalogStorage, data: bytes, *, filename: str | None = None,
                    media_type: str | None = None) -> ImportSummary:
    """Parse one document (any supported notice format) and store it in one transaction.

    A document that fails to parse, or any of whose records is refused, stores nothing.
    """
    return storage.import_records(_parse(data, filename, media_type))


@dataclass
class ImportReport:
    """Outcome of importing many files: what was stored and what was refused, per file."""

    files_ok: int = 0
    records: int = 0
    revisions_created: int = 0
    events_created: int = 0
    refused: list[tuple[Path, str, str]] = field(default_factory=list)  # (path, code, reason)

    def add(self, summary: ImportSummary, files: int) -> None:
        """Count one stored batch of ``files`` files."""
        self.files_ok += files
        self.records += summary.records
        self.revisions_created += summary.revisions_created
        self.events_created += summary.events_created


def import_files(storage: CatalogStorage, paths: Iterable[Path], *, batch: int = 256,
                 progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import files, each all-or-nothing, committing many files per transaction.

    Files are parsed first (a file that does not parse is refused alone). The parsed files
    of a batch are stored in one transaction; if that transaction is refused, each of its
    files is retried in its own transaction so that one bad file never blocks the others.
    """
    report = ImportReport()
    pending: list[tuple[Path, list[NoticeRecord]]] = []

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
            pending.append((path, _parse(path.read_bytes(), path.name, None)))
        except NufairError as exc:
            report.refused.append((path, exc.code, exc.message))
        if progress is not None:
            progress(1)
        if len(pending) >= batch:
            flush()
    flush()
    return report
