"""The input every notice builder reads, and the rendered result."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from catalog.counterparts.models import CounterpartPublic

#: Year length that turns a false-alarm rate per year into Hz: IceCube's notices use a
#: 365-day year (the GCN Kafka example for IceCube-230416A gives 8.029e-8 Hz for 2.532/yr).
SECONDS_PER_YEAR = 365.0 * 86400.0

#: MJD of the Truncated Julian Day origin (GCN's TJD = MJD − 40000).
TJD_OFFSET = 40000

Format = Literal["gcn-json", "voevent", "circular"]

#: An identifier that may become part of a file name (observatory, sink and format names):
#: a letter or digit first (so never ``.`` / ``..`` or a hidden file), then letters,
#: digits, ``.``, ``_`` or ``-``; at most 64 characters; never a ``/`` or a NUL.
#: ``schemas/raw_event.schema.json`` asks the same of ``observatory``.
SAFE_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_safe_name(value: object) -> bool:
    """True if ``value`` is a string matching :data:`SAFE_NAME_PATTERN` entirely."""
    return isinstance(value, str) and SAFE_NAME_PATTERN.fullmatch(value) is not None

_ONE_SECOND = timedelta(seconds=1)

#: Every format a sink can ask for.
FORMATS: tuple[Format, ...] = ("gcn-json", "voevent", "circular")

#: GCN packet type, VOEvent ``Stream`` code and IVORN label of each alert stream.
STREAM_CODES = {
    "gold": (173, 24, "GOLD", "Gold Track Alert", "Track"),
    "bronze": (174, 25, "BRONZE", "Bronze Track Alert", "Track"),
    "cascade": (176, 26, "CASCADE", "Cascade Alert", "Shower"),
}


@dataclass(frozen=True, slots=True)
class NoticeAuthor:
    """Who signs the notices: VOEvent ``AuthorIVORN`` and the ``Author`` contact.

    The wiring builds it from ``NUFAIR_IVORN_BASE`` and the contact settings; the default
    is only what a test or a bare library call gets.
    """

    ivorn: str = "ivo://nufair.example/IceCube"
    contact_name: str = "nufair realtime pipeline"
    contact_email: str | None = None


#: The author of notices built without one (tests, library use).
DEFAULT_AUTHOR = NoticeAuthor()


@dataclass(frozen=True, slots=True)
class Citation:
    """An earlier notice this one refers to (``supersedes`` or ``retraction``)."""

    ivorn: str
    relation: Literal["supersedes", "retraction", "followup"]


@dataclass(frozen=True, slots=True)
class NoticeInput:
    """Everything a notice says about one revision of one event.

    Attributes
    ----------
    observatory, run_id, event_id, name
        Event identity; ``name`` such as ``IceCube-200615A`` (``None`` before naming).
    stream
        ``gold``, ``bronze`` or ``cascade`` (notices are only published for alerts).
    event_time
        Event time (aware, UTC).
    revision
        Revision number (0 for the initial notice); GCN JSON's ``record_number`` is
        ``revision + 1`` and VOEvent's ``Rev`` is ``revision``.
    kind
        ``initial``, ``update`` or ``retraction``.
    issued_at
        When the notice is issued (aware, UTC).
    ra, dec
        Best-fit direction in degrees (for a retraction: that of the revision it retracts).
    r50_deg, r90_deg
        Circularised 50 % and 90 % radii in degrees.
    energy_tev, signalness, far_per_year
        Alert parameters.
    ivorn
        IVORN of this notice.
    citations
        Earlier notices this one supersedes or retracts.
    retraction_reason
        Why the event is retracted (retraction notices only).
    skymap_url
        Public URL of the FITS skymap, when there is one.
    test
        True for test or simulation traffic (a simulated observatory): every format
        marks the notice as a test, so no one follows it up as a real observation.
    author
        Who signs the notice (VOEvent ``Who``).
    counterparts
        The revision's stored counterpart candidates in its 90 % region (the circular
        draft lists them); None: not searched.
    systematics
        The simulation with systematic variations the regions were calibrated on
        (:func:`region_systematics`), e.g. ``"perturbed-ice v1"``; None: statistical only.
    """

    observatory: str
    run_id: int
    event_id: int
    name: str | None
    stream: str
    event_time: datetime
    revision: int
    kind: Literal["initial", "update", "retraction"]
    issued_at: datetime
    ra: float | None
    dec: float | None
    r50_deg: float | None
    r90_deg: float | None
    energy_tev: float | None
    signalness: float | None
    far_per_year: float | None
    ivorn: str
    citations: tuple[Citation, ...] = ()
    retraction_reason: str | None = None
    skymap_url: str | None = None
    test: bool = False
    author: NoticeAuthor = DEFAULT_AUTHOR
    counterparts: tuple[CounterpartPublic, ...] | None = None
    systematics: str | None = None

    @property
    def far_hz(self) -> float | None:
        """The false-alarm rate in Hz, as GCN notices give it."""
        return None if self.far_per_year is None else self.far_per_year / SECONDS_PER_YEAR

    @property
    def codes(self) -> tuple[int, int, str, str, str]:
        """(packet type, Stream code, IVORN label, GCN pipeline, topology) of the stream."""
        try:
            return STREAM_CODES[self.stream]
        except KeyError:
            raise ValueError(f"no notices for stream {self.stream!r}") from None


@dataclass(frozen=True, slots=True)
class RenderedNotice:
    """One notice in one format: the exact bytes to deliver."""

    format: Format
    media_type: str
    filename: str
    payload: bytes


def iso_z(t: datetime, digits: int = 6) -> str:
    """ISO 8601 in UTC with a ``Z`` and ``digits`` decimals of the second."""
    t = t.astimezone(UTC)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if digits == 0:
        return base + "Z"
    frac = f"{t.microsecond / 1e6:.{digits}f}"[1:]
    if frac.startswith("1"):  # rounding reached a whole second: keep it simple and exact
        return iso_z(t.replace(microsecond=0), digits)
    return f"{base}{frac}Z"


def file_stem(n: NoticeInput) -> str:
    """A file name stem unique per event revision, e.g. ``IceCube_134191_017593623_1``.

    ``ValueError`` if the observatory is not a safe name or a number is negative: the stem
    becomes a file name, and must never climb out of its folder.
    """
    if not is_safe_name(n.observatory):
        raise ValueError(f"observatory {n.observatory[:80]!r} is not a safe file name part")
    if min(n.run_id, n.event_id, n.revision) < 0:
        raise ValueError("run, event and revision numbers of a file name must be ≥ 0")
    return f"{n.observatory}_{n.run_id}_{n.event_id:09d}_{n.revision}"


def make_ivorn(base: str, stream: str, event_time: datetime, run_id: int, event_id: int,
               revision: int) -> str:
    """An IVORN in the shape of IceCube's GCN notices under our own authority ``base``.

    ``ivo://nasa.gsfc.gcn/AMON#ICECUBE_GOLD_Event2020-06-15T14:49:17.37_24_134191_017593623_1``
    is the GCN original; ours replaces the authority with ``base``.
    """
    _, code, label, _, _ = STREAM_CODES[stream]
    t = event_time.astimezone(UTC)
    hundredths = round(t.microsecond / 1e4)
    if hundredths == 100:  # 59.996 s rounds to the next second, not to ".100"
        t = t.replace(microsecond=0) + _ONE_SECOND
        hundredths = 0
    stamp = t.strftime("%Y-%m-%dT%H:%M:%S") + f".{hundredths:02d}"
    return f"{base}#ICECUBE_{label}_Event{stamp}_{code}_{run_id}_{event_id:09d}_{revision}"


def render(fmt: Format, notice: NoticeInput) -> RenderedNotice:
    """Render ``notice`` in ``fmt``."""
    from catalog.notices import circular, gcn_json, voevent

    if fmt == "gcn-json":
        return gcn_json.render(notice)
    if fmt == "voevent":
        return voevent.render(notice)
    if fmt == "circular":
        return circular.render(notice)
    raise ValueError(f"unknown notice format {fmt!r}")



def region_systematics(provenance: dict[str, Any]) -> str | None:
    """The systematics the 90 % region of a revision includes, from its provenance (a scan's
    update revision records each region's ``systematics``); None when none is recorded.

    Examples
    --------
    >>> region_systematics({"regions": {"90": {"name": "calibrated-90",
    ...                                        "systematics": "perturbed-ice v1"}}})
    'perturbed-ice v1'
    >>> region_systematics({"source": "gcn-amon"}) is None
    True
    """
    regions = provenance.get("regions")
    region = regions.get("90") if isinstance(regions, dict) else None
    value = region.get("systematics") if isinstance(region, dict) else None
    return value if isinstance(value, str) and value else None
