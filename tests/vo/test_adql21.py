"""ADQL 2.1 as clients write it (issue 15 item 2), through pyvo against the real app:
GROUP BY keys, JOIN USING / NATURAL, IS NULL on every kind of column."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest
import pyvo
from astropy import units as u
from astropy.coordinates import Latitude, Longitude, SkyCoord
from click.testing import CliRunner
from mocpy import MOC
from pyvo.dal import DALQueryError

from catalog.notices.parsed import NoticeRecord
from catalog.storage.events import CatalogStorage
from nufair.cli import main
from tests.catalog.records_factory import record
from tests.vo.conftest import ALERTS
from vo.adql.translate import translate
from vo.errors import AdqlError


def _tap(url: str) -> pyvo.dal.TAPService:
    return pyvo.dal.TAPService(url + "/tap")


def test_group_by_expression_alias_and_ordinal(live_url: str,
                                               alerts: list[NoticeRecord]) -> None:
    """GROUP BY an expression, a select alias or a column number: the counts Python
    computes from the imported records."""
    expected = Counter(int(r.ra // 100) for r in alerts if r.ra is not None)
    tap = _tap(live_url)
    for key in ("FLOOR(ra / 100)", "bin", "1"):
        res = tap.search(f"SELECT FLOOR(ra / 100) AS bin, COUNT(*) AS n FROM nufair.alerts "
                         f"GROUP BY {key} ORDER BY bin")
        assert {int(b): int(n) for b, n in zip(res["bin"], res["n"], strict=True)} == expected
    # an expression of the key with a constant of its own, grouped by the same expression
    res = tap.search("SELECT FLOOR(ra / 100) * 100 AS lo, COUNT(*) AS n FROM nufair.alerts "
                     "GROUP BY FLOOR(ra / 100) * 100")
    assert {int(lo) // 100: int(n) for lo, n in zip(res["lo"], res["n"], strict=True)} \
        == expected


def test_join_using_and_natural_give_one_column(live_url: str,
                                                alerts: list[NoticeRecord]) -> None:
    """JOIN ... USING (alert_id): the unqualified name is the joined column, listed once by
    ``*``; NATURAL JOIN of a table with itself matches every row once."""
    tap = _tap(live_url)
    names = sorted(r.name for r in alerts if r.name)
    res = tap.search("SELECT alert_id, a.name FROM nufair.alerts AS a "
                     "JOIN nufair.revisions AS r USING (alert_id) ORDER BY a.name")
    assert sorted(res["name"]) == names
    star = tap.search("SELECT * FROM nufair.alerts AS a JOIN nufair.alerts AS b "
                      "USING (alert_id)")
    cols = star.to_table().colnames
    assert cols.count("alert_id") == 1 and cols[0] == "alert_id"
    assert len(star) == len(alerts)
    nat = tap.search("SELECT name, ra FROM nufair.alerts NATURAL JOIN "
                     "(SELECT alert_id, name, ra FROM nufair.alerts) AS x ORDER BY name")
    assert list(nat["name"]) == names
    left = tap.search("SELECT alert_id FROM nufair.alerts AS a LEFT OUTER JOIN "
                      "(SELECT alert_id FROM nufair.alerts WHERE ra > 200) AS x "
                      "USING (alert_id)")
    assert len(left) == len(alerts)


def test_is_null_on_every_kind(live_url: str, alerts: list[NoticeRecord],
                               storage: CatalogStorage) -> None:
    """moc50 IS NULL finds the alerts without a 50 % region; a POINT of a NULL coordinate
    is NULL; IS NOT NULL is the complement."""
    storage.import_records([record(run=2000, event=1, name="IceCube-990101A", ra=10.0,
                                   dec=-5.0, r90=1.0, r50=None)])
    tap = _tap(live_url)
    no50 = tap.search("SELECT name FROM nufair.alerts WHERE moc50 IS NULL")
    assert list(no50["name"]) == ["IceCube-990101A"]
    with50 = tap.search("SELECT COUNT(*) AS n FROM nufair.alerts WHERE moc50 IS NOT NULL")
    assert int(with50["n"][0]) == len(alerts)
    with90 = tap.search("SELECT COUNT(*) AS n FROM nufair.alerts WHERE moc90 IS NULL")
    assert int(with90["n"][0]) == 0
    # the new alert has no energy: its POINT(ra, energy) is NULL, the others' are not
    points = tap.search("SELECT name FROM nufair.alerts "
                        "WHERE POINT('ICRS', ra, energy) IS NULL")
    assert list(points["name"]) == ["IceCube-990101A"]
    times = tap.search("SELECT COUNT(*) AS n FROM nufair.alerts WHERE event_time IS NULL "
                       "OR retracted IS NULL")
    assert int(times["n"][0]) == 0


def test_point_frames_converted_or_refused(live_url: str, alerts: list[NoticeRecord]) -> None:
    """POINT('GALACTIC', l, b) is converted to ICRS (astropy is the check), of constants
    and of columns; an unknown frame is refused with its name and place."""
    tap = _tap(live_url)
    res = tap.search("SELECT name, COORD1(POINT('GALACTIC', ra, dec)) AS a, "
                     "COORD2(POINT('GALACTIC', ra, dec)) AS d FROM nufair.alerts")
    by_name = {r.name: r for r in alerts}
    for name, a, d in zip(res["name"], res["a"], res["d"], strict=True):
        rec = by_name[name]
        want = SkyCoord(l=rec.ra * u.deg, b=rec.dec * u.deg, frame="galactic").icrs
        assert SkyCoord(a * u.deg, d * u.deg).separation(want).arcsec < 1e-3
    target = by_name["IceCube-170922A"]
    assert target.ra is not None and target.dec is not None
    gal = SkyCoord(target.ra * u.deg, target.dec * u.deg).galactic
    found = tap.search("SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT(ra, dec), "
                       f"CIRCLE('GALACTIC', {float(gal.l.deg)!r}, "
                       f"{float(gal.b.deg)!r}, 0.01))")
    assert list(found["name"]) == ["IceCube-170922A"]
    # a BOX of galactic axes: which sample positions fall in it, by astropy's galactic
    # coordinates (the sizes keep every position well clear of the edges)
    for size in (1.0, 7.0):
        box = tap.search(f"SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT(ra, dec), "
                         f"BOX('GALACTIC', {float(gal.l.deg)!r}, {float(gal.b.deg)!r}, "
                         f"{size}, {size}))")
        truth = set()
        for name, ra, dec, _, _ in ALERTS:
            g = SkyCoord(ra * u.deg, dec * u.deg).galactic
            dl = (g.l.deg - gal.l.deg + 180) % 360 - 180
            db = g.b.deg - gal.b.deg
            assert min(abs(abs(dl) - size / 2), abs(abs(db) - size / 2)) > 0.2
            if abs(dl) < size / 2 and abs(db) < size / 2:
                truth.add(name)
        assert set(box["name"]) == truth
        assert len(truth) == (1 if size == 1.0 else 2)
    with pytest.raises(DALQueryError, match=r"unknown coordinate system 'FOO'.*column 14"):
        tap.search("SELECT POINT('FOO', 1, 2) AS p FROM nufair.alerts")


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT ivo_healpix_index(30, POINT(ra, dec)) FROM nufair.alerts", "0 to 29, not 30"),
    ("SELECT ivo_healpix_index(-1, ra, dec) FROM nufair.alerts", "0 to 29, not -1"),
    ("SELECT ivo_healpix_index(2.5, ra, dec) FROM nufair.alerts", "0 to 29, not 2.5"),
    ("SELECT ivo_healpix_index(4, ra) FROM nufair.alerts", "an order and a POINT"),
    ("SELECT ivo_healpix_center(3, 768) FROM nufair.alerts", "no such HEALPix cell"),
    ("SELECT POINT('FK4', 1, 2) FROM nufair.alerts", "unknown coordinate system 'FK4'"),
])
def test_udf_and_frame_arguments_checked(query: str, message: str) -> None:
    """ivo_* functions and frames refuse what they cannot answer, in ADQL words."""
    with pytest.raises(AdqlError) as info:
        translate(query)
    assert message in info.value.reason


def _mocs(tap: pyvo.dal.TAPService, column: str) -> dict[str, MOC]:
    res = tap.search(f"SELECT name, {column} FROM nufair.alerts")
    return {str(n): MOC.from_string(str(m), format="ascii")
            for n, m in zip(res["name"], res[column], strict=True)}


def test_moc_predicates_match_mocpy(live_url: str, alerts: list[NoticeRecord]) -> None:
    """INTERSECTS and CONTAINS between MOC columns and with a MOC literal give the pairs
    mocpy gives for the same MOCs (read back as ASCII MOCs)."""
    tap = _tap(live_url)
    m90, m50 = _mocs(tap, "moc90"), _mocs(tap, "moc50")
    res = tap.search("SELECT a.name AS an, b.name AS bn FROM nufair.alerts AS a, "
                     "nufair.alerts AS b WHERE 1 = INTERSECTS(a.moc90, b.moc90)")
    got = set(zip(res["an"], res["bn"], strict=True))
    assert got == {(a, b) for a in m90 for b in m90 if not m90[a].intersection(m90[b]).empty()}
    assert any(a != b for a, b in got)  # 170922A and 211208A overlap
    res = tap.search("SELECT a.name AS an, b.name AS bn FROM nufair.alerts AS a, "
                     "nufair.alerts AS b WHERE 1 = CONTAINS(a.moc50, b.moc90)")
    got = set(zip(res["an"], res["bn"], strict=True))
    assert got == {(a, b) for a in m50 for b in m90 if np.array_equal(
        m50[a].intersection(m90[b]).to_depth29_ranges, m50[a].to_depth29_ranges)}
    assert ("IceCube-170922A", "IceCube-170922A") in got
    literal = MOC.from_cone(Longitude(78 * u.deg), Latitude(6 * u.deg), radius=1.5 * u.deg,
                            max_depth=8)
    text = literal.to_string(format="ascii", fold=0).strip()
    res = tap.search(f"SELECT name FROM nufair.alerts WHERE 1 = INTERSECTS(moc90, MOC('{text}'))")
    assert set(res["name"]) == {n for n, m in m90.items()
                                if not m.intersection(literal).empty()}
    res = tap.search(f"SELECT AREA(MOC('{text}')) AS a FROM nufair.alerts")
    assert abs(float(res["a"][0]) - literal.sky_fraction * 41252.96125) < 1e-6


def test_moc_in_circle_and_boxes_of_columns(live_url: str, alerts: list[NoticeRecord]) -> None:
    """CONTAINS(moc90, CIRCLE) is true where the MOC lies well inside (astropy distances,
    with margins); BOX and POLYGON take column arguments."""
    tap = _tap(live_url)
    centre = SkyCoord(77.43 * u.deg, 5.72 * u.deg)
    res = tap.search("SELECT name FROM nufair.alerts "
                     "WHERE 1 = CONTAINS(moc90, CIRCLE(77.43, 5.72, 3))")
    inside = set()
    for name, ra, dec, r90, _ in ALERTS:
        if r90 is None:
            continue
        far = centre.separation(SkyCoord(ra * u.deg, dec * u.deg)).deg + r90
        assert abs(far - 3) > 0.3  # clear of the edge: the covering cannot decide it
        if far < 3:
            inside.add(name)
    assert set(res["name"]) == inside == {"IceCube-170922A"}
    for probe, want in (((77.43, 6.1), {"IceCube-170922A", "IceCube-211208A"}),
                        ((77.43, 7.2), {"IceCube-211208A"})):
        box = tap.search(f"SELECT name FROM nufair.alerts WHERE 1 = CONTAINS("
                         f"POINT{probe}, BOX(ra, dec, 2 * r90, 2 * r90))")
        poly = tap.search(f"SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT{probe}, "
                          "POLYGON(ra - r90, dec - r90, ra + r90, dec - r90, ra + r90, "
                          "dec + r90, ra - r90, dec + r90))")
        truth = set()
        for name, ra, dec, r90, _ in ALERTS:
            if r90 is None:
                continue
            corners = MOC.from_polygon(
                Longitude([ra - r90, ra + r90, ra + r90, ra - r90] * u.deg),
                Latitude([dec - r90, dec - r90, dec + r90, dec + r90] * u.deg), max_depth=14)
            if corners.contains_lonlat(probe[0] * u.deg, probe[1] * u.deg)[0]:
                truth.add(name)
        assert set(box["name"]) == set(poly["name"]) == truth == want


def test_units_and_systems_of_computed_columns(live_url: str,
                                               alerts: list[NoticeRecord]) -> None:
    """DISTANCE, AREA, COORD1 and IN_UNIT carry their units; positions refer to the ICRS
    COOSYS and times to a UTC TIMESYS of the document (read by astropy's VOTable parser)."""
    res = _tap(live_url).search(
        "SELECT ra, event_time, event_mjd, DISTANCE(POINT(ra, dec), POINT(77, 5)) AS d, "
        "AREA(CIRCLE(ra, dec, 1)) AS a, COORD1(POINT(ra, dec)) AS c1, "
        "IN_UNIT(r90, 'arcmin') AS r, ra - ra AS dra, 2 * energy AS e2, AVG(ra) AS mean "
        "FROM nufair.alerts GROUP BY ra, event_time, event_mjd, dec, r90, energy")
    table = res.votable.get_first_table()
    units = {f.name: str(f.unit) if f.unit is not None else None for f in table.fields}
    assert units == {"ra": "deg", "event_time": None, "event_mjd": "d", "d": "deg",
                     "a": "deg2", "c1": "deg", "r": "arcmin", "dra": "deg", "e2": "TeV",
                     "mean": "deg"}
    refs = {f.name: f.ref for f in table.fields}
    assert (refs["ra"], refs["c1"], refs["d"]) == ("icrs", "icrs", None)
    assert (refs["event_time"], refs["event_mjd"]) == ("utc", "utc_mjd")
    text = httpx.get(live_url + "/tap/sync", params={
        "REQUEST": "doQuery", "LANG": "ADQL",
        "QUERY": "SELECT TOP 1 ra, event_time FROM nufair.alerts"},
        timeout=30).text
    # the systems its FIELDs refer to, and only those (votlint warns of the others)
    assert '<COOSYS ID="icrs" system="ICRS"/>' in text and 'ID="utc"' in text
    assert "utc_mjd" not in text


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT name FROM nufair.alerts WHERE name > 3",
     "a VARCHAR cannot be compared with a number; CAST one side (line 1, column 38)"),
    ("SELECT ra || name FROM nufair.alerts", "|| joins strings, not a number"),
    ("SELECT name + 1 FROM nufair.alerts", "arithmetic (+) on a VARCHAR"),
    ("SELECT SUM(name) FROM nufair.alerts", "SUM of a VARCHAR"),
])
def test_type_mismatches_refused_at_their_place(query: str, message: str) -> None:
    """Operators whose operand types do not fit are ADQL errors, located, not database
    errors."""
    with pytest.raises(AdqlError) as info:
        translate(query)
    assert message in str(info.value)


