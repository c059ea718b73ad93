"""The hand-written VOTable writer, read back by astropy and checked against the XSD."""

from __future__ import annotations

import csv
import io
import math
from importlib import resources
from typing import Any

import numpy as np
import pytest
import xmlschema
from astropy.io.votable import parse, parse_single_table
from mocpy import MOC
from sqlalchemy import text
from sqlalchemy.engine import Engine

from catalog.notices.parsed import NoticeRecord
from vo import resultstream, scs
from vo.config import VoConfig
from vo.datalink import service_descriptor
from vo.formats.fields import FieldSpec
from vo.formats.votable import error_votable, votable
from vo.service import TapService
from vo.storage import VoStorage


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    """The VOTable 1.4 XSD that astropy ships (no network)."""
    xsd = resources.files("astropy.io.votable").joinpath("data/VOTable.v1.4.xsd")
    return xmlschema.XMLSchema(str(xsd))


SPECS = [
    FieldSpec("name", "char", "*", ucd="meta.id;meta.main", description="A <name> & co"),
    FieldSpec("n", "long", id="obs_publisher_did"),
    FieldSpec("i", "int"),
    FieldSpec("s", "short"),
    FieldSpec("x", "double", unit="deg"),
    FieldSpec("f", "float"),
    FieldSpec("b", "boolean"),
    FieldSpec("t", "char", "*", xtype="timestamp"),
    FieldSpec("p", "double", "2", xtype="point"),
    FieldSpec("poly", "double", "*", xtype="polygon"),
    FieldSpec("c", "char", "1"),
]

ROWS: list[list[Any]] = [
    ["a&b <c> \"d\" 'e'", 1, 2, 3, 1.5, 0.25, True, "2020-06-15T14:49:17.370",
     [77.43, 5.72], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "x"],
    [None, None, None, None, None, None, None, None, None, None, None],
    ["", -(2**62), -(2**31) + 1, -(2**15) + 1, -1e-300, 3.25e38, False, "1999-01-01T00:00:00.000",
     [0.0, -90.0], [], "y"],
    ["tab\there", 0, 0, 0, math.nan, -math.inf, True, "x", [1e-8, 1e8], [0.1], "z"],
]


def _same(got: Any, want: Any, spec: FieldSpec) -> bool:
    if want is None:
        if spec.arraysize == "*" and spec.datatype != "char":  # TABLEDATA: an empty array
            return bool(np.ma.is_masked(got)) or len(got) == 0
        return bool(np.ma.is_masked(got)) or (spec.datatype == "char" and got in ("", None))
    if spec.datatype == "char":
        return bool(got == want)
    if spec.arraysize not in (None, "1"):
        return bool(np.array_equal(np.asarray(got, float), np.asarray(want, float)))
    if isinstance(want, float) and math.isnan(want):  # NaN is the null of floating point
        return bool(np.ma.is_masked(got)) or bool(np.isnan(got))
    if spec.datatype == "float":
        return bool(np.float32(got) == np.float32(want))
    return bool(got == want)


@pytest.mark.parametrize("serialization", ["tabledata", "binary2"])
def test_rows_read_back_by_astropy(serialization: str, schema: xmlschema.XMLSchema) -> None:
    """Every datatype written reads back equal in astropy; the document is valid."""
    body = votable(SPECS, ROWS, serialization=serialization, overflow=True,
                   infos=[("QUERY", 'SELECT "x" < 3 & 4')],
                   extra_resources=[service_descriptor(VoConfig(), "obs_publisher_did")])
    schema.validate(io.BytesIO(body))
    vot = parse(io.BytesIO(body), verify="exception")
    table = vot.get_first_table()
    assert [f.name for f in table.fields] == [s.name for s in SPECS]
    assert table.fields[4].unit.to_string() == "deg"
    assert table.fields[0].description == "A <name> & co"
    assert len(table.array) == len(ROWS)
    for r, row in enumerate(ROWS):
        for want, spec in zip(row, SPECS, strict=True):
            got = table.array[spec.name][r]
            assert _same(got, want, spec), (serialization, spec.name, got, want)
    infos = {(i.name, i.value) for i in vot.resources[0].infos}
    assert {("QUERY_STATUS", "OK"), ("QUERY_STATUS", "OVERFLOW"),
            ("QUERY", 'SELECT "x" < 3 & 4')} <= infos
    meta = vot.resources[1]
    assert meta.utype == "adhoc:service"
    assert meta.groups[0].entries[0].ref == "obs_publisher_did"


@pytest.mark.parametrize("serialization", ["tabledata", "binary2"])
def test_empty_result_and_many_columns(serialization: str, schema: xmlschema.XMLSchema
                                       ) -> None:
    """No rows, and rows whose null mask spans three bytes, are valid and read back."""
    specs = [FieldSpec(f"c{i}", "double") for i in range(17)]  # a 3-byte null mask
    rows = [[None if (i + r) % 3 == 0 else float(i * r) for i in range(17)] for r in range(5)]
    for data in ([], rows):
        body = votable(specs, data, serialization=serialization)
        schema.validate(io.BytesIO(body))
        arr = parse_single_table(io.BytesIO(body), verify="exception").array
        assert len(arr) == len(data)
        for r, row in enumerate(data):
            for i, v in enumerate(row):
                assert (v is None and np.ma.is_masked(arr[f"c{i}"][r])) or arr[f"c{i}"][r] == v


