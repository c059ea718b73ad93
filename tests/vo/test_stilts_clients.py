"""Issue 15, done-when: STILTS runs the issue's queries — ``tapquery parse=true`` (its own
ADQL parser reads the service's capabilities and tables first), ``tapskymatch`` (an
uploaded cross-match through TAP) and ``coneskymatch`` (one cone search per source).
Answers are compared with astropy separations computed here.

Not run through ``parse=true``: COALESCE and ``MOC(...)`` as a geometry argument. Debian's
STILTS 3.4.7 parses with ADQLlib 1.5, whose ADQL 2.0 grammar refuses both whatever a
service declares (``test_stilts_parse_moc``, which runs the ADQL 2.0 form of MOC queries:
an uploaded ``xtype="moc"`` column); pyvo runs both (``test_capabilities``,
``test_adql21``, ``test_region_and_uploaded_moc``).
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord

from catalog.notices.parsed import NoticeRecord

#: Sources of the cross-matches (id, ra, dec).
SOURCES = [(1, 77.4, 5.7), (2, 225.8, 10.5), (3, 10.0, 10.0), (4, 79.0, 6.5)]


def _stilts(*args: str) -> list[dict[str, str]]:
    """Rows of a STILTS command writing CSV to standard output (it must succeed)."""
    stilts = shutil.which("stilts")
    assert stilts is not None, "stilts is not installed (apt-get install -y stilts)"
    done = subprocess.run([stilts, *args, "ofmt=csv", "out=-"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, (args, done.stderr[-1500:])
    return list(csv.DictReader(io.StringIO(done.stdout)))


def _near(alerts: list[NoticeRecord], ra: float, dec: float, radius: float,
          frame: str = "icrs") -> set[str]:
    """Names of the alerts whose best fit lies within ``radius`` degrees (astropy)."""
    centre = SkyCoord(ra, dec, unit="deg", frame=frame).icrs
    return {str(r.name) for r in alerts
            if centre.separation(SkyCoord(r.ra, r.dec, unit="deg")).deg <= radius}


def _in_r90(alerts: list[NoticeRecord], ra: float, dec: float) -> set[str]:
    """Names of the alerts whose 90 % region (circles in this sample; the box of
    IceCube-191001A by its half-widths) holds (ra, dec)."""
    out = set()
    for r in alerts:
        region = r.region(0.9)
        assert region is not None and r.ra is not None and r.dec is not None
        if region.is_circle:
            assert region.radius_deg is not None
            inside = SkyCoord(r.ra, r.dec, unit="deg").separation(
                SkyCoord(ra, dec, unit="deg")).deg <= region.radius_deg
        else:
            assert region.ra_plus is not None and region.ra_minus is not None
            assert region.dec_plus is not None and region.dec_minus is not None
            inside = (r.ra - region.ra_minus <= ra <= r.ra + region.ra_plus
                      and r.dec - region.dec_minus <= dec <= r.dec + region.dec_plus)
        if inside:
            out.add(str(r.name))
    return out


def test_tapquery_parse_runs_the_issue_queries(live_url: str,
                                               alerts: list[NoticeRecord]) -> None:
    """With ``parse=true`` STILTS checks each query against the declared language before
    sending it; every one runs and answers what astropy says."""
    tap = ("tapquery", f"tapurl={live_url}/tap", "sync=true", "parse=true")

    def names(adql: str) -> set[str]:
        return {row["name"] for row in _stilts(*tap, f"adql={adql}")}

    assert names("SELECT name FROM nufair.alerts WHERE "
                 "1 = CONTAINS(POINT('ICRS', 77.5, 5.8), moc90)") == _in_r90(alerts, 77.5, 5.8)
    assert names("SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
                 "REGION('Circle ICRS 77 6 3'))") == _near(alerts, 77, 6, 3)
    assert names("SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT('GALACTIC', "
                 "195.0, -19.6), CIRCLE('ICRS', ra, dec, 3))") == _near(
                     alerts, 195.0, -19.6, 3, frame="galactic")
    box = names("SELECT name FROM nufair.alerts WHERE 1 = CONTAINS(POINT('ICRS', 77.5, 5.8), "
                "BOX('ICRS', ra, dec, 2, 2))")
    assert box == {str(r.name) for r in alerts if r.ra is not None and r.dec is not None
                   and abs(r.ra - 77.5) <= 1 and abs(r.dec - 5.8) <= 1}
    assert names("SELECT name FROM nufair.alerts WHERE moc50 IS NULL") == set()
    pairs = _stilts(*tap, "adql=SELECT a.name, b.name AS other FROM nufair.alerts AS a, "
                          "nufair.alerts AS b WHERE 1 = INTERSECTS(a.moc90, b.moc90) "
                          "AND a.name < b.name")
    assert {(p["name"], p["other"]) for p in pairs} == {("IceCube-170922A",
                                                        "IceCube-211208A")}
    (grouped,) = _stilts(*tap, "adql=SELECT stream AS s, COUNT(*) AS n FROM nufair.alerts "
                               "GROUP BY s")
    assert int(grouped["n"]) == len(alerts)
    joined = _stilts(*tap, "adql=SELECT alert_id, a.name FROM nufair.alerts AS a "
                           "JOIN nufair.revisions AS r USING (alert_id)")
    assert sorted(row["name"] for row in joined) == sorted(str(r.name) for r in alerts)
    dist = _stilts(*tap, "adql=SELECT name, DISTANCE(POINT('ICRS', ra, dec), "
                         "POINT('ICRS', 77, 6)) AS d FROM nufair.alerts")
    for row in dist:
        rec = next(r for r in alerts if r.name == row["name"])
        want = SkyCoord(rec.ra, rec.dec, unit="deg").separation(
            SkyCoord(77, 6, unit="deg")).deg
        assert abs(float(row["d"]) - want) < 1e-9


def test_tapskymatch_and_coneskymatch(live_url: str, alerts: list[NoticeRecord],
                                      tmp_path: Path) -> None:
    """Both cross-matches of a source list with the alerts' best fits (2 degrees) give
    the pairs astropy gives."""
    src = tmp_path / "sources.csv"
    src.write_text("id,ra,dec\n" + "".join(f"{i},{a},{d}\n" for i, a, d in SOURCES))
    want = {(i, str(r.name)) for i, a, d in SOURCES for r in alerts
            if SkyCoord(a, d, unit="deg").separation(
                SkyCoord(r.ra, r.dec, unit="deg")).deg <= 2.0}
    assert len(want) == 4
    tap = _stilts("tapskymatch", f"in={src}", "ifmt=csv", "inlon=ra", "inlat=dec",
                  f"tapurl={live_url}/tap", "taptable=nufair.alerts", "taplon=ra",
                  "taplat=dec", "tapcols=name,ra,dec", "sr=2", "find=all")
    assert {(int(row["id"]), row["name"]) for row in tap} == want
    by_did = {}
    for row in _stilts("tapquery", f"tapurl={live_url}/tap", "sync=true",
                       "adql=SELECT name, obs_publisher_did FROM nufair.alerts"):
        by_did[row["obs_publisher_did"]] = row["name"]
    cone = _stilts("coneskymatch", f"in={src}", "ifmt=csv", "ra=ra", "dec=dec",
                   "servicetype=cone", f"serviceurl={live_url}/scs?", "sr=2", "find=all",
                   "verb=1", "usefoot=false")
    assert {(int(row["id"]), by_did[row["obs_publisher_did"]]) for row in cone} == want
    assert np.isfinite([float(row["Separation"]) for row in cone]).all()


def test_tapquery_parse_runs_the_region_pair_and_error_circle_queries(
        live_url: str, alerts: list[NoticeRecord], tmp_path: Path) -> None:
    """The exact region predicates of the tenth session pass STILTS's ADQL 2.0 parser
    (region columns are plain column references there) and answer as the service does
    when asked directly; their exactness is tested against numpy/astropy in
    ``test_region_pairs_exact``, ``test_region_contains_regions`` and
    ``test_region_circle_expressions``."""
    import httpx
    from astropy.table import Table

    src = tmp_path / "src.csv"
    src.write_text("id,ra,dec,err_as\n" + "".join(f"{k},{ra},{dec},{3600.0 * (k % 3 + 1)}\n"
                                                  for k, ra, dec in SOURCES))
    tap = ("tapquery", f"tapurl={live_url}/tap", "sync=true", "parse=true", "nupload=1",
           f"upload1={src}", "ufmt1=csv", "upname1=src")
    votable = io.BytesIO()  # what STILTS sends of the CSV: a VOTable
    Table.read(src, format="ascii.csv").write(votable, format="votable")
    for adql in ("SELECT a.name AS x, b.name AS y FROM nufair.alerts AS a JOIN nufair.alerts"
                 " AS b ON 1 = INTERSECTS(a.region90, b.region90) WHERE a.name < b.name",
                 "SELECT a.name AS x, b.name AS y FROM nufair.alerts AS a JOIN nufair.alerts"
                 " AS b ON 1 = CONTAINS(a.region50, b.region90)",
                 "SELECT s.id AS x, a.name AS y FROM TAP_UPLOAD.src AS s JOIN nufair.alerts AS"
                 " a ON 1 = INTERSECTS(CIRCLE('ICRS', s.ra, s.dec, s.err_as / 3600.0), "
                 "a.region90)"):
        got = {(row["x"], row["y"]) for row in _stilts(*tap, f"adql={adql}")}
        direct = httpx.post(f"{live_url}/tap/sync", timeout=60,
                            data={"LANG": "ADQL", "QUERY": adql, "RESPONSEFORMAT": "csv",
                                  "UPLOAD": "src,param:src"},
                            files={"src": ("src.xml", votable.getvalue())})
        assert direct.status_code == 200, direct.text[-800:]
        want = {(row["x"], row["y"]) for row in csv.DictReader(io.StringIO(direct.text))}
        assert got == want and want, adql
