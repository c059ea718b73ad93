"""IceCat-1 summary CSV (and third-party tables in the same column layout).

Each row is one event as re-reconstructed for the catalog, so it becomes a record of kind
``catalog`` (never an initial notice or an update) with ``source = icecat-1``, issued at
the catalogue's publication (:data:`ICECAT1_PUBLISHED`). Columns (IceCat-1 README): NAME, RUNID,
EVENTID, START (UTC), EVENTMJD, I3TYPE, RA, DEC and their asymmetric 90 % errors [deg],
ENERGY [TeV], FAR [1/yr], SIGNAL, five CNN topology scores, CR_VETO, OTHER_I3TYPES.

Rows are checked one by one; a bad row is *rejected with its line number and reason* and the
other rows still import (see :class:`~catalog.importers._common.ParseReport`):

* a required value missing or ``None`` (RUNID, EVENTID, START, I3TYPE, RA, DEC, errors);
* START and EVENTMJD (when given) more than 1 s apart;
* the same (RUNID, EVENTID) twice: identical rows are imported once; rows that differ are
  all rejected, since the file does not say which one is right;
* one NAME on two different events keeps both events but drops the ambiguous name.

Rows with the full IceCat-1 content (CR_VETO TRUE/FALSE) get keys ``icecat-1:<run>:<event>``.
Rows in the same layout without it (third-party compilations, where the scores and CR_VETO
are ``None``) get ``source = third-party`` and keys ``third-party:<run>:<event>``, so they
never pass for the official release, and no issue date (the file gives none). Their
``Cascade`` rows (all four errors equal, the radius of a circular GCN cascade error) become
circles, and their names are of the cascade series (``IC211128A`` ->
``IceCube-Cascade-211128A``, as GCN circulars write "IceCube-Cascade 211128A"), never a
track alert's name.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from catalog.errors import InvalidInput
from catalog.importers._common import (
    OBSERVATORY,
    ParseReport,
    RejectedRow,
    alert_name,
    mjd_to_utc,
    optional_float,
    parse_utc,
    to_float,
    to_int,
)
from catalog.notices.parsed import (
    ErrorRegion,
    NoticeRecord,
    RevisionKind,
    Source,
    Stream,
    time_precision,
)

HEADER_START = "NAME,RUNID,EVENTID,START"
"""How an IceCat-1-layout CSV begins (used to detect the format)."""

REQUIRED_COLUMNS = (
    "NAME",
    "RUNID",
    "EVENTID",
    "START",
    "I3TYPE",
    "RA",
    "DEC",
    "RA_ERR_PLUS",
    "RA_ERR_MINUS",
    "DEC_ERR_PLUS",
    "DEC_ERR_MINUS",
)
SCORE_COLUMNS = ("CASCADE_SCR", "SKIMMING_SCR", "START_SCR", "STOP_SCR", "THRGOING_SCR")

ICECAT1_PUBLISHED = datetime(2023, 11, 1, tzinfo=UTC)
"""When IceCat-1 was published (ApJS 269, 25, November 2023; the month is what we know, so
the first of it). A catalogue row is placed among an alert's notices by this date."""

_MJD_TOLERANCE_S = 1.0
"""START and EVENTMJD agree to < 0.5 ms in IceCat-1; a second apart means a broken row."""


def _stream(i3type: str) -> Stream:
    kind = i3type.strip().lower()
    if kind.endswith("-gold"):
        return Stream.GOLD
    if kind.endswith("-bronze"):
        return Stream.BRONZE
    if kind == "cascade":
        return Stream.CASCADE
    raise InvalidInput(f"I3TYPE {i3type!r} is not a known alert selection")


def _name(text: str, stream: Stream) -> str:
    """The alert name of a row; cascades are their own series (IceCube-Cascade-...)."""
    name = alert_name(text)
    if stream is Stream.CASCADE and name.startswith("IceCube-"):
        return "IceCube-Cascade-" + name.removeprefix("IceCube-")
    return name


def _bool(text: str | None) -> bool | None:
    value = (text or "").strip().lower()
    return {"true": True, "false": False}.get(value)


