"""A/B of ``bench.load`` with the floods: server settings compared back to back, on one
database, in alternation (A B A B ...), so that a shared machine's changing load falls on
both sides alike.

Each round starts a server with one side's environment (e.g. ``NUFAIR_BULK_NICENESS=0``
against the default), runs the normal clients and the floods for ``--seconds``, and keeps
the ``/healthz`` probes, the event-loop lag split (:mod:`nufair.health_loop`), the normal
clients' errors, the server's RSS peak and its CPU time per request of the normal clients
(less noisy than the p99 on a shared machine, where a lowered generator sends fewer
requests when the machine is busy). The report gives each round and, per side, the
median of the rounds and the pooled ``/healthz`` percentiles, with the 1-minute load
average before each round.

Run: ``.venv/bin/python -m bench.load_ab --a NUFAIR_BULK_NICENESS=0 --b "" --rounds 3``
(``""``: the defaults). ``WORKERS=N`` in a side is not passed to the server: it runs
uvicorn with ``--workers N`` (docs/deploy.md), every other pair is the server's environment.
"""

from __future__ import annotations

import argparse
import os
import statistics
from contextlib import suppress
from typing import Any

import psutil
from sqlalchemy import create_engine, text

from bench.floods import FloodPlan
from bench.load import GENERATOR_NICENESS, probe, run_load_yielding
from bench.monitor import HEALTHZ, pct, process_tree


def parse_env(spec: str) -> dict[str, str]:
    """``"K=V,K2=V2"`` as a dict (``""``: empty)."""
    pairs = [p.strip() for p in spec.split(",") if p.strip()]
    return dict(p.split("=", 1) for p in pairs)


def one_round(
    url: str, env: dict[str, str], clients: int, seconds: float, generator_niceness: int
) -> dict[str, Any]:
    """Serve ``url`` with ``env`` and run the load with the floods; the round's figures."""
    from bench.server import serving

    # The WAIT flood's PENDING jobs of the last round count against the per-owner cap.
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM uws_jobs"))
    engine.dispose()
    load = os.getloadavg()[0]
    server_env = {k: v for k, v in env.items() if k != "WORKERS"}
    workers = int(env.get("WORKERS", "1"))
    with serving(url, load_sample=False, workers=workers, extra_env=server_env) as server:
        available = probe(server.base)
        cpu_before = server_cpu_s(server.pid)
        report = run_load_yielding(
            generator_niceness,
            base=server.base,
            pid=server.pid,
            clients=clients,
            seconds=seconds,
            plan=FloodPlan(),
            available=available,
        )
        cpu = server_cpu_s(server.pid) - cpu_before
    ms = [1e3 * p.latency_s for p in report.probes[HEALTHZ]]
    requests = sum(len(v) for v in report.latencies.values())
    return {
        "load_before": load,
        "healthz_ms": ms,
        "p50_ms": pct(ms, 50),
        "p99_ms": pct(ms, 99),
        "max_ms": max(ms, default=float("nan")),
        "over_100ms": sum(x > 100 for x in ms),
        "requests": requests,
        "errors": len(report.errors),
        "error_kinds": _error_kinds(report.errors),
        "rss_peak_mb": max(report.rss.samples, default=0) / 2**20,
        "loop": report.loop,
        "server_cpu_s": cpu,
        "cpu_ms_per_request": 1e3 * cpu / requests if requests else float("nan"),
    }


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) used so far by the server ``pid`` and its living
    children (the ADQL parse workers): not its PostgreSQL backends, which are the
    database's processes."""
    total = 0.0
    for p in process_tree(pid):
        with suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _error_kinds(errors: list[str]) -> dict[str, int]:
    """The normal clients' errors counted by kind and cause ("tap_sync: HTTP 503")."""
    kinds: dict[str, int] = {}
    for e in errors:
        key = e.split("(")[0][:60]
        kinds[key] = kinds.get(key, 0) + 1
    return kinds


