"""Pool the rows of several detector realisations into one calibration (issue 18).

Each run of :mod:`bench.systematics` draws one perturbed detector (efficiencies from its
``--seed`` + 1). Thresholds made from one realisation learn its sensor pattern: on a fresh
realisation the seventh session's track bins covered 0.85–0.94 at 90 % (bench/RESULTS.md).
Pooling realisations puts the detector's own uncertainty into the thresholds, as IceCube's
calibration on simulation with systematic variations does.

Every ``--part SEED=ROWS`` is one run's rows file. An event keeps its row; its index becomes
``position × 10 000 000 + index`` (so a realisation's events stay in their order and the
parity halves of :func:`bench.systematics.out_of_sample` take events of every realisation)
and it gains ``realisation`` (the run's seed). The pooled rows go to ``--out``; with
``--write-calibration`` the proxy-binned thresholds are recorded as :mod:`bench.systematics`
records them, with the parts named::

    python -m bench.systematics_pool --part 18=a.jsonl --part 1821=b.jsonl \\
        --out bench/results/systematics_pooled.jsonl --write-calibration
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import write_result
from bench.systematics import summarise
from bench.systematics_record import CALIBRATION_FILES, write_calibrations
from reco.cascade.scan import CASCADE_NSIDES

STRIDE = 10_000_000
"""Index offset between parts (a run's indices stay below 300 000)."""


def pool(parts: list[tuple[int, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """The rows of ``parts`` ((seed, rows) each) with indices offset by part and the
    realisation's seed added; a part's rows in index order."""
    out = []
    for position, (seed, rows) in enumerate(parts):
        if any(r["index"] >= STRIDE for r in rows):
            raise ValueError(f"part {seed}: an index of {STRIDE} or more")
        for r in sorted(rows, key=lambda r: (r["kind"], r["index"])):
            out.append({**r, "index": position * STRIDE + r["index"], "realisation": seed})
    return out


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def main() -> None:
    """Command line: pool, summarise, and optionally record the calibration."""
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--part", action="append", required=True, metavar="SEED=ROWS")
    p.add_argument("--out", required=True)
    p.add_argument("--write-calibration", action="store_true")
    args = p.parse_args()
    parts = []
    for spec in args.part:
        seed, _, path = spec.partition("=")
        parts.append((int(seed), _read(Path(path))))
    rows = pool(parts)
    Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    seeds = [seed for seed, _ in parts]
    summary = summarise(rows, argparse.Namespace(seed=seeds))
    summary["parts"] = {str(seed): len(r) for seed, r in parts}
    print(json.dumps(summary, indent=1))
    print(f"→ {write_result('systematics_pooled', summary)}")
    if args.write_calibration:
        command = "python -m bench.systematics_pool " + " ".join(sys.argv[1:])
        date = time.strftime("%Y-%m-%d", time.gmtime())
        realisations: dict[str, Any] = {"realisations": {
            str(seed): f"python -m bench.systematics --seed {seed} (efficiencies from seed "
                       f"{seed + 1}): {len(r)} rows" for seed, r in parts}}
        extra: dict[str, dict[str, Any]] = {"track": realisations,
                 "cascade": {**realisations,
                             "scan": {"nsides": [list(n) for n in CASCADE_NSIDES]}}}
        for written in write_calibrations(summary, command, date, CALIBRATION_FILES, extra):
            print(f"→ {written}")


if __name__ == "__main__":
    main()
