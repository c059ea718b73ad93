"""DOIs are minted per event and per revision; DataCite 4.6 XML validates and says the truth."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
import xmlschema
from datacite import schema45
from lxml import etree

from catalog.fair import datacite
from catalog.fair.config import FairConfig
from catalog.fair.records import RecordService
from catalog.storage.events import CatalogStorage
from catalog.storage.fair import FairStorage
from tests.catalog.fair.conftest import IVORN
from tests.catalog.records_factory import record

NS = {"d": datacite.KERNEL_NS}


def _relations(root: etree._Element) -> set[tuple[str, str]]:
    return {(e.get("relationType"), e.text) for e in root.iterfind(".//d:relatedIdentifier", NS)}


def test_minting_is_per_event_and_revision_and_idempotent(
        seeded: RecordService, fair: FairStorage, fair_cfg: FairConfig) -> None:
    """One concept DOI per event and one per published revision (none for a retraction),
    opaque suffixes, and a second minting pass mints nothing."""
    a = seeded.load("IceCube-200615A")
    assert a.is_concept and [v.revision.number for v in a.versions] == [0, 1]
    dois = {a.concept.doi, *(v.doi.doi for v in a.versions)}
    assert len(dois) == 3 and all(d.startswith("10.5072/") for d in dois)
    assert all("200615" not in d for d in dois)  # opaque suffixes
    b = seeded.load("IceCube-210302A")
    assert [v.revision.number for v in b.versions] == [0]  # the retraction has no DOI
    assert b.withdrawn and b.concept.withdrawn_at is not None
    again = fair.mint_missing(fair_cfg.doi_prefix, "local")
    assert (again.concepts, again.versions, again.withdrawn) == (0, 0, 0)
    assert {r.doi for r in fair.dois_of_event(a.event.id)} == dois


def test_new_revision_gets_a_doi_and_moves_datestamps(
        seeded: RecordService, storage: CatalogStorage, fair: FairStorage,
        fair_cfg: FairConfig) -> None:
    """A new revision gets its DOI, and the older DOIs' datestamps move (their relations
    changed), so harvesters fetch them again."""
    a = seeded.load("IceCube-200615A")
    before = {r.doi: r.updated_at for r in fair.dois_of_event(a.event.id)}
    storage.import_records([record(rev=2, ra=142.9, dec=3.6)])
    summary = fair.mint_missing(fair_cfg.doi_prefix, "local")
    assert (summary.concepts, summary.versions) == (0, 1)
    after = {r.doi: r.updated_at for r in fair.dois_of_event(a.event.id)}
    assert len(after) == 4
    assert all(after[d] > t for d, t in before.items())  # old versions' metadata changed


@pytest.mark.parametrize("key", ["IceCube-200615A", "IceCube-210302A", "IceCube-190108A"])
def test_every_record_validates_against_kernel_46(
        seeded: RecordService, fair_cfg: FairConfig, datacite_xsd: xmlschema.XMLSchema,
        key: str) -> None:
    """Every concept and version record validates against DataCite's JSON schema and the
    kernel-4.6 XSD."""
    concept = seeded.load(key)
    for rec in [concept, *(seeded.load(v.doi.suffix) for v in concept.versions)]:
        data = datacite.to_json(rec, fair_cfg)
        assert schema45.validate(data), data
        xml = datacite.to_xml(rec, fair_cfg)
        datacite_xsd.validate(xml)
        root = etree.fromstring(xml)
        assert root.findtext("d:identifier", namespaces=NS) == rec.focus.doi
        assert "kernel-4.6" in root.get(f"{{{datacite.XSI}}}schemaLocation")


def test_version_relations_and_dates(seeded: RecordService, fair_cfg: FairConfig) -> None:
    """The version chain (HasVersion, IsPreviousVersionOf, IsObsoletedBy...), the source
    notice, dates, alternate identifiers and the creator's ROR affiliation."""
    a = seeded.load("IceCube-200615A")
    v0, v1 = a.versions
    concept = etree.fromstring(datacite.to_xml(a, fair_cfg))
    assert {("HasVersion", v0.doi.doi), ("HasVersion", v1.doi.doi)} <= _relations(concept)
    first = etree.fromstring(datacite.to_xml(seeded.load(v0.doi.suffix), fair_cfg))
    rels = _relations(first)
    assert ("IsVersionOf", a.concept.doi) in rels
    assert ("IsPreviousVersionOf", v1.doi.doi) in rels
    assert ("IsObsoletedBy", v1.doi.doi) in rels  # superseded
    # The IVORN is no URL: an alternate identifier only, never a typed related identifier.
    assert IVORN not in {target for _, target in rels}
    assert IVORN in {e.text for e in first.iterfind(".//d:alternateIdentifier", NS)}
    assert ("IsPartOf", "http://testserver/catalog") in rels
    second = etree.fromstring(datacite.to_xml(seeded.load(v1.doi.suffix), fair_cfg))
    assert ("IsNewVersionOf", v0.doi.doi) in _relations(second)
    assert not any(r == "IsObsoletedBy" for r, _ in _relations(second))
    assert second.findtext("d:version", namespaces=NS) == "1"
    dates = {e.get("dateType"): e.text for e in second.iterfind(".//d:date", NS)}
    assert dates["Collected"] == "2020-06-15T14:49:17Z"
    assert dates["Issued"] == "2020-06-15T18:00:00Z"
    assert "Withdrawn" not in dates
    alt = {e.get("alternateIdentifierType"): e.text
           for e in second.iterfind(".//d:alternateIdentifier", NS)}
    assert alt["IceCube alert name"] == "IceCube-200615A"
    assert alt["IceCube run:event"] == "134191:17593623"
    rt = second.find("d:resourceType", NS)
    assert (rt.get("resourceTypeGeneral"), rt.text) == ("Dataset", "Neutrino alert")
    creator = second.find(".//d:creatorName", NS)
    assert creator.get("nameType") == "Organizational"
    aff = second.find(".//d:affiliation", NS)
    assert aff.get("affiliationIdentifierScheme") == "ROR"


