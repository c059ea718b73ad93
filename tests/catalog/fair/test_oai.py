"""OAI-PMH 2.0: every response validates; a real harvester (sickle) harvests everything."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
import xmlschema
from lxml import etree
from sickle import Sickle
from sickle.oaiexceptions import NoRecordsMatch

from catalog.fair import datacite
from nufair.settings import Settings
from tests.catalog.fair.conftest import SCHEMAS
from tests.vo.vor_schema import registry_schema

OAI = "{http://www.openarchives.org/OAI/2.0/}"
KERNEL = datacite.KERNEL_NS


@pytest.fixture(scope="module")
def oai_xsd() -> xmlschema.XMLSchema:
    """OAI-PMH.xsd with the metadata schemas it must check strictly (all offline), the
    VO registry's among them (Identify describes the registry with its VOResource record)."""
    return registry_schema(
        [str(SCHEMAS / "oai-pmh" / "oai_dc.xsd"), str(SCHEMAS / "kernel-4.6" / "metadata.xsd"),
         str(SCHEMAS / "oai-1.1" / "oai.xsd")],
        [("http://purl.org/dc/elements/1.1/", str(SCHEMAS / "oai-pmh" / "simpledc20021212.xsd"))])


@pytest.fixture
def get(live_url: str, oai_xsd: xmlschema.XMLSchema) -> Iterator[Callable[..., etree._Element]]:
    """GET /oai with parameters; the body is validated and returned as an element."""
    def _get(**params: str) -> etree._Element:
        r = httpx.get(f"{live_url}/oai", params=params, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
        oai_xsd.validate(r.content)
        return etree.fromstring(r.content)
    yield _get


def _error(root: etree._Element) -> str | None:
    e = root.find(f"{OAI}error")
    return None if e is None else e.get("code")


def test_every_verb_and_format_validates(get: Callable[..., etree._Element],
                                        live_url: str) -> None:
    """All six verbs in every metadata format validate against OAI-PMH.xsd and the DataCite
    kernel; lists are paged; POST answers like GET."""
    ident = get(verb="Identify")
    assert ident.findtext(f"{OAI}Identify/{OAI}deletedRecord") == "persistent"
    assert ident.findtext(f"{OAI}Identify/{OAI}granularity") == "YYYY-MM-DDThh:mm:ssZ"
    prefixes = {e.text for e in get(verb="ListMetadataFormats").iter(f"{OAI}metadataPrefix")}
    assert prefixes == {"oai_dc", "oai_datacite", "datacite", "ivo_vor"}
    specs = {e.text for e in get(verb="ListSets").iter(f"{OAI}setSpec")}
    assert {"stream:gold", "stream:bronze", "stream:cascade", "catalog:icecat1",
            "status:retracted"} <= specs
    kernel = xmlschema.XMLSchema(str(SCHEMAS / "kernel-4.6" / "metadata.xsd"))
    for prefix in ("oai_dc", "oai_datacite", "datacite"):
        root = get(verb="ListRecords", metadataPrefix=prefix)
        assert root.find(f".//{OAI}metadata") is not None
        for res in root.iter(f"{{{datacite.KERNEL_NS}}}resource"):
            kernel.validate(etree.tostring(res))  # the envelope's payload too
        ident = root.findtext(f".//{OAI}identifier")
        one = get(verb="GetRecord", identifier=ident, metadataPrefix=prefix)
        assert one.findtext(f".//{OAI}header/{OAI}identifier") == ident
    ids = get(verb="ListIdentifiers", metadataPrefix="oai_dc")
    assert ids.find(f"{OAI}ListIdentifiers/{OAI}resumptionToken").text  # page size 3
    # POST works like GET.
    r = httpx.post(f"{live_url}/oai", data={"verb": "Identify"}, timeout=30)
    assert etree.fromstring(r.content).find(f"{OAI}Identify") is not None


@pytest.mark.parametrize(("params", "code"), [
    ({}, "badVerb"),
    ({"verb": "Explode"}, "badVerb"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "Identify", "extra": "1"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-13-45"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2020-01-01",
      "until": "2021-01-01T00:00:00Z"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2022-01-01",
      "until": "2021-01-01"}, "badArgument"),
    ({"verb": "ListRecords", "resumptionToken": "bm9wZQ"}, "badResumptionToken"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": "oai:nowhere:abc", "metadataPrefix": "oai_dc"},
     "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": "oai:x:y"}, "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "until": "1990-01-01"},
     "noRecordsMatch"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "stream:platinum"},
     "noRecordsMatch"),
    ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
])
def test_error_codes(get: Callable[..., etree._Element], params: dict[str, str],
                     code: str) -> None:
    """Each OAI-PMH error code where the spec asks for it, with no arguments echoed for
    badVerb and badArgument."""
    root = get(**params)
    assert _error(root) == code
    if code in ("badVerb", "badArgument"):
        assert not root.find(f"{OAI}request").attrib  # the spec: echo no arguments then


