"""Load: concurrent clients mixing the read endpoints against a real server on loopback,
optionally beside floods of hostile-but-anonymous requests (issue 12).

Each normal client loops, bounded by time and by a request cap, over a weighted mix of
requests (cone searches, event pages, region look-ups, listings, and — where the app serves
them — TAP sync queries, ConeSearch and landing pages). Reported: requests, errors (any
status ≥ 500 or transport error), throughput, p50 / p99 latency per kind.

With ``--floods`` (the default) flood clients run beside them for the whole run: 45 blocking
``WAIT=60`` polls of PENDING UWS jobs, the DCAT ``/catalog`` x3, 25 TAP sync cross joins of
``nufair.alerts`` with itself, distinct ~300 KB ADQL queries and pathological ADQL (1000
``AND`` terms, ``1+1+…`` x1000, 500 nested subqueries). Their answers (refusals included)
are counted per kind, apart from the normal clients'. A monitor in its own process probes
``/healthz`` every 50 ms (latency p50/p99/max, from the request's send), and the server's
resident memory (uvicorn and its children) is sampled every 0.5 s (peak reported).

Goals: issue 7: 50 clients for 60 s, 0 errors; p50/p99 recorded. Issue 12: the same with the
floods: 0 errors for the normal clients, ``/healthz`` p99 ≤ 100 ms, server RSS ≤ 1.5 GB.

Run: ``.venv/bin/python -m bench.load [--clients 50] [--seconds 60] [--no-floods]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from typing import Any

import httpx

from bench.floods import FLOOD_KINDS, FloodPlan, Tally, create_pending_jobs, run_floods
from bench.monitor import (
    HEALTHZ,
    HEALTHZ_BOUND_MS,
    RSS_BOUND_BYTES,
    Probe,
    RssWatch,
    monitoring,
    pct,
    probe_summary,
    safety_cap,
    set_group_niceness,
    watching_rss,
)

__all__ = ["HEALTHZ", "FloodPlan", "LoadReport", "Probe", "probe_summary", "run_load",
           "run_load_yielding"]

#: Per-client cap on requests, so that a loop is bounded even if the server is very fast.
MAX_REQUESTS_PER_CLIENT = 100_000


# ------------------------------------------------------------------ normal clients
def request_mix(rng: random.Random, available: set[str]) -> tuple[str, str]:
    """(kind, path) of the next request."""
    ra, dec = rng.uniform(0, 360), rng.uniform(-60, 60)
    choices: list[tuple[str, str, int]] = [
        ("rest_cone", f"/api/v1/events?ra={ra:.3f}&dec={dec:.3f}&radius=10&limit=50", 3),
        ("rest_event", "/api/v1/events/IceCube-200615A", 2),
        ("regions", f"/api/v1/regions/containing?ra={ra:.3f}&dec={dec:.3f}", 2),
        ("listing", "/api/v1/events?stream=gold&limit=20", 1),
    ]
    if "scs" in available:
        choices.append(("scs", f"/scs?RA={ra:.3f}&DEC={dec:.3f}&SR=5", 3))
    if "tap" in available:
        q = (
            f"SELECT TOP 20 * FROM nufair.alerts WHERE 1=CONTAINS(POINT('ICRS', ra, dec), "
            f"CIRCLE('ICRS', {ra:.3f}, {dec:.3f}, 10))"
        )
        choices.append(("tap_sync", f"/tap/sync?REQUEST=doQuery&LANG=ADQL&QUERY={q}", 3))
    if "records" in available:
        choices.append(("landing", "/records/IceCube-200615A", 2))
    kinds, paths, weights = zip(*choices, strict=True)
    i = rng.choices(range(len(kinds)), weights=weights)[0]
    return kinds[i], paths[i]


async def client(
    base: str,
    seed: int,
    until: float,
    available: set[str],
    lat: dict[str, list[float]],
    errors: list[str],
    stop: threading.Event | None = None,
    think_s: float = 0.0,
) -> None:
    """One normal client: the request mix until ``until`` (monotonic) or ``stop``, at most
    :data:`MAX_REQUESTS_PER_CLIENT` requests, ``think_s`` between an answer and the next
    request; latencies per kind into ``lat``, errors (status ≥ 500 or transport failure)
    into ``errors``."""
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= until or (stop is not None and stop.is_set()):
                return
            kind, path = request_mix(rng, available)
            t0 = time.perf_counter()
            try:
                r = await http.get(path)
                ok = r.status_code < 500
            except httpx.HTTPError as exc:
                ok, r = False, None
                errors.append(f"{kind}: {exc!r}")
            lat[kind].append(time.perf_counter() - t0)
            if not ok and r is not None:
                errors.append(f"{kind}: HTTP {r.status_code}")
            if think_s > 0:
                await asyncio.sleep(think_s)


def probe(base: str) -> set[str]:
    """Which optional endpoints this build serves."""
    have = set()
    for name, path in (
        ("scs", "/scs?RA=0&DEC=0&SR=0"),
        ("tap", "/tap/availability"),
        ("records", "/records/IceCube-200615A"),
    ):
        try:
            if httpx.get(base + path, timeout=5).status_code < 400:
                have.add(name)
        except httpx.HTTPError:
            pass
    return have


#: Default niceness of the process that generates the load (``--generator-niceness``).
#: The clients share this machine's cores with the server they measure; at equal priority
#: the generator's own CPU (thousands of requests a second in the floods) showed up as
#: server latency. In production clients are elsewhere; a niced generator models that.
#: 0 runs it at the server's priority (both figures are in bench/RESULTS.md).
GENERATOR_NICENESS = 10


def yield_cpu(niceness: int) -> None:
    """Run this process at ``niceness``, in a session of its own whose scheduling group
    (autogroup) also runs at it: with the kernel's autogroup scheduling a process's
    niceness only orders it within its session's group (where the server, started in a
    session of its own, is not)."""
    with suppress(OSError):
        os.setsid()
    os.nice(niceness)
    with suppress(OSError):  # a kernel without autogroup
        set_group_niceness(niceness)


def run_load_yielding(generator_niceness: int = GENERATOR_NICENESS,
                      **kwargs: Any) -> LoadReport:
    """:func:`run_load` in a child process at ``generator_niceness`` (:func:`yield_cpu`;
    the monitor it starts has a session of its own and raises its priority where
    allowed)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=yield_cpu,
                             initargs=(generator_niceness,)) as pool:
        return pool.submit(run_load, **kwargs).result()


