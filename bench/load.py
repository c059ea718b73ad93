"""Load: concurrent clients mixing the read endpoints against a real server on loopback.

Each client loops, bounded by time and by a request cap, over a weighted mix of requests
(cone searches, event pages, region look-ups, listings, and — where the app serves them —
TAP sync queries, ConeSearch and landing pages). Reported: requests, errors (any status
≥ 500 or transport error), throughput, p50 / p99 latency per kind.

Goal (issue 7): 50 clients for 60 s, 0 errors; p50/p99 recorded.

Run: ``.venv/bin/python -m bench.load [--clients 50] [--seconds 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import defaultdict

import httpx

from bench.common import fresh_database, write_result
from bench.server import serve

#: Per-client cap on requests, so that a loop is bounded even if the server is very fast.
MAX_REQUESTS_PER_CLIENT = 100_000


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
) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= until:
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


def pct(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 1 else xs[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    with fresh_database() as url, serve(url) as base:
        available = probe(base)
        lat: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        t0 = time.monotonic()
        until = t0 + args.seconds

        async def run_all() -> None:
            await asyncio.gather(
                *(client(base, i, until, available, lat, errors) for i in range(args.clients))
            )

        asyncio.run(run_all())
        elapsed = time.monotonic() - t0
    every = [x for xs in lat.values() for x in xs]
    per_kind = {
        k: {"n": len(v), "p50_ms": 1e3 * pct(v, 50), "p99_ms": 1e3 * pct(v, 99)}
        for k, v in sorted(lat.items())
    }
    result = {
        "clients": args.clients,
        "seconds": elapsed,
        "requests": len(every),
        "errors": len(errors),
        "error_examples": errors[:5],
        "throughput_rps": len(every) / elapsed,
        "p50_ms": 1e3 * pct(every, 50),
        "p99_ms": 1e3 * pct(every, 99),
        "per_kind": per_kind,
        "endpoints": sorted(available),
    }
    print(
        f"{args.clients} clients × {elapsed:.0f} s: {len(every)} requests, {len(errors)} "
        f"errors, {result['throughput_rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms (goal: 0 errors)"
    )
    for k, v in per_kind.items():
        print(f"  {k:11s} n={v['n']:6d}  p50 {v['p50_ms']:7.1f} ms  p99 {v['p99_ms']:7.1f} ms")
    print(f"written {write_result('load', result)}")


if __name__ == "__main__":
    main()
