"""The UWS and VOSI documents (Jinja2 templates, autoescaped) carry hostile values exactly.

An independent check: each document is parsed by lxml and the values read back are compared
with the strings put in (markup characters, ``]]>``, quotes, non-ASCII, and in attributes
the tab and line breaks a parser would otherwise turn into spaces).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from lxml import etree

from vo import vosi
from vo.config import VoConfig
from vo.tables import ColumnInfo, SchemaInfo, TableInfo
from vo.uws import documents as uws
from vo.uws.storage import Job

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0", "xlink": "http://www.w3.org/1999/xlink",
      "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
HOSTILE = [
    "a < b",
    "R&D &amp; &#60;",
    'say "hi"',
    "it's",
    "x ]]> y",
    "<![CDATA[ z ]]>",
    "<uws:phase>ERROR</uws:phase>",
    "ünïcödé 日本語 🌌 ±°",
    "  leading and trailing  ",
    "{{ 7*7 }} {% if %}",
]
T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
BASE = "http://example.org/tap/async"


def _job(**kw: object) -> Job:
    base = Job(id="job1", owner="ab" * 32, phase="COMPLETED", run_id=None, params={},
               uploads=(), created=T0, started=T0, ended=T0, duration=60, destruction=T0,
               error=None, media_type="application/x-votable+xml", quota_key="k")
    return replace(base, **kw)  # type: ignore[arg-type]


def _parse(doc: str) -> etree._Element:
    assert doc.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return etree.fromstring(doc.encode())


@pytest.mark.parametrize("value", HOSTILE)
def test_job_document_round_trips_hostile_values(value: str) -> None:
    """Hostile text in a job document parses back unchanged."""
    job = _job(run_id=value, params={"QUERY": value, "Odd" + value: "v"})
    root = _parse(uws.job_document(job, BASE))
    assert root.findtext("uws:runId", namespaces=NS) == value
    params = {p.get("id"): p.text for p in root.iterfind("uws:parameters/uws:parameter",
                                                         namespaces=NS)}
    assert params == {"query": value, ("odd" + value).lower(): "v"}
    assert [e.tag for e in root] == [f"{{{NS['uws']}}}{t}" for t in (
        "jobId", "runId", "ownerId", "phase", "quote", "creationTime", "startTime",
        "endTime", "executionDuration", "destruction", "parameters", "results")]


@pytest.mark.parametrize("value", HOSTILE)
def test_error_message_and_media_type_round_trip(value: str) -> None:
    """Hostile error messages and media types parse back unchanged."""
    root = _parse(uws.job_document(_job(phase="ERROR", error=value), BASE))
    assert root.findtext("uws:errorSummary/uws:message", namespaces=NS) == value
    assert root.find("uws:results", namespaces=NS) is not None
    assert root.find("uws:results/uws:result", namespaces=NS) is None
    done = _parse(uws.job_document(_job(media_type=value), BASE + value))
    result = done.find("uws:results/uws:result", namespaces=NS)
    assert result is not None
    assert result.get("mime-type") == value
    assert result.get(f"{{{NS['xlink']}}}href") == f"{BASE}{value}/job1/results/result"


def test_attribute_whitespace_is_kept() -> None:
    """Tabs and line breaks in attribute values survive the XML parser."""
    name = "tab\there\nnew\rline"
    root = _parse(uws.parameters_document(_job(params={name: "v"})))
    param = root.find("uws:parameter", namespaces=NS)
    assert param is not None and param.get("id") == name.lower()


def test_nil_fields() -> None:
    """Absent owner, quote and times are written xsi:nil."""
    root = _parse(uws.job_document(_job(owner=None, phase="PENDING", started=None,
                                        ended=None), BASE))
    nil = f"{{{NS['xsi']}}}nil"
    for tag in ("ownerId", "quote", "startTime", "endTime"):
        el = root.find(f"uws:{tag}", namespaces=NS)
        assert el is not None and el.get(nil) == "true" and el.text is None
    assert root.find("uws:runId", namespaces=NS) is None
    assert root.find("uws:errorSummary", namespaces=NS) is None


@pytest.mark.parametrize("value", HOSTILE)
def test_job_list_and_results(value: str) -> None:
    """Job lists and result lists carry hostile text unchanged."""
    jobs = _parse(uws.job_list([_job(run_id=value), _job(id="job2")], BASE))
    refs = jobs.findall("uws:jobref", namespaces=NS)
    assert [r.get("id") for r in refs] == ["job1", "job2"]
    assert refs[0].findtext("uws:runId", namespaces=NS) == value
    results = _parse(uws.results_document(_job(), value))
    result = results.find("uws:result", namespaces=NS)
    assert result is not None
    assert result.get(f"{{{NS['xlink']}}}href") == f"{value}/job1/results/result"


@pytest.mark.parametrize("value", HOSTILE)
def test_vosi_documents_round_trip(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """VOSI documents carry hostile text and URLs unchanged."""
    avail = _parse(vosi.availability(False, value))
    assert avail[1].text == value
    caps = _parse(vosi.capabilities(VoConfig(base_url="http://h/?q=" + value)))
    urls = [e.text for e in caps.iter("accessURL")]
    assert urls[0] == "http://h/?q=" + value + "/tap"
    table = TableInfo("s", "t", value, (ColumnInfo("c", "char", value, unit=value),))
    monkeypatch.setattr(vosi, "SCHEMAS", [SchemaInfo("s", value, (table,))])
    tableset = _parse(vosi.tableset(True))
    assert tableset.findtext("schema/description") == value
    assert tableset.findtext("schema/table/description") == value
    assert tableset.findtext("schema/table/column/unit") == value
    monkeypatch.setattr(vosi, "EXAMPLES", [("x", value, value + "\n  FROM t")])
    page = _parse(vosi.examples(VoConfig()))
    xhtml = "{http://www.w3.org/1999/xhtml}"
    assert page.findtext(f"{xhtml}body/{xhtml}div/{xhtml}pre") == value + "\n  FROM t"
