"""Helpers shared by the importers: decoding, numbers, times and unit conversions.

Every helper raises :class:`~catalog.errors.InvalidInput` with a reason a person can act on;
none of them touches a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from catalog.errors import InvalidInput
from catalog.notices.parsed import NameClaim, NoticeRecord

OBSERVATORY = "IceCube"
"""Observatory name stored on every record (the only one we archive)."""

SECONDS_PER_YEAR = 365.0 * 86400.0
"""Year length used to turn a false-alarm rate in Hz into one per year.

IceCube's own notices use a 365-day year: the GCN Kafka example for IceCube-230416A gives
``far = 8.029e-8`` Hz and the GCN AMON table gives FAR 2.5322 /yr for the same event;
8.029e-8 x 31 536 000 s = 2.532, while a Julian year (365.25 d) would give 2.534.
"""

MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)
"""MJD 0 as a UTC datetime."""

TJD_OFFSET = 40000
"""GCN Truncated Julian Day: TJD = MJD - 40000 (TJD 0 = 1968-05-24)."""

# Unit factors. Angles go to degrees, energies to TeV, rates to "per year".
_ANGLE_TO_DEG = {
    "deg": 1.0,
    "degree": 1.0,
    "degrees": 1.0,
    "arcmin": 1.0 / 60.0,
    "arcsec": 1.0 / 3600.0,
}
_ENERGY_TO_TEV = {"gev": 1e-3, "tev": 1.0, "pev": 1e3, "eev": 1e6}
_RATE_TO_PER_YEAR = {
    "yr^-1": 1.0,
    "yr-1": 1.0,
    "1/yr": 1.0,
    "/yr": 1.0,
    "per year": 1.0,
    "hz": SECONDS_PER_YEAR,
    "s^-1": SECONDS_PER_YEAR,
    "1/s": SECONDS_PER_YEAR,
    "s-1": SECONDS_PER_YEAR,
}


@dataclass(frozen=True, slots=True)
class Measured:
    """A notice's issue time and measured quantities, each None where the notice has none
    (the :class:`NoticeRecord` fields of the same names)."""

    issued_at: datetime | None
    energy_tev: float | None
    signalness: float | None
    far_per_year: float | None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row of a table that could not become a record, and why."""

    line: int
    reason: str


@dataclass(slots=True)
class ParseReport:
    """What one document gave: its records and the rows it had to leave out.

    Single-notice formats (VOEvent, GCN JSON) raise instead of rejecting; tables (IceCat-1
    CSV, AMON text) reject bad rows one by one so that one bad row does not lose the rest.
    """

    records: list[NoticeRecord] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    names: list[NameClaim] = field(default_factory=list)


def decode_utf8(data: bytes) -> str:
    """Decode ``data`` as UTF-8 (a leading BOM is dropped), or raise ``InvalidInput``."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"input is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"({exc.reason})",
            details={"offset": exc.start},
        ) from None


def to_float(text: str | None, what: str) -> float:
    """Parse a finite float or raise ``InvalidInput`` naming the field."""
    if text is None:
        raise InvalidInput(f"{what} is missing")
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise InvalidInput(f"{what} is not finite: {text!r}")
    return value


def to_int(text: str | None, what: str) -> int:
    """Parse a decimal integer or raise ``InvalidInput`` naming the field."""
    if text is None:
        raise InvalidInput(f"{what} is missing")
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} is not an integer: {text!r}") from None


def optional_float(text: str | None, what: str) -> float | None:
    """Like :func:`to_float` but ``None``/empty/``None``/``n/a`` mean "not given"."""
    if text is None or text.strip() in ("", "None", "none", "n/a", "N/A", "nan", "NaN"):
        return None
    return to_float(text, what)


def parse_utc(text: str | None, what: str) -> datetime:
    """Parse an ISO 8601 timestamp as timezone-aware UTC.

    A timestamp without an offset is UTC (GCN ISOTime, IceCat-1 START); one with an offset
    is converted to UTC.
    """
    if not text:
        raise InvalidInput(f"{what} is missing")
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} is not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def mjd_to_utc(mjd: float) -> datetime:
    """UTC datetime of a Modified Julian Date in the UTC scale.

    Plain calendar arithmetic (86 400 s per day) rather than ``astropy.time`` because it runs
    on every notice (astropy costs ~0.1 ms per call); it agrees with astropy to the
    microsecond except inside a leap second, which no alert in our sources falls in. The
    tests check it against astropy.
    """
    return MJD_EPOCH + timedelta(days=mjd)


def tjd_sod_to_utc(tjd: int, sod: float) -> datetime:
    """UTC datetime of a GCN (TJD, seconds-of-day) pair."""
    return MJD_EPOCH + timedelta(days=tjd + TJD_OFFSET, seconds=sod)


def angle_to_deg(value: float, unit: str | None, what: str) -> float:
    """Convert an angle given in ``unit`` (deg, arcmin, arcsec; default deg) to degrees."""
    key = (unit or "deg").strip().lower()
    try:
        return value * _ANGLE_TO_DEG[key]
    except KeyError:
        raise InvalidInput(f"{what} has an unknown angle unit {unit!r}") from None


def energy_to_tev(value: float, unit: str | None, what: str) -> float:
    """Convert an energy given in ``unit`` (GeV, TeV, PeV, EeV; default TeV) to TeV."""
    key = (unit or "TeV").strip().lower()
    try:
        return value * _ENERGY_TO_TEV[key]
    except KeyError:
        raise InvalidInput(f"{what} has an unknown energy unit {unit!r}") from None


def rate_to_per_year(value: float, unit: str | None, what: str) -> float:
    """Convert a rate given in ``unit`` (yr^-1, or Hz / s^-1; default yr^-1) to per year."""
    key = (unit or "yr^-1").strip().lower()
    try:
        return value * _RATE_TO_PER_YEAR[key]
    except KeyError:
        raise InvalidInput(f"{what} has an unknown rate unit {unit!r}") from None


def alert_name(prefix_name: str) -> str:
    """``IC200615A`` -> ``IceCube-200615A`` (names already spelled out pass through)."""
    if prefix_name.startswith("IC") and not prefix_name.startswith("IceCube"):
        return "IceCube-" + prefix_name[2:]
    return prefix_name
