"""What a subscriber receives: a JSON envelope around the alert's notice.

The envelope says which subscription matched, how much of the alert's region lies in the
footprint (area, and the fraction of the region inside it) and carries the notice itself
in the subscription's format: a GCN JSON notice as a JSON object, a VOEvent or a circular
as text. The fraction is of the region's *area* (its covering tiles at the widest stored
containment level, 90 % when there is one) unless the flow hands the revision's probability
map over (a scan's update): then it is the share of the region's probability, and
``fraction_of`` says which (``area`` or ``probability``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from catalog.notices.model import NoticeInput, RenderedNotice

#: Media type of the envelope.
MEDIA_TYPE = "application/json"

#: Schema name and version written into every envelope.
ENVELOPE_TYPE = "nufair.subscription.notice/1"

AREA_NOTE = ("fraction of the area of the region's covering HEALPix tiles at this "
             "containment level that lies inside the footprint's tiles; no probability map is "
             "weighed")

PROBABILITY_NOTE = ("fraction of the probability of the region's covering HEALPix tiles at "
                    "this containment level, from the revision's probability map, that lies "
                    "inside the footprint's tiles")

RETRACTION_NOTE = ("a retraction has no region: it goes to every subscription that was sent "
                   "an earlier revision of the alert")


@dataclass(frozen=True, slots=True)
class Overlap:
    """How a revision's region meets a footprint (None for a retraction)."""

    level: int
    area_deg2: float
    region_area_deg2: float
    probability: float | None = None  # share of the region's probability, when mapped

    @property
    def fraction(self) -> float:
        """Share of the region's area inside the footprint, in [0, 1]."""
        if self.region_area_deg2 <= 0:
            return 0.0
        return min(self.area_deg2 / self.region_area_deg2, 1.0)


def _overlap_json(overlap: Overlap | None) -> dict[str, Any] | None:
    if overlap is None:
        return None
    out: dict[str, Any] = {
        "level_percent": overlap.level, "area_deg2": round(overlap.area_deg2, 6),
        "region_area_deg2": round(overlap.region_area_deg2, 6),
        "area_fraction": round(overlap.fraction, 6)}
    if overlap.probability is not None:
        out.update(fraction=round(overlap.probability, 6), fraction_of="probability",
                   note=PROBABILITY_NOTE)
    else:
        out.update(fraction=round(overlap.fraction, 6), fraction_of="area", note=AREA_NOTE)
    return out


def _body(r: RenderedNotice) -> Any:
    if r.format == "gcn-json":
        return json.loads(r.payload)
    return r.payload.decode("utf-8")


def _note(alert: dict[str, Any], overlap: Overlap | None, test: bool) -> str | None:
    if overlap is not None:
        return None
    if alert.get("kind") == "retraction":
        return RETRACTION_NOTE
    return "the region does not overlap the footprint" if test else None


def alert_of(n: NoticeInput) -> dict[str, Any]:
    """The ``alert`` block of an envelope: which alert and revision, and where."""
    return {"name": n.name, "revision": n.revision, "kind": n.kind, "stream": n.stream,
            "ivorn": n.ivorn, "ra": n.ra, "dec": n.dec, "signalness": n.signalness}


def envelope(subscription_pk: int, name: str, alert: dict[str, Any], r: RenderedNotice,
             overlap: Overlap | None, *, test: bool = False) -> bytes:
    """The bytes a subscriber receives for the revision ``alert`` (:func:`alert_of`)
    rendered as ``r``."""
    doc = {
        "type": ENVELOPE_TYPE,
        "test": test,
        "subscription": {"id": subscription_pk, "name": name},
        "alert": alert,
        "overlap": _overlap_json(overlap),
        "note": _note(alert, overlap, test),
        "notice": {"format": r.format, "media_type": r.media_type, "filename": r.filename,
                   "body": _body(r)},
    }
    return json.dumps(doc, indent=1, sort_keys=False).encode()
