"""HTTP face of the UWS job list at /tap/async (TAP 1.1 asynchronous queries).

Handlers parse and shape; the rules and the runner threads are ``vo.uws_service``, the jobs
are rows in the database (``vo.uws_storage``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from vo import uws
from vo.api import VOTABLE, app_config, config, error_response, read_params
from vo.errors import NotFoundError, VoError
from vo.service import TapResult, TapService, upper_params
from vo.storage import VoStorage
from vo.uws_service import JobLimits, JobService
from vo.uws_storage import Job, UwsStorage
from vo.votable import error_votable

router = APIRouter(tags=["vo"])
XML = "text/xml; charset=utf-8"
JOBS_STATE = "vo_jobs"


@contextmanager
def jobs_running(app: Any, engine: Engine) -> Iterator[JobService]:
    """Put the job service on ``app.state`` and run its threads for the app's lifetime."""
    cfg = app_config(app)

    @functools.lru_cache(maxsize=32)
    def storage_for(duration: int) -> VoStorage:
        # One storage per duration, so its caches (role check, tile statistics) outlive a job.
        return VoStorage(engine, duration)

    def execute(job: Job, uploads: Mapping[str, bytes]) -> TapResult:
        # The job's execution duration is its database statement timeout.
        return TapService(storage_for(job.duration), cfg).execute(job.params, uploads)

    service = JobService(UwsStorage(engine), execute, JobLimits(
        retention_s=cfg.retention_s, duration_s=int(cfg.timeout_s), workers=cfg.async_workers,
        poll_s=cfg.uws_poll_s, sweep_s=cfg.uws_sweep_s))
    service.start()
    setattr(app.state, JOBS_STATE, service)
    try:
        yield service
    finally:
        service.stop()


def jobs(request: Request) -> JobService:
    service: JobService = getattr(request.app.state, JOBS_STATE)
    return service


def base(request: Request) -> str:
    return config(request).base_url.rstrip("/") + "/tap/async"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _last(params: Mapping[str, Any]) -> int | None:
    if not params.get("LAST"):
        return None
    try:
        last = int(params["LAST"])
    except ValueError:
        raise VoError("LAST must be a positive integer") from None
    if last <= 0:
        raise VoError("LAST must be a positive integer")
    return last


@router.get("/tap/async")
def job_list(request: Request) -> Response:
    try:
        phases = [v.upper() for k, v in request.query_params.multi_items() if k.upper() == "PHASE"]
        bad = [p for p in phases if p not in uws.PHASES]
        if bad:
            raise VoError(f"PHASE={bad[0]} is not a UWS phase")
        params = upper_params(request.query_params.multi_items())
        after = uws.parse_time(params["AFTER"]) if params.get("AFTER") else None
        last = _last(params)
    except VoError as exc:
        return error_response(exc)
    return Response(uws.job_list(jobs(request).listing(phases, after, last), base(request)),
                    media_type=XML)


@router.post("/tap/async")
async def create_job(request: Request) -> Response:
    try:
        params, files = await read_params(request)
    except VoError as exc:
        return error_response(exc)
    job = await run_in_threadpool(jobs(request).create, params, files)
    return see_other(f"{base(request)}/{job.id}")


@router.get("/tap/async/{job_id}")
def get_job(job_id: str, request: Request) -> Response:
    store = jobs(request)
    params = upper_params(request.query_params.multi_items())
    try:
        job = store.get(job_id)
        if params.get("WAIT") is not None:
            try:
                wait = float(params["WAIT"])
            except ValueError:
                raise VoError("WAIT must be a number of seconds") from None
            if wait < 0:
                wait = config(request).timeout_s
            phase = str(params["PHASE"]).upper() if params.get("PHASE") else None
            waited = store.wait(job, min(wait, 60.0), phase)
            if waited is None:
                raise NotFoundError(f"no job {job_id} (deleted while waiting)")
            job = waited
    except VoError as exc:
        return error_response(exc)
    return Response(uws.job_document(job, base(request)), media_type=XML)


