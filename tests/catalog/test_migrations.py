"""The schema comes only from Alembic, and the metadata matches it exactly."""

from __future__ import annotations

import pytest
from alembic import command
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, inspect

from nufair.app import DatabaseNotAtHead, create_app
from nufair.migrate import alembic_config, upgrade
from nufair.settings import Settings


def test_upgrade_head_then_check_finds_no_drift(empty_db_url: str) -> None:
    """Alembic builds the schema; ``alembic check`` finds nothing to add or change."""
    upgrade(empty_db_url)
    command.check(alembic_config(empty_db_url))  # raises if metadata and database differ
    eng = create_engine(empty_db_url)
    try:
        insp = inspect(eng)
        assert {"events", "revisions", "region_tiles", "artifacts"} <= set(insp.get_table_names())
        idx = {i["name"]: i for i in insp.get_indexes("region_tiles")}
        assert idx["ix_region_tiles_hpx"]["dialect_options"]["postgresql_using"] == "spgist"
    finally:
        eng.dispose()


def test_app_refuses_a_database_not_at_head(empty_db_url: str) -> None:
    """An empty database is not at head: the app does not start on it."""
    app = create_app(Settings(database_url=SecretStr(empty_db_url)))
    with pytest.raises(DatabaseNotAtHead, match="nufair migrate"), TestClient(app):
        pass
