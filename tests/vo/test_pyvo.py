"""pyvo (the astronomers' client) against the real app over HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import pyvo
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from mocpy import MOC
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from catalog.schema.events import artifacts, events
from catalog.schema.pids import dois
from catalog.sky import region_geometry
from catalog.storage.fair import FairStorage
from tests.vo.truth import inside_regions


def _near(recs: list[NoticeRecord], ra: float, dec: float, radius: float) -> set[str]:
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    return {r.name for r in recs if r.name and r.ra is not None and r.dec is not None
            and centre.separation(SkyCoord(r.ra * u.deg, r.dec * u.deg)).deg <= radius}


def test_sync_cone_query(live_url: str, alerts: list[NoticeRecord]) -> None:
    """A TAP cone query through pyvo finds the alerts astropy finds."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.search("SELECT name, ra, dec, event_time, moc90 FROM nufair.alerts "
                     "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 78, 5.5, 3))")
    assert set(res["name"]) == _near(alerts, 78, 5.5, 3) == {"IceCube-170922A",
                                                             "IceCube-211208A"}
    table = res.to_table()
    assert table["ra"].unit == u.deg
    moc = MOC.from_string(str(table["moc90"][0]), format="ascii")
    assert moc.sky_fraction > 0


def test_topcat_count_and_tables(live_url: str) -> None:
    """TOPCAT's first queries: the column count matches the tables pyvo lists."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    nrow = tap.search("SELECT COUNT(*) AS nrow FROM TAP_SCHEMA.columns")["nrow"][0]
    assert nrow == sum(len(list(t.columns)) for t in tap.tables.values())
    assert {"nufair.alerts", "nufair.revisions", "tap_schema.columns"} <= set(tap.tables.keys())


def test_maxrec_overflow_only_when_cut(live_url: str, alerts: list[NoticeRecord]) -> None:
    """OVERFLOW is reported when MAXREC cuts the answer, and only then."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    cut = tap.search("SELECT name FROM nufair.alerts", maxrec=2)
    assert len(cut) == 2
    assert cut.status[0] == "OVERFLOW"
    whole = tap.search("SELECT name FROM nufair.alerts", maxrec=len(alerts))
    assert len(whole) == len(alerts)
    assert whole.status[0] == "OK"
    top = tap.search("SELECT TOP 2 name FROM nufair.alerts", maxrec=2)
    assert len(top) == 2 and top.status[0] == "OK"  # TOP cut it, not MAXREC


def test_invalid_adql_is_a_votable_error(live_url: str) -> None:
    """Invalid ADQL reaches pyvo as DALQueryError naming line and column."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    query = "SELECT name FROM nufair.alerts WHERE ra::int = 3"
    with pytest.raises(pyvo.dal.DALQueryError,
                       match=f"line 1, column {query.index('::') + 1}"):
        tap.search(query)
    with pytest.raises(pyvo.dal.DALQueryError, match="unknown column 'nope'"):
        tap.search("SELECT nope FROM nufair.alerts")


def test_run_async(live_url: str, alerts: list[NoticeRecord]) -> None:
    """pyvo runs an async job to completion and reads its result."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.run_async("SELECT name, revision FROM nufair.revisions ORDER BY name")
    assert list(res["name"]) == sorted(r.name for r in alerts if r.name)


def test_upload_crossmatch_against_moc90(live_url: str, alerts: list[NoticeRecord]) -> None:
    """An uploaded source list crossmatched with moc90 finds what mocpy's tiles and the
    exact published shape both hold (issue 15: the MOC is the index, the region the answer)."""
    rng = np.random.default_rng(7)
    n = 200
    ra = np.concatenate([rng.uniform(70, 85, n), [77.43, 314.5]])
    dec = np.concatenate([rng.uniform(0, 12, n), [5.72, 13.0]])
    src = Table({"id": np.arange(len(ra)), "ra": ra, "dec": dec})
    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.search("SELECT u.id, a.name FROM TAP_UPLOAD.src AS u JOIN nufair.alerts AS a "
                     "ON 1 = CONTAINS(POINT('ICRS', u.ra, u.dec), a.moc90)",
                     uploads={"src": src}, maxrec=100000)
    got = {(int(i), str(nm)) for i, nm in zip(res["id"], res["name"], strict=True)}
    expected = set()
    for rec in alerts:
        region = rec.region(0.9)
        assert region is not None and rec.ra is not None and rec.dec is not None
        geom = region_geometry(rec.ra, rec.dec, region)
        moc = MOC.from_depth29_ranges(geom.order, geom.ranges)
        inside = moc.contains_lonlat(ra * u.deg, dec * u.deg) & inside_regions([rec], ra, dec)[0]
        expected |= {(int(i), str(rec.name)) for i in np.nonzero(inside)[0]}
    assert got == expected
    assert (len(ra) - 2, "IceCube-170922A") in got


def test_upload_error_names_the_table(live_url: str) -> None:
    """A query on an unknown uploaded table names it in the error."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    with pytest.raises(pyvo.dal.DALQueryError, match=r"no uploaded table TAP_UPLOAD\.other"):
        tap.search("SELECT * FROM TAP_UPLOAD.other", uploads={"src": Table({"a": [1]})})


def test_cone_search(live_url: str, alerts: list[NoticeRecord]) -> None:
    """pyvo's SCS client finds the alerts near a position (none at SR=0 elsewhere)."""
    scs = pyvo.dal.SCSService(live_url + "/scs")
    res = scs.search(pos=(78.0, 5.5), radius=3.0)
    ids = set(res.to_table()["obs_publisher_did"])
    assert len(ids) == len(_near(alerts, 78, 5.5, 3)) == 2
    assert len(scs.search(pos=(0.0, -89.0), radius=0.0)) == 0
    # pyvo refuses a bad position itself; send one the way any HTTP client can.
    bad = pyvo.dal.scs.SCSQuery(live_url + "/scs")
    bad["RA"], bad["DEC"], bad["SR"] = 10.0, 95.0, 1.0
    with pytest.raises(pyvo.dal.DALQueryError, match="DEC=95"):
        bad.execute()