def test_retracted_record_says_withdrawn(seeded: RecordService, fair_cfg: FairConfig) -> None:
    """A retracted record carries a Withdrawn date with the reason, and says so in its abstract."""
    b = seeded.load("IceCube-210302A")
    root = etree.fromstring(datacite.to_xml(b, fair_cfg))
    dates = {e.get("dateType"): e for e in root.iterfind(".//d:date", NS)}
    assert dates["Withdrawn"].text == "2021-03-02T12:00:00Z"
    assert dates["Withdrawn"].get("dateInformation") == "detector calibration artefact"
    abstract = root.findtext(".//d:description", namespaces=NS)
    assert abstract.startswith("WITHDRAWN: this alert was retracted on 2021-03-02T12:00:00Z")
    assert "calibration" in abstract


def test_invalid_record_fails_the_xsd(seeded: RecordService, fair_cfg: FairConfig,
                                      datacite_xsd: xmlschema.XMLSchema) -> None:
    """The validation has teeth: a record without its resource type is refused."""
    root = datacite.to_element(seeded.load("IceCube-200615A"), fair_cfg)
    root.remove(root.find("d:resourceType", NS))
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        datacite_xsd.validate(etree.tostring(root))


def test_simulated_record_credits_the_simulator(
        seeded: RecordService, storage: CatalogStorage, fair: FairStorage,
        fair_cfg: FairConfig, datacite_xsd: xmlschema.XMLSchema) -> None:
    """A simulated event's DataCite record (valid kernel-4.6) credits the simulator, with no
    affiliation, never the collaboration, and its abstract opens with the warning; a real
    event's still credits the collaboration with its ROR affiliation."""
    t = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    storage.import_records([dataclasses.replace(
        record(run=140001, event=42, name="IceCube-250304A", time=t, issued=t),
        observatory="nufair-sim")])
    fair.mint_missing(fair_cfg.doi_prefix, fair_cfg.provider)
    sim = seeded.load("IceCube-250304A")
    data = datacite.to_json(sim, fair_cfg)
    assert data["creators"] == [{"name": fair_cfg.simulation_creator,
                                 "nameType": "Organizational"}]
    assert data["publisher"]["name"] == fair_cfg.publisher
    xml = datacite.to_xml(sim, fair_cfg)
    datacite_xsd.validate(xml)
    root = etree.fromstring(xml)
    assert [c.text for c in root.iterfind(".//d:creatorName", NS)] == [
        fair_cfg.simulation_creator]
    assert root.find(".//d:affiliation", NS) is None
    assert fair_cfg.creator.encode() not in xml
    abstract = root.findtext(".//d:description", namespaces=NS)
    assert abstract.startswith("SIMULATED — NOT A REAL OBSERVATION.") and "nufair-sim" in abstract
    real = datacite.to_json(seeded.load("IceCube-200615A"), fair_cfg)
    assert [c["name"] for c in real["creators"]] == [fair_cfg.creator]
    assert real["creators"][0]["affiliation"][0]["affiliationIdentifier"] == (
        fair_cfg.creator_affiliation_ror)
    assert "SIMULATED" not in real["descriptions"][0]["description"]