def test_repeated_argument_is_bad(live_url: str) -> None:
    """A repeated argument is an error (badVerb for a repeated verb), not a silent choice."""
    r = httpx.get(f"{live_url}/oai?verb=Identify&verb=Identify", timeout=30)
    assert _error(etree.fromstring(r.content)) == "badVerb"


def test_sickle_harvests_everything_with_tokens_sets_dates_and_withdrawals(
        live_url: str) -> None:
    """A real harvester (sickle) follows our resumption tokens through every item and selects
    by set and date; a retracted alert's items are full records (never deleted headers)
    whose DataCite metadata carries the Withdrawn date and says so first in its abstract."""
    sickle = Sickle(f"{live_url}/oai", max_retries=0)
    headers = list(sickle.ListIdentifiers(metadataPrefix="oai_datacite", ignore_deleted=False))
    # 3 alerts: A has a concept and 2 versions, B and C a concept and 1 version each.
    assert len(headers) == 7 and len({h.identifier for h in headers}) == 7
    assert not any(h.deleted for h in headers)
    records = list(sickle.ListRecords(metadataPrefix="oai_dc", ignore_deleted=False))
    assert len(records) == 7
    assert all(r.metadata["title"][0].startswith("IceCube-") for r in records)
    retracted = list(sickle.ListRecords(metadataPrefix="datacite", set="status:retracted"))
    assert len(retracted) == 2  # retracted B: its concept and its version
    for r in retracted:
        assert not r.deleted and r.header.setSpecs[-1] == "status:retracted"
        dates = {d.get("dateType"): d for d in r.xml.iter(f"{{{KERNEL}}}date")}
        assert dates["Withdrawn"].text == "2021-03-02T12:00:00Z"
        abstract = r.xml.findtext(f".//{{{KERNEL}}}description")
        assert abstract.startswith("WITHDRAWN") and "calibration" in abstract
    gold = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", set="stream:gold"))
    assert len(gold) == 5  # A (3) and C (2)
    icecat = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", set="catalog:icecat1"))
    assert len(icecat) == 2
    stamps = sorted(h.datestamp for h in headers)
    later = list(sickle.ListIdentifiers(metadataPrefix="oai_dc", ignore_deleted=False,
                                        **{"from": stamps[0]}))
    assert len(later) == 7
    with pytest.raises(NoRecordsMatch):
        list(sickle.ListIdentifiers(metadataPrefix="oai_dc", until="2000-01-01T00:00:00Z"))


def test_resumption_token_survives_a_restart(live_url: str, settings: Settings,
                                             db_url: str) -> None:
    """A token from one server process works on a fresh one: it holds no server state."""
    r = httpx.get(f"{live_url}/oai", params={"verb": "ListIdentifiers",
                                             "metadataPrefix": "oai_dc"}, timeout=30)
    token = etree.fromstring(r.content).findtext(f".//{OAI}resumptionToken")
    first = [e.text for e in etree.fromstring(r.content).iter(f"{OAI}identifier")]
    from nufair.app import create_app
    from tests.serving import free_socket, serving

    cfg = settings.model_copy(update={"public_base_url": live_url, "oai_page_size": 3})
    with serving(create_app(cfg), free_socket()) as other:
        r2 = httpx.get(f"{other}/oai", params={"verb": "ListIdentifiers",
                                               "resumptionToken": token}, timeout=30)
    second = [e.text for e in etree.fromstring(r2.content).iter(f"{OAI}identifier")]
    assert len(second) == 3 and not set(first) & set(second)


def test_retracted_records_validate_in_every_format(get: Callable[..., etree._Element]) -> None:
    """The retracted alert's items, as records (not deleted headers), validate in every
    format (OAI-PMH.xsd, the DataCite kernel and oai_dc, through ``get``), in lists and
    alone."""
    for prefix in ("oai_dc", "oai_datacite", "datacite"):
        root = get(verb="ListRecords", metadataPrefix=prefix, set="status:retracted")
        records = root.findall(f".//{OAI}record")
        assert len(records) == 2
        for rec in records:
            assert rec.find(f"{OAI}header").get("status") is None
            assert rec.find(f"{OAI}metadata") is not None
            ident = rec.findtext(f"{OAI}header/{OAI}identifier")
            one = get(verb="GetRecord", identifier=ident, metadataPrefix=prefix)
            text = etree.tostring(one, encoding="unicode")
            assert "WITHDRAWN" in text and "calibration" in text
