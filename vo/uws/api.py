"""HTTP face of the UWS job list at /tap/async (TAP 1.1 asynchronous queries).

Handlers parse and shape; the rules and the runner threads are ``vo.uws.service``, the jobs
are rows in the database (``vo.uws.storage``).

Who calls: a request with ``Authorization: Bearer <token>`` of a known token acts for that
token (its SHA-256 owns the jobs it creates; an unknown token is refused, 401); any other
request is anonymous. A token's jobs answer only to that token (403 to anyone else) and
``GET /tap/async`` lists only the caller's own jobs. Anonymous jobs have no owner: whoever
holds a job's URL (192 random bits) may use it, and no list shows them, so an anonymous
caller's list is empty (UWS 1.1 lets a service filter the list by owner).

A ``WAIT`` is awaited on the event loop and holds no worker thread; past
``JobPolicy.waits_per_client`` WAITs held by one quota key, or ``waits_total`` in all, it
answers at once with the current phase, as UWS allows.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from catalog.handlers.auth import TOKENS_STATE
from vo.api import (
    TAP_RESPONSES,
    UWS_ITEM_RESPONSES,
    UWS_REDIRECT_RESPONSES,
    UWS_XML_RESPONSES,
    VOTABLE,
    app_config,
    config,
    error_response,
    read_params,
)
from vo.errors import NotFoundError, VoError
from vo.formats.votable import error_votable
from vo.service import TapResult, TapService, upper_params
from vo.storage import VoStorage
from vo.uws import documents as uws
from vo.uws.service import (
    Caller,
    JobLimits,
    JobPolicy,
    JobService,
    ServiceBusy,
    TooManyJobs,
    Unauthorized,
    wait_seconds,
)
from vo.uws.storage import Job, UwsStorage

router = APIRouter(tags=["vo"])
XML = "text/xml; charset=utf-8"
JOBS_STATE = "vo_jobs"

#: ``app.state`` attribute of a :class:`JobPolicy` that replaces the defaults (tests; the
#: app factory may pass one to :func:`jobs_running` instead).
POLICY_STATE = "vo_job_policy"

#: The most jobs one listing returns (LAST=9…9 is no bigint overflow).
MAX_LAST = 10_000

#: Retry-After (seconds) of a creation refused over a cap.
RETRY_AFTER_S = 30


@contextmanager
def jobs_running(app: Any, engine: Engine, policy: JobPolicy | None = None
                 ) -> Iterator[JobService]:
    """Put the job service on ``app.state`` and run its threads for the app's lifetime.

    ``policy``: the caps and bounds (else ``app.state``'s :data:`POLICY_STATE`, else the
    defaults).
    """
    cfg = app_config(app)
    policy = policy or getattr(app.state, POLICY_STATE, None) or JobPolicy()

    @functools.lru_cache(maxsize=32)
    def storage_for(duration: int) -> VoStorage:
        # One storage per duration, so its caches (role check, tile statistics) outlive a job.
        return VoStorage(engine, duration)

    def execute(job: Job, uploads: Mapping[str, bytes]) -> TapResult:
        # The job's execution duration is its database statement timeout.
        return TapService(storage_for(job.duration), cfg).execute(job.params, uploads)

    service = JobService(UwsStorage(engine), execute, JobLimits(
        retention_s=cfg.retention_s, duration_s=int(cfg.timeout_s), workers=cfg.async_workers,
        poll_s=cfg.uws_poll_s, sweep_s=cfg.uws_sweep_s), policy)
    service.start()
    setattr(app.state, JOBS_STATE, service)
    try:
        yield service
    finally:
        service.stop()


def jobs(request: Request) -> JobService:
    service: JobService = getattr(request.app.state, JOBS_STATE)
    return service


def caller(request: Request) -> Caller:
    """Who sends ``request``: a known bearer token's owner, or anonymous (401: unknown token).

    Tokens are compared by SHA-256 digest, as ``catalog.handlers.auth`` does; no scope is needed.
    """
    address = request.client.host if request.client else None
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return Caller.of(None, address)
    digest = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
    tokens: Callable[[], Mapping[str, frozenset[str]]] = getattr(
        request.app.state, TOKENS_STATE, dict)
    if not any(hmac.compare_digest(d, digest) for d in tokens()):
        raise Unauthorized("unknown bearer token: send a token of this service, or none")
    return Caller.of(digest, address)


def refusal(exc: VoError) -> Response:
    """The VOTable error of ``exc``; a cap's refusal says when to try again."""
    response = error_response(exc)
    if isinstance(exc, TooManyJobs | ServiceBusy):
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    elif isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def base(request: Request) -> str:
    return config(request).base_url.rstrip("/") + "/tap/async"


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _last(params: Mapping[str, Any]) -> int | None:
    """LAST as a count, at most :data:`MAX_LAST` (400 if no positive integer)."""
    if not params.get("LAST"):
        return None
    try:
        last = int(str(params["LAST"]))
    except ValueError:
        raise VoError("LAST must be a positive integer") from None
    if last <= 0:
        raise VoError("LAST must be a positive integer")
    return min(last, MAX_LAST)


