"""Alembic environment: the URL comes from the Config (set by nufair.migrate), never a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import catalog.schema.ingest  # ingest tables (raw events, scans) on the shared metadata
import catalog.schema.outbox  # noqa: F401  (the notice outbox on the shared metadata)
from catalog.schema import pids as schema_fair  # noqa: F401  (FAIR tables on the shared metadata)
from catalog.schema import subscriptions as schema_subscriptions  # noqa: F401  (issue 19)
from catalog.schema.events import metadata
from vo.uws import schema as uws_schema  # noqa: F401  (TAP async jobs on the shared metadata)

config = context.config


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
