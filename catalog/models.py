"""Wire models of the REST API (pydantic). Storage returns these, never database rows.

The models of an entity derive from its ``*Base`` model in ``catalog.schema`` (SQLModel's
Base / table / Public split): a field the table and the API share is declared once, there.
What the API shows differently (the error region as two boxes, ``is_current``) is declared
here. Field order is the order of the JSON keys, so the bases are arranged to keep it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from catalog.schema.base import Entity
from catalog.schema.events import EventBase, RevisionBase


class ErrorBox(BaseModel):
    """Asymmetric errors at one containment level, in degrees (RA as coordinate difference)."""

    ra_plus: float | None = None
    ra_minus: float | None = None
    dec_plus: float | None = None
    dec_minus: float | None = None
    radius_deg: float | None = Field(None, description="circularised radius (cap of equal area)")
    area_deg2: float | None = None
    shape: str | None = Field(None, description="circle or box")


# ``number`` to ``hpx29`` come from RevisionBase; the table's flat error columns are shown as
# the two boxes ``error50`` and ``error90``. (Comments, not docstrings: a docstring is the
# model's description in /openapi.json.)
class RevisionPublic(RevisionBase):
    """One immutable revision of an event."""

    error50: ErrorBox
    error90: ErrorBox
    region_order: int | None
    energy_tev: float | None
    signalness: float | None
    far_per_year: float | None
    ivorn: str | None
    retraction_reason: str | None
    is_current: bool
    provenance: dict[str, Any]
    event_time: datetime | None = Field(None, description="event time as this notice gave it")
    time_precision_s: float | None = Field(None, description="resolution of event_time, s")
    conflicts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="values the sources of this notice disagree on (each source's value)")


class EventHandle(Entity):
    """How the API names an event: its key and its alert name, the first keys of its JSON."""

    id: int
    name: str | None


# EventHandle is the last base, so ``id`` and ``name`` lead and EventBase's fields follow.
class EventSummary(EventBase, EventHandle):
    """An event with the revision that currently describes it."""

    revision_count: int
    retracted: bool
    current: RevisionPublic | None
    status: str = Field("live", description="live, retracted or likely_background")
    status_reason: str | None = None
    status_source: str | None = Field(None, description="source key that set the status")
    time_source: str | None = Field(None, description="source key event_time comes from")
    time_precision_s: float | None = Field(None, description="resolution of event_time, s")
    conflicts: list[dict[str, Any]] = Field(
        default_factory=list, description="disagreements between sources about the event")


class EventDetail(EventSummary):
    """An event with all its revisions, oldest first."""

    revisions: list[RevisionPublic]


class EventPage(BaseModel):
    """One page of events, newest first, and the cursor of the next page."""

    items: list[EventSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class RegionHit(BaseModel):
    """An event whose region (at ``level`` percent) contains a queried position."""

    name: str | None
    event_pk: int
    revision: int
    level: int
    ra: float
    dec: float
    separation_deg: float


class LeftOut(BaseModel):
    """A row (or name) of an input that was not imported, and why."""

    file: str | None = None
    line: int | None = None
    reason: str


class AlertSources(BaseModel):
    """Reconciliation of one alert: the sources that contributed and every conflict."""

    alert: str = Field(description="alert name, else run_event")
    run_id: int
    event_id: int
    status: str
    revisions: int
    sources: list[str]
    conflicts: list[dict[str, Any]] = Field(
        description="event-level conflicts, then each revision's (with its number)")


class ImportSummary(BaseModel):
    """Outcome of storing a batch of notice records in one transaction."""

    records: int
    events_created: int
    revisions_created: int
    unchanged: int
    left_out: list[LeftOut] = Field(
        default_factory=list, description="rows of the input not imported, and why")
    names_assigned: list[str] = Field(
        default_factory=list, description="alert names given from a circulars index")
    alerts: list[AlertSources] = Field(
        default_factory=list, description="per alert of the input: sources and conflicts "
        "(with ?report=true)")


class ErrorBody(BaseModel):
    """A machine-readable error code, a message for people, and details."""

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """The one error shape of every REST failure."""

    error: ErrorBody
