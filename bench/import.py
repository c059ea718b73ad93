"""Import rate: notices stored per second, parse + geometry + PostgreSQL, end to end.

Two workloads, each on a fresh database, repeated; the median is reported:

1. the bundled sample (real IceCat-1, GCN AMON tables and IceCube VOEvents);
2. N synthetic GCN VOEvents made from a real IceCube notice by changing run and event
   numbers consistently in the Params and the IVORN, imported with ``nufair import``'s code
   path (one file per notice, many files per transaction, per-file fall-back on refusal).

Goal (issue 2): ≥ 1000 notices/s.

Run: ``.venv/bin/python -m bench.import [--n 5000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import fresh_database, median, timed, write_result
from catalog.importers import iter_paths, parse_document, sample_paths
from catalog.importers.variants import voevent_variants
from catalog.service import import_files
from catalog.storage.events import CatalogStorage
from nufair.app import make_engine


def synthesise(n: int, folder: Path) -> list[Path]:
    """Write ``n`` distinct VOEvents derived from a real notice, one file each."""
    paths = []
    for i, doc in enumerate(voevent_variants(n)):
        path = folder / f"synthetic_{i:06d}.xml"
        path.write_bytes(doc)
        paths.append(path)
    return paths


def count_records(paths: list[Path]) -> int:
    """How many records the importers parse from ``paths`` (no database)."""
    return sum(len(parse_document(p.read_bytes(), filename=p.name)) for p in paths)


def run_once(paths: list[Path]) -> tuple[float, int]:
    """Import ``paths`` into a fresh database: seconds taken and revisions created."""
    with fresh_database() as url:
        engine = make_engine(url)
        try:
            seconds, report = timed(lambda: import_files(CatalogStorage(engine), paths))
        finally:
            engine.dispose()
    if report.refused:
        raise SystemExit(f"benchmark input refused: {report.refused[:3]}")
    return seconds, report.revisions_created


def main() -> None:
    """Command line: time the import of the sample notices and of ``--n`` synthetic
    VOEvents."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="synthetic VOEvents")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    sample = list(iter_paths(sample_paths()))
    parse_s, n_sample = timed(lambda: count_records(sample))
    sample_runs = [run_once(sample) for _ in range(args.repeat)]
    sample_t = median([s for s, _ in sample_runs])
    stored = sample_runs[0][1]

    with tempfile.TemporaryDirectory(prefix="nufair-synth-") as tmp:
        synth = synthesise(args.n, Path(tmp))
        synth_runs = [run_once(synth) for _ in range(args.repeat)]
    synth_t = median([s for s, _ in synth_runs])

    result = {
        "goal_notices_per_s": 1000,
        "sample": {
            "files": len(sample),
            "records": n_sample,
            "revisions_stored": stored,
            "median_s": sample_t,
            "notices_per_s": n_sample / sample_t,
            "parse_only_per_notice_ms": 1e3 * parse_s / n_sample,
        },
        "synthetic_voevents": {
            "files": args.n,
            "median_s": synth_t,
            "notices_per_s": args.n / synth_t,
            "runs_s": [s for s, _ in synth_runs],
        },
    }
    rate = args.n / synth_t
    parse_ms = 1e3 * parse_s / n_sample
    print(
        f"sample: {n_sample} notices from {len(sample)} files in {sample_t:.3f} s "
        f"→ {n_sample / sample_t:.0f} notices/s (parse only {parse_ms:.3f} ms/notice)"
    )
    print(
        f"synthetic VOEvents: {args.n} files in {synth_t:.3f} s → {rate:.0f} notices/s "
        f"(goal ≥ 1000/s: {'met' if rate >= 1000 else 'MISSED'})"
    )
    print(f"written {write_result('import', result)}")


if __name__ == "__main__":
    main()
