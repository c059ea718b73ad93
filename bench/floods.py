"""The floods of a load run (issue 12, items 2 and 3): hostile-but-anonymous request loops
beside the normal clients, each answer (refusals included) counted per kind."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import httpx

from bench.monitor import pct

#: The cross join of the floods (issue 12, items 2 and 3).
CROSS_JOIN = "SELECT a.*, b.* FROM nufair.alerts a, nufair.alerts b"

#: The query of the PENDING jobs the WAIT flood polls (never run: no PHASE=RUN).
PENDING_QUERY = "SELECT TOP 1 name FROM nufair.alerts"


@dataclass(frozen=True)
class FloodPlan:
    """How many concurrent flood loops of each kind run (issue 12, items 2 and 3).

    Each loop sends its next request when the last one is answered, but at most one per
    ``min_cycle_s``: once the server refuses a flood quickly, the client (on the same cores)
    does not turn into a busy loop that takes the CPU from the server it measures.
    """

    waiters: int = 45
    wait_jobs: int = 5
    wait_s: int = 60
    catalog: int = 3
    cross_joins: int = 25
    long_queries: int = 2
    long_query_bytes: int = 300_000
    pathological: int = 2
    min_cycle_s: float = 0.1
    max_requests_per_loop: int = 10_000
    timeout_s: float = 120.0

    def only(self, kinds: set[str]) -> FloodPlan:
        """This plan with the loops of every kind not in ``kinds`` (of :data:`FLOOD_KINDS`)
        set to 0."""
        unknown = kinds - set(FLOOD_KINDS)
        if unknown:
            raise ValueError(f"unknown flood kinds {sorted(unknown)}; known: {FLOOD_KINDS}")
        return replace(self, **{name: 0 for kind, name in FLOOD_KINDS.items()
                                if kind not in kinds})


#: Flood kind → the :class:`FloodPlan` field holding its number of loops.
FLOOD_KINDS = {"wait": "waiters", "catalog": "catalog", "cross_join": "cross_joins",
               "long_adql": "long_queries", "pathological": "pathological"}


class FloodRequest(NamedTuple):
    """One request of a flood loop."""

    method: str
    path: str
    params: dict[str, str] | None = None
    data: dict[str, str] | None = None


@dataclass
class Tally:
    """What the server answered to one kind of flood request."""

    started: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    response_bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "started": self.started,
            "answered_or_failed": self.requests,
            "cut_at_end": self.started - self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": self.transport_errors,
            "response_mb": self.response_bytes / 1e6,
            "p50_ms": 1e3 * pct(self.latencies, 50),
            "max_ms": 1e3 * max(self.latencies, default=float("nan")),
            "examples": self.examples[:3],
        }


def tap_sync(query: str, **extra: str) -> FloodRequest:
    """A POSTed TAP sync ADQL query (POST: the long ones do not fit in a URL)."""
    return FloodRequest("POST", "/tap/sync",
                        data={"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query, **extra})


def long_query(rng: random.Random, size: int) -> str:
    """A valid ADQL query of about ``size`` bytes, different each call (a random literal)."""
    return f"SELECT TOP 1 name FROM nufair.alerts WHERE name <> '{rng.randbytes(size // 2).hex()}'"


def many_ands(rng: random.Random, n: int = 1000) -> str:
    """``n`` ``AND`` terms in one WHERE clause."""
    k = rng.randrange(1_000_000)
    terms = " AND ".join(f"ra > {-k - i}" for i in range(n))
    return f"SELECT TOP 1 name FROM nufair.alerts WHERE {terms}"


def long_sum(rng: random.Random, n: int = 1000) -> str:
    """``1+1+…`` with ``n`` terms in the select list."""
    return f"SELECT TOP 1 {'+'.join(['1'] * n)}+{rng.randrange(1_000_000)} AS x FROM nufair.alerts"


def nested_subqueries(rng: random.Random, depth: int = 500) -> str:
    """``depth`` subqueries, each inside the next one's ``IN (...)``."""
    inner = f"SELECT name FROM nufair.alerts WHERE ra > {-rng.randrange(1_000_000)}"
    for _ in range(depth - 1):
        inner = f"SELECT name FROM nufair.alerts WHERE name IN ({inner})"
    return inner.replace("SELECT name", "SELECT TOP 1 name", 1)


