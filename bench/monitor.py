"""The monitor of a load run: ``/healthz`` (or any path) probed from a process of its own,
the server's resident memory sampled (and the server killed above a safety cap), and the
percentiles the reports use."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any, NamedTuple

import httpx
import psutil

HEALTHZ = "/healthz"
#: Issue 12's bounds.
HEALTHZ_BOUND_MS = 100.0
RSS_BOUND_BYTES = int(1.5 * 1024**3)


def pct(xs: list[float], q: int) -> float:
    """The ``q``-th percentile of ``xs`` (NaN when empty)."""
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1]



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


def _monitor_main(base: str, targets: list[tuple[str, float]], seconds: float,
                  timeout_s: float, ready: Event, go: Event, halt: Event,
                  results: Queue[Any]) -> None:
    """The monitor process: one probing thread per (path, interval), each on a keep-alive
    connection of its own, opened (by a first request) before ``ready`` is set; probing
    starts at ``go``. Where allowed, the process raises its own CPU priority (threads
    inherit it), so that on a busy machine a probe is not late for the monitor's own sake;
    the server's priority is left alone."""
    # A session (scheduling group) of its own, not the load generator's, which may run
    # at a lower priority (bench.load.yield_cpu).
    with suppress(OSError):
        os.setsid()
    with suppress(OSError):  # lowering the niceness needs CAP_SYS_NICE
        os.nice(-10)
        set_group_niceness(-10)
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


def set_group_niceness(niceness: int) -> None:
    """Set the niceness of this process's scheduling group (``/proc/self/autogroup``,
    where the kernel groups processes by session); raises OSError where refused."""
    fd = os.open("/proc/self/autogroup", os.O_WRONLY)
    try:
        os.write(fd, str(niceness).encode())
    finally:
        os.close(fd)


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


def process_tree(pid: int) -> list[psutil.Process]:
    """Process ``pid`` and all its living descendants (none: it is gone)."""
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def process_rss(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants (0: it is gone)."""
    total = 0
    for p in process_tree(pid):
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
    available: int = psutil.virtual_memory().available
    return min(4 * 1024**3, available // 2)


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
