"""Import rate: notices stored per second, parse + geometry + PostgreSQL, end to end.

Two workloads, each on a fresh database, repeated; the median is reported:

1. the bundled sample (real IceCat-1, GCN AMON tables and IceCube VOEvents);
2. N synthetic GCN VOEvents made from a real IceCube notice by changing run and event
   numbers consistently in the Params and the IVORN, imported with ``nufair import``'s code
   path (one file per notice, many files per transaction, per-file fall-back on refusal).

Goal (issue 2): ≥ 1000 notices/s.

Wall time grows with the machine's load; each run also reports the CPU seconds spent by
this process (parse, geometry, the importer) and by the PostgreSQL backends of the run's
database (``/proc/<pid>/stat``, when the server is local), and the rate they allow,
``notices / (client + backend CPU)``: the import is serial (one statement at a time), so on
an idle machine its wall time approaches that sum plus I/O waits.

Run: ``.venv/bin/python -m bench.import [--n 5000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

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


@dataclass(frozen=True, slots=True)
class Run:
    """One import: wall seconds, revisions created, CPU seconds of this process and of the
    database backends (None when the server's processes cannot be read)."""

    wall_s: float
    revisions: int
    client_cpu_s: float
    backend_cpu_s: float | None


def backend_cpu_s(url: str) -> float | None:
    """CPU seconds used so far by the client backends of ``url``'s database (all but the
    one asking), from ``/proc/<pid>/stat``; None when the server is not local."""
    probe = create_engine(url)
    try:
        with probe.connect() as conn:
            pids = conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")).scalars()
            ticks = 0
            for pid in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)
    except OSError:
        return None
    finally:
        probe.dispose()
    return ticks / os.sysconf("SC_CLK_TCK")


def run_once(paths: list[Path]) -> Run:
    """Import ``paths`` into a fresh database (its backends start with the import)."""
    with fresh_database() as url:
        engine = make_engine(url)
        try:
            cpu0 = time.process_time()
            seconds, report = timed(lambda: import_files(CatalogStorage(engine), paths))
            client = time.process_time() - cpu0
            backend = backend_cpu_s(url)
        finally:
            engine.dispose()
    if report.refused:
        raise SystemExit(f"benchmark input refused: {report.refused[:3]}")
    return Run(seconds, report.revisions_created, client, backend)


def summary(notices: int, runs: list[Run]) -> dict[str, Any]:
    """Median wall and CPU figures of ``runs`` that imported ``notices`` each."""
    wall = median([r.wall_s for r in runs])
    client = median([r.client_cpu_s for r in runs])
    backend = [r.backend_cpu_s for r in runs if r.backend_cpu_s is not None]
    out: dict[str, Any] = {"median_s": wall, "notices_per_s": notices / wall,
                           "runs_s": [r.wall_s for r in runs], "client_cpu_s": client}
    if len(backend) == len(runs):
        cpu = median([r.client_cpu_s + (r.backend_cpu_s or 0.0) for r in runs])
        out |= {"backend_cpu_s": median(backend), "cpu_notices_per_s": notices / cpu}
    return out


def _line(label: str, notices: int, s: dict[str, Any]) -> str:
    cpu = (f"; CPU {s['client_cpu_s']:.2f} s client + {s['backend_cpu_s']:.2f} s backend "
           f"→ {s['cpu_notices_per_s']:.0f} notices/s" if "backend_cpu_s" in s else "")
    return (f"{label}: {notices} notices in {s['median_s']:.3f} s → "
            f"{s['notices_per_s']:.0f} notices/s wall{cpu}")


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
    with tempfile.TemporaryDirectory(prefix="nufair-synth-") as tmp:
        synth = synthesise(args.n, Path(tmp))
        synth_runs = [run_once(synth) for _ in range(args.repeat)]
    sample_s, synth_s = summary(n_sample, sample_runs), summary(args.n, synth_runs)
    parse_ms = 1e3 * parse_s / n_sample
    result = {
        "goal_notices_per_s": 1000,
        "sample": {"files": len(sample), "records": n_sample,
                   "revisions_stored": sample_runs[0].revisions,
                   "parse_only_per_notice_ms": parse_ms, **sample_s},
        "synthetic_voevents": {"files": args.n, **synth_s},
    }
    rate = synth_s["notices_per_s"]
    print(_line(f"sample ({len(sample)} files, parse only {parse_ms:.3f} ms/notice)",
                n_sample, sample_s))
    print(_line("synthetic VOEvents (one file each)", args.n, synth_s)
          + f" (goal ≥ 1000/s wall: {'met' if rate >= 1000 else 'MISSED'})")
    print(f"written {write_result('import', result)}")


if __name__ == "__main__":
    main()
