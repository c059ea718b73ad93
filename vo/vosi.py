"""VOSI documents: availability, capabilities (TAPRegExt), tables (VOSI 1.1), examples.

The documents are the templates ``vo/templates/vosi_*.xml`` (autoescaped, see
:mod:`vo.xmltemplates`).
"""

from __future__ import annotations

from dataclasses import dataclass

from vo.adql.functions import UDF_DESCRIPTIONS, UDFS
from vo.config import VoConfig
from vo.tables import KEYS, SCHEMAS, TableInfo, published_name
from vo.tables_obscore import OBSCORE_MODEL
from vo.xmltemplates import render

#: TAPRegExt language features, by feature type (lower-case URIs, TAPRegExt 1.0 erratum 1).
FEATURES: dict[str, list[tuple[str, str]]] = {
    "ivo://ivoa.net/std/TAPRegExt#features-adqlgeo": [
        (f, "") for f in ("POINT", "CIRCLE", "POLYGON", "BOX", "REGION", "CONTAINS",
                          "INTERSECTS", "DISTANCE", "AREA", "CENTROID", "COORD1", "COORD2",
                          "COORDSYS")],
    "ivo://ivoa.net/std/TAPRegExt#features-udf": [
        (form, UDF_DESCRIPTIONS[name]) for name, form in UDFS.items()],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-conditional": [("COALESCE", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-sets": [
        ("UNION", ""), ("EXCEPT", ""), ("INTERSECT", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-common-table": [("WITH", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-string": [
        ("LOWER", ""), ("UPPER", ""), ("ILIKE", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-offset": [("OFFSET", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-type": [("CAST", "")],
    "ivo://ivoa.net/std/TAPRegExt#features-adql-unit": [("IN_UNIT", "")],
}

#: TAPRegExt data models of the published tables: (ivo-id, name).
DATA_MODELS = [OBSCORE_MODEL]

OUTPUT_FORMATS = [
    ("application/x-votable+xml", "votable", "ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
    ("application/x-votable+xml;serialization=tabledata", "votable/td",
     "ivo://ivoa.net/std/TAPRegExt#output-votable-td"),
    ("text/csv;header=present", "csv", None),
    ("text/tab-separated-values", "tsv", None),
]


def availability(up: bool, note: str) -> str:
    """VOSI availability: whether the service is up, and why (``note``)."""
    return render("vosi_availability.xml", up=up, note=note)


def capabilities(cfg: VoConfig) -> str:
    """VOSI capabilities with TAPRegExt: languages, formats, limits, endpoints."""
    others = [
        ("ivo://ivoa.net/std/VOSI#capabilities", "/tap/capabilities"),
        ("ivo://ivoa.net/std/VOSI#availability", "/tap/availability"),
        ("ivo://ivoa.net/std/VOSI#tables-1.1", "/tap/tables"),
        ("ivo://ivoa.net/std/DALI#examples", "/tap/examples"),
    ]
    return render("vosi_capabilities.xml", cfg=cfg, base=cfg.base_url.rstrip("/"),
                  features=FEATURES, output_formats=OUTPUT_FORMATS, others=others,
                  data_models=DATA_MODELS)


@dataclass(frozen=True, slots=True)
class Capability:
    """One capability of a VOSI capabilities document: its standard, where it is
    (``path`` under the base URL), the accessURL's ``use``, and whether it is the
    service's standard interface (``std``)."""

    standard_id: str
    path: str
    use: str = "full"
    std: bool = False


#: The capabilities of the cone search and of DataLink (besides TAP's).
SERVICES: dict[str, list[Capability]] = {
    "scs": [Capability("ivo://ivoa.net/std/ConeSearch", "/scs?", "base", std=True)],
    "datalink": [Capability("ivo://ivoa.net/std/DataLink#links-1.1", "/datalink", std=True)],
}


def service_capabilities(cfg: VoConfig, service: str) -> str:
    """VOSI capabilities of ``service`` (a key of :data:`SERVICES`): its standard
    capability and its own VOSI capabilities and availability endpoints."""
    caps = [*SERVICES[service],
            Capability("ivo://ivoa.net/std/VOSI#capabilities", f"/{service}/capabilities"),
            Capability("ivo://ivoa.net/std/VOSI#availability", f"/{service}/availability")]
    base = cfg.base_url.rstrip("/")
    return render("vosi_service_capabilities.xml", capabilities=[
        {"standard_id": c.standard_id, "url": base + c.path, "use": c.use, "std": c.std}
        for c in caps])


def tableset(detail: bool) -> str:
    """VOSI tableset of every published schema (columns only when ``detail``)."""
    return render("vosi_tableset.xml", schemas=SCHEMAS, detail=detail, keys=KEYS,
                  published_name=published_name)


def table_document(t: TableInfo) -> str:
    """VOSI table document of one published table, with its columns."""
    return render("vosi_table.xml", t=t, keys=KEYS, published_name=published_name)


EXAMPLES = [
    ("cone", "Alerts within 5 degrees of TXS 0506+056",
     "SELECT name, ra, dec, r90, event_time FROM nufair.alerts\n"
     "WHERE status = 'live'\n"
     "AND 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 77.3582, 5.6931, 5))"),
    ("moc", "Alerts whose 90 % region contains a position",
     "SELECT name, ra, dec, area90 FROM nufair.alerts\n"
     "WHERE status = 'live' AND 1 = CONTAINS(POINT('ICRS', 77.3582, 5.6931), moc90)"),
    ("revisions", "Every revision of the most recent alerts",
     "SELECT TOP 20 name, revision, revision_kind, ra, dec, r90 FROM nufair.revisions\n"
     "ORDER BY event_time DESC, revision"),
    ("gold", "Gold alerts by energy",
     "SELECT TOP 10 name, energy, signalness FROM nufair.alerts\n"
     "WHERE stream = 'gold' AND status = 'live' ORDER BY energy DESC"),
    ("not-live", "Alerts retracted or flagged likely background, and why",
     "SELECT name, status, status_reason, status_source FROM nufair.alerts\n"
     "WHERE status <> 'live' ORDER BY event_time"),
]


def examples(cfg: VoConfig) -> str:
    """DALI examples (XHTML with RDFa) of ADQL queries on the alerts."""
    return render("vosi_examples.xml", examples=EXAMPLES)
