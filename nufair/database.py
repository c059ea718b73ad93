"""Where the database is: a configured URL, or an embedded PostgreSQL started on demand."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from nufair.pgsupervisor import PgSupervisor


def to_sqlalchemy_url(url: str) -> str:
    """Normalise a libpq-style URL to SQLAlchemy's psycopg 3 dialect."""
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def start_embedded(data_dir: Path, database: str = "nufair") -> tuple[str, Any]:
    """Start (or reuse) the embedded PostgreSQL in ``data_dir/pg``; return (URL, handle).

    The server listens on a Unix socket inside its data folder only. Keep the handle alive
    for as long as the server is needed; pgserver stops it when the last user exits.
    """
    run_dir = (data_dir / "run").resolve()
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(run_dir))  # platformdirs warns without one
    # imported lazily: only the embedded mode needs it
    from pgserver.postgres_server import get_server

    pgdir = (data_dir / "pg").resolve()
    pgdir.mkdir(parents=True, exist_ok=True)
    server = get_server(str(pgdir), cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return to_sqlalchemy_url(server.get_uri(database)), server


@contextmanager
def supervised(server: Any, on_restart: list[Callable[[], None]] | None = None,
               interval_s: float = 1.0) -> Iterator[PgSupervisor | None]:
    """Supervise the embedded server ``server`` (restart it when it dies) while in the block.

    ``server`` is ``start_embedded``'s handle; None (a configured database URL, which this
    process does not own) yields None and supervises nothing. The supervisor is stopped on
    exit; the server keeps running until pgserver stops it at process exit.
    """
    if server is None:
        yield None
        return
    from nufair.pgsupervisor import PgSupervisor

    supervisor = PgSupervisor(server, interval_s=interval_s, on_restart=on_restart).start()
    try:
        yield supervisor
    finally:
        supervisor.stop()
