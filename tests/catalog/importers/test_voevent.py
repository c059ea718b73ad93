"""GCN VOEvent importer: values against the XML read independently, and the refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import voeventparse
from astropy.time import Time

from catalog.errors import InconsistentNotice, InvalidInput, NotANeutrinoAlert
from catalog.importers.voevent import parse_voevent
from catalog.notices.parsed import RevisionKind, Source, Stream
from tests.catalog.importers.conftest import notice_bytes, sample_bytes

REAL = [
    "ICECUBE_ASTROTRACK_BRONZE_2022-08-08_136918_45252263_rev0.xml",
    "ICECUBE_ASTROTRACK_BRONZE_2022-08-22_136973_28816141_rev0.xml",
    "ICECUBE_ASTROTRACK_GOLD_2022-12-23_137467_64735045_rev0.xml",
    "ICECUBE_CASCADE_IceCubeCascade-220801a_136889_25590129_rev0.xml",
    "IceCube_134191_017593623_0.xml",
    "IceCube_134191_017593623_1.xml",
    "IceCube_134207_033533447_0.xml",
    "IceCube_134207_033533447_1.xml",
]


def test_icecube_200615a_rev0_and_rev1() -> None:
    """IceCube-200615A's two GCN notices, value by value as GCN published them."""
    (rev0,) = parse_voevent(sample_bytes("IceCube_134191_017593623_0.xml"))
    (rev1,) = parse_voevent(sample_bytes("IceCube_134191_017593623_1.xml"))
    assert (rev0.run_id, rev0.event_id) == (rev1.run_id, rev1.event_id) == (134191, 17593623)
    assert (rev0.ra, rev0.dec) == (143.4519, 3.7891)
    assert (rev1.ra, rev1.dec) == (142.9499, 3.66)
    assert rev0.kind is RevisionKind.INITIAL and rev0.source_rev == 0
    assert rev1.kind is RevisionKind.UPDATE and rev1.source_rev == 1
    r90, r50 = rev1.region(0.9), rev1.region(0.5)
    assert r90 is not None and r90.radius_deg == 1.2199
    assert r50 is not None and r50.radius_deg == 0.7199
    assert rev1.stream is Stream.GOLD and rev1.source is Source.GCN_VOEVENT
    assert rev1.energy_tev == 496.3637 and rev1.signalness == 0.8283
    assert rev1.far_per_year == 0.2894
    assert rev1.event_time == datetime(2020, 6, 15, 14, 49, 17, 370000, tzinfo=UTC)
    assert rev1.issued_at == datetime(2020, 6, 15, 16, 10, 36, tzinfo=UTC)
    assert rev1.source_key == "gcn:gold:134191:17593623:1"  # the notice, whoever carries it
    assert rev1.ivorn is not None and rev1.ivorn.endswith("_134191_017593623_1")
    assert rev1.ivorn is not None and rev1.ivorn.endswith("_24_134191_017593623_1")


@pytest.mark.parametrize("name", REAL)
def test_real_notices_match_voevent_parse(name: str) -> None:
    """Each real notice against voevent-parse's reading, and its TJD/SOD time against astropy's
    conversion."""
    data = sample_bytes(name)
    (record,) = parse_voevent(data)
    v = voeventparse.loads(data)
    position = voeventparse.get_event_position(v)
    params = voeventparse.get_toplevel_params(v)
    assert position.units == "deg"
    assert (record.ra, record.dec) == (position.ra, position.dec)
    r90 = record.region(0.9)
    assert r90 is not None and r90.radius_deg == float(params["src_error_90"]["value"])
    assert record.run_id == int(params["run_id"]["value"])
    assert record.event_id == int(params["event_id"]["value"])
    assert record.source_rev == int(params["Rev"]["value"])
    assert record.event_time == voeventparse.get_event_time_as_utc(v)
    # Event_TJD/SOD, converted independently by astropy (TJD = MJD - 40000).
    tjd = int(params["Event_TJD"]["value"])
    sod = float(params["Event_SOD"]["value"])
    t = Time(tjd + 40000 + sod / 86400.0, format="mjd", scale="utc")
    assert abs((t.to_datetime(timezone=UTC) - record.event_time).total_seconds()) < 1e-3
    expected = {"173": Stream.GOLD, "174": Stream.BRONZE, "176": Stream.CASCADE}
    assert record.stream is expected[params["Packet_Type"]["value"]]


def test_cascade_name_and_skymap() -> None:
    """A cascade notice gives its own name, the skymap URL and a 50 % radius."""
    (record,) = parse_voevent(
        sample_bytes("ICECUBE_CASCADE_IceCubeCascade-220801a_136889_25590129_rev0.xml")
    )
    assert record.name == "IceCubeCascade-220801a"
    assert record.stream is Stream.CASCADE
    assert record.extra["skymap_fits"].endswith("run00136889.evt000025590129.fits")
    r50 = record.region(0.5)
    assert r50 is not None and r50.radius_deg == 7.0757


def test_energy_in_gev_becomes_tev() -> None:
    """Energies are stored in TeV whatever unit the notice uses."""
    (record,) = parse_voevent(notice_bytes("sample_astrotrack_alert.xml"))
    assert record.energy_tev == pytest.approx(23.8726e-3)  # unit="GeV" in the notice


