"""REST API of region subscriptions (``/api/v1/subscriptions``, ``subscribe`` scope).

Handlers parse and shape only: the rules are in :mod:`catalog.subscriptions.service`, the
SQL in :mod:`catalog.subscriptions.storage`. A subscription belongs to the token that
created it; another token gets 404 for it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from catalog.handlers.auth import require_scope
from catalog.handlers.context import catalog_context
from catalog.models import ErrorResponse
from catalog.subscriptions.models import (
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionPublic,
    TestFired,
)
from catalog.subscriptions.service import register
from catalog.subscriptions.storage import SubscriptionStorage

#: The scope a token needs to manage subscriptions.
SCOPE = "subscribe"

ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422)}

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"],
                   responses=ERRORS)  # type: ignore[arg-type]


def get_subscriptions(request: Request) -> SubscriptionStorage:
    """A FastAPI dependency: subscription storage on the catalog's engine."""
    return SubscriptionStorage(catalog_context(request).storage.engine)


StorageDep = Annotated[SubscriptionStorage, Depends(get_subscriptions)]
OwnerDep = Annotated[str, Depends(require_scope(SCOPE))]
IdPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="subscription id")]


@router.post("", response_model=SubscriptionCreated, status_code=201,
             summary="Register a region subscription")
def create_subscription(spec: SubscriptionCreate, storage: StorageDep,
                        owner: OwnerDep) -> SubscriptionCreated:
    """Register a footprint (MOC, cone or fields), a stream filter and a sink; a webhook's
    signing secret is in this answer only."""
    return register(storage, spec, owner)


@router.get("", response_model=SubscriptionList, summary="The caller's subscriptions")
def list_subscriptions(storage: StorageDep, owner: OwnerDep) -> SubscriptionList:
    """The caller's live subscriptions, oldest first."""
    return SubscriptionList(subscriptions=storage.list(owner))


@router.get("/{pk}", response_model=SubscriptionPublic, summary="One subscription")
def get_subscription(pk: IdPath, storage: StorageDep, owner: OwnerDep) -> SubscriptionPublic:
    """One of the caller's subscriptions."""
    return storage.get(pk, owner)


@router.post("/{pk}/pause", response_model=SubscriptionPublic,
             summary="Pause a subscription (nothing more is matched)")
def pause_subscription(pk: IdPath, storage: StorageDep, owner: OwnerDep) -> SubscriptionPublic:
    """Stop matching new revisions; what was queued is still delivered."""
    return storage.set_state(pk, owner, "paused")


@router.post("/{pk}/resume", response_model=SubscriptionPublic,
             summary="Resume a paused subscription")
def resume_subscription(pk: IdPath, storage: StorageDep, owner: OwnerDep) -> SubscriptionPublic:
    """Match new revisions again (revisions published while paused are not sent)."""
    return storage.set_state(pk, owner, "active")


@router.delete("/{pk}", status_code=204, response_class=Response,
               summary="Delete a subscription")
def delete_subscription(pk: IdPath, storage: StorageDep, owner: OwnerDep) -> Response:
    """Delete a subscription: no more matches; its pending notices are refused (410)."""
    storage.delete(pk, owner)
    return Response(status_code=204)


@router.post("/{pk}/test", response_model=TestFired, status_code=202,
             summary="Queue a test notice for the subscription's sink")
def test_fire(pk: IdPath, storage: StorageDep, owner: OwnerDep) -> TestFired:
    """Queue a test envelope (``"test": true``) carrying the latest published notice."""
    return storage.test_fire(pk, owner)
