"""Load: concurrent clients mixing the read endpoints against a real server on loopback,
optionally beside floods of hostile-but-anonymous requests (issue 12).

Each normal client loops, bounded by time and by a request cap, over a weighted mix of
requests (cone searches, event pages, region look-ups, listings, and — where the app serves
them — TAP sync queries, ConeSearch and landing pages). Reported: requests, errors (any
status ≥ 500 or transport error), throughput, p50 / p99 latency per kind.

With ``--floods`` (the default) flood clients run beside them for the whole run: 45 blocking
``WAIT=60`` polls of PENDING UWS jobs, the DCAT ``/catalog`` ×3, 25 TAP sync cross joins of
``nufair.alerts`` with itself, distinct ~300 KB ADQL queries and pathological ADQL (1000
``AND`` terms, ``1+1+…`` ×1000, 500 nested subqueries). Their answers (refusals included)
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
import multiprocessing
import os
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack, ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any, NamedTuple

import httpx
import psutil

#: Per-client cap on requests, so that a loop is bounded even if the server is very fast.
MAX_REQUESTS_PER_CLIENT = 100_000

#: The cross join of the floods (issue 12, items 2 and 3).
CROSS_JOIN = "SELECT a.*, b.* FROM nufair.alerts a, nufair.alerts b"

#: The query of the PENDING jobs the WAIT flood polls (never run: no PHASE=RUN).
PENDING_QUERY = "SELECT TOP 1 name FROM nufair.alerts"

HEALTHZ = "/healthz"
#: Issue 12's bounds.
HEALTHZ_BOUND_MS = 100.0
RSS_BOUND_BYTES = int(1.5 * 1024**3)


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


def pct(xs: list[float], q: int) -> float:
    """The ``q``-th percentile of ``xs`` (NaN when empty)."""
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]


# ------------------------------------------------------------------ floods
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


# ------------------------------------------------------------------ monitor
class Probe(NamedTuple):
    """One probe: seconds since the monitor started, latency in seconds (from the request's
    send to its whole answer), status (0: transport error or timeout)."""

    at_s: float
    latency_s: float
    status: int


def probe_loop(http: httpx.Client, path: str, interval_s: float, seconds: float,
               halt: Event) -> list[Probe]:
    """GET ``path`` with ``http`` every ``interval_s`` for ``seconds`` or until ``halt``;
    a late probe delays the next one (no catch-up burst)."""
    out: list[Probe] = []
    start = time.perf_counter()
    next_at = start
    for _ in range(int(seconds / interval_s) + 1):
        now = time.perf_counter()
        if now - start >= seconds or halt.is_set():
            break
        if next_at > now:
            time.sleep(next_at - now)
        t0 = time.perf_counter()
        try:
            status = http.get(path).status_code
        except httpx.HTTPError:
            status = 0
        t1 = time.perf_counter()
        out.append(Probe(t0 - start, t1 - t0, status))
        next_at = max(next_at + interval_s, t1)
    return out


#: Niceness of the process that generates the load. The clients share this machine's cores
#: with the server they measure; at equal priority the generator's own CPU (thousands of
#: requests a second in the floods) showed up as server latency. In production clients
#: are elsewhere, so the generator yields the CPU to the server (and to PostgreSQL).
GENERATOR_NICENESS = 10


def run_load_yielding(**kwargs: Any) -> LoadReport:
    """:func:`run_load` in a child process at :data:`GENERATOR_NICENESS` (the monitor it
    starts raises its own priority again where allowed)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=os.nice,
                             initargs=(GENERATOR_NICENESS,)) as pool:
        return pool.submit(run_load, **kwargs).result()