def test_datalink_from_tap_results(live_url: str, alerts: list[NoticeRecord],
                                   engine: Engine, tmp_path: Path) -> None:
    """DataLink links from a TAP result reach the stored files and the MOC."""
    content = b"SIMPLE  =                    T" + bytes(50)
    (tmp_path / "artifacts" / "1" / "1").mkdir(parents=True)
    (tmp_path / "artifacts" / "1" / "1" / "skymap.fits.gz").write_bytes(content)
    with engine.begin() as conn:
        ev = conn.execute(select(events.c.id, events.c.current_revision_pk)
                          .where(events.c.name == "IceCube-170922A")).one()
        conn.execute(insert(artifacts).values(
            event_pk=ev.id, revision_pk=ev.current_revision_pk, role="skymap-fits",
            filename="skymap.fits.gz", media_type="application/fits",
            size_bytes=len(content), sha256=hashlib.sha256(content).hexdigest(),
            md5=hashlib.md5(content).hexdigest(), storage_url="1/1/skymap.fits.gz"))
    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.search("SELECT name, obs_publisher_did FROM nufair.alerts "
                     "WHERE name = 'IceCube-170922A'")

    def links() -> dict[str, list[tuple[str | None, str | None]]]:
        by_sem: dict[str, list[tuple[str | None, str | None]]] = {}
        for row in next(res.iter_datalinks()):
            # Raw columns: pyvo's access_url looks for a service descriptor when it is empty.
            url, error = row["access_url"], row["error_message"]
            by_sem.setdefault(row.semantics, []).append(
                (str(url) if url else None, str(error) if error else None))
        return by_sem

    # The alerts were stored after the app started, without DOIs: no landing page yet.
    (this,) = links()["#this"]
    assert this[0] is None and this[1] is not None and this[1].startswith("NotFoundFault")
    FairStorage(engine).mint_missing("10.5072", "local")
    with engine.connect() as conn:
        suffix = conn.execute(select(dois.c.suffix).where(
            dois.c.revision_pk == ev.current_revision_pk)).scalar_one()
    by_sem = links()
    # The file's one URL is under the landing page of its version, and it serves the file.
    assert by_sem["#this"] == [(f"{live_url}/records/{suffix}/files/skymap.fits.gz", None)]
    import httpx

    assert httpx.get(f"{live_url}/records/{suffix}/files/skymap.fits.gz").content == content
    assert (f"{live_url}/records/{ev.id}", None) in by_sem["#documentation"]
    # The version's own landing page too (its DOI), not only the page of every version.
    assert (f"{live_url}/records/{suffix}", None) in by_sem["#documentation"]
    assert httpx.get(f"{live_url}/records/{suffix}").status_code == 200
    assert len(by_sem["#coverage"]) == 2
    moc_url = by_sem["#coverage"][-1][0]
    assert moc_url is not None
    assert MOC.from_url(moc_url).sky_fraction > 0  # MOC 2.0 FITS


def test_datalink_many_ids_and_unknown(live_url: str, alerts: list[NoticeRecord]) -> None:
    """Several IDs at once: links for the known one, error rows for the others."""
    import httpx

    r = httpx.get(live_url + "/datalink", params=[("ID", "ivo://nufair/alerts?1"),
                                                  ("ID", "ivo://nufair/alerts?999/0"),
                                                  ("ID", "nonsense")])
    assert r.status_code == 200
    dl = pyvo.dal.adhoc.DatalinkResults.from_result_url(r.url)
    errors = [row.error_message for row in dl if row.error_message]
    assert any(e.startswith("NotFoundFault") for e in errors)
    assert any(e.startswith("UsageFault") for e in errors)
    assert {row["ID"] for row in dl} == {"ivo://nufair/alerts?1", "ivo://nufair/alerts?999/0",
                                      "nonsense"}


def test_self_join_of_overlapping_regions(live_url: str, alerts: list[NoticeRecord]) -> None:
    """pyvo runs the self-join "which alerts' 90 % regions overlap" (issue 15): each alert
    with itself, and the circles whose centres are at most the sum of radii apart (the one
    box of the sample is far from every circle)."""
    tap = pyvo.dal.TAPService(live_url + "/tap")
    res = tap.search("SELECT a.name AS a, b.name AS b FROM nufair.alerts AS a JOIN "
                     "nufair.alerts AS b ON 1 = INTERSECTS(a.region90, b.region90)")
    got = {(str(x), str(y)) for x, y in zip(res["a"], res["b"], strict=True)}
    centre = {r.name: SkyCoord(r.ra * u.deg, r.dec * u.deg) for r in alerts}
    radius = {r.name: r.region(0.9).radius_deg for r in alerts}  # type: ignore[union-attr]
    expected = {(r.name, r.name) for r in alerts}
    for x in centre:
        for y in centre:
            rx, ry = radius[x], radius[y]
            if rx is None or ry is None:
                assert x == y or centre[x].separation(centre[y]).deg > 20
            elif centre[x].separation(centre[y]).deg <= rx + ry:
                expected.add((x, y))
    assert got == expected
    assert ("IceCube-170922A", "IceCube-211208A") in got
