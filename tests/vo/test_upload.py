"""TAP UPLOAD: reading, the temporary tables, bulk cross-matches and fetching by URL."""

from __future__ import annotations

import csv
import http.server
import io
import threading
import warnings
from collections.abc import Iterator
from typing import ClassVar

import httpx
import numpy as np
import pytest
from astropy import units as u
from astropy.io.votable import parse_single_table
from astropy.table import MaskedColumn, Table
from mocpy import MOC
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from catalog.sky import region_geometry
from catalog.storage.events import CatalogStorage
from tests.catalog.records_factory import record
from tests.vo.truth import inside_regions
from vo import resultstream
from vo import service as tap
from vo.config import VoConfig
from vo.errors import UploadError
from vo.formats.fields import FieldSpec
from vo.formats.votable import votable
from vo.service import TapService
from vo.storage import VoStorage
from vo.upload import _astropy, _fast_binary, read_votable

RNG_SEED = 4242


def _table(n: int, rng: np.random.Generator) -> Table:
    nulls = rng.random(n) < 0.2
    return Table({
        "id": np.arange(n, dtype=np.int64),
        "ra": rng.uniform(0, 360, n),
        "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
        "mag": MaskedColumn(rng.normal(15, 2, n).astype(np.float32), mask=nulls),
        "flag": MaskedColumn(rng.integers(-5, 5, n).astype(np.int16), mask=~nulls),
        "cnt": MaskedColumn(rng.integers(0, 10**6, n).astype(np.int32), mask=nulls),
        "ok": rng.random(n) < 0.5,
        "code": np.array([f"S{i % 1000:03d}" for i in range(n)], dtype="U40"),
    })


def _votable(t: Table, fmt: str) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():  # astropy's remarks on masked integers: not our subject
        warnings.simplefilter("ignore")
        t.write(buf, format="votable", tabledata_format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["binary2", "binary"])
def test_fast_binary_reader_equals_astropy(fmt: str) -> None:
    """The fixed-size BINARY/BINARY2 reader gives the values and nulls astropy gives."""
    t = _table(500, np.random.default_rng(RNG_SEED))
    if fmt == "binary":  # BINARY has no null flags: astropy refuses masked integers there
        for name in ("flag", "cnt"):
            t[name] = t[name].filled(0)
    data = _votable(t, fmt)
    fast = _fast_binary(data)
    assert fast is not None
    slow = _astropy(data)
    assert [f.name for f in fast[0].fields] == [f.name for f in slow[0].fields]
    for name, want in slow[1].items():
        got = fast[1][name]
        assert np.array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(want)), name
        keep = ~np.ma.getmaskarray(want)
        g, w = np.ma.getdata(got)[keep], np.ma.getdata(want)[keep]
        if w.dtype.kind in "SUO":
            assert [str(x) for x in g] == [x.decode() if isinstance(x, bytes) else str(x)
                                           for x in w], name
        else:
            assert np.array_equal(g, w), name


def test_variable_length_text_is_read_by_astropy() -> None:
    """Variable-length text is left to astropy, which reads it."""
    specs = [FieldSpec("s", "char", "*"), FieldSpec("x", "double")]
    body = votable(specs, [["a", 1.0], [None, 2.0], ["bcd", None]], serialization="binary2")
    assert _fast_binary(body) is None
    up = read_votable("v", body)
    # astropy reads a NULL variable-length string as an empty one
    assert [v or "" for v in up.columns[0].values] == ["a", "", "bcd"]
    assert list(up.columns[1].nulls) == [False, False, True]


