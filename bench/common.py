"""Shared helpers of the benchmarks: a fresh migrated database, timing, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from catalog.notices.parsed import NoticeRecord
from catalog.storage.events import CatalogStorage
from nufair.database import start_embedded, to_sqlalchemy_url
from nufair.migrate import upgrade

RESULTS_DIR = Path(__file__).parent / "results"


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new database at the Alembic head on ``NUFAIR_BENCH_DATABASE_URL`` (or embedded)."""
    configured = os.environ.get("NUFAIR_BENCH_DATABASE_URL")
    server = None
    tmp = None
    if configured:
        base = to_sqlalchemy_url(configured)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="nufair-bench-")
        base, server = start_embedded(Path(tmp.name), database="postgres")
    name = f"nufair_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        del server
        if tmp is not None:
            tmp.cleanup()


def import_in_batches(storage: CatalogStorage, recs: Sequence[NoticeRecord],
                      batch: int = 2000) -> None:
    """Import ``recs`` ``batch`` at a time, as a bulk load would (one transaction each)."""
    for i in range(0, len(recs), batch):
        storage.import_records(list(recs[i:i + batch]))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn()`` took, and what it returned."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def machine() -> dict[str, Any]:
    """Where and when a result was measured: cores, Python, platform, load, date."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_1min": load,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def median(xs: list[float]) -> float:
    """The median of ``xs``."""
    return statistics.median(xs)


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` with the machine's description to
    ``bench/results/<name>.json``; returns the path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, indent=2) + "\n")
    return path
