"""REST endpoints of the scan service (``/api/v1/scans``).

Stored files (skymaps, MOCs) are served under their record's landing page
(``/records/{key}/files/{name}``, ``catalog.fair.landing``).

Handlers parse and shape only: :class:`ingest.scanning.service.ScanService` holds the rules.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from catalog.handlers.auth import require_scope
from catalog.models import ErrorResponse
from catalog.schema.base import Created, WireModel
from catalog.schema.events import EventIdentity
from catalog.schema.ingest import (
    ScanAsked,
    ScanLife,
    ScanRead,
    ScanSnapshotRead,
    SnapshotProgress,
)
from ingest.handlers.body import body_doc, strict_body
from ingest.handlers.context import ContextDep, IngestContext
from ingest.rawevent import MAX_ID
from ingest.scanning.service import ScanService, config_from, config_to_reco

ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 413, 422)}

router = APIRouter(prefix="/api/v1", responses=ERRORS)  # type: ignore[arg-type]


ScanToken = Annotated[str, Depends(require_scope("scan"))]

#: A scan, run or event number: what PostgreSQL's ``bigint`` holds (larger ones are 422,
#: not a database error).
ScanId = Annotated[int, Path(ge=0, le=MAX_ID, description="scan id")]
#: An event key: a name (IceCube-250304A), run_event (140001_42) or id; plain ASCII.
EVENT_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

NSIDES_PATTERN = r"^\d{1,4}(:\d{1,4})?(,\d{1,4}(:\d{1,4})?){0,5}$"


class ScanRequest(BaseModel):
    """A scan of a stored event (``event``) or of an inline raw event."""

    event: str | None = Field(default=None, max_length=64, pattern=EVENT_KEY_PATTERN,
                              description="event name, run_event or id")
    inline_event: dict[str, Any] | None = Field(
        default=None, description="a raw event (schemas/raw_event.schema.json)")
    nsides: str | None = Field(default=None, pattern=NSIDES_PATTERN,
                               description='e.g. "8:0,64:12,512:24" (nside:n_refine)')
    seeds: int | None = Field(default=None, ge=1, le=19, description="vertex seeds per pixel")
    priority: Literal["realtime", "reprocessing"] = "reprocessing"
    labels: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=16)
    publish: Literal["none", "update"] = Field(
        default="none", description="update: the result becomes an update revision + notices")


class RescanRequest(BaseModel):
    """What a rescan changes from its origin (unset: the same)."""
    nsides: str | None = Field(default=None, pattern=NSIDES_PATTERN)
    seeds: int | None = Field(default=None, ge=1, le=19)
    priority: Literal["realtime", "reprocessing"] | None = None
    labels: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=16)
    publish: Literal["none", "update"] | None = None


State = Literal["pending", "running", "done", "aborted", "failed"]

#: What only the API says of a finished scan (the ``note`` column's meaning).
NOTE = ("why a scan that ended done did less than asked, e.g. published no update "
        "revision because its event is retracted")


class ScanHandle(WireModel):
    """How the API names a scan: its id, its state, its event's name (the first keys)."""
    id: int
    state: State
    event: str | None = Field(description="catalog event name (None: inline event)")


# Derived from the entities (EventIdentity, ScanAsked, ScanLife); ScanHandle is the last
# base, so its keys lead. (Comments, not docstrings: a docstring is the model's description
# in /openapi.json.)
class ScanPublic(ScanLife, ScanAsked, EventIdentity, ScanHandle):
    """A scan as the API shows it."""
    note: str | None = Field(None, description=NOTE)
    origin_scan: int | None
    revision: int | None = Field(description="number of the update revision it made")


class StatusPublic(BaseModel):
    """A scan's state and claim."""
    id: int
    state: State
    claims: int
    abort_requested: bool
    snapshots: int
    has_partial_result: bool
    note: str | None = Field(description=NOTE)


class BestPublic(BaseModel):
    """The best fit so far (degrees)."""
    ra_deg: float
    dec_deg: float
    llh: float


class ProgressPublic(BaseModel):
    """How far a scan is."""
    id: int
    state: str
    fraction: float
    pixels_done: int
    pixels_total: int
    rate_per_s: float
    eta_s: float | None
    best_so_far: BestPublic | None


# Derived from the entity's SnapshotProgress and Created; the rate is named for its unit
# and the best fit is one object.
class SnapshotPublic(Created, SnapshotProgress, WireModel):
    """One stored snapshot of a scan."""
    kind: Literal["partial", "final"]
    rate_per_s: float
    best: BestPublic | None


class ResultPublic(BaseModel):
    """Every snapshot of a scan and its final result."""
    id: int
    state: str
    snapshots: list[SnapshotPublic]
    final: dict[str, Any] | None = Field(description="the reco ScanResult JSON, when done")


def scan_public(svc: ScanService, row: ScanRead) -> ScanPublic:
    """A stored scan as the API shows it (also the scan-import handler's answer)."""
    return ScanPublic.model_validate({
        **row.model_dump(include=_SHOWN), "state": svc.state(row), "event": row.event_name,
        "origin_scan": row.origin_scan_pk, "revision": row.revision_number})


#: The fields of a stored scan that the API shows under their own names.
_SHOWN = set(ScanPublic.model_fields) & set(ScanRead.model_fields)


