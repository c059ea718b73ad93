"""REST: the counterpart candidates of an event's revision (``/api/v1``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from catalog.counterparts.models import CounterpartList
from catalog.errors import InvalidInput
from catalog.handlers.events import ERRORS, TEXT, StorageDep
from catalog.storage.counterparts import CounterpartStore

router = APIRouter(prefix="/api/v1", responses=ERRORS)  # type: ignore[arg-type]


@router.get("/events/{key}/counterparts", response_model=CounterpartList,
            summary="Known sources inside an event's 50 % / 90 % region")
def get_counterparts(
    storage: StorageDep,
    key: Annotated[str, Path(max_length=64, pattern=TEXT,
                             description="name, run_event or numeric id")],
    revision: Annotated[int | None, Query(ge=0, le=2**31 - 1,
                                          description="revision number (default: current)")
                        ] = None,
    level: Annotated[int | None, Query(ge=50, le=90, description="50 or 90 (default: both)")
                     ] = None,
) -> CounterpartList:
    """Catalogued sources (Fermi-LAT 4FGL-DR4, ...) whose position lies in the revision's
    region, or whose 95 % error ellipse overlaps it, with their distance to the best fit:
    level 90 first, blazar classes first, then by distance."""
    if level not in (None, 50, 90):
        raise InvalidInput("level must be 50 or 90", details={"parameter": "level"})
    with storage.engine.connect() as conn:
        return CounterpartStore(conn).for_event(key, revision, level)