def test_database_errors_in_adql_words(live_url: str, alerts: list[NoticeRecord]) -> None:
    """What only the data reveal is still told in ADQL words (no SQL type names)."""
    tap = _tap(live_url)
    with pytest.raises(DALQueryError) as info:
        tap.search("SELECT ra / (revision * 0) FROM nufair.alerts")
    assert "division by zero" in str(info.value)
    with pytest.raises(DALQueryError) as info:
        tap.search("SELECT CAST(name AS INTEGER) FROM nufair.alerts")
    assert "cannot be converted" in str(info.value) and "INTEGER" in str(info.value)
    with pytest.raises(DALQueryError) as info:
        tap.search("SELECT (SELECT name FROM nufair.alerts) FROM nufair.alerts")
    assert "more than one row" in str(info.value)


@pytest.mark.parametrize(("args", "stdin", "code", "says"), [
    (["-- TOPCAT writes a comment first\nSELECT TOP 1 name FROM nufair.alerts"], None, 0,
     "valid ADQL 2.1"),
    (["(SELECT name FROM nufair.alerts) UNION (SELECT name FROM nufair.revisions)"], None, 0,
     "valid ADQL 2.1"),
    ([], "SELECT name FROM nufair.alerts GROUP BY 1", 0, "valid ADQL 2.1"),
    (["-"], "SELECT x FROM elsewhere.t", 3, "valid ADQL 2.1 syntax, but not a query of"),
    (["SELECT nope FROM nufair.alerts"], None, 3, "unknown column 'nope'"),
    (["SELECT ABS(ra, dec) FROM nufair.alerts"], None, 2, "ABS takes 1 argument"),
    (["SELECT POLYGON(1, 2, 3, 4, 5, 6, 7) FROM nufair.alerts"], None, 2, "pairs"),
    (["SELECT POINT(1) FROM nufair.alerts"], None, 2, "POINT takes two coordinates"),
    (["SELECT size FROM nufair.alerts"], None, 2, "reserved word"),
    (["SELECT a.name FROM nufair.alerts a JOIN nufair.revisions r"], None, 2,
     "JOIN needs ON or USING"),
    (["SELECT name || 1 FROM nufair.alerts"], None, 2, "|| joins strings"),
    (["SELECT name FROM (WITH w AS (SELECT name FROM nufair.alerts) SELECT name FROM w) q"],
     None, 2, "WITH may only begin the whole query"),
    (["SELECT frobnicate(ra) FROM nufair.alerts"], None, 2, "unknown function frobnicate"),
])
def test_cli_check_reads_argument_stdin_and_tells_names_from_syntax(
        args: list[str], stdin: str | None, code: int, says: str) -> None:
    """`nufair adql check` takes the query as an argument (even one starting with "--"),
    from stdin, and keeps "valid ADQL, unknown here" (3) apart from invalid ADQL (2)."""
    result = CliRunner().invoke(main, ["adql", "check", *args], input=stdin)
    assert result.exit_code == code, result.output
    assert says in result.output


