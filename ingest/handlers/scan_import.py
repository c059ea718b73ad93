"""``POST /api/v1/scans/import``: skymap_scanner's result JSON stored as a finished scan.

The handler parses and shapes; :mod:`ingest.scan_import` holds the rules. The body is strict
JSON (:func:`ingest.handlers.body.json_body`): NaN as skyreader writes it, the string
``"<skyreader.nan>"``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from catalog.handlers.auth import require_scope
from ingest.handlers.body import body_doc, strict_body
from ingest.handlers.context import ContextDep
from ingest.handlers.scans import ERRORS, EVENT_KEY_PATTERN, ScanPublic, scan_public
from ingest.scan_import import import_scan

#: Importing a result publishes a revision, as an ingest does: the ``ingest`` scope.
IngestToken = Annotated[str, Depends(require_scope("ingest"))]

router = APIRouter(prefix="/api/v1", responses=ERRORS)  # type: ignore[arg-type]


class ScanImportRequest(BaseModel):
    """skymap_scanner's result of a stored event."""

    event: str = Field(max_length=64, pattern=EVENT_KEY_PATTERN,
                       description="event name, run_event or id")
    result: dict[str, Any] = Field(description="skymap_scanner / SkyDriver result JSON "
                                   "(keys 'nside-N'), as icecube-skyreader writes it")
    publish: Literal["none", "update"] = Field(
        default="none", description="update: the result becomes an update revision "
        "(FITS skymaps, MOCs, notices); none: kept on the scan only")
    labels: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=16)


@router.post("/scans/import", response_model=ScanPublic, status_code=201,
             summary="Store skymap_scanner's result as a finished scan of an event",
             openapi_extra=body_doc(ScanImportRequest))
async def import_scan_result(request: Request, ctx: ContextDep, _token: IngestToken,
                             ) -> ScanPublic:
    """Store a skymap_scanner result JSON as a finished scan (and update revision) of a
    stored event; 422 ``invalid_scan_result`` / ``scan_result_mismatch`` store nothing."""
    body = await strict_body(request, ScanImportRequest)
    row = await run_in_threadpool(
        lambda: import_scan(ctx.scans, ctx.runner.publisher, event=body.event,
                            data=body.result, publish=body.publish, labels=body.labels))
    return scan_public(ctx.scans, row)