def test_units_are_read_from_each_param() -> None:
    """Every Param is converted by its own ``unit`` (arcmin, PeV, Hz), never assumed."""
    data = sample_bytes("IceCube_134191_017593623_1.xml")
    data = data.replace(b'value="1.2199" unit="deg"', b'value="73.194" unit="arcmin"')
    data = data.replace(b'value="496.3637" unit="TeV"', b'value="0.4963637" unit="PeV"')
    data = data.replace(b'value="0.2894" unit="yr^-1"', b'value="9.1768e-9" unit="Hz"')
    (record,) = parse_voevent(data)
    r90 = record.region(0.9)
    assert r90 is not None and r90.radius_deg == pytest.approx(1.2199)
    assert record.energy_tev == pytest.approx(496.3637)
    assert record.far_per_year == pytest.approx(9.1768e-9 * 365 * 86400)


def test_unknown_unit_is_refused() -> None:
    """A unit we cannot convert is refused rather than stored as if it were TeV."""
    data = sample_bytes("IceCube_134191_017593623_1.xml").replace(b'unit="TeV"', b'unit="erg"')
    with pytest.raises(InvalidInput, match="unknown energy unit"):
        parse_voevent(data)


def test_retraction_flag() -> None:
    """``Retraction=true`` makes the notice a retraction, with a reason."""
    data = sample_bytes("IceCube_134191_017593623_1.xml").replace(
        b'name="Retraction" value="false"', b'name="Retraction" value="true"'
    )
    (record,) = parse_voevent(data)
    assert record.kind is RevisionKind.RETRACTION
    assert record.retraction_reason


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("S191216ap_initial.xml", "LVK gravitational-wave"),
        ("MS181101ab-1-Preliminary.xml", "LVK gravitational-wave"),
        ("Antares_1438351269.xml", "ANTARES notice"),
    ],
)
def test_other_observatories_are_refused(name: str, reason: str) -> None:
    """LVK and ANTARES VOEvents are refused as not ours, saying whose they are."""
    with pytest.raises(NotANeutrinoAlert, match=reason):
        parse_voevent(notice_bytes(name))


def test_edited_fra_sample_is_inconsistent() -> None:
    """A notice whose IVORN and TJD/SOD contradict its other Params is refused, every
    contradiction listed."""
    with pytest.raises(InconsistentNotice) as info:
        parse_voevent(notice_bytes("sample_astrotrack_alert_2021_edited.xml"))
    problems = info.value.details["problems"]
    assert "IVORN run 132642 != Param 135363" in problems
    assert "IVORN event 58895105 != Param 69917294" in problems
    assert any(p.startswith("Event_TJD/SOD") for p in problems)


def test_ivorn_rev_must_match_param() -> None:
    """The revision in the IVORN must be the ``Rev`` Param."""
    data = sample_bytes("IceCube_134191_017593623_0.xml").replace(
        b'name="Rev" value="0"', b'name="Rev" value="1"'
    )
    with pytest.raises(InconsistentNotice, match="IVORN rev 0 != Param 1"):
        parse_voevent(data)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'role="observation"', b'role="test"'),
        (b'name="Test" value="false"', b'name="Test" value="true"'),
    ],
)
def test_test_notices_are_refused(old: bytes, new: bytes) -> None:
    """Test notices (``role="test"`` or the ``Test`` flag) never enter the archive."""
    data = sample_bytes("IceCube_134207_033533447_0.xml").replace(old, new)
    with pytest.raises(NotANeutrinoAlert, match="test notice"):
        parse_voevent(data)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="x">&lol3;</voe:VOEvent>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="x">&xxe;</voe:VOEvent>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_xml_attacks_are_refused(data: bytes) -> None:
    """Entity expansion and external entities are refused before any expansion."""
    with pytest.raises(InvalidInput, match="refused XML"):
        parse_voevent(data)


def test_malformed_xml() -> None:
    """Truncated XML is invalid input, not a crash."""
    data = sample_bytes("IceCube_134207_033533447_0.xml")[:-40]
    with pytest.raises(InvalidInput, match="malformed XML"):
        parse_voevent(data)


def test_legacy_hese_packet_uses_error2radius_as_50_percent() -> None:
    """A legacy HESE notice has only ``Error2Radius``, which was a 50 % radius then."""
    # A legacy-style notice: packet 158, no src_error_* Params, no IVORN structure to check.
    data = sample_bytes("IceCube_134207_033533447_0.xml")
    data = data.replace(b'name="Packet_Type" value="174"', b'name="Packet_Type" value="158"')
    data = data.replace(b"ICECUBE_BRONZE_Event", b"ICECUBE_HESE_Event")
    data = data.replace(b"_25_1342", b"_1_1342")
    data = data.replace(b'name="Stream" value="25"', b'name="Stream" value="1"')
    for param in (b"src_error_90", b"src_error_50"):
        data = data.replace(b'name="' + param + b'"', b'name="x_' + param + b'"')
    (record,) = parse_voevent(data)
    assert record.stream is Stream.HESE
    r50 = record.region(0.5)
    assert r50 is not None and r50.radius_deg == 0.5134 and record.region(0.9) is None
