"""GCN AMON text tables of IceCube notices (Gold/Bronze, and the legacy HESE and EHE tables).

The tables are whitespace-separated with ``#`` comment headers. The last header line names the
columns; the free-text ``Comments`` column takes the rest of a row. The header comments say
the unit and containment of the error columns ("... radius, 90% and 50% containment ... in
units of arcmin"), and we read them from there rather than assume them. Dates are
``YY/MM/DD`` (20YY) and times ``HH:MM:SS.ss`` UTC.

Revisions: the Gold/Bronze table has a ``Rev`` column. The HESE/EHE tables do not; they list
the newest notice first (dates descend, as the Rev 1 row precedes Rev 0 in the Gold/Bronze
table), so for them we count each event's rows from the bottom of the file: 0 for the first
notice, then 1, 2, ... That ordinal goes into the source key (stable when GCN prepends new
rows) and ``extra["rev_inferred"]``; ``source_rev`` stays ``None`` because the table does not
give it. A row identical to another row of the same event is imported once.

A Gold/Bronze row with energy 0, signalness 0 and FAR 1000 is a retraction: GCN zeroes those
values in a retraction notice (run 139977 event 2910365, retracted in GCN Circular 37794).
Its placeholders are dropped (``None``) and kept verbatim in ``extra``.

Issue times: the tables have no column for when a notice was issued; ``Date``/``Time UT``
is the event's time (the Rev 0 and Rev 1 rows of an event repeat it), so AMON rows carry no
``issued_at``. One row differs: IceCube-241113A's Rev 1 gives 14:38:33.00, when its
circular went out (GCN 38200), against Rev 0's 00:22:20.68; the history keeps Rev 0's time
and records the other as a conflict.

Bad rows are rejected with their line number; the others still import.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from catalog.errors import InvalidInput
from catalog.importers._common import (
    OBSERVATORY,
    ParseReport,
    RejectedRow,
    angle_to_deg,
    optional_float,
    to_float,
    to_int,
)
from catalog.notices.parsed import (
    ErrorRegion,
    NoticeRecord,
    RevisionKind,
    Source,
    Stream,
    notice_key,
    time_precision,
)

NOTICE_STREAMS = {
    "GOLD": Stream.GOLD,
    "BRONZE": Stream.BRONZE,
    "HESE": Stream.HESE,
    "EHE": Stream.EHE,
    "CASCADE": Stream.CASCADE,
}

# Column names as the headers spell them, some with a space inside -> one token.
_MULTIWORD = (("Time UT", "Time"), ("False _Pos", "False_Pos"), ("N _Events", "N_Events"))
_ALIASES = {"Run": "RunNum", "Notice": "NoticeType", "NEvents": "N_Events"}
_REQUIRED = ("RunNum", "EventNum", "Date", "Time", "NoticeType", "RA", "Dec")

_UNIT_RE = re.compile(r"(Error\w*).*?in units of (arcmin|arcsec|deg\w*)", re.IGNORECASE)
_CONTAINMENT_RE = re.compile(r"(\d+)%", re.IGNORECASE)


def looks_like_amon(text: str) -> bool:
    """Whether ``text`` starts like a GCN AMON table."""
    head = text[:2000]
    return head.lstrip().startswith("#") and "amon" in head.lower() and "RA" in head


def _header(comments: list[str]) -> tuple[list[str], dict[str, tuple[float, str]]]:
    """Column names, and for each error column its (containment, unit) from the comments."""
    names_line = next((c for c in reversed(comments) if "RA" in c.split()), None)
    if names_line is None:
        raise InvalidInput("AMON table: no header line naming the columns")
    for multi, single in _MULTIWORD:
        names_line = names_line.replace(multi, single)
    names = [_ALIASES.get(n, n) for n in names_line.lstrip("#").split()]
    missing = [c for c in _REQUIRED if c not in names]
    if missing:
        raise InvalidInput(f"AMON table header lacks columns {missing}")
    return names, _error_columns(comments, names)


def _error_columns(comments: list[str], names: list[str]) -> dict[str, tuple[float, str]]:
    """Each error column's (containment, unit), from the comment lines that name a unit;
    ``InvalidInput`` for an error column they leave unexplained."""
    columns = [n for n in names if n.startswith("Err")]
    errors: dict[str, tuple[float, str]] = {}
    for line in comments:
        unit = _UNIT_RE.search(line)
        if unit is None:
            continue
        levels = [float(p) / 100.0 for p in _CONTAINMENT_RE.findall(line)]
        if unit.group(1) == "Error" and "Error" in columns and len(levels) == 1:
            errors["Error"] = (levels[0], unit.group(2))
        else:
            # "the Error90 and Error50 are ... (radius, 90% and 50% containment) in arcmin"
            for column in columns:
                digits = re.sub(r"\D", "", column)
                if digits:
                    errors[column] = (float(digits) / 100.0, unit.group(2))
    for column in columns:
        if column not in errors:
            raise InvalidInput(f"AMON table header does not say the unit/containment of {column}")
    return errors


def _time(date: str, time: str) -> datetime:
    try:
        day = datetime.strptime(date, "%y/%m/%d")
        clock = datetime.strptime(time, "%H:%M:%S.%f" if "." in time else "%H:%M:%S")
    except ValueError:
        raise InvalidInput(
            f"bad date/time {date!r} {time!r} (expected YY/MM/DD HH:MM:SS.ss)"
        ) from None
    return day.replace(
        hour=clock.hour,
        minute=clock.minute,
        second=clock.second,
        microsecond=clock.microsecond,
        tzinfo=UTC,
    )


def _row(values: dict[str, str], errors: dict[str, tuple[float, str]]) -> dict[str, Any]:
    """One row's fields, typed, before its revision is known."""
    notice = values["NoticeType"].upper()
    if notice not in NOTICE_STREAMS:
        raise InvalidInput(f"NoticeType {values['NoticeType']!r} is not an IceCube alert stream")
    dec = to_float(values["Dec"], "Dec")
    if not -90.0 <= dec <= 90.0:
        raise InvalidInput(f"Dec {dec} is outside [-90, 90]")
    regions = []
    for column, (containment, unit) in sorted(errors.items(), key=lambda e: e[1][0]):
        radius = optional_float(values.get(column), column)
        if radius is not None:
            # Radii are given in arcmin: 60 arcmin per degree.
            regions.append(ErrorRegion(containment, radius_deg=angle_to_deg(radius, unit, column)))
    return {
        "run": to_int(values["RunNum"], "Run"),
        "event": to_int(values["EventNum"], "EventNum"),
        "rev": to_int(values["Rev"], "Rev") if "Rev" in values else None,
        "stream": NOTICE_STREAMS[notice],
        "time": _time(values["Date"], values["Time"]),
        "ra": to_float(values["RA"], "RA"),
        "dec": dec,
        "regions": tuple(regions),
        "energy": optional_float(values.get("Energy"), "Energy"),
        "signalness": optional_float(values.get("Signalness"), "Signalness"),
        "far": optional_float(values.get("FAR"), "FAR"),
    }


