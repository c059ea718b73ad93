"""The event-loop lag probe (issue 12): where ``/healthz`` time goes under the floods."""

from __future__ import annotations

import asyncio
import time

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from nufair.health_loop import LoopLag, thread_schedstat


def _value(registry: CollectorRegistry, name: str) -> float:
    got = registry.get_sample_value(name)
    assert got is not None, name
    return got


def _blocked_loop(work: str) -> CollectorRegistry:
    """Run the probe while a coroutine holds the loop for 0.3 s (``work``: "cpu" spins,
    "sleep" sleeps in ``time.sleep``, as a thread waiting for the GIL would)."""
    registry = CollectorRegistry()
    probe = LoopLag(registry, interval_s=0.02)

    async def main() -> None:
        task = asyncio.create_task(probe.run())
        await asyncio.sleep(0.05)
        end = time.perf_counter() + 0.3
        if work == "cpu":
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(0.3)
        await asyncio.sleep(0.05)
        task.cancel()

    asyncio.run(main())
    return registry


def test_a_loop_held_by_work_shows_as_lag_on_the_loops_cpu() -> None:
    """A coroutine spinning 0.3 s: one wake-up at least 0.28 s late, and the thread ran
    (or waited for a CPU) through it."""
    reg = _blocked_loop("cpu")
    assert _value(reg, "nufair_event_loop_lag_seconds_sum") >= 0.28
    late = reg.get_sample_value("nufair_event_loop_lag_seconds_bucket", {"le": "0.25"})
    count = _value(reg, "nufair_event_loop_lag_seconds_count")
    assert late is not None and late < count  # one tick over 0.25 s
    if thread_schedstat() is not None:
        ran = _value(reg, "nufair_event_loop_cpu_seconds_total") + _value(
            reg, "nufair_event_loop_runqueue_seconds_total")
        assert ran >= 0.28
        assert _value(reg, "nufair_event_loop_blocked_seconds_total") < 0.28


def test_a_loop_thread_asleep_shows_as_blocked() -> None:
    """The loop thread asleep 0.3 s (neither running nor queued): the lag is counted as
    blocked, the GIL's share under the floods."""
    reg = _blocked_loop("sleep")
    assert _value(reg, "nufair_event_loop_lag_seconds_sum") >= 0.28
    if thread_schedstat() is not None:
        assert _value(reg, "nufair_event_loop_blocked_seconds_total") >= 0.2


def test_the_app_exposes_the_lag_in_its_metrics(client: TestClient) -> None:
    """The running app's probe ticks and ``/metrics`` shows it."""
    for _ in range(200):
        body = client.get("/metrics").text
        ticks = [line for line in body.splitlines()
                 if line.startswith("nufair_event_loop_lag_seconds_count ")]
        if ticks and float(ticks[0].split()[1]) >= 2:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the lag probe never ticked")
    assert "nufair_event_loop_blocked_seconds_total" in body
