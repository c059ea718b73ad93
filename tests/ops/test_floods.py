"""Issue 12: floods of anonymous requests against the real server (uvicorn in its own
process, the sample loaded) leave its liveness probe and its normal answers alone.

The floods are a short version of ``bench.load --floods`` (issue 12, items 2 and 3): 45
blocking ``WAIT=60`` polls of PENDING UWS jobs, the DCAT ``/catalog`` x3, TAP sync cross
joins of ``nufair.alerts`` with itself, distinct ~300 KB ADQL queries and pathological ADQL.
Flood requests may be refused (that is how a fixed server answers them); the probes come
from a separate process on connections of their own, timed from the request's send.
"""

from __future__ import annotations

from pathlib import Path

from bench.floods import FloodPlan
from bench.load import LoadReport, run_load_yielding
from bench.monitor import HEALTHZ, Probe, probe_summary
from bench.server import serving

#: Seconds of flooding.
SECONDS = 12.0
#: Fewer loops than the benchmark's, but more waiters than the server has threads.
PLAN = FloodPlan(waiters=45, wait_jobs=3, catalog=3, cross_joins=3, long_queries=1,
                 pathological=1)
NORMAL_CLIENTS = 5
#: Pause of a normal client between an answer and its next request: the test's own load
#: stays light (on 2 cores, 5 clients in a busy loop alone pushed /healthz past 100 ms).
THINK_S = 0.2
REST = "/api/v1/events?limit=5"
HEALTHZ_EVERY_S = 0.05
#: The goal of issue 12: /healthz within 100 ms.
HEALTHZ_BOUND_S = 0.100
#: Share of the probes that must meet it. Not all: on this 2-core machine the floods'
#: generator, the prober, PostgreSQL and the server share the cores, and some probes
#: still land past 100 ms — 0 to 6.5 % over the runs of 2026-12-02, the most inside the
#: full suite in CI (median 15-37 ms). The share is set below that spread so that the
#: test fails on a regression, not on the machine's noise; the strict bound is tracked in
#: issue 12, not hidden here.
HEALTHZ_WITHIN_SHARE = 0.80
#: What must hold for every probe: no stall (the unfixed server stalled /healthz for
#: tens of seconds under these floods).
HEALTHZ_STALL_S = 1.0
REST_EVERY_S = 0.5
REST_BOUND_S = 2.0
#: The unfixed server grows without bound under the cross joins: killed above this.
KILL_ABOVE_BYTES = 3 * 1024**3


def _worst(probes: list[Probe]) -> str:
    """The slowest probes, for the failure message."""
    worst = sorted(probes, key=lambda p: -p.latency_s)[:5]
    return ", ".join(f"{1e3 * p.latency_s:.0f} ms (HTTP {p.status or 'none'}, at {p.at_s:.1f} s)"
                     for p in worst)


def _late_or_failed(probes: list[Probe], bound_s: float) -> list[Probe]:
    """The probes not answered 200 within ``bound_s``."""
    return [p for p in probes if p.status != 200 or p.latency_s > bound_s]


def _flood(db_url: str, tmp_path: Path) -> LoadReport:
    """Serve ``db_url`` (the sample loaded) with uvicorn in its own process and run the
    floods, the normal clients and the probes against it; the figures are printed."""
    env = {"NUFAIR_DATA_DIR": str(tmp_path / "server"), "NUFAIR_ENVIRONMENT": "development",
           "NUFAIR_SCAN_RUNNER_ENABLED": "false", "NUFAIR_DISPATCHER_ENABLED": "false",
           "NUFAIR_PID_SYNC_INTERVAL_S": "0"}
    with serving(db_url, extra_env=env) as server:
        report = run_load_yielding(base=server.base, pid=server.pid, clients=NORMAL_CLIENTS,
                                   seconds=SECONDS, plan=PLAN, kill_above=KILL_ABOVE_BYTES,
                                   think_s=THINK_S,
                                   probes=[(HEALTHZ, HEALTHZ_EVERY_S), (REST, REST_EVERY_S)])
    for path, probes in report.probes.items():  # shown by pytest when the test fails
        print(path, probe_summary(probes))
    for kind, tally in sorted(report.floods.items()):
        print(kind, tally.summary())
    print(f"server RSS peak {max(report.rss.samples, default=0) / 2**20:.0f} MiB; "
          f"{len(report.errors)} normal errors")
    return report


def test_floods_leave_healthz_and_normal_requests_answering(db_url: str,
                                                           tmp_path: Path) -> None:
    """Beside the floods, ``/healthz`` and normal requests keep answering."""
    report = _flood(db_url, tmp_path)

    assert report.rss.killed_at is None, (
        f"the server's RSS reached {report.rss.killed_at / 2**20:.0f} MiB: killed, run cut "
        f"after {report.seconds:.0f} s")
    for kind, tally in report.floods.items():
        assert tally.started > 0, f"the {kind} flood sent nothing"

    healthz = report.probes[HEALTHZ]
    stalled = _late_or_failed(healthz, HEALTHZ_STALL_S)
    assert not stalled, (f"{len(stalled)} of {len(healthz)} /healthz probes failed or took "
                         f"more than {HEALTHZ_STALL_S:.0f} s; worst: {_worst(healthz)}")
    late = _late_or_failed(healthz, HEALTHZ_BOUND_S)
    assert len(late) <= (1 - HEALTHZ_WITHIN_SHARE) * len(healthz), (
        f"{len(late)} of {len(healthz)} /healthz probes took more than "
        f"{1e3 * HEALTHZ_BOUND_S:.0f} ms; worst: {_worst(healthz)}")
    assert healthz and healthz[-1].at_s >= SECONDS - 1, (
        f"the /healthz probes did not go on throughout the floods ({len(healthz)} probes)")

    rest = report.probes[REST]
    assert rest, "no normal REST request was made during the floods"
    bad = _late_or_failed(rest, REST_BOUND_S)
    assert not bad, (f"{len(bad)} of {len(rest)} `GET {REST}` failed or took more than "
                     f"{REST_BOUND_S:.0f} s; worst: {_worst(rest)}")

    assert not report.errors, (f"{len(report.errors)} normal requests failed (status ≥ 500 "
                               f"or transport error), e.g. {report.errors[:3]}")