def _best(ra: float | None, dec: float | None, llh: float | None) -> BestPublic | None:
    if ra is None or dec is None or llh is None:
        return None
    return BestPublic(ra_deg=ra, dec_deg=dec, llh=llh)


@router.post("/scans", response_model=ScanPublic, status_code=201, summary="Request a scan",
             openapi_extra=body_doc(ScanRequest))
async def request_scan(request: Request, ctx: ContextDep, _token: ScanToken) -> ScanPublic:
    """Queue a scan of a stored event or of an inline raw event."""
    body = await strict_body(request, ScanRequest)  # strict JSON, like a raw event
    svc = ctx.scans
    cfg = config_from(svc.defaults, body.nsides, body.seeds)
    row = await run_in_threadpool(
        lambda: svc.request(event=body.event, inline=body.inline_event, config=cfg,
                            priority=body.priority, labels=body.labels, publish=body.publish))
    return scan_public(svc, row)


@router.get("/scans", response_model=list[ScanPublic], summary="List scans (newest first)")
def list_scans(ctx: ContextDep, run_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
               event_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
               label: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[ScanPublic]:
    """Scans, newest first, of a run, an event or a label."""
    rows = ctx.scans.scans.find(run_id=run_id, event_id=event_id, label=label, limit=limit)
    return [scan_public(ctx.scans, r) for r in rows]


@router.get("/scans/{scan_id}", response_model=ScanPublic, summary="A scan")
def get_scan(ctx: ContextDep, scan_id: ScanId) -> ScanPublic:
    """One scan."""
    return scan_public(ctx.scans, ctx.scans.scans.get(scan_id))


@router.get("/scans/{scan_id}/status", response_model=StatusPublic,
            summary="State computed from the stored facts")
def scan_status(ctx: ContextDep, scan_id: ScanId) -> StatusPublic:
    """A scan's state, computed from its stored facts."""
    row, prog = ctx.scans.progress(scan_id)
    return StatusPublic(id=row.id, state=prog.state, claims=row.claims,
                        abort_requested=row.abort_requested_at is not None,
                        snapshots=prog.snapshots, has_partial_result=prog.snapshots > 0,
                        note=row.note)


@router.get("/scans/{scan_id}/progress", response_model=ProgressPublic,
            summary="Done fraction, rate and ETA from the newest snapshot")
def scan_progress(ctx: ContextDep, scan_id: ScanId) -> ProgressPublic:
    """A scan's progress, from its newest snapshot."""
    row, p = ctx.scans.progress(scan_id)
    return ProgressPublic(id=row.id, state=p.state, fraction=p.fraction,
                          pixels_done=p.pixels_done, pixels_total=p.pixels_total,
                          rate_per_s=p.rate, eta_s=p.eta_s,
                          best_so_far=_best(*p.best) if p.best else None)


@router.get("/scans/{scan_id}/result", response_model=ResultPublic,
            summary="Every partial snapshot and the final result")
def scan_result(ctx: ContextDep, scan_id: ScanId) -> ResultPublic:
    """Every snapshot of a scan and its final result."""
    row = ctx.scans.scans.get(scan_id)
    snaps, final = ctx.scans.scans.snapshots(scan_id, with_final_result=True)
    return ResultPublic(id=row.id, state=ctx.scans.state(row), final=final, snapshots=[
        SnapshotPublic.model_validate({
            **s.model_dump(include=_SNAPSHOT_SHOWN), "rate_per_s": s.rate,
            "best": _best(s.best_ra, s.best_dec, s.best_llh)})
        for s in snaps])


#: The fields of a stored snapshot that the API shows under their own names.
_SNAPSHOT_SHOWN = set(SnapshotPublic.model_fields) & set(ScanSnapshotRead.model_fields)


@router.delete("/scans/{scan_id}", response_model=ScanPublic, status_code=202,
               summary="Abort a scan (at once if queued, after the current task if running)")
def abort_scan(ctx: ContextDep, scan_id: ScanId, _token: ScanToken) -> ScanPublic:
    """Ask for an abort of a scan."""
    return scan_public(ctx.scans, ctx.scans.abort(scan_id))


@router.post("/scans/{scan_id}/rescan", response_model=ScanPublic, status_code=201,
             summary="A new scan of the same event, linked to this one",
             openapi_extra=body_doc(RescanRequest, required=False))
async def rescan(request: Request, ctx: ContextDep, scan_id: ScanId, _token: ScanToken,
                 ) -> ScanPublic:
    """Queue a new scan of the same raw event."""
    body = await strict_body(request, RescanRequest, optional=True)  # no body: the same
    return await run_in_threadpool(_rescan, ctx, scan_id, body)


def _rescan(ctx: IngestContext, scan_id: int, body: RescanRequest) -> ScanPublic:
    svc = ctx.scans
    origin_cfg = config_to_reco(svc.scans.get(scan_id).config)
    cfg = (config_from(origin_cfg, body.nsides, body.seeds)
           if body.nsides is not None or body.seeds is not None else None)
    row = svc.rescan(scan_id, config=cfg, priority=body.priority, labels=body.labels,
                     publish=body.publish)
    return scan_public(svc, row)
