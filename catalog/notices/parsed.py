"""Parsed notices: the common form every importer produces and storage consumes.

An importer turns one source document (a GCN VOEvent, a GCN Kafka JSON notice, a row of
IceCat-1 or of a GCN AMON table) into a :class:`NoticeRecord`. Storage matches records to
events on ``(observatory, run_id, event_id)`` and stores each as an immutable revision.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class Stream(enum.StrEnum):
    """Alert stream of an event. ``NONE`` is an archived event that is not an alert."""

    GOLD = "gold"
    BRONZE = "bronze"
    CASCADE = "cascade"
    HESE = "hese"  # legacy (2016-2019) HESE track alerts
    EHE = "ehe"  # legacy (2016-2019) EHE track alerts
    NONE = "none"


class RevisionKind(enum.StrEnum):
    """What a revision says about the event."""

    INITIAL = "initial"
    UPDATE = "update"
    RETRACTION = "retraction"
    CATALOG = "catalog"  # a row of a published catalogue (IceCat-1), never a notice


class Source(enum.StrEnum):
    """Where a revision came from."""

    GCN_VOEVENT = "gcn-voevent"
    GCN_JSON = "gcn-json"
    ICECAT1 = "icecat-1"
    AMON_TABLE = "gcn-amon"  # the GCN AMON web tables of IceCube notices
    THIRD_PARTY = "third-party"  # compilations in IceCat-1 layout by others; never official
    RECO = "reco"
    OPERATOR = "operator"  # a person acting through the API (e.g. a retraction)


@dataclass(frozen=True, slots=True)
class NameClaim:
    """A source's word that the alert of ``day`` with ``letter`` (in its series: tracks, or
    cascades) is called ``name``."""

    name: str
    cascade: bool
    day: date
    letter: str
    source: str


@dataclass(frozen=True, slots=True)
class ErrorRegion:
    """A localisation region at one containment level.

    Either a circle (``radius_deg``) or an RA/Dec rectangle given by asymmetric errors
    (``ra_plus``, ``ra_minus``, ``dec_plus``, ``dec_minus``, all in degrees, RA errors as
    coordinate differences, not great-circle lengths, as IceCat-1 and the GCN notices give
    them).
    """

    containment: float  # 0.5 or 0.9
    radius_deg: float | None = None
    ra_plus: float | None = None
    ra_minus: float | None = None
    dec_plus: float | None = None
    dec_minus: float | None = None

    @property
    def is_circle(self) -> bool:
        """Whether the region is a circle (``radius_deg``) rather than a rectangle."""
        return self.radius_deg is not None


#: Sources that speak for IceCube (GCN notices and the IceCat-1 release).
OFFICIAL_SOURCES = frozenset({"gcn-voevent", "gcn-json", "gcn-amon", "icecat-1", "reco",
                              "operator"})

#: Sources that carry GCN notices (their revisions are ordered by the notice's Rev).
GCN_SOURCES = frozenset({"gcn-voevent", "gcn-json", "gcn-amon"})


def notice_key(stream: Stream, run_id: int, event_id: int, rev: int) -> str:
    """Identity of one GCN notice, whichever source carried it (a VOEvent, a row of the AMON
    table, a Kafka JSON message): its stream, event and the notice's Rev (counted from 0)."""
    return f"gcn:{stream.value}:{run_id}:{event_id}:{rev}"


def time_precision(text: str) -> float:
    """Resolution in seconds of a clock time as written (``"00:22:20.68"`` -> 0.01)."""
    clock = text.strip().rsplit(":", 1)[-1].rstrip("Z")
    clock = clock.split("+")[0]
    if "." not in clock:
        return 1.0
    digits = len(clock.split(".", 1)[1])
    return float(10.0 ** -digits)


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    """One revision of one event, as read from a source document.

    Attributes
    ----------
    observatory, run_id, event_id
        The event's identity (``IceCube``, run, event number in the run).
    name
        Alert name such as ``IceCube-200615A`` (``None`` when the source has none).
    stream
        Alert stream.
    event_time
        Event time, timezone-aware UTC.
    kind
        initial / update / retraction.
    source, source_rev
        Where the revision came from and the source's own revision number (GCN ``Rev``).
    source_key
        Stable identity of this revision in its source (an IVORN, a catalog row key); a
        second import of the same key is a no-op.
    issued_at
        When the source issued it (notice date), if known.
    ra, dec
        Best-fit direction in degrees (ICRS/J2000). ``None`` for a retraction without one.
    regions
        Localisation regions (50 % and/or 90 %).
    energy_tev, signalness, far_per_year
        Alert parameters (``None`` when not given).
    ivorn
        GCN IVORN for notices.
    retraction_reason
        Free text for a retraction.
    extra
        Any further source fields worth keeping verbatim (stored as provenance JSON).
    time_precision_s
        Resolution of ``event_time`` as the source wrote it (1e-6 for IceCat-1's
        microseconds, 0.01 for a GCN ``HH:MM:SS.ss``); ``None`` when unknown.
    """

    observatory: str
    run_id: int
    event_id: int
    name: str | None
    stream: Stream
    event_time: datetime
    kind: RevisionKind
    source: Source
    source_rev: int | None
    source_key: str
    issued_at: datetime | None = None
    ra: float | None = None
    dec: float | None = None
    regions: tuple[ErrorRegion, ...] = ()
    energy_tev: float | None = None
    signalness: float | None = None
    far_per_year: float | None = None
    ivorn: str | None = None
    retraction_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    time_precision_s: float | None = None

    def region(self, containment: float) -> ErrorRegion | None:
        """The region at ``containment`` (0.5 or 0.9), if the record has one."""
        for r in self.regions:
            if abs(r.containment - containment) < 1e-9:
                return r
        return None
