"""Catalog services: the rules between the HTTP/CLI handlers and storage."""

from __future__ import annotations

from catalog.models import ImportSummary
from catalog.storage import CatalogStorage


def import_document(storage: CatalogStorage, data: bytes, *, filename: str | None = None,
                    media_type: str | None = None) -> ImportSummary:
    """Parse one document (any supported notice format) and store it in one transaction.

    A document that fails to parse, or any of whose records is refused, stores nothing.
    """
    from catalog.importers import parse_document  # parsers load schemas: only when used

    records = parse_document(data, filename=filename, media_type=media_type)
    return storage.import_records(records)
