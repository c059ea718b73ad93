"""Where the import's time goes: wall seconds inside each SQL statement and each COPY.

Imports ``N`` synthetic VOEvents (as :mod:`bench.import` does) into a fresh database once,
timing every ``cursor.execute`` (by the statement's first 90 characters) and the two COPY
paths of :mod:`catalog.storage.bulk`, client side. Use it for A/B comparisons in one
sitting; the figures include the server's work and the client's formatting of COPY rows.

Run: ``.venv/bin/python -m bench.import_profile [--n 5000] [--top 12]``
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench.common import fresh_database
from catalog.service import import_files
from catalog.storage import bulk
from catalog.storage.events import CatalogStorage
from nufair.app import make_engine

_total: defaultdict[str, float] = defaultdict(float)
_count: defaultdict[str, int] = defaultdict(int)


def _timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _total[name] += time.perf_counter() - t0
            _count[name] += 1

    return wrapper


def profile(n: int) -> float:
    """Import ``n`` synthetic VOEvents into a fresh database; the import's wall seconds
    (the per-statement figures accumulate in this module's tallies)."""
    synthesise = importlib.import_module("bench.import").synthesise
    for name in ("copy_tiles", "copy_revisions"):
        setattr(bulk, name, _timed(name, getattr(bulk, name)))
    with tempfile.TemporaryDirectory() as tmp, fresh_database() as url:
        paths = synthesise(n, Path(tmp))
        engine = make_engine(url)

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, *_: Any) -> None:
            conn.info["t0"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            key = " ".join(statement.split())[:90]
            _total[key] += time.perf_counter() - conn.info["t0"]
            _count[key] += 1

        try:
            t0 = time.perf_counter()
            import_files(CatalogStorage(engine), paths)
            return time.perf_counter() - t0
        finally:
            engine.dispose()


def main() -> None:
    """Command line: print the import's wall time and its costliest statements."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="synthetic VOEvents")
    ap.add_argument("--top", type=int, default=12, help="statements to list")
    args = ap.parse_args()
    wall = profile(args.n)
    print(f"import of {args.n} synthetic VOEvents: {wall:.2f} s wall")
    for key, seconds in sorted(_total.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{seconds:8.3f} s {_count[key]:6d}×  {key}")


if __name__ == "__main__":
    main()
