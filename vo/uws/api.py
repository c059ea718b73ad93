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

import hashlib
import hmac
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from vo.context import VoContext, VoCtx
from vo.errors import NotFound, Unauthorized, VoError
from vo.formats.votable import error_votable
from vo.openapi import (
    TAP_RESPONSES,
    UWS_ITEM_RESPONSES,
    UWS_REDIRECT_RESPONSES,
    UWS_XML_RESPONSES,
    VOTABLE,
    XML,
)
from vo.params import read_params, upper_params
from vo.uws import documents as uws
from vo.uws.policy import Caller
from vo.uws.waits import wait_seconds

router = APIRouter(tags=["vo"])

#: The most jobs one listing returns (LAST=9…9 is no bigint overflow).
MAX_LAST = 10_000


async def caller(request: Request, vo: VoCtx) -> Caller:
    """Who sends ``request``: a known bearer token's owner, or anonymous (401: unknown token).

    Tokens are compared by SHA-256 digest, as ``catalog.handlers.auth`` does; no scope is
    needed. A FastAPI dependency of every job route.
    """
    address = request.client.host if request.client else None
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return Caller.of(None, address)
    digest = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
    if not any(hmac.compare_digest(d, digest) for d in vo.tokens()):
        raise Unauthorized("unknown bearer token: send a token of this service, or none")
    return Caller.of(digest, address)


#: A handler parameter typed ``Who`` receives the :class:`Caller` of the request.
Who = Annotated[Caller, Depends(caller)]


def base(vo: VoContext) -> str:
    """The URL of the job list (job URLs are under it)."""
    return vo.config.base_url.rstrip("/") + "/tap/async"


def see_other(url: str) -> RedirectResponse:
    """303 See Other to ``url`` (UWS answers every change so)."""
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
def job_list(request: Request, vo: VoCtx, who: Who) -> Response:
    """The caller's own jobs (none for anonymous callers), filtered as UWS 1.1 says."""
    phases = [v.upper() for k, v in request.query_params.multi_items() if k.upper() == "PHASE"]
    bad = [p for p in phases if p not in uws.PHASES]
    if bad:
        raise VoError(f"PHASE={bad[0]!r} is not a UWS phase")
    params = upper_params(request.query_params.multi_items())
    after = uws.parse_time(params["AFTER"]) if params.get("AFTER") else None
    listed = vo.jobs.listing(who, phases, after, _last(params))
    return Response(uws.job_list(listed, base(vo)), media_type=XML)


@router.post("/tap/async", response_class=Response, responses=UWS_REDIRECT_RESPONSES)
async def create_job(request: Request, vo: VoCtx, who: Who) -> Response:
    """A new job of the caller (303 to it); 429/503 over a cap."""
    params, files = await read_params(request, vo.config.max_upload_bytes)
    job = await run_in_threadpool(vo.jobs.create, who, params, files)
    return see_other(f"{base(vo)}/{job.id}")


@router.get("/tap/async/{job_id}", response_class=Response, responses=UWS_XML_RESPONSES)
async def get_job(job_id: str, request: Request, vo: VoCtx, who: Who) -> Response:
    """The job document; with WAIT, once the phase changes (awaited, no thread held)."""
    store = vo.jobs
    params = upper_params(request.query_params.multi_items())
    job = await run_in_threadpool(store.get, job_id, who)
    if params.get("WAIT") is not None:
        seconds = wait_seconds(params["WAIT"], store.policy.wait_s)
        phase = str(params["PHASE"]).upper() if params.get("PHASE") else None
        async with store.waits.slot(who.quota_key) as allowed:
            waited = await store.wait(job, seconds, phase) if allowed else job
        if waited is None:
            raise NotFound(f"no job {job_id} (deleted while waiting)")
        job = waited
    return Response(uws.job_document(job, base(vo)), media_type=XML)


