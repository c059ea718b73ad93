"""Realtime latency: raw-event POST → initial notice, and → refined (update) notice (issue 4).

A real server (uvicorn, the production app) runs against a fresh database with the webhook
sink pointed at a receiver in this process; each simulated raw event is POSTed and the
clock stops when the receiver gets its signed initial GCN JSON notice (goal: p50 ≤ 1 s),
and, with ``--refined``, when it gets the update notice that the server's realtime scan
published (goal ≤ 30 s). Events are posted one after the other, each once its last
awaited notice arrived, so each scan has the machine to itself.

The scan runs with the server's settings: the full ``8:0,64:12,512:24`` unless
``--scan-nsides`` says otherwise; ``--dask-workers`` / ``--dask-processes`` shape its
LocalCluster (``NUFAIR_DASK_*``).

Usage: ``python -m bench.latency --n 20`` or ``python -m bench.latency --n 3 --refined``
(``NUFAIR_BENCH_DATABASE_URL`` for a server).
"""

from __future__ import annotations

import argparse
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np

from bench.common import fresh_database, machine, write_result
from bench.server import serve
from reco.detector import load_ic86
from reco.simulate import simulate_event

SECRET = "bench-webhook-secret"


class _Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.cond = threading.Condition()


def _receiver(arrivals: _Arrivals) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            key = self.headers.get("Idempotency-Key", "")
            with arrivals.cond:
                arrivals.at.setdefault(key, time.perf_counter())
                arrivals.cond.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _arguments() -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--energy-tev", type=float, default=300.0)
    parser.add_argument(
        "--refined",
        action="store_true",
        help="also wait for and time the update notice of each alert",
    )
    parser.add_argument("--refined-timeout", type=float, default=1800.0)
    parser.add_argument("--scan-nsides", default=None, help="NUFAIR_SCAN_NSIDES")
    parser.add_argument("--dask-workers", type=int, default=None)
    parser.add_argument("--dask-processes", choices=("true", "false"), default=None)
    return parser.parse_args()


def _raw_events(n: int, energy_tev: float) -> list[dict[str, Any]]:
    """``n`` seeded simulated tracks as raw-event bodies (without their truth)."""
    det = load_ic86()
    rng = np.random.default_rng(2025)
    bodies = []
    for i in range(n):
        ev = simulate_event(
            rng,
            det,
            energy_tev=energy_tev,
            run_id=150000,
            event_id=i + 1,
            time=datetime(2025, 5, 1, 0, 0, i, tzinfo=UTC),
        )
        body = ev.event.to_json()
        body.pop("truth", None)
        body["observatory"] = "IceCube"
        bodies.append(body)
    return bodies


def _server_env(args: argparse.Namespace, hook: str) -> dict[str, str]:
    """The server's settings: the webhook sink to ``hook``, the scan runner and its shape."""
    env = {
        "NUFAIR_SINKS": '["webhook"]',
        "NUFAIR_WEBHOOK_URL": hook,
        "NUFAIR_WEBHOOK_SECRET": SECRET,
        "NUFAIR_DISPATCHER_POLL_S": "0.5",
        "NUFAIR_SCAN_RUNNER_ENABLED": "true" if args.refined else "false",
    }
    if args.scan_nsides:
        env["NUFAIR_SCAN_NSIDES"] = args.scan_nsides
    if args.dask_workers:
        env["NUFAIR_DASK_WORKERS"] = str(args.dask_workers)
    if args.dask_processes:
        env["NUFAIR_DASK_PROCESSES"] = args.dask_processes
    return env


def _arrival(arrivals: _Arrivals, key: str, timeout: float, what: str) -> float:
    """When the notice with idempotency key ``key`` arrived (waiting up to ``timeout``)."""
    with arrivals.cond:
        arrivals.cond.wait_for(lambda: key in arrivals.at, timeout=timeout)
    if key not in arrivals.at:
        raise RuntimeError(f"{what} {key} never arrived")
    return arrivals.at[key]


def _summary(
    args: argparse.Namespace, latencies: list[float], stages: list[float], refined: list[float]
) -> dict[str, Any]:
    """The figures: initial (and refined) notice latency percentiles, with the goals."""
    lat = np.array(latencies)
    result: dict[str, Any] = {
        "n": len(lat),
        "energy_tev": args.energy_tev,
        "initial_p50_s": float(np.percentile(lat, 50)),
        "initial_p95_s": float(np.percentile(lat, 95)),
        "first_guess_p50_s": float(np.percentile(stages, 50)),
        "goal_initial_p50_s": 1.0,
        "machine": machine(),
    }
    if refined:
        ref = np.array(refined)
        result.update(
            {
                "refined_p50_s": float(np.percentile(ref, 50)),
                "refined_p95_s": float(np.percentile(ref, 95)),
                "refined_n": len(ref),
                "goal_refined_s": 30.0,
                "scan_nsides": args.scan_nsides or "8:0,64:12,512:24 (default)",
                "dask_workers": args.dask_workers,
                "dask_processes": args.dask_processes,
            }
        )
        print(
            f"refined notice latency over {len(ref)} alerts: p50 "
            f"{result['refined_p50_s']:.1f} s, p95 {result['refined_p95_s']:.1f} s"
        )
    return result


def main() -> int:
    """Command line: post the events one by one to a real server and time their notices."""
    args = _arguments()
    bodies = _raw_events(args.n, args.energy_tev)
    arrivals = _Arrivals()
    receiver = _receiver(arrivals)
    env = _server_env(args, f"http://127.0.0.1:{receiver.server_address[1]}/")
    latencies: list[float] = []
    refined: list[float] = []
    stages: list[float] = []
    with (
        fresh_database() as url,
        serve(url, load_sample=False, extra_env=env) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        headers = {"Authorization": "Bearer nufair-dev-token"}
        for body in bodies:
            key = f"nufair:IceCube:{body['run_id']}:{body['event_id']}:r0:webhook:gcn-json"
            t0 = time.perf_counter()
            r = client.post("/api/v1/events/raw", json=body, headers=headers)
            if r.status_code != 201 or r.json()["stream"] == "none":
                print("skipped (not an alert):", r.status_code, r.json().get("stream"))
                continue
            latencies.append(_arrival(arrivals, key, 30, "notice") - t0)
            stages.append(r.json()["selection"]["first_guess_s"])
            if args.refined:
                upd = key.replace(":r0:", ":r1:")
                refined.append(_arrival(arrivals, upd, args.refined_timeout, "update notice") - t0)
                print(
                    f"event {body['event_id']}: initial {latencies[-1]:.2f} s, "
                    f"refined {refined[-1]:.1f} s",
                    flush=True,
                )
    receiver.shutdown()
    result = _summary(args, latencies, stages, refined)
    path = write_result("latency-refined" if refined else "latency", result)
    print(
        f"initial notice latency over {len(latencies)} alerts: p50 "
        f"{result['initial_p50_s']:.2f} s, p95 {result['initial_p95_s']:.2f} s (first guess p50 "
        f"{result['first_guess_p50_s']:.2f} s); goal p50 ≤ 1 s → {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
