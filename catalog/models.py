"""Wire models of the REST API (pydantic). Storage returns these, never database rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBox(BaseModel):
    """Asymmetric errors at one containment level, in degrees (RA as coordinate difference)."""

    ra_plus: float | None = None
    ra_minus: float | None = None
    dec_plus: float | None = None
    dec_minus: float | None = None
    radius_deg: float | None = Field(None, description="circularised radius (cap of equal area)")
    area_deg2: float | None = None
    shape: str | None = Field(None, description="circle or box")


class RevisionPublic(BaseModel):
    """One immutable revision of an event."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    kind: str
    source: str
    source_rev: int | None
    source_key: str
    stream: str
    issued_at: datetime | None
    created_at: datetime
    ra: float | None
    dec: float | None
    hpx29: int | None = Field(description="HEALPix NESTED order-29 index of (ra, dec)")
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


class EventSummary(BaseModel):
    """An event with the revision that currently describes it."""

    id: int
    name: str | None
    observatory: str
    run_id: int
    event_id: int
    stream: str
    event_time: datetime
    event_mjd: float
    revision_count: int
    retracted: bool
    current: RevisionPublic | None


class EventDetail(EventSummary):
    revisions: list[RevisionPublic]


class EventPage(BaseModel):
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


class ImportSummary(BaseModel):
    """Outcome of storing a batch of notice records in one transaction."""

    records: int
    events_created: int
    revisions_created: int
    unchanged: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """The one error shape of every REST failure."""

    error: ErrorBody
