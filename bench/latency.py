"""Realtime latency: raw-event POST → initial notice delivered to a sink (issue 4).

A real server (uvicorn, the production app) runs against a fresh database with the webhook
sink pointed at a receiver in this process; each simulated raw event is POSTed and the
clock stops when the receiver gets its signed initial GCN JSON notice. Goal: p50 ≤ 1 s.

The refined (update) latency needs the scan service, which is not wired yet: it is not
measured here (see RESULTS.md).

Usage: ``python -m bench.latency --n 20`` (``NUFAIR_BENCH_DATABASE_URL`` for a server).
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--energy-tev", type=float, default=300.0)
    args = parser.parse_args()

    det = load_ic86()
    rng = np.random.default_rng(2025)
    bodies = []
    for i in range(args.n):
        ev = simulate_event(rng, det, energy_tev=args.energy_tev, run_id=150000,
                            event_id=i + 1, time=datetime(2025, 5, 1, 0, 0, i, tzinfo=UTC))
        body = ev.event.to_json()
        body.pop("truth", None)
        body["observatory"] = "IceCube"
        bodies.append(body)

    arrivals = _Arrivals()
    receiver = _receiver(arrivals)
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/"
    env = {"NUFAIR_SINKS": '["webhook"]', "NUFAIR_WEBHOOK_URL": hook,
           "NUFAIR_WEBHOOK_SECRET": SECRET, "NUFAIR_DISPATCHER_POLL_S": "0.5"}
    latencies: list[float] = []
    stages: list[float] = []
    with fresh_database() as url, serve(url, load_sample=False, extra_env=env) as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        headers = {"Authorization": "Bearer nufair-dev-token"}
        for body in bodies:
            key = (f"nufair:IceCube:{body['run_id']}:{body['event_id']}:r0:webhook:gcn-json")
            t0 = time.perf_counter()
            r = client.post("/api/v1/events/raw", json=body, headers=headers)
            t_http = time.perf_counter()
            if r.status_code != 201 or r.json()["stream"] == "none":
                print("skipped (not an alert):", r.status_code, r.json().get("stream"))
                continue
            with arrivals.cond:
                arrivals.cond.wait_for(lambda k=key: k in arrivals.at, timeout=30)  # type: ignore[misc]
            if key not in arrivals.at:
                raise RuntimeError(f"notice {key} never arrived")
            latencies.append(arrivals.at[key] - t0)
            stages.append(r.json()["selection"]["first_guess_s"])
            _ = t_http
    receiver.shutdown()
    lat = np.array(latencies)
    result = {
        "n": len(lat), "energy_tev": args.energy_tev,
        "initial_p50_s": float(np.percentile(lat, 50)),
        "initial_p95_s": float(np.percentile(lat, 95)),
        "first_guess_p50_s": float(np.percentile(stages, 50)),
        "goal_initial_p50_s": 1.0, "machine": machine(),
    }
    path = write_result("latency", result)
    print(f"initial notice latency over {len(lat)} alerts: p50 {result['initial_p50_s']:.2f} s,"
          f" p95 {result['initial_p95_s']:.2f} s (first guess p50 "
          f"{result['first_guess_p50_s']:.2f} s); goal p50 ≤ 1 s → {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
