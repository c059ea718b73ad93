"""Speed of the reco scan: a full default scan of a ~1000-pulse track on a LocalCluster.

Usage (from the repository root)::

    python bench/reco_speed.py --repeats 3 --out bench/results/reco_speed.json

Reports, with the machine's load average before and after (other work on a shared machine
makes every figure noisy):

* wall time of a full default scan (first guess included) on a warm 2-worker cluster, median
  of ``--repeats``; the LocalCluster start-up time separately, and one cold
  ``run_scan(client=None)`` (start-up included);
* pixel fits per second, and the per-fit cost in core-seconds (workers × wall / fits);
* the *floor*: the same number of likelihood evaluations (value, gradient and Hessian over all
  pulses) of the compiled kernel timed in one thread in a tight loop, divided by the number of
  workers — what a scan
  with zero scheduling, Python and seeding overhead would take; the goal is scan ≤ 2 × floor;
* 1 versus 2 workers (goal ≥ 1.7× speed-up);
* peak resident memory of the driver and of each worker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import healpy as hp
import numpy as np
from astropy.time import Time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reco import kernel
from reco import likelihood as lk
from reco.cluster import local_client
from reco.coords import equatorial_to_local
from reco.detector import Detector, load_ic86
from reco.event import Event
from reco.result import ScanResult
from reco.scan import run_scan
from reco.scan_config import ScanConfig
from reco.simulate import SimulatedEvent, simulate_event


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def find_event(det: Detector, target: int = 1000) -> tuple[int, SimulatedEvent]:
    """The first seeded 100 TeV through-going track with 950–1050 pulses."""
    for seed in range(1000):
        sim = simulate_event(np.random.default_rng(seed), det, "throughgoing", 100.0)
        if abs(sim.event.n_pulses - target) <= 50:
            return seed, sim
    raise RuntimeError("no event of the requested size")


def floor_per_evaluation(
    prep: lk.PreparedEvent, res: ScanResult, event: Event, n_sample: int = 300
) -> float:
    """Seconds per likelihood evaluation (value, gradient and Hessian over all pulses) of the
    compiled kernel, called back to back in one thread, at the scan's own work: ``n_sample``
    fitted pixels drawn from all levels of ``res``, each at its fitted track (the cost of an
    evaluation depends a little on where it is made, through the branches of the model)."""
    rng = np.random.default_rng(0)
    rows = [(lv.nside, i, lv) for lv in res.levels for i in range(len(lv.pixel))]
    rows = [rows[i] for i in rng.choice(len(rows), min(n_sample, len(rows)), replace=False)]
    rows = [r for r in rows if np.isfinite(r[2].llh[r[1]])]
    theta_pix = np.array([hp.pix2ang(n, lv.pixel[i]) for n, i, lv in rows])
    zen, azi = equatorial_to_local(
        theta_pix[:, 1], 0.5 * np.pi - theta_pix[:, 0], Time(event.time, scale="utc")
    )
    fr = lk.frames(zen, azi)
    point = np.array([[lv.x[i], lv.y[i], lv.z[i]] for _, i, lv in rows])
    tpt = np.array([lv.t[i] for _, i, lv in rows])
    theta = lk.transfer_seeds(prep, point, tpt, fr, np.zeros((1, 2)))[:, 0, :]
    proj = lk.project(prep, fr)
    par = lk.constants(prep)
    grad = np.empty(3)
    hess = np.empty((3, 3))
    kernel.evaluate(
        proj.tl[0], proj.u[0], proj.w[0], prep.time, 0.0, 0.0, 0.0, par, grad, hess, True
    )
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for j in range(len(rows)):
            a, b, t = (float(x) for x in theta[j])
            for _ in range(5):
                kernel.evaluate(
                    proj.tl[j], proj.u[j], proj.w[j], prep.time, a, b, t, par, grad, hess, True
                )
        best = min(best, (time.perf_counter() - t0) / (5 * len(rows)))
    return best


def timed_scans(
    event: Event, det: Detector, config: ScanConfig, client: Any, repeats: int
) -> tuple[list[float], ScanResult]:
    """Wall times of ``repeats`` scans of ``event`` after one warm-up scan, and the last
    result."""
    run_scan(event, det, config, client=client)  # warm-up: imports and caches on the workers
    walls: list[float] = []
    results: list[ScanResult] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = run_scan(event, det, config, client=client)
        walls.append(time.perf_counter() - t0)
        results.append(res)
    return walls, results[-1]


def main() -> None:
    """Command line: scans of one event on 2 and on 1 worker, one cold scan, and the
    kernel's floor; print and write the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default="bench/results/reco_speed.json")
    args = p.parse_args()
    load_before = os.getloadavg()
    det = load_ic86()
    seed, sim = find_event(det)
    event = sim.event
    config = ScanConfig()
    prep = lk.prepare(event, det)
    out: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "load_before": load_before,
        "event": {
            "seed": seed,
            "energy_tev": 100.0,
            "n_pulses": event.n_pulses,
            "n_hit": event.n_sensors_hit,
        },
        "config": config.to_json(),
    }
    t0 = time.perf_counter()
    client2 = local_client(2)
    out["cluster_start_s"] = time.perf_counter() - t0
    walls2, res2 = timed_scans(event, det, config, client2, args.repeats)
    wall2 = statistics.median(walls2)
    worker_rss = client2.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    client2.close()
    client2.cluster.close()
    client1 = local_client(1)
    walls1, _ = timed_scans(event, det, config, client1, args.repeats)
    wall1 = statistics.median(walls1)
    client1.close()
    client1.cluster.close()
    t0 = time.perf_counter()
    run_scan(event, det, config)
    cold = time.perf_counter() - t0
    stats = res2.stats
    per_eval = floor_per_evaluation(prep, res2, event)
    floor_core = stats.likelihood_evaluations * per_eval
    out.update(
        {
            "scan_wall_s_2_workers": wall2,
            "scan_walls_2_workers": walls2,
            "scan_wall_s_1_worker": wall1,
            "scan_walls_1_worker": walls1,
            "speedup_2_vs_1": wall1 / wall2,
            "cold_scan_wall_s_incl_cluster_start": cold,
            "first_guess_s": stats.first_guess_s,
            "pixel_fits": stats.pixel_fits,
            "seed_fits": stats.seed_fits,
            "likelihood_evaluations": stats.likelihood_evaluations,
            "tasks": stats.tasks,
            "pixel_fits_per_s": stats.pixel_fits / wall2,
            "core_s_per_pixel_fit": 2 * wall2 / stats.pixel_fits,
            "floor_s_per_evaluation": per_eval,
            "floor_ns_per_pulse_evaluation": per_eval / event.n_pulses * 1e9,
            "floor_core_s": floor_core,
            "floor_wall_s_2_workers": floor_core / 2,
            "scan_over_floor": wall2 / (floor_core / 2),
            "peak_rss_mb_driver": _peak_rss_mb(),
            "peak_rss_mb_workers": worker_rss,
            "best_error_deg": float(
                np.degrees(
                    np.arccos(
                        np.clip(
                            np.sin(res2.best.dec) * np.sin(sim.truth.dec)
                            + np.cos(res2.best.dec)
                            * np.cos(sim.truth.dec)
                            * np.cos(res2.best.ra - sim.truth.ra),
                            -1,
                            1,
                        )
                    )
                )
            ),
            "load_after": os.getloadavg(),
        }
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
