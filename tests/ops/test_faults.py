"""Faults staged for real: PostgreSQL restarted while notices are being imported."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, func, select, text

from catalog.importers.variants import voevent_variants
from catalog.schema.events import revisions
from nufair.app import create_app
from nufair.database import start_embedded
from nufair.migrate import upgrade
from nufair.settings import Settings


def pg_ctl(server: object, pgdata: Path, *args: str) -> None:
    """Run pgserver's own ``pg_ctl`` on ``pgdata`` as the user that runs the server."""
    import pgserver._commands

    command = vars(pgserver._commands)["pg_ctl"]  # generated at import: invisible to mypy
    command([*args], pgdata=pgdata, user=getattr(server, "system_user", None), timeout=60)


def _start_time(url: str) -> datetime:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            started: datetime = conn.execute(text("SELECT pg_postmaster_start_time()")).scalar_one()
            return started
    finally:
        eng.dispose()


def test_postgres_restart_under_load_loses_no_ingest(tmp_path: Path) -> None:
    own = Path(tempfile.mkdtemp(prefix="nufair-fault-pg-"))  # outside pytest's pruned basetemp
    url, server = start_embedded(own, database="faults")
    upgrade(url)
    notices = voevent_variants(60)
    app = create_app(Settings(database_url=SecretStr(url), data_dir=tmp_path))
    statuses: list[int] = []
    with TestClient(app) as client:
        def post_all() -> None:
            for body in notices:
                r = client.post("/api/v1/admin/import", content=body,
                                headers={"Authorization": "Bearer nufair-dev-token",
                                         "Content-Type": "application/xml"})
                statuses.append(r.status_code)
                time.sleep(0.02)

        worker = threading.Thread(target=post_all)
        worker.start()
        time.sleep(0.3)  # some notices in, then the server goes down and comes back
        pgdata = own / "pg"
        started_before = _start_time(url)
        done_before = len(statuses)
        pg_ctl(server, pgdata, "-m", "fast", "-w", "-t", "30", "restart")
        assert worker.is_alive()  # the restart happened in the middle of the stream
        worker.join(timeout=120)
        assert not worker.is_alive()
        assert client.get("/readyz").status_code == 200
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(revisions)).scalar_one()
    finally:
        eng.dispose()
    assert statuses == [200] * len(notices)
    assert stored == len(notices)
    assert 0 < done_before < len(notices)
    assert _start_time(url) > started_before  # the server really restarted
    # pgserver's handle still points at the pre-restart postmaster: stop the new one here.
    pg_ctl(server, own / "pg", "-m", "fast", "-w", "stop")
    shutil.rmtree(own, ignore_errors=True)
