"""Notice formats: GCN JSON against the official schema, VOEvent against the XSD and the
shape of IceCube's real notices, circular text; each read back by the catalog importers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.resources import files

import pytest
import voeventparse as vp
from jsonschema import Draft202012Validator
from lxml import etree
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from catalog.errors import NotANeutrinoAlert
from catalog.importers import parse_document
from catalog.notices import render
from catalog.notices.model import SECONDS_PER_YEAR, Citation, NoticeAuthor, NoticeInput, make_ivorn
from catalog.notices.parsed import RevisionKind

BASE = "ivo://nufair.test/IceCube"
T = datetime(2020, 6, 15, 14, 49, 17, 370000, tzinfo=UTC)
ISSUED = datetime(2020, 6, 15, 16, 10, 36, tzinfo=UTC)


def notice(kind: str = "update", stream: str = "gold", revision: int = 1,
           **over: object) -> NoticeInput:
    ivorn = make_ivorn(BASE, stream, T, 134191, 17593623, revision)
    prev = make_ivorn(BASE, stream, T, 134191, 17593623, revision - 1) if revision else None
    relation = "retraction" if kind == "retraction" else "supersedes"
    fields: dict[str, object] = dict(
        observatory="IceCube", run_id=134191, event_id=17593623, name="IceCube-200615A",
        stream=stream, event_time=T, revision=revision, kind=kind, issued_at=ISSUED,
        ra=142.9499, dec=3.66, r50_deg=0.7199, r90_deg=1.2199, energy_tev=496.3637,
        signalness=0.8283, far_per_year=0.2894, ivorn=ivorn,
        citations=(Citation(prev, relation),) if prev else (),  # type: ignore[arg-type]
        retraction_reason="detector calibration problem" if kind == "retraction" else None)
    fields.update(over)
    return NoticeInput(**fields)  # type: ignore[arg-type]


def official_gcn_validator() -> Draft202012Validator:
    """The IceCube schema, resolved from the copied official files by their own $id."""
    root = files("catalog.schemas_external")
    resources = []
    for path in root.joinpath("gcn/notices").iterdir():
        if not path.is_dir():
            continue
        for item in path.iterdir():
            if item.name.endswith(".schema.json"):
                doc = json.loads(item.read_text())
                resources.append((doc["$id"], Resource.from_contents(doc, DRAFT202012)))
    registry: Registry[object] = Registry().with_resources(resources)
    schema = registry.contents(
        "https://gcn.nasa.gov/schema/main/gcn/notices/icecube/single_neutrino_alerts.schema.json")
    return Draft202012Validator(schema, registry=registry)


CASES = [(k, s, r) for s in ("gold", "bronze", "cascade")
         for k, r in (("initial", 0), ("update", 1), ("retraction", 2))]


@pytest.mark.parametrize(("kind", "stream", "revision"), CASES)
def test_gcn_json_is_valid_and_reads_back(kind: str, stream: str, revision: int) -> None:
    n = notice(kind, stream, revision)
    r = render("gcn-json", n)
    doc = json.loads(r.payload)
    errors = list(official_gcn_validator().iter_errors(doc))
    assert errors == []
    assert doc["record_number"] == revision + 1
    assert doc["alert_type"] == kind
    assert doc["far"] == pytest.approx(0.2894 / SECONDS_PER_YEAR, rel=1e-3)
    assert doc["pipeline"] == {"gold": "Gold Track Alert", "bronze": "Bronze Track Alert",
                               "cascade": "Cascade Alert"}[stream]
    (rec,) = parse_document(r.payload, filename=r.filename)
    assert (rec.run_id, rec.event_id, rec.name) == (134191, 17593623, "IceCube-200615A")
    assert rec.kind == RevisionKind(kind)
    assert rec.ra == pytest.approx(142.9499) and rec.dec == pytest.approx(3.66)
    assert rec.far_per_year == pytest.approx(0.2894, rel=1e-3)
    assert rec.event_time == T


def test_gcn_json_far_in_hz_matches_the_official_example() -> None:
    """IceCube-230416A: 2.532 per year is published as 8.029e-8 Hz."""
    n = notice(far_per_year=2.532)
    assert json.loads(render("gcn-json", n).payload)["far"] == pytest.approx(8.029e-8, rel=1e-3)


def _xsd() -> etree.XMLSchema:
    xsd = files("catalog.notices").joinpath("schemas/VOEvent-v2.0.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(xsd))


def _params(v: object) -> dict[str, dict[str, str]]:
    return {p.attrib["name"]: dict(p.attrib) for p in v.xpath("//Param")}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("kind", "stream", "revision"), CASES)
def test_voevent_is_valid_shaped_like_icecube_and_reads_back(kind: str, stream: str,
                                                             revision: int) -> None:
    r = render("voevent", notice(kind, stream, revision))
    _xsd().assertValid(etree.fromstring(r.payload))
    v = vp.loads(r.payload)
    assert vp.valid_as_v2_0(v)
    params = _params(v)
    assert params["Packet_Type"]["value"] == {"gold": "173", "bronze": "174",
                                              "cascade": "176"}[stream]
    assert params["Stream"]["value"] == {"gold": "24", "bronze": "25", "cascade": "26"}[stream]
    assert params["Rev"]["value"] == str(revision)
    assert params["energy"]["unit"] == "TeV" and params["FAR"]["unit"] == "yr^-1"
    assert params["Retraction"]["value"] == ("true" if kind == "retraction" else "false")
    pos = vp.get_event_position(v)
    assert (pos.ra, pos.dec, pos.err) == pytest.approx((142.9499, 3.66, 1.2199))
    cites = {c.attrib["cite"]: c.text for c in v.xpath("//EventIVORN")}
    if revision:
        expected = "retraction" if kind == "retraction" else "supersedes"
        assert cites == {expected: make_ivorn(BASE, stream, T, 134191, 17593623, revision - 1)}
    else:
        assert cites == {}
    (rec,) = parse_document(r.payload, filename=r.filename)  # also checks IVORN consistency
    assert rec.kind == RevisionKind(kind) and rec.source_rev == revision
    assert rec.region(0.9).radius_deg == pytest.approx(1.2199)  # type: ignore[union-attr]
    assert rec.region(0.5).radius_deg == pytest.approx(0.7199)  # type: ignore[union-attr]


def test_voevent_carries_every_parameter_of_a_real_icecube_notice() -> None:
    real = vp.loads(files("catalog.sample").joinpath(
        "IceCube_134191_017593623_1.xml").read_bytes())
    ours = vp.loads(render("voevent", notice()).payload)
    real_params, our_params = _params(real), _params(ours)
    missing = set(real_params) - set(our_params) - {"Trigger_ID", "Misc_flags"}
    assert missing == set()
    for name in ("AMON_ID", "Event_TJD", "Event_SOD", "signalness", "FAR", "energy",
                 "src_error_90", "src_error_50"):
        assert our_params[name]["value"] == real_params[name]["value"], name
        assert our_params[name].get("unit") == real_params[name].get("unit"), name


def test_circular_draft_states_the_facts() -> None:
    text = render("circular", notice()).payload.decode()
    assert "IceCube-200615A" in text and "142.95" in text and "3.66" in text
    assert "1.22" in text and "496.4 TeV" in text and "0.289 per year" in text
    retraction = render("circular", notice("retraction", revision=2)).payload.decode()
    assert "retracted" in retraction and "detector calibration problem" in retraction
    assert all(len(line) <= 100 for line in text.splitlines())


AUTHOR = NoticeAuthor(ivorn="ivo://nufair.test/IceCube", contact_name="nufair shifter",
                      contact_email="shifter@nufair.test")


@pytest.mark.parametrize("kind", ["initial", "update", "retraction"])
def test_test_notices_are_marked_in_every_format(kind: str) -> None:
    """A simulated event's notices say "test" where each format can: VOEvent role and flags
    (XSD-valid), GCN JSON ``alert_tense`` (schema-valid), the circular's title and subject;
    the archive's own importers refuse them as tests."""
    n = notice(kind, revision={"initial": 0, "update": 1, "retraction": 2}[kind],
               observatory="nufair-sim", test=True, author=AUTHOR)
    xml = render("voevent", n).payload
    _xsd().assertValid(etree.fromstring(xml))
    v = vp.loads(xml)
    assert v.attrib["role"] == "test" and vp.valid_as_v2_0(v)
    params = _params(v)
    assert params["Test"]["value"] == "true" and params["InternalTest"]["value"] == "true"
    assert "not a real observation" in str(v.Description)
    gcn = json.loads(render("gcn-json", n).payload)
    assert list(official_gcn_validator().iter_errors(gcn)) == []
    assert gcn["alert_tense"] == "test" and "TEST" in gcn["additional_info"]
    circular = render("circular", n).payload.decode()
    title, subject = circular.splitlines()[:2]
    assert title == "TITLE:   GCN CIRCULAR -- TEST" and subject.startswith("SUBJECT: TEST: ")
    assert "THIS IS A TEST" in circular and "IceCube observation" not in circular
    for fmt in ("voevent", "gcn-json"):
        r = render(fmt, n)
        with pytest.raises(NotANeutrinoAlert):
            parse_document(r.payload, filename=r.filename)


def test_real_notices_are_observations() -> None:
    """A real event's notices: role ``observation``, flags false, tense ``current``."""
    n = notice(author=AUTHOR)
    v = vp.loads(render("voevent", n).payload)
    params = _params(v)
    assert v.attrib["role"] == "observation"
    assert params["Test"]["value"] == "false" and params["InternalTest"]["value"] == "false"
    assert json.loads(render("gcn-json", n).payload)["alert_tense"] == "current"
    assert "TEST" not in render("circular", n).payload.decode()


def test_author_ivorn_and_contact_come_from_the_notice_author() -> None:
    """``AuthorIVORN`` and the contact are the configured author's, not a constant."""
    v = vp.loads(render("voevent", notice(author=AUTHOR)).payload)
    assert v.Who.AuthorIVORN == "ivo://nufair.test/IceCube"
    assert v.Who.Author.contactName == "nufair shifter"
    assert v.Who.Author.contactEmail == "shifter@nufair.test"
