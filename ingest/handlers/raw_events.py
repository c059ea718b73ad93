"""REST endpoints of the realtime pipeline: raw events, retractions and notices.

Handlers parse and shape only; the pipeline and :mod:`catalog.publish` hold the rules.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from catalog.handlers.auth import require_scope
from catalog.models import ErrorResponse
from catalog.schema.base import Identified
from catalog.schema.outbox import NoticeHead, NoticeState
from catalog.storage.lookup import resolve_event
from ingest.handlers.body import body_doc, json_body, strict_body
from ingest.handlers.context import ContextDep, IngestContext
from ingest.rawevent import I3LIVE_MEDIA_TYPE, loads_strict, normalize_raw_body

ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 413, 415, 422)}

router = APIRouter(prefix="/api/v1", responses=ERRORS)  # type: ignore[arg-type]

#: An event key in a path: name, run_event or id, plain ASCII (no NUL, no '/').
EventKey = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class RawEventAccepted(BaseModel):
    """What became of a posted raw event."""

    created: bool = Field(description="false: this (observatory, run, event) was already here")
    raw_event_id: int
    event_pk: int | None
    name: str | None
    stream: str | None
    revision: int | None = Field(description="number of the revision made now (0), if any")
    notices_queued: int
    selection: dict[str, Any]


class RetractRequest(BaseModel):
    """Why an event is retracted."""
    reason: str = Field(min_length=3, max_length=2000)


class RetractionPublic(BaseModel):
    """The retraction revision made and the notices queued for it."""
    name: str | None
    revision: int
    kind: str
    notices_queued: int


# Its fields are the notice's head, dispatch state and key (``catalog.schema.outbox``),
# without the payload. (A comment, not a docstring: that is the model's description.)
class NoticePublic(NoticeState, NoticeHead, Identified):
    """A queued notice and its delivery state."""


@router.post("/events/raw", response_model=RawEventAccepted, status_code=201,
             summary="Post a raw event: selection, initial revision and notices",
             responses={200: {"model": RawEventAccepted,
                              "description": "already received: the stored event"}})
async def post_raw_event(request: Request, response: Response, ctx: ContextDep,
                         _token: Annotated[str, Depends(require_scope("ingest"))],
                         ) -> RawEventAccepted:
    """Accept a raw event: 201 with what was made, 200 for one already received."""
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media == I3LIVE_MEDIA_TYPE:  # an I3Live message, said so by its media type
        body = await run_in_threadpool(normalize_raw_body, loads_strict(await request.body()),
                                       i3live=True)
    else:  # strict JSON (ingest.rawevent.loads_strict): a raw event or an I3Live message
        body = await run_in_threadpool(normalize_raw_body, await json_body(request))
    out = await run_in_threadpool(ctx.pipeline.accept, body)
    if not out.created:
        response.status_code = 200
    raw = out.raw
    return RawEventAccepted(
        created=out.created, raw_event_id=raw.id, event_pk=raw.event_pk, name=raw.name,
        stream=raw.stream, revision=out.revision.number if out.revision else None,
        notices_queued=out.revision.notices if out.revision else 0, selection=raw.selection)


@router.post("/events/{key}/retract", response_model=RetractionPublic, status_code=201,
             summary="Retract an event: a retraction revision and its notices",
             openapi_extra=body_doc(RetractRequest))
async def retract_event(request: Request, ctx: ContextDep, key: EventKey,
                        _token: Annotated[str, Depends(require_scope("ingest"))],
                        ) -> RetractionPublic:
    """Retract an event: a retraction revision and its notices."""
    body = await strict_body(request, RetractRequest)
    return await run_in_threadpool(_retract, ctx, key, body)


def _retract(ctx: IngestContext, key: str, body: RetractRequest) -> RetractionPublic:
    stored = ctx.publisher.retract(key, body.reason)
    if stored.notices:
        ctx.dispatcher.wake()
    return RetractionPublic(name=stored.name, revision=stored.number, kind=stored.kind,
                            notices_queued=stored.notices)


@router.get("/events/{key}/notices", response_model=list[NoticePublic],
            summary="Notices of an event and their delivery state")
def event_notices(ctx: ContextDep, key: EventKey,
                  ) -> list[NoticePublic]:
    """The notices of event ``key`` and their delivery state."""
    with ctx.outbox.engine.connect() as conn:
        event_pk = resolve_event(conn, key).id
    return [NoticePublic.model_validate(n, from_attributes=True)
            for n in ctx.outbox.notices_of(event_pk=event_pk)]
