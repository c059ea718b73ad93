"""GCN Kafka JSON importer: the official IceCube example, conversions, and refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from catalog.errors import InvalidInput, NotANeutrinoAlert, UnsupportedFormat
from catalog.importers.gcn_json import parse_gcn_json
from catalog.notices.parsed import RevisionKind, Source, Stream
from tests.catalog.importers.conftest import notice_bytes

EXAMPLE = "single_neutrino_alerts.gold_bronze_track_alerts.example.json"


def _example() -> dict[str, object]:
    doc: dict[str, object] = json.loads(notice_bytes(EXAMPLE))
    return doc


def _encode(doc: dict[str, object]) -> bytes:
    return json.dumps(doc).encode()


def test_official_example() -> None:
    """GCN's own example notice, field by field; its FAR agrees with the AMON table's."""
    doc = _example()
    (record,) = parse_gcn_json(notice_bytes(EXAMPLE))
    assert (record.run_id, record.event_id) == (137840, 57034692)  # id "137840_57034692"
    assert record.name == "IceCube-230416A"
    assert record.stream is Stream.BRONZE and record.source is Source.GCN_JSON
    assert record.kind is RevisionKind.INITIAL and record.source_rev == 1
    assert (record.ra, record.dec) == (doc["ra"], doc["dec"])
    r90 = record.region(0.9)
    assert r90 is not None and r90.radius_deg == doc["ra_dec_error"]
    assert record.energy_tev == doc["nu_energy"] and record.signalness == doc["p_astro"]
    # far 8.029e-8 Hz over a 365-day year; the GCN AMON table lists 2.5322 /yr for this event.
    assert record.far_per_year == pytest.approx(8.029e-8 * 365 * 86400)
    assert record.far_per_year == pytest.approx(2.5322, abs=5e-4)
    assert record.event_time == datetime(2023, 4, 16, 5, 22, 26, 150574, tzinfo=UTC)
    assert record.issued_at == datetime(2023, 4, 16, 5, 42, tzinfo=UTC)


def test_update_and_retraction_and_containment() -> None:
    """``alert_type`` and ``record_number`` give the revision; ``containment_probability`` says
    which region ``ra_dec_error`` is; a retraction keeps its ``additional_info`` as reason."""
    doc = _example() | {
        "alert_type": "update",
        "record_number": 2,
        "containment_probability": 0.5,
        "ra_dec_error": 0.25,
    }
    (record,) = parse_gcn_json(_encode(doc))
    assert record.kind is RevisionKind.UPDATE and record.source_rev == 2
    assert record.region(0.9) is None
    r50 = record.region(0.5)
    assert r50 is not None and r50.radius_deg == 0.25
    doc = _example() | {
        "alert_type": "retraction",
        "record_number": 3,
        "additional_info": "coincident with detector issue",
    }
    (record,) = parse_gcn_json(_encode(doc))
    assert record.kind is RevisionKind.RETRACTION
    assert record.retraction_reason == "coincident with detector issue"


def test_schema_violation_is_refused() -> None:
    """A notice against GCN's official schema is refused, naming where (wrong type, unknown
    pipeline)."""
    doc = _example() | {"ra": "345.82"}
    with pytest.raises(InvalidInput, match="official schema at ra"):
        parse_gcn_json(_encode(doc))
    doc = _example() | {"pipeline": "Silver Track Alert"}
    with pytest.raises(InvalidInput, match="official schema at pipeline"):
        parse_gcn_json(_encode(doc))


def test_missing_id_is_refused() -> None:
    """Without ``id`` there is no run and event to file the notice under."""
    doc = _example()
    del doc["id"]
    with pytest.raises(InvalidInput, match="'<run>_<event>'"):
        parse_gcn_json(_encode(doc))


def test_test_tense_is_refused() -> None:
    """Test notices never enter the archive."""
    with pytest.raises(NotANeutrinoAlert, match="alert_tense='test'"):
        parse_gcn_json(_encode(_example() | {"alert_tense": "test"}))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("km3net_alert.example.json", "KM3NeT"),
        ("superk_sn_alert.real.example.json", "Super-Kamiokande"),
        ("lvk_nu_track_search.example.json", "LVK nu-track-search"),
    ],
)
def test_other_missions_are_refused(name: str, reason: str) -> None:
    """Real GCN JSON notices of other neutrino missions are refused as not ours, by name."""
    with pytest.raises(NotANeutrinoAlert, match=reason):
        parse_gcn_json(notice_bytes(name))


def test_not_a_notice() -> None:
    """JSON that is no GCN notice is unsupported; NaN and truncated JSON are invalid input."""
    with pytest.raises(UnsupportedFormat):
        parse_gcn_json(b'{"hello": "world"}')
    with pytest.raises(InvalidInput, match="NaN"):
        parse_gcn_json(notice_bytes(EXAMPLE).replace(b"345.82", b"NaN"))
    with pytest.raises(InvalidInput, match="malformed JSON"):
        parse_gcn_json(b'{"mission": ')