def side_summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per side: medians of the rounds' figures and the pooled ``/healthz`` percentiles."""
    pooled = [x for r in rounds for x in r["healthz_ms"]]
    loops = [r["loop"] for r in rounds if r["loop"]]

    def med(key: str) -> float:
        return statistics.median(lo[key] for lo in loops) if loops else float("nan")

    return {
        "rounds": len(rounds),
        "pooled_p50_ms": pct(pooled, 50),
        "pooled_p99_ms": pct(pooled, 99),
        "median_round_p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "requests": sum(r["requests"] for r in rounds),
        "rss_peak_mb": max(r["rss_peak_mb"] for r in rounds),
        "median_lag_s": med("lag_total_s"),
        "median_loop_cpu_s": med("loop_cpu_s"),
        "median_runqueue_s": med("runqueue_s"),
        "median_gil_s": med("blocked_s"),
        "median_cpu_ms_per_request": statistics.median(r["cpu_ms_per_request"]
                                                       for r in rounds),
    }


def main() -> None:
    """Run the A/B rounds and print and write the figures."""
    from bench.common import fresh_database, write_result
    from bench.server import serving

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--a",
        default="NUFAIR_BULK_NICENESS=0",
        help="side A's environment, K=V,K=V (default: NUFAIR_BULK_NICENESS=0)",
    )
    ap.add_argument("--b", default="", help="side B's environment (default: none)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--generator-niceness", type=int, default=GENERATOR_NICENESS)
    args = ap.parse_args()
    sides = {"A": parse_env(args.a), "B": parse_env(args.b)}
    found: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with fresh_database() as url:
        with serving(url):  # loads the sample once; the rounds serve it as it is
            pass
        for i in range(args.rounds):
            for side in ("A", "B") if i % 2 == 0 else ("B", "A"):
                r = one_round(url, sides[side], args.clients, args.seconds, args.generator_niceness)
                found[side].append(r)
                loop = r["loop"] or {}
                print(
                    f"round {i + 1} {side} {sides[side] or 'defaults'}: load "
                    f"{r['load_before']:.1f}, /healthz p50 {r['p50_ms']:.1f} ms, p99 "
                    f"{r['p99_ms']:.1f} ms, max {r['max_ms']:.0f} ms, "
                    f"{r['over_100ms']}/{len(r['healthz_ms'])} over 100 ms; "
                    f"{r['errors']} errors of {r['requests']} {r['error_kinds'] or ''}; "
                    f"RSS {r['rss_peak_mb']:.0f} MiB; server CPU {r['server_cpu_s']:.1f} s "
                    f"({r['cpu_ms_per_request']:.1f} ms/request); "
                    f"lag {loop.get('lag_total_s', 0):.1f} s = loop CPU "
                    f"{loop.get('loop_cpu_s', 0):.1f} + run queue "
                    f"{loop.get('runqueue_s', 0):.1f} + GIL ≥ {loop.get('blocked_s', 0):.1f}",
                    flush=True,
                )
    result: dict[str, Any] = {
        "generator_niceness": args.generator_niceness,
        "seconds": args.seconds,
        "clients": args.clients,
    }
    for side, rounds in found.items():
        s = side_summary(rounds)
        result[side] = {
            "env": sides[side],
            **s,
            "rounds_detail": [{k: v for k, v in r.items() if k != "healthz_ms"} for r in rounds],
        }
        print(
            f"{side} {sides[side] or 'defaults'}: pooled /healthz p50 "
            f"{s['pooled_p50_ms']:.1f} ms, p99 {s['pooled_p99_ms']:.1f} ms (median of "
            f"rounds {s['median_round_p99_ms']:.1f}); {s['errors']} errors of "
            f"{s['requests']}; RSS peak {s['rss_peak_mb']:.0f} MiB; median lag "
            f"{s['median_lag_s']:.1f} s = loop CPU {s['median_loop_cpu_s']:.1f} + run "
            f"queue {s['median_runqueue_s']:.1f} + GIL ≥ {s['median_gil_s']:.1f}; median "
            f"server CPU {s['median_cpu_ms_per_request']:.1f} ms/request"
        )
    print(f"written {write_result('load_ab', result)}")


if __name__ == "__main__":
    main()