def test_error_documents_validate(schema: xmlschema.XMLSchema) -> None:
    """TAP and SCS error documents are valid and say QUERY_STATUS=ERROR."""
    for body in (error_votable("bad <query> & \"more\"\nline two"),
                 scs.error_document("DEC=95 is outside [-90, 90]")):
        schema.validate(io.BytesIO(body))
        vot = parse(io.BytesIO(body), verify="exception")
        status = [i for i in vot.resources[0].infos if i.name == "QUERY_STATUS"]
        assert status[0].value == "ERROR"
    vot = parse(io.BytesIO(error_votable("bad <query> & \"more\"")), verify="exception")
    assert vot.resources[0].infos[0].content == "bad <query> & \"more\""


QUERY = ("SELECT alert_id, name, stream, event_time, revision, ra, dec, r90, energy, "
         "signalness, retracted, moc90, POINT(ra, dec) AS pos FROM nufair.alerts ORDER BY ra")
DB_SQL = ("SELECT alert_id, name, stream, to_char(event_time AT TIME ZONE 'UTC', "
          "'YYYY-MM-DD\"T\"HH24:MI:SS.MS'), revision, ra, dec, r90, energy, signalness, "
          "retracted FROM nufair.alerts ORDER BY ra")


@pytest.fixture(params=["python", "postgresql"])
def writer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which writes the answer: the Python writers (small answers) or PostgreSQL."""
    if request.param == "postgresql":
        monkeypatch.setattr(resultstream, "SMALL_ROWS", 0)
    return str(request.param)


@pytest.mark.parametrize("fmt", ["votable", "votable/td", "csv", "tsv"])
def test_tap_output_equals_database_rows(engine: Engine, alerts: list[NoticeRecord],
                                         schema: xmlschema.XMLSchema, fmt: str,
                                         writer: str) -> None:
    """A TAP answer, from either writer, holds exactly the database's rows."""
    with engine.connect() as conn:
        expected = [tuple(r) for r in conn.execute(text(DB_SQL))]
    assert len(expected) == len(alerts)
    service = TapService(VoStorage(engine), VoConfig())
    out = service.execute({"LANG": "ADQL", "QUERY": QUERY, "RESPONSEFORMAT": fmt}, {})
    assert out.rows == len(expected) and not out.overflow
    if fmt in ("csv", "tsv"):
        lines = out.body.decode().splitlines()
        reader = csv.reader(lines, delimiter="," if fmt == "csv" else "\t")
        header, *records = list(reader)
        assert header[:3] == ["alert_id", "name", "stream"]
        got = [(int(r[0]), r[1], r[2], r[3], int(r[4]), float(r[5]), float(r[6]),
                float(r[7]), float(r[8]), float(r[9]), int(r[10])) for r in records]
        assert got == expected
        for r, want in zip(records, expected, strict=True):
            assert MOC.from_string(r[11], format="ascii").sky_fraction > 0
            assert [float(x) for x in r[12].split()] == [want[5], want[6]]
        if fmt == "csv":
            assert out.body.count(b"\r\n") == len(expected) + 1
        return
    schema.validate(io.BytesIO(out.body))
    table = parse_single_table(io.BytesIO(out.body), verify="exception")
    arr = table.array
    got = [(int(r["alert_id"]), str(r["name"]), str(r["stream"]), str(r["event_time"]),
            int(r["revision"]), float(r["ra"]), float(r["dec"]), float(r["r90"]),
            float(r["energy"]), float(r["signalness"]), int(r["retracted"])) for r in arr]
    assert got == expected
    assert list(arr["pos"][0]) == [expected[0][5], expected[0][6]]
    assert table.get_field_by_id_or_name("moc90").xtype == "moc"


@pytest.mark.parametrize("fmt", ["csv", "votable"])
def test_maxrec_cuts_whole_records_with_quoted_newlines(engine: Engine, writer: str,
                                                        fmt: str) -> None:
    """MAXREC holds whoever writes the answer: the extra row is cut, values with commas,
    quotes and line breaks stay whole."""
    from astropy.table import Table

    names = ['plain', 'with, comma', 'with "quotes"', 'two\nlines', 'last\none, "x"']
    buf = io.BytesIO()
    Table({"k": np.arange(len(names)), "s": names}).write(buf, format="votable")
    service = TapService(VoStorage(engine), VoConfig())
    for limit in range(len(names) + 1):
        out = service.execute({"LANG": "ADQL", "QUERY": "SELECT k, s FROM TAP_UPLOAD.t ORDER BY k",
                               "UPLOAD": "t,param:t", "RESPONSEFORMAT": fmt,
                               "MAXREC": str(limit)}, {"t": buf.getvalue()})
        if fmt == "csv":
            records = list(csv.reader(io.StringIO(out.body.decode(), newline="")))
            assert records[0] == ["k", "s"]
            got = [(int(k), v) for k, v in records[1:]]
        else:
            arr = parse_single_table(io.BytesIO(out.body)).array
            got = [(int(k), str(v)) for k, v in zip(arr["k"], arr["s"], strict=True)]
            assert (b'value="OVERFLOW"' in out.body) == (limit < len(names))
        assert got == [(i, names[i]) for i in range(limit)]
        assert out.overflow == (limit < len(names)) and out.rows == limit
