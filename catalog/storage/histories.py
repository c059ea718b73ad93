"""One history per alert: the rules that order an event's revisions and reconcile its sources.

Pure functions over :class:`RevState` (what the rules need of a stored or incoming revision);
:mod:`catalog.storage.revisions` loads the states, calls these and writes the outcome.

* **Order.** GCN notices (VOEvent, Kafka JSON, AMON table rows) are ordered by the notice's
  Rev, then by date; every other revision (a catalogue row, a re-scan, an operator's
  retraction, a third-party row) is placed among them by its date: the catalogue's
  publication, the issue time, or the time it was stored.
* **Current.** The last revision in that order, a retraction staying current whatever
  follows, and a third-party revision only when the event has nothing official.
* **Event time.** From the most authoritative source (IceCat-1, then a first notice, then a
  later notice, whose AMON table row may give its issue time instead), the finest precision
  first; any other source that disagrees beyond both precisions is a recorded conflict.
* **Identity.** A source that gave the event another number is listed among the event's
  conflicts (:func:`identity_conflicts`).
* **Status.** ``retracted`` when the current revision is a retraction; ``likely_background``
  when IceCat-1 sets CR_VETO; else ``live``.
* **Conflicts of one notice.** Each source's values are kept in the provenance; values that
  differ beyond the sources' precision are listed in the revision's ``conflicts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from catalog.notices.parsed import GCN_SOURCES, NoticeRecord

_LATE = datetime.max.replace(tzinfo=UTC)

#: Tolerances of :func:`notice_conflicts`: absolute (deg) for angles, relative otherwise.
#: The coarsest source writes positions and radii to 0.01 deg (VOEvents of 2016-2019) and
#: energies, FARs and signalness to 4 significant digits (the AMON tables).
ANGLE_TOLERANCE_DEG = 0.01
RELATIVE_TOLERANCE = 1e-3
_ANGLES = ("ra", "dec", "r50", "r90")
_RELATIVE = ("energy_tev", "signalness", "far_per_year")


@dataclass(slots=True)
class RevState:
    """What the history rules need of one revision of an event."""

    key: str
    kind: str
    source: str
    source_rev: int | None
    issued_at: datetime | None
    event_time: datetime | None
    time_precision_s: float | None
    provenance: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    retraction_reason: str | None = None
    pk: int | None = None
    number: int | None = None
    pinned: bool = False


def notice_rev(state: RevState) -> int | None:
    """The GCN Rev of a notice (JSON ``record_number`` counts from 1, Rev from 0)."""
    if state.source not in GCN_SOURCES or state.source_rev is None:
        if state.source == "gcn-amon" and "rev_inferred" in state.provenance:
            return int(state.key.rsplit(":", 1)[-1])
        return None
    return state.source_rev - 1 if state.source == "gcn-json" else state.source_rev


def _date(state: RevState) -> datetime:
    if state.issued_at is not None:
        return state.issued_at
    if state.source in GCN_SOURCES and state.event_time is not None:
        return state.event_time
    return state.created_at or _LATE


def order(states: list[RevState]) -> list[RevState]:
    """The revisions of one event in history order (see the module docstring)."""
    def tie(s: RevState) -> int:
        return s.number if s.number is not None else 1 << 30

    notices = sorted((s for s in states if notice_rev(s) is not None),
                     key=lambda s: (notice_rev(s), _date(s), tie(s)))
    others = sorted((s for s in states if notice_rev(s) is None),
                    key=lambda s: (_date(s), tie(s)))
    out: list[RevState] = []
    i = j = 0
    while i < len(notices) and j < len(others):
        if _date(others[j]) < _date(notices[i]):
            out.append(others[j])
            j += 1
        else:
            out.append(notices[i])
            i += 1
    return out + notices[i:] + others[j:]


def numbering(ordered: list[RevState]) -> list[tuple[RevState, int]]:
    """Each revision of one event (in history order) with its number.

    The numbers follow the history order, so a late earlier notice moves the stored
    revisions after it up by one, until a version DOI names one of the event's stored
    revisions (``pinned``): from then on no stored revision changes its number (DOI
    versions are stable) and new revisions are numbered after the last, in history order
    among themselves.
    """
    if not any(s.pinned for s in ordered):
        return [(s, n) for n, s in enumerate(ordered)]
    top = max((s.number for s in ordered if s.pk is not None and s.number is not None),
              default=-1)
    out = []
    for s in ordered:
        if s.pk is not None and s.number is not None:
            out.append((s, s.number))
        else:
            top += 1
            out.append((s, top))
    return out


def current(ordered: list[RevState]) -> RevState:
    """The revision that describes the event now."""
    official = [s for s in ordered if s.source != "third-party"] or ordered
    retractions = [s for s in official if s.kind == "retraction"]
    return retractions[-1] if retractions else official[-1]


def _time_rank(s: RevState) -> tuple[int, float]:
    if s.source == "icecat-1":
        authority = 0
    elif s.source in GCN_SOURCES:
        authority = 1 if notice_rev(s) in (0, None) else 2
    elif s.source == "third-party":
        authority = 4
    else:
        authority = 3
    return authority, s.time_precision_s if s.time_precision_s is not None else 1.0


def event_time(ordered: list[RevState]) -> tuple[RevState, list[dict[str, Any]]]:
    """The revision whose event time the event takes, and the sources that disagree."""
    timed = [s for s in ordered if s.event_time is not None]
    best = min(timed, key=_time_rank)
    assert best.event_time is not None
    conflicts = []
    for s in timed:
        assert s.event_time is not None
        tol = max(best.time_precision_s or 1.0, s.time_precision_s or 1.0) + 1e-6
        if abs((s.event_time - best.event_time).total_seconds()) > tol:
            conflicts.append({"field": "event_time", "kept": best.key,
                              "kept_value": best.event_time.isoformat(), "other": s.key,
                              "other_value": s.event_time.isoformat(),
                              "other_source": s.source})
    return best, conflicts


def identity_conflicts(ordered: list[RevState]) -> list[dict[str, Any]]:
    """The sources that gave the event another number (:mod:`catalog.storage.identities`)."""
    out = []
    for s in ordered:
        extras = [s.provenance, *(s.provenance.get("extra_by_source") or {}).values()]
        for extra in extras:
            if isinstance(extra, dict) and "event_id_claimed" in extra:
                out.append({"field": "event_id", "kept": s.key,
                            "kept_value": extra.get("event_id_kept"),
                            "other": extra.get("source_key_claimed"),
                            "other_value": extra["event_id_claimed"],
                            "other_source": s.source})
                break
    return out


def status(ordered: list[RevState], now: RevState) -> tuple[str, str | None, str | None]:
    """(status, reason, source key) of the event whose current revision is ``now``."""
    if now.kind == "retraction":
        return "retracted", now.retraction_reason or "retracted", now.key
    for s in ordered:
        if s.source == "icecat-1" and s.provenance.get("cr_veto") is True:
            return ("likely_background",
                    "IceCat-1 CR_VETO: the event is likely a cosmic-ray air-shower muon "
                    "(removed from IceCat-2)", s.key)
    return "live", None, None


def record_values(rec: NoticeRecord) -> dict[str, Any]:
    """The values of ``rec`` that sources of one notice are compared on (JSON-ready)."""
    r50, r90 = rec.region(0.5), rec.region(0.9)
    return {
        "ra": rec.ra, "dec": rec.dec,
        "r50": r50.radius_deg if r50 is not None else None,
        "r90": r90.radius_deg if r90 is not None else None,
        "energy_tev": rec.energy_tev, "signalness": rec.signalness,
        "far_per_year": rec.far_per_year,
        "event_time": rec.event_time.isoformat(), "time_precision_s": rec.time_precision_s,
        "issued_at": rec.issued_at.isoformat() if rec.issued_at else None,
    }


def _differ(name: str, a: Any, b: Any, values: tuple[dict[str, Any], ...]) -> bool:
    if a is None or b is None:
        return False
    if name in _ANGLES:
        return bool(abs(a - b) > ANGLE_TOLERANCE_DEG)
    if name in _RELATIVE:
        return bool(abs(a - b) > RELATIVE_TOLERANCE * max(abs(a), abs(b)))
    if name == "event_time":
        tol = max(v.get("time_precision_s") or 1.0 for v in values) + 1e-6
        delta = datetime.fromisoformat(a) - datetime.fromisoformat(b)
        return abs(delta.total_seconds()) > tol
    return False


def notice_conflicts(by_source: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The fields on which the sources of one notice disagree, with each source's value."""
    sources = sorted(by_source)
    out = []
    for name in (*_ANGLES, *_RELATIVE, "event_time"):
        for i, a in enumerate(sources):
            for b in sources[i + 1:]:
                va, vb = by_source[a].get(name), by_source[b].get(name)
                if _differ(name, va, vb, (by_source[a], by_source[b])):
                    out.append({"field": name, "values": {s: by_source[s].get(name)
                                                          for s in sources}})
                    break
            else:
                continue
            break
    return out