def read_amon_table(text: str) -> ParseReport:
    """Read a GCN AMON IceCube table into records and rejected rows.

    Parameters
    ----------
    text
        The whole table, decoded.

    Returns
    -------
    ParseReport
        Records in file order and each rejected row with its line number (first line = 1).

    Raises
    ------
    InvalidInput
        When the header does not name the columns or the error units.
    """
    lines = text.splitlines()
    comments = [ln for ln in lines if ln.lstrip().startswith("#")]
    names, errors = _header(comments)
    report = ParseReport()
    rows: list[tuple[int, tuple[str, ...], dict[str, Any], dict[str, str]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens = line.split(None, len(names) - 1)
        if len(tokens) < len(names) - 1:
            report.rejected.append(
                RejectedRow(number, f"{len(tokens)} fields, expected at least {len(names) - 1}")
            )
            continue
        values = dict(zip(names, tokens, strict=False))
        try:
            rows.append((number, tuple(tokens[:-1]), _row(values, errors), values))
        except InvalidInput as exc:
            report.rejected.append(RejectedRow(number, exc.message))

    # Legacy tables: number each event's rows from the bottom (oldest notice first).
    seen: dict[tuple[Any, ...], list[tuple[str, ...]]] = defaultdict(list)
    revs: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    keep: list[tuple[int, dict[str, Any], dict[str, str], int, bool]] = []
    for number, tokens, row, values in reversed(rows):
        identity = (row["stream"], row["run"], row["event"])
        if row["rev"] is None:
            if tokens in seen[identity]:
                report.rejected.append(RejectedRow(number, "repeats an earlier notice row"))
                continue
            seen[identity].append(tokens)
            keep.append((number, row, values, len(seen[identity]) - 1, True))
        else:
            if row["rev"] in revs[identity]:
                report.rejected.append(
                    RejectedRow(
                        number, f"Rev {row['rev']} of this event already read lower in the table"
                    )
                )
                continue
            revs[identity].add(row["rev"])
            keep.append((number, row, values, row["rev"], False))
    for number, row, values, rev, inferred in sorted(keep, key=lambda k: k[0]):
        del number
        report.records.append(_record(row, values, rev, inferred))
    report.rejected.sort(key=lambda r: r.line)
    return report


def _record(row: dict[str, Any], values: dict[str, str], rev: int, inferred: bool) -> NoticeRecord:
    energy, signalness, far = row["energy"], row["signalness"], row["far"]
    retracted = energy == 0.0 and signalness == 0.0 and far is not None and far >= 1000.0
    extra: dict[str, Any] = {
        k: v
        for k, v in values.items()
        if k not in _REQUIRED
        and k not in ("Rev", "Energy", "Signalness", "FAR")
        and not k.startswith("Err")
    }
    if inferred:
        extra["rev_inferred"] = True
    if retracted:
        extra.update(
            energy_placeholder=energy, signalness_placeholder=signalness, far_placeholder=far
        )
        energy = signalness = far = None
    stream = row["stream"]
    if stream is Stream.HESE:
        signalness = None  # HESE tables give SignalTr (signal *and* track-like), kept in extra
    return NoticeRecord(
        observatory=OBSERVATORY,
        run_id=row["run"],
        event_id=row["event"],
        name=None,
        stream=stream,
        event_time=row["time"],
        kind=RevisionKind.RETRACTION
        if retracted
        else (RevisionKind.INITIAL if rev == 0 else RevisionKind.UPDATE),
        source=Source.AMON_TABLE,
        source_rev=None if inferred else rev,
        # The notice's identity: a VOEvent or JSON message of the same notice is the same
        # revision (storage merges them and records both sources).
        source_key=notice_key(stream, row["run"], row["event"], rev),
        time_precision_s=time_precision(values["Time"]),
        ra=row["ra"],
        dec=row["dec"],
        regions=row["regions"],
        energy_tev=energy,
        signalness=signalness,
        far_per_year=far,
        retraction_reason="retracted (GCN zeroed energy and signalness, FAR 1000/yr)"
        if retracted
        else None,
        extra=extra,
    )
