"""Shared fixtures: a real PostgreSQL per test run and a fresh database per test.

The server is the embedded one (pgserver) unless ``NUFAIR_TEST_DATABASE_URL`` names one.
The schema is migrated once into a template database; each test gets its own copy
(``CREATE DATABASE ... TEMPLATE``), so no test sees another's rows.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from catalog.storage.events import CatalogStorage
from nufair.app import create_app, make_engine
from nufair.database import start_embedded, to_sqlalchemy_url
from nufair.migrate import upgrade
from nufair.settings import DEV_TOKEN, Settings

ADMIN_TOKEN = DEV_TOKEN


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a maintenance database on the test server (SQLAlchemy form)."""
    configured = os.environ.get("NUFAIR_TEST_DATABASE_URL")
    if configured:
        yield to_sqlalchemy_url(configured)
        return
    # Not under pytest's basetemp: a concurrent pytest session prunes old basetemp folders,
    # and would delete a live server's data folder.
    with tempfile.TemporaryDirectory(prefix="nufair-test-pg-") as folder:
        url, server = start_embedded(Path(folder), database="postgres")
        yield url
        server.cleanup()


def _admin(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT")


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> Iterator[str]:
    """Name of a database migrated to head, used as the template of each test's database."""
    name = f"nufair_tpl_{uuid.uuid4().hex[:8]}"
    admin = _admin(pg_server_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(_with_db(pg_server_url, name))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def _scratch_database(server_url: str, prefix: str, template: str | None = None
                      ) -> Iterator[str]:
    """A new database (a copy of ``template`` when given), dropped on exit; yields its URL."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = _admin(server_url)
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield _with_db(server_url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A fresh database at the Alembic head, dropped after the test."""
    with _scratch_database(pg_server_url, "nufair_t_", template_db) as url:
        yield url


@pytest.fixture(scope="module")
def module_db_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A fresh database at the Alembic head shared by one module's tests (for expensive
    set-ups that the tests only read or add to), dropped after the module."""
    with _scratch_database(pg_server_url, "nufair_m_", template_db) as url:
        yield url


@pytest.fixture(scope="module")
def module_storage(module_db_url: str) -> Iterator[CatalogStorage]:
    """Storage on :func:`module_db_url`."""
    eng = make_engine(module_db_url)
    yield CatalogStorage(eng)
    eng.dispose()


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    with _scratch_database(pg_server_url, "nufair_e_") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def storage(engine: Engine) -> CatalogStorage:
    return CatalogStorage(engine)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=SecretStr(db_url), data_dir=tmp_path,
                    environment="development", max_body_bytes=1024 * 1024)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