@router.get("/tap/async", response_class=Response, responses=UWS_XML_RESPONSES)
def job_list(request: Request) -> Response:
    """The caller's own jobs (none for anonymous callers), filtered as UWS 1.1 says."""
    try:
        who = caller(request)
        phases = [v.upper() for k, v in request.query_params.multi_items() if k.upper() == "PHASE"]
        bad = [p for p in phases if p not in uws.PHASES]
        if bad:
            raise VoError(f"PHASE={bad[0]!r} is not a UWS phase")
        params = upper_params(request.query_params.multi_items())
        after = uws.parse_time(params["AFTER"]) if params.get("AFTER") else None
        last = _last(params)
    except VoError as exc:
        return refusal(exc)
    listed = jobs(request).listing(who, phases, after, last)
    return Response(uws.job_list(listed, base(request)), media_type=XML)


@router.post("/tap/async", response_class=Response, responses=UWS_REDIRECT_RESPONSES)
async def create_job(request: Request) -> Response:
    """A new job of the caller (303 to it); 429/503 over a cap."""
    try:
        who = caller(request)
        params, files = await read_params(request)
        job = await run_in_threadpool(jobs(request).create, who, params, files)
    except VoError as exc:
        return refusal(exc)
    return see_other(f"{base(request)}/{job.id}")


@router.get("/tap/async/{job_id}", response_class=Response, responses=UWS_XML_RESPONSES)
async def get_job(job_id: str, request: Request) -> Response:
    """The job document; with WAIT, once the phase changes (awaited, no thread held)."""
    store = jobs(request)
    params = upper_params(request.query_params.multi_items())
    try:
        who = caller(request)
        job = await run_in_threadpool(store.get, job_id, who)
        if params.get("WAIT") is not None:
            seconds = wait_seconds(params["WAIT"], store.policy.wait_s)
            phase = str(params["PHASE"]).upper() if params.get("PHASE") else None
            async with store.waits.slot(who.quota_key) as allowed:
                waited = await store.wait(job, seconds, phase) if allowed else job
            if waited is None:
                raise NotFoundError(f"no job {job_id} (deleted while waiting)")
            job = waited
    except VoError as exc:
        return refusal(exc)
    return Response(uws.job_document(job, base(request)), media_type=XML)


@router.post("/tap/async/{job_id}", response_class=Response, responses=UWS_REDIRECT_RESPONSES)
async def post_job(job_id: str, request: Request) -> Response:
    """ACTION=DELETE, or new parameters of a PENDING job."""
    store = jobs(request)
    try:
        job = await run_in_threadpool(store.get, job_id, caller(request))
        params, files = await read_params(request)
        if str(params.get("ACTION", "")).upper() == "DELETE":
            await run_in_threadpool(store.delete, job)
            return see_other(base(request))
        changes = {k: v for k, v in params.items() if k not in ("ACTION", "PHASE")}
        if changes or files:
            await run_in_threadpool(store.update_params, job, changes, files)
    except VoError as exc:
        return refusal(exc)
    return see_other(f"{base(request)}/{job.id}")


