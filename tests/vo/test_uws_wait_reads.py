"""A UWS ``WAIT`` sleeps on the phase-change notifications (issue 12): while the listener is
connected a held WAIT reads its job when it starts and when it ends, not once a second, and
it still returns on a phase change; with the listener down it polls again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from nufair.settings import Settings
from tests.vo.jobs import jobs_of, make_app, phase_of, submit
from vo.uws import service as uws_service
from vo.uws.service import JobService


def _count_reads(service: JobService, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each job id the service's storage reads (``get``) from now on."""
    reads: list[str] = []
    real: Callable[..., Any] = service.storage.get

    def counted(job_id: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(job_id)
        return real(job_id, *args, **kwargs)

    monkeypatch.setattr(service.storage, "get", counted)
    return reads


def _listening(service: JobService) -> None:
    assert service.listening.wait(30), "the listener never connected"


def test_a_held_wait_reads_its_job_at_start_and_end_only(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3 s WAIT on a PENDING job that nothing changes: PENDING after it, and the job read
    three times (the request's read, the WAIT's first and its last), where a poll each
    second would read it at least five times."""
    with TestClient(make_app(settings, async_workers=0)) as client:
        service = jobs_of(client.app)  # type: ignore[arg-type]  # the NufairApp made above
        _listening(service)
        jid = submit(client)
        reads = _count_reads(service, monkeypatch)
        doc = client.get(f"/tap/async/{jid}", params={"WAIT": "3"}).text
        assert phase_of(doc) == "PENDING"
        assert reads == [jid] * 3


def test_a_wait_returns_on_the_phase_change(settings: Settings,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Woken by the notification of a RUN (no guard re-read can fire within the test), the
    WAIT answers the new phase, having read the job once more for it."""
    monkeypatch.setattr(uws_service, "WAIT_GUARD_S", 300.0)
    with TestClient(make_app(settings, async_workers=0)) as client:
        service = jobs_of(client.app)  # type: ignore[arg-type]  # the NufairApp made above
        _listening(service)
        jid = submit(client)
        seen: list[str] = []
        waiter = threading.Thread(target=lambda: seen.append(
            client.get(f"/tap/async/{jid}", params={"WAIT": "120"}).text))
        waiter.start()
        deadline = time.monotonic() + 30
        while service.waits.held() < 1:
            assert time.monotonic() < deadline, "the WAIT was never held"
            time.sleep(0.02)
        client.post(f"/tap/async/{jid}/phase", data={"PHASE": "RUN"})
        waiter.join(timeout=120)
        assert seen and phase_of(seen[0]) == "QUEUED"


def test_without_the_listener_a_wait_polls(settings: Settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """With the listener marked down, a held WAIT re-reads its job every WAIT_RECHECK_S
    (notifications may be lost): more reads than start and end."""
    monkeypatch.setattr(uws_service, "WAIT_RECHECK_S", 0.2)
    with TestClient(make_app(settings, async_workers=0)) as client:
        service = jobs_of(client.app)  # type: ignore[arg-type]  # the NufairApp made above
        _listening(service)
        jid = submit(client)
        service.listening.clear()
        reads = _count_reads(service, monkeypatch)
        assert phase_of(client.get(f"/tap/async/{jid}", params={"WAIT": "2"}).text) == "PENDING"
        assert len(reads) > 3