def _monitor_main(base: str, targets: list[tuple[str, float]], seconds: float,
                  timeout_s: float, ready: Event, go: Event, halt: Event,
                  results: Queue[Any]) -> None:
    """The monitor process: one probing thread per (path, interval), each on a keep-alive
    connection of its own, opened (by a first request) before ``ready`` is set; probing
    starts at ``go``. Where allowed, the process raises its own CPU priority (threads
    inherit it), so that on a busy machine a probe is not late for the monitor's own sake;
    the server's priority is left alone."""
    with suppress(OSError):  # lowering the niceness needs CAP_SYS_NICE
        os.nice(-10)
    found: dict[str, list[Probe]] = {}
    with ExitStack() as stack:
        clients = [stack.enter_context(httpx.Client(base_url=base, timeout=timeout_s))
                   for _ in targets]
        for http, (path, _) in zip(clients, targets, strict=True):
            with suppress(httpx.HTTPError):  # a failure here is the first probe's to report
                http.get(path)
        ready.set()
        go.wait(120)

        def one(http: httpx.Client, path: str, interval: float) -> None:
            found[path] = probe_loop(http, path, interval, seconds, halt)

        threads = [threading.Thread(target=one, args=(http, *t))
                   for http, t in zip(clients, targets, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    results.put({p: [tuple(x) for x in v] for p, v in found.items()})


class Monitor(NamedTuple):
    """The monitor process seen from the run: ``collect()`` waits for the probes and
    returns them per path; ``halt()`` ends the probing early."""

    collect: Callable[[], dict[str, list[Probe]]]
    halt: Callable[[], None]


@contextmanager
def monitoring(base: str, targets: list[tuple[str, float]], seconds: float,
               timeout_s: float = 10.0) -> Iterator[Monitor]:
    """Probe ``targets`` (path, interval) from a separate process, so that the probes wait
    neither on this process's event loop and GIL nor behind its flood connections.

    Probing starts on entry (once the process is ready) and lasts ``seconds``.
    """
    ctx = multiprocessing.get_context("spawn")
    ready, go, halt = ctx.Event(), ctx.Event(), ctx.Event()
    results: Queue[Any] = ctx.Queue()
    proc = ctx.Process(target=_monitor_main, daemon=True,
                       args=(base, targets, seconds, timeout_s, ready, go, halt, results))
    proc.start()
    try:
        deadline = time.monotonic() + 120
        while not ready.wait(0.2):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the monitor process did not start (a spawned process "
                                   "imports the __main__ module by its path: run from a file)")
        go.set()

        def collect() -> dict[str, list[Probe]]:
            got = results.get(timeout=seconds + timeout_s + 60)
            return {p: [Probe(*x) for x in v] for p, v in got.items()}

        yield Monitor(collect, halt.set)
    finally:
        halt.set()
        proc.join(timeout=timeout_s + 60)
        if proc.is_alive():
            proc.kill()


def process_rss(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants (0: it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with suppress(psutil.Error):  # a child that exited meanwhile
            total += p.memory_info().rss
    return total


def kill_tree(pid: int) -> None:
    """SIGKILL process ``pid`` and its descendants."""
    try:
        proc = psutil.Process(pid)
        procs = [*proc.children(recursive=True), proc]
    except psutil.Error:
        return
    for p in procs:
        with suppress(psutil.Error):
            p.kill()


def safety_cap() -> int:
    """RSS above which the server is killed to protect the machine: 4 GiB, or half the
    memory available now if that is less (the unfixed server grows without bound)."""
    return min(4 * 1024**3, psutil.virtual_memory().available // 2)


@dataclass
class RssWatch:
    """RSS samples of the server (bytes); ``killed_at``: the sample over the safety cap
    at which the server was killed (None: it was not)."""

    samples: list[int] = field(default_factory=list)
    killed_at: int | None = None


@contextmanager
def watching_rss(pid: int, kill_above: int | None, on_kill: Callable[[], None],
                 interval_s: float = 0.5, max_samples: int = 100_000) -> Iterator[RssWatch]:
    """Sample :func:`process_rss` of ``pid`` every ``interval_s`` in a thread until exit;
    over ``kill_above`` bytes, kill the server's process tree and call ``on_kill``."""
    watch = RssWatch()
    stop = threading.Event()

    def run() -> None:
        for _ in range(max_samples):
            rss = process_rss(pid)
            watch.samples.append(rss)
            if kill_above is not None and rss > kill_above and watch.killed_at is None:
                kill_tree(pid)
                watch.killed_at = rss
                on_kill()
            if stop.wait(interval_s):
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join(timeout=10)


def probe_summary(probes: list[Probe], bound_ms: float = HEALTHZ_BOUND_MS) -> dict[str, Any]:
    """Count, failures (not 200), p50/p99/max latency and the probes over ``bound_ms``."""
    ms = [1e3 * p.latency_s for p in probes]
    return {
        "probes": len(probes),
        "not_200": sum(p.status != 200 for p in probes),
        "p50_ms": pct(ms, 50),
        "p99_ms": pct(ms, 99),
        "max_ms": max(ms, default=float("nan")),
        f"over_{bound_ms:g}ms": sum(x > bound_ms for x in ms),
    }


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
    return LoadReport(elapsed, dict(lat), errors, tallies, len(job_ids), found, rss)


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
        f"{result['clients']} clients × {result['seconds']:.0f} s: {result['requests']} "
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
    ap.add_argument("--kill-above-gb", type=float, default=None,
                    help="kill the server (and end the run) above this RSS; default: 4 GiB "
                         "or half the available memory")
    args = ap.parse_args()
    kinds = {k.strip() for k in args.flood_kinds.split(",") if k.strip()}
    plan = FloodPlan(cross_joins=args.cross_joins).only(kinds) if args.floods else None
    cap = None if args.kill_above_gb is None else int(args.kill_above_gb * 1024**3)
    with fresh_database() as url, serving(url) as server:
        available = probe(server.base)
        report = run_load_yielding(base=server.base, pid=server.pid, clients=args.clients,
                                   seconds=args.seconds, plan=plan, available=available,
                                   kill_above=cap)
    result = summarise(report, args.clients, available, plan)
    print_result(result)
    print(f"written {write_result('load', result)}")


if __name__ == "__main__":
    main()
