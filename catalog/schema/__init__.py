"""Catalog tables (SQLAlchemy Core on one shared metadata): events, PIDs, ingest, outbox."""