# ------------------------------------------------------------------ event-loop lag
def loop_metrics(base: str) -> dict[str, float]:
    """The server's ``nufair_event_loop_*`` samples from ``/metrics`` (the lag probe of
    :mod:`nufair.health_loop`; empty when the server has none)."""
    try:
        text = httpx.get(base + "/metrics", timeout=30).text
    except httpx.HTTPError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("nufair_event_loop_") and " " in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def loop_summary(start: dict[str, float], end: dict[str, float]) -> dict[str, Any] | None:
    """The lag probe over a run: ticks, lag percentiles (the bucket bound a percentile falls
    in), and the lag's total split into the loop's CPU, the run-queue wait and the rest
    (GIL), seconds."""
    d = {k: v - start.get(k, 0.0) for k, v in end.items()}
    ticks = d.get("nufair_event_loop_lag_seconds_count", 0.0)
    if not ticks:
        return None
    buckets = sorted((float(k.split('le="')[1].split('"')[0]), v) for k, v in d.items()
                     if k.startswith("nufair_event_loop_lag_seconds_bucket"))

    def bound(q: float) -> float:
        return next((le for le, n in buckets if n >= q * ticks), float("inf"))

    return {"ticks": ticks, "lag_p50_le_ms": 1e3 * bound(0.5),
            "lag_p99_le_ms": 1e3 * bound(0.99),
            "lag_total_s": d.get("nufair_event_loop_lag_seconds_sum", 0.0),
            "loop_cpu_s": d.get("nufair_event_loop_cpu_seconds_total", 0.0),
            "runqueue_s": d.get("nufair_event_loop_runqueue_seconds_total", 0.0),
            "blocked_s": d.get("nufair_event_loop_blocked_seconds_total", 0.0)}


# ------------------------------------------------------------------ one run
@dataclass
class LoadReport:
    """Everything one run measured."""

    seconds: float
    latencies: dict[str, list[float]]
    errors: list[str]
    floods: dict[str, Tally]
    flood_jobs: int
    probes: dict[str, list[Probe]]
    rss: RssWatch
    loop: dict[str, Any] | None = None