@router.post("/tap/async/{job_id}")
async def post_job(job_id: str, request: Request) -> Response:
    store = jobs(request)
    try:
        job = await run_in_threadpool(store.get, job_id)
        params, files = await read_params(request)
    except VoError as exc:
        return error_response(exc)
    if str(params.get("ACTION", "")).upper() == "DELETE":
        await run_in_threadpool(store.delete, job)
        return see_other(base(request))
    changes = {k: v for k, v in params.items() if k not in ("ACTION", "PHASE")}
    if changes or files:
        await run_in_threadpool(store.update_params, job, changes, files)
    return see_other(f"{base(request)}/{job.id}")


@router.delete("/tap/async/{job_id}")
def delete_job(job_id: str, request: Request) -> Response:
    store = jobs(request)
    try:
        store.delete(store.get(job_id))
    except VoError as exc:
        return error_response(exc)
    return see_other(base(request))


@router.get("/tap/async/{job_id}/phase")
def get_phase(job_id: str, request: Request) -> Response:
    try:
        return Response(jobs(request).get(job_id).phase, media_type="text/plain")
    except VoError as exc:
        return error_response(exc)


@router.post("/tap/async/{job_id}/phase")
async def post_phase(job_id: str, request: Request) -> Response:
    store = jobs(request)
    try:
        job = await run_in_threadpool(store.get, job_id)
        params, _ = await read_params(request)
        phase = str(params.get("PHASE", "")).upper()
        if phase == "RUN":
            await run_in_threadpool(store.run, job)
        elif phase == "ABORT":
            await run_in_threadpool(store.abort, job)
        else:
            raise VoError("PHASE must be RUN or ABORT")
    except VoError as exc:
        return error_response(exc)
    return see_other(f"{base(request)}/{job.id}")


@router.get("/tap/async/{job_id}/{item}")
def get_item(job_id: str, item: str, request: Request) -> Response:
    try:
        job = jobs(request).get(job_id)
    except VoError as exc:
        return error_response(exc)
    plain = {"executionduration": str(job.duration), "destruction": uws._iso(job.destruction),
             "quote": "", "owner": job.owner or "", "runid": job.run_id or ""}
    if item.lower() in plain:
        return Response(plain[item.lower()] or "", media_type="text/plain")
    if item == "parameters":
        return Response(uws.parameters_document(job), media_type=XML)
    if item == "results":
        return Response(uws.results_document(job, base(request)), media_type=XML)
    if item == "error":
        if job.phase != "ERROR":
            return Response("no error", status_code=404, media_type="text/plain")
        return Response(error_votable(job.error or "error"), media_type=VOTABLE)
    return Response(f"no job resource {item}", status_code=404, media_type="text/plain")


@router.post("/tap/async/{job_id}/{item}")
async def post_item(job_id: str, item: str, request: Request) -> Response:
    store = jobs(request)
    try:
        job = await run_in_threadpool(store.get, job_id)
        params, files = await read_params(request)
        if item.lower() == "destruction" and params.get("DESTRUCTION"):
            when = uws.parse_time(str(params["DESTRUCTION"]))
            await run_in_threadpool(store.set_destruction, job, when)
        elif item.lower() == "executionduration" and params.get("EXECUTIONDURATION"):
            try:
                value = int(str(params["EXECUTIONDURATION"]))
            except ValueError:
                raise VoError("EXECUTIONDURATION must be an integer") from None
            # The database timeout is the hard limit; shorter requests are honoured.
            seconds = max(1, min(value, int(config(request).timeout_s)))
            await run_in_threadpool(store.set_duration, job, seconds)
        elif item == "parameters" and job.phase == "PENDING":
            await run_in_threadpool(store.update_params, job, params, files)
        else:
            raise VoError(f"cannot change {item} of this job")
    except VoError as exc:
        return error_response(exc)
    return see_other(f"{base(request)}/{job.id}")


@router.get("/tap/async/{job_id}/results/result")
def get_result(job_id: str, request: Request) -> Response:
    store = jobs(request)
    try:
        job = store.get(job_id)
    except VoError as exc:
        return error_response(exc)
    found = store.result(job)
    if found is None:
        return Response(error_votable(f"job {job_id} has no result (phase {job.phase})"),
                        status_code=404, media_type=VOTABLE)
    body, media_type = found
    return Response(body, media_type=media_type)