def flood_requests(plan: FloodPlan, job_ids: list[str]
                   ) -> dict[str, tuple[int, Callable[[random.Random, int], FloodRequest]]]:
    """Per flood kind: (concurrent loops, the ``i``-th loop's next request from its rng)."""
    cross = tap_sync(CROSS_JOIN, RESPONSEFORMAT="votable/td")
    patho = (many_ands, long_sum, nested_subqueries)
    return {
        "wait": (plan.waiters if job_ids else 0, lambda rng, i: FloodRequest(
            "GET", f"/tap/async/{job_ids[i % len(job_ids)]}", params={"WAIT": str(plan.wait_s)})),
        "catalog": (plan.catalog, lambda rng, i: FloodRequest("GET", "/catalog")),
        "cross_join": (plan.cross_joins, lambda rng, i: cross),
        "long_adql": (plan.long_queries,
                      lambda rng, i: tap_sync(long_query(rng, plan.long_query_bytes))),
        "pathological": (plan.pathological,
                         lambda rng, i: tap_sync(rng.choice(patho)(rng))),
    }


def create_pending_jobs(base: str, n: int) -> list[str]:
    """Create ``n`` TAP async jobs left PENDING (no PHASE=RUN); their ids.

    A job the server refuses to create is left out; the WAIT flood then polls the others.
    """
    ids = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(n):
            r = http.post("/tap/async", data={"REQUEST": "doQuery", "LANG": "ADQL",
                                              "QUERY": PENDING_QUERY})
            location = r.headers.get("location", "")
            if r.status_code == 303 and location:
                ids.append(location.rstrip("/").rsplit("/", 1)[-1])
    return ids


async def flood_loop(http: httpx.AsyncClient, make: Callable[[random.Random, int], FloodRequest],
                     index: int, seed: int, until: float, plan: FloodPlan, tally: Tally,
                     stop: threading.Event) -> None:
    """One flood loop: requests from ``make`` until ``until`` (monotonic) or ``stop``; each
    body is read and dropped; every answer (refusals included) counted in ``tally``."""
    rng = random.Random(seed)
    for _ in range(plan.max_requests_per_loop):
        start = time.monotonic()
        if start >= until or stop.is_set():
            return
        req = make(rng, index)
        tally.started += 1
        t0 = time.perf_counter()
        try:
            async with http.stream(req.method, req.path, params=req.params,
                                   data=req.data) as r:
                async for chunk in r.aiter_raw():
                    tally.response_bytes += len(chunk)
            tally.statuses[r.status_code] += 1
        except httpx.HTTPError as exc:
            tally.transport_errors += 1
            if len(tally.examples) < 10:
                tally.examples.append(repr(exc)[:200])
        tally.requests += 1
        tally.latencies.append(time.perf_counter() - t0)
        pause = plan.min_cycle_s - (time.monotonic() - start)
        if pause > 0:
            await asyncio.sleep(pause)


async def run_floods(base: str, plan: FloodPlan, job_ids: list[str], until: float,
                     tallies: dict[str, Tally], stop: threading.Event) -> None:
    """Every flood loop of ``plan`` until ``until``, each kind on a connection pool of its
    own. Cancel to stop them (the requests then in flight are not counted)."""
    async with AsyncExitStack() as stack:
        loops = []
        for n, (kind, (count, make)) in enumerate(flood_requests(plan, job_ids).items()):
            http = await stack.enter_async_context(httpx.AsyncClient(
                base_url=base, timeout=httpx.Timeout(plan.timeout_s, connect=10.0),
                limits=httpx.Limits(max_connections=max(count, 1),
                                    max_keepalive_connections=max(count, 1))))
            tally = tallies.setdefault(kind, Tally())
            loops += [flood_loop(http, make, i, 1000 * n + i, until, plan, tally, stop)
                      for i in range(count)]
        await asyncio.gather(*loops)
