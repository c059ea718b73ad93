"""Run every benchmark in turn (``make bench``); each prints its figures and goal."""

from __future__ import annotations

import subprocess
import sys
import time

#: (module, arguments) of each benchmark, in the order they run.
BENCHMARKS: list[tuple[str, list[str]]] = [
    ("bench.import", []),
    ("bench.load", ["--clients", "50", "--seconds", "60"]),
    ("bench.latency", ["--n", "20"]),
    ("bench.vo", []),
    ("bench.reco_speed", ["--repeats", "3"]),
]


def main() -> int:
    """Run every benchmark of ``BENCHMARKS`` in turn; exit status 1 if any failed."""
    failed = []
    for module, args in BENCHMARKS:
        print(f"\n=== {module} {' '.join(args)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", module, *args])
        print(f"=== {module}: exit {rc} in {time.perf_counter() - t0:.1f} s", flush=True)
        if rc:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
