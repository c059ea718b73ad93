"""Alembic migrations of the nufair catalog (run through ``nufair.migrate``)."""
