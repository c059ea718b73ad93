"""Wire models of region subscriptions (REST and CLI); storage returns these."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

#: Alert streams a subscription can ask for.
AlertStream = Literal["gold", "bronze", "cascade"]

#: Formats of the notice a subscription receives (inside its envelope).
NoticeFormat = Literal["gcn-json", "voevent", "circular"]


class ConeIn(BaseModel):
    """A field of view: centre and radius in degrees (ICRS)."""

    ra: float = Field(ge=0, lt=360)
    dec: float = Field(ge=-90, le=90)
    radius: float = Field(gt=0, le=180)


class FootprintIn(BaseModel):
    """Exactly one of: a MOC (ASCII or JSON text), a MOC FITS file (base64), a cone, or a
    list of fields (cones)."""

    moc: str | None = Field(None, max_length=2_000_000, pattern=r"^[^\x00]*$",
                            description="MOC 2.0 in ASCII (`3/1-5 4/100`) or JSON")
    moc_fits_base64: str | None = Field(None, max_length=2_800_000,
                                        description="a MOC FITS file, base64-encoded")
    cone: ConeIn | None = None
    fields: list[ConeIn] | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _exactly_one(self) -> FootprintIn:
        given = [k for k in ("moc", "moc_fits_base64", "cone", "fields")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of moc, moc_fits_base64, cone, fields")
        return self


class SinkIn(BaseModel):
    """Exactly one of: a webhook URL (its notices are signed with a secret made for it),
    or the name of a sink the server has configured (folder, vtp, gcn-kafka, webhook)."""

    webhook_url: str | None = Field(None, max_length=2000, pattern=r"^[^\x00-\x20\x7f]*$")
    configured: str | None = Field(None, max_length=64, pattern=r"^[^\x00-\x20\x7f]*$")

    @model_validator(mode="after")
    def _exactly_one(self) -> SinkIn:
        if (self.webhook_url is None) == (self.configured is None):
            raise ValueError("give exactly one of webhook_url, configured")
        return self


class SubscriptionCreate(BaseModel):
    """What a client registers."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")
    footprint: FootprintIn
    streams: list[AlertStream] = Field(default=["gold", "bronze", "cascade"], min_length=1)
    min_signalness: float | None = Field(None, ge=0, le=1)
    format: NoticeFormat = "gcn-json"
    sink: SinkIn


class SubscriptionPublic(BaseModel):
    """A subscription as stored (its secret is shown only once, at creation)."""

    id: int
    name: str
    state: Literal["active", "paused", "deleted"]
    streams: list[str]
    min_signalness: float | None
    format: str
    sink_kind: Literal["webhook", "sink"]
    sink_target: str
    footprint_kind: str
    moc_order: int
    area_deg2: float
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionPublic):
    """The answer to a creation: with the webhook's signing secret (never shown again)."""

    secret: str | None = Field(None, description="HMAC-SHA256 key of the webhook's "
                               "X-Nufair-Signature; only in this answer")


class SubscriptionList(BaseModel):
    """The caller's subscriptions, oldest first."""

    subscriptions: list[SubscriptionPublic]


class TestFired(BaseModel):
    """A test notice queued for a subscription's sink."""

    notice_id: int
    revision_pk: int
    idempotency_key: str