@router.post("/tap/async/{job_id}", response_class=Response, responses=UWS_REDIRECT_RESPONSES)
async def post_job(job_id: str, request: Request, vo: VoCtx, who: Who) -> Response:
    """ACTION=DELETE, or new parameters of a PENDING job."""
    store = vo.jobs
    job = await run_in_threadpool(store.get, job_id, who)
    params, files = await read_params(request, vo.config.max_upload_bytes)
    if str(params.get("ACTION", "")).upper() == "DELETE":
        await run_in_threadpool(store.delete, job)
        return see_other(base(vo))
    changes = {k: v for k, v in params.items() if k not in ("ACTION", "PHASE")}
    if changes or files:
        await run_in_threadpool(store.update_params, job, changes, files)
    return see_other(f"{base(vo)}/{job.id}")


@router.delete("/tap/async/{job_id}", response_class=Response, responses=UWS_REDIRECT_RESPONSES)
def delete_job(job_id: str, vo: VoCtx, who: Who) -> Response:
    """Destroy the job now (303 to the job list)."""
    vo.jobs.delete(vo.jobs.get(job_id, who))
    return see_other(base(vo))


@router.get("/tap/async/{job_id}/phase", response_class=Response, responses=UWS_ITEM_RESPONSES)
def get_phase(job_id: str, vo: VoCtx, who: Who) -> Response:
    """The job's phase, as text."""
    return Response(vo.jobs.get(job_id, who).phase, media_type="text/plain")


@router.post("/tap/async/{job_id}/phase", response_class=Response, responses=UWS_REDIRECT_RESPONSES)
async def post_phase(job_id: str, request: Request, vo: VoCtx, who: Who) -> Response:
    """PHASE=RUN queues a PENDING job, PHASE=ABORT aborts an active one."""
    store = vo.jobs
    job = await run_in_threadpool(store.get, job_id, who)
    params, _ = await read_params(request, vo.config.max_upload_bytes)
    phase = str(params.get("PHASE", "")).upper()
    if phase == "RUN":
        await run_in_threadpool(store.run, job)
    elif phase == "ABORT":
        await run_in_threadpool(store.abort, job)
    else:
        raise VoError("PHASE must be RUN or ABORT")
    return see_other(f"{base(vo)}/{job.id}")


@router.get("/tap/async/{job_id}/{item}", response_class=Response, responses=UWS_ITEM_RESPONSES)
def get_item(job_id: str, item: str, vo: VoCtx, who: Who) -> Response:
    """One resource of the job: a value (text), its parameters or results (UWS XML), or
    its error (the job's own VOTable error document, 200)."""
    job = vo.jobs.get(job_id, who)
    plain = {"executionduration": str(job.duration), "destruction": uws.iso_time(job.destruction),
             "quote": "", "owner": uws.owner_label(job.owner) or "", "runid": job.run_id or ""}
    if item.lower() in plain:
        return Response(plain[item.lower()] or "", media_type="text/plain")
    if item == "parameters":
        return Response(uws.parameters_document(job), media_type=XML)
    if item == "results":
        return Response(uws.results_document(job, base(vo)), media_type=XML)
    if item == "error":
        if job.phase != "ERROR":
            raise NotFound("this job has no error")
        return Response(error_votable(job.error or "error"), media_type=VOTABLE)
    raise NotFound(f"no job resource {item!r}")


@router.post("/tap/async/{job_id}/{item}", response_class=Response,
             responses=UWS_REDIRECT_RESPONSES)
async def post_item(job_id: str, item: str, request: Request, vo: VoCtx, who: Who) -> Response:
    """New destruction time or execution duration (bounded), or PENDING parameters."""
    store = vo.jobs
    job = await run_in_threadpool(store.get, job_id, who)
    params, files = await read_params(request, vo.config.max_upload_bytes)
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
    return see_other(f"{base(vo)}/{job.id}")


@router.get("/tap/async/{job_id}/results/result", response_class=Response, responses=TAP_RESPONSES)
def get_result(job_id: str, vo: VoCtx, who: Who) -> Response:
    """The result document of a COMPLETED job (404 in any other phase)."""
    job = vo.jobs.get(job_id, who)
    found = vo.jobs.result(job)
    if found is None:
        raise NotFound(f"job {job_id} has no result (phase {job.phase})")
    body, media_type = found
    return Response(body, media_type=media_type)