def _row_record(row: dict[str, str | None]) -> NoticeRecord:
    for column in REQUIRED_COLUMNS:
        if row.get(column) in (None, "", "None"):
            raise InvalidInput(f"{column} is missing")
    run = to_int(row["RUNID"], "RUNID")
    event = to_int(row["EVENTID"], "EVENTID")
    start = parse_utc(row["START"], "START")
    mjd = optional_float(row.get("EVENTMJD"), "EVENTMJD")
    if mjd is not None and abs((mjd_to_utc(mjd) - start).total_seconds()) > _MJD_TOLERANCE_S:
        raise InvalidInput(f"START {row['START']} and EVENTMJD {mjd} disagree")
    stream = _stream(row["I3TYPE"] or "")
    ra, dec = to_float(row["RA"], "RA"), to_float(row["DEC"], "DEC")
    if not -90.0 <= dec <= 90.0:
        raise InvalidInput(f"DEC {dec} is outside [-90, 90]")
    errs = [to_float(row[c], c) for c in REQUIRED_COLUMNS[7:]]
    veto = _bool(row.get("CR_VETO"))
    official = veto is not None
    if stream is Stream.CASCADE and len(set(errs)) == 1:
        region = ErrorRegion(0.9, radius_deg=errs[0])
    else:
        # RA errors are coordinate differences (not great-circle lengths), as IceCat-1 gives.
        region = ErrorRegion(
            0.9, ra_plus=errs[0], ra_minus=errs[1], dec_plus=errs[2], dec_minus=errs[3]
        )
    extra: dict[str, Any] = {"i3type": row["I3TYPE"], "event_mjd": mjd}
    if official:
        extra["cr_veto"] = veto
    else:
        extra["catalog"] = "third-party"
    for column in SCORE_COLUMNS:
        score = optional_float(row.get(column), column)
        if score is not None:
            extra[column.lower()] = score
    others = (row.get("OTHER_I3TYPES") or "").strip()
    if others and others != "None":
        extra["other_i3types"] = others.split(",")
    source = Source.ICECAT1 if official else Source.THIRD_PARTY
    return NoticeRecord(
        observatory=OBSERVATORY,
        run_id=run,
        event_id=event,
        name=_name(row["NAME"] or "", stream),
        stream=stream,
        event_time=start,
        kind=RevisionKind.CATALOG,
        source=source,
        source_rev=None,
        source_key=f"{source.value}:{run}:{event}",
        issued_at=ICECAT1_PUBLISHED if official else None,
        time_precision_s=time_precision(row["START"] or ""),
        ra=ra,
        dec=dec,
        regions=(region,),
        energy_tev=optional_float(row.get("ENERGY"), "ENERGY"),
        signalness=optional_float(row.get("SIGNAL"), "SIGNAL"),
        far_per_year=optional_float(row.get("FAR"), "FAR"),
        extra=extra,
    )


#: A parsed row: its line number, its raw fields and its record.
_Parsed = tuple[int, dict[str, str | None], NoticeRecord]


def read_icecat_csv(text: str) -> ParseReport:
    """Read an IceCat-1-layout CSV into records and rejected rows.

    Parameters
    ----------
    text
        The whole CSV file, decoded.

    Returns
    -------
    ParseReport
        Records in file order, and each rejected row with its line number (header = 1).

    Raises
    ------
    InvalidInput
        When the header lacks a required column.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"IceCat CSV header lacks columns {missing}")
    report = ParseReport()
    parsed = _parse_rows(reader, report)
    by_key: dict[str, list[_Parsed]] = defaultdict(list)
    for item in parsed:
        by_key[item[2].source_key].append(item)
    names: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for _line, _row, record in parsed:
        names[record.name or ""].add((record.run_id, record.event_id))
    for line, row, record in parsed:
        problem = _twin_problem(line, row, record, by_key[record.source_key])
        if problem is not None:
            report.rejected.append(RejectedRow(line, problem))
            continue
        if len(names[record.name or ""]) > 1:
            record = _without_name(record)
        report.records.append(record)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _parse_rows(reader: csv.DictReader[str], report: ParseReport) -> list[_Parsed]:
    """Every row that parses, in file order; the others go to ``report.rejected``."""
    parsed: list[_Parsed] = []
    for line, row in enumerate(reader, start=2):
        if None in row:
            report.rejected.append(RejectedRow(line, "more fields than the header has"))
            continue
        try:
            parsed.append((line, row, _row_record(row)))
        except InvalidInput as exc:
            report.rejected.append(RejectedRow(line, exc.message))
    return parsed


def _twin_problem(line: int, row: dict[str, str | None], record: NoticeRecord,
                  twins: list[_Parsed]) -> str | None:
    """Why a row is not taken when its run and event appear on other lines too (``twins``,
    itself included): all of them differ in values, or it repeats an earlier line."""
    if len(twins) <= 1:
        return None
    if any(other_row != row for _, other_row, _ in twins):
        lines = ", ".join(str(n) for n, _, _ in twins)
        return (f"run {record.run_id} event {record.event_id} appears on lines "
                f"{lines} with different values; none is taken")
    if twins[0][0] != line:
        return f"repeats line {twins[0][0]}"
    return None


def _without_name(record: NoticeRecord) -> NoticeRecord:
    extra = dict(record.extra, ambiguous_name=record.name)
    return replace(record, name=None, extra=extra)
