"""Time the counterpart search (issue 19 item 1): the bundled sample against 4FGL-DR4.

The sample is imported into a fresh database, then the candidates of every revision with
a region are computed: all at once (one statement per catalogue), and one revision per
transaction as the alert flow does it (median, p95 and worst: the largest regions, a
~740 deg² circle, cost the most).

    PYTHONPATH=. python -m bench.counterparts   # NUFAIR_BENCH_DATABASE_URL, else embedded
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np

from bench.common import fresh_database, median, timed, write_result
from catalog.importers import iter_paths, sample_paths
from catalog.service import import_files
from catalog.storage.counterparts import CounterpartStore
from catalog.storage.events import CatalogStorage
from nufair.app import make_engine


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with fresh_database() as url:
        engine = make_engine(url)
        import_files(CatalogStorage(engine), list(iter_paths(sample_paths())))
        with engine.connect() as conn:
            ids = CounterpartStore(conn).revisions_with_regions()
        batch: list[float] = []
        for _ in range(args.repeat):
            with engine.begin() as conn:
                store = CounterpartStore(conn)
                seconds, done = timed(partial(store.compute_for, ids))
            batch.append(seconds)
        each: list[float] = []
        for pk in ids:
            with engine.begin() as conn:
                store = CounterpartStore(conn)
                seconds, _ = timed(partial(store.compute_for, [pk]))
            each.append(seconds * 1000)
        engine.dispose()
    result = {
        "revisions": len(ids), "rows": sum(done.rows.values()),
        "all_at_once_s": median(batch),
        "per_revision_ms": {"median": median(each),
                            "p95": float(np.percentile(each, 95)), "max": max(each)},
    }
    print(f"{len(ids)} revisions, {result['rows']} candidate rows")
    print(f"all at once: {result['all_at_once_s']:.2f} s (median of {args.repeat})")
    pr = result["per_revision_ms"]
    print(f"one revision per transaction: median {pr['median']:.1f} ms, "
          f"p95 {pr['p95']:.1f} ms, max {pr['max']:.1f} ms")
    print(f"wrote {write_result('counterparts', result)}")


if __name__ == "__main__":
    main()