@router.delete("/tap/async/{job_id}", response_class=Response, responses=UWS_REDIRECT_RESPONSES)
def delete_job(job_id: str, request: Request) -> Response:
    store = jobs(request)
    try:
        store.delete(store.get(job_id, caller(request)))
    except VoError as exc:
        return refusal(exc)
    return see_other(base(request))


@router.get("/tap/async/{job_id}/phase", response_class=Response, responses=UWS_ITEM_RESPONSES)
def get_phase(job_id: str, request: Request) -> Response:
    try:
        return Response(jobs(request).get(job_id, caller(request)).phase,
                        media_type="text/plain")
    except VoError as exc:
        return refusal(exc)


@router.post("/tap/async/{job_id}/phase", response_class=Response, responses=UWS_REDIRECT_RESPONSES)
async def post_phase(job_id: str, request: Request) -> Response:
    store = jobs(request)
    try:
        job = await run_in_threadpool(store.get, job_id, caller(request))
        params, _ = await read_params(request)
        phase = str(params.get("PHASE", "")).upper()
        if phase == "RUN":
            await run_in_threadpool(store.run, job)
        elif phase == "ABORT":
            await run_in_threadpool(store.abort, job)
        else:
            raise VoError("PHASE must be RUN or ABORT")
    except VoError as exc:
        return refusal(exc)
    return see_other(f"{base(request)}/{job.id}")


@router.get("/tap/async/{job_id}/{item}", response_class=Response, responses=UWS_ITEM_RESPONSES)
def get_item(job_id: str, item: str, request: Request) -> Response:
    try:
        job = jobs(request).get(job_id, caller(request))
    except VoError as exc:
        return refusal(exc)
    plain = {"executionduration": str(job.duration), "destruction": uws._iso(job.destruction),
             "quote": "", "owner": uws.owner_label(job.owner) or "", "runid": job.run_id or ""}
    if item.lower() in plain:
        return Response(plain[item.lower()] or "", media_type="text/plain")
    if item == "parameters":
        return Response(uws.parameters_document(job), media_type=XML)
    if item == "results":
        return Response(uws.results_document(job, base(request)), media_type=XML)
    if item == "error":
        if job.phase != "ERROR":
            return error_response(NotFoundError("this job has no error"))
        return Response(error_votable(job.error or "error"), media_type=VOTABLE)
    return error_response(NotFoundError(f"no job resource {item!r}"))


@router.post("/tap/async/{job_id}/{item}", response_class=Response,
             responses=UWS_REDIRECT_RESPONSES)
async def post_item(job_id: str, item: str, request: Request) -> Response:
    """New destruction time or execution duration (bounded), or PENDING parameters."""
    store = jobs(request)
    try:
        job = await run_in_threadpool(store.get, job_id, caller(request))
        params, files = await read_params(request)
        if item.lower() == "destruction" and params.get("DESTRUCTION"):
            when = uws.parse_time(str(params["DESTRUCTION"]))
            await run_in_threadpool(store.set_destruction, job, when)
        elif item.lower() == "executionduration" and params.get("EXECUTIONDURATION"):
            seconds = store.duration(params["EXECUTIONDURATION"])
            await run_in_threadpool(store.set_duration, job, seconds)
        elif item == "parameters" and job.phase == "PENDING":
            await run_in_threadpool(store.update_params, job, params, files)
        else:
            raise VoError("cannot change this resource of this job")
    except VoError as exc:
        return refusal(exc)
    return see_other(f"{base(request)}/{job.id}")


@router.get("/tap/async/{job_id}/results/result", response_class=Response, responses=TAP_RESPONSES)
def get_result(job_id: str, request: Request) -> Response:
    store = jobs(request)
    try:
        job = store.get(job_id, caller(request))
    except VoError as exc:
        return refusal(exc)
    found = store.result(job)
    if found is None:
        return Response(error_votable(f"job {job_id} has no result (phase {job.phase})"),
                        status_code=404, media_type=VOTABLE)
    body, media_type = found
    return Response(body, media_type=media_type)