async def _normal_and_floods(base: str, clients: int, until: float, available: set[str],
                             plan: FloodPlan | None, job_ids: list[str],
                             lat: dict[str, list[float]], errors: list[str],
                             tallies: dict[str, Tally], stop: threading.Event,
                             think_s: float) -> None:
    """The normal clients until ``until`` or ``stop``, and the floods beside them until the
    last normal client is done."""
    flooding = (asyncio.create_task(run_floods(base, plan, job_ids, until, tallies, stop))
                if plan is not None else None)
    normal: list[Awaitable[None]] = [client(base, i, until, available, lat, errors, stop,
                                            think_s)
                                     for i in range(clients)]
    try:
        await asyncio.gather(*normal)
    finally:
        if flooding is not None:
            flooding.cancel()
            await asyncio.gather(flooding, return_exceptions=True)


def run_load(base: str, pid: int, *, clients: int, seconds: float, plan: FloodPlan | None,
             probes: list[tuple[str, float]] | None = None,
             available: set[str] | None = None, kill_above: int | None = None,
             think_s: float = 0.0) -> LoadReport:
    """Run ``clients`` normal clients (``think_s`` between an answer and their next
    request) and the floods of ``plan`` for ``seconds`` against the server at ``base``
    (process ``pid``), probing ``probes`` (path, interval; default ``/healthz`` every
    50 ms) and sampling the server's RSS.

    Should the server's RSS pass ``kill_above`` (default :func:`safety_cap`), the server is
    killed and the run ends there (``report.rss.killed_at``).
    """
    available = probe(base) if available is None else available
    job_ids = create_pending_jobs(base, plan.wait_jobs) if plan and plan.waiters else []
    if plan is not None and plan.waiters and not job_ids:
        raise RuntimeError("no PENDING TAP job could be created for the WAIT flood")
    lat: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    tallies: dict[str, Tally] = {}
    targets = probes if probes is not None else [(HEALTHZ, 0.05)]
    stop = threading.Event()
    cap = safety_cap() if kill_above is None else kill_above
    loop_start = loop_metrics(base)
    with monitoring(base, targets, seconds) as monitor:

        def on_kill() -> None:
            stop.set()
            monitor.halt()

        with watching_rss(pid, cap, on_kill) as rss:
            t0 = time.monotonic()
            asyncio.run(_normal_and_floods(base, clients, t0 + seconds, available, plan,
                                           job_ids, lat, errors, tallies, stop, think_s))
            elapsed = time.monotonic() - t0
        found = monitor.collect()
    loop = loop_summary(loop_start, loop_metrics(base))
    return LoadReport(elapsed, dict(lat), errors, tallies, len(job_ids), found, rss, loop)


def summarise(report: LoadReport, clients: int, available: set[str],
              plan: FloodPlan | None) -> dict[str, Any]:
    """The JSON result of a run."""
    every = [x for xs in report.latencies.values() for x in xs]
    per_kind = {
        k: {"n": len(v), "p50_ms": 1e3 * pct(v, 50), "p99_ms": 1e3 * pct(v, 99)}
        for k, v in sorted(report.latencies.items())
    }
    samples = report.rss.samples
    peak = max(samples, default=0)
    return {
        "clients": clients,
        "seconds": report.seconds,
        "requests": len(every),
        "errors": len(report.errors),
        "error_examples": report.errors[:5],
        "throughput_rps": len(every) / report.seconds,
        "p50_ms": 1e3 * pct(every, 50),
        "p99_ms": 1e3 * pct(every, 99),
        "per_kind": per_kind,
        "endpoints": sorted(available),
        "floods": None if plan is None else {
            "plan": asdict(plan),
            "pending_jobs": report.flood_jobs,
            "per_kind": {k: t.summary() for k, t in sorted(report.floods.items())},
        },
        "probes": {path: probe_summary(p) for path, p in report.probes.items()},
        "event_loop": report.loop,
        "server_rss": {
            "start_mb": samples[0] / 2**20 if samples else None,
            "peak_mb": peak / 2**20,
            "samples": len(samples),
            "goal_mb": RSS_BOUND_BYTES / 2**20,
            "killed_at_mb": (None if report.rss.killed_at is None
                             else report.rss.killed_at / 2**20),
        },
    }


