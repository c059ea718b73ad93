"""Issue 15 item 6: what DataLink lists for one alert revision, and who gets links.

One alert with two revisions: notices (GCN JSON, VOEvent, circular draft) for each, a
FITS skymap for the second only, DOIs minted. Read through pyvo (``DatalinkResults``,
``iter_datalinks()`` on a TAP result, an SCS result and an uploaded-table join); each
expectation is written from what the test stored, and every linked URL is fetched.
STILTS votlint checks the DataLink table and the cone search answer.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import pyvo
from astropy.table import Table
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from catalog.schema.events import artifacts, events, revisions
from catalog.schema.outbox import notices
from catalog.schema.pids import dois
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from tests.catalog.records_factory import record

NAME = "IceCube-170922A"
#: The FITS skymap of revision 1 (its bytes: content_length is their number).
SKYMAP = b"SIMPLE  =                    T" + bytes(2850)


def _payloads(rev: int) -> dict[str, tuple[str, bytes]]:
    """format → (media type, bytes) of the notices of revision ``rev``."""
    return {"gcn-json": ("application/json", b'{"rev": %d}' % rev),
            "voevent": ("application/xml", b"<voe:VOEvent rev='%d'/>" % rev * 3),
            "circular": ("text/plain", b"TITLE: GCN CIRCULAR rev %d\n" % rev * 5)}


@pytest.fixture
def stored(alerts: list[NoticeRecord], storage: CatalogStorage, engine: Engine,
           tmp_path: Path) -> dict[int, str]:
    """A second revision of :data:`NAME`, notices of both, the skymap of the second, DOIs
    minted; {revision number: its version DOI suffix}."""
    first = next(r for r in alerts if r.name == NAME)
    storage.import_records([record(run=first.run_id, event=first.event_id, rev=1, name=NAME,
                                   ra=77.5, dec=5.8, r90=0.8, r50=0.4)])
    with engine.begin() as conn:
        ev = conn.execute(select(events.c.id).where(events.c.name == NAME)).scalar_one()
        revs = dict(conn.execute(select(revisions.c.number, revisions.c.id)
                                 .where(revisions.c.event_pk == ev)).all())
        assert sorted(revs) == [0, 1]
        for number, rev_pk in revs.items():
            for fmt, (media, payload) in _payloads(number).items():
                conn.execute(insert(notices).values(
                    revision_pk=rev_pk, sink="folder", format=fmt, media_type=media,
                    idempotency_key=f"k-{number}-{fmt}", filename=f"{NAME}_{number}.{fmt}",
                    payload=payload))
        folder = tmp_path / "artifacts"
        folder.mkdir()
        (folder / "skymap.fits").write_bytes(SKYMAP)
        conn.execute(insert(artifacts).values(
            event_pk=ev, revision_pk=revs[1], role="skymap-fits", filename="skymap.fits",
            media_type="application/fits", size_bytes=len(SKYMAP),
            sha256=hashlib.sha256(SKYMAP).hexdigest(), md5=hashlib.md5(SKYMAP).hexdigest(),
            storage_url=(folder / "skymap.fits").as_uri()))
    FairStorage(engine).mint_missing("10.5072", "local")
    with engine.connect() as conn:
        return {n: conn.execute(select(dois.c.suffix).where(dois.c.revision_pk == pk))
                .scalar_one() for n, pk in revs.items()}


def _links(url: str, ident: str) -> pyvo.dal.adhoc.DatalinkResults:
    return pyvo.dal.adhoc.DatalinkResults.from_result_url(
        str(httpx.URL(url + "/datalink", params={"ID": ident})))


def _by_semantics(dl: pyvo.dal.adhoc.DatalinkResults) -> dict[str, list[tuple[str, int]]]:
    """{semantics: [(access_url, content_length or -1)]} of a links table (raw columns)."""
    out: dict[str, list[tuple[str, int]]] = {}
    table = dl.to_table()
    assert not any(table["error_message"]), list(table["error_message"])
    lengths = np.ma.filled(np.ma.asarray(table["content_length"]), -1)
    for row, length in zip(table, lengths, strict=True):
        out.setdefault(str(row["semantics"]), []).append((str(row["access_url"]), int(length)))
    return out


def test_every_revision_lists_its_own_files_notices_and_this(
        live_url: str, stored: dict[int, str]) -> None:
    """Revision 0 (no skymap): ``#this`` is its own page and JSON record; revision 1: its
    skymap. Each lists its own three notices with their sizes, and the counterparts."""
    ev_id = next(iter(pyvo.dal.TAPService(live_url + "/tap").search(
        f"SELECT alert_id FROM nufair.alerts WHERE name = '{NAME}'")))["alert_id"]
    for number, suffix in stored.items():
        sem = _by_semantics(_links(live_url, f"ivo://nufair/alerts?{ev_id}/{number}"))
        page = (f"{live_url}/records/{suffix}", -1)
        record_json = (f"{live_url}/api/v1/events/{ev_id}/revisions/{number}", -1)
        if number == 0:
            assert sem["#this"] == [page, record_json]
        else:
            skymap = (f"{live_url}/records/{suffix}/files/skymap.fits", len(SKYMAP))
            assert sem["#this"] == [skymap]
            assert page in sem["#documentation"] and record_json in sem["#auxiliary"]
        assert (f"{live_url}/records/{ev_id}", -1) in sem["#documentation"]
        # the notices of this revision, byte for byte, and no other revision's
        notice_rows = [(u, n) for u, n in sem["#auxiliary"] if "/notices/" in u]
        got = sorted(httpx.get(u).content for u, _ in notice_rows)
        assert got == sorted(p for _, p in _payloads(number).values())
        assert sorted(n for _, n in notice_rows) == sorted(
            len(p) for _, p in _payloads(number).values())
        for url, _ in sem["#this"] + sem["#documentation"]:
            assert httpx.get(url).status_code == 200, url
        (counterparts,) = sem["#counterpart"]
        answer = httpx.get(counterparts[0])
        assert answer.status_code == 200 and answer.json()["revision"] == number
        assert len(sem["#coverage"]) == 2


def _descriptor_links(res: pyvo.dal.DALResults) -> dict[str, set[str]]:
    """{ID: semantics of its links} of every row of a result, through iter_datalinks."""
    out: dict[str, set[str]] = {}
    for dl in res.iter_datalinks():
        for row in dl:
            out.setdefault(str(row["ID"]), set()).add(str(row["semantics"]))
    return out


def test_scs_tap_and_upload_results_get_links(live_url: str, stored: dict[int, str],
                                              tmp_path: Path) -> None:
    """A cone search answer, an aliased TAP column and an uploaded list joined with the
    alerts: each row's links through pyvo's ``iter_datalinks``; votlint is silent."""
    scs = pyvo.dal.SCSService(live_url + "/scs").search(pos=(77.43, 5.72), radius=3.0)
    dids = {str(d) for d in scs["obs_publisher_did"]}
    assert len(dids) == 2  # 170922A and 211208A
    scs_links = _descriptor_links(scs)
    assert set(scs_links) == dids
    assert all({"#this", "#coverage", "#counterpart"} <= s for s in scs_links.values())
    tap = pyvo.dal.TAPService(live_url + "/tap")
    aliased = tap.search("SELECT obs_publisher_did AS what FROM nufair.alerts")
    assert len(_descriptor_links(aliased)) == 5
    sources = Table({"sid": np.array([1, 2]), "ra": np.array([77.4, 225.8]),
                     "dec": np.array([5.7, 10.5])})
    joined = tap.search("SELECT u.sid, a.obs_publisher_did FROM TAP_UPLOAD.src AS u "
                        "JOIN nufair.alerts AS a ON 1 = CONTAINS(POINT('ICRS', u.ra, u.dec), "
                        "a.moc90)", uploads={"src": sources})
    assert len(joined) == 3  # source 1 lies in 170922A and 211208A, source 2 in 190730A
    assert set(_descriptor_links(joined)) == {str(d) for d in joined["obs_publisher_did"]}
    stilts = shutil.which("stilts")
    assert stilts is not None, "stilts is not installed (apt-get install -y stilts)"
    for name, url in (("scs", f"{live_url}/scs?RA=77.43&DEC=5.72&SR=3&VERB=3"),
                      ("links", f"{live_url}/datalink?ID={min(dids)}")):  # 170922A/1
        path = tmp_path / f"{name}.vot"
        path.write_bytes(httpx.get(url).content)
        assert b"/notices/" in path.read_bytes() or name == "scs"
        done = subprocess.run([stilts, "votlint", str(path)], capture_output=True,
                              text=True, timeout=120, check=False)
        assert (done.stdout + done.stderr).strip() == "", name
