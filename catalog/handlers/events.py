"""REST read API (``/api/v1``) and the admin import endpoint. Handlers parse and shape only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from catalog.errors import InvalidInput
from catalog.handlers.auth import require_scope
from catalog.handlers.context import catalog_context
from catalog.models import (
    ErrorResponse,
    EventDetail,
    EventPage,
    ImportSummary,
    RegionHit,
    RevisionPublic,
)
from catalog.notices.parsed import Stream
from catalog.service import import_document
from catalog.storage.events import CatalogStorage, EventQuery

#: Where the app factory also puts the CatalogStorage for the VO layer, which reads it there;
#: the catalog's handlers read it from their context (:func:`get_storage`).
STORAGE_STATE = "catalog"

#: Largest value a PostgreSQL bigint holds (run and event numbers are bigints).
BIGINT_MAX = 2**63 - 1

#: Printable text only: PostgreSQL text cannot hold NUL, and no name or key has controls.
TEXT = r"^[^\x00-\x1f\x7f]*$"

ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 415, 422)}

router = APIRouter(prefix="/api/v1", responses=ERRORS)  # type: ignore[arg-type]


def get_storage(request: Request) -> CatalogStorage:
    """A FastAPI dependency: the catalog's storage, from its context."""
    return catalog_context(request).storage


StorageDep = Annotated[CatalogStorage, Depends(get_storage)]


def _aware(t: datetime | None, name: str) -> datetime | None:
    if t is not None and t.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (e.g. 2020-06-15T00:00:00Z)",
                           details={"parameter": name})
    return t


@router.get("/events", response_model=EventPage, summary="List events, newest first")
def list_events(
    storage: StorageDep,
    stream: Stream | None = None,
    since: Annotated[datetime | None, Query(description="event time ≥ (UTC, ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="event time < (UTC, ISO 8601)")] = None,
    name: Annotated[str | None, Query(max_length=64, pattern=TEXT,
                                                 description="substring of the name")] = None,
    run_id: Annotated[int | None, Query(ge=0, le=BIGINT_MAX)] = None,
    event_id: Annotated[int | None, Query(ge=0, le=BIGINT_MAX)] = None,
    ra: Annotated[float | None, Query(ge=0, lt=360, description="cone centre, deg")] = None,
    dec: Annotated[float | None, Query(ge=-90, le=90, description="cone centre, deg")] = None,
    radius: Annotated[float | None, Query(ge=0, le=180, description="cone radius, deg")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200, pattern=TEXT)] = None,
) -> EventPage:
    """Events, newest first, filtered and paged by cursor."""
    cone_args = (ra, dec, radius)
    if any(a is not None for a in cone_args) and not all(a is not None for a in cone_args):
        raise InvalidInput("a cone needs ra, dec and radius together",
                           details={"parameter": "ra,dec,radius"})
    cone = (ra, dec, radius) if ra is not None and dec is not None and radius is not None else None
    q = EventQuery(stream=stream.value if stream else None, since=_aware(since, "since"),
                   until=_aware(until, "until"), name=name, run_id=run_id, event_id=event_id,
                   cone=cone, limit=limit, cursor=cursor)
    return storage.list_events(q)


@router.get("/events/{key}", response_model=EventDetail,
            summary="One event with all its revisions")
def get_event(storage: StorageDep,
              key: Annotated[str, Path(max_length=64, pattern=TEXT,
                                       description="name, run_event or numeric id")]
              ) -> EventDetail:
    """One event by name, ``run_event`` or numeric id, with all its revisions."""
    return storage.get_event(key)


@router.get("/events/{key}/revisions/{number}", response_model=RevisionPublic,
            summary="One revision of an event")
def get_revision(storage: StorageDep,
                 key: Annotated[str, Path(max_length=64, pattern=TEXT)],
                 number: Annotated[int, Path(ge=0, le=2**31 - 1)]) -> RevisionPublic:
    """One revision of an event."""
    return storage.get_revision(key, number)


@router.get("/regions/containing", response_model=list[RegionHit],
            summary="Events whose 50 % or 90 % region contains a position")
def regions_containing(
    storage: StorageDep,
    ra: Annotated[float, Query(ge=0, lt=360)],
    dec: Annotated[float, Query(ge=-90, le=90)],
    level: Annotated[int, Query(description="50 or 90")] = 90,
    all_revisions: bool = False,
) -> list[RegionHit]:
    """Events whose 50 % or 90 % region (current revisions by default) contains a position."""
    return storage.regions_containing(ra, dec, level, current_only=not all_revisions)


@router.post("/admin/import", response_model=ImportSummary, status_code=200,
             summary="Import one notice document (VOEvent, GCN JSON, IceCat-1 CSV, AMON table)")
async def admin_import(
    request: Request,
    storage: StorageDep,
    _token: Annotated[str, Depends(require_scope("admin"))],
    filename: Annotated[str | None, Query(max_length=255, pattern=TEXT)] = None,
    strict: Annotated[bool, Query(description="refuse a table with any bad row whole")] = False,
    report: Annotated[bool, Query(description="list per alert its sources and conflicts")]
    = False,
) -> ImportSummary:
    """Import one notice document sent as the request body (``admin`` scope). A table's bad
    rows are left out and listed (``left_out``) unless ``strict``."""
    body = await request.body()
    if not body:
        raise InvalidInput("empty body: send the document as the request body")
    media_type = request.headers.get("content-type")
    return await run_in_threadpool(import_document, storage, body, filename=filename,
                                   media_type=media_type, strict=strict, report=report)
