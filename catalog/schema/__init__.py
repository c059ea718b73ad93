"""Catalog tables (SQLAlchemy Core on one shared metadata): events, PIDs, ingest, outbox."""

from catalog.schema import counterparts as counterparts  # registers the counterparts table
