"""GCN AMON table importer: arcmin to degrees, revisions, retraction, legacy tables."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from catalog.errors import InvalidInput
from catalog.importers.amon import read_amon_table
from catalog.notices.parsed import RevisionKind, Source, Stream
from tests.catalog.importers.conftest import sample_bytes


def _data_lines(name: str) -> list[str]:
    text = sample_bytes(name).decode()
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def test_gold_bronze_rows_against_the_text() -> None:
    """Every row of the Gold/Bronze table, re-read here with ``str.split``: ids, revision,
    stream, position, and both radii converted from arcmin."""
    report = read_amon_table(sample_bytes("amon_table_gold_bronze.txt").decode())
    lines = _data_lines("amon_table_gold_bronze.txt")
    assert len(report.records) == len(lines) == 287 and not report.rejected
    for line, record in zip(lines, report.records, strict=True):
        run, event, rev, _d, _t, notice, ra, dec, err90, err50 = line.split()[:10]
        assert (record.run_id, record.event_id, record.source_rev) == (
            int(run),
            int(event),
            int(rev),
        )
        assert record.stream.value == notice.lower()
        assert (record.ra, record.dec) == (float(ra), float(dec))
        r90, r50 = record.region(0.9), record.region(0.5)
        assert r90 is not None and r90.radius_deg == pytest.approx(float(err90) / 60.0)
        assert r50 is not None and r50.radius_deg == pytest.approx(float(err50) / 60.0)
        assert record.source_key == f"gcn:{notice.lower()}:{run}:{event}:{rev}"
        assert record.source is Source.AMON_TABLE
    assert len({(r.run_id, r.event_id) for r in report.records}) == 149
    assert Counter(r.source_rev for r in report.records) == {0: 148, 1: 133, 2: 6}


def test_first_row_in_degrees() -> None:
    """One row checked by hand: the YY/MM/DD date, the 90 % radius in degrees, the estimates."""
    record = read_amon_table(sample_bytes("amon_table_gold_bronze.txt").decode()).records[0]
    # "140314 61338661 1 25/01/02 13:48:01.92 BRONZE 262.7900 +6.6900 63.29 34.49 ..."
    assert record.event_time == datetime(2025, 1, 2, 13, 48, 1, 920000, tzinfo=UTC)
    r90 = record.region(0.9)
    assert r90 is not None and r90.radius_deg == pytest.approx(63.29 / 60)  # 1.0548 deg
    assert record.kind is RevisionKind.UPDATE
    assert (record.energy_tev, record.signalness, record.far_per_year) == (107.0, 0.25888, 4.2015)


def test_retraction_row() -> None:
    """The one retraction of the table has no estimates; its FAR placeholder is kept aside."""
    records = read_amon_table(sample_bytes("amon_table_gold_bronze.txt").decode()).records
    (retraction,) = [r for r in records if r.kind is RevisionKind.RETRACTION]
    assert (retraction.run_id, retraction.event_id, retraction.source_rev) == (139977, 2910365, 1)
    assert retraction.energy_tev is None and retraction.far_per_year is None
    assert retraction.extra["far_placeholder"] == 1000.0


def test_hese_table() -> None:
    """The legacy HESE table: no revision column (revisions inferred, newest row first), a
    50 % radius only, and an exact duplicate row left out."""
    report = read_amon_table(sample_bytes("amon_table_HESE_events.txt").decode())
    assert len(_data_lines("amon_table_HESE_events.txt")) == 23
    # The last two rows (run 127853 event 67093193) are identical: one is imported.
    assert len(report.records) == 22 and [r.line for r in report.rejected] == [38]
    rows = [r for r in report.records if (r.run_id, r.event_id) == (127853, 67093193)]
    assert [r.source_key.rsplit(":", 1)[1] for r in rows] == ["2", "1", "0"]
    assert rows[-1].kind is RevisionKind.INITIAL and rows[0].kind is RevisionKind.UPDATE
    assert rows[0].region(0.5) is not None and rows[0].region(0.9) is None
    r50 = rows[0].region(0.5)
    assert r50 is not None and r50.radius_deg == pytest.approx(35.99 / 60)  # EventNum first
    assert all(r.stream is Stream.HESE and r.source_rev is None for r in report.records)
    assert all(r.extra["rev_inferred"] for r in report.records)


def test_ehe_table() -> None:
    """The legacy EHE table: 50 % radii and signalness read from their own columns."""
    report = read_amon_table(sample_bytes("amon_table_EHE_events.txt").decode())
    assert len(report.records) == 11 and not report.rejected
    first = report.records[0]
    assert (first.run_id, first.event_id) == (132508, 42419327)
    assert first.stream is Stream.EHE and first.signalness == 0.36266
    r50 = first.region(0.5)
    assert r50 is not None and r50.radius_deg == pytest.approx(14.99 / 60)


def test_header_without_error_units_is_refused() -> None:
    """Radii whose unit the header does not state are not guessed: the whole table is refused."""
    text = sample_bytes("amon_table_gold_bronze.txt").decode().replace("in units of arcmin", "")
    with pytest.raises(InvalidInput, match="unit/containment of Err90"):
        read_amon_table(text)


def test_bad_row_is_rejected_alone() -> None:
    """A typo in one row (letter O for a zero) costs that row only, with the reason."""
    text = sample_bytes("amon_table_EHE_events.txt").decode()
    text = text.replace("120.3040", "12O.3040")
    report = read_amon_table(text)
    assert len(report.records) == 10
    assert "RA is not a number" in report.rejected[0].reason
