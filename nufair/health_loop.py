"""How late the event loop runs, and why (issue 12: ``/healthz`` under the floods).

``/healthz`` is answered on the event loop from two flags (:mod:`nufair.health`): its
latency is the time the loop takes to get to it. :class:`LoopLag` measures that from inside:
a task sleeps :data:`INTERVAL_S` over and over, and each wake-up's delay past its deadline
is the loop's *lag* (``nufair_event_loop_lag_seconds``). The loop thread's own scheduler
statistics (``/proc/thread-self/schedstat``: time on a CPU, time runnable but waiting for
one) are added up over the same ticks, so a run's lag can be told apart:

* ``nufair_event_loop_cpu_seconds_total``: the loop thread ran (requests, callbacks,
  middleware: work on the loop);
* ``nufair_event_loop_runqueue_seconds_total``: it was runnable but the machine's CPUs were
  taken (other processes, or this one's other threads);
* the rest of a tick is the thread asleep: in ``epoll`` when idle, or waiting for the GIL
  that a worker thread holds. A tick's lag less the tick's CPU and run-queue wait is lag
  that no work and no CPU shortage explains: the GIL
  (``nufair_event_loop_blocked_seconds_total``; a lower bound, since the tick's CPU and
  wait also count those of the interval before the deadline).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from prometheus_client import Counter, Histogram
from prometheus_client.registry import CollectorRegistry

#: Seconds between two wake-ups of the probe.
INTERVAL_S = 0.05

#: Buckets of the lag histogram, seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_SCHEDSTAT = Path("/proc/thread-self/schedstat")


def thread_schedstat(fd: int | None = None) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable waiting for one) of the calling thread (or of
    the thread whose ``schedstat`` file ``fd`` holds open), or None where the kernel does
    not keep them."""
    try:
        text = _SCHEDSTAT.read_text() if fd is None else os.pread(fd, 128, 0).decode("ascii")
        on_cpu, waiting, _ = text.split()
    except (OSError, ValueError):
        return None
    return int(on_cpu) / 1e9, int(waiting) / 1e9


class LoopLag:
    """The event-loop lag probe (see the module docstring); ``run`` until cancelled."""

    def __init__(self, registry: CollectorRegistry, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.lag = Histogram("nufair_event_loop_lag_seconds",
                             "Delay of the event loop past a timer's deadline",
                             buckets=BUCKETS, registry=registry)
        self.cpu = Counter("nufair_event_loop_cpu_seconds",
                           "CPU time of the event-loop thread over the probe's ticks",
                           registry=registry)
        self.runqueue = Counter("nufair_event_loop_runqueue_seconds",
                                "Time the event-loop thread was runnable with no CPU free",
                                registry=registry)
        self.blocked = Counter("nufair_event_loop_blocked_seconds",
                               "Time of the lag neither the loop's CPU nor the run queue "
                               "explains (waiting for the GIL)", registry=registry)

    def tick(self, late_s: float, before: tuple[float, float] | None,
             after: tuple[float, float] | None) -> None:
        """Record one wake-up ``late_s`` past its deadline, with the loop thread's scheduler
        statistics ``before`` the sleep and ``after`` it."""
        self.lag.observe(max(late_s, 0.0))
        if before is None or after is None:
            return
        cpu, waiting = after[0] - before[0], after[1] - before[1]
        self.cpu.inc(max(cpu, 0.0))
        self.runqueue.inc(max(waiting, 0.0))
        # Of the tick's wall time (interval + lag), what neither ran nor queued for a CPU is
        # sleep: the interval's idle wait, and beyond it, the GIL.
        self.blocked.inc(max(late_s - max(cpu, 0.0) - max(waiting, 0.0), 0.0))

    async def run(self) -> None:
        """Sleep, measure, record, forever (cancel to stop).

        The loop thread's ``schedstat`` is held open and read with one ``pread`` a tick:
        each system call lets go of the GIL, and under the floods taking it back cost the
        loop up to a switch interval each time; opening and reading the file by its path
        took five calls (py-spy: 7 % of the loop thread's samples, issue 12).
        """
        try:
            fd: int | None = os.open(_SCHEDSTAT, os.O_RDONLY)
        except OSError:
            fd = None
        try:
            before = thread_schedstat(fd)
            while True:
                deadline = time.perf_counter() + self.interval_s
                await asyncio.sleep(self.interval_s)
                late = time.perf_counter() - deadline
                after = thread_schedstat(fd)
                self.tick(late, before, after)
                before = after
        finally:
            if fd is not None:
                os.close(fd)