def print_result(result: dict[str, Any]) -> None:
    """The figures of ``result`` with their goals."""
    print(
        f"{result['clients']} clients x {result['seconds']:.0f} s: {result['requests']} "
        f"requests, {result['errors']} errors, {result['throughput_rps']:.0f} req/s, "
        f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms (goal: 0 errors)"
    )
    for k, v in result["per_kind"].items():
        print(f"  {k:11s} n={v['n']:6d}  p50 {v['p50_ms']:7.1f} ms  p99 {v['p99_ms']:7.1f} ms")
    for ex in result["error_examples"]:
        print(f"  error: {ex}")
    floods = result["floods"]
    if floods is not None:
        print(f"floods ({floods['pending_jobs']} PENDING jobs polled):")
        for k, v in floods["per_kind"].items():
            print(f"  {k:12s} sent {v['started']:5d}  cut at end {v['cut_at_end']:3d}  "
                  f"statuses {v['statuses']}  transport errors {v['transport_errors']}  "
                  f"{v['response_mb']:.0f} MB read  p50 {v['p50_ms']:.0f} ms  "
                  f"max {v['max_ms']:.0f} ms")
    for path, v in result["probes"].items():
        print(f"{path}: {v['probes']} probes, {v['not_200']} not 200, p50 {v['p50_ms']:.1f} ms, "
              f"p99 {v['p99_ms']:.1f} ms, max {v['max_ms']:.1f} ms "
              f"(goal: p99 ≤ {HEALTHZ_BOUND_MS:g} ms)")
    loop = result.get("event_loop")
    if loop:
        print(f"event loop: {loop['ticks']:.0f} ticks, lag p50 ≤ {loop['lag_p50_le_ms']:g} ms, "
              f"p99 ≤ {loop['lag_p99_le_ms']:g} ms; lag {loop['lag_total_s']:.1f} s in all: "
              f"loop CPU {loop['loop_cpu_s']:.1f} s, run queue {loop['runqueue_s']:.1f} s, "
              f"other (GIL) ≥ {loop['blocked_s']:.1f} s")
    print(f"priorities: generator niceness {result.get('generator_niceness', '?')}, server "
          f"NUFAIR_BULK_NICENESS {result.get('server_bulk_niceness', '?')}")
    rss = result["server_rss"]
    print(f"server RSS: peak {rss['peak_mb']:.0f} MiB over {rss['samples']} samples "
          f"(goal: ≤ {rss['goal_mb']:.0f} MiB)")
    if rss["killed_at_mb"] is not None:
        print(f"THE SERVER WAS KILLED at {rss['killed_at_mb']:.0f} MiB (safety cap): the run "
              f"ended after {result['seconds']:.0f} s")


def main() -> None:
    from bench.common import fresh_database, write_result
    from bench.server import serving

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--floods", action=argparse.BooleanOptionalAction, default=True,
                    help="run issue 12's floods beside the normal clients (default: on)")
    ap.add_argument("--cross-joins", type=int, default=FloodPlan.cross_joins,
                    help="concurrent cross-join loops of the floods")
    ap.add_argument("--flood-kinds", default=",".join(FLOOD_KINDS),
                    help=f"comma-separated flood kinds (default: all of {', '.join(FLOOD_KINDS)})")
    ap.add_argument("--generator-niceness", type=int, default=GENERATOR_NICENESS,
                    help="niceness of the clients' and floods' process (default: "
                         f"{GENERATOR_NICENESS}, as if the clients ran elsewhere; 0: at the "
                         "server's priority)")
    ap.add_argument("--workers", type=int, default=1,
                    help="uvicorn worker processes of the server (docs/deploy.md; default 1)")
    ap.add_argument("--kill-above-gb", type=float, default=None,
                    help="kill the server (and end the run) above this RSS; default: 4 GiB "
                         "or half the available memory")
    args = ap.parse_args()
    kinds = {k.strip() for k in args.flood_kinds.split(",") if k.strip()}
    plan = FloodPlan(cross_joins=args.cross_joins).only(kinds) if args.floods else None
    cap = None if args.kill_above_gb is None else int(args.kill_above_gb * 1024**3)
    with fresh_database() as url, serving(url, workers=args.workers) as server:
        available = probe(server.base)
        report = run_load_yielding(args.generator_niceness, base=server.base,
                                   pid=server.pid, clients=args.clients,
                                   seconds=args.seconds, plan=plan, available=available,
                                   kill_above=cap)
    result = summarise(report, args.clients, available, plan)
    result["generator_niceness"] = args.generator_niceness
    result["server_workers"] = args.workers
    result["server_bulk_niceness"] = os.environ.get("NUFAIR_BULK_NICENESS", "default")
    print_result(result)
    print(f"written {write_result('load', result)}")


if __name__ == "__main__":
    main()
