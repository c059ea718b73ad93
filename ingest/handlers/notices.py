"""REST endpoints of outbox steering (``/api/v1/notices``): list, retry, replay.

Every route needs the ``admin`` scope: the outbox names the receivers and a replay sends.
Handlers parse and shape only: :class:`ingest.steering.OutboxSteering` holds the rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from catalog.handlers.auth import require_scope
from catalog.models import ErrorResponse
from catalog.schema.outbox import NoticeStatusRead
from ingest.handlers.body import body_doc, strict_body
from ingest.handlers.context import ContextDep, IngestContext
from ingest.handlers.scans import EVENT_KEY_PATTERN
from ingest.rawevent import MAX_ID
from ingest.steering import OutboxSteering

ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 413, 422)}

router = APIRouter(prefix="/api/v1", responses=ERRORS)  # type: ignore[arg-type]

AdminToken = Annotated[str, Depends(require_scope("admin"))]
NoticeId = Annotated[int, Path(ge=1, le=MAX_ID, description="notice id")]
#: Names of sinks as configured (folder, webhook, vtp, gcn-kafka).
SINK_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
State = Literal["pending", "delivered", "failed"]


class NoticeStatusPublic(BaseModel):
    """A notice in the outbox and where its delivery stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    alert: str | None = Field(description="the alert's name")
    event: int = Field(validation_alias=AliasChoices("event", "event_pk"),
                       description="the event's id")
    revision: int
    sink: str
    format: str
    state: State
    attempts: int
    next_attempt_at: datetime = Field(description="when a pending notice is due")
    delivered_at: datetime | None
    failed_reason: str | None = Field(description="why it was given up (state failed)")
    last_detail: str | None = Field(description="what the last attempt reported")
    created_at: datetime


class NoticePage(BaseModel):
    """One page of notices, by id; ``next_after``: pass it as ``after`` for the next page."""

    notices: list[NoticeStatusPublic]
    next_after: int | None


class ReplayRequest(BaseModel):
    """What to send again: an alert's revisions, a sink's history, or both."""

    alert: str | None = Field(default=None, max_length=64, pattern=EVENT_KEY_PATTERN,
                              description="event name, run_event or id")
    sink: str | None = Field(default=None, max_length=32, pattern=SINK_PATTERN,
                             description="a configured sink (unset: every sink)")
    since: datetime | None = Field(
        default=None, description="only revisions created at or after this time")


class ReplayPublic(BaseModel):
    """What a replay queued."""

    revisions: int = Field(description="revisions replayed")
    rendered: int = Field(description="notices rendered for the first time (a new sink)")
    notices: list[int] = Field(description="ids of the notices now pending")


def _steering(ctx: IngestContext) -> OutboxSteering:
    return OutboxSteering(ctx.publisher.engine, ctx.publisher, on_queued=ctx.dispatcher.wake)


def _public(n: NoticeStatusRead) -> NoticeStatusPublic:
    # The stored shape under the operator's names; ``state`` is checked against the Literal.
    return NoticeStatusPublic.model_validate(n, from_attributes=True)


@router.get("/notices", response_model=NoticePage, summary="Notices in the outbox, by id")
def list_notices(
        ctx: ContextDep, _token: AdminToken,
        alert: Annotated[str | None, Query(max_length=64, pattern=EVENT_KEY_PATTERN,
                                           description="event name, run_event or id")] = None,
        sink: Annotated[str | None, Query(max_length=32, pattern=SINK_PATTERN)] = None,
        state: State | None = None,
        after: Annotated[int, Query(ge=0, le=MAX_ID, description="last id seen")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> NoticePage:
    """Notices of an alert, a sink or a state, a page at a time."""
    rows = _steering(ctx).list(alert=alert, sink=sink, state=state, after_id=after,
                               limit=limit)
    return NoticePage(notices=[_public(n) for n in rows],
                      next_after=rows[-1].id if len(rows) == limit else None)


@router.post("/notices/{notice_id}/retry", response_model=NoticeStatusPublic,
             summary="Make a failed or waiting notice due now")
def retry_notice(ctx: ContextDep, notice_id: NoticeId, _token: AdminToken) -> NoticeStatusPublic:
    """Try a notice again now (409 for a delivered one: replay it instead)."""
    return _public(_steering(ctx).retry(notice_id))


@router.post("/notices/replay", response_model=ReplayPublic, status_code=202,
             summary="Send an alert's revisions or a sink's history again, in order",
             openapi_extra=body_doc(ReplayRequest))
async def replay_notices(request: Request, ctx: ContextDep, _token: AdminToken,
                         ) -> ReplayPublic:
    """Queue every announced revision of the alert (or of every alert) for the sink (or
    every sink) again; a sink that never had them gets them rendered now."""
    body = await strict_body(request, ReplayRequest)
    r = await run_in_threadpool(
        lambda: _steering(ctx).replay(alert=body.alert, sink=body.sink, since=body.since))
    return ReplayPublic(revisions=r.revisions, rendered=r.rendered, notices=r.notices)
