"""IceCat-1 CSV importer: every row against the CSV read independently, and the bad rows."""

from __future__ import annotations

import csv
import io

from catalog.importers.icecat import read_icecat_csv
from catalog.notices.parsed import RevisionKind, Source, Stream
from tests.catalog.importers.conftest import notice_bytes, sample_bytes

ICECAT = "IceCube_Gold_Bronze_Tracks.csv"
THIRD_PARTY = "IceCube_Gold_Bronze_Tracks_2023-2024_additions.csv"


def test_icecat1_all_rows() -> None:
    """Every IceCat-1 row against the CSV read with the ``csv`` module: names, ids, position,
    the asymmetric 90 % rectangle, estimates, CR veto, stream and source key."""
    text = sample_bytes(ICECAT).decode()
    report = read_icecat_csv(text)
    rows = list(csv.reader(io.StringIO(text)))
    header, rows = rows[0], rows[1:]
    assert len(rows) == 348 and len(report.records) == 348 and not report.rejected
    col = {name: i for i, name in enumerate(header)}
    for row, record in zip(rows, report.records, strict=True):
        assert record.name == "IceCube-" + row[col["NAME"]][2:]
        assert (record.run_id, record.event_id) == (
            int(row[col["RUNID"]]),
            int(row[col["EVENTID"]]),
        )
        assert record.ra == float(row[col["RA"]]) and record.dec == float(row[col["DEC"]])
        (region,) = record.regions
        assert region.containment == 0.9 and not region.is_circle
        assert (region.ra_plus, region.ra_minus, region.dec_plus, region.dec_minus) == tuple(
            float(row[col[c]])
            for c in ("RA_ERR_PLUS", "RA_ERR_MINUS", "DEC_ERR_PLUS", "DEC_ERR_MINUS")
        )
        assert record.energy_tev == float(row[col["ENERGY"]])
        assert record.far_per_year == float(row[col["FAR"]])
        assert record.signalness == float(row[col["SIGNAL"]])
        assert record.extra["cr_veto"] == (row[col["CR_VETO"]].upper() == "TRUE")
        assert record.stream is (
            Stream.GOLD if row[col["I3TYPE"]].endswith("gold") else Stream.BRONZE
        )
        assert record.kind is RevisionKind.CATALOG and record.source is Source.ICECAT1
        assert record.source_key == f"icecat-1:{record.run_id}:{record.event_id}"
        assert record.event_time.tzinfo is not None


def test_icecat1_known_event() -> None:
    """IceCube-200615A has the run and event ids GCN gave it; eight events carry the CR veto."""
    report = read_icecat_csv(sample_bytes(ICECAT).decode())
    (rec,) = [r for r in report.records if r.name == "IceCube-200615A"]
    assert (rec.run_id, rec.event_id) == (134191, 17593623)
    assert sum(r.extra["cr_veto"] for r in report.records) == 8


def test_third_party_rows_are_checked_one_by_one() -> None:
    """A third-party CSV in the IceCat layout: rows whose times disagree or whose event repeats
    with other values are left out; a name given to two events is dropped from both."""
    report = read_icecat_csv(notice_bytes(THIRD_PARTY).decode())
    reasons = {row.line: row.reason for row in report.rejected}
    # Line 2: START 04:16:10.44 but EVENTMJD is 16:16:10 the same day (12 h apart).
    assert "disagree" in reasons[2]
    # IC231103A twice with different errors (lines 3 and 17): neither is taken.
    assert "different values" in reasons[3] and "different values" in reasons[17]
    assert len(report.records) == 16 - 3
    assert all(r.source_key.startswith("third-party:") for r in report.records)
    assert all(r.source is Source.THIRD_PARTY for r in report.records)
    assert all(r.extra["catalog"] == "third-party" for r in report.records)
    # IC240327A names two events: both kept, the ambiguous name dropped.
    same_name = [r for r in report.records if r.extra.get("ambiguous_name") == "IceCube-240327A"]
    assert {(r.run_id, r.event_id) for r in same_name} == {(139205, 9784024), (139204, 39158985)}
    assert all(r.name is None for r in same_name)


def test_identical_duplicate_is_imported_once() -> None:
    """An exact repeat of a row is imported once; the repeat is reported against the first line."""
    text = sample_bytes(ICECAT).decode()
    lines = text.splitlines()
    report = read_icecat_csv("\n".join([*lines[:3], lines[2]]) + "\n")
    assert len(report.records) == 2
    assert [(r.line, r.reason) for r in report.rejected] == [(4, "repeats line 3")]


def test_none_in_required_column_rejects_the_row() -> None:
    """The literal ``None`` in a required column is a missing value: that row is rejected."""
    lines = sample_bytes(ICECAT).decode().splitlines()
    bad = lines[1].split(",")
    bad[6] = "None"  # RA
    report = read_icecat_csv("\n".join([lines[0], ",".join(bad), lines[2]]))
    assert len(report.records) == 1
    assert report.rejected[0].line == 2 and report.rejected[0].reason == "RA is missing"


def test_third_party_cascades_become_circles() -> None:
    """Cascades in the IceCat layout have a radius and no signalness: circles, not rectangles."""
    report = read_icecat_csv(notice_bytes("IceCube_cascade.csv").decode())
    assert len(report.records) == 26 and not report.rejected
    first = report.records[0]
    assert first.stream is Stream.CASCADE and first.signalness is None
    (region,) = first.regions
    assert region.is_circle and region.radius_deg == 15.38
