"""The rules of subscriptions: what a registration must say, and who may touch one.

A subscription belongs to the token that created it (its digest prefix, the ``owner``);
another token sees and changes nothing of it (404, as if it did not exist). The handler and
the CLI parse; this module checks and decides; :mod:`catalog.subscriptions.storage` stores.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from catalog.errors import InvalidInput
from catalog.subscriptions.footprint import Cone, Footprint, from_cones, from_moc
from catalog.subscriptions.models import FootprintIn, SubscriptionCreate, SubscriptionCreated
from catalog.subscriptions.storage import NewSubscription, SubscriptionStorage
from catalog.subscriptions.urls import check_webhook_url

#: Names of the sinks a server can configure (``NUFAIR_SINKS``); a subscription naming one
#: the server has not configured fails at delivery, with the reason recorded.
CONFIGURED_SINKS = ("folder", "webhook", "vtp", "gcn-kafka")


def parse_footprint(fp: FootprintIn) -> Footprint:
    """The footprint a registration gives (exactly one form, checked by the model)."""
    if fp.moc is not None:
        return from_moc(fp.moc)
    if fp.moc_fits_base64 is not None:
        try:
            data = base64.b64decode(fp.moc_fits_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("moc_fits_base64 is not base64") from exc
        return from_moc(data)
    cones = [fp.cone] if fp.cone is not None else list(fp.fields or [])
    return from_cones([Cone(c.ra, c.dec, c.radius) for c in cones])


def new_subscription(spec: SubscriptionCreate, owner: str) -> NewSubscription:
    """What to store for ``spec`` registered by ``owner``; :class:`InvalidInput` for a bad
    footprint or sink. A webhook gets a fresh signing secret."""
    footprint = parse_footprint(spec.footprint)
    if spec.sink.webhook_url is not None:
        kind, target = "webhook", check_webhook_url(spec.sink.webhook_url)
        secret: str | None = secrets.token_urlsafe(32)
    else:
        kind, target, secret = "sink", str(spec.sink.configured), None
        if target not in CONFIGURED_SINKS:
            raise InvalidInput(f"unknown sink {target[:64]!r}",
                               details={"configured": list(CONFIGURED_SINKS)})
    return NewSubscription(
        name=spec.name, owner=owner, streams=sorted(set(spec.streams)),
        min_signalness=spec.min_signalness, notice_format=spec.format, sink_kind=kind,
        sink_target=target, secret=secret, footprint=footprint)


def register(storage: SubscriptionStorage, spec: SubscriptionCreate,
             owner: str) -> SubscriptionCreated:
    """Check and store a new subscription."""
    return storage.create(new_subscription(spec, owner))
