"""Issue 15 item 3: uploads as VizieR and TOPCAT send them — column names that are not
ADQL regular identifiers, every VOTable datatype, a clear error on the rest.

The uploaded VOTable is written here by hand (TABLEDATA), so the expected values are the
text of the document, not anything the service computed; STILTS ``tapquery`` (TOPCAT's
engine) sends one as TOPCAT does.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io.votable import parse, parse_single_table

from catalog.notices.parsed import NoticeRecord
from tests.vo.truth import inside_regions
from tests.vo.vizier import DEC, FIELDS, RA, ROWS, vizier_votable


def _query(url: str, adql: str, doc: bytes) -> httpx.Response:
    return httpx.post(f"{url}/tap/sync", data={"LANG": "ADQL", "QUERY": adql,
                                               "UPLOAD": "src,param:src",
                                               "RESPONSEFORMAT": "votable/td"},
                      files={"src": ("src.xml", doc)}, timeout=60)


def test_vizier_names_and_every_datatype(live_url: str) -> None:
    """Quoted VizieR names select the uploaded columns; boolean compares with numbers,
    timestamps with ISO strings; arrays, unicode and NULLs come back as sent."""
    r = _query(live_url, 'SELECT "_RAJ2000", "B-V", "select", ok, "Name (SIMBAD)", obs_time, '
               'flux, ids, flag FROM TAP_UPLOAD.src ORDER BY "_RAJ2000"',
               vizier_votable(FIELDS, ROWS))
    assert r.status_code == 200, r.text
    t = parse_single_table(io.BytesIO(r.content)).to_table(use_names_over_ids=True)
    assert list(t.colnames) == ["_RAJ2000", "B-V", "select", "ok", "Name (SIMBAD)",
                                "obs_time", "flux", "ids", "flag"]
    by_ra = {float(row["_RAJ2000"]): row for row in t}
    first, second, third = by_ra[77.43], by_ra[10.0], by_ra[314.5]
    assert float(first["B-V"]) == pytest.approx(0.52) and np.ma.is_masked(second["B-V"])
    assert int(first["select"]) == 1 and np.ma.is_masked(second["select"])
    assert [int(first["ok"]), int(second["ok"])] == [1, 0] and np.ma.is_masked(third["ok"])
    assert [str(first["Name (SIMBAD)"]), str(second["Name (SIMBAD)"])] == ["Ⅰ Zw 1", "β Cyg"]
    assert str(first["obs_time"]).startswith("2021-03-04T05:06:07.5")
    assert str(second["obs_time"]).startswith("2019-12-31T23:59:59")
    assert str(third["obs_time"]) in ("", "--")  # NULL text: an empty cell
    assert list(np.asarray(first["flux"], dtype=float)) == [1.5, 2.5, 3.5]
    assert list(np.asarray(second["flux"], dtype=float)) == [0.0, -1.0, 1e300]
    assert list(np.asarray(first["ids"], dtype=int)) == [7, 8]
    assert [int(first["flag"]), int(second["flag"])] == [3, 255]

    where = _query(live_url, 'SELECT "select" FROM TAP_UPLOAD.src WHERE ok = 1 OR '
                   "obs_time < '2020-01-01' OR (obs_time IS NULL AND ok IS NULL)",
                   vizier_votable(FIELDS, ROWS))
    assert where.status_code == 200, where.text
    got = parse_single_table(io.BytesIO(where.content)).to_table(use_names_over_ids=True)
    assert sorted(np.ma.filled(got["select"], -1).tolist()) == [-1, 1, 3]


def test_crossmatch_on_vizier_position_columns(live_url: str,
                                              alerts: list[NoticeRecord]) -> None:
    """``_RAJ2000``/``_DEJ2000`` are found as the position and cross-match exactly."""
    r = _query(live_url, 'SELECT u."_RAJ2000", a.name FROM TAP_UPLOAD.src AS u JOIN '
               "nufair.alerts AS a ON 1 = CONTAINS(POINT('ICRS', u.\"_RAJ2000\", "
               'u."_DEJ2000"), a.moc90)', vizier_votable(FIELDS, ROWS))
    assert r.status_code == 200, r.text
    t = parse_single_table(io.BytesIO(r.content)).to_table(use_names_over_ids=True)
    got = {(float(ra), str(n)) for ra, n in zip(t["_RAJ2000"], t["name"], strict=True)}
    truth = inside_regions(alerts, np.array(RA), np.array(DEC))
    want = {(RA[j], str(alerts[i].name)) for i, j in zip(*np.nonzero(truth), strict=True)}
    assert got == want and (77.43, "IceCube-170922A") in got


@pytest.mark.parametrize(("field", "value", "says"), [
    ('<FIELD name="z" datatype="doubleComplex"/>', "1 2", "complex numbers"),
    ('<FIELD name="z" datatype="boolean" arraysize="2"/>', "T F", "only arrays of numbers"),
    ('<FIELD name="_hpx29" datatype="long"/>', "1", "reserved"),
    ('<FIELD name="when" datatype="char" arraysize="*" xtype="timestamp"/>', "yesterday",
     "is a timestamp"),
])
def test_what_cannot_be_kept_is_refused_clearly(live_url: str, field: str, value: str,
                                                says: str) -> None:
    """A datatype the service cannot keep is a 400 VOTable error naming the field."""
    r = _query(live_url, "SELECT * FROM TAP_UPLOAD.src",
               vizier_votable(field, [(value,)], positions=False))
    assert r.status_code == 400
    doc = parse(io.BytesIO(r.content))
    infos = {i.name: i for i in doc.resources[0].infos}
    assert infos["QUERY_STATUS"].value == "ERROR"
    assert infos["code"].value == "upload_error"
    assert says in str(infos["QUERY_STATUS"].content) and "UPLOAD src" in r.text


def test_stilts_uploads_a_vizier_table(live_url: str, tmp_path: Path,
                                       alerts: list[NoticeRecord]) -> None:
    """STILTS tapquery (TOPCAT's TAP client) uploads the table and reads the answer."""
    stilts = shutil.which("stilts")
    assert stilts is not None, "stilts is not installed (apt-get install -y stilts)"
    src = tmp_path / "src.vot"
    src.write_bytes(vizier_votable(FIELDS, ROWS))
    out = tmp_path / "out.csv"
    done = subprocess.run([stilts, "tapquery", f"tapurl={live_url}/tap", "sync=true",
                           'adql=SELECT "B-V", ok FROM TAP_UPLOAD.src WHERE "select" > 0',
                           "nupload=1", f"upload1={src}", "ufmt1=votable",
                           "upname1=src", f"out={out}", "ofmt=csv"],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0] == "B-V,ok" and sorted(lines[1:]) == ["-0.1,", "0.52,1"]