@pytest.mark.parametrize("small_rows", [10**6, 0])
def test_uploaded_values_come_back_from_the_temporary_table(
        engine: Engine, small_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploaded values come back unchanged, whether the Python writers or PostgreSQL write
    the answer (``SMALL_ROWS``)."""
    monkeypatch.setattr(resultstream, "SMALL_ROWS", small_rows)
    t = _table(300, np.random.default_rng(RNG_SEED + 1))
    t["code"][3] = "ünïcode, \"quoted\"\nnext line"
    service = TapService(VoStorage(engine), VoConfig())
    for fmt in ("binary2", "tabledata"):
        out = service.execute({"LANG": "ADQL", "UPLOAD": "t,param:t",
                               "QUERY": "SELECT * FROM TAP_UPLOAD.t ORDER BY id"},
                              {"t": _votable(t, fmt)})
        got = parse_single_table(io.BytesIO(out.body)).array
        assert out.rows == len(t)
        for name in t.colnames:
            want = t[name]
            mask = np.ma.getmaskarray(want)
            assert np.array_equal(np.ma.getmaskarray(got[name]), mask), (fmt, name)
            if want.dtype.kind in "SU":
                assert [str(x) for x in got[name]] == [str(x) for x in want], (fmt, name)
            else:
                assert np.array_equal(np.ma.getdata(got[name])[~mask],
                                      np.ma.getdata(want)[~mask]), (fmt, name)


@pytest.fixture
def regions(storage: CatalogStorage) -> list[NoticeRecord]:
    """Alerts with circular 90 % regions, and one without a region."""
    rng = np.random.default_rng(RNG_SEED + 2)
    recs = [record(run=8000 + i, event=i, ra=float(rng.uniform(100, 140)),
                   dec=float(rng.uniform(-20, 20)), r90=float(rng.uniform(0.3, 5)),
                   name=f"X{i:02d}") for i in range(40)]
    recs.append(record(run=8100, event=1, ra=120.0, dec=0.0, r90=None,
                       box90=(2.0, 1.5, 1.0, 2.5), name="XBOX"))
    storage.import_records(recs)
    return recs


@pytest.mark.parametrize(("bulk", "small_rows"), [(False, 10**6), (True, 0)])
def test_crossmatch_equals_mocpy(engine: Engine, regions: list[NoticeRecord], bulk: bool,
                                 small_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both plans of a cross-match (each source probes the tiles' SP-GiST index; the tiles
    are scanned and each probes the upload's b-tree), and both writers, give the pairs
    that mocpy's tiles and the exact published shape both hold (issue 15)."""
    monkeypatch.setattr(tap, "BULK_TILES_PER_SOURCE", 10**9 if bulk else 0)
    monkeypatch.setattr(resultstream, "SMALL_ROWS", small_rows)
    rng = np.random.default_rng(RNG_SEED + 3)
    n = 4000
    ra, dec = rng.uniform(95, 145, n), rng.uniform(-25, 25, n)
    src = Table({"sid": np.arange(n), "ra": ra, "dec": dec})
    service = TapService(VoStorage(engine), VoConfig())
    query = ("SELECT u.sid, a.name FROM TAP_UPLOAD.src AS u JOIN nufair.alerts AS a "
             "ON 1 = CONTAINS(POINT('ICRS', u.ra, u.dec), a.moc90)")
    out = service.execute({"LANG": "ADQL", "QUERY": query, "UPLOAD": "src,param:s",
                           "RESPONSEFORMAT": "csv", "MAXREC": "1000000"},
                          {"s": _votable(src, "binary2")})
    header, *records = csv.reader(io.StringIO(out.body.decode(), newline=""))
    assert header == ["sid", "name"]
    got = {(int(a), b) for a, b in records}
    expected = set()
    for rec in regions:
        region = rec.region(0.9)
        assert region is not None and rec.ra is not None and rec.dec is not None
        geom = region_geometry(rec.ra, rec.dec, region)
        inside = MOC.from_depth29_ranges(geom.order, geom.ranges).contains_lonlat(
            ra * u.deg, dec * u.deg) & inside_regions([rec], ra, dec)[0]
        expected |= {(int(i), str(rec.name)) for i in np.nonzero(inside)[0]}
    assert len(expected) > 500
    assert got == expected and out.rows == len(expected)


# ------------------------------------------------------------------------ by URL
class _Files(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def file_server() -> Iterator[str]:
    """A local HTTP server of the routes in ``_Files.routes``; its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_upload_by_url_is_refused_unless_the_host_is_allowed(engine: Engine,
                                                             file_server: str) -> None:
    """UPLOAD by URL: refused unless its host (and any redirect's) is allowed."""
    body = _votable(Table({"a": [1, 2, 3]}), "tabledata")
    _Files.routes = {"/t.xml": (200, {}, body),
                     "/away": (302, {"Location": "http://localhost:9/t.xml"}, b""),
                     "/here": (302, {"Location": "/t.xml"}, b"")}
    query = {"LANG": "ADQL", "QUERY": "SELECT SUM(a) AS s FROM TAP_UPLOAD.mine"}
    closed = TapService(VoStorage(engine), VoConfig())
    with pytest.raises(UploadError, match=r"UPLOAD mine: this service does not fetch"):
        closed.execute({**query, "UPLOAD": f"mine,{file_server}/t.xml"}, {})
    allowed = TapService(VoStorage(engine), VoConfig(upload_url_hosts=("127.0.0.1",)))
    for path in ("/t.xml", "/here"):
        out = allowed.execute({**query, "UPLOAD": f"mine,{file_server}{path}",
                               "RESPONSEFORMAT": "csv"}, {})
        assert out.body.decode().splitlines() == ["s", "6"]
    with pytest.raises(UploadError, match=r"UPLOAD mine: .*does not fetch tables from "
                                          r"localhost"):
        allowed.execute({**query, "UPLOAD": f"mine,{file_server}/away"}, {})
    with pytest.raises(UploadError, match=r"UPLOAD mine: .*does not fetch tables from "
                                          r"example\.org"):
        allowed.execute({**query, "UPLOAD": "mine,https://example.org/t.xml"}, {})


def test_upload_by_url_over_http_answers_a_votable_error(live_url: str, file_server: str
                                                         ) -> None:
    """A refused UPLOAD URL over HTTP is a 400 VOTable naming the upload."""
    _Files.routes = {"/t.xml": (200, {}, _votable(Table({"a": [1]}), "tabledata"))}
    r = httpx.post(live_url + "/tap/sync", data={
        "LANG": "ADQL", "QUERY": "SELECT a FROM TAP_UPLOAD.remote",
        "UPLOAD": f"remote,{file_server}/t.xml"})
    assert r.status_code == 400
    text = r.text
    assert 'name="QUERY_STATUS" value="ERROR"' in text
    assert "UPLOAD remote: this service does not fetch tables by URL" in text
    # The same table inline is fine.
    r = httpx.post(live_url + "/tap/sync", data={
        "LANG": "ADQL", "QUERY": "SELECT a FROM TAP_UPLOAD.remote", "UPLOAD": "remote,param:x"},
        files={"x": ("t.xml", _votable(Table({"a": [7]}), "binary2"))})
    assert r.status_code == 200
    assert list(parse_single_table(io.BytesIO(r.content)).array["a"]) == [7]


def test_read_votable_marks_nulls_and_points() -> None:
    """Positions are found, and a null or impossible one has no HEALPix index."""
    t = Table({"ra": MaskedColumn([10.0, 20.0, 30.0], mask=[False, True, False]),
               "dec": [0.0, 1.0, 95.0]})
    up = read_votable("p", _votable(t, "binary2"))
    assert up.point == ("ra", "dec")
    assert up.hpx_nulls is not None and list(up.hpx_nulls) == [False, True, True]