def test_cli_check_reads_a_file(tmp_path: Path) -> None:
    """--file reads the query from a file."""
    query = tmp_path / "q.adql"
    query.write_text("-- from a file\nSELECT TOP 3 name\nFROM nufair.alerts\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["adql", "check", "--file", str(query)])
    assert result.exit_code == 0 and "valid ADQL 2.1" in result.output
    query.write_text("SELECT name\nFROM nufair.alerts LIMIT 3\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["adql", "check", "-f", str(query)])
    assert result.exit_code == 2 and "line 2, column 20" in result.output


@pytest.mark.parametrize(("query", "message"), [
    ("SELECT name FROM nufair.alerts AS a JOIN nufair.revisions AS r ON a.alert_id = "
     "r.alert_id JOIN nufair.alerts AS b USING (alert_id)",
     "USING (alert_id): the left side of the JOIN has more than one column of that name"),
    ("SELECT name FROM nufair.alerts AS a JOIN nufair.revisions AS r USING (nothing)",
     "USING (nothing): the left side of the JOIN has no column of that name"),
    ("SELECT name FROM nufair.alerts NATURAL JOIN nufair.revisions USING (alert_id)",
     "a NATURAL JOIN takes neither ON nor USING"),
])
def test_join_using_refusals(query: str, message: str) -> None:
    """USING names one column on each side; NATURAL takes no join condition."""
    with pytest.raises(AdqlError) as info:
        translate(query)
    assert message in info.value.reason


def test_one_text_constant_in_two_types(live_url: str, alerts: list[NoticeRecord]) -> None:
    """The same string as a timestamp and as a text in one query (each its own parameter)."""
    res = _tap(live_url).search(
        "SELECT COUNT(*) AS n FROM nufair.alerts WHERE event_time > '2000-01-01' "
        "AND name <> '2000-01-01'")
    assert int(res["n"][0]) == len(alerts)


def test_capabilities_declare_the_moc_function(live_url: str) -> None:
    """pyvo finds the moc UDF with its description; ADQL 2.1 and the frames are stated."""
    (cap,) = [c for c in _tap(live_url).capabilities
              if c.standardid == "ivo://ivoa.net/std/TAP"]
    lang = cap.get_adql()
    moc = lang.get_udf("moc")
    assert moc is not None and "ASCII MOC" in moc.description
    assert "GALACTIC" in (lang.description or "")
    assert lang.get_feature("ivo://ivoa.net/std/TAPRegExt#features-adqlgeo", "BOX") is not None
