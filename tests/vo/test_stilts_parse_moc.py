"""Issue 15 (left in the fourth session): STILTS ``tapquery parse=true`` and MOCs.

Why ``parse=true`` refused ``MOC(...)`` and COALESCE: not the capabilities. Debian's STILTS
3.4.7 parses with ADQLlib 1.5, an ADQL 2.0 grammar: a geometry function's argument must be
a geometry constructor (POINT, CIRCLE, BOX, POLYGON, REGION, CENTROID) or a column
reference, and a user-defined function there (``INTERSECTS(moc90, MOC('5/1-3'))``) is ADQL
2.1; COALESCE is a reserved word it does not support. Its parse error comes before it reads
any declaration (an undeclared ``foo(1)`` in the select list passes its check), so no
TAPRegExt ``<feature><form>`` changes it. What ADQL 2.0 can say, and this service answers:
an uploaded column declared ``xtype="moc"`` (DALI's ASCII MOC) is a MOC operand as a plain
column reference, and ``MOC(...)`` outside a geometry argument parses. The queries refused
by the grammar are shown to run with ``parse=false`` (pyvo runs them too:
``test_region_and_uploaded_moc``, ``test_capabilities``).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import warnings
from pathlib import Path

import astropy.units as u
from astropy.io.votable import from_table
from astropy.table import Table
from mocpy import MOC

from catalog.notices.parsed import NoticeRecord

#: Uploaded MOCs (k, ASCII MOC): the cells holding the best fits of IceCube-170922A
#: (order 6) and IceCube-190730A (order 3, with a neighbour), and a patch of empty sky.
MOCS = [(1, "6/23015"), (2, "3/130-131"), (3, "8/0-3")]


def _stilts(*args: str) -> subprocess.CompletedProcess[str]:
    stilts = shutil.which("stilts")
    assert stilts is not None, "stilts is not installed (apt-get install -y stilts)"
    return subprocess.run([stilts, *args, "ofmt=csv", "out=-"], capture_output=True,
                          text=True, timeout=300, check=False)


def _rows(done: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    assert done.returncode == 0, done.stderr[-1500:]
    return list(csv.DictReader(io.StringIO(done.stdout)))


def _upload(path: Path) -> Path:
    """A VOTable of the MOCS, the column ``m`` declared ``xtype="moc"``."""
    votable = from_table(Table({"k": [k for k, _ in MOCS], "m": [m for _, m in MOCS]}))
    votable.get_first_table().get_field_by_id("m").xtype = "moc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        votable.to_xml(str(path))
    return path


def test_tapquery_parse_with_an_uploaded_moc_column(live_url: str,
                                                    alerts: list[NoticeRecord],
                                                    tmp_path: Path) -> None:
    """``INTERSECTS(a.moc90, u.m)`` with an uploaded MOC column passes STILTS's parser and
    answers what mocpy says of the same MOCs; ``MOC(...)`` in the select list parses."""
    tap = ("tapquery", f"tapurl={live_url}/tap", "sync=true", "parse=true")
    upload = ("nupload=1", "upload1=" + str(_upload(tmp_path / "mocs.xml")), "upname1=u")
    mocs = {str(r["name"]): MOC.from_string(r["moc90"], format="ascii") for r in _rows(
        _stilts(*tap, "adql=SELECT name, moc90 FROM nufair.alerts"))}
    assert len(mocs) == len(alerts)
    pairs = {(r["name"], int(r["k"])) for r in _rows(_stilts(
        *tap, *upload, "adql=SELECT a.name, u.k FROM nufair.alerts AS a, TAP_UPLOAD.u AS u "
                       "WHERE 1 = INTERSECTS(a.moc90, u.m)"))}
    want = {(name, k) for name, moc in mocs.items() for k, text in MOCS
            if not moc.intersection(MOC.from_string(text, format="ascii")).empty()}
    assert pairs == want and want  # non-empty: the MOCs were chosen to meet some regions
    inside = {(r["name"], int(r["k"])) for r in _rows(_stilts(
        *tap, *upload, "adql=SELECT a.name, u.k FROM nufair.alerts AS a, TAP_UPLOAD.u AS u "
                       "WHERE 1 = CONTAINS(POINT('ICRS', a.ra, a.dec), u.m)"))}
    assert inside == {(str(r.name), k) for r in alerts for k, text in MOCS
                      if MOC.from_string(text, format="ascii").contains_lonlat(
                          r.ra * u.deg, r.dec * u.deg)[0]}
    (row,) = _rows(_stilts(*tap, "adql=SELECT TOP 1 MOC('3/600-620') AS m, "
                                 "AREA(REGION('Circle ICRS 10 10 1')) AS a FROM nufair.alerts"))
    assert MOC.from_string(row["m"], format="ascii") == MOC.from_string("3/600-620",
                                                                        format="ascii")


def test_grammar_refusals_are_adqllib_s_own(live_url: str,
                                            alerts: list[NoticeRecord]) -> None:
    """A MOC(...) geometry argument and COALESCE: ADQLlib 1.5's parse error with
    ``parse=true`` (the grammar, before any declaration is read), answers without it."""
    tap = ("tapquery", f"tapurl={live_url}/tap", "sync=true")
    for adql in ("SELECT name FROM nufair.alerts WHERE 1 = INTERSECTS(moc90, MOC('3/130-131'))",
                 "SELECT name, COALESCE(r50, -1.0) AS r FROM nufair.alerts"):
        refused = _stilts(*tap, "parse=true", f"adql={adql}")
        assert refused.returncode != 0 and "ADQL Parse error" in refused.stderr, adql
        assert _rows(_stilts(*tap, "parse=false", f"adql={adql}")), adql  # rows answered
