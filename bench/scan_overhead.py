"""Where `nufair scan EVENT` spends its time outside the scan (issue 18): the CLI's own steps,
each timed in one fresh process, in the order the command takes them.

Usage: ``python -m bench.scan_overhead EVENT_FILE [--nsides 8:0] [--workers 2]``. Prints one
line per step (import, settings, event, scan imports, detector, astropy's first transform,
first guess, cluster start, scan, cluster close, products); the scan line is the part that is
not overhead.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402 (timed from the first line)
import tempfile  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402


class _Clock:
    def __init__(self) -> None:
        self.last = T0
        self.steps: list[tuple[str, float]] = []

    def mark(self, what: str) -> None:
        now = time.perf_counter()
        self.steps.append((what, now - self.last))
        print(f"{what:34s} {now - self.last:7.2f} s", flush=True)
        self.last = now


def main() -> int:
    """Command line: time each step of a local scan of EVENT_FILE."""
    clock = _Clock()
    from nufair.cli import main as _cli  # noqa: F401 (the import is what is timed)

    clock.mark("import nufair.cli")
    from nufair.settings import load_settings

    load_settings()
    clock.mark("settings")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("event_file", type=Path)
    parser.add_argument("--nsides", default="8:0")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from nufair.commands.reco import _read_event, _write_products

    event = _read_event(args.event_file)
    clock.mark("read and check the event")
    from reco.cluster import local_client
    from reco.coords import local_to_equatorial
    from reco.detector import load_ic86
    from reco.firstguess import first_guess
    from reco.scan import run_scan
    from reco.scan_config import ScanConfig

    clock.mark("import the scan")
    det = load_ic86()
    clock.mark("detector")
    local_to_equatorial(1.0, 1.0, datetime.now(UTC))
    clock.mark("first astropy transform")
    fg = first_guess(event, det)
    clock.mark(f"first guess (its own {fg.elapsed:.2f} s)")
    client = local_client(args.workers)
    clock.mark(f"LocalCluster({args.workers})")
    config = ScanConfig(nsides=ScanConfig.parse_nsides(args.nsides))
    result = run_scan(event, det, config, client=client)
    clock.mark(f"scan (first guess again {result.stats.first_guess_s:.2f} s)")
    cluster = client.cluster
    client.close()
    cluster.close()
    clock.mark("close the cluster")
    with tempfile.TemporaryDirectory() as out:
        _write_products(result, Path(out), "bench")
        clock.mark("products")
    total = sum(s for _, s in clock.steps)
    scan = next(s for w, s in clock.steps if w.startswith("scan"))
    print(f"total {total:.2f} s, outside the scan {total - scan:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
